//! `pyfod build-sdist` on real sources: a setuptools C extension linking zlib, a
//! flit_core package, a git repository, locked by the real `uv lock` against the
//! test index and built with build tools realised from a build lock.

use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use pyfod_manifest::{Manifest, WheelOrigin, WheelsManifest};
use pyfod_tests::index::PackageIndex;
use pyfod_tests::oracle::tool_available;
use pyfod_tests::sources::{add_build_tools, git_repository, pack_sdist};
use pyfod_tests::uvproject::uv_ok;

struct Project {
    _tmp: tempfile::TempDir,
    dir: PathBuf,
    app: PathBuf,
    index: PackageIndex,
}

/// A project depending on `sdists` (fixture source, name, version) and, with
/// `git`, on `gitpkg` from a local repository; its uv.lock, a build lock of
/// setuptools and flit_core, and a pyfod.toml of `[build]` plus `config`.
fn project(test: &str, sdists: &[(&str, &str, &str)], git: bool, config: &str) -> Option<Project> {
    project_with(test, sdists, git, config, |_| Vec::new())
}

/// [`project`] with more distributions on its index: `more` writes them into
/// the directory it is given and names the project's dependencies among them.
fn project_with(
    test: &str,
    sdists: &[(&str, &str, &str)],
    git: bool,
    config: &str,
    more: impl FnOnce(&Path) -> Vec<&'static str>,
) -> Option<Project> {
    if !(tool_available("uv", test) && tool_available("git", test)) {
        return None;
    }
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().to_path_buf();
    let dists = dir.join("dists");
    fs::create_dir_all(&dists).unwrap();
    if !add_build_tools(&dists, test) {
        return None;
    }
    let mut dependencies = Vec::new();
    for (source, name, version) in sdists {
        pack_sdist(source, name, version, &dists);
        dependencies.push(format!("\"{name}\""));
    }
    dependencies.extend(more(&dists).into_iter().map(|name| format!("\"{name}\"")));
    let mut sources = String::new();
    if git {
        let repo = dir.join("gitpkg-repo");
        git_repository("gitpkg", &repo);
        dependencies.push("\"gitpkg\"".into());
        sources = format!(
            "\n[tool.uv.sources]\ngitpkg = {{ git = \"file://{}\", branch = \"main\" }}\n",
            repo.display()
        );
    }
    let index = PackageIndex::serve(&dists).unwrap();
    let app = dir.join("app");
    let build = app.join("build");
    fs::create_dir_all(&build).unwrap();
    fs::write(
        app.join("pyproject.toml"),
        format!(
            "[project]\nname = \"app\"\nversion = \"0.1.0\"\nrequires-python = \">=3.11\"\n\
             dependencies = [{}]\n\n[tool.uv]\npackage = false\n{sources}",
            dependencies.join(", ")
        ),
    )
    .unwrap();
    fs::write(
        build.join("pyproject.toml"),
        "[project]\nname = \"build-tools\"\nversion = \"0\"\nrequires-python = \">=3.11\"\n\
         dependencies = [\"setuptools\", \"flit_core\"]\n\n[tool.uv]\npackage = false\n",
    )
    .unwrap();
    let cache = dir.join("uv-cache");
    for root in [&app, &build] {
        uv_ok(
            root,
            &cache,
            &["lock", "--index-url", &index.url(), "--python", "python3"],
        );
    }
    fs::write(
        app.join("pyfod.toml"),
        format!("[build]\nlock = \"build/uv.lock\"\n{config}"),
    )
    .unwrap();
    Some(Project {
        _tmp: tmp,
        dir,
        app,
        index,
    })
}

impl Project {
    fn pyfod(&self, store: &Path, args: &[&dyn AsRef<std::ffi::OsStr>]) -> Output {
        assert_cmd::Command::cargo_bin("pyfod")
            .unwrap()
            .arg("--store")
            .arg(store)
            .args(args)
            .output()
            .unwrap()
    }

    fn pyfod_ok(&self, store: &Path, args: &[&dyn AsRef<std::ffi::OsStr>]) -> String {
        let output = self.pyfod(store, args);
        let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
        assert!(
            output.status.success(),
            "pyfod {:?}: {stderr}",
            args.iter().map(|a| a.as_ref()).collect::<Vec<_>>()
        );
        stderr
    }

