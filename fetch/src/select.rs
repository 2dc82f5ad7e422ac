//! What the target needs: the walk `uv sync --frozen` does over the lock, from
//! the roots, evaluating each edge's marker where it is reached.

use std::collections::{BTreeSet, HashMap, VecDeque};
use std::str::FromStr;

use pep508_rs::MarkerTree;
use pep508_rs::pep440_rs::{Version, VersionSpecifiers};

use crate::FetchError;
use crate::lock::{Dependency, Lock, Package, SourceKind};
use crate::target::Target;

/// Which extras and groups, and which packages not to install; the defaults are
/// those of `uv sync --frozen --no-install-project --no-install-workspace --no-dev`.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct Selection {
    pub extras: Vec<String>,
    pub all_extras: bool,
    /// Groups besides the project's dependencies.
    pub groups: Vec<String>,
    /// Only these groups: not the project's own dependencies.
    pub only_groups: Vec<String>,
    pub no_install: Vec<String>,
    pub install_project: bool,
    pub install_workspace: bool,
}

/// The packages to install, by index into `lock.packages`, sorted by name and
/// version.
pub fn select(
    lock: &Lock,
    project: Option<&str>,
    target: &Target,
    selection: &Selection,
) -> Result<Vec<usize>, FetchError> {
    check_python(lock, target)?;
    check_supported(lock, target)?;
    if !lock.conflicts.is_empty() {
        return Err(FetchError::Unsupported(
            "locks with `conflicts` (mutually exclusive extras or groups) are not supported yet"
                .into(),
        ));
    }
    let graph = Graph::new(lock);
    let roots = roots(lock, &graph, project)?;
    let mut walk = Walk {
        lock,
        graph: &graph,
        target,
        seen: BTreeSet::new(),
        queue: VecDeque::new(),
    };
    let only_groups = !selection.only_groups.is_empty();
    for &root in &roots {
        walk.root(root, selection, only_groups)?;
    }
    // A workspace without a project: its manifest's requirements are roots too.
    if project.is_none() && !only_groups {
        for requirement in &lock.manifest.requirements {
            if !marker_holds(requirement.marker.as_deref(), target, &requirement.name)? {
                continue;
            }
            let index = graph.by_name_for_target(lock, &requirement.name, target)?;
            walk.push(index, None);
            for extra in &requirement.extras {
                walk.push(index, Some(extra.clone()));
            }
        }
    }
    walk.run()?;
    let reached: BTreeSet<usize> = walk.seen.iter().map(|(index, _)| *index).collect();
    Ok(installed(
        lock,
        reached,
        &roots,
        project.is_some(),
        selection,
    ))
}

/// Of the packages reached, those `uv sync` installs with this selection (no
/// virtual sources; the project and the members only when asked), by name.
fn installed(
    lock: &Lock,
    reached: BTreeSet<usize>,
    roots: &[usize],
    has_project: bool,
    selection: &Selection,
) -> Vec<usize> {
    let members: BTreeSet<&str> = lock.manifest.members.iter().map(String::as_str).collect();
    let mut chosen: Vec<usize> = reached
        .into_iter()
        .filter(|&index| {
            let package = &lock.packages[index];
            let kind = package.source.kind().map(|(k, _)| k);
            let is_project = roots.contains(&index) && has_project;
            let is_member = members.contains(package.name.as_str());
            kind != Some(SourceKind::Virtual)
                && (selection.install_project || !is_project)
                && (selection.install_workspace || !(is_member || is_project))
                && !selection
                    .no_install
                    .iter()
                    .any(|n| normalise(n) == normalise(&package.name))
        })
        .collect();
    chosen.sort_by(|a, b| {
        let (a, b) = (&lock.packages[*a], &lock.packages[*b]);
        (normalise(&a.name), &a.version).cmp(&(normalise(&b.name), &b.version))
    });
    chosen
}

