//! Source trees: a git checkout at the locked commit, or a copy of a local
//! project, put in the store and named by content.

use std::ffi::OsStr;
use std::path::Path;
use std::process::{Command, Stdio};

use pyfod_manifest::{StorePath, StoredTree};
use pyfod_store::Store;

use crate::FetchError;

/// Names never copied from a local project: version control, environments and
/// caches, which are not the package's source and change without it changing.
const NOT_SOURCE: &[&str] = &[
    ".git",
    ".hg",
    ".svn",
    ".venv",
    "venv",
    "__pycache__",
    ".tox",
    ".nox",
    ".mypy_cache",
    ".pytest_cache",
    ".ruff_cache",
    "node_modules",
];

/// The tree of `repository` at `commit` (its `subdirectory` if given), fetched
/// into a bare clone in the store when the commit is not there yet.
pub fn git(
    store: &Store,
    package: &str,
    repository: &str,
    commit: &str,
    subdirectory: Option<&str>,
    offline: bool,
) -> Result<StoredTree, FetchError> {
    let name = match subdirectory {
        Some(sub) => format!(
            "git-{commit}-{}",
            &pyfod_digest::Sha256::of(sub.as_bytes()).to_hex()[..16]
        ),
        None => format!("git-{commit}"),
    };
    let tree = store.tree_path(&name);
    if !tree.exists() {
        let bare = store.git_dir(repository);
        let _lock = store.lock(&format!(
            "git-{}",
            bare.file_stem().unwrap_or_default().to_string_lossy()
        ))?;
        let fail = |detail: String| FetchError::Git {
            package: package.to_owned(),
            repository: crate::choose::without_credentials(repository),
            commit: commit.to_owned(),
            detail,
        };
        if !bare.exists() || in_bare(&bare, &["rev-parse", "--git-dir"]).is_err() {
            let _ = std::fs::remove_dir_all(&bare);
            run(Command::new("git")
                .args(["init", "--quiet", "--bare"])
                .arg(&bare))
            .map_err(fail)?;
        }
        let have = |bare: &Path| {
            in_bare(bare, &["cat-file", "-e", &format!("{commit}^{{commit}}")]).is_ok()
        };
        if !have(&bare) {
            if offline {
                return Err(fail(
                    "the commit is not in the store, and --offline forbids fetching it".into(),
                ));
            }
            // The commit itself, where the server allows it; else every branch and tag.
            let direct = in_bare(
                &bare,
                &["fetch", "--quiet", "--no-tags", repository, commit],
            );
            if direct.is_err() || !have(&bare) {
                in_bare(
                    &bare,
                    &[
                        "fetch",
                        "--quiet",
                        repository,
                        "+refs/heads/*:refs/heads/*",
                        "+refs/tags/*:refs/tags/*",
                    ],
                )
                .map_err(fail)?;
            }
            if !have(&bare) {
                return Err(fail("the repository does not have this commit".into()));
            }
        }
        let work = store.temp_entry()?;
        std::fs::create_dir(work.path()).map_err(|e| FetchError::Read {
            path: work.path().to_path_buf(),
            source: e,
        })?;
        let treeish = match subdirectory {
            Some(sub) => format!("{commit}:{sub}"),
            None => commit.to_owned(),
        };
        let archive = Command::new("git")
            .arg("--git-dir")
            .arg(&bare)
            .args(["archive", "--format=tar", &treeish])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| fail(e.to_string()))?;
        let extract = Command::new("tar")
            .args(["-x", "-f", "-", "-C"])
            .arg(work.path())
            .stdin(archive.stdout.expect("piped"))
            .output()
            .map_err(|e| fail(e.to_string()))?;
        if !extract.status.success() {
            return Err(fail(format!(
                "cannot unpack the commit{}: {}",
                subdirectory
                    .map(|s| format!(" (subdirectory {s})"))
                    .unwrap_or_default(),
                String::from_utf8_lossy(&extract.stderr).trim()
            )));
        }
        store.publish_tree(&name, work)?;
    }
    stored(store, &name)
}

/// A copy of a local project directory, named by its NAR hash, so a change to
/// the project is a new tree.
pub fn local(store: &Store, lock_dir: &Path, path: &str) -> Result<StoredTree, FetchError> {
    let source = lock_dir.join(path);
    let work = store.temp_entry()?;
    let skip = |name: &OsStr| NOT_SOURCE.iter().any(|n| OsStr::new(n) == name);
    pyfod_store::copy_tree_except(&source, work.path(), &skip).map_err(|e| FetchError::Read {
        path: source.clone(),
        source: e,
    })?;
    let digest = nar_hash(work.path())?;
    let name = format!("dir-{}", digest.to_hex());
    store.publish_tree(&name, work)?;
    Ok(StoredTree {
        store_path: StorePath(format!("trees/{name}")),
        nar_sha256: digest,
    })
}

fn stored(store: &Store, name: &str) -> Result<StoredTree, FetchError> {
    Ok(StoredTree {
        store_path: StorePath(format!("trees/{name}")),
        nar_sha256: nar_hash(&store.tree_path(name))?,
    })
}

fn nar_hash(path: &Path) -> Result<pyfod_digest::Sha256, FetchError> {
    pyfod_nar::hash_path(path, &pyfod_nar::HashSettings::default(), None)
        .map(|h| h.nar_sha256)
        .map_err(|e| FetchError::Tree(e.to_string()))
}

fn in_bare(bare: &Path, args: &[&str]) -> Result<(), String> {
    run(Command::new("git").arg("--git-dir").arg(bare).args(args))
}

fn run(command: &mut Command) -> Result<(), String> {
    let output = command
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("cannot run git: {e}"))?;
    if output.status.success() {
        Ok(())
    } else {
        Err(String::from_utf8_lossy(&output.stderr).trim().to_owned())
    }
}
