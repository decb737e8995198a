# Sourced by the Justfile's interpreter recipes: points `cc` (as used by
# mlua's and rquickjs's build scripts) at Debian's clang-22 and a wasi
# sysroot made of Debian's wasi-libc headers.
_toolchain="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
_root="$(cd "$_toolchain/../.." && pwd)"
_sysroot="$_root/target/wasi-sysroot"
mkdir -p "$_sysroot/include" "$_sysroot/lib"
ln -sfn /usr/include/wasm32-wasi "$_sysroot/include/wasm32-wasip2"
ln -sfn /usr/lib/wasm32-wasi "$_sysroot/lib/wasm32-wasip2"
export WASI_SYSROOT="$_sysroot"
export CC_wasm32_wasip2=clang-22
export AR_wasm32_wasip2=llvm-ar-22
# Wasm exceptions carry Lua's setjmp/longjmp; our setjmp.h comes first.
export CFLAGS_wasm32_wasip2="-I$_toolchain/include -mllvm -wasm-enable-eh -mllvm -wasm-use-legacy-eh=false -mllvm -wasm-enable-sjlj -mexception-handling"
# C as LLVM bitcode, optimized whole at the link (rust-lld and clang-22 share
# LLVM 22; build-interpreters.sh checks): for Lua, inlining across its files
# made CPU-heavy scripts ~15 % faster (see guest-sdks/lua/build.rs for what
# the link then needs); QuickJS, one big file, builds the same way and runs
# as fast as before.
CFLAGS_wasm32_wasip2+=" -flto"
# Same bytes from any checkout: no absolute paths in the components
# (assert messages carry __FILE__, and rquickjs-sys compiles copies of its
# sources in OUT_DIR).
_cargo_home="${CARGO_HOME:-$HOME/.cargo}"
CFLAGS_wasm32_wasip2+=" -ffile-prefix-map=$_root=/spellhost -ffile-prefix-map=$_cargo_home=/cargo"
# rquickjs-sys would otherwise download wasi-sdk.
export RQUICKJS_SYS_NO_WASI_SDK=1
export RUSTFLAGS="--remap-path-prefix=$_root=/spellhost --remap-path-prefix=$_cargo_home=/cargo"
# Their own target directory: these RUSTFLAGS must not invalidate the
# workspace build.
export CARGO_TARGET_DIR="$_root/target/interpreters"
unset _toolchain _root _sysroot _cargo_home
