/* The shared core of weft_pdict and weft_plist: creation, opening and
 * closing of the mapping, the lock and the repair after a dead holder, the
 * blocks of the arena. See pbox.h for the commit rule every change follows. */
#include "pdict/pbox.h"
#include "shm/arena.h"
#include "shm/named.h"

#include <signal.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

_Atomic long weft__pbox_fault_n;

void weft__pbox_fault(long n) {
    atomic_store_explicit(&weft__pbox_fault_n, n > 0 ? n : 0, memory_order_relaxed);
}

long weft__pbox_fault_left(void) {
    return atomic_load_explicit(&weft__pbox_fault_n, memory_order_relaxed);
}

void weft__pbox_fault_step(void) {
    if (atomic_fetch_sub_explicit(&weft__pbox_fault_n, 1, memory_order_relaxed) != 1)
        return;
    kill(getpid(), SIGKILL);
    for (;;)
        pause();
}

static uint64_t align64(uint64_t x) {
    return (x + 63) & ~(uint64_t)63;
}

static inline weft_shm_arena *arena(weft__pbox *b) {
    return (weft_shm_arena *)(void *)((char *)b + b->arena_off);
}

weft__pbox *weft__pbox_of(void *p, uint32_t type) {
    weft__pbox *b = p;
    if (!b || b->magic != WEFT__PBOX_MAGIC || b->type != type)
        return NULL;
    return b;
}

static uint64_t fresh_seed(void) {
    uint64_t s = 0;
    if (getrandom(&s, sizeof s, GRND_NONBLOCK) != (ssize_t)sizeof s)
        s = (uint64_t)weft_now() ^ ((uint64_t)getpid() << 32);
    return s;
}

/* Lays out a box in fresh zero-filled memory. */
static int install(weft__pbox *b, uint32_t type, uint64_t size, uint64_t max_bytes, int named) {
    b->type = type;
    b->named = (uint32_t)named;
    b->map_size = size;
    b->max_bytes = max_bytes;
    b->seed = fresh_seed();
    b->arena_off = align64(sizeof *b);
    b->epoch = 1;
    weft_shm_arena *a;
    int r = weft__shm_arena_init(&a, (char *)b + b->arena_off, size - b->arena_off);
    if (r < 0)
        return r;
    if ((r = weft__rmutex_init(&b->lock)) < 0)
        return r;
    b->magic = WEFT__PBOX_MAGIC;
    return 0;
}

int weft__pbox_create(weft__pbox **out, const char *name, uint32_t type, size_t max_bytes) {
    if (!out || max_bytes < WEFT__PBOX_MIN_BYTES || max_bytes > WEFT__PBOX_MAX_BYTES)
        return -EINVAL;
    uint64_t size = align64(sizeof(weft__pbox)) + weft__shm_arena_overhead() + max_bytes;
    size = align64(size);
    uint32_t kind = type == WEFT__PBOX_DICT ? WEFT__NK_DICT : WEFT__NK_LIST;
    void *mem;
    int r = name ? weft__named_create(name, kind, size, &mem) : weft__shm_map_anon(size, &mem);
    if (r < 0)
        return r;
    if ((r = install(mem, type, size, max_bytes, name != NULL)) < 0) {
        if (name)
            weft__named_abort(mem, name);
        else
            weft__shm_unmap_anon(mem, size);
        return r;
    }
    if (name)
        weft__named_ready(mem);
    *out = mem;
    return 0;
}

int weft__pbox_open(weft__pbox **out, const char *name, uint32_t type, int64_t deadline) {
    if (!out)
        return -EINVAL;
    uint32_t kind = type == WEFT__PBOX_DICT ? WEFT__NK_DICT : WEFT__NK_LIST;
    void *mem;
    size_t size;
    int r = weft__named_attach_until(name, kind, &mem, &size, deadline);
    if (r < 0)
        return r;
    weft__pbox *b = mem;
    if (size < sizeof *b || b->magic != WEFT__PBOX_MAGIC || b->type != type ||
        b->map_size != size || b->arena_off != align64(sizeof *b)) {
        weft__named_detach(mem);
        return -EPROTO;
    }
    *out = b;
    return 0;
}

int weft__pbox_close(void *p, uint32_t type) {
    if (!p)
        return 0;
    uint32_t kind = type == WEFT__PBOX_DICT ? WEFT__NK_DICT : WEFT__NK_LIST;
    uint32_t k = weft__named_kind_of(p);
    if (k)
        return k == kind ? weft__named_detach_as(p, kind) : -EINVAL;
    weft__pbox *b = p;
    if (!weft__mem_mapped(b, sizeof *b) || !weft__pbox_of(b, type) || b->named)
        return -EINVAL;
    weft__shm_unmap_anon(b, b->map_size);
    return 0;
}

/* ---- blocks -------------------------------------------------------------- */

void *weft__pbox_alloc(weft__pbox *b, size_t size, uint64_t *off) {
    void *p = weft_shm_alloc(arena(b), size);
    if (p)
        *off = (uint64_t)((char *)p - (char *)arena(b));
    return p;
}

void weft__pbox_free(weft__pbox *b, void *blk) {
    weft_shm_free(arena(b), blk);
}

void weft__pbox_new_epoch(weft__pbox *b) {
    b->epoch++;
}

static bool stamped(const void *payload, void *arg) {
    return ((const weft__pbox_blk *)payload)->mark == *(const uint64_t *)arg;
}

int weft__pbox_sweep(weft__pbox *b) {
    uint64_t e = b->epoch;
    return weft__shm_arena_sweep(arena(b), stamped, &e);
}

/* ---- the lock ------------------------------------------------------------ */

int weft__pbox_lock(weft__pbox *b, int64_t deadline) {
    int r = weft__rmutex_lock(&b->lock, deadline);
    if (likely(r == 0))
        return 0;
    if (r != -EOWNERDEAD)
        return r;
    weft__pbox_new_epoch(b);
    WEFT__PBOX_STEP();
    if (b->type == WEFT__PBOX_DICT)
        weft__pdict_repair(b);
    else
        weft__plist_repair(b);
    WEFT__PBOX_STEP();
    if ((r = weft__pbox_sweep(b)) < 0) {
        /* The arena cannot be repaired: leave the lock unusable. */
        weft__rmutex_unlock(&b->lock);
        return -ENOTRECOVERABLE;
    }
    WEFT__PBOX_STEP();
    weft__rmutex_consistent(&b->lock);
    return 0;
}

void weft__pbox_unlock(weft__pbox *b) {
    weft__rmutex_unlock(&b->lock);
}

/* ---- hashing ------------------------------------------------------------- */

static inline uint64_t fmix(uint64_t x) {
    x ^= x >> 30;
    x *= 0xbf58476d1ce4e5b9ULL;
    x ^= x >> 27;
    x *= 0x94d049bb133111ebULL;
    x ^= x >> 31;
    return x;
}

uint64_t weft__pbox_hash(uint64_t seed, const void *p, size_t n) {
    const unsigned char *s = p;
    uint64_t h = seed ^ ((uint64_t)n * 0x9e3779b97f4a7c15ULL);
    while (n >= 8) {
        uint64_t w;
        memcpy(&w, s, 8);
        h = (h ^ w) * 0x9e3779b97f4a7c15ULL;
        h ^= h >> 29;
        s += 8;
        n -= 8;
    }
    uint64_t w = 0;
    if (n)
        memcpy(&w, s, n);
    return fmix(h ^ w ^ ((uint64_t)n << 59));
}
