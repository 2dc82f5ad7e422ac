//! A builder of one's own, from pyfod's libraries and their plain-data settings
//! alone (no command line of theirs): the wheels of a lock, leaving out the
//! packages named on the command line, installed at a prefix, scrubbed by
//! pyfod's rules and then by one of this builder's own (no `RECORD` files),
//! and hashed.
//!
//! ```text
//! glue LOCK STORE OUT PREFIX [LEAVE-OUT…]
//! ```

use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [lock, store, out, prefix, leave_out @ ..] = args.as_slice() else {
        bail!("usage: glue LOCK STORE OUT PREFIX [LEAVE-OUT…]");
    };
    let store = pyfod_store::Store::open(Path::new(store))?;
    let interpreter = pyfod_python::Interpreter::probe("python3")?;

    let mut fetch = pyfod_fetch::Settings::for_target(pyfod_fetch::Target::of(&interpreter)?);
    fetch.selection.no_install = leave_out.to_vec();
    let fetched = pyfod_fetch::run(Path::new(lock), &fetch, &store)?;

    let wheels = pyfod_install::WheelsInput::from_manifest(fetched.bytes, &store)?;
    let install = pyfod_install::Settings {
        layout: pyfod_install::Layout::at(PathBuf::from(prefix)),
        interpreter,
    };
    let installed = pyfod_install::stage::run(&wheels, &install, &store)?;

    let venv = pyfod_scrub::InstalledTree::from_manifest(installed.bytes, &store)?;
    let scrubbed = pyfod_scrub::run(&venv, &pyfod_scrub::Settings::default(), &store)?;
    let tree = scrubbed.tree.context("the scrub stage made no tree")?;
    pyfod_store::replace_tree(&tree, Path::new(out))?;

    // This builder's own rule, on its own copy: no RECORD files.
    let removed = remove_records(Path::new(out))?;
    let hash = pyfod_hash::run(Path::new(out), None)?;
    eprintln!("glue: {removed} RECORD files removed");
    println!("{}", hash.nar_sha256.to_sri());
    Ok(())
}

fn remove_records(dir: &Path) -> anyhow::Result<usize> {
    let mut removed = 0;
    for entry in fs::read_dir(dir)? {
        let path = entry?.path();
        if path.symlink_metadata()?.is_dir() {
            removed += remove_records(&path)?;
        } else if path.file_name().is_some_and(|n| n == "RECORD")
            && path
                .parent()
                .and_then(Path::file_name)
                .is_some_and(|d| d.to_string_lossy().ends_with(".dist-info"))
        {
            fs::remove_file(&path)?;
            removed += 1;
        }
    }
    Ok(removed)
}
