/* The process pool: map (fixed-size results into the caller's buffer)
 * and imap (an iterator of variable-size results), split into chunks. */
#include "ppool/ppool.h"

#include <string.h>

/* A chunk came back or was given up; completes the map when it was the last. */
void weft__pp_map_chunk_done(weft_ppool *p, pp_map *m, pp_job **fin) {
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
void weft__pp_map_fail_chunk(weft_ppool *p, pp_map *m, size_t c, int err, pp_job **fin) {
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
    weft__pp_map_chunk_done(p, m, fin);
}

int weft__pp_map_redo(weft_ppool *p, pp_map *m, size_t c) {
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
    m->tag = WEFT__TAG_DEAD;
    weft__free(m);
}

void weft__pp_map_unref(pp_map *m) {
    if (atomic_fetch_sub(&m->refs, 1) == 1)
        map_free(m);
}

/* starmap: checks every item and finds the largest packed one (the input
 * "item size" that bounds a chunk). */
static int args_check(const weft_ppool_args *items, size_t n, size_t *max) {
    *max = 1;
    if (n && !items)
        return -EINVAL;
    for (size_t i = 0; i < n; i++) {
        size_t sz;
        if (weft__pp_args_size(&items[i], &sz) < 0 || sz > ((size_t)1 << 31))
            return -EINVAL;
        if (sz > *max)
            *max = sz;
    }
    return 0;
}

/* A map (kind K_FIXED) or imap (K_VAR) of the items in[0..n) of in_size
 * bytes each, or a starmap (K_FIXED, args non-NULL) of the tuples
 * args[0..n). */
static int map_start(weft_ppool *p, int kind, int task, const void *in, const weft_ppool_args *args,
                     size_t n, size_t in_size, void *out, size_t out_size, size_t chunksize,
                     int *statuses, int unordered, pp_map **mout, weft_future **fout) {
    if (p)
        pp_check(p, kind == K_VAR ? "weft_ppool_imap"
                    : args        ? "weft_ppool_starmap"
                                  : "weft_ppool_map");
    size_t args_max = 0;
    if (p && args && args_check(args, n, &args_max) < 0)
        return -EINVAL;
    if (args)
        in_size = 8 + pp_pad8(args_max); /* the largest record: length, packed item */
    if (!p || pp_check_task(p, task) < 0 || (n && !in && !args) || in_size == 0 ||
        in_size > ((size_t)1 << 31) + (args ? 8 : 0) ||
        (kind == K_FIXED && ((n && !out) || out_size == 0 || out_size > ((size_t)1 << 31))))
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
    m->tag = PP_ITER_MAGIC;
    m->j.kind = J_MAP;
    m->pool = p;
    m->kind = kind;
    m->task = task;
    m->in = in;
    m->args = args;
    m->args_max = args_max;
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
    int r = pp_admit(p);
    if (r < 0) {
        pthread_mutex_unlock(&p->mu);
        weft__free(m->fut);
        map_free(m);
        return r;
    }
    if (m->nchunks) {
        q_push(p, &m->j, false);
        weft__pp_dispatch(p, &fin);
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
    weft__pp_run_fin(p, fin);
    return 0;
}

/* The end of a blocking map: the workers write into the caller's buffers,
 * so it waits even if the calling coroutine is cancelled. */
static int map_wait(int r, weft_future *f, bool pinned) {
    if (r == 0) {
        (void)weft__future_wait(f, WEFT_FOREVER, WEFT__W_NOCANCEL);
        r = weft__future_outcome(f, NULL);
        weft_future_release(f);
    }
    if (pinned)
        weft__stack_unpin();
    return r;
}

WEFT_API int weft_ppool_map_async(weft_ppool *p, int task, const void *in, size_t n, size_t in_size,
                                  void *out, size_t out_size, size_t chunksize, int *statuses,
                                  weft_future **out_future) {
    if (!out_future)
        return -EINVAL;
    *out_future = NULL;
    return map_start(p, K_FIXED, task, in, NULL, n, in_size, out, out_size, chunksize, statuses, 0,
                     NULL, out_future);
}

WEFT_API int weft_ppool_map(weft_ppool *p, int task, const void *in, size_t n, size_t in_size,
                            void *out, size_t out_size, size_t chunksize, int *statuses) {
    weft_future *f;
    /* The watcher thread reads `in` and writes `out` and `statuses` while
     * the caller waits: a SHARED coroutine's stack must stay in place. */
    bool pinned = weft__stack_pin_if(out) || weft__stack_pin_if(statuses) ||
                  weft__stack_pin_if(in);
    int r = map_start(p, K_FIXED, task, in, NULL, n, in_size, out, out_size, chunksize, statuses, 0,
                      NULL, &f);
    return map_wait(r, f, pinned);
}

/* starmap of no items may pass items NULL: map_start tells a starmap by
 * its non-NULL items. */
static const weft_ppool_args no_items;

WEFT_API int weft_ppool_starmap_async(weft_ppool *p, int task, const weft_ppool_args *items,
                                      size_t n, void *out, size_t out_size, size_t chunksize,
                                      int *statuses, weft_future **out_future) {
    if (!out_future)
        return -EINVAL;
    *out_future = NULL;
    if (!items && !n)
        items = &no_items;
    return map_start(p, K_FIXED, task, NULL, items, n, 0, out, out_size, chunksize, statuses, 0,
                     NULL, out_future);
}

WEFT_API int weft_ppool_starmap(weft_ppool *p, int task, const weft_ppool_args *items, size_t n,
                                void *out, size_t out_size, size_t chunksize, int *statuses) {
    weft_future *f;
    /* As map: the watcher packs later chunks from the items (and what they
     * point to) while the caller waits. */
    bool pinned = weft__stack_pin_if(out) || weft__stack_pin_if(statuses) ||
                  weft__stack_pin_if(items) ||
                  (n && items &&
                   (weft__stack_pin_if(items[0].argv) || weft__stack_pin_if(items[0].lens) ||
                    (items[0].argc > 0 && items[0].argv && weft__stack_pin_if(items[0].argv[0]))));
    if (!items && !n)
        items = &no_items;
    int r = map_start(p, K_FIXED, task, NULL, items, n, 0, out, out_size, chunksize, statuses, 0,
                      NULL, &f);
    return map_wait(r, f, pinned);
}

WEFT_API int weft_ppool_imap(weft_ppool *p, int task, const void *in, size_t n, size_t in_size,
                             size_t chunksize, int flags, weft_ppool_iter **it) {
    if (!it)
        return -EINVAL;
    *it = NULL;
    if (flags & ~WEFT_PPOOL_UNORDERED)
        return -EINVAL;
    return map_start(p, K_VAR, task, in, NULL, n, in_size, NULL, 0, chunksize, NULL,
                     flags & WEFT_PPOOL_UNORDERED, it, NULL);
}

WEFT_API int weft_ppool_iter_next(weft_ppool_iter *m, int64_t deadline, size_t *index, int *status,
                                  weft_bytes *out) {
    if (!m || !index || !status)
        return -EINVAL;
    pp_check_iter(m, "weft_ppool_iter_next");
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
    pp_check_iter(m, "weft_ppool_iter_destroy");
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
    weft__pp_run_fin(p, fin);
    weft__pp_map_unref(m);
}
