//! REPL sessions (`spellhost repl`): one interpreter instance kept for many
//! entries, so what an entry defines is there for the next.
//!
//! A session is a run that takes its input an entry at a time: it has the
//! run's grants, bridges, state, memory limit and LLM budget for its whole
//! life, and each entry gets the run's fuel, deadline and output limit
//! afresh. An entry stopped by
//! a limit, a crash or an interrupt leaves the instance unusable (wasmtime
//! does not re-enter an instance a call left halfway), so the session
//! starts a fresh one and says so: what the entries defined is gone; the
//! spell's persistent state is not.

use std::sync::Arc;

use wasmtime::component::Instance;

use super::{OpenRun, Runtime, Spell, call_error};
use crate::bindings::interpreter::Interpreter;
use crate::bindings::interpreter::exports::spellhost::spell::repl;
use crate::bridges::llm::UsageMeter;
use crate::bridges::run::RunCtx;
use crate::limits::Limits;
use crate::policy::audit::Denial;
use crate::sandbox::RunError;

/// Why an entry gave no value.
#[derive(Debug)]
pub enum EntryError {
    /// The entry stops mid-statement: read another line and try the whole.
    Incomplete,
    /// It failed: the language's error, a limit, or a crash.
    Failed(RunError),
}

/// What one entry did.
pub struct EntryReport {
    /// The entry's values as the language's REPL shows them.
    pub result: Result<String, EntryError>,
    /// What it tried and was refused.
    pub denials: Vec<Denial>,
    /// Whether the session had to start a fresh instance after it.
    pub restart: Restart,
}

/// What became of the instance after an entry.
#[derive(Debug)]
pub enum Restart {
    /// It goes on.
    No,
    /// A limit or crash stopped the entry: a fresh instance took its
    /// place, and the entries' definitions are gone.
    Done,
    /// No fresh instance could start: the session cannot go on.
    Failed(RunError),
}

/// An interpreter instance taking entries (see the module docs).
pub struct Session {
    runtime: Runtime,
    spell: Spell,
    limits: Limits,
    run: RunCtx,
    open: OpenRun,
    repl: Arc<Interpreter>,
    /// Denials already reported, so each entry reports its own.
    denials_seen: usize,
}

impl Runtime {
    /// Opens a REPL session on `spell`, an interpreter (see
    /// [`Runtime::load_script`]), within `limits`.
    pub async fn open_session(&self, spell: &Spell, limits: &Limits) -> Result<Session, RunError> {
        let run = RunCtx::new(spell.name());
        let (open, repl) = self.instantiate_session(spell, limits, &run, None).await?;
        Ok(Session {
            runtime: self.clone(),
            spell: spell.clone(),
            limits: limits.clone(),
            run,
            open,
            repl,
            denials_seen: 0,
        })
    }

    async fn instantiate_session(
        &self,
        spell: &Spell,
        limits: &Limits,
        run: &RunCtx,
        meter: Option<Arc<UsageMeter>>,
    ) -> Result<(OpenRun, Arc<Interpreter>), RunError> {
        let mut open = self
            .open_run(spell, limits, run, None, meter)
            .await
            .map_err(|report| match report.result {
                Err(err) => err,
                Ok(_) => RunError::Host(anyhow::anyhow!("the session could not start")),
            })?;
        crate::engine::meter(&mut open.store, limits.fuel, limits.timeout)
            .expect("fuel is enabled on the engine");
        let instance: Instance = spell
            .prepared
            .pre
            .instance_pre()
            .instantiate_async(&mut open.store)
            .await
            .map_err(|err| call_error(err, limits))?;
        let repl = Interpreter::new(&mut open.store, &instance).map_err(|err| {
            RunError::NotASpell(format!(
                "this component has no REPL (it does not export spellhost:spell/repl): {err}"
            ))
        })?;
        Ok((open, Arc::new(repl)))
    }
}

impl Session {
    /// Evaluates one entry with the run's fuel and deadline.
    pub async fn eval(&mut self, entry: &str) -> EntryReport {
        let limits = &self.limits;
        crate::engine::meter(&mut self.open.store, limits.fuel, limits.timeout)
            .expect("fuel is enabled on the engine");
        let repl = self.repl.clone();
        let call = repl
            .spellhost_spell_repl()
            .call_eval(&mut self.open.store, entry);
        let outcome = tokio::time::timeout(limits.timeout, call).await;
        let (result, broken) = match outcome {
            Err(_) => (
                Err(RunError::Limit(crate::limits::LimitExceeded::Timeout {
                    limit: limits.timeout,
                })),
                true,
            ),
            Ok(Err(err)) => (Err(call_error(err, limits)), true),
            Ok(Ok(Err(repl::EntryError::Incomplete))) => {
                return EntryReport {
                    result: Err(EntryError::Incomplete),
                    denials: self.new_denials(),
                    restart: Restart::No,
                };
            }
            Ok(Ok(Err(repl::EntryError::Failed(message)))) => {
                (Err(RunError::Failed(message)), false)
            }
            Ok(Ok(Ok(shown))) if shown.len() as u64 > limits.max_output_bytes => (
                Err(RunError::Limit(crate::limits::LimitExceeded::Output {
                    limit: limits.max_output_bytes,
                    size: shown.len() as u64,
                })),
                false,
            ),
            Ok(Ok(Ok(shown))) => (Ok(shown), false),
        };
        let denials = self.new_denials();
        let restart = match broken {
            false => Restart::No,
            true => match self.restart().await {
                Ok(()) => Restart::Done,
                Err(err) => Restart::Failed(err),
            },
        };
        EntryReport {
            result: result.map_err(EntryError::Failed),
            denials,
            restart,
        }
    }

    /// Replaces the instance with a fresh one (after an entry was stopped
    /// or interrupted midway): the entries' definitions are gone; the LLM
    /// budget spent so far stays spent.
    pub async fn restart(&mut self) -> Result<(), RunError> {
        let meter = self.open.meter.clone();
        let (open, repl) = self
            .runtime
            .instantiate_session(&self.spell, &self.limits, &self.run, Some(meter))
            .await?;
        self.open = open;
        self.repl = repl;
        self.denials_seen = 0;
        Ok(())
    }

    /// The LLM usage of the session so far.
    pub fn usage(&self) -> crate::bridges::llm::UsageTotals {
        self.open.meter.totals()
    }

    fn new_denials(&mut self) -> Vec<Denial> {
        let all = self.open.recorder.denials();
        let new = all.get(self.denials_seen..).unwrap_or_default().to_vec();
        self.denials_seen = all.len();
        new
    }
}
