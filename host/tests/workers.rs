//! `spellhost worker` and `spellhost submit` over a real Redis and a real
//! PostgreSQL: runs submitted by one process are run by worker processes,
//! at least once, with state shared by compare-and-swap — two workers count
//! exactly, a worker killed mid-run has its run finished by another, and a
//! database that goes away mid-run costs a retry, not a write.

mod support;

use std::process::{Child, Stdio};

use serde_json::Value;
use support::servers::{Postgres, Redis, Shared};

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
    worker_running(home, config, spell, lease, 4)
}

/// A worker running up to `concurrency` runs at once.
fn worker_running(
    home: &std::path::Path,
    config: &std::path::Path,
    spell: &str,
    lease: &str,
    concurrency: usize,
) -> Worker {
    let mut child = support::spellhost_command(home)
        .args([
            "worker",
            "--concurrency",
            &concurrency.to_string(),
            "--lease",
            lease,
            "--config",
        ])
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

/// A home whose configuration keeps state and the queue at `url`.
fn setup(url: &str) -> (tempfile::TempDir, std::path::PathBuf) {
    let home = tempfile::tempdir().unwrap();
    let config = home.path().join("spellhost.toml");
    std::fs::write(
        &config,
        format!("[state]\nurl = \"{url}\"\n\n[queue]\nurl = \"{url}\"\n"),
    )
    .unwrap();
    (home, config)
}

/// A Lua spell that counts its starts in state, then sleeps its input's
/// seconds.
fn slow_spell(home: &std::path::Path) -> String {
    let slow = home.join("slow.lua");
    std::fs::write(
        &slow,
        "local n = State.update('runs', function(n) return (n or 0) + 1 end)\nlog.info('counted start ' .. n)\nsleep(tonumber((...)))\nreturn 'done after ' .. n .. ' start(s)'\n",
    )
    .unwrap();
    slow.display().to_string()
}

/// Waits (bounded) until `worker` has logged a line containing `text`.
fn until_logged(worker: &Worker, text: &str) {
    support::listening::until_logged(&worker.log, text);
}

#[test]
fn two_workers_count_exactly_by_compare_and_swap_on_redis() {
    two_workers_count_exactly("redis");
}

#[test]
fn two_workers_count_exactly_by_compare_and_swap_on_postgres() {
    two_workers_count_exactly("postgres");
}

fn two_workers_count_exactly(kind: &str) {
    let server = Shared::start(kind);
    let (home, config) = setup(&server.url());
    let counter = support::guest("state_counter").display().to_string();
    // Two workers of 16 runs at once, all 32 runs going together.
    let _a = worker_running(home.path(), &config, &counter, "30s", 16);
    let _b = worker_running(home.path(), &config, &counter, "30s", 16);
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
fn a_run_whose_worker_is_killed_is_finished_by_another_on_redis() {
    a_run_whose_worker_is_killed_is_finished_by_another("redis");
}

#[test]
fn a_run_whose_worker_is_killed_is_finished_by_another_on_postgres() {
    a_run_whose_worker_is_killed_is_finished_by_another("postgres");
}

fn a_run_whose_worker_is_killed_is_finished_by_another(kind: &str) {
    let server = Shared::start(kind);
    let (home, config) = setup(&server.url());
    let slow = slow_spell(home.path());
    let mut first = worker(home.path(), &config, &slow, "1s");
    let submitter = {
        let (home, config) = (home.path().to_owned(), config.clone());
        std::thread::spawn(move || submit(&home, &config, "slow", "3"))
    };
    // Killed once the run has counted its start.
    until_logged(&first, "counted start 1");
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
    let (home, config) = setup(&redis.url());
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

/// The database stopped while a run goes on: the worker says what is wrong
/// and naming the setting, keeps the run's committed write, and when the
/// database is back takes the run again and finishes it; the submitter's
/// wait outlasts the outage.
#[test]
fn a_worker_outlasts_its_database_going_away_mid_run() {
    let mut postgres = Postgres::start();
    let (home, config) = setup(&postgres.url());
    let slow = slow_spell(home.path());
    let worker = worker(home.path(), &config, &slow, "2s");
    let submitter = {
        let (home, config) = (home.path().to_owned(), config.clone());
        std::thread::spawn(move || submit(&home, &config, "slow", "2"))
    };
    until_logged(&worker, "counted start 1");
    postgres.kill();
    // The run's result cannot be stored: it is left to be taken again.
    until_logged(&worker, "the run will be taken again");
    let said = worker.log.lock().unwrap().join("\n");
    assert!(
        said.contains("run queue on PostgreSQL, [queue] url postgres://spellhost:***@127.0.0.1")
            && said.contains("check the setting and that the server is up")
            && !said.contains(support::servers::POSTGRES_PASSWORD),
        "{said}"
    );
    postgres.resume();
    let result = submitter.join().unwrap();
    assert_eq!(result["ok"], true, "{result}");
    assert_eq!(
        result["output"], "done after 2 start(s)",
        "the first start's write was kept: {result}"
    );
    assert_eq!(result["retries"], 1, "{result}");
}

/// `spellhost serve` with a queue configured sends runs to the workers:
/// a plain request gets the worker's result, `Prefer: respond-async` gets
/// `202` and the result later at `/v1/runs/{id}`, and SSE streams the
/// run's events (shared through `[events] url`) then the result.
#[tokio::test(flavor = "multi_thread")]
async fn serve_sends_runs_to_the_workers() {
    let redis = Redis::start();
    let home = tempfile::tempdir().unwrap();
    let config = home.path().join("spellhost.toml");
    std::fs::write(
        &config,
        format!(
            "[queue]\nurl = \"{0}\"\n\n[events]\nurl = \"{0}\"\n",
            redis.url()
        ),
    )
    .unwrap();
    let echo = support::guest("echo").display().to_string();
    let worker = worker(home.path(), &config, &echo, "30s");
    let mut serve = support::spellhost_command(home.path())
        .args([
            "serve",
            "--anonymous",
            "--listen",
            "127.0.0.1:0",
            "--config",
        ])
        .arg(&config)
        .arg(&echo)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let (url, log) = support::listening::listening_url(serve.stderr.take().unwrap());
    let _serve = Worker { child: serve, log };
    let client = reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(60))
        .build()
        .unwrap();
    let runs = format!("{url}/v1/spells/echo/runs");

    let answer: Value = client
        .post(&runs)
        .json(&serde_json::json!({ "input": "hello" }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(answer["ok"], true, "{answer}");
    assert_eq!(answer["tenant"], "anonymous", "{answer}");
    assert!(
        worker
            .log
            .lock()
            .unwrap()
            .iter()
            .any(|l| l.contains(answer["run_id"].as_str().unwrap())),
        "the worker ran it: {answer}"
    );

    let accepted = client
        .post(&runs)
        .header("Prefer", "respond-async")
        .json(&serde_json::json!({ "input": "later" }))
        .send()
        .await
        .unwrap();
    assert_eq!(accepted.status(), 202);
    let location = accepted.headers()["location"].to_str().unwrap().to_owned();
    let body: Value = accepted.json().await.unwrap();
    assert_eq!(
        location,
        format!("/v1/runs/{}", body["run_id"].as_str().unwrap())
    );
    let result: Value = client
        .get(format!("{url}{location}?wait=30s"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(result["run_id"], body["run_id"], "{result}");
    assert_eq!(result["ok"], true, "{result}");
    assert_eq!(
        result["output"],
        answer["output"].as_str().unwrap().replace("hello", "later")
    );

    let unknown = client
        .get(format!("{url}/v1/runs/{}", uuid_like()))
        .send()
        .await
        .unwrap();
    assert_eq!(unknown.status(), 404);
    let bad = client
        .get(format!("{url}/v1/runs/a:b"))
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), 400);

    let streamed = client
        .post(&runs)
        .header("Accept", "text/event-stream")
        .json(&serde_json::json!({ "input": "streamed" }))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let started = streamed.find("event: spellhost.run.started");
    let finished = streamed.find("event: spellhost.run.finished");
    let result = streamed.find("event: result");
    assert!(
        started.is_some() && started < finished && finished < result,
        "{streamed}"
    );
}

fn uuid_like() -> String {
    "00000000-0000-4000-8000-000000000000".to_owned()
}

/// `[audit] url`: the capability decisions of runs in different processes
/// — a worker's and a `spellhost run`'s — land in one PostgreSQL table,
/// each naming its run.
#[tokio::test(flavor = "multi_thread")]
async fn every_process_audits_into_one_table() {
    let postgres = Postgres::start();
    let (home, config) = setup(&postgres.url());
    std::fs::write(
        &config,
        format!(
            "{}\n[audit]\nurl = \"{}\"\n",
            std::fs::read_to_string(&config).unwrap(),
            postgres.url()
        ),
    )
    .unwrap();
    let spell = support::guest("hostile_http_unlisted")
        .display()
        .to_string();
    let _worker = worker(home.path(), &config, &spell, "30s");
    let queued = {
        let (home, config) = (home.path().to_owned(), config.clone());
        tokio::task::spawn_blocking(move || submit(&home, &config, "hostile_http_unlisted", "9"))
            .await
            .unwrap()
    };
    let local = support::spellhost_command(home.path())
        .args(["run", "--stats", "--input", "9", "--config"])
        .arg(&config)
        .arg(&spell)
        .output()
        .unwrap();
    let stats: Value = String::from_utf8_lossy(&local.stderr)
        .lines()
        .find_map(|l| serde_json::from_str(l).ok())
        .unwrap_or_else(|| panic!("{}", String::from_utf8_lossy(&local.stderr)));
    let (client, connection) = tokio_postgres::connect(&postgres.url(), tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(connection);
    for run_id in [
        queued["run_id"].as_str().unwrap(),
        stats["run_id"].as_str().unwrap(),
    ] {
        let rows = client
            .query(
                "SELECT record->>'capability', record->>'allowed', record->>'target'
                 FROM spellhost_audit WHERE record->>'run_id' = $1",
                &[&run_id],
            )
            .await
            .unwrap();
        assert!(
            rows.iter().any(|row| {
                row.get::<_, String>(0) == "net" && row.get::<_, String>(1) == "false"
            }),
            "run {run_id}'s denial is in the trail: {:?}",
            rows.iter()
                .map(|r| (r.get::<_, String>(0), r.get::<_, String>(2)))
                .collect::<Vec<_>>()
        );
    }
}
