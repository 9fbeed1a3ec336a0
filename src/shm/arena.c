/* weft_shm_arena: an allocator inside one shared mapping, usable from every
 * process that maps it. Everything inside is addressed by offsets from the
 * arena's start, so a named arena works at a different address in each
 * process.
 *
 * Blocks are laid end to end from the first block to the end: a 16-byte
 * header (size including the header; a tag: the used mark, or the offset of
 * the next free block) and the payload. The free list is address-ordered;
 * free coalesces with both neighbours. Each header change is a single
 * aligned store, ordered so that walking the blocks by size always works:
 * if a process dies inside alloc or free (holding the robust lock), the
 * next caller rebuilds the free list by that walk. */
#include "internal.h"
#include "psync/psync.h"
#include "shm/arena.h"
#include "shm/named.h"

#include <string.h>

#define ARENA_MAGIC 0x77617231u
#define USED_TAG 0x7573656475736564ull /* "usedused" */
#define ALIGN 16
#define MIN_SPLIT 64
#define ARENA_HDR 128

struct weft_shm_arena {
    _Atomic uint32_t magic;
    uint32_t named;      /* 1: a named object's payload */
    uint64_t size;       /* bytes from the arena start to its end */
    uint64_t first;      /* offset of the first block */
    uint64_t free_head;  /* offset of the first free block, 0: none */
    uint64_t used;       /* bytes in used blocks, headers included */
    weft__rmutex m;
};
_Static_assert(sizeof(struct weft_shm_arena) <= ARENA_HDR, "arena header");

struct blk {
    uint64_t size;
    uint64_t tag; /* USED_TAG, or the next free block's offset (0: last) */
};

#define AT(a, off) ((struct blk *)((char *)(a) + (off)))
#define OFF(a, b) ((uint64_t)((char *)(b) - (char *)(a)))

static void arena_init(struct weft_shm_arena *a, size_t size, int named) {
    a->named = (uint32_t)named;
    a->size = size;
    a->first = ARENA_HDR;
    a->free_head = ARENA_HDR;
    a->used = 0;
    struct blk *b = AT(a, ARENA_HDR);
    b->size = size - ARENA_HDR;
    b->tag = 0;
}

static int setup(struct weft_shm_arena *a, size_t size, int named) {
    arena_init(a, size, named);
    int r = weft__rmutex_init(&a->m);
    if (r < 0)
        return r;
    atomic_store_explicit(&a->magic, ARENA_MAGIC, memory_order_release);
    return 0;
}

static bool ok(weft_shm_arena *a) {
    return a && atomic_load_explicit(&a->magic, memory_order_acquire) == ARENA_MAGIC;
}

/* The mapping size of an arena of `bytes` usable bytes; 0 if that is 0 or
 * too large. */
static size_t arena_bytes(size_t bytes) {
    if (bytes == 0 || bytes > WEFT__MAX_BYTES)
        return 0;
    return (bytes + ARENA_HDR + ALIGN + ALIGN - 1) & ~(size_t)(ALIGN - 1);
}

_Static_assert(ARENA_HDR + sizeof(struct blk) == WEFT__SHM_ARENA_FIRST, "arena.h");
_Static_assert(sizeof(struct blk) == WEFT__SHM_BLOCK_HDR, "arena.h");

size_t weft__shm_arena_overhead(void) {
    return ARENA_HDR + ALIGN;
}

int weft__shm_arena_init(weft_shm_arena **out, void *mem, size_t size) {
    size &= ~(size_t)(ALIGN - 1);
    if (!out || !mem || ((uintptr_t)mem & (ALIGN - 1)) || size < ARENA_HDR + 2 * ALIGN ||
        size > WEFT__MAX_BYTES)
        return -EINVAL;
    int r = setup(mem, size, 0);
    if (r < 0)
        return r;
    *out = mem;
    return 0;
}

int weft_shm_arena_create(weft_shm_arena **out, size_t bytes) {
    size_t size = arena_bytes(bytes);
    if (!out || !size)
        return -EINVAL;
    void *p;
    int r = weft__shm_map_anon(size, &p);
    if (r < 0)
        return r;
    if ((r = setup(p, size, 0)) < 0) {
        weft__shm_unmap_anon(p, size);
        return r;
    }
    *out = p;
    return 0;
}

int weft_shm_arena_create_named(weft_shm_arena **out, const char *name, size_t bytes) {
    size_t size = arena_bytes(bytes);
    if (!out || !size)
        return -EINVAL;
    void *p;
    int r = weft__named_create(name, WEFT__NK_ARENA, size, &p);
    if (r < 0)
        return r;
    if ((r = setup(p, size, 1)) < 0) {
        weft__named_abort(p, name);
        return r;
    }
    weft__named_ready(p);
    *out = p;
    return 0;
}

int weft_shm_arena_attach(weft_shm_arena **out, const char *name) {
    if (!out)
        return -EINVAL;
    void *p;
    int r = weft__named_attach(name, WEFT__NK_ARENA, &p, NULL);
    if (r < 0)
        return r;
    if (!ok(p)) {
        weft__named_detach(p);
        return -EPROTOTYPE;
    }
    *out = p;
    return 0;
}

int weft_shm_arena_destroy(weft_shm_arena *a) {
    if (a && weft__named_kind_of(a) == WEFT__NK_ARENA)
        return weft__named_detach_as(a, WEFT__NK_ARENA);
    if (!a || !weft__mem_mapped(a, sizeof *a) || !ok(a))
        return -EINVAL;
    if (a->named)
        return weft__named_detach(a);
    weft__shm_unmap_anon(a, (size_t)a->size);
    return 0;
}

