//! `spellhost:spell/event` host functions.

use std::time::Duration;

use wasmtime::component::Resource;
use wasmtime_wasi::p2::{DynPollable, Pollable as _, subscribe};

use super::{Event, EventView, MAX_PAYLOAD_BYTES, Subscription, TopicPattern, validate_topic};
use crate::bindings::event::{self, Error};

fn to_wit(event: &Event) -> event::Event {
    event::Event {
        topic: event.topic.clone(),
        payload_json: event.payload.to_string(),
        source: event.source.clone(),
        timestamp_ms: event.timestamp_ms,
    }
}

impl event::Host for EventView<'_> {
    async fn emit(
        &mut self,
        topic: String,
        payload_json: String,
    ) -> wasmtime::Result<Result<(), Error>> {
        if let Err(err) = validate_topic(&topic) {
            return Ok(Err(Error::Invalid(err)));
        }
        if payload_json.len() > MAX_PAYLOAD_BYTES {
            return Ok(Err(Error::Invalid(format!(
                "payload is {} bytes; the limit is {MAX_PAYLOAD_BYTES}",
                payload_json.len()
            ))));
        }
        let payload = match serde_json::from_str(&payload_json) {
            Ok(payload) => payload,
            Err(err) => {
                return Ok(Err(Error::Invalid(format!(
                    "payload is not valid JSON: {err}"
                ))));
            }
        };
        if let Err(limit) = self.ctx.rate.take() {
            return Ok(Err(Error::Denied(limit)));
        }
        self.ctx.bus.publish(match &self.ctx.run_id {
            Some(run_id) => Event::new(topic, payload, self.ctx.source.clone()).from_run(run_id),
            None => Event::new(topic, payload, self.ctx.source.clone()),
        });
        Ok(Ok(()))
    }

    async fn subscribe(
        &mut self,
        patterns: Vec<String>,
    ) -> wasmtime::Result<Result<Resource<Subscription>, Error>> {
        if patterns.is_empty() {
            return Ok(Err(Error::Invalid(
                "subscribe needs at least one pattern".into(),
            )));
        }
        let parsed = match patterns
            .iter()
            .map(|p| TopicPattern::parse(p))
            .collect::<Result<Vec<_>, _>>()
        {
            Ok(parsed) => parsed,
            Err(err) => return Ok(Err(Error::Invalid(err))),
        };
        let subscription = Subscription::new(self.ctx.bus.receiver(), parsed);
        Ok(Ok(self.table.push(subscription)?))
    }
}

impl event::HostSubscription for EventView<'_> {
    async fn subscribe(
        &mut self,
        this: Resource<Subscription>,
    ) -> wasmtime::Result<Resource<DynPollable>> {
        subscribe(self.table, this)
    }

    async fn try_next(
        &mut self,
        this: Resource<Subscription>,
    ) -> wasmtime::Result<Option<event::Event>> {
        let subscription = self.table.get_mut(&this)?;
        Ok(subscription.try_next().map(|e| to_wit(&e)))
    }

    async fn next(
        &mut self,
        this: Resource<Subscription>,
        timeout_ms: Option<u64>,
    ) -> wasmtime::Result<Option<event::Event>> {
        let subscription = self.table.get_mut(&this)?;
        if let Some(event) = subscription.try_next() {
            return Ok(Some(to_wit(&event)));
        }
        // Without a timeout the run's deadline bounds the wait.
        let wait = timeout_ms.map_or(Duration::MAX, Duration::from_millis);
        let _ = tokio::time::timeout(wait, subscription.ready()).await;
        Ok(subscription.try_next().map(|e| to_wit(&e)))
    }

    async fn lagged(&mut self, this: Resource<Subscription>) -> wasmtime::Result<u64> {
        Ok(self.table.get(&this)?.lagged())
    }

    async fn drop(&mut self, this: Resource<Subscription>) -> wasmtime::Result<()> {
        self.table.delete(this)?;
        Ok(())
    }
}
