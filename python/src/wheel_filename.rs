//! Wheel file names: `{name}-{version}[-{build}]-{python}-{abi}-{platform}.whl`.

use std::fmt;
use std::str::FromStr;

/// A wheel's file name, its tags possibly compressed (`py2.py3`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WheelFilename {
    pub name: String,
    pub version: String,
    pub build: Option<String>,
    pub python: Vec<String>,
    pub abi: Vec<String>,
    pub platform: Vec<String>,
}

impl WheelFilename {
    /// Every `python-abi-platform` tag the name stands for.
    pub fn tags(&self) -> Vec<String> {
        let mut out = Vec::new();
        for python in &self.python {
            for abi in &self.abi {
                for platform in &self.platform {
                    out.push(format!("{python}-{abi}-{platform}"));
                }
            }
        }
        out
    }
}

impl FromStr for WheelFilename {
    type Err = String;

    fn from_str(filename: &str) -> Result<Self, Self::Err> {
        let bad = || {
            format!("`{filename}` is not a wheel file name (name-version-python-abi-platform.whl)")
        };
        let stem = filename.strip_suffix(".whl").ok_or_else(bad)?;
        let parts: Vec<&str> = stem.split('-').collect();
        let (name, version, build, tags) = match parts.as_slice() {
            [name, version, python, abi, platform] => {
                (name, version, None, [python, abi, platform])
            }
            [name, version, build, python, abi, platform]
                if build.starts_with(|c: char| c.is_ascii_digit()) =>
            {
                (
                    name,
                    version,
                    Some(build.to_string()),
                    [python, abi, platform],
                )
            }
            _ => return Err(bad()),
        };
        if [name, version].iter().any(|p| p.is_empty())
            || tags
                .iter()
                .any(|t| t.is_empty() || t.split('.').any(str::is_empty))
            || filename.contains(['/', '\0'])
        {
            return Err(bad());
        }
        let split = |s: &str| s.split('.').map(str::to_owned).collect::<Vec<_>>();
        Ok(WheelFilename {
            name: name.to_string(),
            version: version.to_string(),
            build,
            python: split(tags[0]),
            abi: split(tags[1]),
            platform: split(tags[2]),
        })
    }
}

impl fmt::Display for WheelFilename {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}-", self.name, self.version)?;
        if let Some(build) = &self.build {
            write!(f, "{build}-")?;
        }
        write!(
            f,
            "{}-{}-{}.whl",
            self.python.join("."),
            self.abi.join("."),
            self.platform.join(".")
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wheel_file_names() {
        let wheel: WheelFilename = "foo_bar-1.0-2-py2.py3-none-any.whl".parse().unwrap();
        assert_eq!(wheel.build.as_deref(), Some("2"));
        assert_eq!(wheel.python, ["py2", "py3"]);
        assert_eq!(wheel.tags(), ["py2-none-any", "py3-none-any"]);
        assert_eq!(wheel.to_string(), "foo_bar-1.0-2-py2.py3-none-any.whl");
        for bad in [
            "foo-1.0.tar.gz",
            "foo-1.0-py3-none.whl",
            "-1.0-py3-none-any.whl",
            "foo-1.0-x-py3-none-any.whl",
            "foo-1.0-py3..x-none-any.whl",
            "a/b-1.0-py3-none-any.whl",
        ] {
            assert!(bad.parse::<WheelFilename>().is_err(), "{bad}");
        }
    }
}
