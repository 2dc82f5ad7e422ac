//! Building every source of a fetch manifest in waves: a package whose build
//! needs another package of the lock waits until that one is built; the builds of
//! a wave run in parallel ([`crate::package_build`] does each).

use std::collections::BTreeMap;
use std::path::Path;

use pyfod_manifest::{
    Artifact, FetchManifest, FetchedPackage, WheelEntry, WheelOrigin, WheelsManifest,
};
use pyfod_store::Store;
use rayon::prelude::*;

use crate::package_build::{Context, Outcome};
use crate::requirements::Available;
use crate::{BuildEnv, BuildEnvs, BuildError, Settings};

/// What happened to one source.
#[derive(Debug, Clone, PartialEq)]
pub struct Report {
    pub name: String,
    pub version: String,
    pub cached: bool,
    pub seconds: f64,
}

/// Builds every sdist and source tree `fetch` names; passes its wheels through.
pub fn run(
    fetch: &FetchManifest,
    envs: &BuildEnvs,
    settings: &Settings,
    store: &Store,
) -> Result<(WheelsManifest, Vec<Report>), BuildError> {
    let interpreter = &settings.interpreter;
    let bare = Available::new(Vec::new(), &fetch.target.markers)?;
    let progress = crate::progress::Progress::new(settings.quiet);
    let mut available = BTreeMap::new();
    for env in envs.all() {
        available.insert(
            env.digest,
            Available::new(env.packages.clone(), &fetch.target.markers)?,
        );
    }
    let locked: BTreeMap<String, &FetchedPackage> = fetch
        .packages
        .iter()
        .map(|p| (pyfod_python::normalise_name(&p.name), p))
        .collect();
    let context_for = |package: &FetchedPackage| {
        let build_env = envs.for_package(&package.name);
        Context {
            store,
            settings,
            python: build_env.map_or_else(|| interpreter.executable.clone(), BuildEnv::python),
            build_env,
            available: build_env.map_or(&bare, |e| &available[&e.digest]),
            locked: &locked,
            progress: &progress,
        }
    };
    let (mut wheels, pending) = downloaded(fetch);
    let reports = in_waves(pending, &mut wheels, settings.jobs, |package, wheels| {
        context_for(package).build(package, wheels)
    })?;
    let mut wheels: Vec<WheelEntry> = wheels.into_values().collect();
    wheels.sort_by(|a, b| (&a.name, &a.version).cmp(&(&b.name, &b.version)));
    Ok((
        WheelsManifest {
            target: fetch.target.clone(),
            wheels,
        },
        reports,
    ))
}

/// The downloaded wheels, by normalised name, and the sources still to build.
fn downloaded(fetch: &FetchManifest) -> (BTreeMap<String, WheelEntry>, Vec<&FetchedPackage>) {
    let mut wheels = BTreeMap::new();
    let mut pending = Vec::new();
    for package in &fetch.packages {
        match &package.artifact {
            Artifact::Wheel(file) => {
                wheels.insert(
                    pyfod_python::normalise_name(&package.name),
                    WheelEntry {
                        name: package.name.clone(),
                        version: package.version.clone().unwrap_or_default(),
                        source: package.source.clone(),
                        wheel: file.clone(),
                        origin: WheelOrigin::Downloaded,
                    },
                );
            }
            Artifact::Sdist(_) | Artifact::Tree { .. } => pending.push(package),
        }
    }
    (wheels, pending)
}

/// Builds `pending` in waves of up to `jobs` at once, each wave what the wheels
/// built so far let build; a wave that builds nothing is a cycle.
fn in_waves(
    mut pending: Vec<&FetchedPackage>,
    wheels: &mut BTreeMap<String, WheelEntry>,
    jobs: usize,
    build: impl Fn(&FetchedPackage, &BTreeMap<String, WheelEntry>) -> Result<Outcome, BuildError> + Sync,
) -> Result<Vec<Report>, BuildError> {
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(jobs.clamp(1, pyfod_cli::MAX_JOBS))
        .thread_name(|i| format!("build-{i}"))
        .build()
        .map_err(|e| {
            BuildError::io(
                "start",
                Path::new("build threads"),
                std::io::Error::other(e),
            )
        })?;
    let mut reports = Vec::new();
    while !pending.is_empty() {
        let outcomes: Vec<Result<Outcome, BuildError>> = pool.install(|| {
            pending
                .par_iter()
                .map(|package| build(package, wheels))
                .collect()
        });
        let mut waiting = Vec::new();
        let before = pending.len();
        for (package, outcome) in pending.iter().zip(outcomes) {
            match outcome? {
                Outcome::Done(entry, report) => {
                    wheels.insert(pyfod_python::normalise_name(&package.name), *entry);
                    reports.push(report);
                }
                Outcome::Waiting => waiting.push(*package),
            }
        }
        if waiting.len() == before {
            return Err(BuildError::Cycle {
                packages: waiting.iter().map(|p| p.name.clone()).collect(),
            });
        }
        pending = waiting;
    }
    Ok(reports)
}
