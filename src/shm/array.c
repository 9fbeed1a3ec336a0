/* Shared values and arrays of fixed-size elements (Python's Value and
 * Array): in an arena, in an anonymous mapping of their own, or named. Each
 * may carry its own process lock. The object holds no pointers. */
#include "internal.h"
#include "shm/named.h"

#include <string.h>

#define SARR_MAGIC 0x73617231u
#define SARR_DATA 128 /* header 64 + lock 64 */

enum { FROM_ARENA = 0, FROM_ANON = 1, FROM_NAMED = 2 };

struct weft_shm_array {
    _Atomic uint32_t magic;
    uint32_t kind;   /* WEFT__NK_VALUE or WEFT__NK_ARRAY */
    uint32_t flags;
    uint32_t origin;
    uint64_t elem_size;
    uint64_t count;
    uint64_t arena_off; /* FROM_ARENA: offset of the object in its arena */
    uint64_t map_size;  /* FROM_ANON */
    uint64_t block_off; /* FROM_ARENA: offset of the arena block holding it */
    char pad_[64 - 56];
    weft_plock lock;
};
_Static_assert(offsetof(struct weft_shm_array, lock) == 64, "array header");
_Static_assert(sizeof(struct weft_shm_array) <= SARR_DATA, "array header");

static struct weft_shm_array *A(void *p, uint32_t kind) {
    struct weft_shm_array *a = p;
    if (!a || atomic_load_explicit(&a->magic, memory_order_acquire) != SARR_MAGIC ||
        a->kind != kind)
        return NULL;
    return a;
}

static int sizes(size_t elem, size_t count, size_t *total) {
    if (elem == 0 || count == 0 || elem > WEFT__MAX_BYTES / count)
        return -EINVAL;
    *total = SARR_DATA + elem * count;
    return 0;
}

static int fill(struct weft_shm_array *a, uint32_t kind, uint32_t origin, size_t elem,
                size_t count, int flags) {
    a->kind = kind;
    a->flags = (uint32_t)flags;
    a->origin = origin;
    a->elem_size = elem;
    a->count = count;
    if (flags & WEFT_SHM_LOCKED) {
        int r = weft_plock_init(&a->lock);
        if (r < 0)
            return r;
    }
    atomic_store_explicit(&a->magic, SARR_MAGIC, memory_order_release);
    return 0;
}

static int create(void **out, uint32_t kind, weft_shm_arena *arena, size_t elem, size_t count,
                  int flags) {
    size_t total;
    if (!out || (flags & ~WEFT_SHM_LOCKED) || sizes(elem, count, &total) < 0)
        return -EINVAL;
    struct weft_shm_array *a;
    int r;
    if (arena) {
        if (weft_shm_arena_used(arena) < 0)
            return -EINVAL;
        /* Arena blocks are 16-byte aligned: place the object at the next
         * 64-byte boundary inside its block, so its data is 64-aligned. */
        char *blk = weft_shm_alloc(arena, total + 48);
        if (!blk)
            return -ENOMEM;
        a = (struct weft_shm_array *)(void *)(((uintptr_t)blk + 63) & ~(uintptr_t)63);
        a->arena_off = (uint64_t)weft_shm_offset(arena, a);
        a->block_off = (uint64_t)weft_shm_offset(arena, blk);
        if ((r = fill(a, kind, FROM_ARENA, elem, count, flags)) < 0) {
            weft_shm_free(arena, blk);
            return r;
        }
    } else {
        void *p;
        if ((r = weft__shm_map_anon(total, &p)) < 0)
            return r;
        a = p;
        a->map_size = total;
        if ((r = fill(a, kind, FROM_ANON, elem, count, flags)) < 0) {
            weft__shm_unmap_anon(p, total);
            return r;
        }
    }
    *out = a;
    return 0;
}

static int create_named(void **out, uint32_t kind, const char *name, size_t elem, size_t count,
                        int flags) {
    size_t total;
    if (!out || (flags & ~WEFT_SHM_LOCKED) || sizes(elem, count, &total) < 0)
        return -EINVAL;
    void *p;
    int r = weft__named_create(name, kind, total, &p);
    if (r < 0)
        return r;
    if ((r = fill(p, kind, FROM_NAMED, elem, count, flags)) < 0) {
        weft__named_abort(p, name);
        return r;
    }
    weft__named_ready(p);
    *out = p;
    return 0;
}

static int attach(void **out, uint32_t kind, const char *name) {
    if (!out)
        return -EINVAL;
    void *p;
    size_t size;
    int r = weft__named_attach(name, kind, &p, &size);
    if (r < 0)
        return r;
    struct weft_shm_array *a = A(p, kind);
    if (!a || a->origin != FROM_NAMED || a->count == 0 ||
        a->elem_size > (size - SARR_DATA) / a->count) {
        weft__named_detach(p);
        return -EPROTOTYPE;
    }
    *out = p;
    return 0;
}

