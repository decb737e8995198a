//! Reading a server process's stderr: the address its "listening on" line
//! gives, and every line after it, kept for the test to look at. Shared by
//! the serve and MCP tests and the serve benchmark.

use std::io::{BufRead as _, BufReader};
use std::process::ChildStderr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// The lines a server printed after its address.
pub type Log = Arc<Mutex<Vec<String>>>;

/// Waits (up to a minute) for the "listening on URL" line and returns URL;
/// later lines go to the returned log. Panics with what the server printed
/// if it stops before saying where it listens.
pub fn listening_url(stderr: ChildStderr) -> (String, Log) {
    let (tx, rx) = std::sync::mpsc::channel();
    let log = Log::default();
    let kept = log.clone();
    std::thread::spawn(move || {
        let mut sent = false;
        let mut before = Vec::new();
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if sent {
                kept.lock().unwrap().push(line);
            } else if let Some(at) = line.split("listening on ").nth(1) {
                let url = at.split_whitespace().next().unwrap_or_default().to_owned();
                let _ = tx.send(Ok(url));
                sent = true;
            } else {
                before.push(line);
            }
        }
        if !sent {
            let _ = tx.send(Err(before.join("\n")));
        }
    });
    let url = rx
        .recv_timeout(Duration::from_secs(60))
        .expect("the server printed its address")
        .unwrap_or_else(|stderr| panic!("the server did not start:\n{stderr}"));
    (url, log)
}
