//! The fixed-output derivation whose builder is `pyfod build`: nixpkgs' stdenv
//! for the tools and libraries the sdists need, pyfod for everything else.

use pyfod_digest::Sha256;

use crate::syntax;

/// Nix's placeholder hash (`lib.fakeHash`): a build with it always fails, and
/// Nix's error says the real one.
pub const FAKE_HASH: Sha256 = Sha256([0; 32]);

/// Everything the expression says, each value already checked.
#[derive(Debug, Clone)]
pub struct FodExpression {
    /// The derivation's name, a valid store path name.
    pub name: String,
    /// The project directory (`src`), relative to the expression's own
    /// directory, as [`syntax::relative_path`] renders it.
    pub src: String,
    /// The lock, relative to `src`.
    pub lock: String,
    /// The nixpkgs attribute of the interpreter (`python311`) and its
    /// executable in `bin/` (`python3.11`).
    pub python: NixPython,
    /// `pyfod build`'s arguments besides the lock, the interpreter, the store
    /// directory and where the venv goes: (`--preset`, `seed`), (`--check`, none).
    pub flags: Vec<(String, Option<String>)>,
    /// `--strict`: a reference left after scrubbing fails the build, with
    /// pyfod's words on where it is, before Nix finds it.
    pub strict: bool,
    /// Where the venv is made to live.
    pub prefix: Prefix,
    /// What the lock needs from the network.
    pub network: Network,
    /// nixpkgs attributes of the libraries the sdists link against.
    pub build_inputs: Vec<String>,
    /// nixpkgs attributes of the tools the sdist builds run.
    pub native_build_inputs: Vec<String>,
    /// `None` for [`FAKE_HASH`], with a comment saying how to get the real one.
    pub output_hash: Option<Sha256>,
    /// The command that wrote it, for the header.
    pub written_by: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NixPython {
    pub attribute: String,
    pub executable: String,
}

/// The venv's prefix: what its launchers and `bin/activate` name.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Prefix {
    /// `$out`. The scrub strips its hash part everywhere, RECORD hashes
    /// included, so the output does not depend on it.
    #[default]
    Out,
    /// `$PWD/.venv`, where the seed's `uv sync` makes the venv before moving
    /// it to `$out`: its RECORD hashes the launchers as they were there, so the
    /// seed's hash depends on that path, and with it the build directory.
    SeedVenv,
}

/// What the lock fetches from elsewhere, and so what the FOD needs for it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Network {
    /// Registry or URL artifacts: CA certificates and the proxy variables.
    pub https: bool,
    /// Git sources: git too.
    pub git: bool,
}

impl FodExpression {
    /// The expression, as the text of a `.nix` file.
    pub fn render(&self) -> String {
        let mut out = String::new();
        out.push_str(&self.header());
        out.push_str(&self.arguments());
        out.push_str("pkgs.stdenv.mkDerivation {\n");
        out.push_str(&format!("  name = {};\n", syntax::string(&self.name)));
        out.push_str(&self.source());
        out.push_str(&self.inputs());
        if self.network.https || self.network.git {
            out.push_str("  impureEnvVars = pkgs.lib.fetchers.proxyImpureEnvVars;\n");
        }
        out.push_str("  dontConfigure = true;\n");
        out.push_str(&self.build_phase());
        out.push_str("  dontInstall = true;\n  dontFixup = true;\n");
        out.push_str("  outputHashMode = \"recursive\";\n  outputHashAlgo = \"sha256\";\n");
        out.push_str(&match self.output_hash {
            Some(hash) => format!("  outputHash = {};\n", syntax::string(&hash.to_sri())),
            None => format!(
                "  # pkgs.lib.fakeHash: build once and put the `got:` line of Nix's error here\n  outputHash = {};\n",
                syntax::string(&FAKE_HASH.to_sri())
            ),
        });
        out.push_str("}\n");
        out
    }

    fn header(&self) -> String {
        let command = self.written_by.replace('\n', " ");
        format!(
            "# {name}: a fixed-output derivation whose builder is `pyfod build`.\n\
             # Written by `{command}`;\n\
             # run it again after changing what it was given. When only the lock changes,\n\
             # the hash does: `pyfod nix fod … --build` takes the new one from Nix.\n",
            name = self.name,
        )
    }

