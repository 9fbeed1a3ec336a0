/* weft_plist: a growable array of byte items in shared memory (Python's
 * multiprocessing Manager().list()).
 *
 * root is an index block: the number of items n, its capacity and the
 * items' arena offsets; each item is a block of its own, never changed once
 * the index refers to it. Following pbox.h, each change commits with one
 * store: an append writes the item and its offset past n, then stores n + 1;
 * a pop from the end stores n - 1; a set stores the slot; an insert or a
 * delete elsewhere, and a growth, fill a new index and store root; a clear
 * stores root = 0. What a change replaced is freed after its commit. */
#include "pdict/pbox.h"

#include <string.h>

#define MIN_CAP 8

typedef struct {
    uint64_t mark;
    uint64_t cap;
    _Atomic uint64_t n;
    uint64_t offs[];
} index_blk;

typedef struct {
    uint64_t mark;
    uint64_t len;
    unsigned char data[];
} item;

#define LDR(p) atomic_load_explicit((p), memory_order_relaxed)
#define COMMIT(p, v) atomic_store_explicit((p), (v), memory_order_release)

static inline weft__pbox *L(weft_plist *l) {
    return weft__pbox_of(l, WEFT__PBOX_LIST);
}

static index_blk *idx(weft__pbox *b) {
    uint64_t r = LDR(&b->root);
    if (!r)
        return NULL;
    index_blk *x = weft__pbox_at(b, r, sizeof(index_blk));
    if (!x || !weft__pbox_at(b, r, sizeof(index_blk) + x->cap * 8) || LDR(&x->n) > x->cap)
        return NULL;
    return x;
}

static item *item_at(weft__pbox *b, uint64_t off) {
    item *it = weft__pbox_at(b, off, sizeof(item));
    if (it && !weft__pbox_at(b, off, sizeof(item) + it->len))
        return NULL;
    return it;
}

static inline uint64_t len_of(index_blk *x) {
    return x ? LDR(&x->n) : 0;
}

void weft__plist_repair(weft__pbox *b) {
    index_blk *x = idx(b);
    if (!x) {
        COMMIT(&b->root, 0);
        return;
    }
    weft__pbox_stamp(b, x);
    uint64_t n = LDR(&x->n), k = 0;
    for (uint64_t i = 0; i < n; i++) {
        item *it = item_at(b, x->offs[i]);
        if (!it) /* only a corrupted mapping gets here: drop the item */
            continue;
        weft__pbox_stamp(b, it);
        x->offs[k++] = x->offs[i];
    }
    if (k != n)
        COMMIT(&x->n, k);
}

int weft_plist_create(weft_plist **out, size_t max_bytes) {
    return weft__pbox_create((weft__pbox **)(void *)out, NULL, WEFT__PBOX_LIST, max_bytes);
}

int weft_plist_create_named(weft_plist **out, const char *name, size_t max_bytes) {
    if (!name)
        return -EINVAL;
    return weft__pbox_create((weft__pbox **)(void *)out, name, WEFT__PBOX_LIST, max_bytes);
}

int weft_plist_open(weft_plist **out, const char *name, int64_t deadline) {
    return weft__pbox_open((weft__pbox **)(void *)out, name, WEFT__PBOX_LIST, deadline);
}

int weft_plist_unlink(const char *name) {
    return weft_shm_unlink(name);
}

int weft_plist_close(weft_plist *l) {
    return weft__pbox_close(l, WEFT__PBOX_LIST);
}

/* A new item holding v, or NULL (no room). */
static item *new_item(weft__pbox *b, const void *v, size_t vl, uint64_t *off) {
    item *it = weft__pbox_alloc(b, sizeof(item) + vl, off);
    if (!it)
        return NULL;
    it->len = vl;
    if (vl)
        memcpy(it->data, v, vl);
    WEFT__PBOX_STEP();
    return it;
}

/* Commits a new index of `cap` slots: the old one's offsets [0, n) with
 * `ins` inserted at `at` (ins 0: none) and slot `del` left out (del >= n:
 * none). -ENOSPC: no room (nothing changed). */
