//! PEP 425 tags: the ones a target accepts, best first, and how well a wheel's
//! file name fits them.

use std::collections::HashMap;

/// The platform part of a target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Platform {
    /// glibc `major.minor` and the CPU architecture.
    Manylinux { glibc: (u16, u16), arch: String },
    /// Only `linux_<arch>`: a libc pyfod cannot place.
    Linux { arch: String },
}

impl Platform {
    /// Platform tags, best first: `manylinux_2_N` from the glibc's minor down to
    /// the architecture's oldest, each legacy alias right after its `2_N`, then
    /// `linux_<arch>`.
    pub fn tags(&self) -> Vec<String> {
        match self {
            Platform::Linux { arch } => vec![format!("linux_{arch}")],
            Platform::Manylinux {
                glibc: (major, minor),
                arch,
            } => {
                let oldest = match arch.as_str() {
                    "x86_64" | "i686" => 5,
                    "riscv64" => 31,
                    "loongarch64" => 36,
                    _ => 17,
                };
                let mut tags = Vec::new();
                if *major == 2 {
                    for n in (oldest..=*minor).rev() {
                        tags.push(format!("manylinux_2_{n}_{arch}"));
                        let legacy = match n {
                            17 => Some("manylinux2014"),
                            12 if matches!(arch.as_str(), "x86_64" | "i686") => {
                                Some("manylinux2010")
                            }
                            5 if matches!(arch.as_str(), "x86_64" | "i686") => Some("manylinux1"),
                            _ => None,
                        };
                        if let Some(legacy) = legacy {
                            tags.push(format!("{legacy}_{arch}"));
                        }
                    }
                }
                tags.push(format!("linux_{arch}"));
                tags
            }
        }
    }

    /// Reads `manylinux_2_28_x86_64` or `linux_aarch64`.
    pub fn parse(text: &str) -> Option<Platform> {
        if let Some(rest) = text.strip_prefix("manylinux_") {
            let mut parts = rest.splitn(3, '_');
            let major = parts.next()?.parse().ok()?;
            let minor = parts.next()?.parse().ok()?;
            let arch = parts.next()?.to_owned();
            return Some(Platform::Manylinux {
                glibc: (major, minor),
                arch,
            });
        }
        let arch = text.strip_prefix("linux_")?;
        Some(Platform::Linux {
            arch: arch.to_owned(),
        })
    }
}

/// The tags a CPython accepts, with their rank (0 is the best).
#[derive(Debug, Clone)]
pub struct Tags {
    ordered: Vec<(String, String, String)>,
    rank: HashMap<(String, String, String), u32>,
}

impl Tags {
    /// For CPython `3.minor` on `platform`, in the order pip and uv prefer them.
    pub fn cpython(minor: u8, platform: &Platform) -> Tags {
        let plats = platform.tags();
        let cp = |m: u8| format!("cp3{m}");
        let py = |m: u8| format!("py3{m}");
        let mut ordered = Vec::new();
        let mut push = |python: String, abi: &str, plat: &str| {
            ordered.push((python, abi.to_owned(), plat.to_owned()));
        };
        for plat in &plats {
            push(cp(minor), &cp(minor), plat);
        }
        for plat in &plats {
            push(cp(minor), "abi3", plat);
        }
        for plat in &plats {
            push(cp(minor), "none", plat);
        }
        for older in (2..minor).rev() {
            for plat in &plats {
                push(cp(older), "abi3", plat);
            }
        }
        let generic: Vec<String> = std::iter::once(py(minor))
            .chain(std::iter::once("py3".to_owned()))
            .chain((0..minor).rev().map(py))
            .collect();
        for python in &generic {
            for plat in &plats {
                push(python.clone(), "none", plat);
            }
        }
        push(cp(minor), "none", "any");
        for python in &generic {
            push(python.clone(), "none", "any");
        }
        let rank = ordered
            .iter()
            .enumerate()
            .map(|(i, tag)| (tag.clone(), i as u32))
            .collect();
        Tags { ordered, rank }
    }

    /// The best rank among a wheel's tags, or `None` when none fits.
    pub fn rank(&self, wheel: &WheelFilename) -> Option<(u32, String)> {
        let mut best: Option<(u32, String)> = None;
        for python in &wheel.python {
            for abi in &wheel.abi {
                for plat in &wheel.platform {
                    let key = (python.clone(), abi.clone(), plat.clone());
                    if let Some(&rank) = self.rank.get(&key)
                        && best.as_ref().is_none_or(|(r, _)| rank < *r)
                    {
                        best = Some((rank, format!("{python}-{abi}-{plat}")));
                    }
                }
            }
        }
        best
    }

    /// The tags as strings, best first.
    pub fn to_strings(&self) -> Vec<String> {
        self.ordered
            .iter()
            .map(|(p, a, pl)| format!("{p}-{a}-{pl}"))
            .collect()
    }

    pub fn len(&self) -> usize {
        self.ordered.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ordered.is_empty()
    }
}

pub use pyfod_python::WheelFilename;

#[cfg(test)]
mod tests {
    use super::*;

    fn tags() -> Tags {
        Tags::cpython(
            11,
            &Platform::Manylinux {
                glibc: (2, 36),
                arch: "x86_64".into(),
            },
        )
    }

    fn rank(filename: &str) -> Option<u32> {
        tags().rank(&filename.parse().unwrap()).map(|(r, _)| r)
    }

    #[test]
    fn platform_tags_with_legacy_aliases_after_their_versions() {
        let plats = Platform::parse("manylinux_2_36_x86_64").unwrap().tags();
        assert_eq!(plats[0], "manylinux_2_36_x86_64");
        let at = |t: &str| plats.iter().position(|p| p == t).unwrap();
        assert_eq!(at("manylinux2014_x86_64"), at("manylinux_2_17_x86_64") + 1);
        assert_eq!(at("manylinux2010_x86_64"), at("manylinux_2_12_x86_64") + 1);
        assert_eq!(at("manylinux1_x86_64"), at("manylinux_2_5_x86_64") + 1);
        assert_eq!(plats.last().unwrap(), "linux_x86_64");
        let arm = Platform::parse("manylinux_2_28_aarch64").unwrap().tags();
        assert_eq!(
            arm.iter().filter(|p| p.starts_with("manylinux_")).count(),
            12
        );
    }

    #[test]
    fn wheels_rank_as_pip_and_uv_prefer_them() {
        let order = [
            "x-1-cp311-cp311-manylinux_2_28_x86_64.whl",
            "x-1-cp311-cp311-manylinux2014_x86_64.whl",
            "x-1-cp311-abi3-manylinux_2_17_x86_64.whl",
            "x-1-cp39-abi3-manylinux_2_17_x86_64.whl",
            "x-1-py3-none-manylinux_2_17_x86_64.whl",
            "x-1-py3-none-any.whl",
            "x-1-py30-none-any.whl",
        ];
        let ranks: Vec<u32> = order.iter().map(|f| rank(f).unwrap()).collect();
        let mut sorted = ranks.clone();
        sorted.sort();
        assert_eq!(ranks, sorted, "{order:?}");
        assert_eq!(rank("x-1-cp312-cp312-manylinux_2_17_x86_64.whl"), None);
        assert_eq!(rank("x-1-cp311-cp311-macosx_11_0_arm64.whl"), None);
        assert_eq!(rank("x-1-cp311-cp311-manylinux_2_38_x86_64.whl"), None);
        // Compressed tags score their best combination.
        assert_eq!(
            rank("x-1-py2.py3-none-any.whl"),
            rank("x-1-py3-none-any.whl")
        );
    }
}
