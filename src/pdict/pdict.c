/* weft_pdict: a hash map of byte keys to byte values in shared memory
 * (Python's multiprocessing Manager().dict()).
 *
 * root is a table block: open addressing with linear probing over a power
 * of two of 8-byte slots. A slot is 0 (empty), TOMB (a deleted entry) or
 * an entry's arena offset with the top bits of its key's hash as a tag
 * (most mismatches are rejected without reading the entry). An entry block
 * holds the full hash, the key and the value; it is never changed once a
 * slot refers to it. Following pbox.h, each change commits with one store:
 * an insert or a replace stores the slot (the new entry is written first,
 * the replaced one freed after), a delete stores TOMB (or 0 when the next
 * slot is empty, so no probe chain runs through it), a growth or a clean-up
 * of tombstones stores root (a new table filled first), a clear stores root
 * = 0. count and tomb are derived: the repair recounts them. */
#include "pdict/pbox.h"

#include <string.h>

#define TOMB 1ULL
#define TAG_SHIFT 42
#define OFF_MASK (((uint64_t)1 << TAG_SHIFT) - 1)
#define MIN_BUCKETS 8

typedef struct {
    uint64_t mark;
    uint64_t nb; /* a power of two */
    _Atomic uint64_t slot[];
} table;

typedef struct {
    uint64_t mark;
    uint64_t hash;
    uint32_t klen, vlen;
    unsigned char data[]; /* key, then value */
} entry;

#define LDR(p) atomic_load_explicit((p), memory_order_relaxed)
#define STR(p, v) atomic_store_explicit((p), (v), memory_order_relaxed)

static inline weft__pbox *D(weft_pdict *d) {
    return weft__pbox_of(d, WEFT__PBOX_DICT);
}

static inline uint64_t enc(uint64_t off, uint64_t h) {
    return off | (h >> TAG_SHIFT << TAG_SHIFT);
}

static table *tab(weft__pbox *b) {
    uint64_t r = LDR(&b->root);
    if (!r)
        return NULL;
    table *t = weft__pbox_at(b, r, sizeof(table));
    if (t && weft__pbox_at(b, r, sizeof(table) + t->nb * 8) == NULL)
        return NULL;
    return t;
}

static entry *ent_at(weft__pbox *b, uint64_t slot) {
    entry *e = weft__pbox_at(b, slot & OFF_MASK, sizeof(entry));
    if (e && !weft__pbox_at(b, slot & OFF_MASK, sizeof(entry) + (size_t)e->klen + e->vlen))
        return NULL;
    return e;
}

/* Looks key up in t: the index of its slot (*found = true), or of the slot
 * an insert should take (the first tombstone on the way, else the empty
 * slot that ended the probe; *found = false). -1 if neither (a full table
 * of tombstones: the caller rebuilds). */
static int64_t find(weft__pbox *b, table *t, uint64_t h, const void *key, size_t klen,
                    bool *found) {
    *found = false;
    if (!t)
        return -1;
    uint64_t mask = t->nb - 1, tag = h >> TAG_SHIFT;
    int64_t first_tomb = -1;
    for (uint64_t i = h & mask, n = 0; n < t->nb; i = (i + 1) & mask, n++) {
        uint64_t s = LDR(&t->slot[i]);
        if (s == 0)
            return first_tomb >= 0 ? first_tomb : (int64_t)i;
        if (s == TOMB) {
            if (first_tomb < 0)
                first_tomb = (int64_t)i;
            continue;
        }
        if (s >> TAG_SHIFT != tag)
            continue;
        entry *e = ent_at(b, s);
        if (e && e->hash == h && e->klen == klen && memcmp(e->data, key, klen) == 0) {
            *found = true;
            return (int64_t)i;
        }
    }
    return first_tomb;
}

/* ---- repair ----------------------------------------------------------------- */

void weft__pdict_repair(weft__pbox *b) {
    table *t = tab(b);
    b->count = b->tomb = 0;
    if (!t) {
        STR(&b->root, 0);
        return;
    }
    weft__pbox_stamp(b, t);
    for (uint64_t i = 0; i < t->nb; i++) {
        uint64_t s = LDR(&t->slot[i]);
        if (s == 0)
            continue;
        if (s == TOMB) {
            b->tomb++;
            continue;
        }
        entry *e = ent_at(b, s);
        if (!e) { /* only a corrupted mapping gets here: drop the slot */
            STR(&t->slot[i], TOMB);
            b->tomb++;
            continue;
        }
        weft__pbox_stamp(b, e);
        b->count++;
    }
}

