//! Store references: what they look like, and a scanner that finds them.
//!
//! A store path is `<store dir>/<hash part>-<name>`, the hash part 32 characters of
//! Nix's base-32. Nix decides an output refers to a store path when the hash part
//! appears anywhere in its NAR, with or without the prefix. So the scanner looks
//! for two things in one pass: prefixed references (to learn the targets) and
//! every run of 32 or more base-32 characters (the only places a target's hash
//! part can be). A file without such a run cannot refer to anything.

use pyfod_digest::nix32;

/// A store path's hash part.
pub(crate) type HashPart = [u8; 32];

/// The 32 characters of Nix's base-32, as a byte-class table.
pub(crate) static NIX32: [bool; 256] = {
    let mut table = [false; 256];
    let mut i = 0;
    while i < nix32::ALPHABET.len() {
        table[nix32::ALPHABET[i] as usize] = true;
        i += 1;
    }
    table
};

/// The longest store path name Nix allows.
const MAX_NAME: usize = 211;
/// Run bytes kept per file; past it the file is searched again instead.
const MAX_RUN_BYTES: usize = 1 << 20;

/// A store path named on the command line or found in the tree.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) struct StoreRef {
    /// `<store dir>/<hash>-<name>`, the first component only.
    pub(crate) path: String,
    pub(crate) hash: HashPart,
}

impl StoreRef {
    /// Parses `<store dir>/<hash>-<name>[/anything]`.
    pub(crate) fn parse(store_dir: &str, text: &str) -> Option<StoreRef> {
        let rest = text.strip_prefix(store_dir)?.strip_prefix('/')?;
        let component = rest.split('/').next()?;
        let (hash, name) = (component.get(..32)?, component.get(32..)?);
        if !hash.bytes().all(|b| NIX32[b as usize]) || !(name.is_empty() || name.starts_with('-')) {
            return None;
        }
        Some(StoreRef {
            path: format!("{store_dir}/{component}"),
            hash: hash.as_bytes().try_into().ok()?,
        })
    }

    pub(crate) fn new(store_dir: &[u8], hash: HashPart, name: &[u8]) -> StoreRef {
        let mut path = Vec::with_capacity(store_dir.len() + 34 + name.len());
        path.extend_from_slice(store_dir);
        path.push(b'/');
        path.extend_from_slice(&hash);
        if !name.is_empty() {
            path.push(b'-');
            path.extend_from_slice(name);
        }
        StoreRef {
            path: String::from_utf8_lossy(&path).into_owned(),
            hash,
        }
    }
}

/// A prefixed reference found by the scanner.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Found {
    /// Offset of the hash part (not of the store dir before it).
    pub(crate) offset: u64,
    pub(crate) hash: HashPart,
    /// The name after `<hash>-`, up to `/`, `"`, white space or NUL.
    pub(crate) name: Vec<u8>,
}

/// A run of 32 or more base-32 characters: where a hash part can hide.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Run {
    pub(crate) offset: u64,
    pub(crate) bytes: Vec<u8>,
}

/// What a scan of one file (or name, or symlink target) found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Scan {
    pub(crate) found: Vec<Found>,
    pub(crate) runs: Vec<Run>,
    /// Too many run bytes to keep: search this file again for the targets.
    pub(crate) overflow: bool,
}

impl Scan {
    /// Whether a target's hash part could be in what was scanned.
    pub(crate) fn may_refer(&self) -> bool {
        self.overflow || !self.runs.is_empty()
    }

    /// Where the runs hold a hash part in `targets`, leftmost first and never
    /// overlapping. Only meaningful without overflow.
    pub(crate) fn matches(&self, is_target: impl Fn(&HashPart) -> bool) -> Vec<(u64, HashPart)> {
        let mut out = Vec::new();
        for run in &self.runs {
            let mut i = 0;
            while i + 32 <= run.bytes.len() {
                let window: &HashPart = run.bytes[i..i + 32].try_into().unwrap();
                if is_target(window) {
                    out.push((run.offset + i as u64, *window));
                    i += 32;
                } else {
                    i += 1;
                }
            }
        }
        out
    }
}