    fn arguments(&self) -> String {
        format!(
            "{{ pkgs ? import <nixpkgs> {{ }}\n\
             , pyfod ? pkgs.pyfod or (throw {missing})\n\
             , python ? pkgs.{python}\n\
             }}:\n\n",
            missing = syntax::string(&format!(
                "{}: give pyfod, a package with bin/pyfod (callPackage … {{ pyfod = …; }})",
                self.name
            )),
            python = self.python.attribute,
        )
    }

    /// The project, as Nix copies it into the store: without VCS data, venvs,
    /// bytecode caches or nix-build's `result` links, which pyfod never reads.
    fn source(&self) -> String {
        format!(
            "  src = builtins.path {{\n\
             \x20   name = \"source\";\n\
             \x20   path = {src};\n\
             \x20   filter = path: type:\n\
             \x20     let base = baseNameOf path; in\n\
             \x20     !(builtins.elem base [ \".git\" \".hg\" \".svn\" \".venv\" \"__pycache__\" ]\n\
             \x20       || (type == \"symlink\" && builtins.match \"result(-.*)?\" base != null));\n\
             \x20 }};\n",
            src = self.src,
        )
    }

    fn inputs(&self) -> String {
        let mut native = vec!["pyfod".to_owned(), "python".to_owned()];
        if self.network.https {
            native.push("pkgs.cacert".to_owned());
        }
        if self.network.git {
            native.push("pkgs.git".to_owned());
        }
        let list = |items: &[String]| match items {
            [] => "[ ]".to_owned(),
            items => format!("[ {} ]", items.join(" ")),
        };
        let from_pkgs = |items: &[String]| match items {
            [] => None,
            items => Some(format!("(with pkgs; {})", list(items))),
        };
        let mut out = format!("  nativeBuildInputs = {}", list(&native));
        if let Some(extra) = from_pkgs(&self.native_build_inputs) {
            out.push_str(&format!(" ++ {extra}"));
        }
        out.push_str(";\n");
        out.push_str(&format!(
            "  buildInputs = {};\n",
            from_pkgs(&self.build_inputs).unwrap_or_else(|| "[ ]".to_owned())
        ));
        out
    }

    /// `pyfod build`, with what nixpkgs' compiler wrapper and pkg-config read let
    /// through to the builds.
    fn build_phase(&self) -> String {
        let mut lines = vec!["runHook preBuild".to_owned()];
        if self.network.https || self.network.git {
            lines.push("export SSL_CERT_FILE=${pkgs.cacert}/etc/ssl/certs/ca-bundle.crt".into());
        }
        if self.network.git {
            lines.push("export GIT_SSL_CAINFO=$SSL_CERT_FILE".into());
        }
        let mut command = vec![
            "pyfod --store \"$TMPDIR/pyfod\" build".to_owned(),
            format!(
                "--lock {}",
                syntax::indented(&syntax::shell_word(&self.lock))
            ),
            format!("--python ${{python}}/bin/{}", self.python.executable),
            "--store-dir ${builtins.storeDir}".to_owned(),
            "--pass-env \"NIX_*\" --pass-env \"PKG_CONFIG*\"".to_owned(),
        ];
        if self.strict {
            command.push("--strict".to_owned());
        }
        for (flag, value) in &self.flags {
            let word = |w: &str| syntax::indented(&syntax::shell_word(w));
            command.push(match value {
                Some(value) => format!("{} {}", word(flag), word(value)),
                None => word(flag),
            });
        }
        command.push(match self.prefix {
            Prefix::Out => "--prefix \"$out\" --out \"$out\"".to_owned(),
            Prefix::SeedVenv => "--prefix \"$PWD/.venv\" --out \"$out\"".to_owned(),
        });
        lines.push(command.join(" \\\n      "));
        lines.push("runHook postBuild".into());
        let body: String = lines.iter().map(|l| format!("    {l}\n")).collect();
        format!("  buildPhase = ''\n{body}  '';\n")
    }
}
