/* The process pool, parent side: creating and replacing workers, handing
 * out cells, collecting results, and the watcher thread. The shared
 * protocol is described in ppool.h. */
#include "ppool/ppool.h"
#include "coro/sched.h"

#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef SYS_pidfd_open
#define SYS_pidfd_open 434
#endif

/* How long the watcher keeps looking for results before it sleeps while
 * tasks are out. */
#define WATCH_SPIN_NS (60 * WEFT_USEC)
/* How long weft_ppool_apply looks for its result before it sleeps. */
#define APPLY_SPIN_NS (40 * WEFT_USEC)

enum { J_APPLY = 1, J_MAP = 2 };
enum { P_RUNNING = 0, P_CLOSED = 1, P_TERMINATED = 2 };

typedef struct pp_job {
    int kind;
    bool queued;
    struct pp_job *next; /* pending queue */
    struct pp_job *fin;  /* completion list */
    int fin_status;
    bool fin_cancel;     /* apply: cancel instead of finish */
} pp_job;

typedef struct pp_apply {
    weft_future f; /* first: weft_future_release frees the whole record */
    pp_job j;
    weft_bytes res;
    weft_ppool_cb ok, err;
    void *ud;
    struct pp_apply *done_next;
    atomic_int finished; /* its future's completion has run to the end */
    int task;
    int tries;
    size_t in_len;
    unsigned char in[];
} pp_apply;

typedef struct {
    int status;
    bool ready;
    weft_bytes b;
} pp_item;

struct weft_ppool_iter {
    pp_job j;
    weft_ppool *pool;
    int kind;
    int task;
    const unsigned char *in;
    unsigned char *out;
    int *statuses;
    size_t n, in_size, out_size, chunk, nchunks, next_chunk, done_chunks;
    size_t *redo, nredo;
    uint8_t *tries;
    size_t outstanding;
    size_t first_fail;
    int fail_status;
    weft_future *fut; /* map: done when every chunk is */
    bool cancelled;   /* imap: the iterator was destroyed */
    bool pool_done;   /* the pool dropped its reference */
    atomic_int refs;  /* imap: iterator + pool; map: pool */
    /* imap */
    int unordered;
    pp_item *items;
    size_t *arrived, narrived, yielded, next_ordered;
    weft_event ev;
};
typedef struct weft_ppool_iter pp_map;

typedef struct {
    pid_t pid; /* 0: no worker in this slot */
    int pidfd;
    int infd[PP_CELLS], outfd[PP_CELLS];
    void *inmap[PP_CELLS], *outmap[PP_CELLS];
    size_t inlen[PP_CELLS], outlen[PP_CELLS];
    pp_job *job[PP_CELLS];
    size_t chunk[PP_CELLS];
    uint32_t assigned;
    int busy;
    int killed_cell; /* the cell whose timeout we killed it for, or -1 */
} pp_worker;

struct weft_ppool {
    pthread_mutex_t mu;
    int n;
    pp_worker *w;
    pp_shm *shm;
    size_t shm_len;
    int efd;
    pp_job *head, *tail;
    pp_apply *done_list;
    size_t ndone, sweep_at;
    int state;
    int broken;
    int live;
    size_t inflight;
    uint64_t seq;
    atomic_long started;
    weft_ppool_opts o;
    void *initargs;
    int ntasks;
    pthread_t watcher;
    bool joined;
    weft_event exited;
};

static void poke(weft_ppool *p) {
    uint64_t one = 1;
    ssize_t r = write(p->efd, &one, sizeof one);
    (void)r;
}

/* ---- pending queue ------------------------------------------------------ */

static void q_push(weft_ppool *p, pp_job *j, bool front) {
    j->queued = true;
    j->next = NULL;
    if (front) {
        j->next = p->head;
        p->head = j;
        if (!p->tail)
            p->tail = j;
    } else {
        if (p->tail)
            p->tail->next = j;
        else
            p->head = j;
        p->tail = j;
    }
}

static pp_job *q_pop(weft_ppool *p) {
    pp_job *j = p->head;
    if (j) {
        p->head = j->next;
        if (!p->head)
            p->tail = NULL;
        j->queued = false;
        j->next = NULL;
    }
    return j;
}

static void q_remove(weft_ppool *p, pp_job *j) {
    pp_job **pp = &p->head, *prev = NULL;
    while (*pp && *pp != j) {
        prev = *pp;
        pp = &(*pp)->next;
    }
    if (!*pp)
        return;
    *pp = j->next;
    if (p->tail == j)
        p->tail = prev;
    j->queued = false;
    j->next = NULL;
}

static void fin_add(pp_job **fin, pp_job *j, int status, bool cancel) {
    j->fin_status = status;
    j->fin_cancel = cancel;
    j->fin = *fin;
    *fin = j;
}

/* ---- maps --------------------------------------------------------------- */

static size_t chunk_first(pp_map *m, size_t c) { return c * m->chunk; }
static size_t chunk_len(pp_map *m, size_t c) {
    size_t f = c * m->chunk;
    return m->n - f < m->chunk ? m->n - f : m->chunk;
}

static void note_fail(pp_map *m, size_t idx, int status) {
    if (!m->fail_status || idx < m->first_fail) {
        m->first_fail = idx;
        m->fail_status = status;
    }
}

static void item_arrive(pp_map *m, size_t i, int status) {
    m->items[i].status = status;
    m->items[i].ready = true;
    m->arrived[m->narrived++] = i;
}