static int destroy(void *p, uint32_t kind) {
    if (p && weft__named_kind_of(p) == kind)
        return weft__named_detach_as(p, kind);
    if (!p || !weft__mem_mapped(p, sizeof(struct weft_shm_array)))
        return -EINVAL;
    struct weft_shm_array *a = A(p, kind);
    if (!a)
        return -EINVAL;
    switch (a->origin) {
    case FROM_NAMED:
        return weft__named_detach(a);
    case FROM_ANON: {
        size_t n = (size_t)a->map_size;
        atomic_store_explicit(&a->magic, 0, memory_order_release);
        weft__shm_unmap_anon(a, n);
        return 0;
    }
    default: {
        weft_shm_arena *arena = (weft_shm_arena *)(void *)((char *)a - a->arena_off);
        void *blk = (char *)arena + a->block_off;
        atomic_store_explicit(&a->magic, 0, memory_order_release);
        return weft_shm_free(arena, blk);
    }
    }
}

static void *data(struct weft_shm_array *a) { return (char *)a + SARR_DATA; }

/* Copies one element in or out, under the object's lock if it has one. */
static int copy(struct weft_shm_array *a, size_t i, void *buf, bool in) {
    if (!buf || i >= a->count)
        return buf ? -ERANGE : -EINVAL;
    bool locked = a->flags & WEFT_SHM_LOCKED;
    if (locked) {
        int r = weft_plock_acquire(&a->lock, WEFT_FOREVER);
        if (r == -EOWNERDEAD)
            r = weft_plock_consistent(&a->lock); /* an element may be torn */
        if (r < 0)
            return r;
    }
    char *el = (char *)data(a) + i * a->elem_size;
    if (in)
        memcpy(el, buf, (size_t)a->elem_size);
    else
        memcpy(buf, el, (size_t)a->elem_size);
    if (locked)
        weft_plock_release(&a->lock);
    return 0;
}

/* ---- arrays ---- */

int weft_shm_array_create(weft_shm_array **out, weft_shm_arena *arena, size_t elem_size,
                          size_t count, int flags) {
    return create((void **)out, WEFT__NK_ARRAY, arena, elem_size, count, flags);
}
int weft_shm_array_create_named(weft_shm_array **out, const char *name, size_t elem_size,
                                size_t count, int flags) {
    return create_named((void **)out, WEFT__NK_ARRAY, name, elem_size, count, flags);
}
int weft_shm_array_attach(weft_shm_array **out, const char *name) {
    return attach((void **)out, WEFT__NK_ARRAY, name);
}
int weft_shm_array_destroy(weft_shm_array *a) { return destroy(a, WEFT__NK_ARRAY); }
void *weft_shm_array_data(weft_shm_array *a) {
    struct weft_shm_array *p = A(a, WEFT__NK_ARRAY);
    return p ? data(p) : NULL;
}
size_t weft_shm_array_len(weft_shm_array *a) {
    struct weft_shm_array *p = A(a, WEFT__NK_ARRAY);
    return p ? (size_t)p->count : 0;
}
size_t weft_shm_array_elem_size(weft_shm_array *a) {
    struct weft_shm_array *p = A(a, WEFT__NK_ARRAY);
    return p ? (size_t)p->elem_size : 0;
}
int weft_shm_array_get(weft_shm_array *a, size_t i, void *out) {
    struct weft_shm_array *p = A(a, WEFT__NK_ARRAY);
    return p ? copy(p, i, out, false) : -EINVAL;
}
int weft_shm_array_set(weft_shm_array *a, size_t i, const void *in) {
    struct weft_shm_array *p = A(a, WEFT__NK_ARRAY);
    return p ? copy(p, i, (void *)(uintptr_t)in, true) : -EINVAL;
}
weft_plock *weft_shm_array_lock(weft_shm_array *a) {
    struct weft_shm_array *p = A(a, WEFT__NK_ARRAY);
    return p && (p->flags & WEFT_SHM_LOCKED) ? &p->lock : NULL;
}

/* ---- values: one element ---- */

int weft_shm_value_create(weft_shm_value **out, weft_shm_arena *arena, size_t size, int flags) {
    return create((void **)out, WEFT__NK_VALUE, arena, size, 1, flags);
}
int weft_shm_value_create_named(weft_shm_value **out, const char *name, size_t size,
                                int flags) {
    return create_named((void **)out, WEFT__NK_VALUE, name, size, 1, flags);
}
int weft_shm_value_attach(weft_shm_value **out, const char *name) {
    return attach((void **)out, WEFT__NK_VALUE, name);
}
int weft_shm_value_destroy(weft_shm_value *v) { return destroy(v, WEFT__NK_VALUE); }
void *weft_shm_value_data(weft_shm_value *v) {
    struct weft_shm_array *p = A(v, WEFT__NK_VALUE);
    return p ? data(p) : NULL;
}
size_t weft_shm_value_size(weft_shm_value *v) {
    struct weft_shm_array *p = A(v, WEFT__NK_VALUE);
    return p ? (size_t)p->elem_size : 0;
}
int weft_shm_value_get(weft_shm_value *v, void *out) {
    struct weft_shm_array *p = A(v, WEFT__NK_VALUE);
    return p ? copy(p, 0, out, false) : -EINVAL;
}
int weft_shm_value_set(weft_shm_value *v, const void *in) {
    struct weft_shm_array *p = A(v, WEFT__NK_VALUE);
    return p ? copy(p, 0, (void *)(uintptr_t)in, true) : -EINVAL;
}
weft_plock *weft_shm_value_lock(weft_shm_value *v) {
    struct weft_shm_array *p = A(v, WEFT__NK_VALUE);
    return p && (p->flags & WEFT_SHM_LOCKED) ? &p->lock : NULL;
}
