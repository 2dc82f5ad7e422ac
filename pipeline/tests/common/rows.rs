//! Tests as data: a table of rows, each checked on its own thread.

/// Checks every row at once; the messages of those that failed.
pub fn failures<R: Sync>(rows: &[R], check: fn(&R) -> Result<(), String>) -> Vec<String> {
    std::thread::scope(|scope| {
        let handles: Vec<_> = rows
            .iter()
            .map(|row| scope.spawn(move || check(row).err()))
            .collect();
        handles
            .into_iter()
            .filter_map(|h| h.join().unwrap())
            .collect()
    })
}
