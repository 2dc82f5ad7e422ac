//! The compilers a build may run, as the build will find them. What each says
//! of its version is in every build's key, so a new gcc or rustc builds again
//! rather than reuse a wheel it did not make. rustup's variables go to the
//! builds (not to the key: the versions are there), so that rustup's `cargo`
//! finds its toolchain in a build's fresh `HOME` without `pass-env`.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Command, Stdio};

use serde::Serialize;

/// The tools whose version is in the key, and the flag that prints it. ccache
/// is one because meson puts it before the compiler by itself when it is on
/// `PATH`, and a package may record its compiler's command (numpy does).
const TOOLS: [(&str, &str); 5] = [
    ("cc", "--version"),
    ("c++", "--version"),
    ("rustc", "-vV"),
    ("cargo", "-V"),
    ("ccache", "--version"),
];

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Toolchain {
    /// Each tool found on the builds' `PATH`, with what it says of its version.
    pub versions: Vec<(String, String)>,
    /// `RUSTUP_HOME` (the caller's, else `~/.rustup` when it is there) and
    /// `RUSTUP_TOOLCHAIN` when set: for the builds' variables.
    #[serde(skip)]
    pub rustup: BTreeMap<String, String>,
}

impl Toolchain {
    /// The tools on `path` (the builds' search path), asked with rustup's
    /// variables from `caller` (the caller's environment).
    pub fn probe(path: &str, caller: impl Fn(&str) -> Option<String>) -> Toolchain {
        let mut rustup = BTreeMap::new();
        let home = caller("RUSTUP_HOME").or_else(|| {
            let derived = Path::new(&caller("HOME")?).join(".rustup");
            derived.is_dir().then(|| derived.display().to_string())
        });
        rustup.extend(home.map(|h| ("RUSTUP_HOME".to_owned(), h)));
        rustup.extend(caller("RUSTUP_TOOLCHAIN").map(|t| ("RUSTUP_TOOLCHAIN".to_owned(), t)));
        // Asked at once: rustup's proxies take most of the 0.1 s a run spends here.
        let versions = std::thread::scope(|scope| {
            let asked: Vec<_> = TOOLS
                .iter()
                .map(|(tool, flag)| scope.spawn(|| version_of(tool, flag, path, &rustup)))
                .collect();
            asked
                .into_iter()
                .zip(TOOLS)
                .filter_map(|(asked, (tool, _))| {
                    let said = asked.join().ok().flatten()?;
                    Some((tool.to_owned(), said))
                })
                .collect()
        });
        Toolchain { versions, rustup }
    }
}

/// The cargo workspace whose `Cargo.toml` is above `dir`, if one is: cargo
/// looks up from a package for its workspace, so a Rust source built under
/// `dir` that has no `[workspace]` of its own would be taken for one of its
/// members, and fail ("current package believes it's in a workspace when it's
/// not").
pub fn enclosing_cargo_workspace(dir: &Path) -> Option<std::path::PathBuf> {
    dir.ancestors().skip(1).find_map(|ancestor| {
        let manifest = ancestor.join("Cargo.toml");
        let text = std::fs::read_to_string(&manifest).ok()?;
        text.lines()
            .any(|l| l.trim() == "[workspace]")
            .then_some(manifest)
    })
}

/// What `tool flag` prints on its standard output, when it runs and succeeds.
fn version_of(
    tool: &str,
    flag: &str,
    path: &str,
    rustup: &BTreeMap<String, String>,
) -> Option<String> {
    let output = Command::new(tool)
        .arg(flag)
        .env_clear()
        .env("PATH", path)
        .env("LC_ALL", "C")
        .envs(rustup)
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output()
        .ok()
        .filter(|o| o.status.success())?;
    Some(String::from_utf8_lossy(&output.stdout).trim().to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rustup_home_is_the_callers_else_derived_from_home_when_there() {
        let home = tempfile::tempdir().unwrap();
        std::fs::create_dir(home.path().join(".rustup")).unwrap();
        let at = home.path().display().to_string();
        let derived = Toolchain::probe("", |k| (k == "HOME").then(|| at.clone()));
        assert_eq!(
            derived.rustup.get("RUSTUP_HOME").map(String::as_str),
            Some(home.path().join(".rustup").to_str().unwrap())
        );
        let given = Toolchain::probe("", |k| match k {
            "RUSTUP_HOME" => Some("/opt/rustup".to_owned()),
            "RUSTUP_TOOLCHAIN" => Some("1.80".to_owned()),
            "HOME" => Some(at.clone()),
            _ => None,
        });
        assert_eq!(given.rustup["RUSTUP_HOME"], "/opt/rustup");
        assert_eq!(given.rustup["RUSTUP_TOOLCHAIN"], "1.80");
        let nothing = Toolchain::probe("", |_| None);
        assert!(nothing.rustup.is_empty() && nothing.versions.is_empty());
    }

    #[test]
    fn a_store_inside_a_cargo_workspace_is_found() {
        let root = tempfile::tempdir().unwrap();
        let store = root.path().join("target/store/tmp");
        std::fs::create_dir_all(&store).unwrap();
        assert_eq!(enclosing_cargo_workspace(&store), None);
        std::fs::write(
            root.path().join("Cargo.toml"),
            "[workspace]\nmembers = []\n",
        )
        .unwrap();
        assert_eq!(
            enclosing_cargo_workspace(&store),
            Some(root.path().join("Cargo.toml"))
        );
    }
}
