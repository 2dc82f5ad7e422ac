//! `[build] compiler-cache = "ccache"`: the builds' C and C++ compilers run
//! through ccache, so that a build whose environment changed (a new
//! setuptools) but whose sources and flags did not takes its objects from the
//! cache instead of compiling them again.
//!
//! It changes no wheel, so nothing of it is in a key:
//! - ccache keys an object by the compiler, its arguments and the
//!   preprocessed source, and a hit is the object the compiler wrote for them;
//! - its `base_dir`, which rewrites absolute paths into relative ones and so
//!   changes `__FILE__`, is never set. Instead a build that uses the cache runs
//!   in a work area whose path is the same from one run to the next
//!   ([`pyfod_store::Store::named_temp_entry`]), so its arguments are too;
//! - the caller's ccache configuration is not read, so no `sloppiness` from it
//!   lets a stale object through.
//!
//! `--check` builds without it: a check compiles.
//!
//! Every backend finds it the same way: a directory first on `PATH` whose
//! compilers (`cc`, `gcc`, `x86_64-linux-gnu-gcc`, …) are links to ccache,
//! which runs the next compiler of that name on `PATH` (ccache's masquerade).

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::BuildError;

/// Where in a build's work area the compiler links, configuration and
/// statistics log are.
const DIR: &str = "compiler-cache";

/// The compiler cache the builds use, found and checked once a run.
#[derive(Debug, Clone)]
pub struct CompilerCache {
    /// ccache's executable.
    program: PathBuf,
    /// The compilers on the builds' `PATH`, by the names builds call them.
    compilers: Vec<String>,
}

/// What a build's compilers took from the cache.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Stats {
    pub hits: u64,
    pub misses: u64,
    /// Calls ccache passed to the compiler: links, preprocessing, failures.
    pub uncacheable: u64,
}

impl CompilerCache {
    /// `name` (a program on the builds' `PATH`, or a path) checked to be ccache,
    /// with the compilers it stands in for on that `PATH`.
    pub fn find(name: &str, path: &str) -> Result<CompilerCache, BuildError> {
        let refuse = |detail: String| BuildError::CompilerCache {
            name: name.to_owned(),
            detail,
        };
        let program = match name.contains('/') {
            true => PathBuf::from(name),
            false => search_path(path)
                .map(|dir| dir.join(name))
                .find(|candidate| is_executable(candidate))
                .ok_or_else(|| refuse(format!("it is not on the builds' PATH ({path})")))?,
        };
        let output = Command::new(&program)
            .arg("--version")
            .output()
            .map_err(|e| refuse(format!("{} cannot be run: {e}", program.display())))?;
        let version = String::from_utf8_lossy(&output.stdout);
        let first = version.lines().next().unwrap_or("");
        if !output.status.success() || !first.starts_with("ccache version ") {
            return Err(refuse(format!(
                "{} is not ccache (it says {first:?}); pyfod drives ccache only",
                program.display()
            )));
        }
        let mut compilers: Vec<String> = search_path(path)
            .filter_map(|dir| fs::read_dir(dir).ok())
            .flatten()
            .flatten()
            .filter_map(|entry| entry.file_name().into_string().ok())
            .filter(|file| is_compiler_name(file))
            .collect();
        compilers.sort();
        compilers.dedup();
        Ok(CompilerCache { program, compilers })
    }

    /// The variables that send a build's compilers through the cache in `dir`
    /// (`CCACHE_DIR`), for a build in `work`: never in a key.
    pub(crate) fn add_vars(&self, vars: &mut BTreeMap<String, String>, work: &Path, dir: &Path) {
        let own = work.join(DIR);
        let bin = own.join("bin").display().to_string();
        let path = match vars.get("PATH") {
            Some(rest) if !rest.is_empty() => format!("{bin}:{rest}"),
            _ => bin,
        };
        vars.insert("PATH".to_owned(), path);
        let fixed = [
            ("CCACHE_DIR", dir.to_path_buf()),
            ("CCACHE_CONFIGPATH", own.join("ccache.conf")),
            ("CCACHE_STATSLOG", own.join("stats.log")),
        ];
        for (name, value) in fixed {
            vars.insert(name.to_owned(), value.display().to_string());
        }
        // Strict and paths as given, whatever a configuration says (the
        // configuration path above already keeps the system's from being read).
        vars.insert("CCACHE_SLOPPINESS".to_owned(), String::new());
        vars.insert("CCACHE_BASEDIR".to_owned(), String::new());
    }

