/* README: a process pool squares numbers in worker processes. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <weft.h>

static int square(const void *in, size_t len, weft_bytes *out) {
    long x;
    if (len != sizeof x)
        return -EINVAL;
    memcpy(&x, in, sizeof x);
    x *= x;
    return weft_bytes_set(out, &x, sizeof x); /* results travel back as bytes */
}

int main(void) {
    long in[8] = {1, 2, 3, 4, 5, 6, 7, 8}, out[8];
    weft_ppool *pool;
    int sq = weft_ptask_register("square", square); /* before the workers fork */
    if (sq < 0 || weft_ppool_create(&pool, NULL) < 0) /* NULL: one worker per CPU */
        return 1;
    int rc = weft_ppool_map(pool, sq, in, 8, sizeof(long), out, sizeof(long), 0, NULL);
    for (int i = 0; rc == 0 && i < 8; i++)
        printf("%ld%c", out[i], i < 7 ? ' ' : '\n'); /* 1 4 9 16 25 36 49 64 */
    weft_ppool_destroy(pool);
    return rc < 0;
}