/* Rebuilds the free list (and the used count) by walking the blocks. */
static void rebuild(struct weft_shm_arena *a) {
    uint64_t off = a->first, used = 0, last = 0;
    a->free_head = 0;
    while (off + sizeof(struct blk) <= a->size) {
        struct blk *b = AT(a, off);
        uint64_t sz = b->size;
        if (sz < sizeof(struct blk) || sz > a->size - off)
            break; /* the write order makes this unreachable; stop safely */
        if (b->tag == USED_TAG) {
            used += sz;
        } else if (last && last + AT(a, last)->size == off) {
            AT(a, last)->size += sz; /* merge free neighbours */
        } else {
            b->tag = 0;
            if (last)
                AT(a, last)->tag = off;
            else
                a->free_head = off;
            last = off;
        }
        off += sz;
    }
    a->used = used;
}

static int lock(weft_shm_arena *a) {
    int r = weft__rmutex_lock(&a->m, WEFT_FOREVER);
    if (r == -ECANCELED || r == -ENOMEM) /* held briefly: wait anyway */
        r = weft__psync_lock_short(&a->m);
    if (r == -EOWNERDEAD) {
        rebuild(a);
        weft__rmutex_consistent(&a->m);
        r = 0;
    }
    return r;
}

int weft__shm_arena_sweep(weft_shm_arena *a, bool (*keep)(const void *payload, void *arg),
                          void *arg) {
    if (!ok(a) || !keep)
        return -EINVAL;
    int r = lock(a);
    if (r < 0)
        return r;
    /* Unmark the blocks to free (each one store that a walk survives),
     * then rebuild the free list from the walk, merging neighbours. */
    bool any = false;
    uint64_t off = a->first;
    while (off + sizeof(struct blk) <= a->size) {
        struct blk *b = AT(a, off);
        uint64_t sz = b->size;
        if (sz < sizeof(struct blk) || sz > a->size - off)
            break;
        if (b->tag == USED_TAG && !keep((char *)b + sizeof(struct blk), arg)) {
            b->tag = 0;
            any = true;
        }
        off += sz;
    }
    if (any)
        rebuild(a);
    weft__rmutex_unlock(&a->m);
    return 0;
}

void *weft_shm_alloc(weft_shm_arena *a, size_t size) {
    if (!ok(a) || size == 0 || size > a->size)
        return NULL;
    uint64_t need = (sizeof(struct blk) + size + ALIGN - 1) & ~(uint64_t)(ALIGN - 1);
    if (lock(a) < 0)
        return NULL;
    uint64_t prev = 0, off = a->free_head;
    while (off && AT(a, off)->size < need) {
        prev = off;
        off = AT(a, off)->tag;
    }
    void *res = NULL;
    if (off) {
        struct blk *b = AT(a, off);
        uint64_t next = b->tag;
        if (b->size - need >= MIN_SPLIT) {
            /* The rest first, then shrink: a walk sees either one free
             * block or two. */
            struct blk *rest = AT(a, off + need);
            rest->size = b->size - need;
            rest->tag = next;
            b->size = need;
            next = off + need;
        }
        if (prev)
            AT(a, prev)->tag = next;
        else
            a->free_head = next;
        b->tag = USED_TAG;
        a->used += b->size;
        res = (char *)b + sizeof(struct blk);
    }
    weft__rmutex_unlock(&a->m);
    if (res)
        memset(res, 0, size);
    return res;
}

int weft_shm_free(weft_shm_arena *a, void *p) {
    if (!ok(a) || !p)
        return -EINVAL;
    uint64_t off = OFF(a, p) - sizeof(struct blk);
    if ((char *)p < (char *)a + a->first + sizeof(struct blk) || off >= a->size ||
        (off & (ALIGN - 1)))
        return -EINVAL;
    int r = lock(a);
    if (r < 0)
        return r;
    struct blk *b = AT(a, off);
    if (b->tag != USED_TAG || b->size > a->size - off) {
        weft__rmutex_unlock(&a->m);
        return -EINVAL; /* not a live block: double free or a stray pointer */
    }
    uint64_t prev = 0, cur = a->free_head;
    while (cur && cur < off) {
        prev = cur;
        cur = AT(a, cur)->tag;
    }
    a->used -= b->size;
    b->tag = cur;
    if (cur && off + b->size == cur) { /* merge the next */
        b->size += AT(a, cur)->size;
        b->tag = AT(a, cur)->tag;
    }
    if (prev && prev + AT(a, prev)->size == off) { /* merge into the previous */
        AT(a, prev)->size += b->size;
        AT(a, prev)->tag = b->tag;
    } else if (prev) {
        AT(a, prev)->tag = off;
    } else {
        a->free_head = off;
    }
    weft__rmutex_unlock(&a->m);
    return 0;
}

int64_t weft_shm_arena_used(weft_shm_arena *a) {
    if (!ok(a))
        return -EINVAL;
    return (int64_t)a->used;
}

int64_t weft_shm_offset(weft_shm_arena *a, const void *p) {
    if (!ok(a) || !p || (const char *)p < (const char *)a + a->first ||
        (const char *)p >= (const char *)a + a->size)
        return -EINVAL;
    return (int64_t)((const char *)p - (const char *)a);
}

void *weft_shm_ptr(weft_shm_arena *a, int64_t off) {
    if (!ok(a) || off < (int64_t)a->first || (uint64_t)off >= a->size)
        return NULL;
    return (char *)a + off;
}
