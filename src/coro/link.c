/* Links: callbacks run when a coroutine finishes (gevent's Greenlet.link).
 *
 * A coroutine's links are one list in link order. The user's run as its last
 * acts, before it is marked done, in its own context; the internal watchers
 * (weft_killall's) run right after it is marked done and only wake someone.
 * Every run takes the first link of its kind from the head again, so a
 * callback may link, unlink, or block while others change the list. */
#include "coro/sched.h"

#define LINK_WATCH (-1) /* internal: a watcher of "done" */

typedef struct weft__link {
    struct weft__link *next;
    weft_link_fn fn;
    void *ud;
    uint64_t id;
    int when; /* WEFT_LINK_*, or LINK_WATCH */
} weft__link;

static WEFT_TLS uint64_t next_id;

static bool matches(int when, int status) {
    return when == WEFT_LINK_ALL || (when == WEFT_LINK_FAILURE && status < 0) ||
           (when == WEFT_LINK_SUCCESS && status == 0);
}

static weft__link *add(weft__coro *co, int when, weft_link_fn fn, void *ud) {
    weft__link *l = weft__malloc(sizeof *l);
    if (!l)
        return NULL;
    l->next = NULL;
    l->fn = fn;
    l->ud = ud;
    l->id = ++next_id;
    l->when = when;
    weft__link **pp = &co->links;
    while (*pp)
        pp = &(*pp)->next;
    *pp = l;
    return l;
}

void weft__links_run(weft__sched *s, weft__coro *co, void *result, bool done) {
    (void)s;
    weft_coro h = {co, atomic_load_explicit(&co->gen, memory_order_relaxed)};
    for (;;) {
        weft__link **pp = &co->links;
        while (*pp && ((*pp)->when == LINK_WATCH) != done)
            pp = &(*pp)->next;
        weft__link *l = *pp;
        if (!l)
            return;
        *pp = l->next;
        weft_link_fn fn = l->fn;
        void *ud = l->ud;
        int when = l->when;
        weft__free(l);
        if (when == LINK_WATCH || matches(when, co->status))
            fn(h, result, co->status, ud);
    }
}

int weft__link_watch(weft__coro *co, weft_link_fn fn, void *ud) {
    return add(co, LINK_WATCH, fn, ud) ? 0 : -ENOMEM;
}

void weft__link_unwatch(weft__coro *co, void *ud) {
    for (weft__link **pp = &co->links; *pp; pp = &(*pp)->next) {
        weft__link *l = *pp;
        if (l->when == LINK_WATCH && l->ud == ud) {
            *pp = l->next;
            weft__free(l);
            return;
        }
    }
}

void weft__coro_extras_free(weft__coro *co) {
    while (co->links) {
        weft__link *l = co->links;
        co->links = l->next;
        weft__free(l);
    }
    weft__locals_free(co);
}

/* c resolved on the calling thread. */
static weft__coro *resolve(weft_coro c, int *err) {
    weft__coro *co = c.p;
    if (!co || atomic_load_explicit(&co->gen, memory_order_acquire) != c.gen) {
        *err = -ESRCH;
        return NULL;
    }
    weft__sched *s = weft__sched_get();
    if (!s || atomic_load_explicit(&co->sched, memory_order_relaxed) != s ||
        ((co->flags & WEFT__F_GROUP) && co != s->current)) {
        /* a group's coroutine may be running on another worker: only it links itself */
        *err = -EXDEV;
        return NULL;
    }
    return co;
}

WEFT_API int weft_coro_link(weft_coro c, int when, weft_link_fn fn, void *ud, uint64_t *id) {
    if (!fn || (when != WEFT_LINK_ALL && when != WEFT_LINK_FAILURE && when != WEFT_LINK_SUCCESS))
        return -EINVAL;
    int err;
    weft__coro *co = resolve(c, &err);
    if (!co)
        return err;
    if (co->flags & WEFT__F_MAIN)
        return -EINVAL;
    if (co->state == WEFT__C_DONE) {
        if (id)
            *id = 0;
        if (matches(when, co->status))
            fn(c, co->arg, co->status, ud);
        return 0;
    }
    weft__link *l = add(co, when, fn, ud);
    if (!l)
        return -ENOMEM;
    if (id)
        *id = l->id;
    return 0;
}

WEFT_API int weft_coro_unlink(weft_coro c, uint64_t id) {
    int err;
    weft__coro *co = resolve(c, &err);
    if (!co)
        return err;
    for (weft__link **pp = &co->links; *pp && id; pp = &(*pp)->next) {
        weft__link *l = *pp;
        if (l->id == id && l->when != LINK_WATCH) {
            *pp = l->next;
            weft__free(l);
            return 0;
        }
    }
    return -ENOENT;
}
