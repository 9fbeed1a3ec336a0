/* Portable fallback: ucontext (makes a sigprocmask system call per switch). */
#ifdef WEFT_USE_UCONTEXT
#include "arch/ctx.h"

#include <stdint.h>
#include <stdlib.h>

static __thread void *transfer;
static __thread weft__ctx *starting;

static void trampoline(void) {
    weft__ctx *c = starting;
    c->entry(transfer);
    abort();
}

void weft__ctx_init(weft__ctx *c, void *lo, size_t size, void (*entry)(void *)) {
    if (getcontext(&c->uc) != 0)
        abort();
    c->uc.uc_stack.ss_sp = lo;
    c->uc.uc_stack.ss_size = size;
    c->uc.uc_link = NULL;
    c->entry = entry;
    c->sp = (char *)lo + size - 64;
    makecontext(&c->uc, trampoline, 0);
}

/* transfer as it is now on the calling thread: a context may resume on another
 * thread than the one it left (worker groups), and the address of a thread-local
 * taken before swapcontext would be the old thread's. */
static __attribute__((noinline)) void *transfer_now(void) {
    void *v = transfer;
    __asm__ volatile("" : "+r"(v)::"memory");
    return v;
}

__attribute__((noinline)) void *weft__ctx_switch(weft__ctx *from, weft__ctx *to, void *arg) {
    char here;
    /* Everything the suspended side needs lies above this frame, less a
     * margin for swapcontext's own frame. */
    from->sp = (void *)(((uintptr_t)&here - 1024) & ~(uintptr_t)15);
    transfer = arg;
    starting = to;
    if (swapcontext(&from->uc, &to->uc) != 0)
        abort();
    return transfer_now();
}
#endif
