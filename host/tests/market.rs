//! The marketplace end to end, over real processes: `spellhost` publishing
//! to, signing in and pulling from a real registry (Debian's
//! `docker-registry`, CNCF distribution 2.8) on 127.0.0.1, and `skopeo` as
//! an independent client. Each "machine" is a home of its own (data, store,
//! config, lock, approvals).

mod support;

use std::io::{Read as _, Write as _};
use std::path::{Path, PathBuf};
use std::process::Output;

use support::servers::Registry;
use support::{guest, spellhost_command};

const PASSWORD: &str = "correct horse battery staple";

/// A machine: its own home and everything spellhost keeps there.
struct Machine {
    home: tempfile::TempDir,
}

impl Machine {
    fn new() -> Machine {
        Machine {
            home: tempfile::tempdir().unwrap(),
        }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.home.path().join(name)
    }

    fn spellhost(&self, args: &[&str]) -> Output {
        spellhost_command(self.home.path())
            .args(args)
            .env("COSIGN_PASSWORD", PASSWORD)
            .env("DOCKER_CONFIG", self.path("docker"))
            .env_remove("REGISTRY_AUTH_FILE")
            .env_remove("XDG_RUNTIME_DIR")
            .stdin(std::process::Stdio::null())
            .output()
            .unwrap()
    }

