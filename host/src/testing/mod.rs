//! `spellhost test`: a spell's tests, written as test files
//! (`*.test.toml`) beside it.
//!
//! A test runs the spell for real — its interpreter or component, its
//! grants, limits and state — with the model replaced by the test's replies
//! (a built-in provider that keeps a real model's rules), so tests need no
//! key and no network. Expectations cover the output or error, the state
//! left behind, the events published, the capabilities refused and what
//! was asked of the model. `--record` asks the configured provider instead
//! and keeps its answers as the test's recording.
//!
//! [`file`] reads and finds test files, [`run`] runs them, [`expect`]
//! judges a run, [`report`] writes JUnit XML.

pub mod expect;
pub mod file;
pub mod report;
pub mod run;

pub use file::{Suite, discover};
pub use run::{Answers, SuiteResult, TestOptions, TestResult, run_suite};
