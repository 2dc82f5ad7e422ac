//! The expressions `pyfod nix fod` writes, read without building them: the
//! README's is the command's own, every lock source kind brings what it needs,
//! and what cannot be written as a Nix expression is refused with its reason.

use std::fs;
use std::path::Path;
use std::process::{Command, Output};

use pyfod_tests::index::PackageIndex;
use pyfod_tests::oracle::{announce_skip, tool_available};
use pyfod_tests::sources::git_repository;
use pyfod_tests::uvproject::{make_dist, uv_ok};

fn pyfod(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_pyfod"))
        .args(["nix", "fod"])
        .args(args)
        .current_dir(dir)
        .env_remove("RUST_LOG")
        .output()
        .unwrap()
}

/// Nix's parser on the text, when Nix is here.
fn parses(file: &Path, test: &str) {
    let Ok(output) = Command::new("nix-instantiate")
        .arg("--parse")
        .arg(file)
        .output()
    else {
        return announce_skip(test, "nix-instantiate");
    };
    assert!(output.status.success(), "{}: {output:?}", file.display());
}

#[test]
fn the_readmes_expression_is_what_the_command_writes() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let readme = fs::read_to_string(root.join("README.md")).unwrap();
    let command = "$ pyfod nix fod --nix-python python314 > python-deps.nix\n";
    let after =
        &readme[readme.find(command).expect("the README shows the command") + command.len()..];
    let block = after
        .split_once("```nix\n")
        .and_then(|(_, rest)| rest.split_once("```\n"))
        .map(|(block, _)| block)
        .expect("a nix block follows the command");
    let output = pyfod(&root.join("examples/hello"), &["--nix-python", "python314"]);
    assert!(output.status.success(), "{output:?}");
    assert_eq!(
        String::from_utf8(output.stdout).unwrap(),
        block,
        "write the README's block again with the command it shows"
    );
    let tmp = tempfile::tempdir().unwrap();
    fs::write(tmp.path().join("python-deps.nix"), block).unwrap();
    parses(
        &tmp.path().join("python-deps.nix"),
        "the_readmes_expression_is_what_the_command_writes",
    );
}

