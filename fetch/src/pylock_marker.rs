//! A `pylock.toml` package marker: PEP 508 with two set-valued variables,
//! `extras` and `dependency_groups`, tested as `'name' in extras` or
//! `'name' not in dependency_groups` (exact, case-sensitive).
//!
//! pep508_rs does not know those variables (it refuses them, and would drop
//! `'x' in extra` as always true), so each such test is rewritten before
//! parsing into `extra == 'pylockN'` / `extra != 'pylockN'`, one N per
//! (variable, name); the names the selection activates are then passed as the
//! extras of the evaluation. The bare `extra` variable, which a lock file may
//! not use, is refused, so the rewrite cannot collide with it.

use std::str::FromStr;

use pep508_rs::{ExtraName, MarkerTree};

use crate::target::Target;

/// A parsed marker, and which placeholder stands for which test.
#[derive(Debug, Clone)]
pub struct LockMarker {
    tree: MarkerTree,
    /// (variable, name) of placeholder N, at index N.
    tests: Vec<(Variable, String)>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Variable {
    Extras,
    Groups,
}

#[derive(Debug)]
enum Token<'a> {
    Quoted { value: &'a str, start: usize },
    Word { text: &'a str, end: usize },
    Other,
}

fn tokens(text: &str) -> Result<Vec<Token<'_>>, String> {
    let bytes = text.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        let c = bytes[i];
        if c == b'\'' || c == b'"' {
            let close = text[i + 1..]
                .find(c as char)
                .ok_or_else(|| format!("an unclosed quote at {i}"))?;
            out.push(Token::Quoted {
                value: &text[i + 1..i + 1 + close],
                start: i,
            });
            i += close + 2;
        } else if c.is_ascii_alphanumeric() || c == b'_' || c == b'.' {
            let start = i;
            while i < bytes.len()
                && (bytes[i].is_ascii_alphanumeric() || bytes[i] == b'_' || bytes[i] == b'.')
            {
                i += 1;
            }
            out.push(Token::Word {
                text: &text[start..i],
                end: i,
            });
        } else {
            if !c.is_ascii_whitespace() {
                out.push(Token::Other);
            }
            i += 1;
        }
    }
    Ok(out)
}

impl LockMarker {
    pub fn parse(text: &str) -> Result<LockMarker, String> {
        let tokens = tokens(text)?;
        let mut tests: Vec<(Variable, String)> = Vec::new();
        let mut rewritten = String::new();
        let mut copied = 0;
        let mut i = 0;
        while i < tokens.len() {
            let variable = |token: &Token<'_>| match token {
                Token::Word {
                    text: "extras",
                    end,
                    ..
                } => Some((Variable::Extras, *end)),
                Token::Word {
                    text: "dependency_groups",
                    end,
                    ..
                } => Some((Variable::Groups, *end)),
                _ => None,
            };
            let word = |token: Option<&Token<'_>>, want: &str| matches!(token, Some(Token::Word { text, .. }) if *text == want);
            if let Token::Quoted { value, start } = &tokens[i] {
                let negated = word(tokens.get(i + 1), "not");
                let at = i + 1 + usize::from(negated);
                if word(tokens.get(at), "in")
                    && let Some((variable, end)) = tokens.get(at + 1).and_then(variable)
                {
                    let n = match tests
                        .iter()
                        .position(|(v, name)| *v == variable && name == value)
                    {
                        Some(n) => n,
                        None => {
                            tests.push((variable, (*value).to_owned()));
                            tests.len() - 1
                        }
                    };
                    rewritten.push_str(&text[copied..*start]);
                    let operator = if negated { "!=" } else { "==" };
                    rewritten.push_str(&format!("extra {operator} 'pylock{n}'"));
                    copied = end;
                    i = at + 2;
                    continue;
                }
            }
            match &tokens[i] {
                Token::Word { text: "extra", .. } => {
                    return Err("the `extra` variable is not defined in a lock file; use `'name' in extras`".into());
                }
                token if variable(token).is_some() => {
                    return Err("`extras` and `dependency_groups` may only be tested as `'name' in …` or `'name' not in …`".into());
                }
                _ => {}
            }
            i += 1;
        }
        rewritten.push_str(&text[copied..]);
        let tree = MarkerTree::from_str(&rewritten).map_err(|e| e.to_string())?;
        Ok(LockMarker { tree, tests })
    }

    /// Whether the marker holds for `target` with these extras and groups selected.
    pub fn evaluate(&self, target: &Target, extras: &[String], groups: &[String]) -> bool {
        let active: Vec<ExtraName> = self
            .tests
            .iter()
            .enumerate()
            .filter(|(_, (variable, name))| match variable {
                Variable::Extras => extras.contains(name),
                Variable::Groups => groups.contains(name),
            })
            .map(|(n, _)| ExtraName::from_str(&format!("pylock{n}")).expect("a valid extra name"))
            .collect();
        self.tree.evaluate(&target.markers, &active)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target() -> Target {
        Target::explicit("python=3.11,platform=manylinux_2_17_x86_64").unwrap()
    }

    fn holds(marker: &str, extras: &[&str], groups: &[&str]) -> bool {
        let own = |l: &[&str]| l.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
        LockMarker::parse(marker)
            .unwrap()
            .evaluate(&target(), &own(extras), &own(groups))
    }

    #[test]
    fn set_variables_are_tested_exactly() {
        assert!(holds("'x' in extras", &["x"], &[]));
        assert!(
            !holds("'x' in extras", &[], &["x"]),
            "a group is not an extra"
        );
        assert!(
            !holds("'X' in extras", &["x"], &[]),
            "exact, case-sensitive"
        );
        assert!(holds("'dev' not in dependency_groups", &[], &["docs"]));
        assert!(!holds("\"dev\" not in dependency_groups", &[], &["dev"]));
        assert!(holds(
            "('x' in extras or 'dev' in dependency_groups) and sys_platform == 'linux'",
            &[],
            &["dev"]
        ));
        assert!(!holds(
            "'x' in extras and sys_platform == 'win32'",
            &["x"],
            &[]
        ));
        // A quoted `in extras` is a string, not a test.
        assert!(holds("platform_release != 'a in extras'", &[], &[]));
    }

    #[test]
    fn what_a_lock_may_not_say_is_refused() {
        for marker in [
            "extra == 'x'",
            "extras == 'x'",
            "'x' in extras or dependency_groups",
        ] {
            assert!(LockMarker::parse(marker).is_err(), "{marker}");
        }
    }
}
