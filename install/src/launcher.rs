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

/// The `[console_scripts]` and `[gui_scripts]` entries of `entry_points.txt`.
pub fn scripts(entry_points: &str) -> Vec<EntryPoint> {
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
        let Some((module, attribute)) = value.split_once(':') else {
            continue;
        };
        out.push(EntryPoint {
            name: name.trim().to_owned(),
            module: module.trim().to_owned(),
            attribute: attribute.trim().to_owned(),
        });
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
        let entries = scripts(text);
        assert_eq!(entries.len(), 3);
        assert_eq!(entries[1].attribute, "app.run");
        let text = launcher("#!/v/bin/python", &entries[1]);
        assert!(text.contains("from pkg.cli import app\n"));
        assert!(text.ends_with("    sys.exit(app.run())\n"));
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
