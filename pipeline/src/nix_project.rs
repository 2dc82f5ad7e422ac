//! What a project says its fixed-output derivation needs: the directory Nix must
//! copy (the lock's, and every local source and file pyfod.toml names), what the
//! locks fetch from the network, the interpreter, and `pyfod build`'s flags.

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use pyfod_fetch::lock::{Lock, SourceKind};
use pyfod_nix::{FodExpression, Network, NixPython, Prefix, syntax};

use crate::config::{self, Preset, ProjectConfig};
use crate::nix_command::FodCommand;

/// The expression `command` describes, every value checked.
pub fn expression(command: &FodCommand) -> anyhow::Result<FodExpression> {
    let lock = absolute(&command.lock)?;
    let lock_dir = lock.parent().context("the lock has no directory")?;
    let config_path = config::find(command.config.as_deref(), &command.lock);
    let project = match &config_path {
        Some(path) => config::read(path)?,
        None => ProjectConfig::default(),
    };
    let mut needed = Needed::default();
    needed.lock(&lock)?;
    for build_lock in build_locks(&project) {
        needed.lock(&absolute(build_lock)?)?;
    }
    if let Some(path) = &command.config {
        needed.paths.push(absolute(path)?);
    }
    for file in project.scrub.iter().flat_map(|s| &s.refs_from) {
        needed.paths.push(absolute(file)?);
    }
    let outside = project.fetch.outside_project.unwrap_or_default();
    let root = src_root(&needed.paths, lock_dir, outside)?;
    let home = match &command.output {
        Some(output) => absolute(output)?
            .parent()
            .map(Path::to_path_buf)
            .context("--output names no file")?,
        None => lock_dir.to_path_buf(),
    };
    let src = syntax::relative_path(&relative(&root, &home)).with_context(|| {
        format!(
            "{} cannot be written as a Nix path relative to {}",
            root.display(),
            home.display()
        )
    })?;
    let mut flags = Vec::new();
    if let Some(path) = &command.config {
        let inside = relative(&absolute(path)?, &root);
        flags.push(("--config".to_owned(), Some(utf8(&inside, "--config")?)));
    }
    let preset = command
        .preset
        .or(project.scrub.as_ref().and_then(|s| s.preset))
        .or((project.preset == Some(Preset::Seed)).then_some(pyfod_scrub::Preset::Seed))
        .unwrap_or_default();
    if let Some(preset) = command.preset {
        flags.push(("--preset".to_owned(), Some(preset.name().to_owned())));
    }
    let compat = match (&command.compat, &project.install.compat) {
        (Some(compat), _) => Some(compat.clone()),
        // The FOD has no uv to ask: the one here is what `pyfod build` would take.
        (None, None) if project.preset == Some(Preset::Seed) => {
            Some(crate::settings::installed_uv()?)
        }
        _ => None,
    };
    if let Some(pyfod_install::Compat::Uv(version)) = compat {
        flags.push(("--compat".to_owned(), Some(format!("uv={version}"))));
    }
    if command.check {
        flags.push(("--check".to_owned(), None));
    }
    for var in &command.pass_env {
        flags.push(("--pass-env".to_owned(), Some(var.clone())));
    }
    for attribute in command
        .build_inputs
        .iter()
        .chain(&command.native_build_inputs)
    {
        if !syntax::is_attribute_path(attribute) {
            bail!(
                "`{attribute}` is not a nixpkgs attribute path (`libxml2`, `postgresql.pg_config`)"
            );
        }
    }
    Ok(FodExpression {
        name: name(command, &lock)?,
        src,
        lock: utf8(&relative(&lock, &root), "--lock")?,
        python: python(command)?,
        flags,
        strict: preset != pyfod_scrub::Preset::None,
        prefix: match preset {
            pyfod_scrub::Preset::Seed => Prefix::SeedVenv,
            _ => Prefix::Out,
        },
        network: needed.network,
        build_inputs: command.build_inputs.clone(),
        native_build_inputs: command.native_build_inputs.clone(),
        output_hash: command.hash,
        written_by: written_by(command),
    })
}

