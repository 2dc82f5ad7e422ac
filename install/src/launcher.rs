//! Console and GUI scripts: the entry points of `entry_points.txt` as launchers,
//! and the `#!python` shebangs of `.data/scripts`, both naming the venv's python
//! where the venv will live.

use std::path::Path;

/// The first line of a script run by the venv's python: `#!<prefix>/bin/python`,
/// or, when that is too long for the kernel (over 127 bytes) or has a space, a
/// `/bin/sh` line that execs it, as uv and pip write it.
pub fn shebang(prefix: &Path) -> String {
    let python = prefix.join("bin/python").display().to_string();
    if python.len() + 2 > 127 || python.contains(' ') {
        format!(
            "#!/bin/sh\n'''exec' {} \"$0\" \"$@\"\n' '''",
            crate::venv::shell_quote(&python)
        )
    } else {
        format!("#!{python}")
    }
}

/// An entry point: `name = module:attribute.path [extras]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EntryPoint {
    pub name: String,
    pub module: String,
    pub attribute: String,
}

/// Whether `name` may be a file of the venv's `bin/`: one plain component, and not
/// a name the venv owns (`python`, `python3`, `python3.Y`, `activate…`).
pub fn check_script_name(name: &str) -> Result<(), &'static str> {
    if name.is_empty() || name == "." || name == ".." || name.contains(['/', '\0']) {
        return Err("it is not a plain file name");
    }
    let versioned_python = name
        .strip_prefix("python3.")
        .is_some_and(|minor| !minor.is_empty() && minor.bytes().all(|b| b.is_ascii_digit()));
    let owned = matches!(name, "python" | "python3" | "pydoc.bat")
        || versioned_python
        || name.starts_with("activate")
        || name.starts_with("deactivate");
    if owned {
        return Err("the venv's own file has that name");
    }
    Ok(())
}

/// A dotted Python name: `pkg.module`, `Class.method`.
fn is_dotted_identifier(text: &str) -> bool {
    !text.is_empty()
        && text.split('.').all(|part| {
            let mut chars = part.chars();
            chars.next().is_some_and(|c| c == '_' || c.is_alphabetic())
                && chars.all(|c| c == '_' || c.is_alphanumeric())
        })
}

/// The `[console_scripts]` and `[gui_scripts]` entries of `entry_points.txt`;
/// an entry that cannot be a launcher (its name is a path, or the venv's own, or
/// its object is not a Python name) is `Err((name, why))`.
pub fn scripts(entry_points: &str) -> Vec<Result<EntryPoint, (String, String)>> {
    let mut out = Vec::new();
    let mut in_scripts = false;
    for line in entry_points.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
            continue;
        }
        if line.starts_with('[') {
            in_scripts = matches!(line, "[console_scripts]" | "[gui_scripts]");
            continue;
        }
        if !in_scripts {
            continue;
        }
        let Some((name, value)) = line.split_once('=') else {
            continue;
        };
        let value = value.split('[').next().unwrap_or(value).trim();
        let name = name.trim().to_owned();
        let Some((module, attribute)) = value.split_once(':') else {
            continue;
        };
        let (module, attribute) = (module.trim(), attribute.trim());
        if let Err(why) = check_script_name(&name) {
            out.push(Err((name, why.to_owned())));
        } else if !is_dotted_identifier(module) || !is_dotted_identifier(attribute) {
            out.push(Err((name, format!("`{value}` is not module:object"))));
        } else {
            out.push(Ok(EntryPoint {
                name,
                module: module.to_owned(),
                attribute: attribute.to_owned(),
            }));
        }
    }
    out
}

/// The launcher uv writes for an entry point, with `shebang` first.
pub fn launcher(shebang: &str, entry: &EntryPoint) -> String {
    let import = entry
        .attribute
        .split('.')
        .next()
        .unwrap_or(&entry.attribute);
    format!(
        "{shebang}\n# -*- coding: utf-8 -*-\nimport sys\nfrom {module} import {import}\nif __name__ == \"__main__\":\n    if sys.argv[0].endswith(\"-script.pyw\"):\n        sys.argv[0] = sys.argv[0][:-11]\n    elif sys.argv[0].endswith(\".exe\"):\n        sys.argv[0] = sys.argv[0][:-4]\n    sys.exit({attribute}())\n",
        module = entry.module,
        attribute = entry.attribute,
    )
}

/// A `.data/scripts` file with its `#!python` (or `#!pythonw`) line replaced.
pub fn rewrite_script(shebang: &str, contents: &[u8]) -> Option<Vec<u8>> {
    let end = contents
        .iter()
        .position(|&b| b == b'\n')
        .unwrap_or(contents.len());
    let first = contents[..end]
        .strip_suffix(b"\r")
        .unwrap_or(&contents[..end]);
    if first != b"#!python" && first != b"#!pythonw" {
        return None;
    }
    let mut out = shebang.as_bytes().to_vec();
    out.extend_from_slice(&contents[end..]);
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_scripts_and_skips_other_groups() {
        let text = "[console_scripts]\nhello = hello:main\ntool = pkg.cli:app.run [extra]\n\n[pytest11]\nplug = p.plugin\n[gui_scripts]\nwin = pkg.gui:start\n";
        let entries: Vec<EntryPoint> = scripts(text).into_iter().map(Result::unwrap).collect();
        assert_eq!(entries.len(), 3);
        assert_eq!(entries[1].attribute, "app.run");
        let text = launcher("#!/v/bin/python", &entries[1]);
        assert!(text.contains("from pkg.cli import app\n"));
        assert!(text.ends_with("    sys.exit(app.run())\n"));
    }

    #[test]
    fn entry_points_that_cannot_be_launchers_are_refused() {
        let text = "[console_scripts]\n../../tmp/x = m:f\npython = m:f\npython3.12 = m:f\nactivate.fish = m:f\nok = m:f\nbad = os; import shutil:f\npython3.x = m:f\n";
        let results = scripts(text);
        let refused: Vec<&str> = results
            .iter()
            .filter_map(|r| r.as_ref().err().map(|(n, _)| n.as_str()))
            .collect();
        assert_eq!(
            refused,
            [
                "../../tmp/x",
                "python",
                "python3.12",
                "activate.fish",
                "bad"
            ]
        );
        assert_eq!(results.iter().filter(|r| r.is_ok()).count(), 2);
    }

    #[test]
    fn long_or_spaced_prefixes_get_a_trampoline() {
        assert_eq!(shebang(Path::new("/opt/venv")), "#!/opt/venv/bin/python");
        let spaced = shebang(Path::new("/opt/my venv"));
        assert!(spaced.starts_with("#!/bin/sh\n'''exec' '/opt/my venv/bin/python'"));
        let long = format!("/{}", "x".repeat(130));
        assert!(shebang(Path::new(&long)).starts_with("#!/bin/sh\n"));
    }

    #[test]
    fn only_python_shebangs_are_rewritten() {
        assert_eq!(
            rewrite_script("#!/v/bin/python", b"#!python\nprint(1)\n").unwrap(),
            b"#!/v/bin/python\nprint(1)\n"
        );
        assert!(rewrite_script("#!/v/bin/python", b"#!/bin/sh\necho\n").is_none());
    }
}