    /// Runs `args`, expecting success; its stdout.
    fn ok(&self, args: &[&str]) -> String {
        let out = self.spellhost(args);
        assert!(
            out.status.success(),
            "spellhost {args:?} failed ({}):\n{}{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }

    /// Runs `args`, expecting exit `code`; its stderr.
    fn fails(&self, code: i32, args: &[&str]) -> String {
        let out = self.spellhost(args);
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        assert_eq!(
            out.status.code(),
            Some(code),
            "spellhost {args:?}: stdout {}\nstderr {stderr}",
            String::from_utf8_lossy(&out.stdout)
        );
        stderr
    }

    /// Publishes `file` to `reference` signed with its key `acme.key`; what
    /// `publish` printed.
    fn publish_signed(&self, file: &str, reference: &str) -> String {
        self.ok(&["publish", file, reference, "--sign", "acme.key"])
    }

    /// Trusts the public key file `key` for every registry.
    fn trust(&self, key: &Path) {
        std::fs::copy(key, self.path("publisher.pub")).unwrap();
        std::fs::write(
            self.path("spellhost.toml"),
            "[trust]\nkeys = [\"publisher.pub\"]\n",
        )
        .unwrap();
    }

    /// Whether the local store holds the blob `digest`.
    fn stored(&self, digest: &str) -> bool {
        self.path("data/store/blobs/sha256")
            .join(digest.strip_prefix("sha256:").unwrap())
            .exists()
    }

    /// Writes `file` (copied from `source`, or with `text`) and its manifest.
    fn write_spell(&self, file: &str, body: Body, manifest: &str) -> PathBuf {
        let path = self.path(file);
        match body {
            Body::Copy(source) => {
                std::fs::copy(source, &path).unwrap();
            }
            Body::Text(text) => std::fs::write(&path, text).unwrap(),
        }
        let stem = file.rsplit_once('.').unwrap().0;
        std::fs::write(self.path(&format!("{stem}.spell.toml")), manifest).unwrap();
        path
    }
}

impl Machine {
    /// Writes a module of a script spell at `path` (relative to the home).
    fn write_module(&self, path: &str, text: &str) {
        let path = self.path(path);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }
}

enum Body<'a> {
    Copy(PathBuf),
    Text(&'a str),
}

fn manifest(name: &str, version: &str, extra: &str) -> String {
    format!(
        "[spell]\nname = \"{name}\"\nversion = \"{version}\"\ndescription = \"The {name} spell, for tests\"\nlicense = \"Apache-2.0\"\nauthors = [\"Acme Spells\"]\n{extra}"
    )
}

/// A publisher with a key pair `acme`.
fn publisher() -> Machine {
    let machine = Machine::new();
    let out = machine.ok(&["keygen", "acme"]);
    assert!(out.contains("acme.pub"), "{out}");
    machine
}

/// The digest a `publish` printed.
fn published_digest(out: &str) -> String {
    let at = out
        .find("@sha256:")
        .unwrap_or_else(|| panic!("no digest in {out}"));
    out[at + 1..at + 1 + 71].to_owned()
}

#[test]
fn a_signed_spell_travels_from_one_machine_to_another() {
    let registry = Registry::start();
    let host = registry.host();
    let acme = publisher();
    let private = std::fs::metadata(acme.path("acme.key")).unwrap();
    assert_eq!(
        std::os::unix::fs::PermissionsExt::mode(&private.permissions()) & 0o777,
        0o600
    );
    acme.write_spell(
        "echo.wasm",
        Body::Copy(guest("echo")),
        &manifest("echo", "1.0.0", "[requests]\nenv = [\"ECHO_MODE\"]\n"),
    );
    let out = acme.ok(&["package", "echo.wasm"]);
    assert!(
        out.contains("echo-1.0.0.oci") && out.contains("kind      spell"),
        "{out}"
    );
    let reference = format!("{host}/acme/echo:1.0");
    let out = acme.publish_signed("echo-1.0.0.oci", &reference);
    let digest = published_digest(&out);
    assert!(out.contains("signed"), "{out}");
    // The publisher's own key verifies it.
    let out = acme.ok(&["verify", &reference, "--key", "acme.pub"]);
    assert!(out.contains("signed by acme (SHA256:"), "{out}");

    let user = Machine::new();
    user.trust(&acme.path("acme.pub"));
    let url = format!("oci://{reference}");
    let info = user.ok(&["info", &url]);
    assert!(info.contains(&digest), "{info}");
    assert!(info.contains("signed by publisher (SHA256:"), "{info}");
    assert!(info.contains("--allow-env ECHO_MODE"), "{info}");

    // Off a terminal, requested grants need an explicit approval.
    let err = user.fails(6, &["run", &url, "--input", "hi"]);
    assert!(
        err.contains("Review of oci://") && err.contains(&digest),
        "{err}"
    );
    assert!(
        err.contains("environment variable") && err.contains("ECHO_MODE"),
        "{err}"
    );
    assert!(err.contains("--grant-requested"), "{err}");
    let out = user.ok(&["run", &url, "--input", "hi", "--grant-requested"]);
    assert_eq!(out, "hi\n");
    let lock = std::fs::read_to_string(user.path("spellhost.lock")).unwrap();
    assert!(
        lock.contains(&reference) && lock.contains(&digest),
        "{lock}"
    );
    let approvals = user.ok(&["grants", "list"]);
    assert!(
        approvals.contains(&format!("{host}/acme/echo")) && approvals.contains(&digest),
        "{approvals}"
    );

    // Pinned, stored and approved: it runs with the registry gone.
    drop(registry);
    let run = user.spellhost(&["run", &url, "--input", "offline"]);
    assert_eq!(
        String::from_utf8_lossy(&run.stdout),
        "offline\n",
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    assert!(!String::from_utf8_lossy(&run.stderr).contains("Review"));

    // Revoked: reviewed again.
    let out = user.ok(&["grants", "revoke", "echo"]);
    assert!(out.contains("revoked"), "{out}");
    let err = user.fails(6, &["run", &url, "--input", "hi"]);
    assert!(err.contains("Review of"), "{err}");
}

/// Runs `args` on a terminal (util-linux `script` gives it a pty), typing
/// `answer`; everything the terminal showed.
fn on_terminal(machine: &Machine, args: &[&str], answer: &str) -> String {
    let inner = spellhost_command(machine.home.path());
    let mut line = String::from(env!("CARGO_BIN_EXE_spellhost"));
    for arg in args {
        line.push_str(&format!(" '{arg}'"));
    }
    let mut command = std::process::Command::new("script");
    command
        .args(["-qec", &line, "/dev/null"])
        .current_dir(machine.home.path());
    for (key, value) in inner.get_envs() {
        match value {
            Some(value) => command.env(key, value),
            None => command.env_remove(key),
        };
    }
    let mut child = command
        .env("COSIGN_PASSWORD", PASSWORD)
        .env("DOCKER_CONFIG", machine.path("docker"))
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("util-linux `script`");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(answer.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn a_terminal_user_is_asked_and_the_answer_is_kept() {
    let registry = Registry::start();
    let host = registry.host();
    let acme = publisher();
    acme.write_spell(
        "echo.wasm",
        Body::Copy(guest("echo")),
        &manifest("echo", "1.0.0", "[requests]\nnet = [\"api.example.com\"]\n"),
    );
    acme.publish_signed("echo.wasm", &format!("{host}/acme/echo:1"));
    let user = Machine::new();
    user.trust(&acme.path("acme.pub"));
    let url = format!("oci://{host}/acme/echo:1");
    let shown = on_terminal(&user, &["run", &url, "--input", "declined"], "n\n");
    assert!(shown.contains("Grant these to echo? [y/N]"), "{shown}");
    assert!(
        shown.contains("not approved") && !shown.contains("declined\r\n"),
        "{shown}"
    );
    let shown = on_terminal(&user, &["run", &url, "--input", "accepted"], "y\n");
    assert!(
        shown.contains("network") && shown.contains("api.example.com"),
        "{shown}"
    );
    assert!(shown.contains("accepted"), "{shown}");
    // Remembered: no question the next time, terminal or not.
    assert_eq!(user.ok(&["run", &url, "--input", "again"]), "again\n");
}

#[test]
fn script_spells_and_plugins_round_trip() {
    let registry = Registry::start();
    let host = registry.host();
    let acme = publisher();
    // Script spells of three files each: the package carries the modules
    // the main script names, and nothing else of the directory.
    acme.write_spell(
        "shout.lua",
        Body::Text("local input = ...\nlocal upper = require('lib.upper')\nreturn 'lua got ' .. upper(input)\n"),
        &manifest("shout", "1.0.0", ""),
    );
    acme.write_module(
        "lib/upper.lua",
        "local mark = require 'lib.mark'\nreturn function(s) return mark(string.upper(s)) end\n",
    );
    acme.write_module("lib/mark.lua", "return function(s) return s end\n");
    acme.write_module("lib/unused.lua", "error('never packaged')\n");
    acme.write_spell(
        "greet.js",
        Body::Text("import { say } from './lib/say.js';\nexport default function run(input) { return say(input); }\n"),
        &manifest("greet", "0.3.0", ""),
    );
    acme.write_module(
        "lib/say.js",
        "import { prefix } from '../prefix.js';\nexport const say = (s) => `${prefix} ${s}`;\n",
    );
    acme.write_module("prefix.js", "export const prefix = 'js got';\n");
    acme.write_spell(
        "wordtool.wasm",
        Body::Copy(guest("wordtool")),
        &manifest("wordtool", "1.0.0", "kind = \"tool\"\n"),
    );
    for (file, reference) in [
        ("shout.lua", "acme/shout:1.0.0"),
        ("greet.js", "acme/greet:0.3"),
        ("wordtool.wasm", "acme/wordtool:1.0"),
    ] {
        acme.publish_signed(file, &format!("{host}/{reference}"));
    }
    let layout = acme.path("shout.oci");
    acme.ok(&["package", "shout.lua", "--output", layout.to_str().unwrap()]);
    let index: serde_json::Value =
        serde_json::from_slice(&std::fs::read(layout.join("index.json")).unwrap()).unwrap();
    let manifest_digest = index["manifests"][0]["digest"].as_str().unwrap();
    let blob = |digest: &str| {
        std::fs::read(
            layout
                .join("blobs/sha256")
                .join(digest.strip_prefix("sha256:").unwrap()),
        )
        .unwrap()
    };
    let image: serde_json::Value = serde_json::from_slice(&blob(manifest_digest)).unwrap();
    let layer = &image["layers"][0];
    assert_eq!(
        layer["mediaType"], "application/vnd.spellhost.script.bundle.v1.tar+lua",
        "{image}"
    );
    assert_eq!(
        image["annotations"]["dev.spellhost.script.main"],
        "shout.lua"
    );
    let tar = blob(layer["digest"].as_str().unwrap());
    let listed = String::from_utf8_lossy(&tar);
    assert!(
        listed.contains("lib/mark.lua") && !listed.contains("unused"),
        "{listed}"
    );

    let user = Machine::new();
    user.trust(&acme.path("acme.pub"));
    let out = user.ok(&[
        "run",
        &format!("oci://{host}/acme/shout:1.0.0"),
        "--input",
        "hey",
    ]);
    assert_eq!(out, "lua got HEY\n");
    let out = user.ok(&[
        "run",
        &format!("oci://{host}/acme/greet:0.3"),
        "--input",
        "hey",
    ]);
    assert_eq!(out, "js got hey\n");
    std::fs::copy(guest("tool_call"), user.path("tool_call.wasm")).unwrap();
    let out = user.ok(&[
        "run",
        "tool_call.wasm",
        "--tool",
        &format!("oci://{host}/acme/wordtool:1.0"),
        "--input",
        r#"{"name":"word_stats","arguments":{"text":"a b a. c"}}"#,
    ]);
    let stats: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(stats["words"], 4, "{out}");
    // A plugin is not a spell.
    let err = user.fails(6, &["run", &format!("oci://{host}/acme/wordtool:1.0")]);
    assert!(err.contains("is a tool package, not a spell"), "{err}");

    // A workflow step names a pulled package; a package never pulled is
    // refused (a running spell never makes the host pull).
    std::fs::write(
        user.path("parent.js"),
        format!(
            "export default async () => {{\n  const a = await workflow.run({{ spell: {{ path: 'oci://{host}/acme/shout:1.0.0', input: 'step' }} }});\n  let b;\n  try {{ await workflow.run({{ spell: {{ path: 'oci://{host}/acme/never:1', input: 'x' }} }}); }} catch (e) {{ b = String(e); }}\n  return a.output + ' | ' + b;\n}};\n"
        ),
    )
    .unwrap();
    let out = user.ok(&["run", "parent.js"]);
    assert!(out.starts_with("lua got STEP | "), "{out}");
    assert!(
        out.contains("not in the local store") && out.contains("spellhost pull"),
        "{out}"
    );

    // `serve` offers a package: resolved through the same lock and store.
    let mut server = spellhost_command(user.home.path())
        .args(["serve", "--anonymous", "--listen", "127.0.0.1:0"])
        .arg(format!("oci://{host}/acme/greet:0.3"))
        .env("DOCKER_CONFIG", user.path("docker"))
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let (url, _log) = support::listening::listening_url(server.stderr.take().unwrap());
    let response = http_post(&url, "/v1/spells/greet/runs", r#"{"input":"over http"}"#);
    let _ = server.kill();
    let _ = server.wait();
    assert!(response.contains("js got over http"), "{response}");

    let found = user.ok(&["search", "greet", "--registry", &host]);
    assert!(
        found.contains("acme/greet:0.3") && !found.contains("shout"),
        "{found}"
    );
    let all = user.ok(&["search", "--registry", &host, "--json"]);
    let all: serde_json::Value = serde_json::from_str(&all).unwrap();
    assert_eq!(all.as_array().unwrap().len(), 3, "{all}");
}

/// A PUT to the registry (as a hostile publisher with push access would).
fn http_put(host: &str, path: &str, content_type: &str, body: &[u8]) -> u16 {
    let mut stream = std::net::TcpStream::connect(host).unwrap();
    write!(
        stream,
        "PUT {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    )
    .unwrap();
    stream.write_all(body).unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    response[9..12].parse().unwrap()
}

/// A JSON POST to `url` (`http://HOST:PORT`) + `path`: the response text.
fn http_post(url: &str, path: &str, body: &str) -> String {
    let host = url.trim_start_matches("http://").trim_end_matches('/');
    let mut stream = std::net::TcpStream::connect(host).unwrap();
    write!(
        stream,
        "POST {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    response
}

fn http_get(host: &str, path: &str, accept: &str) -> Vec<u8> {
    let mut stream = std::net::TcpStream::connect(host).unwrap();
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {host}\r\nAccept: {accept}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut response = Vec::new();
    stream.read_to_end(&mut response).unwrap();
    let at = response.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
    response[at + 4..].to_vec()
}

#[test]
fn every_refusal_says_what_to_do() {
    let registry = Registry::start();
    let host = registry.host();
    let acme = publisher();
    let mallory = publisher();
    acme.write_spell(
        "echo.wasm",
        Body::Copy(guest("echo")),
        &manifest("echo", "1.0.0", "[requests]\nenv = [\"ECHO_MODE\"]\n"),
    );
    let user = Machine::new();
    user.trust(&acme.path("acme.pub"));

    // Unsigned.
    acme.ok(&["publish", "echo.wasm", &format!("{host}/acme/unsigned:1")]);
    let unsigned = format!("oci://{host}/acme/unsigned:1");
    let err = user.fails(6, &["run", &unsigned, "--grant-requested"]);
    assert!(
        err.contains("is not signed") && err.contains("spellhost sign"),
        "{err}"
    );
    assert!(err.contains("--allow-unsigned"), "{err}");
    let run = user.spellhost(&[
        "run",
        &unsigned,
        "--grant-requested",
        "--allow-unsigned",
        "--input",
        "x",
    ]);
    assert_eq!(String::from_utf8_lossy(&run.stdout), "x\n");
    assert!(String::from_utf8_lossy(&run.stderr).contains("UNVERIFIED"));

    // Signed by a key nobody trusts.
    std::fs::copy(mallory.path("acme.key"), acme.path("mallory.key")).unwrap();
    acme.ok(&[
        "publish",
        "echo.wasm",
        &format!("{host}/acme/mallory:1"),
        "--sign",
        "mallory.key",
    ]);
    let err = user.fails(
        6,
        &[
            "run",
            &format!("oci://{host}/acme/mallory:1"),
            "--grant-requested",
        ],
    );
    assert!(
        err.contains("by no key trusted") && err.contains("[trust]"),
        "{err}"
    );

    // A layer altered in the registry's storage: refused, nothing stored.
    // (A component the user has not pulled before: the store shares blobs.)
    acme.write_spell(
        "altered.wasm",
        Body::Copy(guest("config_vars")),
        &manifest("altered", "1.0.0", ""),
    );
    let out = acme.publish_signed("altered.wasm", &format!("{host}/acme/altered:1"));
    let digest = published_digest(&out);
    let manifest_json: serde_json::Value = serde_json::from_slice(&http_get(
        &host,
        &format!("/v2/acme/altered/manifests/{digest}"),
        "application/vnd.oci.image.manifest.v1+json",
    ))
    .unwrap();
    let layer = manifest_json["layers"][0]["digest"]
        .as_str()
        .unwrap()
        .to_owned();
    let blob = registry.blob_file(&layer);
    let mut bytes = std::fs::read(&blob).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0xff;
    std::fs::write(&blob, &bytes).unwrap();
    let err = user.fails(6, &["pull", &format!("{host}/acme/altered:1")]);
    assert!(
        err.contains("does not match its digest") && err.contains("nothing was stored"),
        "{err}"
    );
    assert!(!user.stored(&layer) && !user.stored(&digest));

    // Truncated: the same, as a size error.
    bytes.truncate(middle);
    std::fs::write(&blob, &bytes).unwrap();
    let err = user.fails(6, &["pull", &format!("{host}/acme/altered:1")]);
    assert!(err.contains("truncated"), "{err}");
    assert!(!user.stored(&layer) && !user.stored(&digest));

    // A manifest replaced under a signed tag: its digest has no signature.
    let out = acme.publish_signed("echo.wasm", &format!("{host}/acme/echo:1"));
    let signed = published_digest(&out);
    user.ok(&[
        "run",
        &format!("oci://{host}/acme/echo:1"),
        "--grant-requested",
        "--input",
        "pinned",
    ]);
    let mut forged: serde_json::Value = serde_json::from_slice(&http_get(
        &host,
        "/v2/acme/echo/manifests/1",
        "application/vnd.oci.image.manifest.v1+json",
    ))
    .unwrap();
    forged["annotations"]["org.opencontainers.image.description"] = "now with more".into();
    let status = http_put(
        &host,
        "/v2/acme/echo/manifests/1",
        "application/vnd.oci.image.manifest.v1+json",
        &serde_json::to_vec(&forged).unwrap(),
    );
    assert_eq!(status, 201);
    let stranger = Machine::new();
    stranger.trust(&acme.path("acme.pub"));
    let err = stranger.fails(
        6,
        &[
            "run",
            &format!("oci://{host}/acme/echo:1"),
            "--grant-requested",
        ],
    );
    assert!(err.contains("is not signed"), "{err}");
    // The user's lock still pins what was signed: runs use it, pulls refuse
    // the moved tag until `update`.
    let out = user.ok(&[
        "run",
        &format!("oci://{host}/acme/echo:1"),
        "--input",
        "still",
    ]);
    assert_eq!(out, "still\n");
    let err = user.fails(6, &["pull", &format!("{host}/acme/echo:1")]);
    assert!(
        err.contains(&format!("spellhost.lock pins {signed}")) && err.contains("spellhost update"),
        "{err}"
    );
    let err = user.fails(6, &["update", &format!("{host}/acme/echo:1")]);
    assert!(err.contains("is not signed"), "{err}");

    // An update asking for the same grants runs; one asking more is reviewed.
    acme.write_spell(
        "echo.wasm",
        Body::Copy(guest("echo")),
        &manifest("echo", "1.1.0", "[requests]\nenv = [\"ECHO_MODE\"]\n"),
    );
    acme.publish_signed("echo.wasm", &format!("{host}/acme/echo:1"));
    // Every pin moves but the unsigned one, which fails the command.
    let out = user.spellhost(&["update"]);
    assert_eq!(out.status.code(), Some(6));
    assert!(String::from_utf8_lossy(&out.stdout).contains("updated   oci://"));
    assert!(String::from_utf8_lossy(&out.stderr).contains("not updated: oci://"));
    let out = user.ok(&[
        "run",
        &format!("oci://{host}/acme/echo:1"),
        "--input",
        "same",
    ]);
    assert_eq!(out, "same\n");
    acme.write_spell(
        "echo.wasm",
        Body::Copy(guest("echo")),
        &manifest(
            "echo",
            "2.0.0",
            "[requests]\nenv = [\"ECHO_MODE\"]\nnet = [\"api.example.com\"]\n",
        ),
    );
    acme.publish_signed("echo.wasm", &format!("{host}/acme/echo:2"));
    let err = user.fails(
        6,
        &[
            "run",
            &format!("oci://{host}/acme/echo:2"),
            "--input",
            "more",
        ],
    );
    assert!(
        err.contains("asks for MORE") && err.contains("--allow-net api.example.com"),
        "{err}"
    );
    assert!(
        !err.contains("--allow-env ECHO_MODE"),
        "only the difference is shown: {err}"
    );

    // The registry down: a clear error, exit 5.
    drop(registry);
    let out = user.spellhost(&["run", &format!("oci://{host}/acme/other:1")]);
    assert_eq!(out.status.code(), Some(5));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(&format!("cannot reach the registry {host}")),
        "{err}"
    );
}

#[test]
fn other_tools_read_ours_and_we_read_theirs() {
    let registry = Registry::start();
    let host = registry.host();
    let acme = publisher();
    acme.write_spell(
        "echo.wasm",
        Body::Copy(guest("echo")),
        &manifest("echo", "1.0.0", ""),
    );
    acme.publish_signed("echo.wasm", &format!("{host}/acme/echo:1.0"));

    // skopeo reads our manifest and media types.
    let raw = std::process::Command::new("skopeo")
        .args(["inspect", "--raw", "--tls-verify=false"])
        .arg(format!("docker://{host}/acme/echo:1.0"))
        .output()
        .expect("skopeo is installed by `just services`");
    assert!(
        raw.status.success(),
        "{}",
        String::from_utf8_lossy(&raw.stderr)
    );
    let manifest: serde_json::Value = serde_json::from_slice(&raw.stdout).unwrap();
    assert_eq!(
        manifest["config"]["mediaType"],
        "application/vnd.wasm.config.v0+json"
    );
    assert_eq!(manifest["layers"].as_array().unwrap().len(), 1);
    assert_eq!(manifest["layers"][0]["mediaType"], "application/wasm");
    let tags = std::process::Command::new("skopeo")
        .args(["list-tags", "--tls-verify=false"])
        .arg(format!("docker://{host}/acme/echo"))
        .output()
        .unwrap();
    let tags = String::from_utf8_lossy(&tags.stdout);
    assert!(
        tags.contains("\"1.0\"") && tags.contains(".sig"),
        "cosign's signature tag: {tags}"
    );

    // A component laid out by hand in the CNCF layout, pushed by skopeo.
    let layout = acme.path("theirs");
    let blobs = layout.join("blobs/sha256");
    std::fs::create_dir_all(&blobs).unwrap();
    let wasm = std::fs::read(guest("echo")).unwrap();
    let put = |bytes: &[u8]| {
        let digest = sha256(bytes);
        std::fs::write(blobs.join(&digest), bytes).unwrap();
        (format!("sha256:{digest}"), bytes.len())
    };
    let (wasm_digest, wasm_size) = put(&wasm);
    let config = serde_json::json!({
        "created": "2026-01-01T00:00:00Z",
        "architecture": "wasm",
        "os": "wasip2",
        "layerDigests": [wasm_digest],
        "component": {"exports": ["spellhost:spell/spell@0.1.0"], "imports": [], "target": null},
    });
    let (config_digest, config_size) = put(&serde_json::to_vec(&config).unwrap());
    let image = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.wasm.config.v0+json", "digest": config_digest, "size": config_size},
        "layers": [{"mediaType": "application/wasm", "digest": wasm_digest, "size": wasm_size}],
    });
    let (image_digest, image_size) = put(&serde_json::to_vec(&image).unwrap());
    std::fs::write(
        layout.join("oci-layout"),
        r#"{"imageLayoutVersion":"1.0.0"}"#,
    )
    .unwrap();
    std::fs::write(
        layout.join("index.json"),
        serde_json::to_vec(&serde_json::json!({
            "schemaVersion": 2,
            "manifests": [{
                "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "digest": image_digest,
                "size": image_size,
                "annotations": {"org.opencontainers.image.ref.name": "1"},
            }],
        }))
        .unwrap(),
    )
    .unwrap();
    let copy = std::process::Command::new("skopeo")
        .args(["copy", "--dest-tls-verify=false", "--preserve-digests"])
        .arg(format!("oci:{}:1", layout.display()))
        .arg(format!("docker://{host}/other/echo:1"))
        .output()
        .unwrap();
    assert!(
        copy.status.success(),
        "{}",
        String::from_utf8_lossy(&copy.stderr)
    );
    let user = Machine::new();
    let out = user.ok(&[
        "run",
        &format!("oci://{host}/other/echo:1"),
        "--allow-unsigned",
        "--input",
        "from another tool",
    ]);
    assert_eq!(out, "from another tool\n");

    // And skopeo reads a package `spellhost package` wrote.
    acme.ok(&["package", "echo.wasm", "-o", "echo.oci"]);
    let inspect = std::process::Command::new("skopeo")
        .args(["inspect", "--raw"])
        .arg(format!("oci:{}", acme.path("echo.oci").display()))
        .output()
        .unwrap();
    assert!(
        inspect.status.success(),
        "{}",
        String::from_utf8_lossy(&inspect.stderr)
    );
    assert!(String::from_utf8_lossy(&inspect.stdout).contains("application/wasm"));
}

fn sha256(bytes: &[u8]) -> String {
    use sha2::Digest as _;
    hex::encode(sha2::Sha256::digest(bytes))
}
