/* The process pool's public API: creating and destroying the pool,
 * apply, close, terminate and join. The shared protocol is described in
 * ppool.h; maps are in map.c. */
#include "ppool/ppool.h"
#include "proc/proc.h"
#include "coro/sched.h"

#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/wait.h>

/* How long weft_ppool_apply looks for its result before it sleeps. */
#define APPLY_SPIN_NS (40 * WEFT_USEC)

static void apply_cb(weft_future *f, void *ud) {
    pp_apply *a = ud;
    int st = weft__future_outcome(f, NULL);
    weft_ppool_cb cb = st >= 0 ? a->ok : a->err;
    if (cb)
        cb(f, st, &a->res, a->ud);
}


WEFT_API void weft_ppool_opts_init(weft_ppool_opts *o) {
    if (!o)
        return;
    memset(o, 0, sizeof *o);
    o->initializer = -1;
}

static pthread_mutex_t list_mu = PTHREAD_MUTEX_INITIALIZER;
static weft_ppool *list_head;

/* The list's lock is held across fork, so a child never inherits it taken. */
static void list_prepare(void) { pthread_mutex_lock(&list_mu); }
static void list_parent(void) { pthread_mutex_unlock(&list_mu); }
static void list_child(void) { pthread_mutex_unlock(&list_mu); }
static void list_setup(void) {
    if (pthread_atfork(list_prepare, list_parent, list_child) != 0)
        WEFT_PANIC("pthread_atfork failed");
}

static void list_add(weft_ppool *p) {
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, list_setup);
    pthread_mutex_lock(&list_mu);
    p->owner = getpid();
    p->list_prev = NULL;
    p->list_next = list_head;
    if (list_head)
        list_head->list_prev = p;
    list_head = p;
    p->listed = true;
    pthread_mutex_unlock(&list_mu);
}

static void list_del(weft_ppool *p) {
    if (!p->listed)
        return;
    pthread_mutex_lock(&list_mu);
    if (p->list_prev)
        p->list_prev->list_next = p->list_next;
    else
        list_head = p->list_next;
    if (p->list_next)
        p->list_next->list_prev = p->list_prev;
    p->listed = false;
    pthread_mutex_unlock(&list_mu);
}

int weft__ppool_each(bool try_only, void (*fn)(void *ud, weft_ppool *p), void *ud) {
    if ((try_only ? pthread_mutex_trylock(&list_mu) : pthread_mutex_lock(&list_mu)) != 0)
        return -EAGAIN;
    for (weft_ppool *p = list_head; p; p = p->list_next)
        if (p->owner == getpid())
            fn(ud, p);
    pthread_mutex_unlock(&list_mu);
    return 0;
}

static void pool_free(weft_ppool *p) {
    list_del(p);
    for (int i = 0; p->w && i < p->n; i++) {
        pp_worker *w = &p->w[i];
        for (int c = 0; c < PP_CELLS; c++) {
            if (w->infd[c] >= 0)
                close(w->infd[c]);
            if (w->outfd[c] >= 0)
                close(w->outfd[c]);
            if (w->inmap[c])
                munmap(w->inmap[c], w->inlen[c]);
            if (w->outmap[c])
                munmap(w->outmap[c], w->outlen[c]);
        }
    }
    if (p->shm)
        munmap(p->shm, p->shm_len);
    if (p->efd >= 0)
        close(p->efd);
    weft_event_destroy(&p->exited);
    weft_event_destroy(&p->spawned);
    pthread_mutex_destroy(&p->mu);
    weft__free(p->w);
    weft__free(p->initargs);
    weft__free(p->remote_init);
    p->tag = WEFT__TAG_DEAD;
    weft__free(p);
}

static void kill_all(weft_ppool *p) {
    for (int i = 0; i < p->n; i++) {
        if (!p->w[i].pid)
            continue;
        if (p->w[i].pid > 0) {
            kill(p->w[i].pid, SIGKILL);
            while (waitpid(p->w[i].pid, NULL, 0) < 0 && errno == EINTR) {
            }
        }
        weft__exitfd_forget(p->w[i].pidfd);
        close(p->w[i].pidfd);
        p->w[i].pid = 0;
    }
}

static int pool_create(weft_ppool **out, const weft_ppool_opts *opts, int nremote,
                       const int *init, void (*stop)(void *), void *ctx, const pthread_t *th);

