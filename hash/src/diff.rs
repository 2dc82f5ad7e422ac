//! Compares two hash manifests entry by entry: why did the hash change?

use std::cmp::Ordering;
use std::fmt::Write as _;

use pyfod_manifest::{HashManifest, NarEntry, NarNode, RelPath};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change<'a> {
    Added(&'a NarEntry),
    Removed(&'a NarEntry),
    Changed {
        old: &'a NarEntry,
        new: &'a NarEntry,
    },
}

/// The differences between two trees' entries, in NAR order.
pub fn diff<'a>(old: &'a HashManifest, new: &'a HashManifest) -> Vec<Change<'a>> {
    let mut changes = Vec::new();
    let (mut a, mut b) = (old.entries.iter().peekable(), new.entries.iter().peekable());
    loop {
        match (a.peek(), b.peek()) {
            (None, None) => break,
            (Some(_), None) => changes.push(Change::Removed(a.next().unwrap())),
            (None, Some(_)) => changes.push(Change::Added(b.next().unwrap())),
            (Some(x), Some(y)) => match nar_order(&x.path, &y.path) {
                Ordering::Less => changes.push(Change::Removed(a.next().unwrap())),
                Ordering::Greater => changes.push(Change::Added(b.next().unwrap())),
                Ordering::Equal => {
                    let (x, y) = (a.next().unwrap(), b.next().unwrap());
                    if x.node != y.node {
                        changes.push(Change::Changed { old: x, new: y });
                    }
                }
            },
        }
    }
    changes
}

/// NAR order: a directory before its contents, siblings by name bytes. Comparing
/// component lists gives exactly that (comparing whole paths would put `a-b`
/// before `a/b`).
pub fn nar_order(a: &RelPath, b: &RelPath) -> Ordering {
    a.components().cmp(b.components())
}

/// One line per change, then a summary line.
pub fn render(changes: &[Change<'_>]) -> String {
    let mut out = String::new();
    let (mut added, mut removed, mut changed) = (0, 0, 0);
    for change in changes {
        match change {
            Change::Added(entry) => {
                added += 1;
                let _ = writeln!(out, "added    {}  ({})", entry.path, describe(&entry.node));
            }
            Change::Removed(entry) => {
                removed += 1;
                let _ = writeln!(out, "removed  {}  ({})", entry.path, describe(&entry.node));
            }
            Change::Changed { old, new } => {
                changed += 1;
                let _ = writeln!(
                    out,
                    "changed  {}  {}",
                    old.path,
                    what_changed(&old.node, &new.node)
                );
            }
        }
    }
    let _ = writeln!(out, "{changed} changed, {added} added, {removed} removed");
    out
}

fn describe(node: &NarNode) -> String {
    match node {
        NarNode::Directory => "directory".into(),
        NarNode::Regular {
            executable, size, ..
        } => format!(
            "{}file, {size} bytes",
            if *executable { "executable " } else { "" }
        ),
        NarNode::Symlink { target } => format!("symlink to {target}"),
    }
}

fn what_changed(old: &NarNode, new: &NarNode) -> String {
    match (old, new) {
        (
            NarNode::Regular {
                executable: x1,
                size: s1,
                sha256: d1,
            },
            NarNode::Regular {
                executable: x2,
                size: s2,
                sha256: d2,
            },
        ) => {
            let mut parts = Vec::new();
            if s1 != s2 {
                parts.push(format!("size {s1} -> {s2}"));
            }
            if d1 != d2 {
                parts.push(format!("sha256 {} -> {}", d1.to_hex(), d2.to_hex()));
            }
            if x1 != x2 {
                let word = |x: &bool| if *x { "executable" } else { "not executable" };
                parts.push(format!("{} -> {}", word(x1), word(x2)));
            }
            parts.join(", ")
        }
        (NarNode::Symlink { target: t1 }, NarNode::Symlink { target: t2 }) => {
            format!("symlink target {t1} -> {t2}")
        }
        (old, new) => format!("{} -> {}", describe(old), describe(new)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pyfod_manifest::Sha256;

    fn file(path: &str, data: &[u8]) -> NarEntry {
        NarEntry {
            path: RelPath::from(path),
            node: NarNode::Regular {
                executable: false,
                size: data.len() as u64,
                sha256: Sha256::of(data),
            },
        }
    }

    fn dir(path: &str) -> NarEntry {
        NarEntry {
            path: RelPath::from(path),
            node: NarNode::Directory,
        }
    }

    fn manifest(entries: Vec<NarEntry>) -> HashManifest {
        HashManifest {
            nar_sha256: Sha256::default(),
            nar_size: 0,
            entries,
            inputs: Vec::new(),
        }
    }

    #[test]
    fn finds_added_removed_and_changed_in_nar_order() {
        let old = manifest(vec![
            dir(""),
            dir("a"),
            file("a/b", b"1"),
            file("a-b", b"x"),
            file("c", b"same"),
        ]);
        let new = manifest(vec![
            dir(""),
            dir("a"),
            file("a/b", b"22"),
            file("a/c", b"new"),
            file("c", b"same"),
        ]);
        let changes = diff(&old, &new);
        let text = render(&changes);
        assert_eq!(changes.len(), 3, "{text}");
        assert!(
            matches!(changes[0], Change::Changed { old, .. } if old.path == RelPath::from("a/b"))
        );
        assert!(matches!(changes[1], Change::Added(e) if e.path == RelPath::from("a/c")));
        assert!(matches!(changes[2], Change::Removed(e) if e.path == RelPath::from("a-b")));
        assert!(text.contains("size 1 -> 2"), "{text}");
        assert!(text.ends_with("1 changed, 1 added, 1 removed\n"), "{text}");
        assert!(diff(&old, &old).is_empty());
    }
}
