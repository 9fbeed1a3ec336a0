/* Per-coroutine storage (gevent.local, pthread keys for coroutines).
 *
 * A key is an index into a process-wide table and the generation the index
 * had when the key was made: odd while the key exists, bumped to even when
 * it is deleted and to the next odd one when the index is reused. Every
 * owner (a coroutine, or a thread for its main coroutine and when it has
 * no scheduler) has an array of slots, grown on demand, each holding a
 * value and the generation of the key that set it: a value is seen only
 * through the key that set it, while that key exists. Getting is a few
 * loads and compares; nothing is locked but creating and deleting keys. */
#include "coro/sched.h"

#include <pthread.h>
#include <string.h>

#define ROUNDS 4 /* destructor rounds, as PTHREAD_DESTRUCTOR_ITERATIONS */

typedef struct {
    _Atomic uint32_t gen;
    _Atomic(void (*)(void *)) dtor;
} key_entry;

static key_entry keys[WEFT_CORO_KEYS_MAX];
static pthread_mutex_t keys_lock = PTHREAD_MUTEX_INITIALIZER;

typedef struct {
    void *value;
    uint32_t gen;
} slot;

typedef struct weft__locals {
    uint32_t cap;
    slot s[];
} weft__locals;

/* The slots of the thread itself (its main coroutine; no scheduler). */
static WEFT_TLS weft__locals *tls_locals;
static pthread_key_t thread_key;
static pthread_once_t thread_key_once = PTHREAD_ONCE_INIT;
static bool thread_key_ok;

static void run_dtors(weft__locals **where) {
    for (int round = 0; round < ROUNDS && *where; round++) {
        bool called = false;
        for (uint32_t i = 0; *where && i < (*where)->cap; i++) {
            slot *sl = &(*where)->s[i];
            void *v = sl->value;
            if (!v)
                continue;
            sl->value = NULL;
            if (atomic_load_explicit(&keys[i].gen, memory_order_acquire) != sl->gen)
                continue; /* the key was deleted: dropped */
            void (*dtor)(void *) = atomic_load_explicit(&keys[i].dtor, memory_order_acquire);
            if (dtor) {
                dtor(v); /* may set values again, and grow *where */
                called = true;
            }
        }
        if (!called)
            break;
    }
    weft__free(*where);
    *where = NULL;
}

static void thread_exit(void *p) {
    (void)p;
    run_dtors(&tls_locals);
}

static void make_thread_key(void) {
    thread_key_ok = pthread_key_create(&thread_key, thread_exit) == 0;
}

void weft__locals_finish(weft__coro *co) {
    run_dtors(&co->locals);
}

void weft__locals_free(weft__coro *co) {
    weft__free(co->locals);
    co->locals = NULL;
}

/* Where the caller's slots are: its coroutine's, or its thread's. */
static inline weft__locals **mine(bool *thread) {
    weft__sched *s = weft__sched_get();
    if (s) {
        weft__coro *co = weft__sched_running(s);
        if (!(co->flags & WEFT__F_MAIN)) {
            *thread = false;
            return &co->locals;
        }
    }
    *thread = true;
    return &tls_locals;
}

static inline bool key_live(weft_coro_key key) {
    return key.idx_ < WEFT_CORO_KEYS_MAX && (key.gen_ & 1) &&
           atomic_load_explicit(&keys[key.idx_].gen, memory_order_relaxed) == key.gen_;
}

WEFT_API int weft_coro_key_create(weft_coro_key *key, void (*destructor)(void *value)) {
    if (!key)
        return -EINVAL;
    pthread_mutex_lock(&keys_lock);
    for (uint32_t i = 0; i < WEFT_CORO_KEYS_MAX; i++) {
        uint32_t g = atomic_load_explicit(&keys[i].gen, memory_order_relaxed);
        if (g & 1)
            continue;
        atomic_store_explicit(&keys[i].dtor, destructor, memory_order_relaxed);
        atomic_store_explicit(&keys[i].gen, g + 1, memory_order_release);
        pthread_mutex_unlock(&keys_lock);
        key->idx_ = i;
        key->gen_ = g + 1;
        return 0;
    }
    pthread_mutex_unlock(&keys_lock);
    return -EAGAIN;
}

WEFT_API int weft_coro_key_delete(weft_coro_key key) {
    int r = -EINVAL;
    pthread_mutex_lock(&keys_lock);
    if (key_live(key)) {
        /* Odd + 1 is even; after 2^31 reuses it wraps past 0 (still even). */
        atomic_store_explicit(&keys[key.idx_].gen, key.gen_ + 1, memory_order_release);
        r = 0;
    }
    pthread_mutex_unlock(&keys_lock);
    return r;
}

WEFT_API void *weft_coro_getspecific(weft_coro_key key) {
    bool thread;
    weft__locals *l = *mine(&thread);
    if (!l || key.idx_ >= l->cap)
        return NULL;
    slot *sl = &l->s[key.idx_];
    if (sl->gen != key.gen_ || !key_live(key))
        return NULL;
    return sl->value;
}

WEFT_API int weft_coro_setspecific(weft_coro_key key, const void *value) {
    if (!key_live(key))
        return -EINVAL;
    bool thread;
    weft__locals **where = mine(&thread);
    weft__locals *l = *where;
    if (!l || key.idx_ >= l->cap) {
        if (!value)
            return 0; /* unset already */
        uint32_t old = l ? l->cap : 0, cap = old ? old * 2 : 8;
        while (cap <= key.idx_)
            cap *= 2;
        if (cap > WEFT_CORO_KEYS_MAX)
            cap = WEFT_CORO_KEYS_MAX;
        if (thread) {
            /* The thread's slots get their destructors at thread exit. */
            pthread_once(&thread_key_once, make_thread_key);
            if (!thread_key_ok)
                return -ENOMEM;
        }
        l = weft__realloc(l, sizeof *l + cap * sizeof(slot));
        if (!l)
            return -ENOMEM;
        memset(&l->s[old], 0, (cap - old) * sizeof(slot));
        l->cap = cap;
        *where = l;
        if (thread)
            pthread_setspecific(thread_key, l);
    }
    l->s[key.idx_].value = (void *)(uintptr_t)value;
    l->s[key.idx_].gen = key.gen_;
    return 0;
}
