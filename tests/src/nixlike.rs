//! A venv that looks the way one looks inside a Nix build: made by `uv venv` from
//! a Python that lives in a store directory, with an extension module whose
//! RUNPATH points into the store, and every kind of reference Nix's scanner
//! would find — prefixed and bare hash parts, in contents, symlink targets and
//! file names.

use std::fs;
use std::io;
use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The fixture's paths, for tests to look at.
#[derive(Debug, Clone)]
pub struct NixLikeVenv {
    /// The temporary store directory.
    pub store: PathBuf,
    /// `<store>/<hash>-python3-3.11.x`, a symlink to the real interpreter's prefix.
    pub python: PathBuf,
    /// `<store>/<hash>-libxml2-2.10.4`, with `lib/libxml2stub.so`.
    pub libxml2: PathBuf,
    /// `<store>/<hash>-openssl-3.0.13`, referred to only by a symlink and by its
    /// bare hash part: the kinds the seed misses.
    pub openssl: PathBuf,
    /// The venv.
    pub venv: PathBuf,
    /// `site-packages/_demo….so`, whose `demo_answer()` returns 42.
    pub extension: PathBuf,
}

impl NixLikeVenv {
    /// Builds the fixture under `dir`. Needs `cc`, `uv` and a `python3` on PATH.
    pub fn build(dir: &Path) -> io::Result<NixLikeVenv> {
        let store = dir.join("store");
        fs::create_dir_all(&store)?;
        let real_prefix =
            output(Command::new("python3").args(["-c", "import sys; print(sys.base_prefix)"]))?;
        let version = output(
            Command::new("python3")
                .args(["-c", "import sys; print('%d.%d.%d' % sys.version_info[:3])"]),
        )?;
        let short: String = version
            .rsplit_once('.')
            .map_or(version.as_str(), |(short, _)| short)
            .to_owned();

        let python = store.join(format!("{}-python3-{version}", hash_part("python3")));
        symlink(&real_prefix, &python)?;
        let libxml2 = store.join(format!("{}-libxml2-2.10.4", hash_part("libxml2")));
        let lib = libxml2.join("lib");
        fs::create_dir_all(&lib)?;
        let openssl = store.join(format!("{}-openssl-3.0.13", hash_part("openssl")));
        fs::create_dir_all(openssl.join("etc/ssl"))?;
        fs::write(
            openssl.join("etc/ssl/cert.pem"),
            "-----BEGIN CERTIFICATE-----\n",
        )?;

        let src = dir.join("src");
        fs::create_dir_all(&src)?;
        fs::write(src.join("stub.c"), "int stub_value(void) { return 1; }\n")?;
        fs::write(
            src.join("demo.c"),
            "int stub_value(void);\nint demo_answer(void) { return stub_value() + 41; }\n",
        )?;
        run(Command::new("cc")
            .args(["-shared", "-fPIC", "-o"])
            .arg(lib.join("libxml2stub.so"))
            .arg(src.join("stub.c")))?;

        let venv = dir.join("venv");
        run(Command::new("uv")
            .args(["venv", "--quiet", "--no-config", "--python"])
            .arg(python.join(format!("bin/python{short}")))
            .arg(&venv)
            .env("UV_PYTHON_DOWNLOADS", "never")
            .env("UV_CACHE_DIR", dir.join("uv-cache")))?;
        let site = venv.join(format!("lib/python{short}/site-packages"));
        let pkg = site.join("demo");
        fs::create_dir_all(&pkg)?;

        let extension = site.join(format!(
            "_demo.cpython-{}-x86_64-linux-gnu.so",
            short.replace('.', "")
        ));
        run(Command::new("cc")
            .args(["-shared", "-fPIC", "-o"])
            .arg(&extension)
            .arg(src.join("demo.c"))
            .arg(format!("-L{}", lib.display()))
            .arg("-lxml2stub")
            .arg(format!("-Wl,-rpath,{}", lib.display()))
            .arg("-Wl,--enable-new-dtags"))?;

        fs::write(
            pkg.join("__init__.py"),
            format!(
                "LIBXML2 = \"{}/lib\"\nSTDLIB = \"{}/lib/python{short}\"\n",
                libxml2.display(),
                python.display()
            ),
        )?;
        fs::write(
            pkg.join("ids.txt"),
            format!("openssl build {}\n", hash_part("openssl")),
        )?;
        fs::write(
            pkg.join(format!("cache-{}.txt", hash_part("libxml2"))),
            "cached\n",
        )?;
        symlink(openssl.join("etc/ssl/cert.pem"), pkg.join("cert.pem"))?;
        symlink(lib.join("libxml2stub.so"), pkg.join("libxml2.so"))?;
        fs::write(
            venv.join("bin/demo-tool"),
            format!("#!{}/bin/python\nimport demo\n", venv.display()),
        )?;
        run(Command::new(venv.join("bin/python"))
            .args(["-m", "compileall", "-q"])
            .arg(&pkg))?;
        Ok(NixLikeVenv {
            store,
            python,
            libxml2,
            openssl,
            venv,
            extension,
        })
    }

    /// The hash parts of the fixture's store paths.
    pub fn hash_parts(&self) -> Vec<String> {
        [&self.python, &self.libxml2, &self.openssl]
            .iter()
            .map(|p| p.file_name().unwrap().to_string_lossy()[..32].to_owned())
            .collect()
    }
}

/// A stable, valid hash part for a name: 32 characters of Nix's base-32.
pub fn hash_part(name: &str) -> String {
    const ALPHABET: &[u8; 32] = b"0123456789abcdfghijklmnpqrsvwxyz";
    let mut state = 0xcbf2_9ce4_8422_2325u64;
    for b in name.bytes() {
        state = (state ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
    }
    (0..32)
        .map(|i| {
            state = state
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407 + i);
            ALPHABET[(state >> 59) as usize] as char
        })
        .collect()
}

fn run(command: &mut Command) -> io::Result<()> {
    let output = command.output()?;
    if output.status.success() {
        Ok(())
    } else {
        Err(io::Error::other(format!(
            "{command:?} failed: {}",
            String::from_utf8_lossy(&output.stderr)
        )))
    }
}

fn output(command: &mut Command) -> io::Result<String> {
    let output = command.output()?;
    if !output.status.success() {
        return Err(io::Error::other(format!("{command:?} failed")));
    }
    Ok(String::from_utf8_lossy(&output.stdout).trim().to_owned())
}
