//! Build requirements checked against what the build environment holds: pyfod
//! never resolves, so a requirement the environment does not meet is an error that
//! says which lock to add it to.

use std::collections::BTreeMap;
use std::str::FromStr;

use pep508_rs::pep440_rs::Version;
use pep508_rs::{
    ExtraName, MarkerEnvironment, MarkerEnvironmentBuilder, Requirement, VersionOrUrl,
};

use crate::BuildError;

/// Distributions a build can import: the build environment's, and packages of the
/// main lock that builds ask for.
#[derive(Debug, Clone)]
pub struct Available {
    /// Normalised name → version.
    packages: BTreeMap<String, Version>,
    markers: MarkerEnvironment,
}

/// A build requirement that applies to the target.
#[derive(Debug, Clone)]
pub struct Wanted {
    /// As the source tree wrote it.
    pub text: String,
    /// Normalised.
    pub name: String,
    /// The extras it asks of the package (`cffi[x]`), whose dependencies come too.
    pub extras: Vec<ExtraName>,
    version_or_url: Option<VersionOrUrl>,
}

impl Wanted {
    /// Whether `version` of the package satisfies this requirement.
    pub fn accepts(&self, version: &Version) -> bool {
        match &self.version_or_url {
            None => true,
            Some(VersionOrUrl::VersionSpecifier(specifiers)) => specifiers.contains(version),
            // A URL requirement cannot be checked against a lock's version: the
            // name is what the lock can vouch for.
            Some(VersionOrUrl::Url(_)) => true,
        }
    }

    /// Like [`Wanted::accepts`], for a version as text.
    pub fn accepts_text(&self, version: &str) -> bool {
        Version::from_str(version).is_ok_and(|v| self.accepts(&v))
    }
}

/// A requirement the environment does not meet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unmet {
    pub requirement: String,
    /// The version the environment has, if it has the package at all.
    pub found: Option<String>,
}

impl Available {
    /// `markers` are the target's, as the fetch manifest records them.
    pub fn new(
        packages: impl IntoIterator<Item = (String, String)>,
        markers: &[(String, String)],
    ) -> Result<Available, BuildError> {
        let value = |key: &str| {
            markers
                .iter()
                .find(|(k, _)| k == key)
                .map_or("", |(_, v)| v.as_str())
        };
        let markers = MarkerEnvironment::try_from(MarkerEnvironmentBuilder {
            implementation_name: value("implementation_name"),
            implementation_version: value("implementation_version"),
            os_name: value("os_name"),
            platform_machine: value("platform_machine"),
            platform_python_implementation: value("platform_python_implementation"),
            platform_release: value("platform_release"),
            platform_system: value("platform_system"),
            platform_version: value("platform_version"),
            python_full_version: value("python_full_version"),
            python_version: value("python_version"),
            sys_platform: value("sys_platform"),
        })
        .map_err(|e| BuildError::Target(e.to_string()))?;
        let mut map = BTreeMap::new();
        for (name, version) in packages {
            let parsed = Version::from_str(&version)
                .map_err(|e| BuildError::Target(format!("{name} {version}: {e}")))?;
            map.insert(pyfod_manifest::normalise_name(&name), parsed);
        }
        Ok(Available {
            packages: map,
            markers,
        })
    }

    /// The requirements (PEP 508 strings) that apply to the target, parsed.
    pub fn applicable(
        &self,
        package: &str,
        requirements: &[String],
    ) -> Result<Vec<Wanted>, BuildError> {
        self.applicable_with_extras(package, requirements, &[])
    }

    /// [`Available::applicable`] for the requirements of a distribution asked
    /// for with `extras` (its `Requires-Dist`, `extra == …` markers).
    pub fn applicable_with_extras(
        &self,
        package: &str,
        requirements: &[String],
        extras: &[ExtraName],
    ) -> Result<Vec<Wanted>, BuildError> {
        let mut out = Vec::new();
        for text in requirements {
            let requirement =
                Requirement::from_str(text).map_err(|e| BuildError::BadRequirement {
                    package: package.to_owned(),
                    requirement: text.clone(),
                    detail: e.to_string(),
                })?;
            if requirement.evaluate_markers(&self.markers, extras) {
                out.push(Wanted {
                    text: text.clone(),
                    name: pyfod_manifest::normalise_name(requirement.name.as_ref()),
                    extras: requirement.extras,
                    version_or_url: requirement.version_or_url,
                });
            }
        }
        Ok(out)
    }

    /// Whether this environment meets `wanted`; if not, what it has instead.
    pub fn meets(&self, wanted: &Wanted) -> Result<(), Unmet> {
        let found = self.packages.get(&wanted.name);
        if found.is_some_and(|v| wanted.accepts(v)) {
            Ok(())
        } else {
            Err(Unmet {
                requirement: wanted.text.clone(),
                found: found.map(ToString::to_string),
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The requirements that apply to the target and are not met.
    fn unmet(
        available: &Available,
        package: &str,
        requirements: &[String],
    ) -> Result<Vec<Unmet>, BuildError> {
        Ok(available
            .applicable(package, requirements)?
            .iter()
            .filter_map(|wanted| available.meets(wanted).err())
            .collect())
    }

    fn available() -> Available {
        let markers = [
            ("python_full_version", "3.11.7"),
            ("python_version", "3.11"),
            ("sys_platform", "linux"),
            ("implementation_name", "cpython"),
            ("implementation_version", "3.11.7"),
            ("platform_python_implementation", "CPython"),
            ("platform_machine", "x86_64"),
            ("platform_system", "Linux"),
            ("os_name", "posix"),
        ]
        .map(|(k, v)| (k.to_owned(), v.to_owned()));
        Available::new(
            [("setuptools", "80.9.0"), ("Cython", "3.1.2")].map(|(n, v)| (n.into(), v.into())),
            &markers,
        )
        .unwrap()
    }

    #[test]
    fn met_unmet_and_marker_excluded() {
        let requirements = [
            "setuptools>=64",
            "cython<3",
            "wheel",
            "tomli; python_version < '3.11'",
            "CYTHON>=3.0",
        ]
        .map(String::from);
        let unmet = unmet(&available(), "p", &requirements).unwrap();
        assert_eq!(
            unmet,
            [
                Unmet {
                    requirement: "cython<3".into(),
                    found: Some("3.1.2".into())
                },
                Unmet {
                    requirement: "wheel".into(),
                    found: None
                },
            ]
        );
    }

    #[test]
    fn a_bad_requirement_names_the_package() {
        let error = unmet(&available(), "lxml", &["setuptools >>> 1".into()]).unwrap_err();
        assert!(error.to_string().contains("lxml"), "{error}");
    }
}