WEFT_API int weft_ppool_create(weft_ppool **out, const weft_ppool_opts *opts) {
    return pool_create(out, opts, 0, NULL, NULL, NULL, NULL);
}

int weft__ppool_create_remote(weft_ppool **out, const weft_ppool_opts *opts, int n,
                              const int *init, void (*stop)(void *), void *ctx,
                              pthread_t bridge) {
    if (n < 1 || n > PP_MAX_WORKERS || !init ||
        (opts && (opts->task_timeout || opts->maxtasks)))
        return -EINVAL;
    return pool_create(out, opts, n, init, stop, ctx, &bridge);
}

static int pool_create(weft_ppool **out, const weft_ppool_opts *opts, int nremote,
                       const int *init, void (*stop)(void *), void *ctx, const pthread_t *th) {
    weft_ppool_opts o;
    if (!out)
        return -EINVAL;
    *out = NULL;
    if (opts)
        o = *opts;
    else
        weft_ppool_opts_init(&o);
    int ntasks = weft__ptask_count();
    if (o.nworkers < 0 || o.nworkers > PP_MAX_WORKERS || o.initializer < -1 ||
        o.initializer >= ntasks || (o.on_death != WEFT_PPOOL_FAIL && o.on_death != WEFT_PPOOL_RETRY) ||
        o.max_retries < 0 || o.task_timeout < 0 || (o.initargs_len && !o.initargs) ||
        o.reserved_[0] || o.reserved_[1] || o.reserved_[2] || o.reserved_[3])
        return -EINVAL;
    if (nremote)
        o.nworkers = nremote;
    if (!o.nworkers) {
        long c = sysconf(_SC_NPROCESSORS_ONLN);
        o.nworkers = c < 1 ? 1 : c > PP_MAX_WORKERS ? PP_MAX_WORKERS : (int)c;
    }
    if (!o.max_retries)
        o.max_retries = 3;
    if (o.max_retries > 255)
        o.max_retries = 255;
    weft_ppool *p = weft__calloc(1, sizeof *p);
    if (!p)
        return -ENOMEM;
    p->tag = PP_MAGIC;
    p->efd = -1;
    pthread_mutex_init(&p->mu, NULL);
    weft_event_init(&p->exited);
    weft_event_init(&p->spawned);
    p->n = o.nworkers;
    p->o = o;
    p->ntasks = ntasks;
    p->sweep_at = 64;
    int r = -ENOMEM;
    p->w = weft__calloc((size_t)p->n, sizeof *p->w);
    if (!p->w)
        goto fail;
    if (nremote) {
        if (!(p->remote_init = weft__calloc((size_t)nremote, sizeof(int))))
            goto fail;
        memcpy(p->remote_init, init, (size_t)nremote * sizeof(int));
        p->remote = true;
        p->remote_stop = stop;
        p->remote_ctx = ctx;
        p->remote_thread = *th;
        p->has_remote_thread = true;
    }
    for (int i = 0; i < p->n; i++)
        for (int c = 0; c < PP_CELLS; c++)
            p->w[i].infd[c] = p->w[i].outfd[c] = -1;
    if (o.initargs_len) {
        if (!(p->initargs = weft__malloc(o.initargs_len)))
            goto fail;
        memcpy(p->initargs, o.initargs, o.initargs_len);
    }
    p->shm_len = sizeof(pp_shm) + (size_t)p->n * sizeof(pp_wshm);
    p->shm = mmap(NULL, p->shm_len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (p->shm == MAP_FAILED) {
        p->shm = NULL;
        goto fail;
    }
    r = -EAGAIN;
    if ((p->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) < 0)
        goto fail;
    for (int i = 0; i < p->n; i++) {
        for (int c = 0; c < PP_CELLS; c++) {
            p->w[i].infd[c] = memfd_create("weft-ppool-in", MFD_CLOEXEC);
            p->w[i].outfd[c] = memfd_create("weft-ppool-out", MFD_CLOEXEC);
            if (p->w[i].infd[c] < 0 || p->w[i].outfd[c] < 0)
                goto fail;
        }
    }
    /* The watcher forks the workers: a worker's parent-death signal
     * follows the thread that forked it, and the watcher lives as long as
     * the pool, while the calling thread may end first. */
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    int e = pthread_create(&p->watcher, NULL, weft__pp_watcher_main, p);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (e) {
        r = -EAGAIN;
        goto fail;
    }
    while (weft_event_wait(&p->spawned, WEFT_FOREVER) < 0) {
        /* Cancelled or out of memory to park: the watcher does not take
         * long, wait for it as a plain thread. */
        if (weft_event_is_set(&p->spawned))
            break;
        sched_yield();
    }
    if (p->spawn_err < 0) {
        r = p->spawn_err;
        pthread_join(p->watcher, NULL);
        kill_all(p);
        goto fail;
    }
    list_add(p);
    *out = p;
    return 0;
fail:
    pool_free(p);
    return r;
}

WEFT_API int weft_ppool_size(const weft_ppool *p) {
    if (!p)
        return 0;
    pp_check(p, "weft_ppool_size");
    return p->n;
}

WEFT_API long weft_ppool_started(weft_ppool *p) {
    if (!p)
        return 0;
    pp_check(p, "weft_ppool_started");
    return atomic_load(&p->started);
}

WEFT_API int weft_ppool_pids(weft_ppool *p, pid_t *pids, int max) {
    if (!p || max < 0 || (!pids && max > 0))
        return -EINVAL;
    pp_check(p, "weft_ppool_pids");
    int k = 0;
    pthread_mutex_lock(&p->mu);
    for (int i = 0; i < p->n && k < max; i++) {
        if (p->w[i].pid <= 0) /* none, or a remote slot (no local process) */
            continue;
        /* A worker that has ended but that the watcher has not reaped yet
         * is not listed: its pidfd is readable from the moment it ends. */
        if (!weft__exitfd_ended(p->w[i].pidfd, p->w[i].pid))
            pids[k++] = p->w[i].pid;
    }
    pthread_mutex_unlock(&p->mu);
    return k;
}

WEFT_API int weft_ppool_apply_async(weft_ppool *p, int task, const void *in, size_t len,
                                    weft_ppool_cb on_success, weft_ppool_cb on_error, void *ud,
                                    weft_future **out) {
    if (out)
        *out = NULL;
    if (!p)
        return -EINVAL;
    pp_check(p, "weft_ppool_apply_async");
    if ((!in && len) || pp_check_task(p, task) < 0)
        return -EINVAL;
    if (len > SIZE_MAX - sizeof(pp_apply))
        return -ENOMEM;
    pp_apply *a = weft__malloc(sizeof *a + len);
    if (!a)
        return -ENOMEM;
    weft__future_init(&a->f, NULL, NULL, out ? 2 : 1);
    memset(&a->j, 0, sizeof a->j);
    a->j.kind = J_APPLY;
    a->res = (weft_bytes)WEFT_BYTES_INIT;
    a->ok = on_success;
    a->err = on_error;
    a->ud = ud;
    a->done_next = NULL;
    atomic_init(&a->finished, 0);
    a->task = task;
    a->tries = 0;
    a->in_len = len;
    if (len)
        memcpy(a->in, in, len);
    if ((on_success || on_error) && weft_future_on_done(&a->f, apply_cb, a) < 0) {
        weft__free(a);
        return -ENOMEM;
    }
    pp_job *fin = NULL;
    pthread_mutex_lock(&p->mu);
    int r = pp_admit(p);
    if (r < 0) {
        pthread_mutex_unlock(&p->mu);
        /* Nobody else has seen it: drop the callback nodes unrun. */
        cb_node *n = a->f.cbs;
        while (n) {
            cb_node *nx = n->next;
            weft__free(n);
            n = nx;
        }
        weft__free(a);
        return r;
    }
    q_push(p, &a->j, false);
    weft__pp_dispatch(p, &fin);
    if (p->ndone >= p->sweep_at)
        weft__pp_sweep(p, false);
    pthread_mutex_unlock(&p->mu);
    weft__pp_run_fin(p, fin);
    if (out)
        *out = &a->f;
    return 0;
}

WEFT_API int weft_ppool_apply_argv(weft_ppool *p, int task, int argc, const void *const *argv,
                                   const size_t *lens, weft_future **out) {
    if (out)
        *out = NULL;
    weft_ppool_args a = {argc, argv, lens};
    size_t total;
    if (!p || weft__pp_args_size(&a, &total) < 0)
        return -EINVAL;
    pp_check(p, "weft_ppool_apply_argv");
    unsigned char *buf = weft__malloc(total);
    if (!buf)
        return -ENOMEM;
    weft__pp_args_pack(&a, buf);
    int r = weft_ppool_apply_async(p, task, buf, total, NULL, NULL, NULL, out);
    weft__free(buf);
    return r;
}

WEFT_API int weft_ppool_apply(weft_ppool *p, int task, const void *in, size_t len,
                              weft_bytes *out) {
    weft_future *f;
    int r = weft_ppool_apply_async(p, task, in, len, NULL, NULL, NULL, &f);
    if (r < 0)
        return r;
    /* A round trip takes a few microseconds when both sides are awake;
     * a sleep and a cross-core wake-up cost 10-16 us. Look a while first. */
    if (!weft__sched_get()) {
        int64_t until = weft_now() + APPLY_SPIN_NS;
        for (unsigned i = 1; !weft_future_done(f); i++) {
            if (i % 32 == 0) {
                sched_yield();
                if (weft_now() > until)
                    break;
            } else {
                weft__cpu_relax();
            }
        }
    }
    r = weft__future_wait(f, WEFT_FOREVER, WEFT__W_OTHER);
    if (r == 0) {
        void *res;
        r = weft__future_outcome(f, &res);
        if (out && res) {
            const weft_bytes *b = res;
            int e = weft_bytes_set(out, b->data, b->len);
            if (e < 0 && r >= 0)
                r = e;
        }
    }
    weft_future_release(f);
    return r;
}

WEFT_API int weft_ppool_close(weft_ppool *p) {
    if (!p)
        return -EINVAL;
    pp_check(p, "weft_ppool_close");
    pthread_mutex_lock(&p->mu);
    if (p->state == P_RUNNING)
        p->state = P_CLOSED;
    pthread_mutex_unlock(&p->mu);
    poke(p);
    return 0;
}

WEFT_API int weft_ppool_terminate(weft_ppool *p) {
    if (!p)
        return -EINVAL;
    pp_check(p, "weft_ppool_terminate");
    pp_job *fin = NULL;
    pthread_mutex_lock(&p->mu);
    p->state = P_TERMINATED;
    weft__pp_fail_pending(p, -ECANCELED, true, &fin);
    for (int i = 0; i < p->n; i++) {
        pp_worker *w = &p->w[i];
        for (int c = 0; c < PP_CELLS; c++) {
            pp_job *j = w->job[c];
            if (!j)
                continue;
            size_t chunk = w->chunk[c];
            weft__pp_release_cell(p, i, c);
            if (j->kind == J_APPLY) {
                fin_add(&fin, j, -ECANCELED, false);
            } else {
                pp_map *m = container_of(j, pp_map, j);
                m->outstanding--;
                weft__pp_map_fail_chunk(p, m, chunk, -ECANCELED, &fin);
            }
        }
        if (w->pid > 0)
            kill(w->pid, SIGKILL);
        else if (w->pid < 0)
            weft__pp_remote_end(p, i);
    }
    pthread_mutex_unlock(&p->mu);
    weft__pp_run_fin(p, fin);
    poke(p);
    return 0;
}

WEFT_API int weft_ppool_join(weft_ppool *p, int64_t deadline) {
    if (!p)
        return -EINVAL;
    pp_check(p, "weft_ppool_join");
    pthread_mutex_lock(&p->mu);
    int st = p->state;
    pthread_mutex_unlock(&p->mu);
    if (st == P_RUNNING)
        return -EINVAL;
    int r = weft_event_wait(&p->exited, deadline);
    if (r < 0)
        return r;
    pthread_mutex_lock(&p->mu);
    bool me = !p->joined;
    p->joined = true;
    pthread_mutex_unlock(&p->mu);
    if (me)
        pthread_join(p->watcher, NULL);
    return 0;
}

WEFT_API int weft_ppool_destroy(weft_ppool *p) {
    if (!p)
        return 0;
    pp_check(p, "weft_ppool_destroy");
    if (pthread_equal(pthread_self(), p->watcher) ||
        (p->has_remote_thread && pthread_equal(pthread_self(), p->remote_thread)))
        return -EDEADLK;
    pthread_mutex_lock(&p->mu);
    bool joined = p->joined;
    p->joined = true;
    pthread_mutex_unlock(&p->mu);
    if (!joined) {
        weft_ppool_terminate(p);
        pthread_join(p->watcher, NULL);
    }
    if (p->remote_stop)
        p->remote_stop(p->remote_ctx);
    pthread_mutex_lock(&p->mu);
    weft__pp_sweep(p, true);
    pthread_mutex_unlock(&p->mu);
    pool_free(p);
    return 0;
}
