//! The workflow bridge: `workflow.run` over the host-side [`engine`].

pub mod engine;

use wasmtime::component::{HasData, Linker};

use crate::bindings::workflow::{self, Error};
pub use engine::{SpellRunner, WorkflowEnv, WorkflowError};

/// Per-instance workflow context.
pub struct WorkflowCtx {
    pub env: WorkflowEnv,
}

struct WorkflowBridge;

impl HasData for WorkflowBridge {
    type Data<'a> = &'a mut WorkflowCtx;
}

/// Wires `spellhost:spell/workflow` into `linker`.
pub fn add_to_linker<T: Send + 'static>(
    linker: &mut Linker<T>,
    view: fn(&mut T) -> &mut WorkflowCtx,
) -> wasmtime::Result<()> {
    workflow::add_to_linker::<T, WorkflowBridge>(linker, view)
}

impl workflow::Host for &mut WorkflowCtx {
    async fn run(
        &mut self,
        definition_json: String,
        input: String,
    ) -> wasmtime::Result<Result<String, Error>> {
        let definition = match serde_json::from_str(&definition_json) {
            Ok(definition) => definition,
            Err(err) => {
                return Ok(Err(Error::Invalid(format!(
                    "the workflow is not JSON: {err}"
                ))));
            }
        };
        Ok(engine::run(self.env.clone(), &definition, &input)
            .await
            .map(|output| output.to_string())
            .map_err(|err| match err {
                WorkflowError::Invalid { .. } => Error::Invalid(err.to_string()),
                WorkflowError::StepFailed { .. } => Error::StepFailed(err.to_string()),
                WorkflowError::Cancelled { .. } => Error::Cancelled(err.to_string()),
            }))
    }
}
