/* Futures made by hand (concurrent.futures.Future() with set_result /
 * set_exception: a promise): created pending, completed once by whoever holds
 * them, waited on, called back and cancelled like a pool task's future. */
#include "pool/pool.h"

WEFT_API int weft_future_create(weft_future **out) {
    if (!out)
        return -EINVAL;
    weft_future *f = weft__malloc(sizeof *f);
    if (!f) {
        *out = NULL;
        return -ENOMEM;
    }
    weft__future_init(f, NULL, NULL, 1);
    *out = f;
    return 0;
}

WEFT_API int weft_future_retain(weft_future *f) {
    if (!f)
        return -EINVAL;
    weft__future_check(f, "weft_future_retain");
    atomic_fetch_add_explicit(&f->refs, 1, memory_order_relaxed);
    return 0;
}

/* Completes a hand-made future: claims it (PENDING -> RUNNING, so one setter
 * wins), writes the outcome, then publishes DONE and wakes the waiters. */
static int complete(weft_future *f, void *result, int status, const char *fn) {
    if (!f)
        return -EINVAL;
    weft__future_check(f, fn);
    if (f->fn)
        return -EPERM; /* a pool task's future: its task completes it */
    unsigned s = atomic_load_explicit(&f->state, memory_order_acquire);
    do {
        if ((s & F_MASK) != F_PENDING)
            return -EALREADY;
    } while (!atomic_compare_exchange_weak_explicit(&f->state, &s,
                                                    (s & ~(unsigned)F_MASK) | F_RUNNING,
                                                    memory_order_acq_rel, memory_order_acquire));
    f->result = result;
    f->status = status;
    weft__future_finish(f, atomic_exchange_explicit(&f->state, F_DONE, memory_order_acq_rel));
    return 0;
}

WEFT_API int weft_future_set_result(weft_future *f, void *result) {
    return complete(f, result, 0, "weft_future_set_result");
}

WEFT_API int weft_future_set_exception(weft_future *f, int err) {
    if (f && err >= 0)
        return -EINVAL;
    return complete(f, NULL, err, "weft_future_set_exception");
}
