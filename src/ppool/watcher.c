/* The process pool, parent side: spawning and replacing workers, settling
 * their deaths, and the watcher thread that collects results, reaps and
 * enforces task timeouts. */
#include "ppool/ppool.h"
#include "coro/sched.h"
#include "proc/proc.h"

#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/syscall.h>
#include <sys/wait.h>

/* How long the watcher keeps looking for results before it sleeps while
 * tasks are out. */
#define WATCH_SPIN_NS (60 * WEFT_USEC)

int weft__pp_spawn(weft_ppool *p, int wi) {
    pp_worker *w = &p->w[wi];
    pp_wshm *ws = &p->shm->w[wi];
    for (int c = 0; c < PP_CELLS; c++) {
        atomic_store(&ws->cell[c].state, CELL_FREE);
        w->job[c] = NULL;
    }
    atomic_store(&ws->sleeping, 0);
    atomic_store(&ws->quit, 0);
    atomic_store(&ws->init_status, 1);
    pp_wcfg cfg = {.shm = p->shm,
                   .ws = ws,
                   .efd = p->efd,
                   .owner = getpid(),
                   .initializer = p->o.initializer,
                   .initargs = p->initargs,
                   .initargs_len = p->o.initargs_len,
                   .maxtasks = p->o.maxtasks};
    for (int c = 0; c < PP_CELLS; c++) {
        cfg.infd[c] = w->infd[c];
        cfg.outfd[c] = w->outfd[c];
    }
    if (p->remote) {
        /* Served by the bridge: nothing to fork; the eventfd stands for the pidfd. */
        int fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
        if (fd < 0)
            return -EAGAIN;
        w->pid = -1;
        w->pidfd = fd;
        w->busy = 0;
        w->assigned = 0;
        w->killed_cell = -1;
        w->gone = false;
        p->live++;
        atomic_fetch_add(&p->started, 1);
        atomic_store(&ws->init_status, p->remote_init[wi]);
        if (p->remote_init[wi] < 0)
            weft__pp_remote_end(p, wi);
        return 0;
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
    bool is_pidfd;
    int fd = weft__exitfd_open(pid, &is_pidfd);
    if (fd < 0) {
        int e = fd == -EMFILE || fd == -ENFILE ? -EAGAIN : fd; /* as fork's shortage */
        kill(pid, SIGKILL);
        while (waitpid(pid, NULL, 0) < 0 && errno == EINTR) {
        }
        return e;
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

void weft__pp_remote_end(weft_ppool *p, int wi) {
    pp_worker *w = &p->w[wi];
    if (w->pid >= 0 || w->gone)
        return;
    w->gone = true;
    uint64_t one = 1;
    ssize_t r = write(w->pidfd, &one, sizeof one);
    (void)r;
}

/* Every pending task fails with err (a broken pool). mu held. */
void weft__pp_fail_pending(weft_ppool *p, int err, bool cancel, pp_job **fin) {
    pp_job *j;
    while ((j = q_pop(p))) {
        if (j->kind == J_APPLY) {
            fin_add(fin, j, err, cancel);
        } else {
            pp_map *m = container_of(j, pp_map, j);
            while (m->nredo)
                weft__pp_map_fail_chunk(p, m, m->redo[--m->nredo], err, fin);
            while (m->next_chunk < m->nchunks && !m->cancelled)
                weft__pp_map_fail_chunk(p, m, m->next_chunk++, err, fin);
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
            weft__pp_take(p, wi, c, fin);
            continue;
        }
        size_t chunk = w->chunk[c];
        bool ran = st == CELL_RUN;
        int err = w->killed_cell == c ? -ETIMEDOUT : -EOWNERDEAD;
        weft__pp_release_cell(p, wi, c);
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
                weft__pp_map_chunk_done(p, m, fin);
            } else if (!again || p->state == P_TERMINATED || p->broken ||
                       weft__pp_map_redo(p, m, chunk) < 0) {
                weft__pp_map_fail_chunk(p, m, chunk, err, fin);
            }
        }
    }
    weft__exitfd_forget(w->pidfd);
    close(w->pidfd);
    w->pidfd = -1;
    w->pid = 0;
    w->killed_cell = -1;
    p->live--;
    if (init < 0 && !p->broken) {
        p->broken = init;
        weft__pp_fail_pending(p, init, false, fin);
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
            _Atomic uint32_t *st = &p->shm->w[i].cell[c].state;
            if (atomic_load(st) != CELL_DONE)
                continue;
            if (p->w[i].job[c]) {
                weft__pp_take(p, i, c, &fin);
                took = true;
            } else {
                /* A result no one waits for: weft_ppool_terminate released the cell
                 * while its worker, not yet killed, finished the task. Left DONE it
                 * would keep any_done() true and the watcher spinning, never polling
                 * for the deaths it waits for. */
                atomic_store(st, CELL_FREE);
            }
        }
        if (dead && dead[i] && p->w[i].pid < 0) {
            on_death(p, i, &fin); /* a remote slot ended */
            took = true;
        } else if (dead && dead[i]) {
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
                (void)weft__pp_spawn(p, i);
    weft__pp_dispatch(p, &fin);
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
        weft__pp_sweep(p, false);
    pthread_mutex_unlock(&p->mu);
    weft__pp_run_fin(p, fin);
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

void *weft__pp_watcher_main(void *arg) {
    weft_ppool *p = arg;
    struct pollfd pf[PP_MAX_WORKERS + 1];
    int idx[PP_MAX_WORKERS + 1];
    bool dead[PP_MAX_WORKERS];
    int64_t spin_until = 0;
    int r = 0;
    pthread_mutex_lock(&p->mu);
    for (int i = 0; i < p->n && r == 0; i++)
        r = weft__pp_spawn(p, i);
    p->spawn_err = r;
    pthread_mutex_unlock(&p->mu);
    weft_event_set(&p->spawned);
    if (r < 0)
        return NULL; /* weft_ppool_create kills what was forked */
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