/* A chunk came back or was given up; completes the map when it was the last. */
static void map_chunk_done(weft_ppool *p, pp_map *m, pp_job **fin) {
    (void)p;
    m->done_chunks++;
    if (m->kind == K_VAR)
        weft_event_set(&m->ev);
    bool over = m->done_chunks == m->nchunks || (m->cancelled && m->outstanding == 0);
    if (over && !m->pool_done) {
        m->pool_done = true;
        fin_add(fin, &m->j, m->fail_status, false);
    }
}

/* Fails every item of chunk c with err (it will not be run again). */
static void map_fail_chunk(weft_ppool *p, pp_map *m, size_t c, int err, pp_job **fin) {
    size_t f = chunk_first(m, c), k = chunk_len(m, c);
    if (m->kind == K_FIXED) {
        if (m->statuses)
            for (size_t i = 0; i < k; i++)
                m->statuses[f + i] = err;
    } else if (!m->cancelled) {
        for (size_t i = 0; i < k; i++)
            item_arrive(m, f + i, err);
    }
    note_fail(m, f, err);
    map_chunk_done(p, m, fin);
}

static int map_redo(weft_ppool *p, pp_map *m, size_t c) {
    if (!m->redo) {
        m->redo = weft__malloc(m->nchunks * sizeof *m->redo);
        if (!m->redo)
            return -ENOMEM;
    }
    m->redo[m->nredo++] = c;
    if (!m->j.queued)
        q_push(p, &m->j, true);
    return 0;
}

/* ---- handing out cells ---------------------------------------------------- */

static int pick_worker(weft_ppool *p) {
    int best = -1;
    for (int i = 0; i < p->n; i++) {
        pp_worker *w = &p->w[i];
        if (!w->pid || w->busy == PP_CELLS || w->killed_cell >= 0)
            continue;
        if (p->o.maxtasks && w->assigned >= p->o.maxtasks)
            continue;
        if (best < 0 || w->busy < p->w[best].busy)
            best = i;
        if (w->busy == 0)
            break;
    }
    return best;
}

static int free_cell(weft_ppool *p, int wi) {
    for (int c = 0; c < PP_CELLS; c++)
        if (!p->w[wi].job[c])
            return c;
    return -1;
}

/* Fills cell (wi, c) with job (a map chunk, or an apply) and wakes the worker. */
static int put(weft_ppool *p, int wi, int c, pp_job *j, size_t chunk) {
    pp_worker *w = &p->w[wi];
    pp_wshm *ws = &p->shm->w[wi];
    pp_cell *cell = &ws->cell[c];
    const unsigned char *src;
    size_t n, isz, osz = 0;
    uint32_t kind, task;
    if (j->kind == J_APPLY) {
        pp_apply *a = container_of(j, pp_apply, j);
        src = a->in;
        n = 1;
        isz = a->in_len;
        kind = K_VAR;
        task = (uint32_t)a->task;
    } else {
        pp_map *m = container_of(j, pp_map, j);
        src = m->in + chunk_first(m, chunk) * m->in_size;
        n = chunk_len(m, chunk);
        isz = m->in_size;
        osz = m->out_size;
        kind = (uint32_t)m->kind;
        task = (uint32_t)m->task;
    }
    size_t len = n * isz;
    int r;
    if (len <= PP_INLINE) {
        if (len)
            memcpy(cell->in, src, len);
        cell->in_buf = 0;
    } else {
        r = weft__pp_grow(w->infd[c], &cell->in_file, len);
        if (r == 0)
            r = weft__pp_map(w->infd[c], &w->inmap[c], &w->inlen[c], len);
        if (r < 0)
            return r;
        memcpy(w->inmap[c], src, len);
        cell->in_buf = 1;
    }
    if (kind == K_FIXED) {
        size_t need = pp_pad8(4 * n) + n * osz;
        if (need > PP_INLINE && (r = weft__pp_grow(w->outfd[c], &cell->out_file, need)) < 0)
            return r;
    }
    cell->kind = kind;
    cell->task = task;
    cell->n = n;
    cell->in_size = isz;
    cell->out_size = osz;
    cell->status = 0;
    cell->out_len = 0;
    cell->seq = ++p->seq;
    atomic_store_explicit(&cell->started, 0, memory_order_relaxed);
    w->job[c] = j;
    w->chunk[c] = chunk;
    w->busy++;
    w->assigned++;
    p->inflight++;
    if (j->kind == J_MAP)
        container_of(j, pp_map, j)->outstanding++;
    atomic_store(&cell->state, CELL_READY);
    atomic_fetch_add(&ws->wake, 1);
    if (atomic_load(&ws->sleeping))
        weft__pfutex_wake(&ws->wake, 1);
    /* A sleeping watcher must learn of a deadline to enforce. */
    if (p->o.task_timeout && atomic_load(&p->shm->parent_sleeping))
        poke(p);
    return 0;
}

/* PENDING -> RUNNING, keeping F_SLOW; true if the apply may run (an apply
 * handed out again after a death is RUNNING already), false if its owner
 * cancelled it. */
static bool start_apply(pp_apply *a) {
    unsigned s = atomic_load(&a->f.state);
    for (;;) {
        if ((s & F_MASK) == F_RUNNING)
            return true;
        if ((s & F_MASK) != F_PENDING)
            return false;
        if (atomic_compare_exchange_weak(&a->f.state, &s, (s & ~(unsigned)F_MASK) | F_RUNNING))
            return true;
    }
}

