/* Threads without a scheduler in weft_dump: a thread that parks in a weft
 * primitive outside any coroutine (a plain pthread, a pool worker, a weft
 * thread that runs none) is listed at its first park, with what it waits
 * on (weft__why writes its thread record) and since when; it leaves the
 * list when it exits. The record is the thread's own TLS: only the thread
 * writes it; the dump reads it under the list lock, racily by design. */
#include "coro/sched.h"

#include <pthread.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

WEFT_TLS weft__tw weft__tls_tw;

static pthread_mutex_t g_mu = PTHREAD_MUTEX_INITIALIZER;
static weft__tw *tw_list;
static pthread_key_t g_key;
static pthread_once_t g_once = PTHREAD_ONCE_INIT;
static bool g_key_ok;

/* At thread exit (before its TLS goes away): off the list. */
static void unlist(void *v) {
    weft__tw *t = v;
    pthread_mutex_lock(&g_mu);
    if (t->prev)
        t->prev->next = t->next;
    else if (tw_list == t)
        tw_list = t->next;
    if (t->next)
        t->next->prev = t->prev;
    t->prev = t->next = NULL;
    pthread_mutex_unlock(&g_mu);
}

static void make_key(void) { g_key_ok = pthread_key_create(&g_key, unlist) == 0; }

/* Fork (proc/fork.c): the list's lock is held across fork; the child has
 * only the forking thread, so the others' records are gone with them. */
void weft__tw_atfork_prepare(void) { pthread_mutex_lock(&g_mu); }
void weft__tw_atfork_parent(void) { pthread_mutex_unlock(&g_mu); }
void weft__tw_atfork_child(void) {
    weft__tw *me = &weft__tls_tw;
    tw_list = NULL;
    if (me->tid > 0) {
        me->prev = me->next = NULL;
        me->tid = (int)syscall(SYS_gettid);
        tw_list = me;
    }
    pthread_mutex_unlock(&g_mu); /* taken by this thread in prepare */
}

static void list_me(weft__tw *t) {
    weft__fork_setup();
    pthread_once(&g_once, make_key);
    if (!g_key_ok || pthread_setspecific(g_key, t) != 0) {
        t->tid = -1; /* never listed: the dump cannot show this thread */
        return;
    }
    t->anchor = weft__thread_anchor();
    if (prctl(PR_GET_NAME, t->name) != 0)
        t->name[0] = 0;
    t->name[sizeof t->name - 1] = 0;
    pthread_mutex_lock(&g_mu);
    t->tid = (int)syscall(SYS_gettid);
    t->prev = NULL;
    t->next = tw_list;
    if (tw_list)
        tw_list->prev = t;
    tw_list = t;
    pthread_mutex_unlock(&g_mu);
}

void weft__tw_park_begin(void) {
    weft__tw *t = &weft__tls_tw;
    if (unlikely(!t->tid))
        list_me(t);
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
    int64_t now = (int64_t)ts.tv_sec * WEFT_SEC + ts.tv_nsec;
    t->since = now ? now : 1;
}

bool weft__tw_list_lock(bool try_only) {
    return (try_only ? pthread_mutex_trylock(&g_mu) : pthread_mutex_lock(&g_mu)) == 0;
}
weft__tw *weft__tw_list_head(void) { return tw_list; }
void weft__tw_list_unlock(void) { pthread_mutex_unlock(&g_mu); }
