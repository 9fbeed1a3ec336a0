/* weft_bytes, a task's output, and the packing of multi-argument inputs. */
#include "ppool/ppool.h"

#include <string.h>

WEFT_API int weft_bytes_reserve(weft_bytes *b, size_t n) {
    if (!b)
        return -EINVAL;
    if (n <= b->cap)
        return 0;
    if (b->flags_ & PP_BYTES_FIXED)
        return -EMSGSIZE;
    size_t cap = b->cap ? b->cap : 64;
    while (cap < n) {
        if (cap > SIZE_MAX / 2)
            return -ENOMEM;
        cap *= 2;
    }
    void *d = weft__realloc(b->data, cap);
    if (!d)
        return -ENOMEM;
    b->data = d;
    b->cap = cap;
    return 0;
}

WEFT_API int weft_bytes_append(weft_bytes *b, const void *p, size_t n) {
    if (!b || (!p && n))
        return -EINVAL;
    if (n > SIZE_MAX - b->len)
        return -ENOMEM;
    int r = weft_bytes_reserve(b, b->len + n);
    if (r < 0)
        return r;
    if (n)
        memcpy((char *)b->data + b->len, p, n);
    b->len += n;
    return 0;
}

WEFT_API int weft_bytes_set(weft_bytes *b, const void *p, size_t n) {
    if (!b || (!p && n))
        return -EINVAL;
    int r = weft_bytes_reserve(b, n);
    if (r < 0)
        return r;
    if (n)
        memmove(b->data, p, n);
    b->len = n;
    return 0;
}

WEFT_API void weft_bytes_free(weft_bytes *b) {
    if (!b)
        return;
    if (!(b->flags_ & PP_BYTES_FIXED))
        weft__free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
    b->flags_ = 0;
}

/* Packed arguments: uint32 argc, uint32 0, uint64 len[argc], then the
 * arguments one after another. */

int weft__pp_args_size(const weft_ppool_args *a, size_t *size) {
    if (!a || a->argc < 0 || (a->argc > 0 && (!a->argv || !a->lens)))
        return -EINVAL;
    size_t total = 8 + (size_t)a->argc * 8;
    for (int i = 0; i < a->argc; i++) {
        if ((!a->argv[i] && a->lens[i]) || a->lens[i] > SIZE_MAX / 2 - total)
            return -EINVAL;
        total += a->lens[i];
    }
    *size = total;
    return 0;
}

WEFT_API int weft_ppool_arg(const void *in, size_t in_len, int i, const void **p, size_t *len) {
    if (!in || in_len < 8 || i < -1)
        return -EINVAL;
    uint32_t argc;
    memcpy(&argc, in, 4);
    if (argc > (in_len - 8) / 8)
        return -EINVAL;
    size_t off = 8 + (size_t)argc * 8, total = off;
    for (uint32_t k = 0; k < argc; k++) {
        uint64_t l;
        memcpy(&l, (const char *)in + 8 + 8 * k, 8);
        if (l > in_len - total)
            return -EINVAL;
        total += l;
    }
    if (i < 0)
        return (int)argc;
    if ((uint32_t)i >= argc)
        return -ERANGE;
    for (int k = 0;; k++) {
        uint64_t l;
        memcpy(&l, (const char *)in + 8 + 8 * k, 8);
        if (k == i) {
            if (p)
                *p = (const char *)in + off;
            if (len)
                *len = l;
            return (int)argc;
        }
        off += l;
    }
}
