//! The interpreter prefix in `pyvenv.cfg`, which becomes `@python@`.

use std::fs;
use std::io;
use std::path::Path;

use memchr::memmem;
use pyfod_manifest::{ByteString, RelPath, Replacement, ReplacementKind};

use crate::rewrite::{Edit, apply, replace_file};
use crate::{PLACEHOLDER, ScrubError};

/// The prefix, and the replacements to make in `pyvenv.cfg`: planned first, so
/// that a scrub that fails while reading has changed nothing.
#[derive(Debug, Default)]
pub(crate) struct Outcome {
    pub(crate) prefix: Option<String>,
    pub(crate) replacements: Vec<Replacement>,
    pub(crate) note: Option<String>,
    /// What `pyvenv.cfg` will hold, when it changes.
    pub(crate) new_cfg: Option<Vec<u8>>,
}

impl Outcome {
    /// Writes the new `pyvenv.cfg`.
    pub(crate) fn apply(&self, root: &Path) -> Result<(), ScrubError> {
        if let Some(contents) = &self.new_cfg {
            let cfg = root.join("pyvenv.cfg");
            replace_file(&cfg, contents).map_err(|e| ScrubError::io("rewrite", &cfg, e))?;
        }
        Ok(())
    }
}

/// Plans the replacement of the interpreter prefix in `<root>/pyvenv.cfg` by
/// `@python@`. The prefix is `explicit`, else the parent of the `home` key
/// (`<prefix>/bin`). Without a `pyvenv.cfg` the rule is skipped, and the
/// outcome says so.
pub(crate) fn placeholder(
    root: &Path,
    explicit: Option<&str>,
    store_dir: &str,
) -> Result<Outcome, ScrubError> {
    let cfg = root.join("pyvenv.cfg");
    let bytes = match fs::read(&cfg) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            return Ok(Outcome {
                prefix: explicit.map(str::to_owned),
                note: Some(
                    "no pyvenv.cfg at the root of the tree: the interpreter placeholder rule was skipped".into(),
                ),
                ..Outcome::default()
            });
        }
        Err(e) => return Err(ScrubError::io("read", &cfg, e)),
    };
    let prefix = match explicit {
        Some(prefix) => prefix.to_owned(),
        None => match home_prefix(&bytes) {
            Some(prefix) => prefix,
            None => {
                return Ok(Outcome {
                    note: Some("pyvenv.cfg has no `home = <prefix>/bin` line: the interpreter placeholder rule was skipped; pass --python-prefix".into()),
                    ..Outcome::default()
                });
            }
        },
    };
    let store_path =
        crate::refs::StoreRef::parse(store_dir, &prefix).map_or_else(|| prefix.clone(), |r| r.path);
    let edits: Vec<Edit> = memmem::find_iter(&bytes, prefix.as_bytes())
        .map(|offset| Edit {
            offset: offset as u64,
            original: prefix.as_bytes().to_vec(),
            with: PLACEHOLDER.to_vec(),
        })
        .collect();
    let mut outcome = Outcome {
        prefix: Some(prefix.clone()),
        ..Outcome::default()
    };
    if edits.is_empty() {
        outcome.note = Some(format!(
            "the interpreter prefix {prefix} does not appear in pyvenv.cfg"
        ));
        return Ok(outcome);
    }
    outcome.new_cfg = Some(apply(&bytes, &edits));
    outcome.replacements = edits
        .iter()
        .map(|edit| Replacement {
            path: RelPath::from("pyvenv.cfg"),
            offset: edit.offset,
            original: ByteString(edit.original.clone()),
            store_path: store_path.clone(),
            kind: ReplacementKind::PyvenvCfg,
        })
        .collect();
    Ok(outcome)
}

/// `home = /nix/store/…-python3-3.11.7/bin` → `/nix/store/…-python3-3.11.7`.
fn home_prefix(cfg: &[u8]) -> Option<String> {
    let text = String::from_utf8_lossy(cfg);
    let home = text.lines().find_map(|line| {
        let (key, value) = line.split_once('=')?;
        (key.trim() == "home").then(|| value.trim().to_owned())
    })?;
    let prefix = home.trim_end_matches('/').strip_suffix("/bin")?;
    (!prefix.is_empty()).then(|| prefix.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefix_from_home() {
        assert_eq!(
            home_prefix(b"home = /nix/store/abc-python3/bin\nversion_info = 3.11.7\n").as_deref(),
            Some("/nix/store/abc-python3")
        );
        assert_eq!(home_prefix(b"home=/usr/bin/").as_deref(), Some("/usr"));
        assert_eq!(home_prefix(b"version_info = 3.11.7\n"), None);
        assert_eq!(home_prefix(b"home = /opt/python\n"), None);
    }
}
