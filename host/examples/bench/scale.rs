//! `just bench scale`: the shared backends on real servers started here on
//! 127.0.0.1 (Debian's redis-server and PostgreSQL).
//!
//! - state get / set / compare-and-swap per second on SQLite (the embedded
//!   default, the anchor), Redis and PostgreSQL, from one process and from
//!   two (this program run again as a child), four clients per process;
//! - compare-and-swap under contention: every client of two processes
//!   increments one counter, retrying on conflict — increments per second,
//!   attempts per increment, and the final count checked against the
//!   increments made;
//! - queue throughput of a trivial spell (`echo`) with 1, 2 and 4
//!   `spellhost worker` processes, on Redis and PostgreSQL;
//! - time from `submit` to a worker taking the run, with an idle worker.

use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use spellhost::bridges::state::{StateBackend, StateStore};
use spellhost::queue::{Job, QueueBackend, RunQueue};

use super::servers::{Postgres, Redis};
use super::{print, summarize};

/// Clients per process.
const CLIENTS: usize = 4;
/// How long each throughput measurement runs.
const WINDOW: Duration = Duration::from_secs(2);

/// Runs `op` from [`CLIENTS`] clients for [`WINDOW`]; returns operations
/// done (for `cas-contended`: increments made, and attempts).
pub async fn load(url: &str, op: &str) -> (u64, u64) {
    let store: Arc<dyn StateStore> = StateBackend::parse(url).unwrap().open().unwrap();
    let done = Arc::new(AtomicU64::new(0));
    let attempts = Arc::new(AtomicU64::new(0));
    let deadline = Instant::now() + WINDOW;
    let tasks: Vec<_> = (0..CLIENTS)
        .map(|client| {
            let (store, done, attempts, op) =
                (store.clone(), done.clone(), attempts.clone(), op.to_owned());
            let me = format!("{}-{client}", std::process::id());
            tokio::spawn(async move {
                let mut n = 0u64;
                while Instant::now() < deadline {
                    let key = format!("k{me}-{}", n % 64);
                    match op.as_str() {
                        "get" => drop(store.get("bench", &key).await.unwrap()),
                        "set" => store
                            .set("bench", &key, n.to_le_bytes().to_vec())
                            .await
                            .unwrap(),
                        "cas" => {
                            let old = store.get("bench", &key).await.unwrap();
                            store
                                .compare_and_swap("bench", &key, old, n.to_le_bytes().to_vec())
                                .await
                                .unwrap();
                        }
                        "cas-contended" => loop {
                            attempts.fetch_add(1, Ordering::Relaxed);
                            let old = store.get("bench", "counter").await.unwrap();
                            let next = old
                                .as_deref()
                                .map_or(0, |b| u64::from_le_bytes(b.try_into().unwrap()))
                                + 1;
                            if store
                                .compare_and_swap(
                                    "bench",
                                    "counter",
                                    old,
                                    next.to_le_bytes().to_vec(),
                                )
                                .await
                                .unwrap()
                            {
                                break;
                            }
                        },
                        other => panic!("no op {other}"),
                    }
                    n += 1;
                    done.fetch_add(1, Ordering::Relaxed);
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap();
    }
    (
        done.load(Ordering::Relaxed),
        attempts.load(Ordering::Relaxed),
    )
}

/// `load` in `processes` processes at once (this program as children).
fn load_in(processes: usize, url: &str, op: &str) -> (u64, u64) {
    let children: Vec<_> = (0..processes)
        .map(|_| {
            Command::new(std::env::current_exe().unwrap())
                .args(["__state-load", url, op])
                .stdout(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    children.into_iter().fold((0, 0), |(d, a), child| {
        let out = child.wait_with_output().unwrap();
        assert!(out.status.success());
        let text = String::from_utf8_lossy(&out.stdout);
        let mut numbers = text.split_whitespace().map(|n| n.parse::<u64>().unwrap());
        (d + numbers.next().unwrap(), a + numbers.next().unwrap())
    })
}

async fn counter(url: &str) -> u64 {
    let store = StateBackend::parse(url).unwrap().open().unwrap();
    store
        .get("bench", "counter")
        .await
        .unwrap()
        .map_or(0, |b| u64::from_le_bytes(b.as_slice().try_into().unwrap()))
}

async fn state(backends: &[(&str, String)]) {
    println!(
        "== state operations per second ({CLIENTS} clients per process, {} s windows) ==",
        WINDOW.as_secs()
    );
    for op in ["get", "set", "cas"] {
        let mut anchor = None;
        for (name, url) in backends {
            for processes in [1, 2] {
                let (done, _) = load_in(processes, url, op);
                let per_s = done as f64 / WINDOW.as_secs_f64();
                let anchor = *anchor.get_or_insert(per_s);
                println!(
                    "{:<58} {per_s:>10.0} ops/s   {:.2}x SQLite, 1 process",
                    format!("{op:<3} on {name}, {processes} process(es)"),
                    per_s / anchor
                );
            }
        }
    }
    println!("== compare-and-swap on one counter, 2 processes x {CLIENTS} clients ==");
    for (name, url) in backends {
        let before = counter(url).await;
        let (made, attempts) = load_in(2, url, "cas-contended");
        let after = counter(url).await;
        println!(
            "{:<58} {:>10.0} increments/s   {:.2} attempts each   count {} (expected {})",
            format!("contended CAS on {name}"),
            made as f64 / WINDOW.as_secs_f64(),
            attempts as f64 / made.max(1) as f64,
            after - before,
            made
        );
        assert_eq!(after - before, made, "increments lost on {name}");
    }
}

/// A worker process serving the `echo` spell; killed when dropped.
struct Worker(std::process::Child);

impl Drop for Worker {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn worker(spellhost: &Path, config: &Path, home: &Path, echo: &Path) -> Worker {
    let mut child = Command::new(spellhost)
        .args(["worker", "--concurrency", "4", "--config"])
        .arg(config)
        .arg(echo)
        .env("SPELLHOST_DATA_DIR", home.join("data"))
        .env("SPELLHOST_CACHE_DIR", home.join("cache"))
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    super::listening::after_line(child.stderr.take().unwrap(), "taking runs");
    Worker(child)
}

async fn queue(spellhost: &Path, echo: &Path, backends: &[(&str, String)]) {
    const RUNS: usize = 400;
    println!("== queue: {RUNS} runs of a trivial spell (echo), workers of 4 runs at once ==");
    for (name, url) in backends {
        let home = tempfile::tempdir().unwrap();
        let config = home.path().join("spellhost.toml");
        std::fs::write(&config, format!("[queue]\nurl = \"{url}\"\n")).unwrap();
        let queue: Arc<dyn RunQueue> = QueueBackend::parse(url)
            .unwrap()
            .open(Duration::from_secs(30))
            .unwrap();
        let mut anchor = None;
        for workers in [1, 2, 4] {
            let _workers: Vec<Worker> = (0..workers)
                .map(|_| worker(spellhost, &config, home.path(), echo))
                .collect();
            let started = Instant::now();
            let jobs: Vec<Job> = (0..RUNS).map(|i| Job::new("echo", i.to_string())).collect();
            for job in &jobs {
                queue.submit(job).await.unwrap();
            }
            for job in &jobs {
                let result = queue
                    .result(&job.run_id, Duration::from_secs(120))
                    .await
                    .unwrap()
                    .expect("a result");
                assert_eq!(result["ok"], true, "{result}");
            }
            let per_s = RUNS as f64 / started.elapsed().as_secs_f64();
            let anchor = *anchor.get_or_insert(per_s);
            println!(
                "{:<58} {per_s:>10.1} runs/s   {:.2}x 1 worker",
                format!("{name}, {workers} worker(s)"),
                per_s / anchor
            );
        }
        // Submit to start, one run at a time, an idle worker waiting.
        let _worker = worker(spellhost, &config, home.path(), echo);
        let mut waited = Vec::new();
        for i in 0..60 {
            let job = Job::new("echo", i.to_string());
            queue.submit(&job).await.unwrap();
            let result = queue
                .result(&job.run_id, Duration::from_secs(60))
                .await
                .unwrap()
                .expect("a result");
            waited.push(result["waited_ms"].as_f64().unwrap());
        }
        waited.remove(0); // the first run compiles
        print(
            &format!("submit to a worker taking the run, {name}"),
            "ms",
            &summarize(waited),
        );
    }
}

pub async fn scale(spellhost: &Path, echo: &Path) {
    let redis = Redis::start();
    let postgres = Postgres::start();
    let dir = tempfile::tempdir().unwrap();
    let backends = [
        (
            "SQLite",
            dir.path().join("state.sqlite3").display().to_string(),
        ),
        ("Redis", redis.url()),
        ("PostgreSQL", postgres.url()),
    ];
    state(&backends).await;
    queue(spellhost, echo, &backends[1..]).await;
    println!(
        "(two cores: the servers, the workers and this program share them; past two busy \
         processes, more workers add contention, not throughput)"
    );
}
