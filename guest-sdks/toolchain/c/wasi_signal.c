/*
 * `signal` for WASI, which has no signals. lua-src links
 * -lwasi-emulated-signal; the Lua library itself never installs a
 * handler, so refusing every request is enough. Written for spellhost.
 */
#include <errno.h>
#include <signal.h>

void (*signal(int sig, void (*handler)(int)))(int) {
    (void)sig;
    (void)handler;
    errno = ENOSYS;
    return SIG_ERR;
}
