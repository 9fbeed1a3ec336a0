/* Contended path of the internal spin lock: spin with pause, then yield the
 * CPU (the holder may have been preempted; there are only two cores). */
#include "internal.h"

#include <sched.h>


void weft__spin_lock_slow(weft__spin *s) {
    for (unsigned i = 0;; i++) {
        if (atomic_load_explicit(&s->v, memory_order_relaxed) == 0 &&
            !atomic_exchange_explicit(&s->v, 1, memory_order_acquire))
            return;
        if (i < 64)
            weft__cpu_relax();
        else
            sched_yield();
    }
}