static int reindex(weft__pbox *b, uint64_t cap, uint64_t at, uint64_t ins, uint64_t del) {
    index_blk *x = idx(b);
    uint64_t n = len_of(x), off;
    index_blk *y = weft__pbox_alloc(b, sizeof(index_blk) + cap * 8, &off);
    if (!y)
        return -ENOSPC;
    y->cap = cap;
    uint64_t k = 0;
    for (uint64_t i = 0; i <= n; i++) {
        if (ins && i == at)
            y->offs[k++] = ins;
        if (i < n && i != del)
            y->offs[k++] = x->offs[i];
    }
    COMMIT(&y->n, k);
    WEFT__PBOX_STEP();
    COMMIT(&b->root, off); /* commit */
    WEFT__PBOX_STEP();
    if (x)
        weft__pbox_free(b, x);
    return 0;
}

static int check(weft__pbox *b, const void *v, size_t vl) {
    if (!b || (!v && vl))
        return -EINVAL;
    if (vl > b->max_bytes - sizeof(item))
        return -EMSGSIZE;
    return 0;
}

/* Python's insert: i < 0 counts from the end, and an index past either end
 * means that end. */
int weft_plist_insert(weft_plist *l, int64_t i, const void *v, size_t vl, int64_t deadline) {
    weft__pbox *b = L(l);
    int r = check(b, v, vl);
    if (r < 0)
        return r;
    if ((r = weft__pbox_lock(b, deadline)) < 0)
        return r;
    index_blk *x = idx(b);
    uint64_t n = len_of(x), at, off;
    if (i < 0) {
        uint64_t back = -(uint64_t)i; /* |i|, INT64_MIN's too, without overflow */
        at = back >= n ? 0 : n - back;
    } else {
        at = (uint64_t)i > n ? n : (uint64_t)i;
    }
    if (at == n && (!x || n == x->cap)) {
        /* Room first, so the append below is one store. */
        uint64_t cap = x ? x->cap * 2 : MIN_CAP;
        if ((r = reindex(b, cap, 0, 0, UINT64_MAX)) < 0)
            goto out;
        x = idx(b);
    }
    if (!new_item(b, v, vl, &off)) {
        r = -ENOSPC;
        goto out;
    }
    if (at == n) {
        x->offs[n] = off;
        WEFT__PBOX_STEP();
        COMMIT(&x->n, n + 1); /* commit */
        WEFT__PBOX_STEP();
    } else if ((r = reindex(b, n == x->cap ? x->cap * 2 : x->cap, at, off, UINT64_MAX)) < 0) {
        weft__pbox_free(b, weft__pbox_at(b, off, sizeof(item)));
    }
out:
    weft__pbox_unlock(b);
    return r;
}

int weft_plist_append(weft_plist *l, const void *v, size_t vl, int64_t deadline) {
    return weft_plist_insert(l, INT64_MAX, v, vl, deadline);
}

/* i as an index into n items (negative: from the end), or -ERANGE. */
static int norm(int64_t i, uint64_t n, uint64_t *at) {
    if (i < 0) {
        if ((uint64_t) - (i + 1) >= n)
            return -ERANGE;
        *at = n - 1 - (uint64_t) - (i + 1);
        return 0;
    }
    if ((uint64_t)i >= n)
        return -ERANGE;
    *at = (uint64_t)i;
    return 0;
}

int weft_plist_set(weft_plist *l, int64_t i, const void *v, size_t vl, int64_t deadline) {
    weft__pbox *b = L(l);
    int r = check(b, v, vl);
    if (r < 0)
        return r;
    if ((r = weft__pbox_lock(b, deadline)) < 0)
        return r;
    index_blk *x = idx(b);
    uint64_t at, off;
    if ((r = norm(i, len_of(x), &at)) < 0)
        goto out;
    if (!new_item(b, v, vl, &off)) {
        r = -ENOSPC;
        goto out;
    }
    uint64_t old = x->offs[at];
    COMMIT((_Atomic uint64_t *)&x->offs[at], off); /* commit */
    WEFT__PBOX_STEP();
    weft__pbox_free(b, item_at(b, old));
out:
    weft__pbox_unlock(b);
    return r;
}

