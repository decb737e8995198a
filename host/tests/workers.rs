//! `spellhost worker` and `spellhost submit` over a real Redis: runs
//! submitted by one process are run by worker processes, at least once,
//! with state shared by compare-and-swap — two workers count exactly, and a
//! worker killed mid-run has its run finished by another.

mod support;

use std::process::{Child, Stdio};

use serde_json::Value;
use support::servers::Redis;

/// A worker process; killed when dropped.
struct Worker {
    child: Child,
    log: support::listening::Log,
}

impl Drop for Worker {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn worker(home: &std::path::Path, config: &std::path::Path, spell: &str, lease: &str) -> Worker {
    let mut child = support::spellhost_command(home)
        .args(["worker", "--concurrency", "4", "--lease", lease, "--config"])
        .arg(config)
        .arg(spell)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let (_, log) = support::listening::after_line(child.stderr.take().unwrap(), "taking runs");
    Worker { child, log }
}

fn submit(home: &std::path::Path, config: &std::path::Path, spell: &str, input: &str) -> Value {
    let out = support::spellhost_command(home)
        .args([
            "submit",
            spell,
            "--wait",
            "--json",
            "--timeout",
            "60s",
            "--input",
            input,
            "--config",
        ])
        .arg(config)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

fn setup(redis: &Redis) -> (tempfile::TempDir, std::path::PathBuf) {
    let home = tempfile::tempdir().unwrap();
    let config = home.path().join("spellhost.toml");
    std::fs::write(
        &config,
        format!(
            "[state]\nurl = \"{0}\"\n\n[queue]\nurl = \"{0}\"\n",
            redis.url()
        ),
    )
    .unwrap();
    (home, config)
}

#[test]
fn two_workers_count_exactly_by_compare_and_swap() {
    let redis = Redis::start();
    let (home, config) = setup(&redis);
    let counter = support::guest("state_counter").display().to_string();
    let _a = worker(home.path(), &config, &counter, "30s");
    let _b = worker(home.path(), &config, &counter, "30s");
    const RUNS: usize = 32;
    let results: Vec<Value> = std::thread::scope(|scope| {
        let runs: Vec<_> = (0..RUNS)
            .map(|_| scope.spawn(|| submit(home.path(), &config, "state_counter", "")))
            .collect();
        runs.into_iter().map(|r| r.join().unwrap()).collect()
    });
    let mut counts: Vec<u64> = results
        .iter()
        .map(|r| r["output"].as_str().unwrap().parse().unwrap())
        .collect();
    counts.sort_unstable();
    assert_eq!(
        counts,
        (1..=RUNS as u64).collect::<Vec<_>>(),
        "each run counted once"
    );
    let workers: std::collections::BTreeSet<&str> = results
        .iter()
        .map(|r| r["worker"].as_str().unwrap())
        .collect();
    assert_eq!(workers.len(), 2, "both workers ran some: {workers:?}");
    for result in &results {
        assert_eq!(
            result["run_id"], result["stats"]["run_id"],
            "the submitted id is the run's"
        );
    }
}

#[test]
fn a_run_whose_worker_is_killed_is_finished_by_another() {
    let redis = Redis::start();
    let (home, config) = setup(&redis);
    let slow = home.path().join("slow.lua");
    std::fs::write(
        &slow,
        "local n = State.update('runs', function(n) return (n or 0) + 1 end)\nsleep(tonumber((...)))\nreturn 'done after ' .. n .. ' start(s)'\n",
    )
    .unwrap();
    let slow = slow.display().to_string();
    let mut first = worker(home.path(), &config, &slow, "1s");
    let submitter = {
        let (home, config) = (home.path().to_owned(), config.clone());
        std::thread::spawn(move || submit(&home, &config, "slow", "3"))
    };
    // Killed once it has started the run.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while !first
        .log
        .lock()
        .unwrap()
        .iter()
        .any(|l| l.contains("running `slow`"))
    {
        assert!(
            std::time::Instant::now() < deadline,
            "the first worker never took the run"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    first.child.kill().unwrap();
    first.child.wait().unwrap();
    let second = worker(home.path(), &config, &slow, "1s");
    let result = submitter.join().unwrap();
    assert_eq!(result["ok"], true, "{result}");
    assert_eq!(
        result["output"], "done after 2 start(s)",
        "run again from the start: {result}"
    );
    assert_eq!(result["retries"], 1, "{result}");
    assert!(
        second
            .log
            .lock()
            .unwrap()
            .iter()
            .any(|l| l.contains("taken again")),
        "the second worker says it took an abandoned run"
    );
}

#[test]
fn submit_without_a_queue_or_a_worker_says_what_to_do() {
    let home = tempfile::tempdir().unwrap();
    let config = home.path().join("spellhost.toml");
    std::fs::write(&config, "").unwrap();
    let out = support::spellhost_command(home.path())
        .args(["submit", "x", "--config"])
        .arg(&config)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(5));
    assert!(String::from_utf8_lossy(&out.stderr).contains("[queue] url"));

    let redis = Redis::start();
    let (home, config) = setup(&redis);
    let out = support::spellhost_command(home.path())
        .args([
            "submit",
            "nobody-serves-this",
            "--wait",
            "--timeout",
            "300ms",
            "--config",
        ])
        .arg(&config)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(5), "{stderr}");
    assert!(
        stderr.contains("is a worker serving `nobody-serves-this` up?"),
        "{stderr}"
    );
}
