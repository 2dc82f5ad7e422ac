//! Package names as PEP 503 compares them.

/// A package name as PEP 503 compares them: lower case, and every run of `-`,
/// `_` and `.` one `-`. The manifests' rule, so that a name written in a
/// manifest and a name compared here agree; names in a hostile lock are
/// normalised by it too, never refused here: whoever reads one decides.
pub use pyfod_manifest::normalise_name;

/// Whether two names are the same package.
pub fn same_package(a: &str, b: &str) -> bool {
    normalise_name(a) == normalise_name(b)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_normalise_as_pep_503_says() {
        for (name, normal) in [
            ("Django", "django"),
            ("zope.interface", "zope-interface"),
            ("typing_extensions", "typing-extensions"),
            ("A__b-.C", "a-b-c"),
            ("not a name!", "not a name!"),
        ] {
            assert_eq!(normalise_name(name), normal, "{name}");
        }
        assert!(same_package("PyYAML", "pyyaml"));
    }
}
