/* Named process-shared primitives: each is a named shared-memory object
 * (shm/named.h) of its own kind holding one primitive. */
#include "psync/psync.h"
#include "shm/named.h"

typedef int (*init_fn)(void *obj, int64_t arg);

static int create(void **out, const char *name, uint32_t kind, size_t size, init_fn init,
                  int64_t arg) {
    if (!out)
        return -EINVAL;
    void *p;
    int r = weft__named_create(name, kind, size, &p);
    if (r < 0)
        return r;
    if ((r = init(p, arg)) < 0) {
        weft__named_abort(p, name);
        return r;
    }
    weft__named_ready(p);
    *out = p;
    return 0;
}

static int attach(void **out, const char *name, uint32_t kind) {
    if (!out)
        return -EINVAL;
    return weft__named_attach(name, kind, out, NULL);
}

static int detach(void *obj, uint32_t kind) { return weft__named_detach_as(obj, kind); }

static int i_plock(void *o, int64_t a) { (void)a; return weft_plock_init(o); }
static int i_prlock(void *o, int64_t a) { (void)a; return weft_prlock_init(o); }
static int i_psem(void *o, int64_t a) {
    return weft_psem_init(o, a & 0xffffffffLL, (int)(a >> 32));
}
static int i_pevent(void *o, int64_t a) { (void)a; return weft_pevent_init(o); }
static int i_pcond(void *o, int64_t a) { (void)a; return weft_pcond_init(o); }
static int i_pbarrier(void *o, int64_t a) { return weft_pbarrier_init(o, (int)a); }

int weft_plock_create_named(weft_plock **out, const char *name) {
    return create((void **)out, name, WEFT__NK_LOCK, sizeof(weft_plock), i_plock, 0);
}
int weft_plock_attach(weft_plock **out, const char *name) {
    return attach((void **)out, name, WEFT__NK_LOCK);
}
int weft_plock_detach(weft_plock *l) { return detach(l, WEFT__NK_LOCK); }

int weft_prlock_create_named(weft_prlock **out, const char *name) {
    return create((void **)out, name, WEFT__NK_RLOCK, sizeof(weft_prlock), i_prlock, 0);
}
int weft_prlock_attach(weft_prlock **out, const char *name) {
    return attach((void **)out, name, WEFT__NK_RLOCK);
}
int weft_prlock_detach(weft_prlock *l) { return detach(l, WEFT__NK_RLOCK); }

int weft_psem_create_named(weft_psem **out, const char *name, int64_t value, int bounded) {
    if (value < 0 || value > INT32_MAX)
        return -EINVAL;
    return create((void **)out, name, WEFT__NK_SEM, sizeof(weft_psem), i_psem,
                  value | ((int64_t)(bounded != 0) << 32));
}
int weft_psem_attach(weft_psem **out, const char *name) {
    return attach((void **)out, name, WEFT__NK_SEM);
}
int weft_psem_detach(weft_psem *s) { return detach(s, WEFT__NK_SEM); }

int weft_pevent_create_named(weft_pevent **out, const char *name) {
    return create((void **)out, name, WEFT__NK_EVENT, sizeof(weft_pevent), i_pevent, 0);
}
int weft_pevent_attach(weft_pevent **out, const char *name) {
    return attach((void **)out, name, WEFT__NK_EVENT);
}
int weft_pevent_detach(weft_pevent *e) { return detach(e, WEFT__NK_EVENT); }

int weft_pcond_create_named(weft_pcond **out, const char *name) {
    return create((void **)out, name, WEFT__NK_COND, sizeof(weft_pcond), i_pcond, 0);
}
int weft_pcond_attach(weft_pcond **out, const char *name) {
    return attach((void **)out, name, WEFT__NK_COND);
}
int weft_pcond_detach(weft_pcond *c) { return detach(c, WEFT__NK_COND); }

int weft_pbarrier_create_named(weft_pbarrier **out, const char *name, int parties) {
    if (parties < 1)
        return -EINVAL;
    return create((void **)out, name, WEFT__NK_BARRIER, sizeof(weft_pbarrier), i_pbarrier,
                  parties);
}
int weft_pbarrier_attach(weft_pbarrier **out, const char *name) {
    return attach((void **)out, name, WEFT__NK_BARRIER);
}
int weft_pbarrier_detach(weft_pbarrier *b) { return detach(b, WEFT__NK_BARRIER); }
