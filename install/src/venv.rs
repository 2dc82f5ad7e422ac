//! The venv's own files: the layout uv makes, in pyfod's words where words are
//! needed (the activation script), and nothing that varies between runs.

use std::fs;
use std::os::unix::fs::{PermissionsExt, symlink};
use std::path::Path;

use crate::Interpreter;
use crate::{Compat, InstallError, Layout};

/// `lib/python3.Y/site-packages`, relative to the venv.
pub fn site_packages(interpreter: &Interpreter) -> String {
    format!("lib/{}/site-packages", interpreter.versioned_name())
}

/// Writes the skeleton of a venv at `root` (which must exist and be empty) that
/// will live at `prefix`.
pub fn create(root: &Path, layout: &Layout, interpreter: &Interpreter) -> Result<(), InstallError> {
    let (prefix, prompt) = (layout.prefix.as_path(), layout.prompt.as_deref());
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| InstallError::Io {
            action: "write",
            path,
            source,
        }
    };
    let site = root.join(site_packages(interpreter));
    fs::create_dir_all(&site).map_err(io(&site))?;
    let bin = root.join("bin");
    fs::create_dir_all(&bin).map_err(io(&bin))?;
    symlink("lib", root.join("lib64")).map_err(io(&root.join("lib64")))?;
    symlink(&interpreter.executable, bin.join("python")).map_err(io(&bin))?;
    symlink("python", bin.join("python3")).map_err(io(&bin))?;
    symlink("python", bin.join(interpreter.versioned_name())).map_err(io(&bin))?;

    let uv_line = match &layout.compat {
        Some(Compat::Uv(version)) => format!("uv = {version}\n"),
        None => String::new(),
    };
    let mut cfg = format!(
        "home = {}\nimplementation = CPython\n{uv_line}version_info = {}\ninclude-system-site-packages = false\n",
        interpreter.home().display(),
        interpreter.version
    );
    if let Some(prompt) = prompt {
        cfg.push_str(&format!("prompt = {prompt}\n"));
    }
    write(&root.join("pyvenv.cfg"), cfg.as_bytes(), 0o644)?;
    write(&root.join(".gitignore"), b"*", 0o644)?;
    if layout.compat.is_some() {
        // uv's lock file for concurrent syncs; empty.
        write(&root.join(".lock"), b"", 0o644)?;
    }
    write(
        &root.join("CACHEDIR.TAG"),
        b"Signature: 8a477f597d28d172789f06886806bc55",
        0o644,
    )?;
    let name = prompt.map_or_else(
        || {
            prefix
                .file_name()
                .map_or_else(|| "venv".to_owned(), |n| n.to_string_lossy().into_owned())
        },
        str::to_owned,
    );
    write(
        &bin.join("activate"),
        activate_sh(prefix, &name).as_bytes(),
        0o644,
    )
}

pub(crate) fn write(path: &Path, bytes: &[u8], mode: u32) -> Result<(), InstallError> {
    fs::write(path, bytes)
        .and_then(|()| fs::set_permissions(path, fs::Permissions::from_mode(mode)))
        .map_err(|source| InstallError::Io {
            action: "write",
            path: path.to_path_buf(),
            source,
        })
}

/// `source bin/activate` for sh, bash and zsh: puts the venv first on PATH, sets
/// VIRTUAL_ENV and the prompt, and gives `deactivate` to undo all of it.
fn activate_sh(prefix: &Path, name: &str) -> String {
    let venv = shell_quote(&prefix.display().to_string());
    let name = shell_quote(&format!("({name}) "));
    format!(
        r#"# Source this file from sh, bash or zsh: . bin/activate
# Written by pyfod. `deactivate` undoes what it does.

deactivate () {{
    if [ -n "${{_PYFOD_OLD_PATH+set}}" ]; then
        PATH="$_PYFOD_OLD_PATH"
        export PATH
        unset _PYFOD_OLD_PATH
    fi
    if [ -n "${{_PYFOD_OLD_PS1+set}}" ]; then
        PS1="$_PYFOD_OLD_PS1"
        export PS1
        unset _PYFOD_OLD_PS1
    fi
    if [ -n "${{_PYFOD_OLD_PYTHONHOME+set}}" ]; then
        PYTHONHOME="$_PYFOD_OLD_PYTHONHOME"
        export PYTHONHOME
        unset _PYFOD_OLD_PYTHONHOME
    fi
    unset VIRTUAL_ENV VIRTUAL_ENV_PROMPT
    hash -r 2>/dev/null
    if [ "${{1:-}}" != "keep" ]; then
        unset -f deactivate
    fi
}}

# Leave any venv active before this one.
deactivate keep

VIRTUAL_ENV={venv}
export VIRTUAL_ENV
VIRTUAL_ENV_PROMPT={name}
export VIRTUAL_ENV_PROMPT

_PYFOD_OLD_PATH="$PATH"
PATH="$VIRTUAL_ENV/bin:$PATH"
export PATH

if [ -n "${{PYTHONHOME+set}}" ]; then
    _PYFOD_OLD_PYTHONHOME="$PYTHONHOME"
    unset PYTHONHOME
fi

if [ -z "${{VIRTUAL_ENV_DISABLE_PROMPT:-}}" ]; then
    _PYFOD_OLD_PS1="${{PS1:-}}"
    PS1="$VIRTUAL_ENV_PROMPT${{PS1:-}}"
    export PS1
fi

hash -r 2>/dev/null
"#
    )
}

/// `'…'` for the shell, with `'` written as `'\''`.
pub(crate) fn shell_quote(text: &str) -> String {
    format!("'{}'", text.replace('\'', r"'\''"))
}
