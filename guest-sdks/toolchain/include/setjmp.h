/*
 * setjmp/longjmp for wasm32 with wasm exception handling.
 *
 * Written for spellhost: Debian's wasi-libc predates setjmp support. With
 * `-mllvm -wasm-enable-sjlj`, clang lowers calls to setjmp/longjmp into
 * calls to __wasm_setjmp / __wasm_setjmp_test / __wasm_longjmp, which
 * c/wasm_sjlj.c implements; this header only has to declare the API.
 */
#ifndef SPELLHOST_SETJMP_H
#define SPELLHOST_SETJMP_H

#ifdef __cplusplus
extern "C" {
#endif

/* Room for the runtime's state (c/wasm_sjlj.c: 16 bytes on wasm32). */
typedef unsigned long long jmp_buf[4];

int setjmp(jmp_buf env) __attribute__((__returns_twice__));
_Noreturn void longjmp(jmp_buf env, int val);

#define _setjmp setjmp
#define _longjmp longjmp

#ifdef __cplusplus
}
#endif

#endif