struct Walk<'a> {
    lock: &'a Lock,
    graph: &'a Graph,
    target: &'a Target,
    seen: BTreeSet<(usize, Option<String>)>,
    queue: VecDeque<(usize, Option<String>)>,
}

impl Walk<'_> {
    /// A root: its dependencies (unless only groups are asked for), the extras and
    /// the groups selected.
    fn root(
        &mut self,
        root: usize,
        selection: &Selection,
        only_groups: bool,
    ) -> Result<(), FetchError> {
        let package = &self.lock.packages[root];
        self.seen.insert((root, None));
        if !only_groups {
            self.queue.push_back((root, None));
            let extras: Vec<&String> = if selection.all_extras {
                package.optional_dependencies.keys().collect()
            } else {
                selection
                    .extras
                    .iter()
                    .filter(|e| package.optional_dependencies.contains_key(*e))
                    .collect()
            };
            for extra in extras {
                self.push(root, Some(extra.clone()));
            }
        }
        let groups = if only_groups {
            &selection.only_groups
        } else {
            &selection.groups
        };
        for group in groups {
            for dependency in package.dev_dependencies.get(group).into_iter().flatten() {
                self.follow(package, dependency)?;
            }
        }
        Ok(())
    }

    fn push(&mut self, index: usize, extra: Option<String>) {
        if self.seen.insert((index, extra.clone())) {
            self.queue.push_back((index, extra));
        }
    }

    /// Follows one edge if its marker holds for the target.
    fn follow(&mut self, from: &Package, dependency: &Dependency) -> Result<(), FetchError> {
        if !marker_holds(dependency.marker.as_deref(), self.target, &from.name)? {
            return Ok(());
        }
        let index = self.graph.resolve(self.lock, from, dependency)?;
        self.push(index, None);
        for extra in &dependency.extra {
            self.push(index, Some(extra.clone()));
        }
        Ok(())
    }

    fn run(&mut self) -> Result<(), FetchError> {
        while let Some((index, extra)) = self.queue.pop_front() {
            let package = &self.lock.packages[index];
            let dependencies = match &extra {
                None => Some(&package.dependencies),
                Some(extra) => package.optional_dependencies.get(extra),
            };
            for dependency in dependencies.into_iter().flatten() {
                self.follow(package, dependency)?;
            }
        }
        Ok(())
    }
}

/// Packages by normalised name.
struct Graph {
    by_name: HashMap<String, Vec<usize>>,
}

impl Graph {
    fn new(lock: &Lock) -> Self {
        let mut by_name: HashMap<String, Vec<usize>> = HashMap::new();
        for (i, package) in lock.packages.iter().enumerate() {
            by_name.entry(normalise(&package.name)).or_default().push(i);
        }
        Graph { by_name }
    }

    /// The package an edge points at: by name, and by version and source when
    /// several packages share the name (uv writes both then).
    fn resolve(
        &self,
        lock: &Lock,
        from: &Package,
        dependency: &Dependency,
    ) -> Result<usize, FetchError> {
        let candidates = self
            .by_name
            .get(&normalise(&dependency.name))
            .map_or(&[][..], Vec::as_slice);
        let matching: Vec<usize> = candidates
            .iter()
            .copied()
            .filter(|&i| {
                let package = &lock.packages[i];
                dependency
                    .version
                    .as_ref()
                    .is_none_or(|v| package.version.as_ref() == Some(v))
                    && dependency
                        .source
                        .as_ref()
                        .is_none_or(|s| &package.source == s)
            })
            .collect();
        match matching.as_slice() {
            [one] => Ok(*one),
            [] => Err(FetchError::MissingPackage {
                from: from.name.clone(),
                name: dependency.name.clone(),
            }),
            _ => Err(FetchError::AmbiguousPackage {
                from: from.name.clone(),
                name: dependency.name.clone(),
            }),
        }
    }

