//! `just bench serve`: `spellhost serve` under load from a second process's
//! worth of HTTP clients on 127.0.0.1 — requests per second and latency at
//! 1, 8 and 64 concurrent clients for a trivial spell, per-run instantiate
//! time, and the server's RSS after 100 and after 10 000 runs.
//!
//! The anchor, `wasmtime serve` (wasmtime-cli 48.0.8, which `just bench`
//! installs) of a hello-world `wasi:http` component (`tests/http-hello`, or
//! `$WASMTIME_SERVE_COMPONENT`), is loaded in the same run, round by round
//! with spellhost, and each round's ratio printed. Memory per concurrent run
//! is the server's RSS with 64 runs in flight (a component sleeping in a
//! WASI clock wait; a Lua script in `sleep`) over its RSS idle.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::{guest, print, summarize};

/// A server process and its base URL; killed when dropped.
struct Server {
    child: Child,
    url: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_spellhost(spellhost: &Path, dir: &Path) -> Server {
    start_spellhost_with(spellhost, dir, "")
}

/// `spellhost serve` with `config` as its spellhost.toml.
fn start_spellhost_with(spellhost: &Path, dir: &Path, config: &str) -> Server {
    let config_path = dir.join(format!("serve-{}.toml", config.len()));
    std::fs::write(&config_path, config).unwrap();
    let nap = dir.join("nap.lua");
    std::fs::write(&nap, "sleep(tonumber((...)) or 0)\nreturn 'rested'\n").unwrap();
    let mut child = Command::new(spellhost)
        .args([
            "serve",
            "--anonymous",
            "--listen",
            "127.0.0.1:0",
            "--config",
        ])
        .arg(&config_path)
        .arg(guest("echo"))
        .arg(guest("hostile_sleep"))
        .arg(&nap)
        .env("SPELLHOST_DATA_DIR", dir.join("data"))
        .env("SPELLHOST_CACHE_DIR", dir.join("cache"))
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("starting spellhost serve");
    let (url, _log) = super::listening::listening_url(child.stderr.take().unwrap());
    Server { child, url }
}

fn rss_mib(pid: u32) -> f64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse::<f64>().ok())
        .map_or(0.0, |kib| kib / 1024.0)
}

/// `total` requests from `clients` concurrent clients; requests per second
/// and each request's latency (ms).
async fn load(url: &str, body: &'static str, clients: usize, total: usize) -> (f64, Vec<f64>) {
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(clients)
        .build()
        .unwrap();
    let next = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let started = Instant::now();
    let workers: Vec<_> = (0..clients)
        .map(|_| {
            let (client, url, next) = (client.clone(), url.to_owned(), next.clone());
            tokio::spawn(async move {
                let mut latencies = Vec::new();
                while next.fetch_add(1, std::sync::atomic::Ordering::Relaxed) < total {
                    let sent = Instant::now();
                    let response = client.post(&url).body(body).send().await.unwrap();
                    assert!(response.status().is_success(), "{}", response.status());
                    response.bytes().await.unwrap();
                    latencies.push(sent.elapsed().as_secs_f64() * 1e3);
                }
                latencies
            })
        })
        .collect();
    let mut latencies = Vec::with_capacity(total);
    for worker in workers {
        latencies.extend(worker.await.unwrap());
    }
    (total as f64 / started.elapsed().as_secs_f64(), latencies)
}

fn percentile(samples: &mut [f64], q: f64) -> f64 {
    samples.sort_by(f64::total_cmp);
    samples[((samples.len() - 1) as f64 * q).round() as usize]
}

