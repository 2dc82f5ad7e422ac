//! How much an archive from outside (a wheel, an sdist) may unpack to. The
//! defaults are far above any real package (the largest, CUDA libraries, unpack
//! to a few GiB at ratios under 10) and far below what fills a disk or a
//! machine's memory by surprise.

/// Limits on what one archive unpacks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Bytes all members together may unpack to.
    pub max_unpacked: u64,
    /// The largest unpacked ÷ compressed ratio of an archive that unpacks past
    /// [`Limits::RATIO_FROM`].
    pub max_ratio: u64,
}

impl Limits {
    /// A small archive may compress as it likes.
    pub const RATIO_FROM: u64 = 64 << 20;

    /// The most an archive of `compressed` bytes may unpack to.
    pub fn allowed(&self, compressed: u64) -> u64 {
        compressed
            .saturating_mul(self.max_ratio)
            .max(Self::RATIO_FROM)
            .min(self.max_unpacked)
    }

    /// Why `unpacked` bytes from `compressed` are too many, naming `table`'s keys
    /// (`install`, `build`) to raise; `None` when they are not.
    pub fn refuse(&self, unpacked: u64, compressed: u64, table: &str) -> Option<String> {
        if unpacked > self.max_unpacked {
            return Some(format!(
                "it unpacks to {unpacked} bytes or more, more than the {} allowed; if that is right, raise [{table}] max-unpacked-size in pyfod.toml",
                self.max_unpacked
            ));
        }
        if unpacked > self.allowed(compressed) {
            return Some(format!(
                "it unpacks {unpacked} bytes or more from {compressed} (more than {}:1), as a zip bomb does; if that is right, raise [{table}] max-compression-ratio in pyfod.toml",
                self.max_ratio
            ));
        }
        None
    }
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_unpacked: 16 << 30,
            max_ratio: 250,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_archives_compress_as_they_like_large_ones_do_not() {
        let limits = Limits::default();
        assert!(limits.refuse(5 << 30, 1 << 30, "install").is_none());
        assert!(limits.refuse(1 << 20, 1, "install").is_none());
        let error = limits.refuse(1 << 30, 1 << 20, "build").unwrap();
        assert!(
            error.contains("zip bomb") && error.contains("[build]"),
            "{error}"
        );
        let error = limits.refuse(17 << 30, 16 << 30, "install").unwrap();
        assert!(error.contains("max-unpacked-size"), "{error}");
    }
}
