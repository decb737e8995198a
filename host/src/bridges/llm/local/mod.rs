//! The offline local provider (`local/<name>`): GGUF llama-family models
//! run in-process on the CPU with candle. No key, no network, no server.
//!
//! Models live in the models directory (see [`catalog::models_dir`]) as
//! `<name>.gguf`; `spellhost models pull smollm2` fetches the default one
//! and `spellhost models add FILE.gguf` adds any other. A model is loaded on
//! first use and kept for the life of the process; requests to one model
//! run one at a time. Decoding is greedy unless a temperature is set, so
//! answers are reproducible.
//!
//! Tools are offered in Hermes' format (`<tools>` in the system prompt;
//! a call is `<tool_call>{"name": ..., "arguments": ...}</tool_call>`), and
//! a JSON answer (`response-format`) or a call, once opened, is decoded
//! under constraint ([`grammar`]): it always parses and fits its schema's
//! shape. Whether to call a tool is the model's choice. There are no
//! embeddings.

pub mod catalog;
pub mod grammar;
mod llama;
mod model;
mod sampler;
mod template;
mod threads;
mod tokenizer;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use super::provider::*;
pub use model::{GenerateParams, LocalModel};
pub use threads::settle_thread_counts;

/// Provider id of local models.
pub const PROVIDER_ID: &str = "local";

/// Serves the GGUF models of a directory.
pub struct LocalProvider {
    dir: PathBuf,
    loaded: Mutex<HashMap<String, Arc<Mutex<LocalModel>>>>,
}

impl LocalProvider {
    pub fn new(dir: PathBuf) -> Self {
        Self {
            dir,
            loaded: Mutex::default(),
        }
    }

    /// Loads `name` (once per process), on the blocking pool.
    async fn model(&self, name: &str) -> Result<Arc<Mutex<LocalModel>>, LlmError> {
        if let Some(model) = self
            .loaded
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(name)
        {
            return Ok(model.clone());
        }
        let path = catalog::model_path(&self.dir, name);
        if !path.exists() {
            return Err(LlmError::InvalidRequest(format!(
                "local model `{name}` is not installed (looked for {}); run `spellhost models pull {name}` \
                 or `spellhost models add FILE.gguf --name {name}`",
                path.display()
            )));
        }
        let display_name = name.to_owned();
        let model = tokio::task::spawn_blocking(move || {
            let started = Instant::now();
            let size_mb = std::fs::metadata(&path).map_or(0, |m| m.len() >> 20);
            progress(&format!(
                "loading local model {display_name} ({size_mb} MB)…"
            ));
            let model = LocalModel::load(&path);
            if model.is_ok() {
                progress(&format!(
                    " ready in {:.2} s\n",
                    started.elapsed().as_secs_f64()
                ));
            } else {
                progress("\n");
            }
            model
        })
        .await
        .map_err(|e| LlmError::Unavailable(format!("loading the local model failed: {e}")))?
        .map_err(|e| LlmError::Unavailable(format!("cannot load local model `{name}`: {e:#}")))?;
        let model = Arc::new(Mutex::new(model));
        self.loaded
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(name.to_owned(), model.clone());
        Ok(model)
    }
}

/// Progress of slow steps on stderr: one line updated in place on a
/// terminal, whole lines otherwise.
fn progress(message: &str) {
    use std::io::{IsTerminal as _, Write as _};
    let mut stderr = std::io::stderr().lock();
    if std::io::stderr().is_terminal() {
        let _ = stderr.write_all(message.as_bytes());
    } else if !message.trim().is_empty() {
        let _ = writeln!(stderr, "{}", message.trim());
    }
    let _ = stderr.flush();
}

#[async_trait::async_trait]
impl LlmProvider for LocalProvider {
    fn id(&self) -> &str {
        PROVIDER_ID
    }

    async fn chat(
        &self,
        model_name: &str,
        request: &ChatRequest,
    ) -> Result<ChatResponse, LlmError> {
        // A request it would refuse is refused before the model loads.
        let params = GenerateParams::from_request(request)?;
        let model = self.model(model_name).await?;
        let prompt = template::chatml(request);
        let name = model_name.to_owned();
        tokio::task::spawn_blocking(move || {
            let mut model = model.lock().unwrap_or_else(|e| e.into_inner());
            let mut text = String::new();
            let end = model.generate(&prompt, &params, |piece| {
                text.push_str(piece);
                true
            })?;
            Ok(ChatResponse {
                text,
                tool_calls: end.tool_calls,
                finish_reason: end.finish_reason,
                usage: end.usage,
                model: name,
            })
        })
        .await
        .map_err(|e| LlmError::Unavailable(format!("local generation failed: {e}")))?
    }

    async fn chat_stream(
        &self,
        model_name: &str,
        request: &ChatRequest,
    ) -> Result<EventStream, LlmError> {
        let params = GenerateParams::from_request(request)?;
        let model = self.model(model_name).await?;
        let prompt = template::chatml(request);
        let name = model_name.to_owned();
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        // Generation stops as soon as the receiver is gone (the spell dropped
        // the stream, or the run ended).
        tokio::task::spawn_blocking(move || {
            let mut model = model.lock().unwrap_or_else(|e| e.into_inner());
            // An empty piece only asks whether anyone still listens.
            let result = model.generate(&prompt, &params, |piece| {
                if piece.is_empty() {
                    return !tx.is_closed();
                }
                tx.send(Ok(StreamEvent::Text(piece.to_owned()))).is_ok()
            });
            match result {
                Ok(end) => {
                    for call in end.tool_calls {
                        let _ = tx.send(Ok(StreamEvent::ToolCall(call)));
                    }
                    let _ = tx.send(Ok(StreamEvent::Finish(StreamEnd {
                        finish_reason: end.finish_reason,
                        usage: end.usage,
                        model: name,
                    })));
                }
                Err(e) => {
                    let _ = tx.send(Err(e));
                }
            }
        });
        Ok(Box::pin(futures::stream::unfold(rx, |mut rx| async move {
            rx.recv().await.map(|item| (item, rx))
        })))
    }

    async fn embed(&self, _model: &str, _inputs: &[String]) -> Result<Embeddings, LlmError> {
        Err(LlmError::InvalidRequest(
            "local models do not compute embeddings; use a provider's embedding model".into(),
        ))
    }

    async fn list_models(&self) -> Result<Vec<String>, LlmError> {
        Ok(catalog::installed(&self.dir))
    }
}