/* Whether a key of klen bytes can be in the dict at all: a longer one is
 * absent without being read. */
static inline bool key_fits(weft__pbox *b, size_t klen) {
    return klen <= UINT32_MAX && sizeof(entry) + (uint64_t)klen <= b->max_bytes;
}

/* ---- public ----------------------------------------------------------------- */

int weft_pdict_create(weft_pdict **out, size_t max_bytes) {
    return weft__pbox_create((weft__pbox **)(void *)out, NULL, WEFT__PBOX_DICT, max_bytes);
}

int weft_pdict_create_named(weft_pdict **out, const char *name, size_t max_bytes) {
    if (!name)
        return -EINVAL;
    return weft__pbox_create((weft__pbox **)(void *)out, name, WEFT__PBOX_DICT, max_bytes);
}

int weft_pdict_open(weft_pdict **out, const char *name, int64_t deadline) {
    return weft__pbox_open((weft__pbox **)(void *)out, name, WEFT__PBOX_DICT, deadline);
}

int weft_pdict_unlink(const char *name) {
    return weft_shm_unlink(name);
}

int weft_pdict_close(weft_pdict *d) {
    return weft__pbox_close(d, WEFT__PBOX_DICT);
}

/* Replaces the table by one of nb buckets holding the live entries (no
 * tombstones). -ENOSPC: no room for it (nothing changed). */
static int rebuild(weft__pbox *b, uint64_t nb) {
    uint64_t off;
    table *n = weft__pbox_alloc(b, sizeof(table) + nb * 8, &off);
    if (!n)
        return -ENOSPC;
    n->nb = nb;
    table *t = tab(b);
    uint64_t count = 0;
    if (t)
        for (uint64_t i = 0; i < t->nb; i++) {
            uint64_t s = LDR(&t->slot[i]);
            if (s == 0 || s == TOMB)
                continue;
            entry *e = ent_at(b, s);
            if (!e)
                continue;
            uint64_t j = e->hash & (nb - 1);
            while (LDR(&n->slot[j]))
                j = (j + 1) & (nb - 1);
            STR(&n->slot[j], s);
            count++;
        }
    WEFT__PBOX_STEP();
    atomic_store_explicit(&b->root, off, memory_order_release); /* commit */
    WEFT__PBOX_STEP();
    b->count = count;
    b->tomb = 0;
    if (t)
        weft__pbox_free(b, t);
    return 0;
}

enum { SET_ANY, SET_ADD, SET_CAS };

static int check_kv(const void *key, size_t klen, const void *val, size_t vlen) {
    if ((!key && klen) || (!val && vlen))
        return -EINVAL;
    return 0;
}

static int set_impl(weft_pdict *d, const void *key, size_t klen, const void *expect, size_t elen,
                    const void *val, size_t vlen, int mode, int64_t deadline) {
    weft__pbox *b = D(d);
    if (!b || check_kv(key, klen, val, vlen) < 0 || (mode == SET_CAS && !expect && elen))
        return -EINVAL;
    if (klen > UINT32_MAX || vlen > UINT32_MAX ||
        sizeof(entry) + (uint64_t)klen + vlen > b->max_bytes)
        return -EMSGSIZE;
    uint64_t h = weft__pbox_hash(b->seed, key, klen);
    int r = weft__pbox_lock(b, deadline);
    if (r < 0)
        return r;
    bool found;
    table *t = tab(b);
    int64_t i = find(b, t, h, key, klen, &found);
    uint64_t old = found ? LDR(&t->slot[i]) : 0;
    if (mode == SET_ADD && found) {
        r = -EEXIST;
        goto out;
    }
    if (mode == SET_CAS) {
        if (!found) {
            r = -ENOENT;
            goto out;
        }
        entry *e = ent_at(b, old);
        if (e->vlen != elen || memcmp(e->data + e->klen, expect, elen) != 0) {
            r = -EAGAIN;
            goto out;
        }
    }
    if (!found && (!t || i < 0 || (b->count + b->tomb + 1) * 4 > t->nb * 3)) {
        /* Grow to keep the load under 3/4 (or just drop the tombstones). */
        uint64_t nb = MIN_BUCKETS;
        while (nb * 3 < (b->count + 1) * 4 * 2)
            nb <<= 1;
        if ((r = rebuild(b, nb)) < 0)
            goto out;
        t = tab(b);
        i = find(b, t, h, key, klen, &found);
    }
    uint64_t off;
    entry *e = weft__pbox_alloc(b, sizeof(entry) + klen + vlen, &off);
    if (!e) {
        r = -ENOSPC;
        goto out;
    }
    e->hash = h;
    e->klen = (uint32_t)klen;
    e->vlen = (uint32_t)vlen;
    if (klen)
        memcpy(e->data, key, klen);
    WEFT__PBOX_STEP();
    if (vlen)
        memcpy(e->data + klen, val, vlen);
    WEFT__PBOX_STEP();
    bool was_tomb = LDR(&t->slot[i]) == TOMB;
    atomic_store_explicit(&t->slot[i], enc(off, h), memory_order_release); /* commit */
    WEFT__PBOX_STEP();
    if (found) {
        weft__pbox_free(b, ent_at(b, old));
    } else {
        b->count++;
        if (was_tomb)
            b->tomb--;
    }
    r = 0;
out:
    weft__pbox_unlock(b);
    return r;
}