/// The directory Nix copies: the lock's, or the one holding it and every path
/// the derivation reads. Above the lock's directory, that copies what is beside
/// the project too, so it is said (or refused, as `[fetch] outside-project`
/// says for the sources themselves).
fn src_root(
    paths: &[PathBuf],
    lock_dir: &Path,
    outside: pyfod_fetch::OutsideProject,
) -> anyhow::Result<PathBuf> {
    let root = common_ancestor(paths).context("nothing to copy")?;
    let beyond: Vec<String> = paths
        .iter()
        .filter(|p| !p.starts_with(lock_dir))
        .map(|p| p.display().to_string())
        .collect();
    if root.parent().is_none() {
        bail!(
            "the project's sources span the whole file system ({} outside {}); a derivation's src must be one directory: move them under the project",
            beyond.join(", "),
            lock_dir.display()
        );
    }
    if !beyond.is_empty() {
        let what = format!(
            "{} outside the project's directory {}, so src is {}, with everything in it",
            beyond.join(", "),
            lock_dir.display(),
            root.display()
        );
        match outside {
            pyfod_fetch::OutsideProject::Refuse => bail!(
                "{what}; [fetch] outside-project says to refuse that: move them into the project, or allow it"
            ),
            pyfod_fetch::OutsideProject::Warn => eprintln!("warning: {what}"),
        }
    }
    Ok(root)
}

/// The files and directories the derivation reads, and the network it needs.
#[derive(Debug, Default)]
struct Needed {
    paths: Vec<PathBuf>,
    network: Network,
}

impl Needed {
    /// A lock: its directory, its local sources, and what it fetches.
    fn lock(&mut self, lock: &Path) -> anyhow::Result<()> {
        let parsed = Lock::read(lock)?;
        let dir = lock.parent().unwrap_or(Path::new("/"));
        self.paths.push(dir.to_path_buf());
        for package in &parsed.packages {
            match package.source.kind() {
                Some((SourceKind::Registry | SourceKind::Url, _)) => self.network.https = true,
                Some((SourceKind::Git, _)) => self.network.git = true,
                Some((SourceKind::Path | SourceKind::Directory | SourceKind::Editable, path)) => {
                    self.paths.push(pyfod_config::lexical_path(&dir.join(path)));
                }
                Some((SourceKind::Virtual, _)) | None => {}
            }
        }
        Ok(())
    }
}

/// The build locks pyfod.toml names.
fn build_locks(project: &ProjectConfig) -> Vec<&PathBuf> {
    let build = &project.build;
    build
        .lock
        .iter()
        .chain(build.packages.values().filter_map(|p| p.lock.as_ref()))
        .collect()
}

/// nixpkgs' attribute for the interpreter, and its executable in `bin/`.
fn python(command: &FodCommand) -> anyhow::Result<NixPython> {
    if let (Some(attribute), None) = (&command.nix_python, &command.python) {
        let executable = attribute
            .strip_prefix("python3")
            .filter(|minor| !minor.is_empty() && minor.bytes().all(|b| b.is_ascii_digit()))
            .map(|minor| format!("python3.{minor}"))
            .with_context(|| format!("cannot tell the executable of `{attribute}` from its name; give --python too, an interpreter of its version"))?;
        if !syntax::is_attribute_path(attribute) {
            bail!("`{attribute}` is not a nixpkgs attribute path");
        }
        return Ok(NixPython {
            attribute: attribute.clone(),
            executable,
        });
    }
    let interpreter =
        pyfod_python::Interpreter::probe(command.python.as_deref().unwrap_or("python3"))?;
    let (major, minor) = (
        interpreter.version.split('.').next().unwrap_or("3"),
        interpreter.minor,
    );
    let free = if interpreter.gil_disabled {
        ("FreeThreading", "t")
    } else {
        ("", "")
    };
    let attribute = match &command.nix_python {
        Some(attribute) if syntax::is_attribute_path(attribute) => attribute.clone(),
        Some(attribute) => bail!("`{attribute}` is not a nixpkgs attribute path"),
        None => format!("python{major}{minor}{}", free.0),
    };
    Ok(NixPython {
        attribute,
        executable: format!("python{major}.{minor}{}", free.1),
    })
}

