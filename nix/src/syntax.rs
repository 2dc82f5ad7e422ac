//! Nix and shell syntax for values that come from outside: every name, path and
//! flag pyfod writes into an expression passes through here, so none can end a
//! string early or splice code in.

use std::path::{Component, Path};

/// `text` as a Nix double-quoted string.
pub fn string(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '$' if chars.peek() == Some(&'{') => out.push_str("\\$"),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// `text` as it must appear inside a Nix indented string (`'' … ''`) to mean
/// itself: `''` and `${` are the two sequences such a string gives a meaning.
pub fn indented(text: &str) -> String {
    text.replace("''", "'''").replace("${", "''${")
}

/// `text` as one shell word: bare when it is made of characters no shell treats
/// specially, else double-quoted with `\`, `"`, `$` and `` ` `` escaped.
pub fn shell_word(text: &str) -> String {
    let plain = |c: char| c.is_ascii_alphanumeric() || "_./=:@%+,-".contains(c);
    if !text.is_empty() && text.chars().all(plain) {
        return text.to_owned();
    }
    let mut out = String::from("\"");
    for c in text.chars() {
        if matches!(c, '\\' | '"' | '$' | '`') {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
    out
}

/// A Nix path expression for `relative` (from the expression's directory): a
/// path literal where Nix's grammar allows one (`./.`, `../..`, `./sub/dir`),
/// else `./.` plus a string. `None` for an absolute path or one with a
/// component that is not a name.
pub fn relative_path(relative: &Path) -> Option<String> {
    let mut parts = Vec::new();
    for component in relative.components() {
        match component {
            Component::CurDir => {}
            Component::ParentDir => parts.push("..".to_owned()),
            Component::Normal(name) => parts.push(name.to_str()?.to_owned()),
            Component::RootDir | Component::Prefix(_) => return None,
        }
    }
    let literal_ok = |part: &String| {
        part.chars()
            .all(|c| c.is_ascii_alphanumeric() || "._+-".contains(c))
    };
    Some(match parts.as_slice() {
        [] => "./.".to_owned(),
        // A path literal needs a slash: `..` alone is written `../.`.
        [only] if only == ".." => "../.".to_owned(),
        parts if parts.iter().all(literal_ok) => match parts[0].as_str() {
            ".." => parts.join("/"),
            _ => format!("./{}", parts.join("/")),
        },
        parts => format!("(./. + {})", string(&format!("/{}", parts.join("/")))),
    })
}

/// Whether `text` is a Nix attribute path made of plain identifiers, as
/// `libxml2`, `postgresql.pg_config` or `python3Packages.cython` are.
pub fn is_attribute_path(text: &str) -> bool {
    !text.is_empty()
        && text.split('.').all(|part| {
            let mut chars = part.chars();
            chars
                .next()
                .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
                && chars.all(|c| c.is_ascii_alphanumeric() || "_'-".contains(c))
        })
        && !text.split('.').any(|p| {
            matches!(
                p,
                "if" | "then"
                    | "else"
                    | "let"
                    | "in"
                    | "with"
                    | "rec"
                    | "inherit"
                    | "assert"
                    | "or"
            )
        })
}

/// Whether `text` may be the name of a store path: what Nix accepts after the
/// hash part.
pub fn is_store_name(text: &str) -> bool {
    !text.is_empty()
        && text.len() <= 211
        && !text.starts_with('.')
        && text
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "+-._?=".contains(c))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strings_cannot_be_ended_or_interpolated() {
        assert_eq!(string(r#"a"b\c${d}$e"#), r#""a\"b\\c\${d}$e""#);
        assert_eq!(string("two\nlines"), r#""two\nlines""#);
    }

    #[test]
    fn indented_strings_keep_their_text() {
        assert_eq!(indented("it''s ${x} $y"), "it'''s ''${x} $y");
    }

    #[test]
    fn shell_words_are_quoted_only_when_needed() {
        assert_eq!(shell_word("sub/uv.lock"), "sub/uv.lock");
        assert_eq!(shell_word("uv=0.9.5"), "uv=0.9.5");
        assert_eq!(shell_word("NIX_*"), "\"NIX_*\"");
        assert_eq!(shell_word("a b$c\"`d\\"), "\"a b\\$c\\\"\\`d\\\\\"");
        assert_eq!(shell_word(""), "\"\"");
    }

    #[test]
    fn relative_paths_are_literals_where_nix_allows() {
        let path = |p: &str| relative_path(Path::new(p));
        assert_eq!(path("").as_deref(), Some("./."));
        assert_eq!(path(".").as_deref(), Some("./."));
        assert_eq!(path("../..").as_deref(), Some("../.."));
        assert_eq!(path("..").as_deref(), Some("../."));
        assert_eq!(path("apps/web").as_deref(), Some("./apps/web"));
        assert_eq!(path("my app").as_deref(), Some("(./. + \"/my app\")"));
        assert_eq!(path("../${x}").as_deref(), Some("(./. + \"/../\\${x}\")"));
        assert_eq!(path("/abs"), None);
    }

    #[test]
    fn attribute_paths_are_identifiers() {
        assert!(is_attribute_path("postgresql.pg_config"));
        assert!(is_attribute_path("pkg-config"));
        assert!(!is_attribute_path("a b"));
        assert!(!is_attribute_path("x; y"));
        assert!(!is_attribute_path("with"));
        assert!(!is_attribute_path("1abc"));
        assert!(!is_attribute_path("a..b"));
    }

    #[test]
    fn store_names_are_what_nix_accepts() {
        assert!(is_store_name("hello-python-deps"));
        assert!(!is_store_name(".hidden"));
        assert!(!is_store_name("a/b"));
        assert!(!is_store_name("a b"));
    }
}
