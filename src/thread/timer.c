/* weft_timer: Python's threading.Timer, a thread that waits, then calls fn.
 *
 * The thread waits on a cancel event with the deadline. Whether fn runs is
 * decided once, by a compare-and-swap on `state` from PENDING: the timer
 * thread to FIRED when the wait times out, weft_timer_cancel to CANCELLED.
 * So a cancel that wins means fn never runs, and one that loses reports it.
 * The timer record is the thread's argument, owned by the thread record
 * (freed with it on join or detach), so cancel is valid exactly as long as
 * the handle is. */
#include "internal.h"

enum { TIMER_PENDING, TIMER_CANCELLED, TIMER_FIRED };

typedef struct timer {
    weft_event cancel;
    atomic_int state;
    int64_t deadline;
    weft_thread_fn fn;
    void *arg;
} timer;

static void timer_free(void *p) {
    timer *tm = p;
    int r = weft_event_destroy(&tm->cancel);
    WEFT_ASSERT(r == 0);
    weft__free(tm);
}

static void *timer_run(void *p) {
    timer *tm = p;
    int r;
    do
        r = weft_event_wait(&tm->cancel, tm->deadline);
    while (r != 0 && r != -ETIMEDOUT);
    int expect = TIMER_PENDING;
    if (r == -ETIMEDOUT && atomic_compare_exchange_strong(&tm->state, &expect, TIMER_FIRED))
        return tm->fn(tm->arg);
    return NULL;
}

WEFT_API int weft_timer_start(weft_thread **out, int64_t delay_ns, weft_thread_fn fn, void *arg) {
    if (!out || !fn || delay_ns < 0)
        return -EINVAL;
    timer *tm = weft__malloc(sizeof *tm);
    if (!tm)
        return -ENOMEM;
    weft_event_init(&tm->cancel);
    atomic_init(&tm->state, TIMER_PENDING);
    tm->deadline = weft_after(delay_ns);
    tm->fn = fn;
    tm->arg = arg;
    int r = weft__thread_start_owned(out, timer_run, tm, timer_free);
    if (r != 0)
        timer_free(tm);
    return r;
}

WEFT_API int weft_timer_cancel(weft_thread *t) {
    if (!t)
        return -EINVAL;
    timer *tm = weft__thread_owned_arg(t, timer_run);
    if (!tm)
        return -EINVAL;
    int expect = TIMER_PENDING;
    if (atomic_compare_exchange_strong(&tm->state, &expect, TIMER_CANCELLED)) {
        weft_event_set(&tm->cancel);
        return 0;
    }
    return expect == TIMER_FIRED ? 1 : 0;
}
