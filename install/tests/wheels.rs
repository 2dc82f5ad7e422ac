//! Wheels with every feature and every fault the install stage must handle.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use pyfod_install::{InstallError, Interpreter, Layout, WheelInput, install};
use pyfod_tests::uvproject::make_dist;

fn layout(prefix: &Path) -> Layout {
    Layout {
        prefix: prefix.to_path_buf(),
        prompt: None,
        compat: None,
        collisions: Default::default(),
        project_dir: None,
        limits: Default::default(),
    }
}

fn python() -> Interpreter {
    Interpreter::probe("python3").unwrap()
}

/// Builds a wheel with make-dist and describes it for `install`.
fn wheel(dir: &Path, name: &str, version: &str, options: &[&str]) -> WheelInput {
    let mut args = vec!["wheel", name, version];
    args.extend_from_slice(options);
    make_dist(dir, &args);
    let filename = format!("{}-{version}-py3-none-any.whl", name.replace('-', "_"));
    let file = dir.join(&filename);
    WheelInput {
        name: name.to_owned(),
        version: version.to_owned(),
        sha256: pyfod_digest::Sha256::of(&fs::read(&file).unwrap()),
        filename,
        file,
        source: None,
        built: false,
    }
}

struct Venv {
    _dir: tempfile::TempDir,
    wheels: PathBuf,
    root: PathBuf,
}

fn venv() -> Venv {
    let dir = tempfile::tempdir().unwrap();
    let wheels = dir.path().join("wheels");
    let root = dir.path().join("venv");
    fs::create_dir_all(&wheels).unwrap();
    fs::create_dir_all(&root).unwrap();
    Venv {
        _dir: dir,
        wheels,
        root,
    }
}

#[test]
fn data_schemes_scripts_and_odd_names() {
    let v = venv();
    let py = python();
    let dat = wheel(
        &v.wheels,
        "dat",
        "1.0",
        &[
            "--file",
            "dat-1.0.data/scripts/run=#!python\\nprint('ran')\\n",
            "--file",
            "dat-1.0.data/headers/dat.h=int x;\\n",
            "--file",
            "dat-1.0.data/data/share/dat/readme=hi\\n",
            "--file",
            "dat-1.0.data/platlib/_dat_native.py=NATIVE = True\\n",
            "--file",
            "dat/caf\u{e9} \u{1f40d}.txt=unicode\\n",
        ],
    );
    install(&[dat], &v.root, &layout(&v.root), &py).unwrap();
    let site = v
        .root
        .join(format!("lib/python3.{}/site-packages", py.minor));
    let run = fs::read_to_string(v.root.join("bin/run")).unwrap();
    assert_eq!(
        run,
        format!("#!{}/bin/python\nprint('ran')\n", v.root.display())
    );
    assert_eq!(
        fs::metadata(v.root.join("bin/run"))
            .unwrap()
            .permissions()
            .mode()
            & 0o777,
        0o755
    );
    assert_eq!(
        fs::read_to_string(
            v.root
                .join(format!("include/site/python3.{}/dat/dat.h", py.minor))
        )
        .unwrap(),
        "int x;\n"
    );
    assert_eq!(
        fs::read_to_string(v.root.join("share/dat/readme")).unwrap(),
        "hi\n"
    );
    assert!(site.join("_dat_native.py").is_file());
    assert!(site.join("dat/caf\u{e9} \u{1f40d}.txt").is_file());
    let record = fs::read_to_string(site.join("dat-1.0.dist-info/RECORD")).unwrap();
    assert!(record.contains("../../../bin/run,sha256="), "{record}");
    assert!(
        record.contains("../../../share/dat/readme,sha256="),
        "{record}"
    );
    assert!(
        record.contains("dat/caf\u{e9} \u{1f40d}.txt,sha256="),
        "{record}"
    );
    assert!(record.contains("dat-1.0.dist-info/RECORD,,\n"), "{record}");
    assert_eq!(
        fs::read_to_string(site.join("dat-1.0.dist-info/INSTALLER")).unwrap(),
        "pyfod"
    );
    let out = Command::new(v.root.join("bin/run")).output().unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout), "ran\n");
}

#[test]
fn a_file_that_does_not_match_its_record_is_refused() {
    let v = venv();
    let bad = wheel(&v.wheels, "dat", "1.0", &["--corrupt", "dat/__init__.py"]);
    let error = install(&[bad], &v.root, &layout(&v.root), &python()).unwrap_err();
    assert!(
        matches!(&error, InstallError::RecordMismatch { path, .. } if path == "dat/__init__.py"),
        "{error}"
    );
    assert!(
        error
            .to_string()
            .starts_with("dat-1.0-py3-none-any.whl: dat/__init__.py does not have the hash")
    );
}

#[test]
fn an_entry_that_escapes_the_venv_is_refused() {
    let v = venv();
    let evil = wheel(&v.wheels, "evil", "1.0", &["--file", "../../etc/evil=x"]);
    let error = install(&[evil], &v.root, &layout(&v.root), &python()).unwrap_err();
    assert!(
        matches!(&error, InstallError::UnsafePath { path, .. } if path == "../../etc/evil"),
        "{error}"
    );
}

