//! Which artifact of a package: the best wheel for the target's tags, or the
//! sdist when no wheel fits or the settings say so.

use std::str::FromStr;

use pyfod_manifest::{ArtifactChoice, GitReference, Source};

use crate::FetchError;
use crate::lock::{self, Package, SourceKind};
use crate::project::BinarySettings;
use crate::select::normalise;
use crate::tags::WheelFilename;
use crate::target::Target;

/// The artifact chosen for one package.
#[derive(Debug, Clone)]
pub struct Plan<'a> {
    pub package: &'a Package,
    pub source: Source,
    pub artifact: Planned<'a>,
    pub choice: ArtifactChoice,
}

#[derive(Debug, Clone)]
pub enum Planned<'a> {
    Wheel(&'a lock::Artifact),
    Sdist(&'a lock::Artifact),
    /// A git checkout or a local tree: not downloaded by URL.
    Tree,
}

impl Plan<'_> {
    /// `name==version <what>`: a line of `pyfod fetch --dry-run`.
    pub fn line(&self) -> String {
        let version = self.package.version.as_deref().unwrap_or("(dynamic)");
        let what = match (&self.artifact, &self.source) {
            (Planned::Wheel(a) | Planned::Sdist(a), _) => a.file_name().unwrap_or("?").to_owned(),
            (Planned::Tree, Source::Git { commit, .. }) => format!("git {commit}"),
            (Planned::Tree, Source::Directory { path } | Source::Editable { path }) => path.clone(),
            (Planned::Tree, other) => other.kind().to_owned(),
        };
        format!("{}=={version} {what}", self.package.name)
    }
}

pub fn choose<'a>(
    package: &'a Package,
    target: &Target,
    settings: &BinarySettings,
) -> Result<Plan<'a>, FetchError> {
    let source = source_of(package)?;
    let name = normalise(&package.name);
    let named = |list: &[String]| list.iter().any(|n| normalise(n) == name);
    if matches!(
        source,
        Source::Git { .. } | Source::Directory { .. } | Source::Editable { .. }
    ) {
        return Ok(Plan {
            package,
            source,
            artifact: Planned::Tree,
            choice: ArtifactChoice::SourceTree,
        });
    }
    let no_binary = settings.no_binary || named(&settings.no_binary_package);
    let no_build = settings.no_build || named(&settings.no_build_package);
    if !no_binary && let Some((rank, tag, wheel)) = best_wheel(package, target)? {
        return Ok(Plan {
            package,
            source,
            artifact: Planned::Wheel(wheel),
            choice: ArtifactChoice::BestWheel { tag, rank },
        });
    }
    // A path or URL source's sdist is the source itself: the lock gives its hash only.
    let located_by_source = matches!(source, Source::Path { .. } | Source::Url { .. });
    let Some(sdist) = package
        .sdist
        .as_ref()
        .filter(|s| s.url.is_some() || s.path.is_some() || located_by_source)
    else {
        return Err(FetchError::NoArtifact {
            package: package.name.clone(),
            version: package.version.clone().unwrap_or_default(),
            wheels: package
                .wheels
                .iter()
                .filter_map(|w| w.file_name().map(str::to_owned))
                .collect(),
            best_tags: target.tags.to_strings().into_iter().take(3).collect(),
        });
    };
    if no_build {
        return Err(FetchError::NoBuild {
            package: package.name.clone(),
            best_tags: target.tags.to_strings().into_iter().take(3).collect(),
            tags: target.tags.len(),
        });
    }
    Ok(Plan {
        package,
        source,
        artifact: Planned::Sdist(sdist),
        choice: if no_binary {
            ArtifactChoice::NoBinary
        } else {
            ArtifactChoice::NoCompatibleWheel
        },
    })
}

/// The wheel whose best tag ranks highest for the target, with that rank and tag.
fn best_wheel<'a>(
    package: &'a Package,
    target: &Target,
) -> Result<Option<(u32, String, &'a lock::Artifact)>, FetchError> {
    let mut best: Option<(u32, String, &lock::Artifact)> = None;
    for wheel in &package.wheels {
        let Some(filename) = wheel.file_name() else {
            continue;
        };
        let parsed =
            WheelFilename::from_str(filename).map_err(|detail| FetchError::BadArtifact {
                package: package.name.clone(),
                detail,
            })?;
        if let Some((rank, tag)) = target.tags.rank(&parsed)
            && best.as_ref().is_none_or(|(r, _, _)| rank < *r)
        {
            best = Some((rank, tag, wheel));
        }
    }
    Ok(best)
}

