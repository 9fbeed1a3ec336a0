/* The process pool on MPI ranks: the same program runs as `./mpi_pool` (a local pool of
 * forked workers) and as `mpirun -n 4 ./mpi_pool` (rank 0 runs main's work, ranks 1-3 run
 * the tasks), with the same output. */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <weft.h>
#include <weft_mpi.h>

/* Collatz steps of x: some CPU work per item. */
static int steps(const void *in, size_t len, weft_bytes *out) {
    uint64_t x;
    if (len != sizeof x)
        return -EINVAL;
    memcpy(&x, in, sizeof x);
    uint32_t n = 0;
    for (; x > 1; n++)
        x = x % 2 ? 3 * x + 1 : x / 2;
    return weft_bytes_set(out, &n, sizeof n);
}

/* "name" -> "hello, name": results of any size. */
static int greet(const void *in, size_t len, weft_bytes *out) {
    int r = weft_bytes_set(out, "hello, ", 7);
    return r < 0 ? r : weft_bytes_append(out, in, len);
}

enum { N = 200000 };
static uint64_t in[N];
static uint32_t out[N];

int main(void) {
    /* Every rank registers the same tasks in the same order (checked at start). */
    int t_steps = weft_ptask_register("steps", steps);
    int t_greet = weft_ptask_register("greet", greet);
    weft_ppool *pool;
    /* Under mpirun with more than one rank, only rank 0 returns from here. */
    int r = weft_mpi_pool_create(&pool, NULL);
    if (t_steps < 0 || t_greet < 0 || r < 0) {
        fprintf(stderr, "mpi_pool: %s %s\n", weft_strerror(r), weft_mpi_error());
        return 1;
    }
    fprintf(stderr, "(%d rank%s, %d workers)\n", weft_mpi_size(), weft_mpi_size() > 1 ? "s" : "",
            weft_ppool_size(pool));

    for (int i = 0; i < N; i++)
        in[i] = (uint64_t)i + 1;
    r = weft_ppool_map(pool, t_steps, in, N, sizeof in[0], out, sizeof out[0], 0, NULL);
    uint32_t best = 0;
    for (int i = 0; r == 0 && i < N; i++)
        if (out[i] > out[best])
            best = (uint32_t)i;
    printf("map: %d numbers, the longest chain starts at %u (%u steps)\n", N, best + 1, out[best]);

    weft_bytes b = WEFT_BYTES_INIT;
    if (weft_ppool_apply(pool, t_greet, "ranks", 5, &b) == 0)
        printf("apply: %.*s\n", (int)b.len, (const char *)b.data);
    weft_bytes_free(&b);

    const char names[3][8] = {"ada", "grace", "barbara"};
    weft_ppool_iter *it;
    if (weft_ppool_imap(pool, t_greet, names, 3, sizeof names[0], 1, 0, &it) == 0) {
        size_t i;
        int st;
        while (weft_ppool_iter_next(it, WEFT_FOREVER, &i, &st, &b) == 1)
            printf("imap %zu: %.*s\n", i, (int)strnlen(b.data, b.len), (const char *)b.data);
        weft_ppool_iter_destroy(it);
    }
    weft_bytes_free(&b);
    weft_ppool_destroy(pool); /* the other ranks exit now */
    return r < 0;
}
