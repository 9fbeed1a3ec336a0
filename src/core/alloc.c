/* weft's allocation entry points and the user's allocator hook.
 * The hook is process-wide configuration the user sets explicitly. */
#include "internal.h"

#include <string.h>

static void *d_alloc(size_t n, void *ud) { (void)ud; return malloc(n); }
static void *d_realloc(void *p, size_t n, void *ud) { (void)ud; return realloc(p, n); }
static void d_free(void *p, void *ud) { (void)ud; free(p); }

static weft_allocator current = {d_alloc, d_realloc, d_free, NULL};

WEFT_API int weft_set_allocator(const weft_allocator *a) {
    if (!a) {
        current = (weft_allocator){d_alloc, d_realloc, d_free, NULL};
        return 0;
    }
    if (!a->alloc || !a->realloc || !a->free)
        return -EINVAL;
    current = *a;
    return 0;
}

void *weft__malloc(size_t n) { return current.alloc(n ? n : 1, current.ud); }

void *weft__calloc(size_t n, size_t size) {
    if (size && n > SIZE_MAX / size)
        return NULL;
    void *p = weft__malloc(n * size);
    if (p)
        memset(p, 0, n * size);
    return p;
}

void *weft__realloc(void *p, size_t n) { return current.realloc(p, n ? n : 1, current.ud); }

void weft__free(void *p) {
    if (p)
        current.free(p, current.ud);
}

char *weft__strdup(const char *s) {
    size_t n = strlen(s) + 1;
    char *d = weft__malloc(n);
    if (d)
        memcpy(d, s, n);
    return d;
}
