//! `cargo xtask bench [SUITE…]`: pyfod against the tool it replaces, measured side
//! by side in one run (alternating, so both see the same machine state), reported
//! as medians and ratios. Benchmarks are never tests: timings belong here.

mod hash;

use std::time::Duration;

const SUITES: &[&str] = &["hash"];

pub fn run(suites: &[&str]) -> anyhow::Result<()> {
    let suites: Vec<&str> = if suites.is_empty() {
        SUITES.to_vec()
    } else {
        suites.to_vec()
    };
    for suite in &suites {
        match *suite {
            "hash" => hash::run()?,
            other => anyhow::bail!(
                "unknown benchmark `{other}`; the benchmarks are: {}",
                SUITES.join(", ")
            ),
        }
    }
    Ok(())
}

pub(crate) fn seconds(d: Duration) -> String {
    format!("{:.3} s", d.as_secs_f64())
}

pub(crate) fn mib(bytes: u64) -> String {
    format!("{:.1} MiB", bytes as f64 / (1024.0 * 1024.0))
}