    /// The project's fetch manifest and the build environment's install manifest.
    fn fetch(&self, store: &Path) -> (PathBuf, PathBuf) {
        let out = self.dir.join(format!(
            "manifests-{}",
            store.file_name().unwrap().to_string_lossy()
        ));
        fs::create_dir_all(&out).unwrap();
        let (fetch, build_fetch, build_env) = (
            out.join("fetch.manifest"),
            out.join("build-fetch.manifest"),
            out.join("build-env.manifest"),
        );
        for (lock, manifest) in [
            (self.app.join("uv.lock"), &fetch),
            (self.app.join("build/uv.lock"), &build_fetch),
        ] {
            self.pyfod_ok(
                store,
                &[
                    &"fetch",
                    &"--python",
                    &"python3",
                    &"--lock",
                    &lock,
                    &"--manifest",
                    manifest,
                ],
            );
        }
        self.pyfod_ok(
            store,
            &[
                &"install",
                &"--python",
                &"python3",
                &"--in",
                &build_fetch,
                &"--manifest",
                &build_env,
            ],
        );
        (fetch, build_env)
    }

    fn build_sdist(
        &self,
        store: &Path,
        fetch: &Path,
        env: &Path,
        wheels: &Path,
        extra: &[&str],
    ) -> Output {
        let config = self.app.join("pyfod.toml");
        let mut args: Vec<&dyn AsRef<std::ffi::OsStr>> = vec![
            &"build-sdist",
            &"--in",
            &fetch,
            &"--build-env",
            &env,
            &"--config",
            &config,
            &"--manifest",
            &wheels,
        ];
        for arg in extra {
            args.push(arg);
        }
        self.pyfod(store, &args)
    }
}

fn wheels(path: &Path) -> WheelsManifest {
    WheelsManifest::decode(&fs::read(path).unwrap()).unwrap().1
}

fn member(wheel: &Path, suffix: &str) -> Vec<u8> {
    let mut archive = zip::ZipArchive::new(fs::File::open(wheel).unwrap()).unwrap();
    let name = archive
        .file_names()
        .flatten()
        .find(|n| n.ends_with(suffix))
        .unwrap_or_else(|| panic!("{} has no {suffix}", wheel.display()))
        .into_owned();
    let mut bytes = Vec::new();
    archive
        .by_name(&name)
        .unwrap()
        .read_to_end(&mut bytes)
        .unwrap();
    bytes
}

