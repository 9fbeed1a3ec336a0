/* The process pool, parent side: taking results out of cells and
 * completing the futures and maps they belong to. */
#include "ppool/ppool.h"

#include <string.h>

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

void weft__pp_release_cell(weft_ppool *p, int wi, int c) {
    pp_worker *w = &p->w[wi];
    w->job[c] = NULL;
    w->busy--;
    p->inflight--;
    atomic_store(&p->shm->w[wi].cell[c].state, CELL_FREE);
}

/* Takes the result of DONE cell (wi, c). mu held. */
void weft__pp_take(weft_ppool *p, int wi, int c, pp_job **fin) {
    pp_worker *w = &p->w[wi];
    pp_cell *cell = &p->shm->w[wi].cell[c];
    pp_job *j = w->job[c];
    size_t chunk = w->chunk[c];
    if (!j) {
        weft__pp_release_cell(p, wi, c);
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
        weft__pp_release_cell(p, wi, c);
        fin_add(fin, j, st, false);
        return;
    }
    pp_map *m = container_of(j, pp_map, j);
    size_t f = chunk_first(m, chunk), k = chunk_len(m, chunk);
    m->outstanding--;
    if (err) {
        weft__pp_release_cell(p, wi, c);
        weft__pp_map_fail_chunk(p, m, chunk, err, fin);
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
    weft__pp_release_cell(p, wi, c);
    weft__pp_map_chunk_done(p, m, fin);
}

void weft__pp_sweep(weft_ppool *p, bool all) {
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
void weft__pp_run_fin(weft_ppool *p, pp_job *fin) {
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
            weft__pp_map_unref(m);
        }
    }
}