/* Moves pending work into free cells. mu held. */
static void dispatch(weft_ppool *p, pp_job **fin) {
    while (p->head) {
        int wi = pick_worker(p);
        if (wi < 0)
            return;
        int c = free_cell(p, wi);
        pp_job *j = p->head;
        if (j->kind == J_APPLY) {
            pp_apply *a = container_of(j, pp_apply, j);
            q_pop(p);
            if (!start_apply(a)) {
                /* Cancelled by its owner before it started. */
                atomic_store(&a->finished, 1);
                a->done_next = p->done_list;
                p->done_list = a;
                p->ndone++;
                continue;
            }
            int r = put(p, wi, c, j, 0);
            if (r < 0)
                fin_add(fin, j, r, false);
        } else {
            pp_map *m = container_of(j, pp_map, j);
            size_t chunk;
            if (m->nredo)
                chunk = m->redo[--m->nredo];
            else if (m->next_chunk < m->nchunks && !m->cancelled)
                chunk = m->next_chunk++;
            else {
                q_pop(p);
                continue;
            }
            if (!m->nredo && m->next_chunk == m->nchunks)
                q_pop(p);
            int r = put(p, wi, c, j, chunk);
            if (r < 0)
                map_fail_chunk(p, m, chunk, r, fin);
        }
    }
}

/* ---- collecting results ------------------------------------------------- */

/* The result bytes of cell (wi, c), or NULL with *err set. */
static const unsigned char *cell_result(weft_ppool *p, int wi, int c, int *err) {
    pp_worker *w = &p->w[wi];
    pp_cell *cell = &p->shm->w[wi].cell[c];
    if (!cell->out_buf)
        return cell->out;
    int r = weft__pp_map(w->outfd[c], &w->outmap[c], &w->outlen[c], cell->out_len);
    if (r < 0) {
        *err = r;
        return NULL;
    }
    return w->outmap[c];
}

/* Reads the VAR record at *off of res[0..len): its status (or -EPROTO if
 * malformed), with *data and *dlen. */
static int var_record(const unsigned char *res, size_t len, size_t *off, const void **data,
                      size_t *dlen) {
    int32_t st;
    uint64_t l;
    *data = NULL;
    *dlen = 0;
    if (len - *off < 16)
        return -EPROTO;
    memcpy(&st, res + *off, 4);
    memcpy(&l, res + *off + 8, 8);
    *off += 16;
    if (l > len - *off)
        return -EPROTO;
    *data = res + *off;
    *dlen = (size_t)l;
    *off += pp_pad8((size_t)l);
    if (*off > len)
        *off = len;
    return st;
}

static void release_cell(weft_ppool *p, int wi, int c) {
    pp_worker *w = &p->w[wi];
    w->job[c] = NULL;
    w->busy--;
    p->inflight--;
    atomic_store(&p->shm->w[wi].cell[c].state, CELL_FREE);
}

/* Takes the result of DONE cell (wi, c). mu held. */
static void take(weft_ppool *p, int wi, int c, pp_job **fin) {
    pp_worker *w = &p->w[wi];
    pp_cell *cell = &p->shm->w[wi].cell[c];
    pp_job *j = w->job[c];
    size_t chunk = w->chunk[c];
    if (!j) {
        release_cell(p, wi, c);
        return;
    }
    int err = cell->status < 0 ? cell->status : 0;
    const unsigned char *res = err ? NULL : cell_result(p, wi, c, &err);
    size_t len = cell->out_len;
    if (j->kind == J_APPLY) {
        pp_apply *a = container_of(j, pp_apply, j);
        int st = err;
        if (!err) {
            size_t off = 0, dl;
            const void *d;
            st = var_record(res, len, &off, &d, &dl);
            if (st >= 0 && dl) {
                int r = weft_bytes_set(&a->res, d, dl);
                if (r < 0)
                    st = r;
            }
        }
        release_cell(p, wi, c);
        fin_add(fin, j, st, false);
        return;
    }
    pp_map *m = container_of(j, pp_map, j);
    size_t f = chunk_first(m, chunk), k = chunk_len(m, chunk);
    m->outstanding--;
    if (err) {
        release_cell(p, wi, c);
        map_fail_chunk(p, m, chunk, err, fin);
        return;
    }
    if (m->kind == K_FIXED) {
        const int32_t *st = (const int32_t *)(const void *)res;
        memcpy(m->out + f * m->out_size, res + pp_pad8(4 * k), k * m->out_size);
        if (m->statuses)
            memcpy(m->statuses + f, st, k * sizeof *st);
        if (cell->status > 0) {
            for (size_t i = 0; i < k; i++) {
                if (st[i] < 0) {
                    note_fail(m, f + i, st[i]);
                    break;
                }
            }
        }
    } else {
        size_t off = 0;
        for (size_t i = 0; i < k; i++) {
            const void *d = NULL;
            size_t dl = 0;
            int s = var_record(res, len, &off, &d, &dl);
            if (s < 0)
                note_fail(m, f + i, s);
            if (m->cancelled)
                continue;
            if (s >= 0 && dl) {
                int r = weft_bytes_set(&m->items[f + i].b, d, dl);
                if (r < 0)
                    s = r;
            }
            item_arrive(m, f + i, s);
        }
    }
    release_cell(p, wi, c);
    map_chunk_done(p, m, fin);
}

