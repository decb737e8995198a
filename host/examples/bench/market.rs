//! `just bench market`: publishing and pulling packages against a real
//! registry (Debian's docker-registry on 127.0.0.1), next to `skopeo copy`
//! of the same artifact (the anchor, in the same run); and what running a
//! cached, pinned `oci://` reference adds to `spellhost run` of the file.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use super::servers::Registry;
use super::{print, summarize};

const PASSWORD: &str = "bench";

/// A component of about `size` bytes: `base` with a custom section of
/// padding (unique per `salt`, so every publish uploads new bytes).
fn padded(base: &[u8], size: usize, salt: u32) -> Vec<u8> {
    let mut out = base.to_vec();
    let name = b"bench-padding";
    let payload_len = size.saturating_sub(base.len() + 32);
    let mut body = Vec::with_capacity(payload_len + 20);
    leb(&mut body, name.len() as u64);
    body.extend_from_slice(name);
    body.extend_from_slice(&salt.to_le_bytes());
    body.resize(body.len() + payload_len, 0x5a);
    out.push(0); // a custom section
    leb(&mut out, body.len() as u64);
    out.extend_from_slice(&body);
    out
}

fn leb(out: &mut Vec<u8>, mut value: u64) {
    loop {
        let byte = (value & 0x7f) as u8;
        value >>= 7;
        if value == 0 {
            out.push(byte);
            return;
        }
        out.push(byte | 0x80);
    }
}

fn spellhost_in(spellhost: &Path, home: &Path) -> Command {
    let mut command = Command::new(spellhost);
    command
        .current_dir(home)
        .env("SPELLHOST_DATA_DIR", home.join("data"))
        .env("SPELLHOST_CACHE_DIR", home.join("cache"))
        .env("XDG_CONFIG_HOME", home.join("config"))
        .env("DOCKER_CONFIG", home.join("docker"))
        .env("COSIGN_PASSWORD", PASSWORD)
        .stdin(std::process::Stdio::null());
    command
}