/// Scans bytes fed in pieces, in one pass.
pub(crate) struct Scanner<'p> {
    /// `<store dir>/`
    prefix: &'p [u8],
    /// Offset of the next byte fed.
    at: u64,
    /// The last bytes fed, for looking back across pieces.
    recent: Vec<u8>,
    run: Option<RunState>,
    /// Index in `scan.found` of the reference whose name is being read.
    naming: Option<usize>,
    run_bytes: usize,
    scan: Scan,
}

/// A run being read. Most runs are short words; only one that reaches 32
/// characters allocates.
struct RunState {
    start: u64,
    first: HashPart,
    len: u64,
    /// Characters past the first 32.
    rest: Vec<u8>,
    prefixed: bool,
}

impl<'p> Scanner<'p> {
    pub(crate) fn new(prefix: &'p [u8]) -> Self {
        Scanner {
            prefix,
            at: 0,
            recent: Vec::new(),
            run: None,
            naming: None,
            run_bytes: 0,
            scan: Scan::default(),
        }
    }

    pub(crate) fn feed(&mut self, piece: &[u8]) {
        let mut i = 0;
        while i < piece.len() {
            if self.naming.is_some() {
                // Names are short: byte by byte until the name ends.
                self.step(piece, i);
                i += 1;
            } else if self.run.is_none() {
                // Skip to the next base-32 character: most bytes of most files.
                let Some(k) = piece[i..].iter().position(|&b| NIX32[b as usize]) else {
                    break;
                };
                let start = i + k;
                let len = piece[start..]
                    .iter()
                    .position(|&b| !NIX32[b as usize])
                    .unwrap_or(piece.len() - start);
                if len < 32 && start + len < piece.len() {
                    // A short word, ended within this piece: it can be neither a
                    // hash part nor start a name, and nor can the byte ending it.
                    i = start + len + 1;
                    continue;
                }
                self.step(piece, start);
                i = start + 1;
            } else {
                // Extend the run to its last base-32 character.
                let k = piece[i..]
                    .iter()
                    .position(|&b| !NIX32[b as usize])
                    .unwrap_or(piece.len() - i);
                self.extend_run(&piece[i..i + k]);
                i += k;
                if i < piece.len() {
                    self.step(piece, i);
                    i += 1;
                }
            }
        }
        self.at += piece.len() as u64;
        let keep = self.prefix.len();
        if piece.len() >= keep {
            self.recent.clear();
            self.recent.extend_from_slice(&piece[piece.len() - keep..]);
        } else {
            self.recent.extend_from_slice(piece);
            let excess = self.recent.len().saturating_sub(keep);
            self.recent.drain(..excess);
        }
    }

    /// One byte, every rule: names, run starts and ends.
    fn step(&mut self, piece: &[u8], i: usize) {
        let b = piece[i];
        if let Some(index) = self.naming {
            let name = &mut self.scan.found[index].name;
            if is_name_end(b) || name.len() == MAX_NAME {
                self.naming = None;
            } else {
                name.push(b);
            }
        }
        if NIX32[b as usize] {
            if self.run.is_some() {
                self.extend_run(&piece[i..=i]);
            } else {
                let prefixed = self.preceded_by_prefix(piece, i);
                let mut first = [0u8; 32];
                first[0] = b;
                self.run = Some(RunState {
                    start: self.at + i as u64,
                    first,
                    len: 1,
                    rest: Vec::new(),
                    prefixed,
                });
            }
        } else if self.run.is_some() {
            self.end_run(Some(b));
        }
    }

    fn extend_run(&mut self, chars: &[u8]) {
        let run = self.run.as_mut().expect("a run to extend");
        let mut chars = chars;
        if (run.len as usize) < 32 {
            let take = chars.len().min(32 - run.len as usize);
            run.first[run.len as usize..run.len as usize + take].copy_from_slice(&chars[..take]);
            chars = &chars[take..];
            run.len += take as u64;
        }
        // Past the budget the run is only counted; the file is then searched
        // again rather than held.
        let room = MAX_RUN_BYTES.saturating_sub(self.run_bytes + run.rest.len());
        run.rest.extend_from_slice(&chars[..chars.len().min(room)]);
        run.len += chars.len() as u64;
    }

