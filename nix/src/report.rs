//! What Nix said about a build, read from its own words: the output path, a hash
//! mismatch (`specified:`/`wanted:` and `got:`, as every Nix since 2.0 prints
//! them), or a fixed output that refers to the store.

use pyfod_digest::{HashFormat, Sha256};

/// Nix's verdict on one `nix-build`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// It built (or had) the output; the last line of its standard output.
    Built { path: String },
    /// The output's NAR hash is not the declared one.
    HashMismatch(HashMismatch),
    /// The output refers to other store paths, which a fixed-output derivation
    /// may not (Nix 2.12 and later say so; older ones register the output
    /// elsewhere and print a path that does not exist).
    RefersToStore { derivation: String },
    /// Any other failure: Nix's log says why.
    Failed,
}

/// Nix's hash mismatch report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HashMismatch {
    /// The `.drv` Nix names, when it names one.
    pub derivation: Option<String>,
    /// The hash the derivation declares.
    pub specified: Option<Sha256>,
    /// The hash of what the builder produced.
    pub got: Sha256,
}

impl Verdict {
    /// Reads the verdict from `nix-build`'s exit status and output.
    pub fn read(success: bool, stdout: &str, stderr: &str) -> Verdict {
        if success {
            return match stdout.lines().rev().find(|l| !l.trim().is_empty()) {
                Some(path) => Verdict::Built {
                    path: path.trim().to_owned(),
                },
                None => Verdict::Failed,
            };
        }
        if let Some(mismatch) = HashMismatch::find(stderr) {
            return Verdict::HashMismatch(mismatch);
        }
        match stderr
            .lines()
            .find(|l| l.contains("is not allowed to refer to other store paths"))
        {
            Some(line) => Verdict::RefersToStore {
                derivation: quoted(line).unwrap_or_default().to_owned(),
            },
            None => Verdict::Failed,
        }
    }
}

impl HashMismatch {
    /// The first hash mismatch report in `log`.
    pub fn find(log: &str) -> Option<HashMismatch> {
        let mut lines = log.lines();
        let header = lines.find(|l| l.contains("hash mismatch in fixed-output derivation"))?;
        let (mut specified, mut got) = (None, None);
        for line in lines.take(4) {
            let line = line.trim();
            let value = |key: &str| {
                line.strip_prefix(key)
                    .and_then(|rest| HashFormat::parse_any(rest.trim()).ok())
            };
            specified = specified.or(value("specified:")).or(value("wanted:"));
            got = got.or(value("got:"));
        }
        Some(HashMismatch {
            derivation: quoted(header).map(str::to_owned),
            specified,
            got: got?,
        })
    }
}

/// The text between the first pair of single quotes on `line`.
fn quoted(line: &str) -> Option<&str> {
    let (_, rest) = line.split_once('\'')?;
    Some(rest.split_once('\'')?.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    const NIX_2_8: &str = "building '/nix/store/jalb69ry12l4wjygj1b48vkarm951vvj-fodt.drv'...
error: hash mismatch in fixed-output derivation '/nix/store/jalb69ry12l4wjygj1b48vkarm951vvj-fodt.drv':
         specified: sha256-AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=
            got:    sha256-HDfQGvQL4ugGkd48w99EN3ppmvuxfGjwgJZLL9Bx/BM=
";

    #[test]
    fn reads_the_report_of_nix_2_8() {
        let Verdict::HashMismatch(mismatch) = Verdict::read(false, "", NIX_2_8) else {
            panic!("not a mismatch");
        };
        assert_eq!(
            mismatch.derivation.as_deref(),
            Some("/nix/store/jalb69ry12l4wjygj1b48vkarm951vvj-fodt.drv")
        );
        assert_eq!(mismatch.specified, Some(Sha256([0; 32])));
        assert_eq!(
            mismatch.got.to_sri(),
            "sha256-HDfQGvQL4ugGkd48w99EN3ppmvuxfGjwgJZLL9Bx/BM="
        );
    }

    #[test]
    fn reads_the_older_wanted_form_in_nix32() {
        let log = "hash mismatch in fixed-output derivation '/nix/store/x-y':\n  wanted: sha256:0000000000000000000000000000000000000000000000000000\n  got:    sha256:1cbpvqrwbfr0xw10ijb1kqyz5d3ycj3jn0mmmi2bbpa2yhjddxzr\n";
        let mismatch = HashMismatch::find(log).expect("a mismatch");
        assert_eq!(mismatch.specified, Some(Sha256([0; 32])));
        assert_eq!(
            mismatch.got,
            HashFormat::parse_any("sha256:1cbpvqrwbfr0xw10ijb1kqyz5d3ycj3jn0mmmi2bbpa2yhjddxzr")
                .unwrap()
        );
    }

    #[test]
    fn a_build_gives_its_last_line_and_a_refusal_its_derivation() {
        assert_eq!(
            Verdict::read(true, "/nix/store/a-x\n", ""),
            Verdict::Built {
                path: "/nix/store/a-x".into()
            }
        );
        let refused = "error: fixed output derivation '/nix/store/b-y.drv' is not allowed to refer to other store paths.\n";
        assert_eq!(
            Verdict::read(false, "", refused),
            Verdict::RefersToStore {
                derivation: "/nix/store/b-y.drv".into()
            }
        );
        assert_eq!(
            Verdict::read(false, "", "error: builder failed"),
            Verdict::Failed
        );
    }
}
