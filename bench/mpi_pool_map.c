/* mpi_pool_map: the process pool's map over 4 MPI ranks (rank 0 and 3 worker ranks,
 * libweft-mpi): N trivial tasks (x*x on 8-byte integers), default chunking; prints ns
 * per item. Notes (stderr): the local fork pool with as many workers (3), measured in the
 * same program before MPI starts. */
#include "mpi_bench.h"

#include <stdint.h>
#include <weft_mpi.h>

static int square(const void *in, size_t len, weft_bytes *out) {
    int64_t x;
    if (len != sizeof x)
        return -EINVAL;
    memcpy(&x, in, sizeof x);
    x *= x;
    return weft_bytes_set(out, &x, sizeof x);
}

static double run_map(weft_ppool *p, int t, const int64_t *in, int64_t *out, long n) {
    BENCH_CHECK(weft_ppool_map(p, t, in, 2000, 8, out, 8, 0, NULL)); /* warm up */
    int64_t t0 = weft_now();
    BENCH_CHECK(weft_ppool_map(p, t, in, (size_t)n, 8, out, 8, 0, NULL));
    double ns = (double)(weft_now() - t0) / (double)n;
    for (long i = 0; i < n; i++) {
        if (out[i] != in[i] * in[i]) {
            fprintf(stderr, "mpi_pool_map: wrong result at %ld\n", i);
            exit(1);
        }
    }
    return ns;
}

int main(int argc, char **argv) {
    long n = bench_size(argc, argv, 200000, 20000);
    mpi_bench_launch(n);
    int t = weft_ptask_register("square", square);
    BENCH_CHECK(t);
    int64_t *in = malloc((size_t)n * 8), *out = malloc((size_t)n * 8);
    if (!in || !out)
        return 1;
    for (long i = 0; i < n; i++)
        in[i] = i;
    double local = 0;
    if (weft_mpi_rank() == 0) {
        weft_ppool_opts o;
        weft_ppool_opts_init(&o);
        o.nworkers = weft_mpi_size() - 1;
        weft_ppool *lp;
        BENCH_CHECK(weft_ppool_create(&lp, &o));
        local = run_map(lp, t, in, out, n);
        BENCH_CHECK(weft_ppool_destroy(lp));
    }
    weft_ppool *p;
    int r = weft_mpi_pool_create(&p, NULL);
    if (r < 0) {
        fprintf(stderr, "mpi_pool_map: %s %s\n", weft_strerror(r), weft_mpi_error());
        return 1;
    }
    double ns = run_map(p, t, in, out, n);
    BENCH_CHECK(weft_ppool_destroy(p));
    fprintf(stderr,
            "note: weft mpi_pool_map: %ld items over %d ranks (%d workers, oversubscribed on "
            "%ld CPUs); the local fork pool with %d workers: %.1f ns/op\n",
            n, weft_mpi_size(), weft_mpi_size() - 1, sysconf(_SC_NPROCESSORS_ONLN),
            weft_mpi_size() - 1, local);
    bench_line("mpi_pool_map", "weft", ns, "ns/op");
    free(in);
    free(out);
    return 0;
}
