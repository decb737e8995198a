//! Builds the two C pieces Lua needs on wasm that Debian's wasi-libc lacks:
//! the setjmp/longjmp runtime (`libsetjmp.a`) and a `signal` that
//! refuses every handler (`libwasi-emulated-signal.a`), both named as lua-src links them.
//! The toolchain comes from `guest-sdks/toolchain/env.sh`.
//!
//! `env.sh` compiles C to LLVM bitcode (`-flto`) so that the final link
//! optimizes Lua's files together (inlining across `lvm.c`, `ltable.c`,
//! `ldo.c`, …). Code generation then happens inside the linker, so the
//! linker needs the flags that turn setjmp/longjmp into wasm exceptions,
//! and the setjmp runtime must stay a native object: the code generator
//! emits calls into it after bitcode has been resolved.

/// The `-mllvm` options clang gets in `env.sh`, for the link-time code
/// generator.
const LINK_TIME_CODEGEN: [&str; 4] = [
    "-wasm-enable-eh",
    "-wasm-use-legacy-eh=false",
    "-wasm-enable-sjlj",
    "-exception-model=wasm",
];

fn main() {
    // Only the wasm build needs (or can compile) these; a host-target
    // `cargo check --workspace` must not try.
    if std::env::var("CARGO_CFG_TARGET_ARCH").as_deref() != Ok("wasm32") {
        return;
    }
    for option in LINK_TIME_CODEGEN {
        println!("cargo:rustc-link-arg=--mllvm={option}");
    }
    let c = std::path::Path::new("../toolchain/c");
    println!("cargo:rerun-if-changed=../toolchain");
    without_lto();
    cc::Build::new()
        .file(c.join("wasm_sjlj.c"))
        .compile("setjmp");
    cc::Build::new()
        .file(c.join("wasi_signal.c"))
        .define("_WASI_EMULATED_SIGNAL", None)
        .compile("wasi-emulated-signal");
}

/// Drops `-flto` from the C flags `cc` reads (they come last on its command
/// line, so a `.flag("-fno-lto")` could not override them).
fn without_lto() {
    const KEY: &str = "CFLAGS_wasm32_wasip2";
    let Ok(flags) = std::env::var(KEY) else {
        return;
    };
    let native: Vec<&str> = flags
        .split_whitespace()
        .filter(|flag| !flag.starts_with("-flto"))
        .collect();
    // SAFETY: a build script is single-threaded.
    unsafe { std::env::set_var(KEY, native.join(" ")) };
}
