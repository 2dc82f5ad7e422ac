//! Two wheels writing one path: an error naming both, unless `[install.collisions]`
//! in `pyfod.toml` says which wins or that the path goes.

use std::collections::{BTreeMap, HashMap};

use pyfod_python::normalise_name;
use serde::Deserialize;

use crate::wheel::WheelPlan;
use crate::{InstallError, WheelInput};

/// What to do with a path several wheels install.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub enum Rule {
    /// This package's file is installed; the others' are not.
    Keep(String),
    /// No one's file is installed.
    Drop,
}

/// `[install]` in `pyfod.toml`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct InstallConfig {
    /// Path (relative to site-packages, or to the venv) → the package that wins,
    /// or `"drop"`.
    #[serde(default)]
    pub collisions: BTreeMap<String, String>,
    /// `uv=VERSION`, as `--compat` takes it.
    pub compat: Option<String>,
    /// The most a wheel may unpack to: `16G`, `500M`.
    pub max_unpacked_size: Option<String>,
    /// The largest inflated ÷ compressed ratio of a wheel over 64 MiB.
    pub max_compression_ratio: Option<u64>,
}

impl InstallConfig {
    /// The limits this table sets, the defaults for the rest.
    pub fn limits(&self) -> Result<crate::archive::Limits, String> {
        let mut limits = crate::archive::Limits::default();
        if let Some(size) = &self.max_unpacked_size {
            limits.max_unpacked = pyfod_config::parse_size(size)
                .map_err(|e| format!("[install] max-unpacked-size: {e}"))?;
        }
        if let Some(ratio) = self.max_compression_ratio {
            limits.max_ratio = ratio.max(1);
        }
        Ok(limits)
    }

    pub fn rules(&self) -> BTreeMap<String, Rule> {
        self.collisions
            .iter()
            .map(|(path, value)| {
                let rule = if value == "drop" {
                    Rule::Drop
                } else {
                    Rule::Keep(value.clone())
                };
                (path.trim_start_matches('/').to_owned(), rule)
            })
            .collect()
    }
}

/// Reads the `[install]` table of a `pyfod.toml`, if it has one.
pub fn load(path: &std::path::Path) -> Result<InstallConfig, pyfod_config::TomlError> {
    #[derive(Default, Deserialize)]
    struct File {
        #[serde(default)]
        install: Option<InstallConfig>,
        #[serde(flatten)]
        _rest: BTreeMap<String, serde::de::IgnoredAny>,
    }
    let file: File = pyfod_config::read_settings(path)?;
    Ok(file.install.unwrap_or_default())
}

/// Checks that every path has one owner, applying `rules` where it has several,
/// and takes the losing wheels' members out of their plans.
pub fn resolve(
    wheels: &[WheelInput],
    plans: &mut [WheelPlan],
    rules: &BTreeMap<String, Rule>,
    site: &str,
) -> Result<(), InstallError> {
    let mut owners: BTreeMap<String, Vec<usize>> = BTreeMap::new();
    let mut launchers: HashMap<String, usize> = HashMap::new();
    for (i, (input, plan)) in wheels.iter().zip(plans.iter()).enumerate() {
        for entry in &plan.scripts {
            let path = format!("bin/{}", entry.name);
            if let Some(&first) = launchers.get(&path) {
                return Err(collision(path, &wheels[first].name, &input.name));
            }
            launchers.insert(path, i);
        }
        for (_, destination, _) in &plan.members {
            owners.entry(destination.clone()).or_default().push(i);
        }
    }
    for (path, &i) in &launchers {
        if let Some(others) = owners.get(path) {
            return Err(collision(
                path.clone(),
                &wheels[others[0]].name,
                &wheels[i].name,
            ));
        }
    }
    let mut dropped: Vec<Vec<String>> = vec![Vec::new(); plans.len()];
    for (path, who) in owners.iter().filter(|(_, who)| who.len() > 1) {
        let inside = path.strip_prefix(&format!("{site}/")).unwrap_or(path);
        let Some(rule) = rules.get(path.as_str()).or_else(|| rules.get(inside)) else {
            return Err(collision(
                path.clone(),
                &wheels[who[0]].name,
                &wheels[who[1]].name,
            ));
        };
        let keep = match rule {
            Rule::Drop => None,
            Rule::Keep(package) => {
                let winner = who
                    .iter()
                    .copied()
                    .find(|&i| normalise_name(&wheels[i].name) == normalise_name(package));
                Some(winner.ok_or_else(|| InstallError::BadRule {
                    path: path.clone(),
                    rule: package.clone(),
                    owners: who.iter().map(|&i| wheels[i].name.clone()).collect(),
                })?)
            }
        };
        for &i in who {
            if Some(i) != keep {
                dropped[i].push(path.clone());
            }
        }
    }
    for (plan, dropped) in plans.iter_mut().zip(dropped) {
        if !dropped.is_empty() {
            plan.members
                .retain(|(_, destination, _)| !dropped.contains(destination));
        }
    }
    Ok(())
}

fn collision(path: String, first: &str, second: &str) -> InstallError {
    InstallError::Collision {
        path,
        first: first.to_owned(),
        second: second.to_owned(),
    }
}
