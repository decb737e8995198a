//! The run queue's contract on real Redis and PostgreSQL servers, through
//! the library: a run is handed to one worker at a time, a lease that ran
//! out moves it to another, the worker that lost it learns so when it
//! renews, and the first result stored stands.

mod support;

use std::time::{Duration, Instant};

use serde_json::json;
use spellhost::queue::{Job, QueueBackend, RunQueue, Taken};
use support::servers::Shared;

/// Takes a run for `worker`, waiting (bounded) for one to be free.
async fn take(queue: &dyn RunQueue, worker: &str) -> Taken {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(taken) = queue
            .take(worker, Duration::from_millis(500))
            .await
            .unwrap()
        {
            return taken;
        }
        assert!(Instant::now() < deadline, "{worker} never got a run");
    }
}

async fn a_lost_lease_moves_the_run_and_the_first_result_stands(kind: &str) {
    let server = Shared::start(kind);
    let queue = QueueBackend::parse(&server.url())
        .unwrap()
        .open(Duration::from_millis(300))
        .unwrap();
    let job = Job::new("echo", "hi");
    queue.submit(&job).await.unwrap();

    let first = take(&*queue, "a").await;
    assert_eq!(
        (first.job.run_id.as_str(), first.retries),
        (job.run_id.as_str(), 0)
    );
    assert!(
        queue.take("b", Duration::ZERO).await.unwrap().is_none(),
        "a held run is not handed out twice"
    );
    queue.renew("a", &first).await.unwrap();

    // `a` goes silent: once its lease has run out, `b` gets the run.
    let second = take(&*queue, "b").await;
    assert_eq!(
        (second.job.run_id.as_str(), second.retries),
        (job.run_id.as_str(), 1)
    );
    let lost = queue.renew("a", &first).await.unwrap_err();
    assert!(lost.0.contains("another worker took it"), "{lost}");
    queue.renew("b", &second).await.unwrap();

    // `a` finishes anyway, first; `b` after it: the first result stands.
    queue
        .finish(&first, &json!({ "output": "from a" }))
        .await
        .unwrap();
    queue
        .finish(&second, &json!({ "output": "from b" }))
        .await
        .unwrap();
    let result = queue
        .result(&job.run_id, Duration::from_secs(5))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(result["output"], "from a");
    assert!(
        queue
            .take("c", Duration::from_millis(700))
            .await
            .unwrap()
            .is_none(),
        "a finished run leaves the queue"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_lost_lease_moves_the_run_and_the_first_result_stands_on_redis() {
    a_lost_lease_moves_the_run_and_the_first_result_stands("redis").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_lost_lease_moves_the_run_and_the_first_result_stands_on_postgres() {
    a_lost_lease_moves_the_run_and_the_first_result_stands("postgres").await;
}

/// A run whose workers keep vanishing is given up after five takes, with
/// a result saying so (PostgreSQL).
#[tokio::test(flavor = "multi_thread")]
async fn a_run_that_keeps_losing_its_worker_is_given_up() {
    let server = Shared::start("postgres");
    let queue = QueueBackend::parse(&server.url())
        .unwrap()
        .open(Duration::from_millis(100))
        .unwrap();
    let job = Job::new("crashes-its-worker", "");
    queue.submit(&job).await.unwrap();
    for takes in 0..5 {
        let taken = take(&*queue, &format!("w{takes}")).await;
        assert_eq!(taken.retries, takes);
    }
    let deadline = Instant::now() + Duration::from_secs(30);
    let result = loop {
        assert!(
            queue
                .take("w5", Duration::from_millis(300))
                .await
                .unwrap()
                .is_none()
        );
        if let Some(result) = queue.result(&job.run_id, Duration::ZERO).await.unwrap() {
            break result;
        }
        assert!(Instant::now() < deadline, "never given up");
    };
    assert_eq!(result["error"]["kind"], "abandoned", "{result}");
}
