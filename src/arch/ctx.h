/* Register-level context switching. Knows nothing of coroutines. */
#ifndef WEFT_ARCH_CTX_H
#define WEFT_ARCH_CTX_H

#include <stddef.h>
#ifdef WEFT_USE_UCONTEXT
#include <ucontext.h>
#endif

typedef struct weft__ctx {
#ifdef WEFT_USE_UCONTEXT
    ucontext_t uc;
    void (*entry)(void *);
    void *sp; /* lowest live stack byte when suspended (approximate, with margin) */
#else
    void *sp; /* saved stack pointer; callee-saved registers sit just above it */
#endif
} weft__ctx;

/* Prepares c to start running entry(arg) on the stack [lo, lo+size), where
 * arg is the value of the first weft__ctx_switch() into c. */
void weft__ctx_init(weft__ctx *c, void *lo, size_t size, void (*entry)(void *));

/* Saves the current context into from, resumes to, handing it arg; returns
 * the arg handed back by whoever later switches into from. */
void *weft__ctx_switch(weft__ctx *from, weft__ctx *to, void *arg);

/* Lowest live address of a suspended context's stack (for copying stacks). */
static inline void *weft__ctx_sp(const weft__ctx *c) { return c->sp; }

#endif
