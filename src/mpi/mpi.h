/* Internals of libweft-mpi. Private to src/mpi/.
 *
 * Files: pool.c (weft_mpi_pool_create: the MPI thread, the start-up checks, the local
 * fallback), bridge.c (rank 0: serving the pool's remote slots over MPI), serve.c (ranks
 * 1..N-1: running the cells they receive).
 *
 * One thread per process calls MPI (MPI_THREAD_FUNNELED). On rank 0 the pool is a remote
 * pool (src/ppool/, weft__ppool_create_remote): slot i stands for rank i+1. The bridge
 * reads each READY cell under the pool's mutex, sends it (T_TASK: a task header and the
 * cell's input bytes), marks it RUN; the rank fills a cell of its own with them, runs it
 * with the worker's code (weft__pp_run_cell) and sends back the cell's result bytes
 * (T_RESULT), which the bridge writes into the pool's cell before marking it DONE: the
 * pool then takes it exactly as a local worker's. At the end rank 0 sends T_STOP to each
 * rank, which answers T_BYE once every cell sent before is answered.
 */
#ifndef WEFT_MPI_INTERNAL_H
#define WEFT_MPI_INTERNAL_H

#include "ppool/ppool.h"
#include "weft_mpi.h"

#include <mpi.h>

enum { T_TASK = 1, T_RESULT = 2, T_STOP = 3, T_BYE = 4 };

typedef struct {
    uint32_t cell, kind, task, in_var;
    uint64_t seq, n, in_size, out_size;
} wm_task_hdr;

typedef struct {
    uint32_t cell;
    int32_t status;
    uint64_t seq, out_len;
} wm_result_hdr;

/* A growing sleep for a thread that polls: after activity it yields for spin_ns, then
 * sleeps 20 us, doubling up to cap_ns (long_cap_ns once idle for a second). */
typedef struct {
    int64_t last;
    int64_t sleep_ns;
} wm_backoff;
static inline void wm_backoff_reset(wm_backoff *b) {
    b->last = weft_now();
    b->sleep_ns = 20 * WEFT_USEC;
}
void weft__mpi_backoff(wm_backoff *b, int64_t spin_ns, int64_t cap_ns, int64_t long_cap_ns);

/* Growing byte buffer. */
int weft__mpi_reserve(unsigned char **buf, size_t *cap, size_t need);

/* bridge.c: serves p's slots until *stop is set, then stops the n-1 other ranks. */
void weft__mpi_bridge(weft_ppool *p, MPI_Comm comm, int size, _Atomic int *stop);
/* Ends the other ranks of a run whose pool was never made (rank 0). */
void weft__mpi_stop_ranks(MPI_Comm comm, int size);
/* serve.c: rank > 0: runs cells until T_STOP. */
void weft__mpi_serve(MPI_Comm comm);

#endif
