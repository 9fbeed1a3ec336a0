/* Timeout scopes (weft_timeout_enter / weft_timeout_leave).
 *
 * A scope only edits its owner's scope state (internal.h, weft__scope):
 * enter saves the enclosing deadline and innermost scope in the caller's
 * weft_timeout and installs the earlier deadline; leave puts them back.
 * Nothing is armed: weft__park and the plain-thread waits read the state
 * when a wait begins (weft__scope_clip), so a scope that no wait meets
 * costs two stores each way. */
#include "internal.h"

#define SCOPE_MAGIC 0x74696d65u /* "time" */

WEFT_TLS weft__scope weft__tls_scope = {WEFT_FOREVER, NULL, false};

WEFT_API int weft_timeout_enter(weft_timeout *t, int64_t deadline) {
    if (unlikely(!t))
        return -EINVAL;
    weft__scope *sc = weft__scope_self();
    t->deadline_ = deadline;
    t->outer_ = sc->dl;
    t->prev_ = sc->top;
    t->state_ = sc;
    t->tag_ = SCOPE_MAGIC;
    sc->dl = weft__dl_min(sc->dl, deadline);
    sc->top = t;
    return 0;
}

WEFT_API int weft_timeout_leave(weft_timeout *t) {
    if (unlikely(!t || t->tag_ != SCOPE_MAGIC))
        return -EINVAL;
    weft__scope *sc = weft__scope_self();
    if (unlikely(t->state_ != sc || sc->top != t))
        return -EPERM;
    t->tag_ = WEFT__TAG_DEAD;
    sc->dl = t->outer_;
    sc->top = t->prev_;
    if (likely(!sc->hit))
        return 0;
    /* A wait was cut: by this scope if its deadline has passed. The mark
     * stays for the enclosing scopes while their deadline has passed too. */
    int r = weft__dl_passed(t->deadline_) ? -ETIMEDOUT : 0;
    if (!weft__dl_passed(sc->dl))
        sc->hit = false;
    return r;
}

WEFT_API int64_t weft_timeout_deadline(void) {
    return weft__scope_self()->dl;
}

WEFT_API void weft__scope_hit(void) {
    weft__scope_self()->hit = true;
}
