//! Builds the two C pieces Lua needs on wasm that Debian's wasi-libc lacks:
//! the setjmp/longjmp runtime (`libsetjmp.a`) and a `signal` that
//! refuses every handler (`libwasi-emulated-signal.a`), both named as lua-src links them.
//! The toolchain comes from `guest-sdks/toolchain/env.sh`.

fn main() {
    // Only the wasm build needs (or can compile) these; a host-target
    // `cargo check --workspace` must not try.
    if std::env::var("CARGO_CFG_TARGET_ARCH").as_deref() != Ok("wasm32") {
        return;
    }
    let c = std::path::Path::new("../toolchain/c");
    println!("cargo:rerun-if-changed=../toolchain");
    cc::Build::new()
        .file(c.join("wasm_sjlj.c"))
        .compile("setjmp");
    cc::Build::new()
        .file(c.join("wasi_signal.c"))
        .define("_WASI_EMULATED_SIGNAL", None)
        .compile("wasi-emulated-signal");
}
