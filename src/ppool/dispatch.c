/* The process pool, parent side: handing out cells to workers. The
 * shared protocol is described in ppool.h. */
#include "ppool/ppool.h"

#include <string.h>

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

/* Writes starmap items as records: uint64 packed length, the packed
 * arguments (weft_ppool_arg's format), zeros up to a multiple of 8. The
 * items were checked when the starmap started. */
static void pack_records(const weft_ppool_args *args, size_t n, unsigned char *dst) {
    for (size_t i = 0; i < n; i++) {
        size_t sz = pp_args_size_unchecked(&args[i]);
        uint64_t l = sz, zero = 0;
        memcpy(dst, &l, 8);
        /* the record's last word first: its padding ends up zero */
        memcpy(dst + pp_pad8(sz), &zero, 8);
        weft__pp_args_pack(&args[i], dst + 8);
        dst += 8 + pp_pad8(sz);
    }
}

/* Fills cell (wi, c) with job (a map chunk, or an apply) and wakes the worker. */
static int put(weft_ppool *p, int wi, int c, pp_job *j, size_t chunk) {
    pp_worker *w = &p->w[wi];
    pp_wshm *ws = &p->shm->w[wi];
    pp_cell *cell = &ws->cell[c];
    const unsigned char *src;
    const weft_ppool_args *args = NULL;
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
        n = chunk_len(m, chunk);
        if (m->args) {
            /* starmap: the chunk's records, packed below */
            src = NULL;
            args = m->args + chunk_first(m, chunk);
            isz = 0;
            for (size_t i = 0; i < n; i++)
                isz += 8 + pp_pad8(pp_args_size_unchecked(&args[i]));
        } else {
            src = m->in + chunk_first(m, chunk) * m->in_size;
            isz = m->in_size;
        }
        osz = m->out_size;
        kind = (uint32_t)m->kind;
        task = (uint32_t)m->task;
    }
    size_t len = args ? isz : n * isz;
    unsigned char *dst = cell->in;
    int r;
    if (len <= PP_INLINE) {
        cell->in_buf = 0;
    } else {
        r = weft__pp_grow(w->infd[c], &cell->in_file, len);
        if (r == 0)
            r = weft__pp_map(w->infd[c], &w->inmap[c], &w->inlen[c], len);
        if (r < 0)
            return r;
        dst = w->inmap[c];
        cell->in_buf = 1;
    }
    if (args)
        pack_records(args, n, dst);
    else if (len)
        memcpy(dst, src, len);
    cell->in_var = args != NULL;
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
void weft__pp_dispatch(weft_ppool *p, pp_job **fin) {
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
                weft__pp_map_fail_chunk(p, m, chunk, r, fin);
        }
    }
}
