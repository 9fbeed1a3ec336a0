/* The floor of mpi_pool_apply (run by it, under mpirun -n 2): rank 0 sends 8 bytes to
 * rank 1 (MPI_Send), which sends them back; rank 0 waits (MPI_Recv). N round trips after
 * a warm-up; prints us per round trip as mpi_pool_apply's floor line. */
#include "bench.h"

#include <mpi.h>
#include <stdint.h>

int main(int argc, char **argv) {
    long n = bench_size(argc, argv, 100000, 10000);
    MPI_Init(&argc, &argv);
    int rank, size;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    if (size < 2) {
        fprintf(stderr, "mpi_pingpong: needs 2 ranks\n");
        MPI_Abort(MPI_COMM_WORLD, 1);
    }
    int64_t v = 0;
    double t0 = 0;
    for (long i = -1000; i < n; i++) {
        if (i == 0)
            t0 = MPI_Wtime();
        if (rank == 0) {
            v = i;
            MPI_Send(&v, 8, MPI_BYTE, 1, 0, MPI_COMM_WORLD);
            MPI_Recv(&v, 8, MPI_BYTE, 1, 0, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
            if (v != i) {
                fprintf(stderr, "mpi_pingpong: wrong value\n");
                MPI_Abort(MPI_COMM_WORLD, 1);
            }
        } else if (rank == 1) {
            MPI_Recv(&v, 8, MPI_BYTE, 0, 0, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
            MPI_Send(&v, 8, MPI_BYTE, 0, 0, MPI_COMM_WORLD);
        }
    }
    double us = (MPI_Wtime() - t0) * 1e6 / (double)n;
    if (rank == 0) {
        fprintf(stderr,
                "note: floor mpi_pool_apply: MPI_Send + MPI_Recv of 8 bytes between 2 "
                "ranks, %ld round trips\n",
                n);
        bench_line("mpi_pool_apply", "floor", us, "us/op");
    }
    MPI_Finalize();
    return 0;
}
