/* mpi_pool_apply: the process pool's round trip over 4 MPI ranks (libweft-mpi): one
 * weft_ppool_apply_async (a task returning its 8-byte input) then weft_future_result, N
 * times one after another; prints us per round trip. Also prints the floor: the MPI
 * ping-pong (bench_mpi_pingpong: MPI_Send then MPI_Recv of 8 bytes between 2 ranks), run
 * first. Notes (stderr): the synchronous weft_ppool_apply, and the local fork pool. */
#include "mpi_bench.h"

#include <stdint.h>
#include <weft_mpi.h>

static int ident(const void *in, size_t len, weft_bytes *out) {
    return weft_bytes_set(out, in, len);
}

static double run_apply(weft_ppool *p, int t, long n, double *sync_us) {
    for (long i = 0; i < 200; i++) /* warm up */
        BENCH_CHECK(weft_ppool_apply(p, t, &i, sizeof i, NULL));
    int64_t t0 = weft_now();
    for (long i = 0; i < n; i++) {
        weft_future *f;
        void *res;
        BENCH_CHECK(weft_ppool_apply_async(p, t, &i, sizeof i, NULL, NULL, NULL, &f));
        BENCH_CHECK(weft_future_result(f, WEFT_FOREVER, &res));
        const weft_bytes *b = res;
        if (b->len != sizeof i || memcmp(b->data, &i, sizeof i) != 0) {
            fprintf(stderr, "mpi_pool_apply: wrong result\n");
            exit(1);
        }
        weft_future_release(f);
    }
    double us = (double)(weft_now() - t0) / 1e3 / (double)n;
    weft_bytes b = WEFT_BYTES_INIT;
    t0 = weft_now();
    for (long i = 0; i < n; i++)
        BENCH_CHECK(weft_ppool_apply(p, t, &i, sizeof i, &b));
    *sync_us = (double)(weft_now() - t0) / 1e3 / (double)n;
    weft_bytes_free(&b);
    return us;
}

int main(int argc, char **argv) {
    long n = bench_size(argc, argv, 10000, 2000);
    if (!getenv("OMPI_COMM_WORLD_SIZE") && !getenv("PMI_SIZE")) {
        /* The floor first, in the same run. */
        char self[4096], pp[4200], size[32];
        mpi_bench_self(self, sizeof self);
        char *slash = strrchr(self, '/');
        *slash = 0;
        snprintf(pp, sizeof pp, "%s/bench_mpi_pingpong", self);
        snprintf(size, sizeof size, "%ld", n * 5);
        if (mpi_bench_mpirun(2, pp, size) != 0)
            exit(1);
    }
    mpi_bench_launch(n);
    int t = weft_ptask_register("ident", ident);
    BENCH_CHECK(t);
    double local = 0, local_sync = 0, sync_us;
    if (weft_mpi_rank() == 0) {
        weft_ppool_opts o;
        weft_ppool_opts_init(&o);
        o.nworkers = weft_mpi_size() - 1;
        weft_ppool *lp;
        BENCH_CHECK(weft_ppool_create(&lp, &o));
        local = run_apply(lp, t, n, &local_sync);
        BENCH_CHECK(weft_ppool_destroy(lp));
    }
    weft_ppool *p;
    int r = weft_mpi_pool_create(&p, NULL);
    if (r < 0) {
        fprintf(stderr, "mpi_pool_apply: %s %s\n", weft_strerror(r), weft_mpi_error());
        return 1;
    }
    double us = run_apply(p, t, n, &sync_us);
    BENCH_CHECK(weft_ppool_destroy(p));
    fprintf(stderr,
            "note: weft mpi_pool_apply: %ld round trips over %d ranks (oversubscribed on %ld "
            "CPUs); weft_ppool_apply (synchronous) %.1f us/op; the local fork pool (%d "
            "workers) %.1f us/op, synchronous %.1f us/op\n",
            n, weft_mpi_size(), sysconf(_SC_NPROCESSORS_ONLN), sync_us, weft_mpi_size() - 1, local,
            local_sync);
    bench_line("mpi_pool_apply", "weft", us, "us/op");
    return 0;
}
