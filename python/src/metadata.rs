//! The email-style headers of a wheel's `METADATA` and `WHEEL` files.

/// The values of the header `field` (any case) in an email-style METADATA or WHEEL: the headers
/// end at the first empty line, and a line starting with white space continues
/// the one before.
pub fn header_values(text: &str, field: &str) -> Vec<String> {
    let mut values: Vec<String> = Vec::new();
    let mut current: Option<String> = None;
    for line in text.lines() {
        if line.is_empty() {
            break;
        }
        if line.starts_with([' ', '\t']) {
            if let Some(value) = current.as_mut() {
                value.push(' ');
                value.push_str(line.trim());
            }
            continue;
        }
        values.extend(current.take());
        current = line
            .split_once(':')
            .filter(|(key, _)| key.trim().eq_ignore_ascii_case(field))
            .map(|(_, value)| value.trim().to_owned());
    }
    values.extend(current);
    values
}

#[cfg(test)]
mod tests {
    use super::header_values;

    #[test]
    fn headers_stop_at_the_body_and_join_continuations() {
        let text = "Metadata-Version: 2.1\nName: cffi\nRequires-Dist: pycparser\n\
                    requires-dist: x ; extra == 'a'\n  and more\nSummary: s\n\n\
                    Requires-Dist: not-a-header\n";
        assert_eq!(
            header_values(text, "Requires-Dist"),
            ["pycparser", "x ; extra == 'a' and more"]
        );
        assert_eq!(header_values(text, "Name"), ["cffi"]);
    }
}
