//! The target: the marker environment and the tags artifacts are chosen for,
//! probed from an interpreter or given explicitly.

use pep508_rs::{MarkerEnvironment, MarkerEnvironmentBuilder};
use pyfod_digest::Sha256;
use serde::{Deserialize, Serialize};

use crate::FetchError;
use crate::tags::{Platform, Tags};

/// What the interpreter (or `--target`) says about itself.
#[derive(Debug, Clone)]
pub struct Target {
    pub markers: MarkerEnvironment,
    /// The same values, by name, sorted.
    pub marker_values: Vec<(String, String)>,
    pub python_full_version: String,
    pub minor: u8,
    pub tags: Tags,
    /// Identity of a probed interpreter.
    pub interpreter: Option<Sha256>,
}

/// The marker values.
#[derive(Debug, Clone)]
struct Probe {
    implementation_name: String,
    implementation_version: String,
    os_name: String,
    platform_machine: String,
    platform_python_implementation: String,
    platform_release: String,
    platform_system: String,
    platform_version: String,
    python_full_version: String,
    python_version: String,
    sys_platform: String,
}

impl Target {
    /// The target an interpreter is: its marker environment, and the tags of its
    /// version and platform.
    pub fn of(interpreter: &pyfod_python::Interpreter) -> Result<Target, FetchError> {
        let marker = |name: &str| interpreter.marker(name).unwrap_or_default().to_owned();
        if interpreter.gil_disabled {
            return Err(FetchError::TargetSpec {
                spec: interpreter.version.clone(),
                detail: "free-threaded CPython (3.Yt) is not supported yet".into(),
            });
        }
        let probe = Probe {
            implementation_name: marker("implementation_name"),
            implementation_version: marker("implementation_version"),
            os_name: marker("os_name"),
            platform_machine: marker("platform_machine"),
            platform_python_implementation: marker("platform_python_implementation"),
            platform_release: marker("platform_release"),
            platform_system: marker("platform_system"),
            platform_version: marker("platform_version"),
            python_full_version: marker("python_full_version"),
            python_version: marker("python_version"),
            sys_platform: marker("sys_platform"),
        };
        let arch = probe.platform_machine.clone();
        let platform = match interpreter.glibc.as_deref().and_then(parse_glibc) {
            Some(glibc) => Platform::Manylinux { glibc, arch },
            None => Platform::Linux { arch },
        };
        let identity = pyfod_digest::Sha256::of(
            serde_json::to_string(&interpreter.markers)
                .expect("strings serialise")
                .as_bytes(),
        );
        Self::from_probe(probe, &platform, Some(identity))
    }

    /// `python=3.11.7,platform=manylinux_2_28_x86_64`, for a machine pyfod is not
    /// running on. A `3.Y` version stands for `3.Y.0`.
    pub fn explicit(spec: &str) -> Result<Target, FetchError> {
        let bad = |detail: String| FetchError::TargetSpec {
            spec: spec.to_owned(),
            detail,
        };
        let mut python = None;
        let mut platform = None;
        for part in spec.split(',') {
            match part.split_once('=') {
                Some(("python", value)) => python = Some(value.trim().to_owned()),
                Some(("platform", value)) => {
                    platform = Some(Platform::parse(value.trim()).ok_or_else(|| {
                        bad(format!(
                            "platform `{value}` is not manylinux_2_N_<arch> or linux_<arch>"
                        ))
                    })?);
                }
                _ => return Err(bad(format!("`{part}` is not python=… or platform=…"))),
            }
        }
        let python = python.ok_or_else(|| bad("python=3.Y[.Z] is missing".into()))?;
        let platform = platform.ok_or_else(|| bad("platform=… is missing".into()))?;
        let mut version: Vec<&str> = python.split('.').collect();
        if version.len() == 2 {
            version.push("0");
        }
        if version.len() != 3
            || version[0] != "3"
            || version.iter().any(|v| v.parse::<u16>().is_err())
        {
            return Err(bad(format!("python `{python}` is not 3.Y or 3.Y.Z")));
        }
        let full = version.join(".");
        let arch = match &platform {
            Platform::Manylinux { arch, .. } | Platform::Linux { arch } => arch.clone(),
        };
        let probe = Probe {
            implementation_name: "cpython".into(),
            implementation_version: full.clone(),
            os_name: "posix".into(),
            platform_machine: arch,
            platform_python_implementation: "CPython".into(),
            platform_release: String::new(),
            platform_system: "Linux".into(),
            platform_version: String::new(),
            python_full_version: full,
            python_version: format!("{}.{}", version[0], version[1]),
            sys_platform: "linux".into(),
        };
        Self::from_probe(probe, &platform, None)
    }

