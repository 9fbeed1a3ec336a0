/* Rank 0: the bridge between the pool's remote slots and the worker ranks. Slot i is
 * rank i+1. See mpi.h for the protocol. */
#include "mpi/mpi.h"

#include <linux/futex.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <time.h>

typedef struct {
    MPI_Request req; /* the cell's send, or MPI_REQUEST_NULL */
    unsigned char *buf;
    size_t cap;
    void *outmap; /* this thread's mapping of the pool's result memfd */
    size_t outlen;
} wm_cell;

typedef struct {
    weft_ppool *p;
    MPI_Comm comm;
    int n;
    wm_cell *cells;
    bool *ended;
    unsigned char *rbuf;
    size_t rcap;
    size_t out; /* cells sent and not answered */
    int64_t idle_since;
} bridge;

static void wake_parent(weft_ppool *p) {
    if (atomic_load(&p->shm->parent_sleeping)) {
        uint64_t one = 1;
        ssize_t r = write(p->efd, &one, sizeof one);
        (void)r;
    }
}

/* Fails cell (i, c) with err without sending it. mu held. */
static void fail_cell(weft_ppool *p, pp_cell *cell, int err) {
    cell->out_len = 0;
    cell->out_buf = 0;
    cell->status = err;
    atomic_store(&cell->state, CELL_DONE);
    wake_parent(p);
}

typedef struct {
    int i, c;
    size_t len;
    uint64_t seq;
} wm_send;

/* Sends every READY cell, in order within each slot; ends slots asked to quit. Returns
 * how many it sent. */
static int send_ready(bridge *b) {
    weft_ppool *p = b->p;
    wm_send sends[PP_MAX_WORKERS * PP_CELLS];
    int ns = 0;
    pthread_mutex_lock(&p->mu);
    for (int i = 0; i < b->n; i++) {
        pp_worker *w = &p->w[i];
        pp_wshm *ws = &p->shm->w[i];
        /* An ended slot (close, terminate) wants nothing more, quit flag or not. */
        b->ended[i] = w->pid != -1 || w->gone;
        if (b->ended[i])
            continue;
        if (atomic_load(&ws->quit) && !w->job[0] && !w->job[1]) {
            weft__pp_remote_end(p, i);
            b->ended[i] = true;
            continue;
        }
        int order[PP_CELLS], k = 0;
        for (int c = 0; c < PP_CELLS; c++)
            if (w->job[c] && atomic_load(&ws->cell[c].state) == CELL_READY)
                order[k++] = c;
        if (k == 2 && ws->cell[order[1]].seq < ws->cell[order[0]].seq) {
            int t = order[0];
            order[0] = order[1];
            order[1] = t;
        }
        for (int q = 0; q < k; q++) {
            int c = order[q];
            pp_cell *cell = &ws->cell[c];
            wm_cell *x = &b->cells[i * PP_CELLS + c];
            if (x->req != MPI_REQUEST_NULL)
                MPI_Wait(&x->req, MPI_STATUS_IGNORE); /* answered already: done */
            size_t len = cell->in_var ? cell->in_size : cell->n * cell->in_size;
            wm_task_hdr h = {(uint32_t)c, cell->kind, cell->task,    cell->in_var,
                             cell->seq,   cell->n,    cell->in_size, cell->out_size};
            if (len > (size_t)INT32_MAX - sizeof h) {
                fail_cell(p, cell, -EMSGSIZE);
                continue;
            }
            if (weft__mpi_reserve(&x->buf, &x->cap, sizeof h + len) < 0) {
                fail_cell(p, cell, -ENOMEM);
                continue;
            }
            memcpy(x->buf, &h, sizeof h);
            if (len)
                memcpy(x->buf + sizeof h, cell->in_buf ? w->inmap[c] : cell->in, len);
            atomic_store(&cell->started, weft_now());
            atomic_store(&cell->state, CELL_RUN);
            sends[ns++] = (wm_send){i, c, sizeof h + len, cell->seq};
        }
    }
    pthread_mutex_unlock(&p->mu);
    for (int k = 0; k < ns; k++) {
        wm_cell *x = &b->cells[sends[k].i * PP_CELLS + sends[k].c];
        MPI_Isend(x->buf, (int)sends[k].len, MPI_BYTE, sends[k].i + 1, T_TASK, b->comm, &x->req);
        b->out++;
    }
    return ns;
}

