//! What becomes of a build's result: checked against `--expect` (with the
//! stale-hash guard, and on a mismatch the files that differ from the last build
//! that matched), recorded, and delivered to `--out`.
//!
//! The hash printed is the index's: the tree it names passed the store's check
//! against that index before it was copied, and `--out` is checked against it
//! after, so what lands in `--out` is what was hashed.

use std::process::ExitCode;

use anyhow::Context;
use pyfod_cli::EXIT_HASH_MISMATCH;
use pyfod_digest::Sha256;
use pyfod_store::{Store, Thoroughness};

use crate::build::BuildCommand;
use crate::chain::Result as Built;
use crate::settings::BuildSettings;

pub fn deliver(
    command: &BuildCommand,
    store: &Store,
    settings: &BuildSettings,
    built: &Built,
) -> anyhow::Result<ExitCode> {
    let out = command
        .out
        .as_ref()
        .context("--out is required unless --to stops before the result")?;
    let nar_sha256 = built.index.nar_sha256();
    for residual in &built.manifest.residuals {
        eprintln!(
            "warning: {} still refers to {}",
            residual.path, residual.store_path
        );
    }
    if settings.scrub.strict && !built.manifest.residuals.is_empty() {
        eprintln!(
            "error: {} reference(s) left after scrubbing (--strict, or [scrub] strict); an FOD may hold none: see the warnings above for where each is",
            built.manifest.residuals.len()
        );
        return Ok(ExitCode::from(EXIT_HASH_MISMATCH));
    }
    let inputs = settings.inputs(&built.local);
    let history = store.history();
    let project = pyfod_store::key::digest(&std::path::absolute(&settings.lock)?);
    if let Some(expected) = command.expect {
        if let Some(before) = history.inputs_of(&expected) {
            let changed = pyfod_store::history::changed(&before, &inputs);
            if !changed.is_empty() {
                eprintln!(
                    "warning: {} was last produced from other inputs ({} changed since); a Nix FOD that still declares it would be served from the Nix store unchanged: update its outputHash if the result should change",
                    expected.to_sri(),
                    changed.join(", ")
                );
            }
        }
        if expected != nar_sha256 {
            report_mismatch(out, &expected, built, &history, &project);
            pyfod_cli::print_stdout(&format!("{}\n", nar_sha256.to_sri()));
            return Ok(ExitCode::from(EXIT_HASH_MISMATCH));
        }
        let mut matched = built.index.0.clone();
        matched.inputs = inputs.clone();
        history
            .record_match(&project, &matched)
            .context("cannot record the matching build")?;
    }
    history
        .record_inputs(&nar_sha256, &inputs)
        .context("cannot record the build's inputs")?;
    copy_out(built, out, &history)?;
    pyfod_cli::print_stdout(&format!("{}\n", nar_sha256.to_sri()));
    Ok(ExitCode::SUCCESS)
}

/// Nix's report, and the files that differ from the last build that matched.
fn report_mismatch(
    out: &std::path::Path,
    expected: &Sha256,
    built: &Built,
    history: &pyfod_store::history::History,
    project: &Sha256,
) {
    eprint!(
        "{}",
        pyfod_hash::command::mismatch_report(out, expected, &built.index.nar_sha256())
    );
    if let Some(matched) = history.last_match(project) {
        eprintln!(
            "files that differ from the last build of this project that matched ({}):",
            matched.nar_sha256.to_sri()
        );
        eprint!(
            "{}",
            pyfod_hash::diff::render(&pyfod_hash::diff::diff(&matched, &built.index.0))
        );
    }
}

/// The result into `--out`: nothing to do when it holds the same tree already;
/// only what changed when it holds the tree last delivered there (checked
/// against that tree's index); else copied whole. Always beside it and renamed
/// into place, then checked.
fn copy_out(
    built: &Built,
    out: &std::path::Path,
    history: &pyfod_store::history::History,
) -> anyhow::Result<()> {
    let is_venv = out.join("pyvenv.cfg").is_file();
    if is_venv && built.index.check(out, Thoroughness::Quick).is_ok() {
        return Ok(());
    }
    let previous = history
        .delivered(out)
        .map(pyfod_store::TreeIndex)
        .filter(|old| is_venv && old.check(out, Thoroughness::Quick).is_ok());
    match previous {
        Some(old) => {
            pyfod_store::update_tree(&built.tree, out, &old, &built.index)
                .with_context(|| format!("cannot update the result in {}", out.display()))?;
        }
        None => pyfod_store::replace_tree(&built.tree, out)
            .with_context(|| format!("cannot write the result to {}", out.display()))?,
    }
    built
        .index
        .check(out, Thoroughness::Quick)
        .map_err(|damage| anyhow::anyhow!("{damage}"))
        .with_context(|| {
            format!(
                "{} does not hold what was hashed after the copy; is something else writing there?",
                out.display()
            )
        })?;
    history
        .record_delivery(out, &built.index.0)
        .context("cannot record what was delivered")
}