int weft_pdict_set(weft_pdict *d, const void *key, size_t klen, const void *val, size_t vlen,
                   int64_t deadline) {
    return set_impl(d, key, klen, NULL, 0, val, vlen, SET_ANY, deadline);
}

int weft_pdict_add(weft_pdict *d, const void *key, size_t klen, const void *val, size_t vlen,
                   int64_t deadline) {
    return set_impl(d, key, klen, NULL, 0, val, vlen, SET_ADD, deadline);
}

int weft_pdict_cas(weft_pdict *d, const void *key, size_t klen, const void *expect, size_t elen,
                   const void *val, size_t vlen, int64_t deadline) {
    return set_impl(d, key, klen, expect, elen, val, vlen, SET_CAS, deadline);
}

/* Deletes slot i of t (holding entry s). */
static void del_slot(weft__pbox *b, table *t, uint64_t i, uint64_t s) {
    uint64_t next = LDR(&t->slot[(i + 1) & (t->nb - 1)]);
    atomic_store_explicit(&t->slot[i], next == 0 ? 0 : TOMB, memory_order_release); /* commit */
    WEFT__PBOX_STEP();
    b->count--;
    if (next != 0)
        b->tomb++;
    weft__pbox_free(b, ent_at(b, s));
}

/* Looks key up under the lock and copies its value out. take: delete it
 * once copied. bytes: into *out instead of buf. */
static ssize_t get_impl(weft_pdict *d, const void *key, size_t klen, void *buf, size_t cap,
                        weft_bytes *out, bool take, int64_t deadline) {
    weft__pbox *b = D(d);
    if (!b || (!key && klen) || (!out && !buf && cap))
        return -EINVAL;
    if (!key_fits(b, klen))
        return -ENOENT;
    uint64_t h = weft__pbox_hash(b->seed, key, klen);
    int r = weft__pbox_lock(b, deadline);
    if (r < 0)
        return r;
    bool found;
    table *t = tab(b);
    int64_t i = find(b, t, h, key, klen, &found);
    ssize_t res;
    if (!found) {
        res = -ENOENT;
        goto out;
    }
    uint64_t s = LDR(&t->slot[i]);
    entry *e = ent_at(b, s);
    res = (ssize_t)e->vlen;
    if (out) {
        if ((r = weft_bytes_set(out, e->data + e->klen, e->vlen)) < 0) {
            res = r;
            goto out;
        }
    } else if (e->vlen > cap) {
        res = -EMSGSIZE;
        goto out;
    } else if (e->vlen && buf) { /* buf is NULL only with cap 0 */
        memcpy(buf, e->data + e->klen, e->vlen);
    }
    if (take)
        del_slot(b, t, (uint64_t)i, s);
out:
    weft__pbox_unlock(b);
    return res;
}

ssize_t weft_pdict_get(weft_pdict *d, const void *key, size_t klen, void *buf, size_t cap,
                       int64_t deadline) {
    return get_impl(d, key, klen, buf, cap, NULL, false, deadline);
}

ssize_t weft_pdict_get_bytes(weft_pdict *d, const void *key, size_t klen, weft_bytes *out,
                             int64_t deadline) {
    if (!out)
        return -EINVAL;
    return get_impl(d, key, klen, NULL, 0, out, false, deadline);
}

ssize_t weft_pdict_pop(weft_pdict *d, const void *key, size_t klen, void *buf, size_t cap,
                       int64_t deadline) {
    return get_impl(d, key, klen, buf, cap, NULL, true, deadline);
}

