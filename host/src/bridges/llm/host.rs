//! `spellhost:spell/llm` host functions. Every entry point resolves the
//! model and checks the allow-list before anything leaves the host.

use std::time::Instant;

use wasmtime::component::Resource;
use wasmtime_wasi::p2::{DynPollable, subscribe};

use super::{ChatStream, LlmView, PendingChat};
use crate::bindings::llm::{
    self, ChatRequest, ChatResponse, EmbedRequest, Embeddings, Error, ModelInfo, StreamEvent,
};

type LlmResult<T> = wasmtime::Result<Result<T, Error>>;

impl llm::Host for LlmView<'_> {
    async fn chat(&mut self, request: ChatRequest) -> LlmResult<ChatResponse> {
        let call = match self.ctx.route(request.options.model.as_deref()) {
            Ok(call) => call,
            Err(err) => return Ok(Err(err)),
        };
        Ok(call.chat(request).await)
    }

    async fn start_chat(
        &mut self,
        request: ChatRequest,
    ) -> wasmtime::Result<Resource<PendingChat>> {
        let pending = match self.ctx.route(request.options.model.as_deref()) {
            Ok(call) => PendingChat::spawn(call, request),
            Err(err) => PendingChat::failed(err),
        };
        Ok(self.table.push(pending)?)
    }

    async fn stream_chat(&mut self, mut request: ChatRequest) -> LlmResult<Resource<ChatStream>> {
        let mut call = match self.ctx.route(request.options.model.as_deref()) {
            Ok(call) => call,
            Err(err) => return Ok(Err(err)),
        };
        if call.has_hooks() {
            // after-llm hooks must see the whole answer before the spell.
            return Ok(match call.chat(request).await {
                Ok(response) => Ok(self.table.push(ChatStream::whole(response))?),
                Err(err) => Err(err),
            });
        }
        let started = Instant::now();
        if let Err(err) = call.admit(&mut request).await {
            call.finished("stream", started, Err(&err));
            return Ok(Err(err));
        }
        let events = match call
            .route
            .provider
            .chat_stream(&call.route.model, &request)
            .await
        {
            Ok(events) => events,
            Err(err) => {
                call.finished("stream", started, Err(&err));
                return Ok(Err(err));
            }
        };
        Ok(Ok(self.table.push(ChatStream::spawn(
            call,
            events,
            started,
            self.ctx.memory.clone(),
        ))?))
    }

    async fn embed(&mut self, request: EmbedRequest) -> LlmResult<Embeddings> {
        if request.inputs.is_empty() {
            return Ok(Err(Error::InvalidRequest(
                "embed needs at least one input".into(),
            )));
        }
        let call = match self.ctx.route(request.model.as_deref()) {
            Ok(call) => call,
            Err(err) => return Ok(Err(err)),
        };
        let started = Instant::now();
        let result = call
            .route
            .provider
            .embed(&call.route.model, &request.inputs)
            .await;
        call.finished("embed", started, result.as_ref().map(|e| &e.usage));
        Ok(result.map(|mut e| {
            e.model = call.qualify(&e.model);
            e
        }))
    }

    async fn list_models(&mut self) -> LlmResult<Vec<ModelInfo>> {
        let router = self.ctx.router.clone();
        let default = router.default_model();
        let mut models = Vec::new();
        for provider in router.providers() {
            // A provider that cannot be reached lists nothing rather than
            // failing the whole call; the other providers still answer.
            let Ok(names) = provider.list_models().await else {
                continue;
            };
            for name in names {
                let id = format!("{}/{name}", provider.id());
                if self.ctx.policy.allows(&id, default.as_deref()) {
                    models.push(ModelInfo {
                        aliases: router.aliases_of(&id),
                        is_default: default.as_deref() == Some(id.as_str()),
                        id,
                    });
                }
            }
        }
        if let Some(default) = default
            && !models.iter().any(|m| m.id == default)
        {
            models.insert(
                0,
                ModelInfo {
                    aliases: router.aliases_of(&default),
                    is_default: true,
                    id: default,
                },
            );
        }
        Ok(Ok(models))
    }
}

impl llm::HostPendingChat for LlmView<'_> {
    async fn subscribe(
        &mut self,
        this: Resource<PendingChat>,
    ) -> wasmtime::Result<Resource<DynPollable>> {
        subscribe(self.table, this)
    }

    async fn get(
        &mut self,
        this: Resource<PendingChat>,
    ) -> wasmtime::Result<Option<Result<ChatResponse, Error>>> {
        Ok(self.table.get_mut(&this)?.take())
    }

    async fn drop(&mut self, this: Resource<PendingChat>) -> wasmtime::Result<()> {
        self.table.delete(this)?;
        Ok(())
    }
}

impl llm::HostChatStream for LlmView<'_> {
    async fn subscribe(
        &mut self,
        this: Resource<ChatStream>,
    ) -> wasmtime::Result<Resource<DynPollable>> {
        subscribe(self.table, this)
    }

    async fn try_next(&mut self, this: Resource<ChatStream>) -> LlmResult<Option<StreamEvent>> {
        Ok(self.table.get_mut(&this)?.try_next())
    }

    async fn next(&mut self, this: Resource<ChatStream>) -> LlmResult<Option<StreamEvent>> {
        Ok(self.table.get_mut(&this)?.next().await)
    }

    async fn drop(&mut self, this: Resource<ChatStream>) -> wasmtime::Result<()> {
        self.table.delete(this)?;
        Ok(())
    }
}