#[test]
fn sdists_and_git_trees_build_reproducibly_into_wheels_that_import() {
    let Some(project) = project(
        "sdists_and_git_trees_build",
        &[
            ("zlibext", "zlibext", "1.0"),
            ("flitpure", "flitpure", "2.0"),
        ],
        true,
        "[build.packages.zlibext]\nenv = { CFLAGS = \"-DPYFOD_ANSWER=42\" }\n",
    ) else {
        return;
    };
    let store = project.dir.join("store-one");
    let (fetch, env) = project.fetch(&store);
    let wheels_path = project.dir.join("wheels.manifest");
    let output = project.build_sdist(&store, &fetch, &env, &wheels_path, &[]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    let first = wheels(&wheels_path);
    let names: Vec<&str> = first.wheels.iter().map(|w| w.name.as_str()).collect();
    assert!(
        names.contains(&"zlibext") && names.contains(&"flitpure") && names.contains(&"gitpkg"),
        "{names:?}"
    );
    for wheel in &first.wheels {
        if ["zlibext", "flitpure", "gitpkg"].contains(&wheel.name.as_str()) {
            assert!(
                matches!(wheel.origin, WheelOrigin::Built { .. }),
                "{wheel:?}"
            );
        }
    }

    // The venv made from them imports each, and the C extension has its flag.
    let venv = project.dir.join("venv");
    project.pyfod_ok(
        &store,
        &[
            &"install",
            &"--python",
            &"python3",
            &"--in",
            &wheels_path,
            &"--out",
            &venv,
        ],
    );
    let check = "import zlib, zlibext, flitpure, gitpkg\n\
                 assert zlibext.answer() == 42, zlibext.answer()\n\
                 assert zlibext.twin() == 2\n\
                 assert zlibext.crc32(b'pyfod') == zlib.crc32(b'pyfod')\n\
                 assert zlibext.zlib_version()\n\
                 assert flitpure.GREETING == 'hello from flit'\n\
                 assert gitpkg.ORIGIN == 'git'\n";
    let output = Command::new(venv.join("bin/python"))
        .args(["-c", check])
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );

    // The git package says where it came from, as uv says it (PEP 610).
    let site = venv.join("lib/python3.11/site-packages");
    let direct_url = fs::read_to_string(site.join("gitpkg-0.3.dist-info/direct_url.json")).unwrap();
    let repo = project.dir.join("gitpkg-repo");
    let commit = String::from_utf8(
        Command::new("git")
            .args(["rev-parse", "HEAD"])
            .current_dir(&repo)
            .output()
            .unwrap()
            .stdout,
    )
    .unwrap();
    assert_eq!(
        direct_url,
        format!(
            "{{\"url\":\"file://{}\",\"vcs_info\":{{\"vcs\":\"git\",\"commit_id\":\"{}\",\"requested_revision\":\"main\"}}}}",
            repo.display(),
            commit.trim()
        )
    );
    assert!(
        !site.join("zlibext-1.0.dist-info/direct_url.json").exists(),
        "registry packages have none"
    );

    // Nothing of where it was built is in the extension.
    let zlibext = first.wheels.iter().find(|w| w.name == "zlibext").unwrap();
    let wheel_file = store
        .join("blobs/sha256")
        .join(zlibext.wheel.sha256.to_hex());
    let so = member(&wheel_file, ".so");
    let needle = store.to_string_lossy().into_owned();
    assert!(
        !so.windows(needle.len()).any(|w| w == needle.as_bytes()),
        "the .so names the build directory"
    );

    // The log shows the compiler's command lines: the interpreter's flags kept
    // (setuptools would drop them), the build path mapped, then the package's.
    let WheelOrigin::Built { log: Some(log), .. } = &zlibext.origin else {
        panic!("{zlibext:?}");
    };
    let log = fs::read_to_string(store.join("blobs/sha256").join(log.to_hex())).unwrap();
    let compile = log
        .lines()
        .find(|l| l.contains("_z.c") && l.contains(" -c "))
        .unwrap_or_else(|| panic!("no compiler line in:\n{log}"));
    let at = |flag: &str| {
        compile
            .find(flag)
            .unwrap_or_else(|| panic!("{flag} not in {compile}"))
    };
    assert!(
        at("-O3") < at("-ffile-prefix-map=") && at("-g0") < at("-DPYFOD_ANSWER=42"),
        "{compile}"
    );

    // Built again in another store (another build directory), seconds later: the
    // same wheels, byte for byte.
    let other = project.dir.join("store-two");
    let (fetch_two, env_two) = project.fetch(&other);
    let wheels_two = project.dir.join("wheels-two.manifest");
    let output = project.build_sdist(&other, &fetch_two, &env_two, &wheels_two, &[]);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let second = wheels(&wheels_two);
    for (a, b) in first.wheels.iter().zip(&second.wheels) {
        assert_eq!(
            (&a.name, a.wheel.sha256),
            (&b.name, b.wheel.sha256),
            "{} differs",
            a.name
        );
    }

    // Asked again: every build is found in the store.
    let output = project.build_sdist(&store, &fetch, &env, &wheels_path, &[]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    assert!(stderr.contains("3 cached"), "{stderr}");

    // --check builds each twice and finds them equal.
    let output = project.build_sdist(&store, &fetch, &env, &wheels_path, &["--check"]);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
}

/// One source built alone by `pyfod build-sdist` with `extra` flags: the
/// project, its store, the exit code and stderr.
fn build_alone(
    test: &str,
    source: &str,
    config: &str,
    extra: &[&str],
) -> Option<(Project, PathBuf, Option<i32>, String)> {
    let project = project(test, &[(source, source, "1.0")], false, config)?;
    let store = project.dir.join("store");
    let (fetch, env) = project.fetch(&store);
    let wheels = project.dir.join("wheels.manifest");
    let output = project.build_sdist(&store, &fetch, &env, &wheels, extra);
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    Some((project, store, output.status.code(), stderr))
}

/// A failure, as data: the source, its config, the flags, the exit code, and
/// what the message must say.
type Failure<'a> = (&'a str, &'a str, &'a [&'a str], i32, &'a [&'a str]);

#[test]
fn failures_say_what_where_and_what_to_do() {
    let cases: &[Failure<'_>] = &[
        // A backend that writes the time: --check names the member and byte.
        (
            "stamped",
            "",
            &["--check"],
            104,
            &[
                "stamped 1.0 is not reproducible",
                "stamped/__init__.py from byte",
            ],
        ),
        // A requirement the build lock lacks: the package, the requirement, the lock.
        (
            "needscython",
            "",
            &[],
            1,
            &["needscython needs cython>=3 to build", "build/uv.lock"],
        ),
        // A header that is not there: named as such, with the log's tail and path.
        (
            "zlibext",
            "[build.packages.zlibext]\nenv = { CFLAGS = \"-include pyfod_absent/absent.h\" }\n",
            &[],
            1,
            &[
                "building zlibext 1.0 failed in build_wheel",
                "the header `pyfod_absent/absent.h` is missing",
                "--- last lines of the build log ---",
                "logs/zlibext-1.0.log",
            ],
        ),
        // A compiler cache that is not ccache, or not there: the setting, what
        // was found, what to do.
        (
            "manyext",
            "compiler-cache = \"gcc\"\n",
            &[],
            1,
            &[
                "[build] compiler-cache = \"gcc\"",
                "is not ccache (it says \"gcc",
                "install ccache",
            ],
        ),
        (
            "manyext",
            "compiler-cache = \"pyfod-no-such-cache\"\n",
            &[],
            1,
            &["it is not on the builds' PATH", "or remove the setting"],
        ),
    ];
    for (source, config, extra, code, said) in cases {
        let Some((_project, store, got, stderr)) =
            build_alone("failures_say_what", source, config, extra)
        else {
            return;
        };
        assert_eq!(got, Some(*code), "{source}: {stderr}");
        for text in *said {
            assert!(
                stderr.contains(text),
                "{source}: `{text}` not in:\n{stderr}"
            );
        }
        if *source == "zlibext" {
            let log = fs::read_to_string(store.join("logs/zlibext-1.0.log")).unwrap();
            assert!(log.contains("fatal error"), "{log}");
        }
    }
}

#[test]
fn without_check_a_time_stamping_build_passes() {
    // The difference is the package's, not pyfod's: it builds, and only --check objects.
    let Some((_, _, code, stderr)) = build_alone("time_stamping_build_passes", "stamped", "", &[])
    else {
        return;
    };
    assert_eq!(code, Some(0), "{stderr}");
}

/// setuptools compiles a package's extension modules `--jobs` at a time (through
/// `DIST_EXTRA_CONFIG`), or one at a time with `parallel-extensions = false`:
/// the same wheel, byte for byte, either way.
#[test]
fn extension_modules_compile_in_parallel_into_the_same_wheel() {
    let test = "extension_modules_compile_in_parallel";
    let built = |config: &str, jobs: &str| {
        let (project, store, code, stderr) =
            build_alone(test, "zlibext", config, &["--jobs", jobs])?;
        assert_eq!(code, Some(0), "{stderr}");
        let manifest = wheels(&project.dir.join("wheels.manifest"));
        let wheel = manifest
            .wheels
            .iter()
            .find(|w| w.name == "zlibext")
            .unwrap();
        let WheelOrigin::Built { log: Some(log), .. } = &wheel.origin else {
            panic!("{wheel:?}");
        };
        let log = fs::read_to_string(store.join("blobs/sha256").join(log.to_hex())).unwrap();
        let said = log
            .lines()
            .find_map(|l| l.strip_prefix("build_ext parallel: "))
            .unwrap_or_else(|| panic!("build_ext said nothing in:\n{log}"))
            .to_owned();
        Some((wheel.wheel.sha256, said))
    };
    let Some((serial, one)) = built("", "1") else {
        return;
    };
    let Some((parallel, two)) = built("", "2") else {
        return;
    };
    let Some((off, none)) = built("parallel-extensions = false\n", "2") else {
        return;
    };
    assert_eq!(
        (one.as_str(), two.as_str(), none.as_str()),
        ("1", "2", "None")
    );
    assert_eq!(serial, parallel, "parallel compiles changed the wheel");
    assert_eq!(serial, off);
}

/// `[build] compiler-cache = "ccache"`: when only the build environment changed
/// (flit_core leaves the build lock), the rebuild takes every object from the
/// cache, and its wheel is the one a store without the cache builds, byte for
/// byte. `--check` compiles: the cache is not used.
#[test]
fn a_compiler_cache_reuses_objects_when_only_the_build_environment_changed() {
    let test = "compiler_cache";
    if !tool_available("ccache", test) {
        return;
    }
    let Some(project) = project(
        test,
        &[("manyext", "manyext", "1.0")],
        false,
        "compiler-cache = \"ccache\"\n",
    ) else {
        return;
    };
    let build = |store: &Path, extra: &[&str]| {
        let (fetch, env) = project.fetch(store);
        let out = project.dir.join("wheels.manifest");
        let output = project.build_sdist(store, &fetch, &env, &out, extra);
        let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
        assert!(output.status.success(), "{stderr}");
        let manifest = wheels(&out);
        let wheel = manifest
            .wheels
            .iter()
            .find(|w| w.name == "manyext")
            .unwrap();
        (wheel.wheel.sha256, stderr)
    };
    let store = project.dir.join("store");
    let (first, said) = build(&store, &["-v"]);
    assert!(
        said.contains("manyext 1.0: 0/4 compilations from the cache"),
        "{said}"
    );
    // The header's path, found through an absolute include directory, as the
    // prefix map writes it: a cache that made paths relative would change it.
    let module = member(&store.join("blobs/sha256").join(first.to_hex()), ".so");
    let header = b"/build/manyext-1.0/src/include/manyext_module.h\0";
    assert!(module.windows(header.len()).any(|w| w == header));

    let build_project = project.app.join("build/pyproject.toml");
    let text = fs::read_to_string(&build_project).unwrap();
    fs::write(&build_project, text.replace(", \"flit_core\"", "")).unwrap();
    uv_ok(
        &project.app.join("build"),
        &project.dir.join("uv-cache"),
        &[
            "lock",
            "--index-url",
            &project.index.url(),
            "--python",
            "python3",
        ],
    );
    let (second, said) = build(&store, &["-v"]);
    assert!(
        said.contains("manyext 1.0: 4/4 compilations from the cache"),
        "{said}"
    );
    assert_eq!(first, second, "objects from the cache changed the wheel");

    let (checked, said) = build(&store, &["-v", "--check"]);
    assert!(
        !said.contains("from the cache"),
        "--check used the cache: {said}"
    );
    assert_eq!(checked, first);

    let config = project.app.join("pyfod.toml");
    let text = fs::read_to_string(&config).unwrap();
    fs::write(&config, text.replace("compiler-cache = \"ccache\"\n", "")).unwrap();
    let (without, said) = build(&project.dir.join("store-without"), &["-v"]);
    assert!(!said.contains("from the cache"), "{said}");
    assert_eq!(without, first, "the cache's wheel is not the compiler's");
}

/// `--jobs` is the total: two builds of four extension modules each, with
/// `--jobs 2`, never run more than two compilers at once (each build alone
/// would run two), and do run two. The compiler is a wrapper that notes when
/// each compile starts and ends, and takes long enough to overlap.
#[test]
fn jobs_bounds_the_compilers_of_all_builds_together() {
    use std::os::unix::fs::PermissionsExt;
    let test = "jobs_bounds_the_compilers";
    let tmp = tempfile::tempdir().unwrap();
    let events = tmp.path().join("compiles");
    let compiler = tmp.path().join("slow-cc");
    fs::write(
        &compiler,
        format!(
            "#!/bin/sh\ncase \"$*\" in *' -c '*) ;; *) exec cc \"$@\" ;; esac\n\
             echo \"start $(date +%s.%N)\" >> {events}\nsleep 1\ncc \"$@\"; status=$?\n\
             echo \"end $(date +%s.%N)\" >> {events}\nexit $status\n",
            events = events.display()
        ),
    )
    .unwrap();
    fs::set_permissions(&compiler, fs::Permissions::from_mode(0o755)).unwrap();
    let config = format!("[build.env]\nCC = \"{}\"\n", compiler.display());
    let Some(project) = project(
        test,
        &[
            ("manyext", "manyext-a", "1.0"),
            ("manyext", "manyext-b", "1.0"),
        ],
        false,
        &config,
    ) else {
        return;
    };
    let store = project.dir.join("store");
    let (fetch, env) = project.fetch(&store);
    let wheels = project.dir.join("wheels.manifest");
    let output = project.build_sdist(&store, &fetch, &env, &wheels, &["--jobs", "2"]);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let mut marks: Vec<(f64, i32)> = fs::read_to_string(&events)
        .unwrap()
        .lines()
        .map(|line| {
            let (what, at) = line.split_once(' ').unwrap();
            (at.parse().unwrap(), if what == "start" { 1 } else { -1 })
        })
        .collect();
    assert_eq!(marks.len(), 16, "eight compiles, each started and ended");
    // Ends before starts at the same instant: a token passed on is not an overlap.
    marks.sort_by(|a, b| a.partial_cmp(b).unwrap());
    let (mut running, mut most) = (0, 0);
    for (_, step) in marks {
        running += step;
        most = most.max(running);
    }
    assert_eq!(most, 2, "compilers at once with --jobs 2");
}

/// A build requirement taken from the project's lock brings the packages of
/// the lock it needs in turn, as installing it would (cffi brings pycparser):
/// `needscffi` builds with `cffilike`, which imports `parserlib`, which takes
/// `extralib` through the extra it is asked with. None of them is in the build
/// lock, so without each step the backend's import fails.
#[test]
fn a_build_requirement_from_the_lock_brings_its_locked_dependencies() {
    use pyfod_tests::uvproject::make_dist;
    let Some(project) = project_with(
        "build_requirement_brings_its_dependencies",
        &[],
        false,
        "",
        |dists| {
            let wheel = |args: &[&str]| make_dist(dists, args);
            wheel(&["wheel", "extralib", "1.0"]);
            wheel(&[
                "wheel",
                "parserlib",
                "1.0",
                "--no-init",
                "--extra",
                "fast=extralib",
                "--file",
                "parserlib/__init__.py=import extralib\\n",
            ]);
            wheel(&[
                "wheel",
                "cffilike",
                "1.0",
                "--no-init",
                "--requires",
                "parserlib[fast]",
                "--file",
                "cffilike/__init__.py=import parserlib\\n",
            ]);
            make_dist(
                dists,
                &[
                    "sdist",
                    "needscffi",
                    "1.0",
                    "--requires",
                    "cffilike",
                    "--build-requires",
                    "cffilike>=1",
                ],
            );
            vec!["needscffi"]
        },
    ) else {
        return;
    };
    let store = project.dir.join("store");
    let (fetch, env) = project.fetch(&store);
    let built = project.dir.join("wheels.manifest");
    let output = project.build_sdist(&store, &fetch, &env, &built, &[]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    let manifest = wheels(&built);
    assert!(
        manifest
            .wheels
            .iter()
            .any(|w| w.name == "needscffi" && matches!(w.origin, WheelOrigin::Built { .. })),
        "{manifest:?}"
    );
}

/// `pyfod lock-build` finds what a backend asks for at build time
/// (`get_requires_for_build_wheel`), as meson-python asks for ninja: `dynpkg`
/// declares no build requirement and asks for `dyntool`, which asks for
/// nothing. The lock it writes builds the project with no edit.
#[test]
fn lock_build_locks_what_backends_ask_for() {
    use pyfod_tests::uvproject::make_dist;
    let Some(project) = project_with("lock_build_asks", &[], false, "", |dists| {
        make_dist(dists, &["wheel", "dyntool", "1.0"]);
        make_dist(dists, &["sdist", "dynpkg", "1.0", "--asks", "dyntool>=1"]);
        vec!["dynpkg"]
    }) else {
        return;
    };
    let store = project.dir.join("store");
    let (fetch, _) = project.fetch(&store);
    let out = project.app.join("buildlock");
    let cache = project.dir.join("uv-cache");
    let url = project.index.url();
    let said = project.pyfod_ok(
        &store,
        &[
            &"lock-build",
            &"--in",
            &fetch,
            &"--out",
            &out,
            &"--",
            &"--index-url",
            &url,
            &"--cache-dir",
            &cache,
        ],
    );
    assert!(said.contains("dynpkg asks for dyntool>=1"), "{said}");
    let lock = fs::read_to_string(out.join("uv.lock")).unwrap();
    assert!(lock.contains("name = \"dyntool\""), "{lock}");
    fs::write(
        project.app.join("pyfod.toml"),
        "[build]\nlock = \"buildlock/uv.lock\"\n",
    )
    .unwrap();
    let venv = project.dir.join("venv");
    project.pyfod_ok(
        &store,
        &[
            &"build",
            &"--python",
            &"python3",
            &"--lock",
            &project.app.join("uv.lock"),
            &"--out",
            &venv,
        ],
    );
    assert!(venv.join("lib/python3.11/site-packages/dynpkg").is_dir());
}

/// A Rust package built by maturin, as a new user would: `pyfod lock-build`
/// locks maturin, rustup's cargo finds its toolchain with no `pass-env`, and
/// two cold builds — other stores, `HOME`s and `CARGO_HOME`s — give one hash.
/// The binary's debug info names the work area and the crate sources, mapped
/// onto `/build` and `/cargo`. (cargo downloads `itoa` from the crate registry.)
#[test]
fn a_maturin_package_builds_the_same_wheel_from_two_stores() {
    let test = "maturin_package_builds_the_same_wheel";
    if !tool_available("cargo", test) {
        return;
    }
    let Some(project) = project(test, &[("rustbin", "rustbin", "1.0")], false, "") else {
        return;
    };
    let first = project.dir.join("a");
    let (fetch, _) = project.fetch(&first.join("store"));
    let url = project.index.url();
    let cache = project.dir.join("uv-cache");
    let locks = project.app.join("rust-build");
    project.pyfod_ok(
        &first.join("store"),
        &[
            &"lock-build",
            &"--in",
            &fetch,
            &"--out",
            &locks,
            &"--",
            &"--index-url",
            &url,
            &"--cache-dir",
            &cache,
        ],
    );
    fs::write(
        project.app.join("pyfod.toml"),
        "[build]\nlock = \"rust-build/uv.lock\"\n",
    )
    .unwrap();
    // rustup's own home, wherever this machine keeps it, stays put; the
    // caller's HOME and CARGO_HOME do not.
    let rustup_home = std::env::var_os("RUSTUP_HOME").or_else(|| {
        let home = Path::new(&std::env::var_os("HOME")?).join(".rustup");
        home.is_dir().then(|| home.into_os_string())
    });
    let build = |root: &Path, extra: &[&str]| {
        let home = root.join("home");
        fs::create_dir_all(&home).unwrap();
        let mut command = assert_cmd::Command::cargo_bin("pyfod").unwrap();
        command
            .env("HOME", &home)
            .env("CARGO_HOME", home.join(".cargo"))
            .env_remove("RUSTUP_HOME");
        if let Some(rustup) = &rustup_home {
            command.env("RUSTUP_HOME", rustup);
        }
        let output = command
            .arg("--store")
            .arg(root.join("store"))
            .args(["build", "--python", "python3", "--lock"])
            .arg(project.app.join("uv.lock"))
            .arg("--out")
            .arg(root.join("out"))
            .arg("--manifests")
            .arg(root.join("manifests"))
            .args(extra)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(output.status.success(), "{stderr}");
        let hash = String::from_utf8_lossy(&output.stdout).trim().to_owned();
        let manifest = wheels(&root.join("manifests/wheels.manifest"));
        let wheel = manifest
            .wheels
            .iter()
            .find(|w| w.name == "rustbin")
            .unwrap()
            .wheel
            .sha256;
        (hash, wheel)
    };
    let second = project.dir.join("second-machine");
    let (hash, wheel) = build(&first, &[]);
    // The venv leaves `bin/` out, so the wheel itself is compared too.
    assert_eq!((hash.clone(), wheel), build(&second, &[]));
    // Offline, cargo takes the crate from the store's cache: `--check` builds
    // the package twice more, and the wheel is the same.
    assert_eq!((hash, wheel), build(&first, &["--offline", "--check"]));
    // The binary does name its sources, by their fixed paths only.
    let blob = first.join("store/blobs/sha256").join(wheel.to_hex());
    let mut archive = zip::ZipArchive::new(fs::File::open(blob).unwrap()).unwrap();
    let mut binary = Vec::new();
    archive
        .by_name("rustbin-1.0.data/scripts/rustbin")
        .unwrap()
        .read_to_end(&mut binary)
        .unwrap();
    let has = |needle: &[u8]| binary.windows(needle.len()).any(|w| w == needle);
    assert!(has(b"/cargo/registry/src/"), "no mapped crate path");
    let store = first.join("store");
    assert!(
        !has(store.to_str().unwrap().as_bytes()),
        "the store's path is in the binary"
    );
}

/// `pyfod build` with sources: the build lock realised on the way, every stage
/// cached on a second run, and a new version of one package rebuilds that package
/// alone.
#[test]
fn pyfod_build_builds_sources_and_rebuilds_only_what_changed() {
    let Some(project) = project(
        "pyfod_build_builds_sources",
        &[
            ("zlibext", "zlibext", "1.0"),
            ("flitpure", "flitpure", "2.0"),
        ],
        true,
        "[build.packages.zlibext]\nenv = { CFLAGS = \"-DPYFOD_ANSWER=42\" }\n",
    ) else {
        return;
    };
    let store = project.dir.join("store");
    let lock = project.app.join("uv.lock");
    let build = |out: &str| {
        let out = project.dir.join(out);
        let manifests = project.dir.join(format!("{}.manifests", out.display()));
        let output = project.pyfod(
            &store,
            &[
                &"build",
                &"--python",
                &"python3",
                &"--lock",
                &lock,
                &"--out",
                &out,
                &"--prefix",
                &"/opt/app",
                &"--manifests",
                &manifests,
            ],
        );
        let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
        assert!(output.status.success(), "{stderr}");
        let hash = String::from_utf8(output.stdout).unwrap().trim().to_owned();
        (out, stderr, hash)
    };
    let (out, stderr, hash) = build("first");
    for stage in [
        "fetch (build lock)",
        "install (build env)",
        "build-sdist",
        "install",
        "scrub",
    ] {
        assert!(
            stderr.contains(&format!("{stage}: ran")),
            "{stage}: {stderr}"
        );
    }
    let site = out.join("lib/python3.11/site-packages");
    let imports = Command::new("python3")
        .args([
            "-c",
            "import zlibext, flitpure, gitpkg; assert zlibext.answer() == 42",
        ])
        .env("PYTHONPATH", &site)
        .output()
        .unwrap();
    assert!(
        imports.status.success(),
        "{}",
        String::from_utf8_lossy(&imports.stderr)
    );

    let (_, stderr, again) = build("second");
    assert_eq!(again, hash);
    for stage in ["fetch", "build-sdist", "install", "scrub"] {
        assert!(
            stderr.contains(&format!("{stage}: cached")),
            "{stage}: {stderr}"
        );
    }

    // zlibext 1.1 appears and the lock takes it: only it is built again.
    pack_sdist("zlibext", "zlibext", "1.1", &project.dir.join("dists"));
    let index_url = fs::read_to_string(&lock)
        .unwrap()
        .lines()
        .find_map(|l| {
            l.strip_prefix("source = { registry = \"")
                .map(|r| r.trim_end_matches("\" }").to_owned())
        })
        .unwrap();
    uv_ok(
        &project.app,
        &project.dir.join("uv-cache"),
        &[
            "lock",
            "--index-url",
            &index_url,
            "--python",
            "python3",
            "--upgrade-package",
            "zlibext",
        ],
    );
    let (_, stderr, changed) = build("third");
    assert_ne!(changed, hash);
    assert!(stderr.contains("zlibext 1.1: built"), "{stderr}");
    assert!(stderr.contains("flitpure 2.0: cached"), "{stderr}");
    assert!(stderr.contains("gitpkg 0.3: cached"), "{stderr}");
    assert!(stderr.contains("install (build env): cached"), "{stderr}");

    // pyfod diff names zlibext's files, and only packages' files that changed.
    let diff = project.pyfod(
        &store,
        &[
            &"diff",
            &project.dir.join("second"),
            &project.dir.join("third"),
        ],
    );
    let text = String::from_utf8_lossy(&diff.stdout);
    assert!(text.contains("zlibext-1.1.dist-info"), "{text}");
    assert!(!text.contains("flitpure"), "{text}");
}

/// A store named by a relative path works: the build environment's interpreter
/// is run from the source tree, so every path into the store must be absolute.
#[test]
fn a_relative_store_path_builds() {
    let Some(project) = project(
        "a_relative_store_path_builds",
        &[("flitpure", "flitpure", "2.0")],
        false,
        "",
    ) else {
        return;
    };
    let output = assert_cmd::Command::cargo_bin("pyfod")
        .unwrap()
        .current_dir(&project.dir)
        .args([
            "--store",
            "relative-store",
            "build",
            "--python",
            "python3",
            "--lock",
            "app/uv.lock",
            "--out",
            "out",
        ])
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
}

/// `pyfod build --check` checks every build, even when the store has the stage,
/// and exits 104 when two builds differ.
#[test]
fn pyfod_build_check_fails_on_a_time_stamping_build() {
    let Some(project) = project(
        "pyfod_build_check",
        &[("stamped", "stamped", "1.0")],
        false,
        "",
    ) else {
        return;
    };
    let store = project.dir.join("store");
    let lock = project.app.join("uv.lock");
    let out = project.dir.join("out");
    let build = |extra: &[&dyn AsRef<std::ffi::OsStr>]| {
        let mut args: Vec<&dyn AsRef<std::ffi::OsStr>> = vec![
            &"build",
            &"--python",
            &"python3",
            &"--force",
            &"--lock",
            &lock,
            &"--out",
            &out,
        ];
        args.extend_from_slice(extra);
        project.pyfod(&store, &args)
    };
    assert!(build(&[]).status.success(), "a plain build passes");
    let checked = build(&[&"--check"]);
    let stderr = String::from_utf8_lossy(&checked.stderr);
    assert_eq!(checked.status.code(), Some(104), "{stderr}");
    assert!(
        stderr.contains("stamped 1.0 is not reproducible"),
        "{stderr}"
    );
}
