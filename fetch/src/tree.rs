//! Source trees: a git checkout at the locked commit, or a copy of a local
//! project, put in the store and named by content.

use std::ffi::OsStr;
use std::path::Path;
use std::process::{Command, Stdio};

use pyfod_digest::Sha256;
use pyfod_manifest::StoredTree;
use pyfod_store::{EntryName, Found, Needs, Produced, Store};

use crate::{FetchError, NOT_SOURCE};

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
    let fail = |detail: String| FetchError::Git {
        package: package.to_owned(),
        repository: crate::choose::without_credentials(repository),
        commit: commit.to_owned(),
        detail,
    };
    let entry = EntryName::Tree(name);
    let found = store.entry(&entry, || {
        let bare = store.git_dir(repository);
        let _lock = store.lock(&format!(
            "git-{}",
            bare.file_stem().unwrap_or_default().to_string_lossy()
        ))?;
        fetch_commit(&bare, repository, commit, offline).map_err(fail)?;
        let work = store.temp_entry()?;
        std::fs::create_dir(work.path()).map_err(|e| FetchError::Read {
            path: work.path().to_path_buf(),
            source: e,
        })?;
        check_out(&bare, commit, subdirectory, work.path()).map_err(fail)?;
        let index = store.index_tree(&work)?;
        Ok::<_, FetchError>(Produced {
            manifest: format!("git {commit}\n").into_bytes(),
            tree: Some((work, index)),
            needs: Needs::default(),
        })
    })?;
    Ok(stored(&entry, &found))
}

/// Makes sure the bare clone `bare` has `commit`, fetching it from `repository`.
fn fetch_commit(bare: &Path, repository: &str, commit: &str, offline: bool) -> Result<(), String> {
    if !bare.exists() || in_bare(bare, &["rev-parse", "--git-dir"]).is_err() {
        let _ = std::fs::remove_dir_all(bare);
        run(git_command().args(["init", "--quiet", "--bare"]).arg(bare))?;
    }
    let have = || in_bare(bare, &["cat-file", "-e", &format!("{commit}^{{commit}}")]).is_ok();
    if have() {
        return Ok(());
    }
    if offline {
        return Err("the commit is not in the store, and --offline forbids fetching it".into());
    }
    // The commit itself, where the server allows it; else every branch and tag.
    let direct = in_bare(
        bare,
        &[
            "fetch",
            "--quiet",
            "--no-tags",
            "--end-of-options",
            repository,
            commit,
        ],
    );
    if direct.is_err() || !have() {
        in_bare(
            bare,
            &[
                "fetch",
                "--quiet",
                "--end-of-options",
                repository,
                "+refs/heads/*:refs/heads/*",
                "+refs/tags/*:refs/tags/*",
            ],
        )?;
    }
    if !have() {
        return Err("the repository does not have this commit".into());
    }
    Ok(())
}

/// `commit` (its `subdirectory`) of the bare clone, written into `dir`.
fn check_out(
    bare: &Path,
    commit: &str,
    subdirectory: Option<&str>,
    dir: &Path,
) -> Result<(), String> {
    let treeish = match subdirectory {
        Some(sub) => format!("{commit}:{sub}"),
        None => commit.to_owned(),
    };
    let archive = git_command()
        .arg("--git-dir")
        .arg(bare)
        .args(["archive", "--format=tar", &treeish])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot run git: {e}"))?;
    let extract = Command::new("tar")
        .args(["-x", "-f", "-", "-C"])
        .arg(dir)
        .stdin(archive.stdout.expect("piped"))
        .output()
        .map_err(|e| format!("cannot run tar: {e}"))?;
    if !extract.status.success() {
        return Err(format!(
            "cannot unpack the commit{}: {}",
            subdirectory
                .map(|s| format!(" (subdirectory {s})"))
                .unwrap_or_default(),
            String::from_utf8_lossy(&extract.stderr).trim()
        ));
    }
    Ok(())
}

/// A copy of a local project directory, named by its NAR hash (`expected`, which
/// the input read): a change to the project is a new tree. Special files are
/// refused, links are copied as links, never followed.
pub fn local(
    store: &Store,
    package: &str,
    lock_dir: &Path,
    path: &str,
    expected: &Sha256,
) -> Result<StoredTree, FetchError> {
    let source = lock_dir.join(path);
    let entry = EntryName::Tree(format!("dir-{}", expected.to_hex()));
    let found = store.entry(&entry, || {
        let work = store.temp_entry()?;
        let skip = |name: &OsStr| NOT_SOURCE.iter().any(|n| OsStr::new(n) == name);
        pyfod_store::copy_tree_except(&source, work.path(), &skip).map_err(|e| {
            FetchError::Read {
                path: source.clone(),
                source: e,
            }
        })?;
        let index = store.index_tree(&work)?;
        if index.nar_sha256() != *expected {
            return Err(FetchError::TreeChanged {
                package: package.to_owned(),
                path: source.clone(),
            });
        }
        Ok(Produced {
            manifest: b"directory\n".to_vec(),
            tree: Some((work, index)),
            needs: Needs::default(),
        })
    })?;
    Ok(stored(&entry, &found))
}

fn stored(entry: &EntryName, found: &Found) -> StoredTree {
    StoredTree {
        store_path: entry.tree_path(),
        nar_sha256: found
            .index
            .as_ref()
            .expect("a tree entry has an index")
            .nar_sha256(),
    }
}

/// git, with transports that run commands (`ext::`) refused and every fetched
/// object checked (no `..`, no `.git`, no duplicate entries in a tree), whatever
/// the user's configuration says: a lock's URL is not trusted.
fn git_command() -> Command {
    let mut command = Command::new("git");
    command
        .args(["-c", "protocol.ext.allow=never"])
        .args(["-c", "transfer.fsckObjects=true"])
        .env("GIT_TERMINAL_PROMPT", "0");
    command
}

fn in_bare(bare: &Path, args: &[&str]) -> Result<(), String> {
    run(git_command().arg("--git-dir").arg(bare).args(args))
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