/* Receives one pending result, if any, into its cell. Returns 1 if it took one. */
static int take_result(bridge *b) {
    int flag = 0, count = 0;
    MPI_Status st;
    MPI_Iprobe(MPI_ANY_SOURCE, T_RESULT, b->comm, &flag, &st);
    if (!flag)
        return 0;
    MPI_Get_count(&st, MPI_BYTE, &count);
    if (weft__mpi_reserve(&b->rbuf, &b->rcap, count > 0 ? (size_t)count : 1) < 0) {
        fprintf(stderr, "weft_mpi: rank 0 has no memory for a %d-byte result\n", count);
        MPI_Abort(b->comm, 12);
    }
    MPI_Recv(b->rbuf, count, MPI_BYTE, st.MPI_SOURCE, T_RESULT, b->comm, MPI_STATUS_IGNORE);
    b->out--;
    wm_result_hdr h;
    if ((size_t)count < sizeof h)
        return 1;
    memcpy(&h, b->rbuf, sizeof h);
    int i = st.MPI_SOURCE - 1, c = (int)h.cell;
    if (i < 0 || i >= b->n || c < 0 || c >= PP_CELLS || h.out_len > (size_t)count - sizeof h)
        return 1;
    weft_ppool *p = b->p;
    pp_job *fin = NULL;
    pthread_mutex_lock(&p->mu);
    pp_worker *w = &p->w[i];
    pp_cell *cell = &p->shm->w[i].cell[c];
    /* A cell released meanwhile (terminate) or handed out again is not ours to fill. */
    if (w->pid == -1 && !w->gone && w->job[c] && atomic_load(&cell->state) == CELL_RUN &&
        cell->seq == h.seq) {
        size_t len = h.out_len;
        int status = h.status;
        const unsigned char *src = b->rbuf + sizeof h;
        cell->out_buf = 0;
        if (status >= 0 && len > PP_INLINE) {
            wm_cell *x = &b->cells[i * PP_CELLS + c];
            int r = weft__pp_grow(w->outfd[c], &cell->out_file, len);
            if (r == 0)
                r = weft__pp_map(w->outfd[c], &x->outmap, &x->outlen, len);
            if (r < 0) {
                status = r;
                len = 0;
            } else {
                memcpy(x->outmap, src, len);
                cell->out_buf = 1;
            }
        } else if (status >= 0 && len) {
            memcpy(cell->out, src, len);
        }
        cell->out_len = status >= 0 ? len : 0;
        cell->status = status;
        atomic_store(&cell->state, CELL_DONE);
        /* Taken here, as the watcher would take it (one wake-up less per task); the
         * watcher still learns when the pool may be winding down (close, terminate). */
        weft__pp_take(p, i, c, &fin);
        weft__pp_dispatch(p, &fin);
        if (p->ndone >= p->sweep_at)
            weft__pp_sweep(p, false);
        if (p->state != P_RUNNING) {
            uint64_t one = 1;
            ssize_t wr = write(p->efd, &one, sizeof one);
            (void)wr;
        }
    }
    pthread_mutex_unlock(&p->mu);
    weft__pp_run_fin(p, fin);
    return 1;
}

/* Whether anything waits for the bridge (a READY cell, a slot to end). */
static bool wanted(bridge *b) {
    for (int i = 0; i < b->n; i++) {
        pp_wshm *ws = &b->p->shm->w[i];
        if (atomic_load(&ws->quit) && !b->ended[i])
            return true;
        for (int c = 0; c < PP_CELLS; c++)
            if (atomic_load(&ws->cell[c].state) == CELL_READY)
                return true;
    }
    return false;
}

/* Nothing out: sleep until the pool hands out work (it wakes slot words whose worker
 * sleeps: slot 0's wakes this thread at once, the others within 2 ms, or 20 ms
 * after a second without work). */
