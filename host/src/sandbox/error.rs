//! Why a spell could not be loaded or did not run to completion.

use crate::limits::LimitExceeded;

/// A failure of loading or running a spell. `Display` is the sentence the
/// CLI prints; each variant has its own exit code (see `cli::exit`).
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// The file is not a WebAssembly component at all.
    #[error("{0}")]
    NotAComponent(String),
    /// The component failed validation or compilation.
    #[error("the spell is not a valid component: {0}")]
    Invalid(String),
    /// The component imports something the host does not provide.
    #[error(
        "the spell imports `{import}`, which spellhost does not provide. \
         Spells may import spellhost:spell@0.1.0 (llm, state, event, log, config) and WASI 0.2; \
         rebuild it against the WIT in spellhost's wit/ directory. ({detail})"
    )]
    MissingImport { import: String, detail: String },
    /// The component does not export the spell world's `run`.
    #[error(
        "the component is not a spell: it must export `run: func(input: string) -> result<string, string>` \
         (the `spell` world of spellhost:spell@0.1.0). ({0})"
    )]
    NotASpell(String),
    /// A resource limit stopped the run.
    #[error("{0}")]
    Limit(#[from] LimitExceeded),
    /// The spell trapped (a panic, an out-of-bounds access, …).
    #[error("the spell crashed: {0}")]
    Trap(String),
    /// The spell ran and returned an error.
    #[error("the spell failed: {0}")]
    Failed(String),
    /// Something went wrong in the host.
    #[error("host error: {0:#}")]
    Host(anyhow::Error),
}

impl RunError {
    /// Turns a wasmtime error from instantiating or calling a spell into the
    /// limit or trap it stands for.
    pub fn from_wasm(err: wasmtime::Error) -> Self {
        if let Some(limit) = err.downcast_ref::<LimitExceeded>() {
            return Self::Limit(limit.clone());
        }
        if is_handle_exhaustion(&err) {
            // The caller fills in the number (see `Runtime::run`).
            return Self::Limit(LimitExceeded::Handles { limit: 0 });
        }
        if let Some(exit) = err.downcast_ref::<wasmtime_wasi::I32Exit>() {
            return Self::Failed(format!(
                "the spell called exit({}) instead of returning",
                exit.0
            ));
        }
        if let Some(trap) = err.downcast_ref::<wasmtime::Trap>() {
            match trap {
                // The fuel limit carries its number; the caller fills it in
                // (see `Runtime::run`). Deadlines arrive as `LimitExceeded`
                // (from the call hook) or as a tokio timeout, not as traps.
                wasmtime::Trap::OutOfFuel => return Self::Limit(LimitExceeded::Fuel { limit: 0 }),
                wasmtime::Trap::StackOverflow => return Self::Limit(LimitExceeded::Stack),
                wasmtime::Trap::MemoryOutOfBounds if overflowed_shadow_stack(&err) => {
                    return Self::Limit(LimitExceeded::Stack);
                }
                _ => {}
            }
        }
        Self::Trap(format!("{err:?}"))
    }

    /// Classifies an instantiation-time linking error.
    pub fn from_link(err: wasmtime::Error) -> Self {
        let detail = format!("{err:#}");
        // wasmtime names the missing item in backticks:
        // "component imports instance `foo:bar/baz`, but a matching
        // implementation was not found in the linker".
        if detail.contains("matching implementation was not found") {
            let import = detail.split('`').nth(1).unwrap_or("?").to_owned();
            return Self::MissingImport { import, detail };
        }
        Self::Invalid(detail)
    }
}

/// Checks the magic number and layer before handing bytes to the compiler,
/// so a core module or a random file gets a message that says what it is.
pub fn check_component_header(bytes: &[u8]) -> Result<(), RunError> {
    if bytes.len() < 8 || &bytes[0..4] != b"\0asm" {
        return Err(RunError::NotAComponent(
            "the file is not WebAssembly (no `\\0asm` header); expected a component built for wasm32-wasip2".into(),
        ));
    }
    // Bytes 4..8: version (u16) and layer (u16). Layer 1 is a component.
    if bytes[6..8] == [0, 0] {
        return Err(RunError::NotAComponent(
            "the file is a core WebAssembly module, not a component; build it for the wasm32-wasip2 target \
             (or wrap it with `wasm-tools component new`)"
                .into(),
        ));
    }
    Ok(())
}

/// Whether `err` is a handle table at its limit: the host's resource
/// table (`ResourceTableError::Full`) or the guest's handle count, which
/// wasmtime reports only as text.
fn is_handle_exhaustion(err: &wasmtime::Error) -> bool {
    if matches!(
        err.downcast_ref::<wasmtime::component::ResourceTableError>(),
        Some(wasmtime::component::ResourceTableError::Full)
    ) {
        return true;
    }
    // wasmtime's own error at the root, not a message some plugin or tool
    // passed up.
    let root = err.root_cause().to_string();
    root.ends_with("store handle limit exceeded") || root == "resource table has no free keys"
}

/// Whether an out-of-bounds access is a C stack (in linear memory) run off
/// its bottom: toolchains put that stack first, growing down towards
/// address 0, so overflowing it wraps to addresses just below 4 GiB.
fn overflowed_shadow_stack(err: &wasmtime::Error) -> bool {
    let text = format!("{err:#}");
    let Some(rest) = text.split("memory fault at wasm address 0x").nth(1) else {
        return false;
    };
    let hex: String = rest.chars().take_while(char::is_ascii_hexdigit).collect();
    u64::from_str_radix(&hex, 16).is_ok_and(|addr| (0xFFFF_0000..0x1_0001_0000).contains(&addr))
}

#[cfg(test)]
mod shadow_stack_tests {
    use super::overflowed_shadow_stack;

    fn fault(addr: u64) -> wasmtime::Error {
        wasmtime::Error::msg("wasm trap: out of bounds memory access").context(format!(
            "memory fault at wasm address {addr:#x} in linear memory of size 0x170000"
        ))
    }

    #[test]
    fn faults_just_below_4_gib_are_a_stack_run_off_its_bottom() {
        assert!(overflowed_shadow_stack(&fault(0x1_0000_0005)));
        assert!(overflowed_shadow_stack(&fault(0xFFFF_FFF0)));
        assert!(!overflowed_shadow_stack(&fault(0x20_0000)));
        assert!(!overflowed_shadow_stack(&fault(0x7FFF_0000)));
        assert!(!overflowed_shadow_stack(&wasmtime::Error::msg(
            "something else"
        )));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_are_told_apart() {
        assert!(
            matches!(check_component_header(b"hello world"), Err(RunError::NotAComponent(m)) if m.contains("not WebAssembly"))
        );
        let core = b"\0asm\x01\0\0\0";
        assert!(
            matches!(check_component_header(core), Err(RunError::NotAComponent(m)) if m.contains("core WebAssembly module"))
        );
        let component = b"\0asm\x0d\0\x01\0";
        assert!(check_component_header(component).is_ok());
    }
}
