/* Ranks 1..N-1: receive cells from rank 0, run them with the worker's code, send their
 * results back, until rank 0 says stop. */
#include "mpi/mpi.h"

#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

void weft__mpi_backoff(wm_backoff *b, int64_t spin_ns, int64_t cap_ns, int64_t long_cap_ns) {
    int64_t now = weft_now();
    if (now - b->last < spin_ns) {
        sched_yield();
        return;
    }
    int64_t cap = now - b->last > WEFT_SEC ? long_cap_ns : cap_ns;
    struct timespec ts = {0, (long)b->sleep_ns};
    nanosleep(&ts, NULL);
    b->sleep_ns *= 2;
    if (b->sleep_ns > cap)
        b->sleep_ns = cap;
}

int weft__mpi_reserve(unsigned char **buf, size_t *cap, size_t need) {
    if (need <= *cap)
        return 0;
    size_t n = *cap * 2 > need ? *cap * 2 : need;
    unsigned char *b = realloc(*buf, n);
    if (!b)
        return -ENOMEM;
    *buf = b;
    *cap = n;
    return 0;
}

typedef struct {
    pp_wcfg cfg;
    pp_wstate *ws;
    pp_cell *cell;
    unsigned char *rbuf, *sbuf;
    size_t rcap, scap;
} server;

/* Fills the cell from a T_TASK message of len bytes and runs it. */
static void run_task(server *s, const unsigned char *msg, size_t len) {
    pp_cell *cell = s->cell;
    wm_task_hdr h;
    memcpy(&h, msg, sizeof h);
    const unsigned char *in = msg + sizeof h;
    size_t in_len = len - sizeof h;
    cell->kind = h.kind;
    cell->task = h.task;
    cell->in_var = h.in_var;
    cell->n = h.n;
    cell->in_size = h.in_size;
    cell->out_size = h.out_size;
    cell->seq = h.seq;
    cell->status = 0;
    cell->out_len = 0;
    cell->out_buf = 0;
    size_t expect = h.in_var ? h.in_size : h.n * h.in_size;
    if (expect != in_len) {
        cell->status = -EPROTO;
        return;
    }
    /* The input is read where it was received, and a FIXED result larger than a cell
     * is written where it is sent from (after the result's header). */
    if (in_len <= PP_INLINE) {
        if (in_len)
            memcpy(cell->in, in, in_len);
        cell->in_buf = 0;
    } else {
        cell->in_buf = 1;
    }
    size_t cap = 0;
    if (h.kind == K_FIXED) {
        size_t need = pp_pad8(4 * h.n) + h.n * h.out_size;
        if (need > PP_INLINE &&
            weft__mpi_reserve(&s->sbuf, &s->scap, sizeof(wm_result_hdr) + need) < 0) {
            cell->status = -ENOMEM;
            return;
        }
        cap = need;
    }
    weft__pp_wstate_direct(s->ws, in, s->sbuf ? s->sbuf + sizeof(wm_result_hdr) : NULL, cap);
    weft__pp_run_cell(&s->cfg, s->ws, cell, 0);
}

/* Sends the cell's result (T_RESULT) for cell index ci. */
static void send_result(server *s, MPI_Comm comm, uint32_t ci) {
    pp_cell *cell = s->cell;
    wm_result_hdr h = {ci, cell->status, cell->seq, 0};
    const unsigned char *out = cell->out;
    size_t len = cell->status < 0 ? 0 : cell->out_len;
    if (len && cell->out_buf)
        out = weft__pp_wstate_result(s->ws);
    if (len && !out) {
        h.status = -EPROTO;
        len = 0;
    }
    if (len > (size_t)INT32_MAX - sizeof h) {
        h.status = -EMSGSIZE;
        len = 0;
    }
    if (weft__mpi_reserve(&s->sbuf, &s->scap, sizeof h + len) < 0) {
        h.status = -ENOMEM;
        len = 0;
    }
    h.out_len = len;
    if (s->sbuf) {
        memcpy(s->sbuf, &h, sizeof h);
        if (len && out != s->sbuf + sizeof h) /* a FIXED result is in place already */
            memcpy(s->sbuf + sizeof h, out, len);
        MPI_Send(s->sbuf, (int)(sizeof h + len), MPI_BYTE, 0, T_RESULT, comm);
    } else {
        MPI_Send(&h, (int)sizeof h, MPI_BYTE, 0, T_RESULT, comm);
    }
}

void weft__mpi_serve(MPI_Comm comm) {
    server s;
    memset(&s, 0, sizeof s);
    for (int c = 0; c < PP_CELLS; c++)
        s.cfg.infd[c] = s.cfg.outfd[c] = -1;
    s.ws = weft__pp_wstate_new();
    s.cell = calloc(1, sizeof *s.cell);
    bool ok = s.ws && s.cell; /* direct mode: no memfd on this side */
    wm_backoff b;
    wm_backoff_reset(&b);
    for (;;) {
        int flag = 0;
        MPI_Status st;
        MPI_Iprobe(0, MPI_ANY_TAG, comm, &flag, &st);
        if (!flag) {
            weft__mpi_backoff(&b, 200 * WEFT_USEC, WEFT_MSEC, 10 * WEFT_MSEC);
            continue;
        }
        wm_backoff_reset(&b);
        int count = 0;
        MPI_Get_count(&st, MPI_BYTE, &count);
        if (st.MPI_TAG == T_STOP) {
            MPI_Recv(NULL, 0, MPI_BYTE, 0, T_STOP, comm, MPI_STATUS_IGNORE);
            MPI_Send(NULL, 0, MPI_BYTE, 0, T_BYE, comm);
            break;
        }
        int r = weft__mpi_reserve(&s.rbuf, &s.rcap, count > 0 ? (size_t)count : 1);
        if (r < 0) {
            /* No room for a cell rank 0 waits for: the job cannot go on correctly. */
            fprintf(stderr, "weft_mpi: a worker rank has no memory for a %d-byte task\n", count);
            MPI_Abort(comm, 12);
        }
        MPI_Recv(s.rbuf, count, MPI_BYTE, 0, st.MPI_TAG, comm, MPI_STATUS_IGNORE);
        if (st.MPI_TAG != T_TASK)
            continue;
        wm_task_hdr h;
        memset(&h, 0, sizeof h);
        if ((size_t)count >= sizeof h)
            memcpy(&h, s.rbuf, sizeof h);
        if (ok && (size_t)count >= sizeof h) {
            run_task(&s, s.rbuf, (size_t)count);
            send_result(&s, comm, h.cell);
        } else {
            wm_result_hdr rh = {h.cell, ok ? -EPROTO : -ENOMEM, h.seq, 0};
            MPI_Send(&rh, (int)sizeof rh, MPI_BYTE, 0, T_RESULT, comm);
        }
    }
    weft__pp_wstate_free(s.ws);
    free(s.cell);
    free(s.rbuf);
    free(s.sbuf);
}
