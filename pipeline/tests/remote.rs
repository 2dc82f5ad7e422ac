//! The shared remote cache against a real S3 server (`s3s-fs` on 127.0.0.1):
//! two stores stand for two machines. What one machine ran, the other takes,
//! checked; what is corrupt, unsigned, wrongly signed or unreachable costs a
//! local build and a warning, never a different hash or a failed build.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use pyfod_tests::s3::{self, S3Server};

#[path = "common/hello.rs"]
mod hello;

const PREFIX: &str = "/opt/hello-remote";
const URL: &str = "s3://cache/team";

/// A team: one S3 server, a writer's key pair, and a place for machines.
struct Team {
    dir: tempfile::TempDir,
    server: S3Server,
    secret: PathBuf,
    public: String,
}

impl Team {
    fn new(test: &str) -> Option<Team> {
        let dir = tempfile::tempdir().unwrap();
        let server = S3Server::start(test, dir.path())?;
        let secret = dir.path().join("ci.sk");
        let public = generate_key(&secret, "ci-1");
        Some(Team {
            dir,
            server,
            secret,
            public,
        })
    }

    fn store(&self, machine: &str) -> PathBuf {
        self.dir.path().join(machine)
    }

    /// `pyfod build` of the bundled example on `machine`'s store, with the
    /// remote and `args` (the mode, the keys).
    fn build(&self, machine: &str, args: &[&str]) -> Output {
        let mut command = hello::build_hello(&self.store(machine), PREFIX);
        command
            .arg("--out")
            .arg(self.dir.path().join(format!("{machine}-out")))
            .arg("--force")
            .args(["--remote", URL])
            .args(args);
        self.server.configure(&mut command);
        run(command)
    }

    fn writer(&self) -> Vec<String> {
        vec![
            "--secret-key-file".into(),
            self.secret.to_str().unwrap().into(),
        ]
    }

    fn reader(&self) -> Vec<String> {
        vec![
            "--remote-mode".into(),
            "read".into(),
            "--trusted-public-key".into(),
            self.public.clone(),
        ]
    }

    /// The records (`ac/…`) on the server.
    fn records(&self) -> Vec<String> {
        let prefix = "team/ac/";
        self.server
            .keys()
            .into_iter()
            .filter_map(|k| k.strip_prefix(prefix).map(str::to_owned))
            .collect()
    }

    fn record(&self, name: &str) -> PathBuf {
        self.server.object(&format!("team/ac/{name}"))
    }
}

fn generate_key(secret: &Path, name: &str) -> String {
    let output = run({
        let mut c = Command::new(assert_cmd::cargo::cargo_bin("pyfod"));
        c.args(["key", "generate", name, "--secret-key-file"])
            .arg(secret);
        c
    });
    assert!(output.status.success(), "{}", stderr(&output));
    String::from_utf8(output.stdout).unwrap().trim().to_owned()
}