    /// The compiler links and an empty configuration in `work`.
    pub(crate) fn write_links(&self, work: &Path) -> Result<(), BuildError> {
        let own = work.join(DIR);
        let bin = own.join("bin");
        fs::create_dir_all(&bin).map_err(|e| BuildError::io("create", &bin, e))?;
        let config = own.join("ccache.conf");
        fs::write(
            &config,
            "# Written by pyfod: ccache's defaults, nothing else.\n",
        )
        .map_err(|e| BuildError::io("write", &config, e))?;
        for compiler in &self.compilers {
            let link = bin.join(compiler);
            std::os::unix::fs::symlink(&self.program, &link)
                .map_err(|e| BuildError::io("link", &link, e))?;
        }
        Ok(())
    }
}

impl Stats {
    /// What ccache's statistics log in `work` says of the build, if it wrote one.
    pub(crate) fn read(work: &Path) -> Option<Stats> {
        let text = fs::read_to_string(work.join(DIR).join("stats.log")).ok()?;
        Some(Stats::parse(&text))
    }

    /// ccache's statistics log: a `# <file>` line per call, then its counters.
    fn parse(text: &str) -> Stats {
        let mut stats = Stats::default();
        let mut calls = 0u64;
        for line in text.lines() {
            match line.trim() {
                l if l.starts_with('#') => calls += 1,
                "direct_cache_hit" | "preprocessed_cache_hit" => stats.hits += 1,
                "cache_miss" => stats.misses += 1,
                _ => {}
            }
        }
        stats.uncacheable = calls.saturating_sub(stats.hits + stats.misses);
        stats
    }
}

impl std::fmt::Display for Stats {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let cacheable = self.hits + self.misses;
        let rate = match cacheable {
            0 => 0.0,
            n => 100.0 * self.hits as f64 / n as f64,
        };
        write!(
            f,
            "{}/{cacheable} compilations from the cache ({rate:.0}%), {} not cacheable",
            self.hits, self.uncacheable
        )
    }
}

fn search_path(path: &str) -> impl Iterator<Item = &Path> {
    path.split(':').filter(|d| !d.is_empty()).map(Path::new)
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// `cc`, `gcc`, `g++`, `c++`, `clang`, `clang++`, with a target prefix
/// (`x86_64-linux-gnu-gcc`) or a version suffix (`gcc-12`); not `gcc-ar`.
fn is_compiler_name(name: &str) -> bool {
    let base = match name.rsplit_once('-') {
        Some((base, version))
            if !version.is_empty() && version.chars().all(|c| c.is_ascii_digit() || c == '.') =>
        {
            base
        }
        _ => name,
    };
    let tool = base.rsplit('-').next().unwrap_or(base);
    matches!(tool, "cc" | "gcc" | "c++" | "g++" | "clang" | "clang++")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compiler_names() {
        for name in [
            "cc",
            "gcc",
            "g++",
            "c++",
            "clang++",
            "gcc-12",
            "x86_64-linux-gnu-gcc-12",
        ] {
            assert!(is_compiler_name(name), "{name}");
        }
        for name in [
            "gcc-ar",
            "clang-format",
            "c++filt",
            "x86_64-linux-gnu-gcc-nm-12",
            "cc1",
        ] {
            assert!(!is_compiler_name(name), "{name}");
        }
    }

    #[test]
    fn statistics_log() {
        let log = "# src/a.c\ncache_miss\ndirect_cache_miss\nlocal_storage_write\n\
                   # src/b.c\ndirect_cache_hit\nlocal_storage_hit\n\
                   # src/c.c\nlocal_storage_hit\npreprocessed_cache_hit\n\
                   # a.o\ncalled_for_link\n";
        let stats = Stats::parse(log);
        assert_eq!(
            stats,
            Stats {
                hits: 2,
                misses: 1,
                uncacheable: 1
            }
        );
        assert_eq!(
            stats.to_string(),
            "2/3 compilations from the cache (67%), 1 not cacheable"
        );
    }
}