int weft_pdict_delete(weft_pdict *d, const void *key, size_t klen, int64_t deadline) {
    weft__pbox *b = D(d);
    if (!b || (!key && klen))
        return -EINVAL;
    if (!key_fits(b, klen))
        return -ENOENT;
    uint64_t h = weft__pbox_hash(b->seed, key, klen);
    int r = weft__pbox_lock(b, deadline);
    if (r < 0)
        return r;
    bool found;
    table *t = tab(b);
    int64_t i = find(b, t, h, key, klen, &found);
    if (found)
        del_slot(b, t, (uint64_t)i, LDR(&t->slot[i]));
    weft__pbox_unlock(b);
    return found ? 0 : -ENOENT;
}

int weft_pdict_contains(weft_pdict *d, const void *key, size_t klen, int64_t deadline) {
    weft__pbox *b = D(d);
    if (!b || (!key && klen))
        return -EINVAL;
    if (!key_fits(b, klen))
        return 0;
    uint64_t h = weft__pbox_hash(b->seed, key, klen);
    int r = weft__pbox_lock(b, deadline);
    if (r < 0)
        return r;
    bool found;
    find(b, tab(b), h, key, klen, &found);
    weft__pbox_unlock(b);
    return found;
}

int64_t weft_pdict_len(weft_pdict *d, int64_t deadline) {
    weft__pbox *b = D(d);
    if (!b)
        return -EINVAL;
    int r = weft__pbox_lock(b, deadline);
    if (r < 0)
        return r;
    int64_t n = (int64_t)b->count;
    weft__pbox_unlock(b);
    return n;
}

int weft_pdict_clear(weft_pdict *d, int64_t deadline) {
    weft__pbox *b = D(d);
    if (!b)
        return -EINVAL;
    int r = weft__pbox_lock(b, deadline);
    if (r < 0)
        return r;
    if (LDR(&b->root)) {
        atomic_store_explicit(&b->root, 0, memory_order_release); /* commit */
        WEFT__PBOX_STEP();
        b->count = b->tomb = 0;
        weft__pbox_new_epoch(b);
        r = weft__pbox_sweep(b);
    }
    weft__pbox_unlock(b);
    return r;
}

/* Snapshot records: klen and vlen as 4 bytes each (native order), then the
 * key and the value. */
int64_t weft_pdict_items(weft_pdict *d, weft_bytes *out, int64_t deadline) {
    weft__pbox *b = D(d);
    if (!b || !out)
        return -EINVAL;
    int r = weft__pbox_lock(b, deadline);
    if (r < 0)
        return r;
    table *t = tab(b);
    size_t need = 0;
    int64_t n = 0;
    for (uint64_t i = 0; t && i < t->nb; i++) {
        uint64_t s = LDR(&t->slot[i]);
        entry *e = s > TOMB ? ent_at(b, s) : NULL;
        if (e)
            need += 8 + (size_t)e->klen + e->vlen;
    }
    if ((r = weft_bytes_set(out, NULL, 0)) < 0 || (r = weft_bytes_reserve(out, need)) < 0) {
        weft__pbox_unlock(b);
        return r;
    }
    unsigned char *p = out->data;
    for (uint64_t i = 0; t && i < t->nb; i++) {
        uint64_t s = LDR(&t->slot[i]);
        entry *e = s > TOMB ? ent_at(b, s) : NULL;
        if (!e)
            continue;
        memcpy(p, &e->klen, 4);
        memcpy(p + 4, &e->vlen, 4);
        memcpy(p + 8, e->data, (size_t)e->klen + e->vlen);
        p += 8 + (size_t)e->klen + e->vlen;
        n++;
    }
    out->len = need;
    weft__pbox_unlock(b);
    return n;
}

int weft_pdict_item_next(const weft_bytes *snap, size_t *pos, const void **key, size_t *klen,
                         const void **val, size_t *vlen) {
    if (!snap || !pos || !key || !klen || !val || !vlen || (!snap->data && snap->len) ||
        *pos > snap->len)
        return -EINVAL;
    if (*pos == snap->len)
        return 0;
    const unsigned char *p = (const unsigned char *)snap->data + *pos;
    size_t left = snap->len - *pos;
    uint32_t kl, vl;
    if (left < 8)
        return -EPROTO;
    memcpy(&kl, p, 4);
    memcpy(&vl, p + 4, 4);
    if ((uint64_t)kl + vl > left - 8)
        return -EPROTO;
    *key = p + 8;
    *klen = kl;
    *val = p + 8 + kl;
    *vlen = vl;
    *pos += 8 + (size_t)kl + vl;
    return 1;
}
