//! The real Nix, building derivations for the tests: the machine's store, with
//! settings for tests — no substituters, no build users, and Nix's sandbox with
//! the host's toolchain bound in (or, where the machine refuses the sandbox, no
//! sandbox, said once) — and the stand-in nixpkgs of `fixtures/nixpkgs`.

use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

/// Nix, ready for tests.
#[derive(Debug)]
pub struct Nix {
    config: String,
    /// Whether builds run in Nix's sandbox.
    pub sandboxed: bool,
}

static NIX: OnceLock<Option<Nix>> = OnceLock::new();

impl Nix {
    /// Nix, or `None` (said loudly, and a failure under `PYFOD_REQUIRE_ORACLE`)
    /// when `nix-build` is not installed here.
    pub fn get(test: &str) -> Option<&'static Nix> {
        let nix = NIX.get_or_init(|| {
            let installed = Command::new("nix-build").arg("--version").output().is_ok();
            installed.then(Nix::set_up)
        });
        if nix.is_none() {
            crate::oracle::announce_skip(test, "nix-build");
        }
        nix.as_ref()
    }

    fn set_up() -> Nix {
        let sandboxed = Nix::with_sandbox(true);
        if sandboxed.sandbox_works() {
            return sandboxed;
        }
        eprintln!(
            "\n!!! Nix's sandbox does not work on this machine (no user namespaces?); the Nix tests build without it.\n"
        );
        Nix::with_sandbox(false)
    }

    fn with_sandbox(sandbox: bool) -> Nix {
        let mut config = String::from("substituters =\nbuild-users-group =\n");
        if sandbox {
            // The stand-in stdenv's shell, tools and compiler, and the libraries
            // the test's interpreter and pyfod link: the host's.
            let host: Vec<&str> = ["/bin", "/usr", "/lib", "/lib64", "/etc/alternatives"]
                .into_iter()
                .filter(|p| Path::new(p).exists())
                .collect();
            writeln!(config, "sandbox = true\nsandbox-fallback = false").unwrap();
            writeln!(config, "extra-sandbox-paths = {}", host.join(" ")).unwrap();
        } else {
            config.push_str("sandbox = false\n");
        }
        Nix {
            config,
            sandboxed: sandbox,
        }
    }

    /// Whether a build in the sandbox sees the store's database: outside the
    /// sandbox it does.
    fn sandbox_works(&self) -> bool {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let probe = dir.path().join("probe.nix");
        let nonce = format!("{:x}", fastrand::u64(..));
        fs::write(
            &probe,
            format!(
                "derivation {{ name = \"pyfod-sandbox-probe-{nonce}\"; system = builtins.currentSystem; builder = \"/bin/sh\"; args = [ \"-c\" \"if [ -e /nix/var/nix/db ]; then echo open > $out; else echo sandboxed > $out; fi\" ]; }}"
            ),
        )
        .expect("write the probe");
        let output = self.build(&probe, &[]);
        output.status.success()
            && fs::read_to_string(stdout_path(&output)).is_ok_and(|t| t.trim() == "sandboxed")
    }

    /// A command of Nix's (`nix-build`, `nix-store`), configured ([`Nix::configure`]).
    pub fn command(&self, program: impl AsRef<std::ffi::OsStr>) -> Command {
        let mut command = Command::new(program);
        self.configure(&mut command);
        command
    }

    /// Gives `command` (Nix, or pyfod running Nix) the tests' settings and the
    /// stand-in nixpkgs as `<nixpkgs>`.
    pub fn configure(&self, command: &mut Command) {
        command
            .env("NIX_CONFIG", &self.config)
            .env(
                "NIX_PATH",
                format!("nixpkgs={}", crate::fixture("nixpkgs").display()),
            )
            .env_remove("NIX_REMOTE");
    }

    /// `nix-build FILE --no-out-link ARGS…`, as it ended.
    pub fn build(&self, file: &Path, args: &[&str]) -> Output {
        self.command("nix-build")
            .arg(file)
            .arg("--no-out-link")
            .args(args)
            .output()
            .expect("nix-build runs")
    }

    /// `nix-store --add DIR`: its store path.
    pub fn add(&self, dir: &Path) -> String {
        let output = self
            .command("nix-store")
            .arg("--add")
            .arg(dir)
            .output()
            .expect("nix-store runs");
        assert!(output.status.success(), "nix-store --add: {output:?}");
        String::from_utf8(output.stdout).unwrap().trim().to_owned()
    }

    /// The references Nix registered for a valid `path`, sorted.
    pub fn references(&self, path: &str) -> Vec<String> {
        let output = self
            .command("nix-store")
            .args(["--query", "--references", path])
            .output()
            .expect("nix-store runs");
        assert!(output.status.success(), "nix-store --query: {output:?}");
        let mut paths: Vec<String> = String::from_utf8(output.stdout)
            .unwrap()
            .lines()
            .map(str::to_owned)
            .collect();
        paths.sort();
        paths
    }

    /// Whether `path` is valid in the store: registered, not merely printed.
    pub fn is_valid(&self, path: &str) -> bool {
        self.command("nix-store")
            .args(["--check-validity", path])
            .output()
            .expect("nix-store runs")
            .status
            .success()
    }
}

