/*
 * The runtime half of setjmp/longjmp on wasm exception handling, written
 * for spellhost (Debian's wasi-libc has none).
 *
 * clang (-mllvm -wasm-enable-sjlj) rewrites every function that calls
 * setjmp: each setjmp records (a label, the function's invocation id) in
 * the jmp_buf; longjmp throws the `__c_longjmp` exception carrying
 * (env, val); the rewritten function catches it and asks
 * __wasm_setjmp_test whether the jmp_buf belongs to this invocation, and
 * if so resumes after the matching setjmp with `val`.
 */
#include <stdint.h>
#include <stdlib.h>

struct spellhost_jmp_arg {
    void *env;
    int val;
};

struct spellhost_jmp_buf {
    void *func_invocation_id;
    uint32_t label;
    struct spellhost_jmp_arg arg;
};

_Static_assert(sizeof(struct spellhost_jmp_buf) <= 32, "fits in setjmp.h's jmp_buf");

/* The exception tag clang >= 22 expects the C library to define. */
__asm__(".globl __c_longjmp\n"
        ".tagtype __c_longjmp i32\n"
        "__c_longjmp:\n");

void __wasm_setjmp(void *env, uint32_t label, void *func_invocation_id) {
    struct spellhost_jmp_buf *jb = env;
    if (label == 0 || func_invocation_id == 0) {
        abort();
    }
    jb->func_invocation_id = func_invocation_id;
    jb->label = label;
}

uint32_t __wasm_setjmp_test(void *env, void *func_invocation_id) {
    struct spellhost_jmp_buf *jb = env;
    return jb->func_invocation_id == func_invocation_id ? jb->label : 0;
}

void __wasm_longjmp(void *env, int val) {
    struct spellhost_jmp_buf *jb = env;
    jb->arg.env = env;
    jb->arg.val = val == 0 ? 1 : val;
    __builtin_wasm_throw(1, &jb->arg); /* tag 1: __c_longjmp */
}