#[test]
fn two_wheels_writing_one_path_name_both() {
    let v = venv();
    let a = wheel(
        &v.wheels,
        "django-tenants",
        "3.7.0",
        &["--file", "docs/Makefile=a\\n"],
    );
    let b = wheel(&v.wheels, "pyrad", "2.4", &["--file", "docs/Makefile=b\\n"]);
    let error = install(&[a, b], &v.root, &layout(&v.root), &python()).unwrap_err();
    let text = error.to_string();
    assert!(
        text.starts_with("django-tenants and pyrad both install lib/python3.")
            && text.contains("docs/Makefile"),
        "{text}"
    );
}

#[test]
fn a_collision_rule_picks_the_winner_or_drops_the_path() {
    use pyfod_install::collisions::Rule;
    let v = venv();
    let a = wheel(
        &v.wheels,
        "django-tenants",
        "3.7.0",
        &["--file", "docs/Makefile=a\\n"],
    );
    let b = wheel(&v.wheels, "pyrad", "2.4", &["--file", "docs/Makefile=b\\n"]);
    let py = python();
    let site = format!("lib/python3.{}/site-packages", py.minor);
    for (rule, expected) in [
        (Rule::Keep("pyrad".into()), Some("b\n")),
        (Rule::Keep("Django_Tenants".into()), Some("a\n")),
        (Rule::Drop, None),
    ] {
        let root = v
            .root
            .join(format!("{rule:?}").replace(['(', ')', '"'], ""));
        fs::create_dir_all(&root).unwrap();
        let mut layout = layout(&root);
        layout.collisions.insert("docs/Makefile".into(), rule);
        install(&[a.clone(), b.clone()], &root, &layout, &py).unwrap();
        let file = root.join(&site).join("docs/Makefile");
        assert_eq!(fs::read_to_string(&file).ok().as_deref(), expected);
        // The loser's RECORD does not claim the file.
        let records: Vec<String> = ["django_tenants-3.7.0", "pyrad-2.4"]
            .iter()
            .map(|d| {
                fs::read_to_string(root.join(&site).join(format!("{d}.dist-info/RECORD"))).unwrap()
            })
            .collect();
        let claims = records
            .iter()
            .filter(|r| r.contains("docs/Makefile,"))
            .count();
        assert_eq!(claims, usize::from(expected.is_some()));
    }
    let root = v.root.join("third");
    fs::create_dir_all(&root).unwrap();
    let mut bad = layout(&root);
    bad.collisions
        .insert("docs/Makefile".into(), Rule::Keep("authentik".into()));
    let error = install(&[a, b], &root, &bad, &py).unwrap_err().to_string();
    assert!(
        error.contains("says `authentik` wins") && error.contains("django-tenants and pyrad"),
        "{error}"
    );
}

#[test]
fn a_namespace_package_may_span_wheels() {
    let v = venv();
    let a = wheel(
        &v.wheels,
        "ns-a",
        "1.0",
        &["--no-init", "--file", "ns/a/__init__.py=A = 1\\n"],
    );
    let b = wheel(
        &v.wheels,
        "ns-b",
        "1.0",
        &["--no-init", "--file", "ns/b/__init__.py=B = 2\\n"],
    );
    install(&[a, b], &v.root, &layout(&v.root), &python()).unwrap();
    let out = Command::new(v.root.join("bin/python"))
        .args(["-c", "import ns.a, ns.b; print(ns.a.A + ns.b.B)"])
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "3", "{out:?}");
}

#[test]
fn an_entry_point_may_not_replace_the_venvs_python() {
    let v = venv();
    let bad = wheel(
        &v.wheels,
        "sneaky",
        "1.0",
        &["--script", "python=sneaky:main"],
    );
    let error = install(&[bad], &v.root, &layout(&v.root), &python()).unwrap_err();
    assert!(
        matches!(&error, InstallError::BadEntryPoint { name, .. } if name == "python"),
        "{error}"
    );
}

#[test]
fn the_same_wheels_give_the_same_tree_whatever_the_threads() {
    let v = venv();
    let wheels: Vec<WheelInput> = (0..12)
        .map(|i| {
            wheel(
                &v.wheels,
                &format!("pkg{i}"),
                "1.0",
                &["--script", &format!("tool{i}=pkg{i}:main")],
            )
        })
        .collect();
    let py = python();
    let mut hashes = Vec::new();
    for threads in [1, 2, 8] {
        let root = v.root.join(format!("t{threads}"));
        fs::create_dir_all(&root).unwrap();
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap();
        let prefix = Path::new("/opt/app/venv");
        pool.install(|| install(&wheels, &root, &layout(prefix), &py))
            .unwrap();
        hashes.push(
            pyfod_nar::hash_path(&root, &Default::default(), None)
                .unwrap()
                .nar_sha256,
        );
    }
    assert!(hashes.windows(2).all(|w| w[0] == w[1]), "{hashes:?}");
}