/// The last line of a successful `nix-build`'s standard output: the path built.
pub fn stdout_path(output: &Output) -> PathBuf {
    let text = String::from_utf8_lossy(&output.stdout);
    PathBuf::from(text.lines().last().unwrap_or_default().trim())
}

/// A store path's name: what follows its hash part.
pub fn store_name(path: &str) -> &str {
    let base = path.rsplit('/').next().unwrap_or(path);
    base.get(33..).unwrap_or(base)
}

/// The packages the stand-in nixpkgs gives by name, as `PYFOD_TEST_PACKAGES`
/// holds them.
pub fn packages(named: &[(&str, &str)]) -> String {
    named
        .iter()
        .map(|(name, path)| format!("{name}={path}"))
        .collect::<Vec<_>>()
        .join(" ")
}

/// A directory in the store shaped like nixpkgs' Python: `bin/python3.Y` (a
/// copy of Debian's interpreter, which links its runtime statically), with its
/// library and headers at `lib/` and `include/` — so `sys.prefix`, and every
/// venv made from it, name the store path. `None` without Debian's Python 3.
pub fn store_python(nix: &Nix, scratch: &Path) -> Option<StorePython> {
    let real = fs::canonicalize("/usr/bin/python3").ok()?;
    let executable = real.file_name()?.to_str()?.to_owned();
    let version = executable.strip_prefix("python")?.to_owned();
    let dir = scratch.join(format!("python3-{version}"));
    fs::create_dir_all(dir.join("bin")).unwrap();
    fs::create_dir_all(dir.join("lib")).unwrap();
    fs::create_dir_all(dir.join("include")).unwrap();
    fs::copy(&real, dir.join("bin").join(&executable)).unwrap();
    std::os::unix::fs::symlink(&executable, dir.join("bin/python3")).unwrap();
    let lib = format!("/usr/lib/{executable}");
    std::os::unix::fs::symlink(&lib, dir.join("lib").join(&executable)).unwrap();
    let include = format!("/usr/include/{executable}");
    std::os::unix::fs::symlink(&include, dir.join("include").join(&executable)).unwrap();
    Some(StorePython {
        attribute: format!("python{}", version.replace('.', "")),
        path: nix.add(&dir),
        executable,
    })
}

/// An interpreter in the store, as [`store_python`] made it.
#[derive(Debug, Clone)]
pub struct StorePython {
    /// nixpkgs' name for it: `python311`.
    pub attribute: String,
    /// `<store>/<hash>-python3-3.11`
    pub path: String,
    /// `python3.11`, in `bin/`.
    pub executable: String,
}