static void sweep(weft_ppool *p, bool all) {
    pp_apply **pp = &p->done_list;
    size_t kept = 0;
    while (*pp) {
        pp_apply *a = *pp;
        bool mine = atomic_load(&a->finished) && atomic_load(&a->f.refs) == 1;
        if (mine || all) {
            *pp = a->done_next;
            weft_bytes_free(&a->res);
            p->ndone--;
            weft_future_release(&a->f);
        } else {
            kept++;
            pp = &a->done_next;
        }
    }
    p->sweep_at = kept * 2 > 64 ? kept * 2 : 64;
}

static void map_free(pp_map *m) {
    if (m->items) {
        for (size_t i = 0; i < m->n; i++)
            weft_bytes_free(&m->items[i].b);
        weft_event_destroy(&m->ev);
    }
    weft__free(m->items);
    weft__free(m->arrived);
    weft__free(m->redo);
    weft__free(m->tries);
    weft__free(m);
}

static void map_unref(pp_map *m) {
    if (atomic_fetch_sub(&m->refs, 1) == 1)
        map_free(m);
}

static void apply_cb(weft_future *f, void *ud) {
    pp_apply *a = ud;
    int st = weft__future_outcome(f, NULL);
    weft_ppool_cb cb = st >= 0 ? a->ok : a->err;
    if (cb)
        cb(f, st, &a->res, a->ud);
}

/* Makes f done with status and result unless it is final already. */
static void complete(weft_future *f, int status, void *result) {
    unsigned s = atomic_load(&f->state);
    if (weft__future_final(s))
        return;
    /* Written before the state turns final; if a cancel wins the race
     * below, the outcome ignores them. */
    f->status = status;
    f->result = result;
    do {
        if (weft__future_final(s))
            return;
    } while (!atomic_compare_exchange_weak(&f->state, &s, F_DONE));
    weft__future_finish(f, s);
}

/* Completes what the locked section gathered. mu not held. */
static void run_fin(weft_ppool *p, pp_job *fin) {
    while (fin) {
        pp_job *j = fin;
        fin = j->fin;
        if (j->kind == J_APPLY) {
            pp_apply *a = container_of(j, pp_apply, j);
            if (!(j->fin_cancel && weft__future_try_cancel(&a->f)))
                complete(&a->f, j->fin_status, &a->res);
            pthread_mutex_lock(&p->mu);
            atomic_store(&a->finished, 1);
            a->done_next = p->done_list;
            p->done_list = a;
            p->ndone++;
            pthread_mutex_unlock(&p->mu);
        } else {
            pp_map *m = container_of(j, pp_map, j);
            weft_future *f = m->fut;
            if (f) {
                complete(f, j->fin_status, NULL);
                weft_future_release(f);
            }
            map_unref(m);
        }
    }
}

/* ---- workers -------------------------------------------------------------- */

static int spawn(weft_ppool *p, int wi) {
    pp_worker *w = &p->w[wi];
    pp_wshm *ws = &p->shm->w[wi];
    for (int c = 0; c < PP_CELLS; c++) {
        atomic_store(&ws->cell[c].state, CELL_FREE);
        w->job[c] = NULL;
    }
    atomic_store(&ws->sleeping, 0);
    atomic_store(&ws->quit, 0);
    atomic_store(&ws->init_status, 1);
    pp_wcfg cfg = {p->shm, ws, p->efd, {0}, {0}, p->o.initializer, p->initargs,
                   p->o.initargs_len, p->o.maxtasks};
    for (int c = 0; c < PP_CELLS; c++) {
        cfg.infd[c] = w->infd[c];
        cfg.outfd[c] = w->outfd[c];
    }
    /* weft's fork handlers reset the child's runtime (the forking thread's
     * scheduler is abandoned there); flushing keeps buffered output from
     * being written again by a worker. */
    weft__fork_setup();
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    if (pid < 0)
        return -EAGAIN;
    if (pid == 0)
        weft__ppool_worker(&cfg);
    int fd = (int)syscall(SYS_pidfd_open, pid, 0);
    if (fd < 0) {
        kill(pid, SIGKILL);
        while (waitpid(pid, NULL, 0) < 0 && errno == EINTR) {
        }
        return -EAGAIN;
    }
    w->pid = pid;
    w->pidfd = fd;
    w->busy = 0;
    w->assigned = 0;
    w->killed_cell = -1;
    p->live++;
    atomic_fetch_add(&p->started, 1);
    return 0;
}

/* Every pending task fails with err (a broken pool). mu held. */
static void fail_pending(weft_ppool *p, int err, bool cancel, pp_job **fin) {
    pp_job *j;
    while ((j = q_pop(p))) {
        if (j->kind == J_APPLY) {
            fin_add(fin, j, err, cancel);
        } else {
            pp_map *m = container_of(j, pp_map, j);
            while (m->nredo)
                map_fail_chunk(p, m, m->redo[--m->nredo], err, fin);
            while (m->next_chunk < m->nchunks && !m->cancelled)
                map_fail_chunk(p, m, m->next_chunk++, err, fin);
        }
    }
}