/// A lock written by uv with a registry package, a git source and a local
/// source beside the project: the expression copies the directory holding
/// both, and brings certificates, git and the proxy variables.
#[test]
fn every_source_kind_brings_what_it_needs() {
    let test = "every_source_kind_brings_what_it_needs";
    if !(tool_available("uv", test) && tool_available("git", test)) {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let (dists, app, near) = (
        tmp.path().join("dists"),
        tmp.path().join("app"),
        tmp.path().join("near"),
    );
    for dir in [&dists, &app, &near] {
        fs::create_dir_all(dir).unwrap();
    }
    make_dist(&dists, &["wheel", "alpha", "1.0"]);
    let index = PackageIndex::serve(&dists).unwrap();
    let repo = tmp.path().join("repo");
    git_repository("gitpkg", &repo);
    fs::write(
        near.join("pyproject.toml"),
        "[project]\nname = \"near\"\nversion = \"1.0\"\n\n[build-system]\nrequires = []\nbuild-backend = \"x\"\n",
    )
    .unwrap();
    fs::write(
        app.join("pyproject.toml"),
        format!(
            "[project]\nname = \"app\"\nversion = \"0.1.0\"\nrequires-python = \">=3.8\"\ndependencies = [\"alpha\", \"gitpkg\", \"near\"]\n\n[tool.uv]\npackage = false\n\n[tool.uv.sources]\ngitpkg = {{ git = \"file://{}\" }}\nnear = {{ path = \"../near\" }}\n",
            repo.display()
        ),
    )
    .unwrap();
    uv_ok(
        &app,
        &tmp.path().join("uv-cache"),
        &["lock", "--index-url", &index.url(), "--python", "python3"],
    );

    let output = pyfod(
        &app,
        &[
            "--python",
            "python3",
            "--output",
            "python-deps.nix",
            "--name",
            "app-deps",
        ],
    );
    assert!(output.status.success(), "{output:?}");
    let text = fs::read_to_string(app.join("python-deps.nix")).unwrap();
    for expected in [
        "name = \"app-deps\";",
        "    path = ../.;\n",
        "--lock app/uv.lock",
        "nativeBuildInputs = [ pyfod python pkgs.cacert pkgs.git ];",
        "impureEnvVars = pkgs.lib.fetchers.proxyImpureEnvVars;",
        "export SSL_CERT_FILE=${pkgs.cacert}/etc/ssl/certs/ca-bundle.crt",
        "export GIT_SSL_CAINFO=$SSL_CERT_FILE",
        "--strict",
    ] {
        assert!(text.contains(expected), "no `{expected}` in:\n{text}");
    }
    parses(&app.join("python-deps.nix"), test);

    // src above the project copies what is beside it: said, or refused as
    // `[fetch] outside-project` says.
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert!(
        stderr.contains(&format!(
            "warning: {} outside the project's directory",
            near.display()
        )),
        "{stderr}"
    );
    fs::write(
        app.join("pyfod.toml"),
        "[fetch]\noutside-project = \"refuse\"\n",
    )
    .unwrap();
    let refused = pyfod(&app, &["--python", "python3"]);
    assert_eq!(refused.status.code(), Some(1), "{refused:?}");
    let stderr = String::from_utf8(refused.stderr).unwrap();
    assert!(
        stderr.contains("[fetch] outside-project says to refuse that"),
        "{stderr}"
    );
}

#[test]
fn what_nix_cannot_hold_is_refused_with_its_reason() {
    let tmp = tempfile::tempdir().unwrap();
    let project = tmp.path().join("hello");
    pyfod_tests::copy_dir(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/hello"),
        &project,
    );
    let refused = |args: &[&str], reason: &str| {
        let output = pyfod(&project, args);
        assert_eq!(output.status.code(), Some(1), "{args:?}: {output:?}");
        let stderr = String::from_utf8(output.stderr).unwrap();
        assert!(stderr.contains(reason), "{args:?}: {stderr}");
    };
    let python = ["--nix-python", "python311"];
    refused(
        &[&python[..], &["--build-input", "libxml2; rm -rf /"]].concat(),
        "is not a nixpkgs attribute path",
    );
    refused(
        &[&python[..], &["--name", ".hidden"]].concat(),
        "cannot name a store path",
    );
    refused(
        &["--nix-python", "pypy3"],
        "cannot tell the executable of `pypy3`",
    );
    let usage = pyfod(&project, &[&python[..], &["--build"]].concat());
    assert_eq!(
        usage.status.code(),
        Some(2),
        "--build needs --output: {usage:?}"
    );

    // A local source at the top of the file system: no one directory holds it
    // and the project but `/`.
    let lock = fs::read_to_string(project.join("uv.lock")).unwrap();
    fs::write(
        project.join("uv.lock"),
        lock.replace(
            "directory = \"sources/tinyext\"",
            "directory = \"/usr/share\"",
        ),
    )
    .unwrap();
    refused(&python, "span the whole file system");
}

/// Values that would end a string or splice code in are quoted for the shell
/// and for Nix, and the result still parses.
#[test]
fn names_from_outside_cannot_escape_their_strings() {
    let tmp = tempfile::tempdir().unwrap();
    let project = tmp.path().join("my ${builtins} 'app'");
    pyfod_tests::copy_dir(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/hello"),
        &project,
    );
    fs::rename(
        project.join("uv.lock"),
        project.join("it''s ${x} $(y).lock"),
    )
    .unwrap();
    let output = pyfod(
        tmp.path(),
        &[
            "--nix-python",
            "python311",
            "--lock",
            "my ${builtins} 'app'/it''s ${x} $(y).lock",
            "--pass-env",
            "A\"B",
            "--output",
            "deps.nix",
        ],
    );
    assert!(output.status.success(), "{output:?}");
    let text = fs::read_to_string(tmp.path().join("deps.nix")).unwrap();
    assert!(
        text.contains("path = (./. + \"/my \\${builtins} 'app'\");"),
        "{text}"
    );
    // Nix reads `'''` as `''` and `''${` as `${`; the shell reads `\$` as `$`.
    assert!(
        text.contains("--lock \"it'''s \\''${x} \\$(y).lock\""),
        "{text}"
    );
    assert!(text.contains("--pass-env \"A\\\"B\""), "{text}");
    parses(
        &tmp.path().join("deps.nix"),
        "names_from_outside_cannot_escape_their_strings",
    );
}