    pub(crate) fn finish(mut self) -> Scan {
        if self.run.is_some() {
            self.end_run(None);
        }
        self.scan
    }

    fn preceded_by_prefix(&self, piece: &[u8], i: usize) -> bool {
        let before = if i > 0 {
            piece.get(i - 1)
        } else {
            self.recent.last()
        };
        if before != self.prefix.last() {
            return false;
        }
        let n = self.prefix.len();
        if i >= n {
            return &piece[i - n..i] == self.prefix;
        }
        let from_recent = n - i;
        self.recent.len() >= from_recent
            && self.recent[self.recent.len() - from_recent..] == self.prefix[..from_recent]
            && piece[..i] == self.prefix[from_recent..]
    }

    /// A run ended at byte `next` (`None`: at the end of the input).
    #[inline]
    fn end_run(&mut self, next: Option<u8>) {
        let run = self.run.take().unwrap();
        if run.len < 32 {
            return;
        }
        if run.prefixed && run.len == 32 {
            self.scan.found.push(Found {
                offset: run.start,
                hash: run.first,
                name: Vec::new(),
            });
            if next == Some(b'-') {
                self.naming = Some(self.scan.found.len() - 1);
            }
        }
        let kept = 32 + run.rest.len();
        self.run_bytes += kept;
        if kept as u64 != run.len || self.run_bytes >= MAX_RUN_BYTES {
            self.scan.overflow = true;
            self.scan.runs.clear();
        } else if !self.scan.overflow {
            let mut bytes = run.first.to_vec();
            bytes.extend_from_slice(&run.rest);
            self.scan.runs.push(Run {
                offset: run.start,
                bytes,
            });
        }
    }
}

/// Whether `b` ends the name after a hash part: any byte a store path's name
/// cannot hold (Nix allows `A-Z a-z 0-9 + - . _ ? =`), so a path quoted in a
/// script (`'/nix/store/…-venv'`) is named without its quote.
fn is_name_end(b: u8) -> bool {
    !(b.is_ascii_alphanumeric() || matches!(b, b'+' | b'-' | b'.' | b'_' | b'?' | b'='))
}

