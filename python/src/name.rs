//! Package names as PEP 503 compares them.

/// A package name as PEP 503 compares them: lower case, and every run of `-`,
/// `_` and `.` one `-`. A valid PEP 508 name goes through `pep508_rs`; anything
/// else (names in a hostile lock) is normalised by the same rule, never refused
/// here: whoever reads the name decides whether it is acceptable.
pub fn normalise_name(name: &str) -> String {
    match pep508_rs::PackageName::new(name.to_owned()) {
        Ok(valid) => valid.to_string(),
        Err(_) => by_rule(name),
    }
}

fn by_rule(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    for c in name.chars() {
        if matches!(c, '-' | '_' | '.') {
            if !out.ends_with('-') {
                out.push('-');
            }
        } else {
            out.push(c.to_ascii_lowercase());
        }
    }
    out
}

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
