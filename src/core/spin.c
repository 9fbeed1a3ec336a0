/* Contended path of the internal spin lock: spin with pause, then yield the
 * CPU (the holder may have been preempted; there are only two cores). */
#include "internal.h"

#include <sched.h>

static inline void cpu_relax(void) {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ __volatile__("yield");
#endif
}

void weft__spin_lock_slow(weft__spin *s) {
    for (unsigned i = 0;; i++) {
        if (atomic_load_explicit(&s->v, memory_order_relaxed) == 0 &&
            !atomic_exchange_explicit(&s->v, 1, memory_order_acquire))
            return;
        if (i < 64)
            cpu_relax();
        else
            sched_yield();
    }
}