/* Copies item i out (into buf, or *out), deleting it if take. */
static ssize_t get_impl(weft_plist *l, int64_t i, void *buf, size_t cap, weft_bytes *out, bool take,
                        int64_t deadline) {
    weft__pbox *b = L(l);
    if (!b || (!out && !buf && cap))
        return -EINVAL;
    int r = weft__pbox_lock(b, deadline);
    if (r < 0)
        return r;
    index_blk *x = idx(b);
    uint64_t n = len_of(x), at;
    ssize_t res;
    if ((r = norm(i, n, &at)) < 0) {
        res = r;
        goto out;
    }
    item *it = item_at(b, x->offs[at]);
    res = (ssize_t)it->len;
    if (out) {
        if ((r = weft_bytes_set(out, it->data, it->len)) < 0) {
            res = r;
            goto out;
        }
    } else if (it->len > cap) {
        res = -EMSGSIZE;
        goto out;
    } else if (it->len && buf) { /* buf is NULL only with cap 0 */
        memcpy(buf, it->data, it->len);
    }
    if (!take)
        goto out;
    if (at == n - 1) {
        COMMIT(&x->n, n - 1); /* commit */
    } else if ((r = reindex(b, x->cap, 0, 0, at)) < 0) {
        res = r;
        goto out;
    }
    WEFT__PBOX_STEP();
    weft__pbox_free(b, it);
out:
    weft__pbox_unlock(b);
    return res;
}

ssize_t weft_plist_get(weft_plist *l, int64_t i, void *buf, size_t cap, int64_t deadline) {
    return get_impl(l, i, buf, cap, NULL, false, deadline);
}

ssize_t weft_plist_get_bytes(weft_plist *l, int64_t i, weft_bytes *out, int64_t deadline) {
    if (!out)
        return -EINVAL;
    return get_impl(l, i, NULL, 0, out, false, deadline);
}

ssize_t weft_plist_pop(weft_plist *l, int64_t i, void *buf, size_t cap, int64_t deadline) {
    return get_impl(l, i, buf, cap, NULL, true, deadline);
}

int weft_plist_delete(weft_plist *l, int64_t i, int64_t deadline) {
    weft__pbox *b = L(l);
    if (!b)
        return -EINVAL;
    int r = weft__pbox_lock(b, deadline);
    if (r < 0)
        return r;
    index_blk *x = idx(b);
    uint64_t n = len_of(x), at;
    if ((r = norm(i, n, &at)) < 0)
        goto out;
    item *it = item_at(b, x->offs[at]);
    if (at == n - 1)
        COMMIT(&x->n, n - 1); /* commit */
    else if ((r = reindex(b, x->cap, 0, 0, at)) < 0)
        goto out;
    WEFT__PBOX_STEP();
    weft__pbox_free(b, it);
out:
    weft__pbox_unlock(b);
    return r;
}

int64_t weft_plist_len(weft_plist *l, int64_t deadline) {
    weft__pbox *b = L(l);
    if (!b)
        return -EINVAL;
    int r = weft__pbox_lock(b, deadline);
    if (r < 0)
        return r;
    int64_t n = (int64_t)len_of(idx(b));
    weft__pbox_unlock(b);
    return n;
}

int weft_plist_clear(weft_plist *l, int64_t deadline) {
    weft__pbox *b = L(l);
    if (!b)
        return -EINVAL;
    int r = weft__pbox_lock(b, deadline);
    if (r < 0)
        return r;
    if (LDR(&b->root)) {
        COMMIT(&b->root, 0); /* commit */
        WEFT__PBOX_STEP();
        weft__pbox_new_epoch(b);
        r = weft__pbox_sweep(b);
    }
    weft__pbox_unlock(b);
    return r;
}