static void idle_wait(bridge *b, _Atomic int *stop) {
    pp_shm *shm = b->p->shm;
    uint32_t v = atomic_load(&shm->w[0].wake);
    for (int i = 0; i < b->n; i++)
        atomic_store(&shm->w[i].sleeping, 1);
    if (!wanted(b) && !atomic_load(stop)) {
        /* 2 ms at first, 20 ms once idle for a second */
        long ms = weft_now() - b->idle_since > WEFT_SEC ? 20 : 2;
        struct timespec ts = {0, ms * 1000000L};
        syscall(SYS_futex, &shm->w[0].wake, FUTEX_WAIT, v, &ts, NULL, 0);
    }
    for (int i = 0; i < b->n; i++)
        atomic_store(&shm->w[i].sleeping, 0);
}

void weft__mpi_stop_ranks(MPI_Comm comm, int size) {
    for (int r = 1; r < size; r++)
        MPI_Send(NULL, 0, MPI_BYTE, r, T_STOP, comm);
    unsigned char *buf = NULL;
    size_t cap = 0;
    int byes = 0;
    wm_backoff b;
    wm_backoff_reset(&b);
    while (byes < size - 1) {
        int flag = 0, count = 0;
        MPI_Status st;
        MPI_Iprobe(MPI_ANY_SOURCE, MPI_ANY_TAG, comm, &flag, &st);
        if (!flag) {
            weft__mpi_backoff(&b, 200 * WEFT_USEC, WEFT_MSEC, WEFT_MSEC);
            continue;
        }
        wm_backoff_reset(&b);
        MPI_Get_count(&st, MPI_BYTE, &count);
        if (weft__mpi_reserve(&buf, &cap, count > 0 ? (size_t)count : 1) < 0)
            MPI_Abort(comm, 12);
        MPI_Recv(buf, count, MPI_BYTE, st.MPI_SOURCE, st.MPI_TAG, comm, MPI_STATUS_IGNORE);
        if (st.MPI_TAG == T_BYE)
            byes++;
    }
    free(buf);
}

void weft__mpi_bridge(weft_ppool *p, MPI_Comm comm, int size, _Atomic int *stop) {
    bridge b = {.p = p, .comm = comm, .n = size - 1};
    b.cells = calloc((size_t)b.n * PP_CELLS, sizeof *b.cells);
    b.ended = calloc((size_t)b.n, sizeof *b.ended);
    if (!b.cells || !b.ended) {
        fprintf(stderr, "weft_mpi: rank 0 has no memory for the pool's bridge\n");
        MPI_Abort(comm, 12);
    }
    for (int k = 0; k < b.n * PP_CELLS; k++)
        b.cells[k].req = MPI_REQUEST_NULL;
    wm_backoff bo;
    wm_backoff_reset(&bo);
    while (!atomic_load(stop)) {
        int did = 0;
        while (take_result(&b))
            did++;
        did += send_ready(&b);
        if (did) {
            wm_backoff_reset(&bo);
            b.idle_since = bo.last;
        } else if (b.out) {
            weft__mpi_backoff(&bo, 200 * WEFT_USEC, 500 * WEFT_USEC, 2 * WEFT_MSEC);
        } else if (weft_now() - bo.last < 200 * WEFT_USEC) {
            sched_yield(); /* the next task usually comes right after a result */
        } else {
            idle_wait(&b, stop);
        }
    }
    /* Every rank answers what it was sent, then T_BYE (its probe takes messages in the
     * order sent): stop_ranks drains the answers; the sends are then all received. */
    weft__mpi_stop_ranks(comm, size);
    for (int k = 0; k < b.n * PP_CELLS; k++) {
        if (b.cells[k].req != MPI_REQUEST_NULL)
            MPI_Wait(&b.cells[k].req, MPI_STATUS_IGNORE);
    }
    for (int k = 0; k < b.n * PP_CELLS; k++) {
        free(b.cells[k].buf);
        if (b.cells[k].outmap)
            munmap(b.cells[k].outmap, b.cells[k].outlen);
    }
    free(b.cells);
    free(b.ended);
    free(b.rbuf);
}