fn run(mut command: Command) -> Output {
    command.env_remove("RUST_LOG").output().expect("run pyfod")
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// The hash line a successful build prints on stdout.
fn hash(output: &Output) -> String {
    assert!(
        output.status.success(),
        "the build failed:\n{}",
        stderr(output)
    );
    String::from_utf8_lossy(&output.stdout).trim().to_owned()
}

fn args(list: &[String]) -> Vec<&str> {
    list.iter().map(String::as_str).collect()
}

/// Every object on the server with its bytes: what a run changed, if anything.
fn snapshot(server: &S3Server) -> Vec<(String, Vec<u8>)> {
    server
        .keys()
        .into_iter()
        .map(|k| {
            let bytes = std::fs::read(server.object(&k)).unwrap_or_default();
            (k, bytes)
        })
        .collect()
}

#[test]
fn a_second_machine_takes_every_stage_from_the_remote_and_compiles_nothing() {
    let Some(team) = Team::new("a_second_machine_takes_every_stage") else {
        return;
    };
    let a = team.build("a", &args(&team.writer()));
    let a_hash = hash(&a);
    assert!(stderr(&a).contains("tinyext 1.0: built"), "{}", stderr(&a));
    assert!(!team.records().is_empty(), "machine A uploaded nothing");

    let before = snapshot(&team.server);
    let b = team.build("b", &args(&team.reader()));
    let log = stderr(&b);
    assert_eq!(hash(&b), a_hash, "{log}");
    for stage in ["fetch", "build-sdist", "install", "scrub"] {
        assert!(
            log.contains(&format!("{stage}: remote (")),
            "{stage}:\n{log}"
        );
    }
    assert!(!log.contains("built"), "machine B compiled:\n{log}");
    assert!(!log.contains("WARN"), "{log}");
    assert!(log.contains(" down, 0 B up"), "{log}");
    // Read-only: not one object written or replaced.
    assert!(
        snapshot(&team.server) == before,
        "a read-only run wrote to the remote"
    );

    // The venv B delivered is A's, byte for byte.
    let nar = |m: &str| pyfod_tests::oracle::nix_store_dump(&team.dir.path().join(m));
    if let (Some(a_nar), Some(b_nar)) = (nar("a-out"), nar("b-out")) {
        assert!(a_nar == b_nar, "the delivered trees differ");
    }
}

#[test]
fn a_miss_builds_here_and_a_read_only_machine_uploads_nothing() {
    let Some(team) = Team::new("a_miss_builds_here") else {
        return;
    };
    // Read mode with the secret key at hand: still nothing is written.
    let mut reader = team.reader();
    reader.extend(team.writer());
    let output = team.build("a", &args(&reader));
    hash(&output);
    assert!(stderr(&output).contains("tinyext 1.0: built"));
    assert!(team.server.keys().is_empty(), "{:?}", team.server.keys());
    assert!(!stderr(&output).contains("WARN"), "{}", stderr(&output));
}

#[test]
fn records_are_uploaded_only_for_work_that_succeeded() {
    let Some(team) = Team::new("records_are_uploaded_only_for_work_that_succeeded") else {
        return;
    };
    // The example with a C extension that does not compile.
    let project = team.dir.path().join("broken");
    copy_dir(&hello_dir(), &project);
    let source = project.join("sources/tinyext/src/_tiny.c");
    let mut text = std::fs::read_to_string(&source).unwrap();
    text.push_str("\nthis is not C;\n");
    std::fs::write(&source, text).unwrap();
    let mut command = Command::new(assert_cmd::cargo::cargo_bin("pyfod"));
    command
        .arg("--store")
        .arg(team.store("a"))
        .args(["build", "--python", "python3", "--prefix", PREFIX, "--lock"])
        .arg(project.join("uv.lock"))
        .arg("--out")
        .arg(team.dir.path().join("broken-out"))
        .args(["--remote", URL])
        .args(args(&team.writer()));
    team.server.configure(&mut command);
    let output = run(command);
    assert!(!output.status.success(), "the broken extension built");
    assert!(
        stderr(&output).contains("building tinyext 1.0 failed"),
        "{}",
        stderr(&output)
    );
    // What ran to the end is shared (the fetch, plainsdist's build); what
    // failed, and every stage after it, is not.
    let stages = recorded_stages(&team);
    assert!(stages.contains(&"fetch".to_owned()), "{stages:?}");
    for never in ["build-sdist", "install", "scrub"] {
        assert!(
            !stages.contains(&never.to_owned()),
            "{never} was uploaded: {stages:?}"
        );
    }
    // Every record names only what the server has: nothing partial.
    for record in team.records() {
        let text = std::fs::read_to_string(team.record(&record)).unwrap();
        for line in text.lines() {
            let mut words = line.split(' ');
            if let (Some("manifest" | "tree" | "need-blob"), Some(digest)) =
                (words.next(), words.next())
            {
                assert!(
                    team.server.object(&format!("team/cas/{digest}")).is_file(),
                    "{record} names cas/{digest}, which is not there"
                );
            }
        }
    }
}

/// The stage each record's manifest says it is from, through `pyfod manifest show`.
fn recorded_stages(team: &Team) -> Vec<String> {
    let mut stages = Vec::new();
    for record in team.records() {
        let text = std::fs::read_to_string(team.record(&record)).unwrap();
        let digest = text
            .lines()
            .find_map(|l| l.strip_prefix("manifest "))
            .and_then(|l| l.split(' ').next())
            .unwrap()
            .to_owned();
        let manifest = team.server.object(&format!("team/cas/{digest}"));
        let output = Command::new(assert_cmd::cargo::cargo_bin("pyfod"))
            .args(["manifest", "show"])
            .arg(&manifest)
            .output()
            .unwrap();
        if output.status.success() {
            let json: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
            if let Some(stage) = json["stage"].as_str() {
                stages.push(stage.to_owned());
            }
        }
    }
    stages
}

fn hello_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/hello")
}

