/* Memory that a million coroutines multiply: control blocks (type-stable,
 * never unmapped) and the small per-coroutine blocks a scheduler juggles
 * (stack copies of SHARED coroutines, park scratch).
 *
 * Regions after the first are 2 MiB, aligned and advised for transparent
 * huge pages: on virtualized hosts a first-touch page fault can cost tens
 * of microseconds, and one huge page replaces 512 of them. The first region
 * of each kind is small, so a thread that runs a few coroutines stays
 * small. Everything here is owned by one scheduler: no locking. */
#include "coro/sched.h"
#include "coro/maplimit.h"

#include <sys/mman.h>

#define SMALL_REGION ((size_t)64 * 1024)
#define HUGE_REGION ((size_t)2 * 1024 * 1024)

/* Maps a region: small for the first (nth == 0), else a huge-page one. */
void *weft__region_map(unsigned nth, size_t *size) {
    if (nth == 0) {
        void *p = mmap(NULL, SMALL_REGION, PROT_READ | PROT_WRITE,
                       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
        if (p == MAP_FAILED) {
            weft__map_limit_note(errno);
            return NULL;
        }
        *size = SMALL_REGION;
        return p;
    }
    char *p = mmap(NULL, 2 * HUGE_REGION, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (p == MAP_FAILED) {
        weft__map_limit_note(errno);
        return NULL;
    }
    char *a = (char *)(((uintptr_t)p + HUGE_REGION - 1) & ~(uintptr_t)(HUGE_REGION - 1));
    if (a > p)
        munmap(p, (size_t)(a - p));
    if (a + HUGE_REGION < p + 2 * HUGE_REGION)
        munmap(a + HUGE_REGION, (size_t)(p + 2 * HUGE_REGION - (a + HUGE_REGION)));
#ifdef MADV_HUGEPAGE
    madvise(a, HUGE_REGION, MADV_HUGEPAGE);
#endif
    *size = HUGE_REGION;
    return a;
}

/* ---- small blocks ------------------------------------------------------ */

typedef struct region_hdr {
    struct region_hdr *next;
    size_t size;
} region_hdr;

typedef struct free_blk {
    struct free_blk *next;
} free_blk;

static inline unsigned cls_of(size_t n) { return (unsigned)((n + 15) >> 4); }

void *weft__arena_alloc(weft__sched *s, size_t n, size_t *cap) {
    if (n > WEFT__ARENA_MAX) {
        void *p = weft__malloc(n);
        *cap = n;
        return p;
    }
    unsigned c = cls_of(n ? n : 1);
    size_t sz = (size_t)c << 4;
    *cap = sz;
    free_blk *b = s->arena_free[c];
    if (b) {
        s->arena_free[c] = b->next;
        return b;
    }
    if (s->arena_next + sz > s->arena_end) {
        size_t rs;
        region_hdr *r = weft__region_map(s->arena_regions++, &rs);
        if (!r)
            return NULL;
        r->size = rs;
        r->next = s->arena_list;
        s->arena_list = r;
        s->arena_next = (char *)r + 16;
        s->arena_end = (char *)r + rs;
    }
    void *p = s->arena_next;
    s->arena_next += sz;
    return p;
}

void weft__arena_free(weft__sched *s, void *p, size_t cap) {
    if (!p)
        return;
    if (cap > WEFT__ARENA_MAX) {
        weft__free(p);
        return;
    }
    unsigned c = cls_of(cap);
    free_blk *b = p;
    b->next = s->arena_free[c];
    s->arena_free[c] = b;
}

void weft__arena_destroy(weft__sched *s) {
    while (s->arena_list) {
        region_hdr *r = s->arena_list;
        s->arena_list = r->next;
        munmap(r, r->size);
    }
}
