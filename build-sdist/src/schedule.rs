//! Building every source of a fetch manifest: up to `jobs` builds at once
//! ([`crate::package_build`] does each), the largest source first, and a
//! package whose build needs another package of the lock tried again as soon
//! as any build finishes, rather than after a whole wave.
//!
//! Why the largest first: a cold build is as long as its longest chain, and the
//! longest build is nearly always the largest source (lxml's is 4 MB and takes
//! a minute; xmlsec, which needs it, a few seconds). Started first, it runs
//! beside the smaller ones instead of after them: on the e2e project, 93 s
//! became what `cargo xtask bench e2e` reports.

use std::collections::BTreeMap;
use std::fs;
use std::sync::{Condvar, Mutex};
use std::time::{Duration, Instant};

use pyfod_manifest::{
    Artifact, FetchManifest, FetchedPackage, WheelEntry, WheelOrigin, WheelsManifest,
};
use pyfod_store::Store;

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
    let shared = Shared::new(fetch, envs, settings, store)?;
    let sources = fetch
        .packages
        .iter()
        .any(|p| !matches!(p.artifact, Artifact::Wheel(_)));
    if sources
        && let Some(workspace) =
            crate::toolchain::enclosing_cargo_workspace(&store.root().join("tmp"))
    {
        tracing::warn!(
            "the store {} is inside the cargo workspace of {}: a Rust source built there \
             without a [workspace] of its own fails, taken for a member; use a store outside it (--store)",
            store.root().display(),
            workspace.display()
        );
    }
    // `--jobs` for the builds and the compilers inside them together.
    let area = store.temp_entry()?;
    fs::create_dir(area.path()).map_err(|e| BuildError::io("create", area.path(), e))?;
    let jobserver = pyfod_process::Jobserver::new(area.path(), settings.jobs)
        .map_err(|e| BuildError::io("make the jobserver in", area.path(), e))?;
    let (mut wheels, pending) = downloaded(fetch);
    let reports = schedule(pending, &mut wheels, &jobserver, |package, wheels, lead| {
        let niceness = if lead { 0 } else { BESIDE_THE_LEAD };
        shared
            .context(package, niceness, Some(&jobserver))
            .build(package, wheels)
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

/// What every build of one fetch manifest shares: the environments each
/// build may use, by what they hold, and the lock's packages.
pub(crate) struct Shared<'a> {
    store: &'a Store,
    settings: &'a Settings,
    envs: &'a BuildEnvs,
    bare: Available,
    available: BTreeMap<pyfod_digest::Sha256, Available>,
    locked: BTreeMap<String, &'a FetchedPackage>,
    progress: crate::progress::Progress,
}

impl<'a> Shared<'a> {
    pub(crate) fn new(
        fetch: &'a FetchManifest,
        envs: &'a BuildEnvs,
        settings: &'a Settings,
        store: &'a Store,
    ) -> Result<Shared<'a>, BuildError> {
        let mut available = BTreeMap::new();
        for env in envs.all() {
            available.insert(
                env.digest,
                Available::new(env.packages.clone(), &fetch.target.markers)?,
            );
        }
        Ok(Shared {
            store,
            settings,
            envs,
            bare: Available::new(Vec::new(), &fetch.target.markers)?,
            available,
            locked: fetch
                .packages
                .iter()
                .map(|p| (pyfod_python::normalise_name(&p.name), p))
                .collect(),
            progress: crate::progress::Progress::new(settings.quiet),
        })
    }

    /// One package's build context: its environment, its priority, the jobserver.
    pub(crate) fn context<'c>(
        &'c self,
        package: &FetchedPackage,
        niceness: i32,
        jobserver: Option<&'c pyfod_process::Jobserver>,
    ) -> Context<'c> {
        let build_env = self.envs.for_package(&package.name);
        Context {
            store: self.store,
            settings: self.settings,
            python: build_env.map_or_else(
                || self.settings.interpreter.executable.clone(),
                BuildEnv::python,
            ),
            build_env,
            available: build_env.map_or(&self.bare, |e| &self.available[&e.digest]),
            locked: &self.locked,
            progress: &self.progress,
            niceness,
            jobserver,
        }
    }
}