    /// A target described in a TOML file: `python = "3.11.7"`, `platform = "…"`.
    pub fn from_file(path: &std::path::Path) -> Result<Target, FetchError> {
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        struct File {
            python: String,
            platform: String,
        }
        let file: File = pyfod_config::read(path)?;
        Self::explicit(&format!(
            "python={},platform={}",
            file.python, file.platform
        ))
    }

    fn from_probe(
        probe: Probe,
        platform: &Platform,
        interpreter: Option<Sha256>,
    ) -> Result<Target, FetchError> {
        let minor: u8 = probe
            .python_version
            .split('.')
            .nth(1)
            .and_then(|m| m.parse().ok())
            .ok_or_else(|| FetchError::TargetSpec {
                spec: probe.python_version.clone(),
                detail: "not a 3.Y version".into(),
            })?;
        if probe.implementation_name != "cpython" {
            return Err(FetchError::TargetSpec {
                spec: probe.implementation_name.clone(),
                detail: "only CPython targets are supported".into(),
            });
        }
        let markers = MarkerEnvironment::try_from(MarkerEnvironmentBuilder {
            implementation_name: &probe.implementation_name,
            implementation_version: &probe.implementation_version,
            os_name: &probe.os_name,
            platform_machine: &probe.platform_machine,
            platform_python_implementation: &probe.platform_python_implementation,
            platform_release: &probe.platform_release,
            platform_system: &probe.platform_system,
            platform_version: &probe.platform_version,
            python_full_version: &probe.python_full_version,
            python_version: &probe.python_version,
            sys_platform: &probe.sys_platform,
        })
        .map_err(|e| FetchError::TargetSpec {
            spec: probe.python_full_version.clone(),
            detail: e.to_string(),
        })?;
        let mut marker_values = vec![
            ("implementation_name", probe.implementation_name),
            ("implementation_version", probe.implementation_version),
            ("os_name", probe.os_name),
            ("platform_machine", probe.platform_machine),
            (
                "platform_python_implementation",
                probe.platform_python_implementation,
            ),
            ("platform_release", probe.platform_release),
            ("platform_system", probe.platform_system),
            ("platform_version", probe.platform_version),
            ("python_full_version", probe.python_full_version.clone()),
            ("python_version", probe.python_version),
            ("sys_platform", probe.sys_platform),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect::<Vec<_>>();
        marker_values.sort();
        Ok(Target {
            markers,
            marker_values,
            python_full_version: probe.python_full_version,
            minor,
            tags: Tags::cpython(minor, platform),
            interpreter,
        })
    }

    /// The target as the fetch manifest records it (and as cache keys see it).
    pub fn to_manifest(&self) -> pyfod_manifest::Target {
        pyfod_manifest::Target {
            python_version: self.python_full_version.clone(),
            implementation: "cpython".into(),
            tags: self.tags.to_strings(),
            markers: self.marker_values.clone(),
            interpreter: self.interpreter,
        }
    }
}

fn parse_glibc(version: &str) -> Option<(u16, u16)> {
    let (major, minor) = version.split_once('.')?;
    Some((major.parse().ok()?, minor.parse().ok()?))
}

/// In cache keys, a target is what the fetch manifest records of it.
impl Serialize for Target {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.to_manifest().serialize(serializer)
    }
}