/// The anchor, if it can be measured here: `wasmtime serve COMPONENT`.
fn start_wasmtime_serve() -> Option<(Server, String)> {
    let component = std::env::var("WASMTIME_SERVE_COMPONENT").unwrap_or_else(|_| {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        root.join("target/wasm32-wasip2/spell/spellhost_http_hello.wasm")
            .display()
            .to_string()
    });
    if !Path::new(&component).exists() {
        return None;
    }
    let version = Command::new("wasmtime").arg("--version").output().ok()?;
    let version = String::from_utf8_lossy(&version.stdout).trim().to_owned();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .ok()?
        .local_addr()
        .ok()?
        .port();
    let child = Command::new("wasmtime")
        // `-S cli`: a component built with Rust's std imports wasi:cli.
        .args(["serve", "-S", "cli", "--addr", &format!("127.0.0.1:{port}")])
        .arg(&component)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .ok()?;
    let url = format!("http://127.0.0.1:{port}/");
    let deadline = Instant::now() + Duration::from_secs(30);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        if Instant::now() > deadline {
            return None;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Some((
        Server {
            child,
            url: url.clone(),
        },
        version,
    ))
}

pub async fn serve(spellhost: &Path) {
    println!("\n== `spellhost serve`: a trivial spell (echo) over HTTP on 127.0.0.1 ==");
    let dir = tempfile::tempdir().unwrap();
    let server = start_spellhost(spellhost, dir.path());
    let url = format!("{}/v1/spells/echo/runs", server.url);
    let body = r#"{"input":"hi"}"#;
    load(&url, body, 8, 200).await; // warm-up: compile cache, connections
    let anchor = start_wasmtime_serve();
    match &anchor {
        Some((_, version)) => {
            println!("anchor: {version} `wasmtime serve` of a hello-world wasi:http component")
        }
        None => println!(
            "anchor: not measured — needs wasmtime-cli 48.0.8 on PATH (cargo install wasmtime-cli \
             --version 48.0.8 --locked) and tests/http-hello built (just bench builds both)"
        ),
    }
    for clients in [1, 8, 64] {
        let total = 2000.max(clients * 50);
        let mut rps = Vec::new();
        let mut anchor_rps = Vec::new();
        let mut latencies = Vec::new();
        for _ in 0..3 {
            let (r, mut l) = load(&url, body, clients, total).await;
            rps.push(r);
            latencies.append(&mut l);
            if let Some((anchor, _)) = &anchor {
                let (r, _) = load(&anchor.url, "", clients, total).await;
                anchor_rps.push(r);
            }
        }
        let p50 = percentile(&mut latencies, 0.5);
        let p99 = percentile(&mut latencies, 0.99);
        print(
            &format!("requests/s, {clients} clients"),
            "req/s",
            &summarize(rps.clone()),
        );
        println!(
            "{:<58} p50 {p50:.3} ms   p99 {p99:.3} ms",
            format!("latency, {clients} clients")
        );
        if !anchor_rps.is_empty() {
            print(
                &format!("wasmtime serve requests/s, {clients} clients"),
                "req/s",
                &summarize(anchor_rps.clone()),
            );
            let ratios = rps.iter().zip(&anchor_rps).map(|(s, w)| s / w).collect();
            print(
                &format!("spellhost / wasmtime serve, {clients} clients (goal >= 1.0)"),
                "x",
                &summarize(ratios),
            );
        }
    }
    let client = reqwest::Client::new();
    let mut instantiate = Vec::new();
    for _ in 0..200 {
        let stats: serde_json::Value = client
            .post(&url)
            .body(body)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        instantiate.push(stats["stats"]["instantiate_ms"].as_f64().unwrap() * 1e3);
    }
    print(
        "per-run instantiate, all bridges linked (goal <= 50)",
        "µs",
        &summarize(instantiate),
    );
    concurrent_memory(&server).await;
    // The decision to pool instances, measured: the same load on a server
    // that allocates each instance on demand.
    let on_demand = start_spellhost_with(spellhost, dir.path(), "[serve]\ninstance_pool = false\n");
    let on_demand_url = format!("{}/v1/spells/echo/runs", on_demand.url);
    load(&on_demand_url, body, 8, 200).await;
    let mut ratios = Vec::new();
    for _ in 0..3 {
        let (pooled, _) = load(&url, body, 8, 2000).await;
        let (demand, _) = load(&on_demand_url, body, 8, 2000).await;
        ratios.push(pooled / demand);
    }
    print(
        "pooled / on-demand instances, requests/s, 8 clients",
        "x",
        &summarize(ratios),
    );
    drop(on_demand);
    let pid = server.child.id();
    let fresh = start_spellhost(spellhost, dir.path());
    load(&format!("{}/v1/spells/echo/runs", fresh.url), body, 8, 100).await;
    let after_100 = rss_mib(fresh.child.id());
    load(
        &format!("{}/v1/spells/echo/runs", fresh.url),
        body,
        8,
        10_000,
    )
    .await;
    let after_10k = rss_mib(fresh.child.id());
    println!(
        "{:<58} after 100 runs {after_100:.1} MiB   after 10 100 runs {after_10k:.1} MiB   growth {:+.1} MiB",
        "server RSS",
        after_10k - after_100
    );
    println!(
        "{:<58} {:.1} MiB",
        "RSS of the loaded server above",
        rss_mib(pid)
    );
}

/// The server's RSS with 64 runs in flight over its RSS idle, per run: a
/// component sleeping in a WASI clock wait, then a Lua script in `sleep`.
async fn concurrent_memory(server: &Server) {
    const RUNS: usize = 64;
    let client = reqwest::Client::new();
    let pid = server.child.id();
    for (spell, body, what) in [
        (
            "hostile_sleep",
            r#"{"limits": {"timeout": "3s"}}"#,
            "memory per concurrent run, component",
        ),
        ("nap", r#"{"input": "3"}"#, "memory per concurrent run, Lua"),
    ] {
        let url = format!("{}/v1/spells/{spell}/runs", server.url);
        // One run first, so what is loaded once is not counted per run.
        let one = client
            .post(&url)
            .body(r#"{"input": "0", "limits": {"timeout": "1ms"}}"#);
        let _ = one.send().await.unwrap().bytes().await;
        let idle = rss_mib(pid);
        let runs: Vec<_> = (0..RUNS)
            .map(|_| {
                let request = client.post(&url).body(body);
                tokio::spawn(async move { request.send().await.unwrap().bytes().await })
            })
            .collect();
        // Measured once every run is in flight (the server's own count).
        let deadline = Instant::now() + Duration::from_secs(3);
        loop {
            let metrics = client
                .get(format!("{}/metrics", server.url))
                .send()
                .await
                .unwrap()
                .text()
                .await
                .unwrap();
            let in_flight = metrics
                .lines()
                .find_map(|l| l.strip_prefix("spellhost_runs_in_flight "))
                .and_then(|v| v.trim().parse::<f64>().ok())
                .unwrap_or(0.0);
            if in_flight as usize >= RUNS || Instant::now() > deadline {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let busy = rss_mib(pid);
        for run in runs {
            let _ = run.await;
        }
        println!(
            "{:<58} {:.2} MiB   (idle {idle:.1} MiB, {RUNS} in flight {busy:.1} MiB)",
            what,
            (busy - idle) / RUNS as f64
        );
    }
}