fn copy_dir(from: &Path, to: &Path) {
    let status = Command::new("cp")
        .arg("-a")
        .arg(from)
        .arg(to)
        .status()
        .unwrap();
    assert!(status.success());
}

#[test]
fn two_machines_racing_on_one_key_both_succeed_and_the_first_record_stays() {
    let Some(team) = Team::new("two_machines_racing_on_one_key") else {
        return;
    };
    let (one, two) = std::thread::scope(|scope| {
        let one = scope.spawn(|| team.build("a1", &args(&team.writer())));
        let two = scope.spawn(|| team.build("a2", &args(&team.writer())));
        (one.join().unwrap(), two.join().unwrap())
    });
    assert_eq!(hash(&one), hash(&two));
    let records = snapshot(&team.server);

    // A third writer finds every record there and replaces none of them.
    let three = team.build("a3", &args(&team.writer()));
    hash(&three);
    assert!(
        snapshot(&team.server) == records,
        "a record was overwritten"
    );
    // And what the race left is whole: a reader takes all of it.
    let b = team.build("b", &args(&team.reader()));
    assert_eq!(hash(&b), hash(&one));
    assert!(!stderr(&b).contains("built"), "{}", stderr(&b));
}

/// The object of the largest NAR on the server: the install or scrub tree.
fn largest_object(team: &Team) -> PathBuf {
    team.server
        .keys()
        .into_iter()
        .filter(|k| k.starts_with("team/cas/"))
        .map(|k| team.server.object(&k))
        .max_by_key(|p| std::fs::metadata(p).unwrap().len())
        .unwrap()
}

#[test]
fn a_corrupt_blob_is_detected_built_here_and_replaced_not_trusted() {
    let Some(team) = Team::new("a_corrupt_blob_is_detected") else {
        return;
    };
    let a_hash = hash(&team.build("a", &args(&team.writer())));
    let victim = largest_object(&team);
    let mut bytes = std::fs::read(&victim).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x20;
    std::fs::write(&victim, &bytes).unwrap();
    let records = team
        .records()
        .into_iter()
        .map(|r| std::fs::read(team.record(&r)).unwrap())
        .collect::<Vec<_>>();

    // A writer meets the corrupt object: it says so, builds that stage here,
    // gets the same hash, keeps every record as it was, and replaces the bad bytes.
    let b = team.build("b", &args(&team.writer()));
    let log = stderr(&b);
    assert_eq!(hash(&b), a_hash, "{log}");
    assert!(log.contains("on the remote is corrupt"), "{log}");
    assert!(log.contains(": ran ("), "nothing was made here:\n{log}");
    let after = team
        .records()
        .into_iter()
        .map(|r| std::fs::read(team.record(&r)).unwrap())
        .collect::<Vec<_>>();
    assert!(after == records, "a record changed");
    assert!(
        std::fs::read(&victim).unwrap() != bytes,
        "the corrupt object stayed"
    );

    // So the next machine takes everything again.
    let c = team.build("c", &args(&team.reader()));
    assert_eq!(hash(&c), a_hash);
    assert!(!stderr(&c).contains("WARN"), "{}", stderr(&c));
    assert!(!stderr(&c).contains("built"), "{}", stderr(&c));
}