/* Worker wi died (reaped); settles its cells. mu held. */
static void on_death(weft_ppool *p, int wi, pp_job **fin) {
    pp_worker *w = &p->w[wi];
    pp_wshm *ws = &p->shm->w[wi];
    int init = atomic_load(&ws->init_status);
    for (int c = 0; c < PP_CELLS; c++) {
        pp_job *j = w->job[c];
        if (!j)
            continue;
        unsigned st = atomic_load(&ws->cell[c].state);
        if (st == CELL_DONE) {
            take(p, wi, c, fin);
            continue;
        }
        size_t chunk = w->chunk[c];
        bool ran = st == CELL_RUN;
        int err = w->killed_cell == c ? -ETIMEDOUT : -EOWNERDEAD;
        release_cell(p, wi, c);
        if (init < 0)
            err = init;
        bool again = !ran || (err == -EOWNERDEAD && p->o.on_death == WEFT_PPOOL_RETRY);
        if (j->kind == J_APPLY) {
            pp_apply *a = container_of(j, pp_apply, j);
            if (again && ran && a->tries >= p->o.max_retries)
                again = false;
            if (again && p->state != P_TERMINATED && !p->broken) {
                a->tries += ran ? 1 : 0;
                q_push(p, j, true);
            } else {
                fin_add(fin, j, err, false);
            }
        } else {
            pp_map *m = container_of(j, pp_map, j);
            m->outstanding--;
            if (again && ran) {
                if (!m->tries)
                    m->tries = weft__calloc(m->nchunks, 1);
                if (!m->tries || m->tries[chunk] >= p->o.max_retries)
                    again = false;
                else
                    m->tries[chunk]++;
            }
            if (m->cancelled) {
                map_chunk_done(p, m, fin);
            } else if (!again || p->state == P_TERMINATED || p->broken ||
                       map_redo(p, m, chunk) < 0) {
                map_fail_chunk(p, m, chunk, err, fin);
            }
        }
    }
    close(w->pidfd);
    w->pidfd = -1;
    w->pid = 0;
    w->killed_cell = -1;
    p->live--;
    if (init < 0 && !p->broken) {
        p->broken = init;
        fail_pending(p, init, false, fin);
    }
}

/* ---- the watcher thread --------------------------------------------------- */

static bool any_done(weft_ppool *p) {
    for (int i = 0; i < p->n; i++)
        for (int c = 0; c < PP_CELLS; c++)
            if (atomic_load_explicit(&p->shm->w[i].cell[c].state, memory_order_acquire) ==
                CELL_DONE)
                return true;
    return false;
}

/* Takes every DONE cell, reaps dead workers (those whose pidfd polled
 * readable: dead[]), replaces workers and dispatches. Returns true if it
 * took anything. */
static bool settle(weft_ppool *p, const bool *dead) {
    pp_job *fin = NULL;
    bool took = false;
    pthread_mutex_lock(&p->mu);
    for (int i = 0; i < p->n; i++) {
        if (!p->w[i].pid)
            continue;
        for (int c = 0; c < PP_CELLS; c++) {
            if (p->w[i].job[c] &&
                atomic_load(&p->shm->w[i].cell[c].state) == CELL_DONE) {
                take(p, i, c, &fin);
                took = true;
            }
        }
        if (dead && dead[i]) {
            int st;
            pid_t r;
            while ((r = waitpid(p->w[i].pid, &st, WNOHANG)) < 0 && errno == EINTR) {
            }
            if (r == p->w[i].pid || (r < 0 && errno == ECHILD)) {
                on_death(p, i, &fin);
                took = true;
            }
        }
    }
    /* Replace workers while there is reason to. */
    bool want = p->state == P_RUNNING || (p->state == P_CLOSED && (p->head || p->inflight));
    if (want && !p->broken)
        for (int i = 0; i < p->n; i++)
            if (!p->w[i].pid)
                (void)spawn(p, i);
    dispatch(p, &fin);
    if (p->state == P_CLOSED && !p->head && !p->inflight) {
        for (int i = 0; i < p->n; i++) {
            if (p->w[i].pid && !atomic_load(&p->shm->w[i].quit)) {
                atomic_store(&p->shm->w[i].quit, 1);
                atomic_fetch_add(&p->shm->w[i].wake, 1);
                weft__pfutex_wake(&p->shm->w[i].wake, 1);
            }
        }
    }
    if (p->ndone >= p->sweep_at)
        sweep(p, false);
    pthread_mutex_unlock(&p->mu);
    run_fin(p, fin);
    return took;
}

/* Kills workers whose running task is past task_timeout; returns the
 * nearest such deadline still ahead (or -1). mu held. */
static int64_t check_timeouts(weft_ppool *p, int64_t now) {
    int64_t next = -1;
    if (!p->o.task_timeout)
        return -1;
    for (int i = 0; i < p->n; i++) {
        pp_worker *w = &p->w[i];
        if (!w->pid || w->killed_cell >= 0)
            continue;
        for (int c = 0; c < PP_CELLS; c++) {
            pp_cell *cell = &p->shm->w[i].cell[c];
            if (!w->job[c])
                continue;
            int64_t s = atomic_load(&cell->started);
            if (!s || atomic_load(&cell->state) != CELL_RUN) {
                if (next < 0 || now + WEFT_MSEC < next)
                    next = now + WEFT_MSEC; /* not started yet: look again soon */
                continue;
            }
            int64_t dl = s + p->o.task_timeout;
            if (dl <= now) {
                w->killed_cell = c;
                kill(w->pid, SIGKILL);
            } else if (next < 0 || dl < next) {
                next = dl;
            }
        }
    }
    return next;
}

