//! Reading a process's stderr: the line a test waits for (a server's
//! "listening on" address, a worker's start, a spell's log line), and every
//! line after it, kept for the test to look at. Shared by the serve, MCP,
//! event and worker tests and the serve benchmark.

use std::io::{BufRead as _, BufReader};
use std::process::ChildStderr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// The lines a server printed after its address.
pub type Log = Arc<Mutex<Vec<String>>>;

/// Waits (up to a minute) until `log` has a line containing `text`.
pub fn until_logged(log: &Log, text: &str) {
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while !log.lock().unwrap().iter().any(|l| l.contains(text)) {
        assert!(
            std::time::Instant::now() < deadline,
            "never logged `{text}`: {:?}",
            log.lock().unwrap()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Waits (up to a minute) for the "listening on URL" line and returns URL;
/// later lines go to the returned log. Panics with what the server printed
/// if it stops before saying where it listens.
pub fn listening_url(stderr: ChildStderr) -> (String, Log) {
    let (line, log) = after_line(stderr, "listening on ");
    let at = line.split("listening on ").nth(1).unwrap_or_default();
    let url = at.split_whitespace().next().unwrap_or_default().to_owned();
    (url, log)
}

/// Waits (up to a minute) for a line of a process's stderr that contains
/// `marker` and returns it; later lines go to the returned log (read until
/// the process ends, so it never blocks on a full pipe). Panics with what
/// the process printed if it ends first.
pub fn after_line(stderr: ChildStderr, marker: &str) -> (String, Log) {
    let (tx, rx) = std::sync::mpsc::channel();
    let log = Log::default();
    let kept = log.clone();
    let marker = marker.to_owned();
    std::thread::spawn(move || {
        let mut sent = false;
        let mut before = Vec::new();
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if sent {
                kept.lock().unwrap().push(line);
            } else if line.contains(&marker) {
                let _ = tx.send(Ok(line));
                sent = true;
            } else {
                before.push(line);
            }
        }
        if !sent {
            let _ = tx.send(Err(before.join("\n")));
        }
    });
    let line = rx
        .recv_timeout(Duration::from_secs(60))
        .expect("the process printed the line awaited")
        .unwrap_or_else(|stderr| panic!("the process ended first:\n{stderr}"));
    (line, log)
}