/// The downloaded wheels, by normalised name, and the sources still to build.
pub(crate) fn downloaded(
    fetch: &FetchManifest,
) -> (BTreeMap<String, WheelEntry>, Vec<&FetchedPackage>) {
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

/// Where one source's time went, for the critical-path report (`-v`).
#[derive(Debug, Clone, Default)]
pub struct Timing {
    pub name: String,
    pub cached: bool,
    /// Seconds from the start of the builds to the start of its last attempt.
    pub start: f64,
    pub wall: f64,
    /// CPU seconds of the backend and everything it ran, every attempt.
    pub cpu: f64,
    /// Seconds it was ready but every worker was busy.
    pub queued: f64,
    /// Seconds it waited for a package of the lock to be built.
    pub waited: f64,
}

/// How much nicer the builds beside the lead run: the lead (the largest source
/// running) gets the cores it can use, the others the rest. lxml's `etree.c`
/// then compiles at full speed while the smaller builds fill the other core,
/// instead of all of them slowing down alike and xmlsec, which needs lxml,
/// starting late. A priority changes when a build ends, never what it makes.
const BESIDE_THE_LEAD: i32 = 10;

/// The build function the scheduler calls: a source, the wheels built so far,
/// and whether it leads (no larger source is being built beside it).
type BuildFn<'f> = dyn Fn(&FetchedPackage, &BTreeMap<String, WheelEntry>, bool) -> Result<Outcome, BuildError>
    + Sync
    + 'f;

/// What the workers share.
struct Queue<'a> {
    /// Ready to try, the one to take next last.
    ready: Vec<&'a FetchedPackage>,
    /// When each became ready, or began to wait; and its timing so far.
    since: BTreeMap<String, Instant>,
    timings: BTreeMap<String, Timing>,
    /// Waiting for a package of the lock that is not built yet.
    waiting: Vec<&'a FetchedPackage>,
    running: usize,
    /// The priorities of the sources being built now.
    building: Vec<(u64, std::cmp::Reverse<String>)>,
    wheels: BTreeMap<String, WheelEntry>,
    reports: Vec<Report>,
    failed: Option<BuildError>,
}

/// The order sources are taken in: the largest last in `ready`, so popped first.
fn priority(package: &FetchedPackage) -> (u64, std::cmp::Reverse<String>) {
    let size = match &package.artifact {
        Artifact::Sdist(file) | Artifact::Wheel(file) => file.size,
        Artifact::Tree { .. } => 0,
    };
    (size, std::cmp::Reverse(package.name.clone()))
}

/// Builds `pending` with up to `jobs` at once, each started on a token of
/// `jobserver` (whose other tokens its compilers share). A build that waits for
/// another package goes back to the queue whenever a build finishes; when
/// nothing runs and nothing can start, what waits is a cycle.
fn schedule(
    mut pending: Vec<&FetchedPackage>,
    wheels: &mut BTreeMap<String, WheelEntry>,
    jobserver: &pyfod_process::Jobserver,
    build: impl Fn(&FetchedPackage, &BTreeMap<String, WheelEntry>, bool) -> Result<Outcome, BuildError>
    + Sync,
) -> Result<Vec<Report>, BuildError> {
    pending.sort_by_key(|p| priority(p));
    let begun = Instant::now();
    let queue = Mutex::new(Queue {
        since: pending.iter().map(|p| (p.name.clone(), begun)).collect(),
        timings: BTreeMap::new(),
        building: Vec::new(),
        ready: pending,
        waiting: Vec::new(),
        running: 0,
        wheels: std::mem::take(wheels),
        reports: Vec::new(),
        failed: None,
    });
    let changed = Condvar::new();
    let jobs = jobserver.jobs();
    let workers = jobs
        .clamp(1, pyfod_cli::MAX_JOBS)
        .min(queue.lock().expect("fresh").ready.len().max(1));
    std::thread::scope(|scope| {
        for _ in 0..workers {
            scope.spawn(|| worker(&queue, &changed, &build, jobserver, begun));
        }
    });
    let queue = queue.into_inner().expect("a worker panicked");
    report_critical_path(&queue.timings, begun.elapsed(), jobs);
    *wheels = queue.wheels;
    if let Some(error) = queue.failed {
        return Err(error);
    }
    if !queue.waiting.is_empty() {
        return Err(BuildError::Cycle {
            packages: queue.waiting.iter().map(|p| p.name.clone()).collect(),
        });
    }
    Ok(queue.reports)
}