fn check(mut command: Command) -> std::process::Output {
    let out = command.output().expect("running a command");
    assert!(
        out.status.success(),
        "{command:?} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn timed(command: Command) -> f64 {
    let started = Instant::now();
    check(command);
    started.elapsed().as_secs_f64() * 1e3
}

pub fn market(spellhost: &Path, echo: &Path) {
    println!("== marketplace: publish and pull against docker-registry on 127.0.0.1 ==");
    // The commands run in homes of their own.
    let spellhost = &std::fs::canonicalize(spellhost).expect("the spellhost binary");
    let registry = Registry::start();
    let host = registry.host();
    let publisher = tempfile::tempdir().unwrap();
    let p = publisher.path();
    check({
        let mut c = spellhost_in(spellhost, p);
        c.args(["keygen", "acme"]);
        c
    });
    std::fs::write(p.join("spellhost.toml"), "[trust]\nkeys = [\"acme.pub\"]\n").unwrap();
    let base = std::fs::read(echo).unwrap();
    let skopeo = Command::new("skopeo").arg("--version").output().is_ok();
    for (label, size) in [("1 MB", 1_000_000), ("18 MB", 18_000_000)] {
        let (mut publish, mut sign, mut pull, mut anchor_push, mut anchor_pull) =
            (vec![], vec![], vec![], vec![], vec![]);
        for i in 0..5u32 {
            let dir = p.join(format!("{}-{i}", size));
            std::fs::create_dir_all(&dir).unwrap();
            let wasm = dir.join("big.wasm");
            std::fs::write(&wasm, padded(&base, size, i)).unwrap();
            std::fs::write(
                dir.join("big.spell.toml"),
                format!("[spell]\nname = \"big\"\nversion = \"1.0.{i}\"\n"),
            )
            .unwrap();
            // Packaged first, so publish times the upload, not the checks.
            check({
                let mut c = spellhost_in(spellhost, p);
                c.arg("package").arg(&wasm).arg("-o").arg(dir.join("pkg"));
                c
            });
            let reference = format!("{host}/bench/big{}:{i}", size / 1_000_000);
            publish.push(timed({
                let mut c = spellhost_in(spellhost, p);
                c.arg("publish").arg(dir.join("pkg")).arg(&reference);
                c
            }));
            sign.push(timed({
                let mut c = spellhost_in(spellhost, p);
                c.args(["sign", &reference, "--key", "acme.key"]);
                c
            }));
            // A fresh machine each time: an empty store and no lock.
            let user = tempfile::tempdir().unwrap();
            std::fs::copy(p.join("acme.pub"), user.path().join("acme.pub")).unwrap();
            std::fs::write(
                user.path().join("spellhost.toml"),
                "[trust]\nkeys = [\"acme.pub\"]\n",
            )
            .unwrap();
            pull.push(timed({
                let mut c = spellhost_in(spellhost, user.path());
                c.args(["pull", &reference]);
                c
            }));
            if skopeo {
                let other = format!("{host}/anchor/big{}:{i}", size / 1_000_000);
                anchor_push.push(timed({
                    let mut c = Command::new("skopeo");
                    c.args(["copy", "-q", "--dest-tls-verify=false"])
                        .arg(format!("oci:{}:1.0.{i}", dir.join("pkg").display()))
                        .arg(format!("docker://{other}"));
                    c
                }));
                anchor_pull.push(timed({
                    let mut c = Command::new("skopeo");
                    c.args(["copy", "-q", "--src-tls-verify=false"])
                        .arg(format!("docker://{other}"))
                        .arg(format!("oci:{}:x", user.path().join("skopeo").display()));
                    c
                }));
            }
        }
        let (publish, pull) = (summarize(publish), summarize(pull));
        print(
            &format!("publish {label} (upload; unsigned)"),
            "ms",
            &publish,
        );
        print(
            &format!("sign {label} (scrypt unseal + signature push)"),
            "ms",
            &summarize(sign),
        );
        print(
            &format!("pull {label} (verify signature, blobs, store, pin)"),
            "ms",
            &pull,
        );
        if skopeo {
            let (push_anchor, pull_anchor) = (summarize(anchor_push), summarize(anchor_pull));
            print(
                &format!("  anchor: skopeo copy oci: -> registry, {label}"),
                "ms",
                &push_anchor,
            );
            print(
                &format!("  anchor: skopeo copy registry -> oci:, {label}"),
                "ms",
                &pull_anchor,
            );
            println!(
                "  ratio publish/skopeo {:.2}x, pull/skopeo {:.2}x",
                publish.median / push_anchor.median,
                pull.median / pull_anchor.median
            );
        }
    }

    println!("== what a cached, pinned oci:// reference adds to `spellhost run` ==");
    let user = tempfile::tempdir().unwrap();
    let u = user.path();
    std::fs::copy(p.join("acme.pub"), u.join("acme.pub")).unwrap();
    std::fs::write(u.join("spellhost.toml"), "[trust]\nkeys = [\"acme.pub\"]\n").unwrap();
    std::fs::copy(echo, u.join("echo.wasm")).unwrap();
    std::fs::write(
        u.join("echo.spell.toml"),
        "[spell]\nname = \"echo\"\nversion = \"1.0.0\"\n",
    )
    .unwrap();
    let reference = format!("{host}/bench/echo:1");
    check({
        let mut c = spellhost_in(spellhost, u);
        c.args(["publish", "echo.wasm", &reference, "--sign"])
            .arg(p.join("acme.key"));
        c
    });
    let url = format!("oci://{reference}");
    // First run: pull, verify, review (no grants asked), pin, compile.
    check({
        let mut c = spellhost_in(spellhost, u);
        c.args(["run", &url, "--input", "hi"]);
        c
    });
    // The registry goes away: what follows is offline, from the store.
    drop(registry);
    let file: PathBuf = u.join("echo.wasm");
    let (mut by_file, mut by_ref) = (vec![], vec![]);
    for _ in 0..40 {
        by_file.push(timed({
            let mut c = spellhost_in(spellhost, u);
            c.arg("run").arg(&file).args(["--input", "hi"]);
            c
        }));
        by_ref.push(timed({
            let mut c = spellhost_in(spellhost, u);
            c.args(["run", &url, "--input", "hi"]);
            c
        }));
    }
    let (by_file, by_ref) = (summarize(by_file), summarize(by_ref));
    print("spellhost run echo.wasm (anchor)", "ms", &by_file);
    print(
        "spellhost run oci://… (pinned, stored, offline)",
        "ms",
        &by_ref,
    );
    println!(
        "  added by the reference: {:+.2} ms at the median (ratio {:.3}x; goal <= 2 ms)",
        by_ref.median - by_file.median,
        by_ref.median / by_file.median
    );
}