/// The lock's source, as the manifest records it.
pub fn source_of(package: &Package) -> Result<Source, FetchError> {
    let (kind, value) = package
        .source
        .kind()
        .ok_or_else(|| FetchError::BadArtifact {
            package: package.name.clone(),
            detail: "its source has no kind".into(),
        })?;
    let value = value.to_owned();
    Ok(match kind {
        SourceKind::Registry => Source::Registry {
            index: without_credentials(&value),
        },
        SourceKind::Url => Source::Url {
            url: without_credentials(&value),
            subdirectory: package.source.subdirectory.clone(),
        },
        SourceKind::Path => Source::Path { path: value },
        SourceKind::Directory => Source::Directory { path: value },
        SourceKind::Editable => Source::Editable { path: value },
        SourceKind::Virtual => Source::Virtual { path: value },
        SourceKind::Git => parse_git(&value).ok_or_else(|| FetchError::BadArtifact {
            package: package.name.clone(),
            detail: format!(
                "the git source `{}` does not end in #<the full commit hash, 40 or 64 hex digits>, or names its repository in a way git would take for an option; run `uv lock` again",
                without_credentials(&value)
            ),
        })?,
    })
}

/// `<repo>?rev=…|tag=…|branch=…[&subdirectory=…]#<commit>`.
fn parse_git(value: &str) -> Option<Source> {
    let (rest, commit) = value.rsplit_once('#')?;
    // The commit names a directory of the store: a hash, nothing else.
    let full_hash = matches!(commit.len(), 40 | 64)
        && commit
            .bytes()
            .all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
    let (repository, query) = rest.split_once('?').unwrap_or((rest, ""));
    // A repository git would read as an option, or a transport that runs commands.
    if !full_hash || repository.starts_with('-') || repository.starts_with("ext::") {
        return None;
    }
    let mut reference = GitReference::DefaultBranch;
    let mut subdirectory = None;
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        match pair.split_once('=') {
            Some(("rev", v)) => reference = GitReference::Rev(v.to_owned()),
            Some(("tag", v)) => reference = GitReference::Tag(v.to_owned()),
            Some(("branch", v)) => reference = GitReference::Branch(v.to_owned()),
            Some(("subdirectory", v)) => subdirectory = Some(v.to_owned()),
            _ => {}
        }
    }
    Some(Source::Git {
        repository: without_credentials(repository),
        reference,
        commit: commit.to_owned(),
        subdirectory,
    })
}

/// A URL with any `user:password@` removed: manifests are shared, secrets not.
pub fn without_credentials(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let host_end = rest.find('/').unwrap_or(rest.len());
    match rest[..host_end].rfind('@') {
        Some(at) => format!("{scheme}://{}", &rest[at + 1..]),
        None => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_git_source_must_name_a_full_commit_and_a_repository() {
        let commit = "3127df0b308938faaa52dcaab9f661fa837ab5d0";
        assert!(parse_git(&format!("https://h/r?rev=main#{commit}")).is_some());
        for bad in [
            "https://h/r#../../../tmp/x".to_owned(),
            "https://h/r#main".to_owned(),
            format!("https://h/r#{}", commit.to_uppercase()),
            format!("--upload-pack=touch /tmp/x#{commit}"),
            format!("ext::sh -c touch% /tmp/x#{commit}"),
        ] {
            assert!(parse_git(&bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn credentials_never_reach_the_manifest() {
        assert_eq!(
            without_credentials("https://user:secret@mirror.example/simple"),
            "https://mirror.example/simple"
        );
        assert_eq!(
            without_credentials("http://127.0.0.1:8/a@b"),
            "http://127.0.0.1:8/a@b"
        );
        assert_eq!(without_credentials("../wheels"), "../wheels");
    }

    #[test]
    fn git_sources() {
        let source = parse_git(
            "file:///srv/repo?tag=v1&subdirectory=py#0123456789abcdef0123456789abcdef01234567",
        )
        .unwrap();
        assert_eq!(
            source,
            Source::Git {
                repository: "file:///srv/repo".into(),
                reference: GitReference::Tag("v1".into()),
                commit: "0123456789abcdef0123456789abcdef01234567".into(),
                subdirectory: Some("py".into()),
            }
        );
        assert!(parse_git("file:///srv/repo").is_none());
    }
}
