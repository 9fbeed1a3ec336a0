/* Raw named shared memory: weft_shm_create / attach / detach. */
#include "shm/named.h"

int weft_shm_create(void **out, const char *name, size_t size) {
    if (!out)
        return -EINVAL;
    void *p;
    int r = weft__named_create(name, WEFT__NK_RAW, size, &p);
    if (r < 0)
        return r;
    weft__named_ready(p);
    *out = p;
    return 0;
}

int weft_shm_attach(void **out, const char *name, size_t *size) {
    return weft__named_attach(name, WEFT__NK_RAW, out, size);
}

int weft_shm_detach(void *p) {
    return weft__named_detach_as(p, WEFT__NK_RAW);
}