static void *watcher_main(void *arg) {
    weft_ppool *p = arg;
    struct pollfd pf[PP_MAX_WORKERS + 1];
    int idx[PP_MAX_WORKERS + 1];
    bool dead[PP_MAX_WORKERS];
    int64_t spin_until = 0;
    for (;;) {
        bool took = any_done(p) && settle(p, NULL);
        int64_t now = weft_now();
        if (took)
            spin_until = now + WATCH_SPIN_NS;
        pthread_mutex_lock(&p->mu);
        int64_t next = check_timeouts(p, now);
        bool inflight = p->inflight > 0;
        bool over = p->live == 0 && (p->state == P_TERMINATED || p->broken ||
                                     (p->state == P_CLOSED && !p->head && !p->inflight));
        bool empty_slot = false;
        int np = 0;
        pf[np].fd = p->efd;
        pf[np].events = POLLIN;
        idx[np++] = -1;
        for (int i = 0; i < p->n; i++) {
            if (p->w[i].pid) {
                pf[np].fd = p->w[i].pidfd;
                pf[np].events = POLLIN;
                idx[np++] = i;
            } else {
                empty_slot = true;
            }
        }
        pthread_mutex_unlock(&p->mu);
        if (over)
            break;
        int timeout;
        /* Keep looking a while after each result, in flight or not: the
         * next task of a caller waiting on results comes right after. */
        if (inflight && !spin_until)
            spin_until = now + WATCH_SPIN_NS;
        bool spinning = now < spin_until;
        if (spinning) {
            /* Look for results a while; every so often also for deaths. */
            for (int k = 0; k < 16 && !any_done(p); k++) {
                for (int i = 0; i < 32 && !any_done(p); i++)
                    weft__cpu_relax();
                sched_yield();
            }
            if (any_done(p))
                continue;
            timeout = 0;
        } else {
            atomic_store(&p->shm->parent_sleeping, 1);
            if (any_done(p)) {
                atomic_store(&p->shm->parent_sleeping, 0);
                continue;
            }
            if (p->o.task_timeout) {
                /* A task handed out since `next` was computed: put() saw
                 * parent_sleeping still 0 and did not poke. Look again. */
                pthread_mutex_lock(&p->mu);
                next = check_timeouts(p, now = weft_now());
                pthread_mutex_unlock(&p->mu);
            }
            timeout = -1;
            if (next >= 0) {
                int64_t ms = (next - now + WEFT_MSEC - 1) / WEFT_MSEC;
                timeout = ms < 1 ? 1 : ms > 1000 ? 1000 : (int)ms;
            }
            if (empty_slot && (timeout < 0 || timeout > 10))
                timeout = 10;
        }
        int r = poll(pf, (nfds_t)np, timeout);
        atomic_store(&p->shm->parent_sleeping, 0);
        if (r <= 0)
            continue;
        bool any_dead = false;
        memset(dead, 0, sizeof dead);
        for (int k = 0; k < np; k++) {
            if (!pf[k].revents)
                continue;
            if (idx[k] < 0) {
                uint64_t v;
                ssize_t rr = read(p->efd, &v, sizeof v);
                (void)rr;
            } else {
                dead[idx[k]] = true;
                any_dead = true;
            }
        }
        /* Anything seen (a death, a result, close or terminate): settle. */
        settle(p, any_dead ? dead : NULL);
        if (!spinning)
            spin_until = 0;
    }
    weft_event_set(&p->exited);
    return NULL;
}

/* ---- the API -------------------------------------------------------------- */

WEFT_API void weft_ppool_opts_init(weft_ppool_opts *o) {
    if (!o)
        return;
    memset(o, 0, sizeof *o);
    o->initializer = -1;
}

static void pool_free(weft_ppool *p) {
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
    pthread_mutex_destroy(&p->mu);
    weft__free(p->w);
    weft__free(p->initargs);
    weft__free(p);
}

static void kill_all(weft_ppool *p) {
    for (int i = 0; i < p->n; i++) {
        if (!p->w[i].pid)
            continue;
        kill(p->w[i].pid, SIGKILL);
        while (waitpid(p->w[i].pid, NULL, 0) < 0 && errno == EINTR) {
        }
        close(p->w[i].pidfd);
        p->w[i].pid = 0;
    }
}

WEFT_API int weft_ppool_create(weft_ppool **out, const weft_ppool_opts *opts) {
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
    p->efd = -1;
    pthread_mutex_init(&p->mu, NULL);
    weft_event_init(&p->exited);
    p->n = o.nworkers;
    p->o = o;
    p->ntasks = ntasks;
    p->sweep_at = 64;
    int r = -ENOMEM;
    p->w = weft__calloc((size_t)p->n, sizeof *p->w);
    if (!p->w)
        goto fail;
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
    for (int i = 0; i < p->n; i++)
        if ((r = spawn(p, i)) < 0)
            goto fail_kill;
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    int e = pthread_create(&p->watcher, NULL, watcher_main, p);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (e) {
        r = -EAGAIN;
        goto fail_kill;
    }
    *out = p;
    return 0;
fail_kill:
    kill_all(p);
fail:
    pool_free(p);
    return r;
}

WEFT_API int weft_ppool_size(const weft_ppool *p) { return p ? p->n : 0; }

WEFT_API long weft_ppool_started(weft_ppool *p) { return p ? atomic_load(&p->started) : 0; }

