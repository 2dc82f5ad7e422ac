//! The build-sdist stage in the store: every source of a fetch manifest built,
//! the wheels manifest kept under its key.

use pyfod_digest::Sha256;
use pyfod_manifest::{FetchManifest, Manifest, WheelOrigin, WheelsManifest};
use pyfod_store::{Needs, Produced, Store, Work};
use serde::Serialize;

use crate::{BuildEnvs, BuildError, Settings};

/// What the stage builds from: a fetch manifest and the build environments its
/// sources build in.
#[derive(Debug, Clone)]
pub struct SourcesInput {
    pub bytes: Vec<u8>,
    pub fetch: FetchManifest,
    pub envs: BuildEnvs,
}

impl SourcesInput {
    pub fn new(bytes: Vec<u8>, envs: BuildEnvs) -> Result<SourcesInput, BuildError> {
        let (_, fetch) = FetchManifest::decode(&bytes).map_err(BuildError::FetchManifest)?;
        Ok(SourcesInput { bytes, fetch, envs })
    }
}

/// What of the input goes into the key: the target and the packages of the
/// fetch manifest (not the lock's digest, nor how they were selected), and each
/// build environment by its install manifest's digest.
#[derive(Serialize)]
struct InputKey<'a> {
    target: &'a pyfod_manifest::Target,
    packages: &'a [pyfod_manifest::FetchedPackage],
    default_env: Option<Sha256>,
    package_envs: Vec<(String, Sha256)>,
}

/// The build-sdist stage, for [`pyfod_store::Store::run_stage`].
#[derive(Debug)]
pub struct BuildSdist;

impl pyfod_store::Stage for BuildSdist {
    const STAGE: pyfod_manifest::Stage = pyfod_manifest::Stage::BuildSdist;
    const FORMAT_VERSION: u32 = crate::FORMAT_VERSION;
    type Input = SourcesInput;
    type Settings = Settings;
    type Output = WheelsManifest;
    type Error = BuildError;

    fn input_digest(input: &SourcesInput) -> Sha256 {
        pyfod_store::key::digest(&InputKey {
            target: &input.fetch.target,
            packages: &input.fetch.packages,
            default_env: input.envs.default.as_ref().map(|e| e.digest),
            package_envs: input
                .envs
                .packages
                .iter()
                .map(|(name, env)| (name.clone(), env.digest))
                .collect(),
        })
    }

    fn reuse(settings: &Settings) -> bool {
        !settings.check
    }

    fn run(
        input: &SourcesInput,
        settings: &Settings,
        work: &Work<'_>,
    ) -> Result<Produced, BuildError> {
        let (manifest, _) = crate::schedule::run(&input.fetch, &input.envs, settings, work.store)?;
        let mut needs = Needs::default();
        for entry in &manifest.wheels {
            needs.blobs.push((entry.wheel.sha256, entry.wheel.size));
            if let WheelOrigin::Built { log: Some(log), .. } = &entry.origin
                && let Some(size) = work.store.intact_blob(log)
            {
                needs.blobs.push((*log, size));
            }
        }
        Ok(Produced::manifest(work.encode(&manifest), needs))
    }
}

/// The stage's entry for a library user: every source of `input` built, through
/// the store's cache.
pub fn run(
    input: &SourcesInput,
    settings: &Settings,
    store: &Store,
) -> Result<pyfod_store::StageOutput<WheelsManifest>, BuildError> {
    store.run_stage::<BuildSdist>(input, settings)
}
