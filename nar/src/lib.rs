//! The NAR serialisation of a tree and its SHA-256, exactly as Nix computes them
//! for `outputHashMode = "recursive"`.
//!
//! [`hash_path`] streams: one thread walks the tree in NAR order, a pool of
//! readers reads files ahead in bounded chunks, and the calling thread feeds the
//! NAR stream to SHA-256. No file is held in memory whole, and memory stays
//! bounded by [`HashSettings::read_ahead`] whatever the size of the tree.
//!
//! A library, not a stage: the hash stage is built on it, and so is every stage
//! that names a tree by its content (fetch, for git checkouts and local trees).

mod budget;
mod error;
pub mod nar;
mod read;
mod tree;
pub mod unpack;
mod walk;

pub use error::HashError;
pub use nar::NarWriter;
pub use tree::{HashSettings, TreeHash, default_readers, hash_path};
pub use unpack::{UnpackError, Unpacked, unpack, unpack_file};
