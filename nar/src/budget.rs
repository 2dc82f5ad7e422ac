//! Bounds the bytes read ahead of the hasher.
//!
//! Readers run ahead of the single hashing thread, and each chunk they hold costs
//! memory until it is hashed. Chunks of files ahead of the hasher count against a
//! fixed budget; the file the hasher is on is never made to wait for the budget
//! (its own channel is bounded instead), so the hasher can always make progress.

use std::sync::{Condvar, Mutex};

#[derive(Debug)]
pub(crate) struct Budget {
    limit: u64,
    state: Mutex<State>,
    changed: Condvar,
}

#[derive(Debug, Default)]
struct State {
    used: u64,
    /// Index of the file the hasher is reading.
    current: u64,
    cancelled: bool,
}

/// The hasher stopped; readers should stop too.
#[derive(Debug)]
pub(crate) struct Cancelled;

impl Budget {
    pub(crate) fn new(limit: u64) -> Self {
        Budget {
            limit,
            state: Mutex::new(State::default()),
            changed: Condvar::new(),
        }
    }

    /// Waits until `bytes` of file `index` may be read. Returns whether they were
    /// counted against the budget (and so must be released once hashed).
    pub(crate) fn acquire(&self, bytes: u64, index: u64) -> Result<bool, Cancelled> {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        loop {
            if state.cancelled {
                return Err(Cancelled);
            }
            if index <= state.current {
                return Ok(false);
            }
            if state.used + bytes <= self.limit {
                state.used += bytes;
                return Ok(true);
            }
            state = self.changed.wait(state).unwrap_or_else(|e| e.into_inner());
        }
    }

    pub(crate) fn release(&self, bytes: u64) {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        state.used -= bytes;
        self.changed.notify_all();
    }

    /// The hasher has moved on to file `index`.
    pub(crate) fn advance(&self, index: u64) {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        state.current = index;
        self.changed.notify_all();
    }

    pub(crate) fn cancel(&self) {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        state.cancelled = true;
        self.changed.notify_all();
    }
}