    /// A package by name alone, where its fork's resolution markers hold.
    fn by_name_for_target(
        &self,
        lock: &Lock,
        name: &str,
        target: &Target,
    ) -> Result<usize, FetchError> {
        let candidates = self
            .by_name
            .get(&normalise(name))
            .map_or(&[][..], Vec::as_slice);
        let mut fitting = Vec::new();
        for &i in candidates {
            let markers = &lock.packages[i].resolution_markers;
            let mut holds = markers.is_empty();
            for marker in markers {
                holds |= marker_holds(Some(marker), target, name)?;
            }
            if holds {
                fitting.push(i);
            }
        }
        match fitting.as_slice() {
            [one] => Ok(*one),
            [] => Err(FetchError::MissingPackage {
                from: "the lock's [manifest]".into(),
                name: name.to_owned(),
            }),
            _ => Err(FetchError::AmbiguousPackage {
                from: "the lock's [manifest]".into(),
                name: name.to_owned(),
            }),
        }
    }
}

/// The roots: the project named in `pyproject.toml`, else the workspace members,
/// else the package whose source is the lock's own directory.
fn roots(lock: &Lock, graph: &Graph, project: Option<&str>) -> Result<Vec<usize>, FetchError> {
    let find = |name: &str| -> Result<usize, FetchError> {
        match graph.by_name.get(&normalise(name)).map(Vec::as_slice) {
            Some([one]) => Ok(*one),
            _ => Err(FetchError::MissingPackage {
                from: "the project".into(),
                name: name.to_owned(),
            }),
        }
    };
    if let Some(project) = project {
        return Ok(vec![find(project)?]);
    }
    if !lock.manifest.members.is_empty() {
        return lock.manifest.members.iter().map(|m| find(m)).collect();
    }
    let own: Vec<usize> = lock
        .packages
        .iter()
        .enumerate()
        .filter(|(_, p)| {
            matches!(
                p.source.kind(),
                Some((
                    SourceKind::Virtual | SourceKind::Editable | SourceKind::Directory,
                    "."
                ))
            )
        })
        .map(|(i, _)| i)
        .collect();
    Ok(own)
}

fn marker_holds(marker: Option<&str>, target: &Target, package: &str) -> Result<bool, FetchError> {
    let Some(marker) = marker else {
        return Ok(true);
    };
    let tree = MarkerTree::from_str(marker).map_err(|e| FetchError::Marker {
        package: package.to_owned(),
        marker: marker.to_owned(),
        detail: e.to_string(),
    })?;
    Ok(tree.evaluate(&target.markers, &[]))
}

fn check_python(lock: &Lock, target: &Target) -> Result<(), FetchError> {
    let Some(requires) = &lock.requires_python else {
        return Ok(());
    };
    let specifiers = VersionSpecifiers::from_str(requires).map_err(|e| FetchError::Marker {
        package: "requires-python".into(),
        marker: requires.clone(),
        detail: e.to_string(),
    })?;
    let version =
        Version::from_str(&target.python_full_version).map_err(|e| FetchError::Marker {
            package: "the target".into(),
            marker: target.python_full_version.clone(),
            detail: e.to_string(),
        })?;
    if !specifiers.contains(&version) {
        return Err(FetchError::PythonMismatch {
            python: target.python_full_version.clone(),
            requires: requires.clone(),
        });
    }
    Ok(())
}

fn check_supported(lock: &Lock, target: &Target) -> Result<(), FetchError> {
    if lock.supported_markers.is_empty() {
        return Ok(());
    }
    for marker in &lock.supported_markers {
        if marker_holds(Some(marker), target, "supported-markers")? {
            return Ok(());
        }
    }
    Err(FetchError::UnsupportedTarget {
        markers: lock.supported_markers.clone(),
        target: target
            .marker_values
            .iter()
            .map(|(k, v)| format!("{k}={v:?}"))
            .collect::<Vec<_>>()
            .join(", "),
    })
}

pub use pyfod_manifest::normalise_name as normalise;