fn worker<'a>(
    queue: &Mutex<Queue<'a>>,
    changed: &Condvar,
    build: &BuildFn<'_>,
    jobserver: &pyfod_process::Jobserver,
    begun: Instant,
) {
    let mut state = queue.lock().expect("no worker panics holding it");
    loop {
        if state.failed.is_some() {
            return;
        }
        let Some(package) = state.ready.pop() else {
            if state.running == 0 {
                // Nothing runs, nothing is ready: done, or a cycle the caller names.
                changed.notify_all();
                return;
            }
            state = changed.wait(state).expect("no worker panics holding it");
            continue;
        };
        state.running += 1;
        let rank = priority(package);
        let lead = state.building.iter().all(|other| *other < rank);
        state.building.push(rank.clone());
        let wheels = state.wheels.clone();
        let taken = Instant::now();
        let ready_since = state.since.get(&package.name).copied().unwrap_or(taken);
        let timing = state.timings.entry(package.name.clone()).or_default();
        timing.name = package.name.clone();
        timing.queued += (taken - ready_since).as_secs_f64();
        drop(state);
        // The build's own token. When no other build runs, no token can be
        // held but by one that leaked: run without rather than wait forever.
        let token = jobserver
            .acquire(|| queue.lock().map_or(true, |q| q.running <= 1))
            .ok()
            .flatten();
        let cpu_before = pyfod_process::children_cpu();
        let outcome = build(package, &wheels, lead);
        drop(token);
        let cpu = pyfod_process::children_cpu().saturating_sub(cpu_before);
        let ended = Instant::now();
        state = queue.lock().expect("no worker panics holding it");
        state.running -= 1;
        if let Some(at) = state.building.iter().position(|other| *other == rank) {
            state.building.swap_remove(at);
        }
        let timing = state.timings.get_mut(&package.name).expect("made above");
        timing.cpu += cpu.as_secs_f64();
        timing.start = (taken - begun).as_secs_f64();
        timing.wall = (ended - taken).as_secs_f64();
        match outcome {
            Ok(Outcome::Done(entry, report)) => {
                timing.cached = report.cached;
                state
                    .wheels
                    .insert(pyfod_python::normalise_name(&package.name), *entry);
                state.reports.push(report);
                // What waited may build now.
                let mut woken = std::mem::take(&mut state.waiting);
                for package in &woken {
                    let waiting_since = state.since.insert(package.name.clone(), ended);
                    let waited = ended - waiting_since.unwrap_or(ended);
                    if let Some(timing) = state.timings.get_mut(&package.name) {
                        timing.waited += waited.as_secs_f64();
                    }
                }
                state.ready.append(&mut woken);
                state.ready.sort_by_key(|p| priority(p));
            }
            Ok(Outcome::Waiting) => {
                state.since.insert(package.name.clone(), ended);
                state.waiting.push(package);
            }
            Err(error) => {
                state.failed.get_or_insert(error);
            }
        }
        changed.notify_all();
    }
}

/// The critical-path report, at `-v`: each source's start, wall and CPU time
/// and what it waited for, then the floor the builds' own CPU times set:
/// their total over the cores the builds may use (`--jobs`, at most the
/// machine's).
fn report_critical_path(timings: &BTreeMap<String, Timing>, took: Duration, jobs: usize) {
    let built: Vec<&Timing> = timings.values().filter(|t| !t.cached).collect();
    if built.is_empty() {
        return;
    }
    let cores = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(jobs)
        .max(1);
    let mut rows: Vec<&Timing> = timings.values().collect();
    rows.sort_by(|a, b| a.start.total_cmp(&b.start));
    tracing::info!("critical path of the builds (seconds from their start):");
    for t in rows {
        tracing::info!(
            "  {:<24} {} at {:>6.1}  wall {:>6.1}  cpu {:>6.1}  queued {:>5.1}  waited for the lock {:>5.1}",
            t.name,
            if t.cached { "cached" } else { "built " },
            t.start,
            t.wall,
            t.cpu,
            t.queued,
            t.waited
        );
    }
    let cpu: f64 = built.iter().map(|t| t.cpu).sum();
    let floor = cpu / cores as f64;
    let took = took.as_secs_f64();
    tracing::info!(
        "builds: {took:.1} s wall, {cpu:.1} s CPU on {cores} cores: floor {floor:.1} s, {:.2}x the floor",
        took / floor.max(0.001)
    );
}