#[test]
fn unsigned_and_wrongly_signed_records_are_ignored_with_the_key_named() {
    let Some(team) = Team::new("unsigned_and_wrongly_signed_records") else {
        return;
    };
    let a_hash = hash(&team.build("a", &args(&team.writer())));
    // A key with the trusted key's name, but not its bytes: a forgery.
    let forger = pyfod_remote::SecretKey::generate("ci-1").unwrap();
    let records = team.records();
    for (i, record) in records.iter().enumerate() {
        let path = team.record(record);
        let text = std::fs::read_to_string(&path).unwrap();
        let body: String = text
            .lines()
            .filter(|l| !l.starts_with("sig "))
            .map(|l| format!("{l}\n"))
            .collect();
        let altered = if i % 2 == 0 {
            body
        } else {
            format!("{body}sig {}\n", forger.sign(body.as_bytes()))
        };
        std::fs::write(&path, altered).unwrap();
    }
    let b = team.build("b", &args(&team.reader()));
    let log = stderr(&b);
    assert_eq!(hash(&b), a_hash, "{log}");
    assert!(log.contains("is ignored: it is not signed"), "{log}");
    assert!(
        log.contains("its signature by `ci-1` does not verify"),
        "{log}"
    );
    assert!(log.contains("tinyext 1.0: built"), "{log}");

    // Signed by a key nobody trusts: named in the warning, and ignored.
    let stranger = team.dir.path().join("stranger.sk");
    generate_key(&stranger, "stranger-1");
    let c_team_reader = vec![
        "--remote-mode".to_owned(),
        "read".to_owned(),
        "--trusted-public-key".to_owned(),
        team.public.clone(),
    ];
    let fresh = Team::new("signed_by_a_stranger").unwrap();
    let mut writer = vec![
        "--secret-key-file".to_owned(),
        stranger.to_str().unwrap().to_owned(),
    ];
    writer.push("--remote-mode".into());
    writer.push("write".into());
    hash(&fresh.build("s", &args(&writer)));
    let c = fresh.build("c", &args(&c_team_reader));
    let log = stderr(&c);
    assert!(
        log.contains("signed by `stranger-1`, which trusted-public-keys does not name"),
        "{log}"
    );
    assert_eq!(hash(&c), a_hash);
}

#[test]
fn a_remote_that_is_down_costs_one_warning_and_a_local_build() {
    let Some(team) = Team::new("a_remote_that_is_down") else {
        return;
    };
    let mut command = hello::build_hello(&team.store("a"), PREFIX);
    let port = s3::free_port();
    command
        .arg("--out")
        .arg(team.dir.path().join("a-out"))
        .args(["--remote", URL])
        .args(args(&team.writer()));
    team.server.configure(&mut command);
    command.env("AWS_ENDPOINT_URL", format!("http://127.0.0.1:{port}"));
    let output = run(command);
    let log = stderr(&output);
    let expected = hash(&team.build("reference", &["--remote-mode", "off"]));
    assert_eq!(hash(&output), expected, "{log}");
    assert_eq!(log.matches("WARN").count(), 1, "{log}");
    assert!(log.contains("this run builds without it"), "{log}");
}

#[test]
fn credentials_are_never_logged_or_recorded() {
    let Some(team) = Team::new("credentials_are_never_logged") else {
        return;
    };
    let mut command = hello::build_hello(&team.store("a"), PREFIX);
    command
        .arg("--out")
        .arg(team.dir.path().join("a-out"))
        .args(["--remote", URL, "-vvv"])
        .args(args(&team.writer()));
    team.server.configure(&mut command);
    let output = run(command);
    hash(&output);
    let log = stderr(&output);
    assert!(log.contains("remote: PUT"), "-v logs each request:\n{log}");
    let secret_key = std::fs::read_to_string(&team.secret).unwrap();
    let secret_part = secret_key.split(':').nth(1).unwrap().trim().to_owned();
    for secret in [s3::SECRET_KEY, &secret_part] {
        assert!(!log.contains(secret), "a secret is in the log");
        for root in [
            team.store("a"),
            team.server.data.clone(),
            team.dir.path().join("a-out"),
        ] {
            let found = Command::new("grep")
                .args(["-rlF", secret])
                .arg(&root)
                .output()
                .unwrap();
            assert!(
                found.stdout.is_empty(),
                "a secret is in {}",
                String::from_utf8_lossy(&found.stdout)
            );
        }
    }
}

