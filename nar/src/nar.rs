//! The NAR format, written as a stream.
//!
//! Every token is a string: a u64 little-endian length, the bytes, and zero
//! padding to a multiple of 8. An archive is `nix-archive-1` and one node; a node is
//! `( type regular [executable ""] contents <bytes> )`, `( type symlink target <t> )`
//! or `( type directory (entry ( name <n> node <node> ))* )`, entries sorted by the
//! unsigned bytes of their names. Nothing else is recorded: no times, owners, other
//! mode bits or hard links, which is what makes the hash reproducible.

use std::io::{self, Write};

const PADDING: [u8; 8] = [0; 8];

fn padding(len: u64) -> usize {
    ((8 - len % 8) % 8) as usize
}

/// Writes a NAR to `W` token by token. The caller walks the tree in NAR order; the
/// writer adds the framing. Contents arrive in pieces, so no file is ever held in
/// memory whole.
///
/// Framing and small contents are gathered in a buffer and written in blocks:
/// a tree of small files is mostly framing, and a write per 8-byte token would
/// cost more than hashing the bytes.
#[derive(Debug)]
pub struct NarWriter<W: Write> {
    out: W,
    buf: Vec<u8>,
    /// Bytes of the current regular file still to come.
    remaining: u64,
    /// Padding owed after the current file's contents.
    pending_padding: usize,
}

impl<W: Write> NarWriter<W> {
    /// Starts an archive: writes the `nix-archive-1` magic.
    pub fn new(out: W) -> io::Result<Self> {
        let mut writer = NarWriter {
            out,
            buf: Vec::with_capacity(BUFFER),
            remaining: 0,
            pending_padding: 0,
        };
        writer.tokens(&[b"nix-archive-1"])?;
        Ok(writer)
    }

    /// Opens a directory node. Entries follow, each between
    /// [`start_entry`](Self::start_entry) and [`end_entry`](Self::end_entry).
    pub fn start_directory(&mut self) -> io::Result<()> {
        self.tokens(&[b"(", b"type", b"directory"])
    }

    pub fn end_directory(&mut self) -> io::Result<()> {
        self.tokens(&[b")"])
    }

    /// Opens a directory entry; the entry's node follows.
    pub fn start_entry(&mut self, name: &[u8]) -> io::Result<()> {
        self.tokens(&[b"entry", b"(", b"name", name, b"node"])
    }

    pub fn end_entry(&mut self) -> io::Result<()> {
        self.tokens(&[b")"])
    }

    pub fn symlink(&mut self, target: &[u8]) -> io::Result<()> {
        self.tokens(&[b"(", b"type", b"symlink", b"target", target, b")"])
    }

    /// Opens a regular file of `size` bytes; exactly that many bytes must follow
    /// through [`contents`](Self::contents) before [`end_regular`](Self::end_regular).
    pub fn start_regular(&mut self, executable: bool, size: u64) -> io::Result<()> {
        self.tokens(&[b"(", b"type", b"regular"])?;
        if executable {
            self.tokens(&[b"executable", b""])?;
        }
        self.tokens(&[b"contents"])?;
        self.buf.extend_from_slice(&size.to_le_bytes());
        self.remaining = size;
        self.pending_padding = padding(size);
        Ok(())
    }

    pub fn contents(&mut self, data: &[u8]) -> io::Result<()> {
        if data.len() as u64 > self.remaining {
            return Err(io::Error::other(
                "more file contents than the size announced in the NAR header",
            ));
        }
        self.remaining -= data.len() as u64;
        if data.len() < BUFFER / 4 {
            self.buf.extend_from_slice(data);
            self.spill_if_full()
        } else {
            self.spill()?;
            self.out.write_all(data)
        }
    }

    pub fn end_regular(&mut self) -> io::Result<()> {
        if self.remaining != 0 {
            return Err(io::Error::other(format!(
                "file contents ended {} bytes short of the size announced in the NAR header",
                self.remaining
            )));
        }
        self.buf.extend_from_slice(&PADDING[..self.pending_padding]);
        self.pending_padding = 0;
        self.tokens(&[b")"])
    }

    /// Finishes the archive and hands back the sink.
    pub fn finish(mut self) -> io::Result<W> {
        self.spill()?;
        self.out.flush()?;
        Ok(self.out)
    }

    fn tokens(&mut self, tokens: &[&[u8]]) -> io::Result<()> {
        for token in tokens {
            self.buf
                .extend_from_slice(&(token.len() as u64).to_le_bytes());
            self.buf.extend_from_slice(token);
            self.buf
                .extend_from_slice(&PADDING[..padding(token.len() as u64)]);
        }
        self.spill_if_full()
    }

    fn spill_if_full(&mut self) -> io::Result<()> {
        if self.buf.len() >= BUFFER {
            self.spill()?;
        }
        Ok(())
    }

    fn spill(&mut self) -> io::Result<()> {
        self.out.write_all(&self.buf)?;
        self.buf.clear();
        Ok(())
    }
}

/// Bytes gathered before they are written out.
const BUFFER: usize = 64 * 1024;

#[cfg(test)]
mod tests {
    use super::*;
    use pyfod_digest::Sha256;

    #[test]
    fn empty_regular_file_vector() {
        let mut nar = NarWriter::new(Vec::new()).unwrap();
        nar.start_regular(false, 0).unwrap();
        nar.end_regular().unwrap();
        let bytes = nar.finish().unwrap();
        assert_eq!(bytes.len(), 112);
        assert_eq!(
            Sha256::of(&bytes).to_sri(),
            "sha256-d6xi4mKdjkX2JFicDIv5niSzpyI0m/Hnm8GGAIU04kY="
        );
    }

    #[test]
    fn executable_script_vector() {
        let body = b"#!/bin/sh\necho hi\n";
        let mut nar = NarWriter::new(Vec::new()).unwrap();
        nar.start_regular(true, body.len() as u64).unwrap();
        nar.contents(&body[..5]).unwrap();
        nar.contents(&body[5..]).unwrap();
        nar.end_regular().unwrap();
        let bytes = nar.finish().unwrap();
        assert_eq!(bytes.len(), 168);
        assert_eq!(
            Sha256::of(&bytes).to_sri(),
            "sha256-XgrM8Czt7eXkEZ/6FeeeeaX7H7m8Q8PUNPMyJ6FEd6A="
        );
    }

    #[test]
    fn symlink_and_empty_directory_vectors() {
        let mut nar = NarWriter::new(Vec::new()).unwrap();
        nar.symlink(b"/nix/store/00000000000000000000000000000000-x/y")
            .unwrap();
        let bytes = nar.finish().unwrap();
        assert_eq!(bytes.len(), 160);
        assert_eq!(
            Sha256::of(&bytes).to_sri(),
            "sha256-m/4GWrFryWJWi3AQ99ap7JBxUGk2gVoOoUoIGW+IjmY="
        );

        let mut nar = NarWriter::new(Vec::new()).unwrap();
        nar.start_directory().unwrap();
        nar.end_directory().unwrap();
        let bytes = nar.finish().unwrap();
        assert_eq!(bytes.len(), 96);
        assert_eq!(
            Sha256::of(&bytes).to_sri(),
            "sha256-pQpattmS9VmO3ZIQUFn66az8GSmB4IvYhTTCFn6SUmo="
        );
    }

    #[test]
    fn wrong_content_length_is_an_error() {
        let mut nar = NarWriter::new(Vec::new()).unwrap();
        nar.start_regular(false, 3).unwrap();
        assert!(nar.contents(b"four").is_err());
        nar.contents(b"ab").unwrap();
        assert!(nar.end_regular().is_err());
    }
}