WEFT_API int weft_ppool_pids(weft_ppool *p, pid_t *pids, int max) {
    if (!p || max < 0 || (!pids && max > 0))
        return -EINVAL;
    int k = 0;
    pthread_mutex_lock(&p->mu);
    for (int i = 0; i < p->n && k < max; i++)
        if (p->w[i].pid)
            pids[k++] = p->w[i].pid;
    pthread_mutex_unlock(&p->mu);
    return k;
}

static int check_task(weft_ppool *p, int task) {
    return task < 0 || task >= p->ntasks ? -EINVAL : 0;
}

/* Queues a job (mu held), or tells why not. */
static int admit(weft_ppool *p) {
    if (p->state != P_RUNNING)
        return -EPIPE;
    if (p->broken)
        return p->broken;
    return 0;
}

WEFT_API int weft_ppool_apply_async(weft_ppool *p, int task, const void *in, size_t len,
                                    weft_ppool_cb on_success, weft_ppool_cb on_error, void *ud,
                                    weft_future **out) {
    if (out)
        *out = NULL;
    if (!p || (!in && len) || check_task(p, task) < 0)
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
    int r = admit(p);
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
    dispatch(p, &fin);
    if (p->ndone >= p->sweep_at)
        sweep(p, false);
    pthread_mutex_unlock(&p->mu);
    run_fin(p, fin);
    if (out)
        *out = &a->f;
    return 0;
}

