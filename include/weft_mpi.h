/* weft_mpi.h: libweft-mpi, the process pool of weft.h over MPI ranks.
 *
 * An optional library (built when CMake finds a C MPI; link -lweft-mpi, or
 * `pkg-config --cflags --libs weft-mpi`, or the CMake target weft::weft_mpi); libweft
 * never depends on it.
 *
 * Static launch, as mpi4py.futures' MPIPoolExecutor under `mpirun -n N python -m
 * mpi4py.futures`: `mpirun -n N ./prog` starts N copies of the program. Every copy
 * registers its tasks (weft_ptask_register, same names in the same order) and calls
 * weft_mpi_pool_create. On rank 0 it returns a weft_ppool whose N-1 workers are the other
 * ranks; every weft_ppool_* call works on it as on a local pool (apply, apply_async,
 * apply_argv, map, map_async, starmap, imap, imap_unordered, chunking, callbacks,
 * deadlines, close/join/terminate, per-task errors), with results and their order
 * identical byte for byte. On ranks 1..N-1 it does not return: the rank runs the tasks
 * rank 0 sends until rank 0 destroys the pool, then finalizes MPI and exits with status
 * 0 (exit(0): atexit handlers run). Without mpirun, or with one rank, it is
 * weft_ppool_create (a local fork pool): one program, one API.
 *
 * Tasks travel by registered name only (their ids, which the check below makes equal on
 * every rank), never as pointers; inputs and results travel as bytes. At start the ranks
 * compare a hash of their registered names (in order); if any differs, every rank's
 * weft_mpi_pool_create fails with -EPROTO and weft_mpi_error() names the first
 * difference (on rank 0: which rank, which task id, which names).
 *
 * Threads: one thread per process calls MPI (it calls MPI_Init_thread asking for
 * MPI_THREAD_FUNNELED and checks it is given; if the program initialized MPI itself,
 * MPI_THREAD_MULTIPLE is required, as the pool's thread is not the program's). On rank 0
 * that thread drives the transfers with non-blocking calls (MPI_Isend, MPI_Iprobe) and
 * sleeps when no task is out; worker ranks wait for work with MPI_Iprobe and a growing
 * sleep (up to 10 ms once idle for a second; rank 0's thread likewise up
 * to 20 ms), never a busy loop.
 *
 * Differences from the local pool under MPI (more than one rank):
 * - nworkers is ignored: the pool has one worker per other rank (weft_ppool_size: N-1);
 *   weft_ppool_pids lists none (the workers are not local processes);
 * - task_timeout and maxtasks are refused (-ENOTSUP): a rank cannot be killed or
 *   replaced without ending the job;
 * - weft_ppool_terminate fails every queued and running task with -ECANCELED at once
 *   as locally, but a task already sent to a rank (at most two per rank) runs to its end
 *   there (its result is dropped);
 * - a rank that dies ends the job (Debian's Open MPI has no fault-tolerant MPI): mpirun
 *   notices the death, kills every other rank (rank 0 included, whatever it is doing)
 *   and exits non-zero, printing which rank died and how ("mpirun noticed that process
 *   rank 2 ... exited on signal 9 (Killed)"). No task fails with -EOWNERDEAD, on_death
 *   has no effect. Likewise rank 0 must destroy the pool before it exits (the other
 *   ranks wait for that), or mpirun reports it and ends the job non-zero;
 * - one MPI pool per run: MPI cannot be started again once the pool finalized it, so a
 *   second weft_mpi_pool_create after the first was destroyed fails with -EALREADY.
 * ====================================================================== */
#ifndef WEFT_MPI_H
#define WEFT_MPI_H

#include <weft.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Creates the pool: on rank 0 (or without MPI) returns 0 with *out set; on other ranks
 * serves, then exits 0 (returns only on an error). opts as weft_ppool_create.
 * Errors: those of weft_ppool_create; -ENOTSUP (under MPI: task_timeout or maxtasks set,
 * or MPI's thread level too low), -EPROTO (the ranks registered different task names:
 * see weft_mpi_error), -EALREADY (a second MPI pool in this run), -EIO (MPI failed to
 * start). */
WEFT_API int weft_mpi_pool_create(weft_ppool **out, const weft_ppool_opts *opts);

/* This process's rank (0 without MPI); from the launcher's environment before the pool
 * is created. */
WEFT_API int weft_mpi_rank(void);

/* Number of ranks (1 without MPI); from the launcher's environment before the pool is
 * created. */
WEFT_API int weft_mpi_size(void);

/* Why the last weft_mpi_pool_create failed, as a sentence ("" if it did not). */
WEFT_API const char *weft_mpi_error(void);

#ifdef __cplusplus
}
#endif

#endif