/// `--name`, else `<project>-python-deps`, else `<lock's directory>-python-deps`.
fn name(command: &FodCommand, lock: &Path) -> anyhow::Result<String> {
    let name = match &command.name {
        Some(name) => name.clone(),
        None => {
            let project = crate::settings::project_name(lock).or_else(|| {
                lock.parent()?
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
            });
            let plain: String = project
                .unwrap_or_else(|| "project".into())
                .chars()
                .map(|c| {
                    if c.is_ascii_alphanumeric() || "+-._".contains(c) {
                        c
                    } else {
                        '-'
                    }
                })
                .collect();
            format!("{}-python-deps", plain.trim_start_matches('.'))
        }
    };
    if !syntax::is_store_name(&name) {
        bail!(
            "`{name}` cannot name a store path: use letters, digits and + - . _ ? =, not starting with a dot"
        );
    }
    Ok(name)
}

/// The command, as the expression's header shows it: what it was given.
fn written_by(command: &FodCommand) -> String {
    let mut words = vec!["pyfod nix fod".to_owned()];
    let mut add =
        |flag: &str, value: &str| words.push(format!("{flag} {}", syntax::shell_word(value)));
    if command.lock != Path::new("uv.lock") {
        add("--lock", &command.lock.to_string_lossy());
    }
    for (flag, value) in [
        ("--python", command.python.clone()),
        ("--nix-python", command.nix_python.clone()),
        (
            "--config",
            command
                .config
                .as_ref()
                .map(|p| p.to_string_lossy().into_owned()),
        ),
        ("--preset", command.preset.map(|p| p.name().to_owned())),
        (
            "--compat",
            command
                .compat
                .as_ref()
                .map(|pyfod_install::Compat::Uv(v)| format!("uv={v}")),
        ),
        ("--name", command.name.clone()),
    ] {
        if let Some(value) = value {
            add(flag, &value);
        }
    }
    for var in &command.pass_env {
        add("--pass-env", var);
    }
    for attribute in &command.build_inputs {
        add("--build-input", attribute);
    }
    for attribute in &command.native_build_inputs {
        add("--native-build-input", attribute);
    }
    if command.check {
        words.push("--check".into());
    }
    if let Some(output) = &command.output {
        words.push(format!(
            "--output {}",
            syntax::shell_word(&output.to_string_lossy())
        ));
    }
    words.join(" ")
}

/// `path` made absolute, `.` and `..` taken out by its text (as Nix reads a path).
fn absolute(path: &Path) -> std::io::Result<PathBuf> {
    Ok(pyfod_config::lexical_path(&std::path::absolute(path)?))
}

fn utf8(path: &Path, what: &str) -> anyhow::Result<String> {
    match path.to_str() {
        Some(text) => Ok(text.to_owned()),
        None => bail!(
            "{what} {} is not UTF-8, which a Nix expression cannot hold",
            path.display()
        ),
    }
}

/// The deepest directory holding every one of `paths` (absolute, normalised).
fn common_ancestor(paths: &[PathBuf]) -> Option<PathBuf> {
    let mut common = paths.first()?.clone();
    for path in &paths[1..] {
        while !path.starts_with(&common) {
            if !common.pop() {
                return None;
            }
        }
    }
    Some(common)
}

/// `path` relative to `base` (both absolute, normalised), with `..` where it
/// is outside it.
fn relative(path: &Path, base: &Path) -> PathBuf {
    let path: Vec<_> = path.components().collect();
    let base: Vec<_> = base.components().collect();
    let shared = path.iter().zip(&base).take_while(|(a, b)| a == b).count();
    let mut out = PathBuf::new();
    for _ in shared..base.len() {
        out.push("..");
    }
    for component in &path[shared..] {
        out.push(component);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_paths_and_ancestors() {
        let p = |s: &str| PathBuf::from(s);
        assert_eq!(relative(&p("/a/b/c"), &p("/a")), p("b/c"));
        assert_eq!(relative(&p("/a"), &p("/a/b/c")), p("../.."));
        assert_eq!(relative(&p("/a/x"), &p("/a/y")), p("../x"));
        assert_eq!(relative(&p("/a"), &p("/a")), p(""));
        assert_eq!(
            common_ancestor(&[p("/w/app"), p("/w/app/src"), p("/w/libs/x")]),
            Some(p("/w"))
        );
        assert_eq!(common_ancestor(&[p("/w"), p("/v")]), Some(p("/")));
    }
}