WEFT_API int weft_ppool_apply_argv(weft_ppool *p, int task, int argc, const void *const *argv,
                                   const size_t *lens, weft_future **out) {
    if (out)
        *out = NULL;
    if (!p || argc < 0 || (argc > 0 && (!argv || !lens)))
        return -EINVAL;
    size_t total = 8 + (size_t)argc * 8;
    for (int i = 0; i < argc; i++) {
        if ((!argv[i] && lens[i]) || lens[i] > SIZE_MAX / 2 - total)
            return -EINVAL;
        total += lens[i];
    }
    unsigned char *buf = weft__malloc(total);
    if (!buf)
        return -ENOMEM;
    uint32_t n32 = (uint32_t)argc, zero = 0;
    memcpy(buf, &n32, 4);
    memcpy(buf + 4, &zero, 4);
    size_t off = 8 + (size_t)argc * 8;
    for (int i = 0; i < argc; i++) {
        uint64_t l = lens[i];
        memcpy(buf + 8 + 8 * (size_t)i, &l, 8);
        if (l)
            memcpy(buf + off, argv[i], l);
        off += l;
    }
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

static int map_start(weft_ppool *p, int kind, int task, const void *in, size_t n,
                     size_t in_size, void *out, size_t out_size, size_t chunksize,
                     int *statuses, int unordered, pp_map **mout, weft_future **fout) {
    if (!p || check_task(p, task) < 0 || (n && !in) || in_size == 0 ||
        in_size > ((size_t)1 << 31) || (kind == K_FIXED && ((n && !out) || out_size == 0 ||
                                                           out_size > ((size_t)1 << 31))))
        return -EINVAL;
    if (n && (n > SIZE_MAX / in_size || (kind == K_FIXED && n > SIZE_MAX / (out_size + 4))))
        return -EINVAL;
    if (!chunksize) {
        size_t d = (size_t)p->n * 4;
        chunksize = n / d + (n % d != 0);
        if (!chunksize)
            chunksize = 1;
    }
    if (chunksize > ((size_t)1 << 31) / in_size)
        chunksize = ((size_t)1 << 31) / in_size;
    if (kind == K_FIXED && chunksize > ((size_t)1 << 31) / (out_size + 4))
        chunksize = ((size_t)1 << 31) / (out_size + 4);
    pp_map *m = weft__calloc(1, sizeof *m);
    if (!m)
        return -ENOMEM;
    m->j.kind = J_MAP;
    m->pool = p;
    m->kind = kind;
    m->task = task;
    m->in = in;
    m->out = out;
    m->statuses = statuses;
    m->n = n;
    m->in_size = in_size;
    m->out_size = out_size;
    m->chunk = chunksize;
    m->nchunks = n / chunksize + (n % chunksize != 0);
    m->unordered = unordered;
    atomic_init(&m->refs, kind == K_VAR ? 2 : 1);
    if (kind == K_VAR) {
        m->items = weft__calloc(n ? n : 1, sizeof *m->items);
        m->arrived = weft__malloc((n ? n : 1) * sizeof *m->arrived);
        if (!m->items || !m->arrived) {
            weft__free(m->items);
            m->items = NULL;
            map_free(m);
            return -ENOMEM;
        }
        weft_event_init(&m->ev);
    } else {
        m->fut = weft__malloc(sizeof *m->fut);
        if (!m->fut) {
            map_free(m);
            return -ENOMEM;
        }
        weft__future_init(m->fut, NULL, NULL, 2);
        atomic_store(&m->fut->state, F_RUNNING);
    }
    pp_job *fin = NULL;
    pthread_mutex_lock(&p->mu);
    int r = admit(p);
    if (r < 0) {
        pthread_mutex_unlock(&p->mu);
        weft__free(m->fut);
        map_free(m);
        return r;
    }
    if (m->nchunks) {
        q_push(p, &m->j, false);
        dispatch(p, &fin);
    } else {
        m->pool_done = true;
        fin_add(&fin, &m->j, 0, false);
    }
    if (fout) {
        *fout = m->fut;
    }
    if (mout)
        *mout = m;
    pthread_mutex_unlock(&p->mu);
    run_fin(p, fin);
    return 0;
}

WEFT_API int weft_ppool_map_async(weft_ppool *p, int task, const void *in, size_t n,
                                  size_t in_size, void *out, size_t out_size, size_t chunksize,
                                  int *statuses, weft_future **out_future) {
    if (!out_future)
        return -EINVAL;
    *out_future = NULL;
    return map_start(p, K_FIXED, task, in, n, in_size, out, out_size, chunksize, statuses, 0,
                     NULL, out_future);
}

WEFT_API int weft_ppool_map(weft_ppool *p, int task, const void *in, size_t n, size_t in_size,
                            void *out, size_t out_size, size_t chunksize, int *statuses) {
    weft_future *f;
    int r = map_start(p, K_FIXED, task, in, n, in_size, out, out_size, chunksize, statuses, 0,
                      NULL, &f);
    if (r < 0)
        return r;
    /* The workers write into the caller's buffers: wait even if cancelled. */
    (void)weft__future_wait(f, WEFT_FOREVER, WEFT__W_NOCANCEL);
    r = weft__future_outcome(f, NULL);
    weft_future_release(f);
    return r;
}

WEFT_API int weft_ppool_imap(weft_ppool *p, int task, const void *in, size_t n, size_t in_size,
                             size_t chunksize, int flags, weft_ppool_iter **it) {
    if (!it)
        return -EINVAL;
    *it = NULL;
    if (flags & ~WEFT_PPOOL_UNORDERED)
        return -EINVAL;
    return map_start(p, K_VAR, task, in, n, in_size, NULL, 0, chunksize, NULL,
                     flags & WEFT_PPOOL_UNORDERED, it, NULL);
}

WEFT_API int weft_ppool_iter_next(weft_ppool_iter *m, int64_t deadline, size_t *index,
                                  int *status, weft_bytes *out) {
    if (!m || !index || !status)
        return -EINVAL;
    weft_ppool *p = m->pool;
    for (;;) {
        pthread_mutex_lock(&p->mu);
        if (m->yielded == m->n) {
            pthread_mutex_unlock(&p->mu);
            return 0;
        }
        size_t i = SIZE_MAX;
        if (m->unordered) {
            if (m->narrived > m->yielded)
                i = m->arrived[m->yielded];
        } else if (m->items[m->next_ordered].ready) {
            i = m->next_ordered++;
        }
        if (i != SIZE_MAX) {
            m->yielded++;
            *index = i;
            *status = m->items[i].status;
            weft_bytes b = m->items[i].b;
            m->items[i].b = (weft_bytes)WEFT_BYTES_INIT;
            pthread_mutex_unlock(&p->mu);
            if (out) {
                weft_bytes_free(out);
                *out = b;
            } else {
                weft_bytes_free(&b);
            }
            return 1;
        }
        weft_event_clear(&m->ev);
        pthread_mutex_unlock(&p->mu);
        int r = weft_event_wait(&m->ev, deadline);
        if (r < 0)
            return r;
    }
}

WEFT_API void weft_ppool_iter_destroy(weft_ppool_iter *m) {
    if (!m)
        return;
    weft_ppool *p = m->pool;
    pp_job *fin = NULL;
    pthread_mutex_lock(&p->mu);
    m->cancelled = true;
    if (m->j.queued)
        q_remove(p, &m->j);
    m->nredo = 0;
    if (m->outstanding == 0 && !m->pool_done) {
        m->pool_done = true;
        fin_add(&fin, &m->j, 0, false);
    }
    pthread_mutex_unlock(&p->mu);
    run_fin(p, fin);
    map_unref(m);
}

WEFT_API int weft_ppool_close(weft_ppool *p) {
    if (!p)
        return -EINVAL;
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
    pp_job *fin = NULL;
    pthread_mutex_lock(&p->mu);
    p->state = P_TERMINATED;
    fail_pending(p, -ECANCELED, true, &fin);
    for (int i = 0; i < p->n; i++) {
        pp_worker *w = &p->w[i];
        for (int c = 0; c < PP_CELLS; c++) {
            pp_job *j = w->job[c];
            if (!j)
                continue;
            size_t chunk = w->chunk[c];
            release_cell(p, i, c);
            if (j->kind == J_APPLY) {
                fin_add(&fin, j, -ECANCELED, false);
            } else {
                pp_map *m = container_of(j, pp_map, j);
                m->outstanding--;
                map_fail_chunk(p, m, chunk, -ECANCELED, &fin);
            }
        }
        if (w->pid)
            kill(w->pid, SIGKILL);
    }
    pthread_mutex_unlock(&p->mu);
    run_fin(p, fin);
    poke(p);
    return 0;
}

WEFT_API int weft_ppool_join(weft_ppool *p, int64_t deadline) {
    if (!p)
        return -EINVAL;
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
    if (pthread_equal(pthread_self(), p->watcher))
        return -EDEADLK;
    pthread_mutex_lock(&p->mu);
    bool joined = p->joined;
    p->joined = true;
    pthread_mutex_unlock(&p->mu);
    if (!joined) {
        weft_ppool_terminate(p);
        pthread_join(p->watcher, NULL);
    }
    pthread_mutex_lock(&p->mu);
    sweep(p, true);
    pthread_mutex_unlock(&p->mu);
    pool_free(p);
    return 0;
}