/// Scans one byte string whole (a name, a symlink target, a small file).
pub(crate) fn scan(prefix: &[u8], bytes: &[u8]) -> Scan {
    let mut scanner = Scanner::new(prefix);
    scanner.feed(bytes);
    scanner.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    const H1: &[u8; 32] = b"0123456789abcdfghijklmnpqrsvwxyz";
    const H2: &[u8; 32] = b"zyxwvsrqpnmlkjihgfdcba9876543210";

    fn text(parts: &[&[u8]]) -> Vec<u8> {
        parts.concat()
    }

    #[test]
    fn finds_prefixed_references_with_their_names() {
        let data = text(&[
            b"x=\"/nix/store/",
            H1,
            b"-libxml2-2.10/lib\" /nix/store/",
            H2,
            b"-py",
        ]);
        let scan = scan(b"/nix/store/", &data);
        assert_eq!(scan.found.len(), 2);
        assert_eq!(scan.found[0].hash, *H1);
        assert_eq!(scan.found[0].name, b"libxml2-2.10");
        assert_eq!(scan.found[0].offset, 14);
        assert_eq!(scan.found[1].name, b"py");
        assert_eq!(scan.runs.len(), 2);
    }

    #[test]
    fn a_name_ends_where_a_store_name_cannot_go_on() {
        let data = text(&[b"VIRTUAL_ENV='/nix/store/", H1, b"-app-deps'\nexport"]);
        assert_eq!(scan(b"/nix/store/", &data).found[0].name, b"app-deps");
        let data = text(&[b"/nix/store/", H1, b"-a+b_c.d?e=f:g"]);
        assert_eq!(scan(b"/nix/store/", &data).found[0].name, b"a+b_c.d?e=f");
    }

    #[test]
    fn the_same_in_any_pieces() {
        let data = text(&[
            b"ab /nix/store/",
            H1,
            b"-name/x ",
            H2,
            b" tail/nix/store/",
            H2,
        ]);
        let whole = scan(b"/nix/store/", &data);
        for size in 1..data.len() {
            let mut scanner = Scanner::new(b"/nix/store/");
            for piece in data.chunks(size) {
                scanner.feed(piece);
            }
            assert_eq!(scanner.finish(), whole, "pieces of {size}");
        }
        assert_eq!(whole.found.len(), 2);
        assert_eq!(whole.runs.len(), 3);
    }

    #[test]
    fn hash_parts_without_prefix_are_runs_not_references() {
        let data = text(&[b"id ", H1, b" and xx", H2, b"yy"]);
        let scan = scan(b"/nix/store/", &data);
        assert!(scan.found.is_empty());
        assert!(scan.may_refer());
        let targets = [*H1, *H2];
        let matches = scan.matches(|h| targets.contains(h));
        assert_eq!(matches, [(3, *H1), (42, *H2)]);
    }

    #[test]
    fn text_without_long_runs_cannot_refer() {
        let scan = scan(
            b"/nix/store/",
            b"def scrub(tree):\n    return tree  # an ordinary line of Python\n",
        );
        assert!(!scan.may_refer());
    }

    #[test]
    fn parses_store_paths_and_refuses_others() {
        let path = format!(
            "/nix/store/{}-python3-3.11.7/bin/python",
            std::str::from_utf8(H1).unwrap()
        );
        let parsed = StoreRef::parse("/nix/store", &path).unwrap();
        assert_eq!(parsed.hash, *H1);
        assert!(parsed.path.ends_with("-python3-3.11.7"));
        assert!(StoreRef::parse("/nix/store", "/usr/lib/python3").is_none());
        assert!(StoreRef::parse("/nix/store", "/nix/store/tooshort-x").is_none());
        let with_e = "/nix/store/0123456789abcdefghijklmnpqrsvwxy-x";
        assert!(StoreRef::parse("/nix/store", with_e).is_none());
    }

    /// The scanner against the plainest possible statement of its rules, on
    /// random bytes dense with runs, prefixes, dashes and name ends.
    #[test]
    fn agrees_with_a_naive_reading_in_any_pieces() {
        let mut rng = fastrand::Rng::with_seed(11);
        let prefix = b"/s/";
        let parts: [&[u8]; 8] = [
            b"/s/",
            b"-",
            b"/",
            b" ",
            b"\"",
            b"e",
            b"ab",
            b"0123456789abcdfghijklmnpqrsvwxyz",
        ];
        for _ in 0..300 {
            let data: Vec<u8> = (0..rng.usize(0..40))
                .flat_map(|_| parts[rng.usize(..parts.len())].to_vec())
                .collect();
            let expected = naive(prefix, &data);
            let mut scanner = Scanner::new(prefix);
            let mut at = 0;
            while at < data.len() {
                let end = (at + rng.usize(1..20)).min(data.len());
                scanner.feed(&data[at..end]);
                at = end;
            }
            assert_eq!(
                scanner.finish(),
                expected,
                "{:?}",
                String::from_utf8_lossy(&data)
            );
        }
    }

    fn naive(prefix: &[u8], data: &[u8]) -> Scan {
        let mut scan = Scan::default();
        let mut i = 0;
        while i < data.len() {
            if !NIX32[data[i] as usize] {
                i += 1;
                continue;
            }
            let start = i;
            while i < data.len() && NIX32[data[i] as usize] {
                i += 1;
            }
            if i - start < 32 {
                continue;
            }
            scan.runs.push(Run {
                offset: start as u64,
                bytes: data[start..i].to_vec(),
            });
            if i - start == 32 && data[..start].ends_with(prefix) {
                let mut name = Vec::new();
                if data.get(i) == Some(&b'-') {
                    name = data[i + 1..]
                        .iter()
                        .take_while(|&&b| !is_name_end(b))
                        .take(MAX_NAME)
                        .copied()
                        .collect();
                }
                scan.found.push(Found {
                    offset: start as u64,
                    hash: data[start..i].try_into().unwrap(),
                    name,
                });
            }
        }
        scan
    }
}
