//! `direct_url.json` (PEP 610), as uv writes it: for a git source always (it
//! names the repository and commit, the same on every machine); for a local path
//! or directory only with `--compat uv=…`, since it holds the project's absolute
//! path, which pyfod's own output never does. Registry packages have none.

use std::path::Path;

use pyfod_manifest::{GitReference, Source};

/// The file's bytes for a package from `source`, or `None` when none is written.
/// `project` is the lock's directory, absolute, when uv's local forms are wanted.
pub fn direct_url(source: &Source, project: Option<&Path>) -> Option<String> {
    match source {
        Source::Git {
            repository,
            reference,
            commit,
            subdirectory,
        } => {
            let mut vcs = format!("{{\"vcs\":\"git\",\"commit_id\":{}", json_string(commit));
            match reference {
                GitReference::Rev(r) | GitReference::Tag(r) | GitReference::Branch(r) => {
                    vcs.push_str(&format!(",\"requested_revision\":{}", json_string(r)));
                }
                GitReference::DefaultBranch => {}
            }
            vcs.push('}');
            let mut text = format!("{{\"url\":{},\"vcs_info\":{vcs}", json_string(repository));
            if let Some(sub) = subdirectory {
                text.push_str(&format!(",\"subdirectory\":{}", json_string(sub)));
            }
            text.push('}');
            Some(text)
        }
        Source::Path { path } => {
            let url = file_url(&project?.join(path));
            Some(format!(
                "{{\"url\":{},\"archive_info\":{{}}}}",
                json_string(&url)
            ))
        }
        Source::Directory { path } => {
            let url = file_url(&project?.join(path));
            Some(format!(
                "{{\"url\":{},\"dir_info\":{{\"editable\":false}}}}",
                json_string(&url)
            ))
        }
        _ => None,
    }
}

/// `file://` and the path, lexically normalised, percent-encoded as a URL path.
fn file_url(path: &Path) -> String {
    let mut parts: Vec<String> = Vec::new();
    for component in path.components() {
        match component {
            std::path::Component::ParentDir => {
                parts.pop();
            }
            std::path::Component::Normal(p) => parts.push(p.to_string_lossy().into_owned()),
            _ => {}
        }
    }
    let mut url = String::from("file://");
    for part in parts {
        url.push('/');
        for byte in part.bytes() {
            if byte.is_ascii_alphanumeric() || b"-._~!$&'()*+,;=:@".contains(&byte) {
                url.push(byte as char);
            } else {
                url.push_str(&format!("%{byte:02X}"));
            }
        }
    }
    url
}

fn json_string(text: &str) -> String {
    serde_json::to_string(text).expect("a string serialises")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn git_as_uv_writes_it() {
        let source = Source::Git {
            repository: "file:///tmp/du/repo".into(),
            reference: GitReference::Branch("main".into()),
            commit: "3127df0b308938faaa52dcaab9f661fa837ab5d0".into(),
            subdirectory: None,
        };
        // What uv 0.13.9 wrote for this source.
        assert_eq!(
            direct_url(&source, None).unwrap(),
            r#"{"url":"file:///tmp/du/repo","vcs_info":{"vcs":"git","commit_id":"3127df0b308938faaa52dcaab9f661fa837ab5d0","requested_revision":"main"}}"#
        );
    }

    #[test]
    fn local_sources_only_with_a_project_dir() {
        let wheel = Source::Path {
            path: "wheels/colorless-1.2-py3-none-any.whl".into(),
        };
        assert_eq!(direct_url(&wheel, None), None);
        assert_eq!(
            direct_url(&wheel, Some(Path::new("/tmp/du/hello"))).unwrap(),
            r#"{"url":"file:///tmp/du/hello/wheels/colorless-1.2-py3-none-any.whl","archive_info":{}}"#
        );
        let tree = Source::Directory {
            path: "sources/tinyext".into(),
        };
        assert_eq!(
            direct_url(&tree, Some(Path::new("/tmp/du hello/x/.."))).unwrap(),
            r#"{"url":"file:///tmp/du%20hello/sources/tinyext","dir_info":{"editable":false}}"#
        );
        let registry = Source::Registry {
            index: "http://127.0.0.1:1/simple".into(),
        };
        assert_eq!(direct_url(&registry, Some(Path::new("/p"))), None);
    }
}
