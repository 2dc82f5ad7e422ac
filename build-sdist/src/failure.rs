//! What a failed build's log says, in a few lines: its tail, and the missing
//! header or pkg-config module when that is the cause, with the package that
//! provides it where pyfod knows it.

/// Lines of the log shown when a build fails.
pub const TAIL_LINES: usize = 25;

/// Headers and pkg-config modules of libraries sdists commonly build against, and
/// the Debian and Nix packages that provide them.
const KNOWN: &[(&str, &str, &str)] = &[
    ("libxml/", "libxml2-dev", "libxml2.dev"),
    ("libxml-2.0", "libxml2-dev", "libxml2.dev"),
    ("libxslt/", "libxslt1-dev", "libxslt.dev"),
    ("libexslt/", "libxslt1-dev", "libxslt.dev"),
    ("libxslt", "libxslt1-dev", "libxslt.dev"),
    ("xmlsec/", "libxmlsec1-dev", "xmlsec.dev"),
    ("xmlsec1", "libxmlsec1-dev", "xmlsec.dev"),
    ("gssapi/", "libkrb5-dev", "krb5.dev"),
    ("krb5", "libkrb5-dev", "krb5.dev"),
    ("libpq-fe.h", "libpq-dev", "postgresql.dev (libpq)"),
    ("libpq", "libpq-dev", "postgresql.dev (libpq)"),
    ("pg_config", "libpq-dev", "postgresql (pg_config)"),
    ("zlib.h", "zlib1g-dev", "zlib.dev"),
    ("zlib", "zlib1g-dev", "zlib.dev"),
    ("ffi.h", "libffi-dev", "libffi.dev"),
    ("libffi", "libffi-dev", "libffi.dev"),
    ("openssl/", "libssl-dev", "openssl.dev"),
    ("openssl", "libssl-dev", "openssl.dev"),
    ("Python.h", "python3-dev", "python3 (its include/)"),
];

/// A build that failed: where, the end of its log, and what the log says was missing.
#[derive(Debug, Clone)]
pub struct BuildFailure {
    pub package: String,
    pub version: String,
    pub hook: &'static str,
    pub tail: String,
    pub missing: Option<Missing>,
    /// The full log, kept in the store.
    pub log: std::path::PathBuf,
}

impl std::fmt::Display for BuildFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "building {} {} failed in {}",
            self.package, self.version, self.hook
        )?;
        if let Some(missing) = &self.missing {
            write!(f, ": {missing}")?;
        }
        write!(
            f,
            "\n--- last lines of the build log ---\n{}\n--- the full log: {}",
            self.tail,
            self.log.display()
        )
    }
}

/// What a failed build's log says was missing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Missing {
    Header(String),
    PkgConfig(String),
    Program(String),
    /// Room on the disk (`ENOSPC`, `No space left on device`).
    Space,
}

impl std::fmt::Display for Missing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let (what, name) = match self {
            Missing::Header(h) => ("the header", h),
            Missing::PkgConfig(m) => ("the pkg-config module", m),
            Missing::Program(p) => ("the program", p),
            Missing::Space => {
                return write!(
                    f,
                    "the file system is full; free some space, or give --store (or $PYFOD_STORE) a disk with room, and run again"
                );
            }
        };
        write!(f, "{what} `{name}` is missing")?;
        if let Some((_, debian, nix)) = KNOWN.iter().find(|(key, ..)| match self {
            Missing::Header(h) => h.starts_with(key),
            Missing::PkgConfig(m) | Missing::Program(m) => m == key,
            Missing::Space => false,
        }) {
            write!(
                f,
                " (Debian: apt-get install {debian}; Nix: add {nix} to the build's inputs)"
            )?;
        }
        match self {
            Missing::PkgConfig(_) => write!(
                f,
                "; or put the directory of its .pc file in PKG_CONFIG_PATH under [build.env]"
            ),
            Missing::Header(_) => write!(
                f,
                "; or add -I<its include directory> to CFLAGS under [build.env]"
            ),
            Missing::Program(_) => write!(f, "; or add its directory to PATH under [build.env]"),
            Missing::Space => Ok(()),
        }
    }
}

/// The first missing header, pkg-config module or program the log reports.
pub fn missing(log: &str) -> Option<Missing> {
    if log.contains("No space left on device") {
        return Some(Missing::Space);
    }
    for line in log.lines() {
        // gcc: `x.c:1:10: fatal error: libxml/xmlversion.h: No such file or directory`
        if let Some(rest) = line.split("fatal error: ").nth(1)
            && let Some(header) = rest.strip_suffix(": No such file or directory")
        {
            return Some(Missing::Header(header.trim().to_owned()));
        }
        // pkg-config: `Package libxml-2.0 was not found in the pkg-config search path.`
        if let Some(rest) = line.trim().strip_prefix("Package ")
            && let Some(module) = rest.strip_suffix(" was not found in the pkg-config search path.")
        {
            return Some(Missing::PkgConfig(module.to_owned()));
        }
        if line.contains("pg_config executable not found") {
            return Some(Missing::Program("pg_config".to_owned()));
        }
        // `sh: 1: krb5-config: not found`, `/bin/sh: krb5-config: command not found`
        if let Some(before) = line
            .strip_suffix(": not found")
            .or_else(|| line.strip_suffix(": command not found"))
        {
            let program = before.rsplit(": ").next().unwrap_or(before).trim();
            if !program.is_empty() && !program.contains(' ') {
                return Some(Missing::Program(program.to_owned()));
            }
        }
    }
    None
}

/// The last `n` lines of the log.
pub fn tail(log: &str, n: usize) -> String {
    let lines: Vec<&str> = log.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_a_missing_header_with_its_package() {
        let log = "gcc -c src/lxml/etree.c\n\
            src/lxml/includes/etree_defs.h:14:10: fatal error: libxml/xmlversion.h: No such file or directory\n";
        let missing = missing(log).unwrap();
        assert_eq!(missing, Missing::Header("libxml/xmlversion.h".into()));
        let text = missing.to_string();
        assert!(text.contains("libxml2-dev"), "{text}");
        assert!(text.contains("libxml2.dev"), "{text}");
    }

    #[test]
    fn finds_pkg_config_modules_and_programs() {
        assert_eq!(
            missing("Package xmlsec1 was not found in the pkg-config search path.\n"),
            Some(Missing::PkgConfig("xmlsec1".into()))
        );
        assert_eq!(
            missing("/bin/sh: 1: krb5-config: not found\n"),
            Some(Missing::Program("krb5-config".into()))
        );
        assert_eq!(missing("error: something else\n"), None);
    }

    #[test]
    fn tail_keeps_the_last_lines() {
        assert_eq!(tail("a\nb\nc\n", 2), "b\nc");
    }
}