#[test]
fn a_directory_remote_serves_a_second_machine_too() {
    let dir = tempfile::tempdir().unwrap();
    let secret = dir.path().join("sk");
    let public = generate_key(&secret, "local-1");
    let url = format!("file://{}", dir.path().join("remote").display());
    let build = |machine: &str, extra: &[&str]| {
        let mut command = hello::build_hello(&dir.path().join(machine), PREFIX);
        command
            .arg("--out")
            .arg(dir.path().join(format!("{machine}-out")))
            .args(["--remote", &url])
            .args(extra);
        run(command)
    };
    let a = build("a", &["--secret-key-file", secret.to_str().unwrap()]);
    let b = build("b", &["--trusted-public-key", &public]);
    assert_eq!(hash(&b), hash(&a));
    assert!(stderr(&b).contains("scrub: remote ("), "{}", stderr(&b));
}

#[test]
fn keys_are_nix_compatible() {
    // A key pair Nix made signs and verifies here, and ours parse the same way.
    let dir = tempfile::tempdir().unwrap();
    let (sk, pk) = (dir.path().join("sk"), dir.path().join("pk"));
    let made = Command::new("nix-store")
        .args(["--generate-binary-cache-key", "nix-made-1"])
        .args([&sk, &pk])
        .status();
    if !made.is_ok_and(|s| s.success()) {
        pyfod_tests::oracle::announce_skip("keys_are_nix_compatible", "nix-store");
        return;
    }
    let secret = pyfod_remote::SecretKey::parse(&std::fs::read_to_string(&sk).unwrap()).unwrap();
    let public = pyfod_remote::PublicKey::parse(&std::fs::read_to_string(&pk).unwrap()).unwrap();
    assert_eq!(
        secret.public(),
        public,
        "the public half of Nix's secret key is not Nix's public key"
    );
    let signature = secret.sign(b"pyfod-entry 1\n");
    assert!(public.verifies(b"pyfod-entry 1\n", &signature));
    assert!(!public.verifies(b"pyfod-entry 2\n", &signature));
}

#[test]
fn a_changed_lock_takes_each_unchanged_build_from_the_remote_and_check_still_builds() {
    let Some(team) = Team::new("a_changed_lock_takes_each_unchanged_build") else {
        return;
    };
    hash(&team.build("a", &args(&team.writer())));

    // The same project less one wheel (greeting): a new fetch and build-sdist key, the
    // same source builds, which machine B takes one by one.
    let project = team.dir.path().join("smaller");
    copy_dir(&hello_dir(), &project);
    let pyproject = project.join("pyproject.toml");
    let text = std::fs::read_to_string(&pyproject).unwrap();
    std::fs::write(&pyproject, text.replace("\"greeting\", ", "")).unwrap();
    let locked = Command::new("uv")
        .args(["lock", "--offline", "--quiet"])
        .current_dir(&project)
        .status();
    if !locked.is_ok_and(|s| s.success()) {
        pyfod_tests::oracle::announce_skip("a_changed_lock_takes_each_unchanged_build", "uv");
        return;
    }
    let build_smaller = |machine: &str, extra: &[&str]| {
        let mut command = Command::new(assert_cmd::cargo::cargo_bin("pyfod"));
        command
            .arg("--store")
            .arg(team.store(machine))
            .args(["build", "--python", "python3", "--prefix", PREFIX, "--lock"])
            .arg(project.join("uv.lock"))
            .arg("--out")
            .arg(team.dir.path().join(format!("{machine}-out")))
            .args(["--remote", URL])
            .args(args(&team.reader()))
            .args(extra);
        team.server.configure(&mut command);
        run(command)
    };
    let b = build_smaller("b", &[]);
    let log = stderr(&b);
    hash(&b);
    assert!(log.contains("build-sdist: ran ("), "{log}");
    for package in ["plainsdist 1.0", "tinyext 1.0"] {
        assert!(
            log.contains(&format!("{package}: from the remote")),
            "{package}:\n{log}"
        );
    }
    assert!(!log.contains("built ("), "machine B compiled:\n{log}");

    // --check builds again whatever the remote holds.
    let c = build_smaller("c", &["--check"]);
    let log = stderr(&c);
    assert_eq!(hash(&c), hash(&b), "{log}");
    assert!(
        log.contains("tinyext 1.0: built ("),
        "--check took the remote's build:\n{log}"
    );
    assert!(log.contains("build-sdist: ran ("), "{log}");
}
