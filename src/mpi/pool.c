/* weft_mpi_pool_create: the MPI thread, the start-up checks (names, options, the
 * initializer on every rank) and the local fallback. */
#include "mpi/mpi.h"

#include <linux/futex.h>
#include <pthread.h>
#include <signal.h>
#include <sys/syscall.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static struct {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool used; /* an MPI pool was started in this run */
    int phase; /* 1: checks done (err, init) 2: the pool is made (or not) */
    int err;
    int rank, size;
    bool we_init; /* MPI_Init_thread was ours: so is MPI_Finalize */
    MPI_Comm comm;
    weft_ppool_opts opts;
    int *init; /* rank 0: the initializer's status on ranks 1..size-1 */
    weft_ppool *pool;
    _Atomic int stop;
    pthread_t th;
    char msg[512];
} g = {.mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER};

static int env_int(const char *a, const char *b, int dflt) {
    const char *v = getenv(a);
    if (!v)
        v = getenv(b);
    return v && *v ? atoi(v) : dflt;
}

WEFT_API int weft_mpi_rank(void) {
    return g.size ? g.rank : env_int("OMPI_COMM_WORLD_RANK", "PMI_RANK", 0);
}

WEFT_API int weft_mpi_size(void) {
    return g.size ? g.size : env_int("OMPI_COMM_WORLD_SIZE", "PMI_SIZE", 1);
}

WEFT_API const char *weft_mpi_error(void) {
    return g.msg;
}

/* FNV-1a over the registered names, in order, each with its NUL. */
static uint64_t names_hash(int *count) {
    uint64_t h = 1469598103934665603ull;
    int n = weft__ptask_count();
    for (int i = 0; i < n; i++) {
        const char *s = weft__ptask_name(i);
        do {
            h ^= (unsigned char)*s;
            h *= 1099511628211ull;
        } while (*s++);
    }
    *count = n;
    return h;
}

/* The names, each with its NUL, one after another (rank 0 compares them). */
static char *names_blob(int *len) {
    int n = weft__ptask_count();
    size_t total = 0;
    for (int i = 0; i < n; i++)
        total += strlen(weft__ptask_name(i)) + 1;
    char *b = malloc(total ? total : 1), *q = b;
    if (!b)
        return NULL;
    for (int i = 0; i < n; i++) {
        size_t l = strlen(weft__ptask_name(i)) + 1;
        memcpy(q, weft__ptask_name(i), l);
        q += l;
    }
    *len = (int)total;
    return b;
}

/* Rank 0: describes the first difference between its names and rank r's. */
static void describe(int r, const char *theirs, int tlen) {
    int n = weft__ptask_count(), k = 0, off = 0;
    for (; k < n && off < tlen; k++) {
        const char *mine = weft__ptask_name(k), *t = theirs + off;
        if (strcmp(mine, t) != 0) {
            snprintf(g.msg, sizeof g.msg,
                     "weft_mpi: task %d is \"%s\" on rank 0 but \"%s\" on rank %d: every rank "
                     "must register the same task names in the same order",
                     k, mine, t, r);
            return;
        }
        off += (int)strlen(t) + 1;
    }
    if (k < n)
        snprintf(g.msg, sizeof g.msg,
                 "weft_mpi: task %d \"%s\" is registered on rank 0 but not on rank %d (it has "
                 "%d tasks, rank 0 has %d)",
                 k, weft__ptask_name(k), r, k, n);
    else
        snprintf(g.msg, sizeof g.msg,
                 "weft_mpi: task %d \"%s\" is registered on rank %d but not on rank 0 (rank 0 "
                 "has %d tasks)",
                 k, theirs + off, r, n);
}

/* All ranks: the names' hashes are compared; on a difference rank 0 gathers the names
 * to name it. Returns 0 or -EPROTO. */
static int check_names(void) {
    int count;
    uint64_t h = names_hash(&count), *all = NULL;
    if (g.rank == 0 && !(all = malloc((size_t)g.size * sizeof *all)))
        MPI_Abort(g.comm, 12);
    MPI_Gather(&h, 1, MPI_UINT64_T, all, 1, MPI_UINT64_T, 0, g.comm);
    int bad = 0;
    if (g.rank == 0)
        for (int r = 1; r < g.size && !bad; r++)
            if (all[r] != h)
                bad = r;
    free(all);
    MPI_Bcast(&bad, 1, MPI_INT, 0, g.comm);
    if (!bad)
        return 0;
    /* Rank `bad` sends its names to rank 0. */
    if (g.rank == bad) {
        int len = 0;
        char *b = names_blob(&len);
        if (!b)
            MPI_Abort(g.comm, 12);
        MPI_Send(b, len, MPI_CHAR, 0, T_TASK, g.comm);
        free(b);
        snprintf(g.msg, sizeof g.msg,
                 "weft_mpi: this rank's task names differ from rank 0's (rank 0 names the "
                 "first difference)");
    } else if (g.rank == 0) {
        MPI_Status st;
        int len = 0;
        MPI_Probe(bad, T_TASK, g.comm, &st);
        MPI_Get_count(&st, MPI_CHAR, &len);
        char *b = malloc(len > 0 ? (size_t)len : 1);
        if (!b)
            MPI_Abort(g.comm, 12);
        MPI_Recv(b, len, MPI_CHAR, bad, T_TASK, g.comm, MPI_STATUS_IGNORE);
        describe(bad, b, len);
        free(b);
    } else {
        snprintf(g.msg, sizeof g.msg,
                 "weft_mpi: rank %d's task names differ from rank 0's (rank 0 names the "
                 "first difference)",
                 bad);
    }
    return -EPROTO;
}

/* Rank 0's options, checked there (as weft_ppool_create would) and sent to every rank
 * with the initializer's input; the ranks run the initializer and report. */
static int share_options(void) {
    struct {
        int32_t verdict, initializer;
        uint64_t initargs_len;
    } c = {0, -1, 0};
    const weft_ppool_opts *o = &g.opts;
    if (g.rank == 0) {
        int ntasks = weft__ptask_count();
        if (o->nworkers < 0 || o->nworkers > PP_MAX_WORKERS || o->initializer < -1 ||
            o->initializer >= ntasks ||
            (o->on_death != WEFT_PPOOL_FAIL && o->on_death != WEFT_PPOOL_RETRY) ||
            o->max_retries < 0 || o->task_timeout < 0 || (o->initargs_len && !o->initargs) ||
            o->reserved_[0] || o->reserved_[1] || o->reserved_[2] || o->reserved_[3]) {
            c.verdict = -EINVAL;
            snprintf(g.msg, sizeof g.msg, "weft_mpi: invalid pool options");
        } else if (o->task_timeout || o->maxtasks) {
            c.verdict = -ENOTSUP;
            snprintf(g.msg, sizeof g.msg,
                     "weft_mpi: task_timeout and maxtasks cannot be kept over MPI ranks");
        } else if (g.size - 1 > PP_MAX_WORKERS) {
            c.verdict = -EINVAL;
            snprintf(g.msg, sizeof g.msg, "weft_mpi: at most %d worker ranks", PP_MAX_WORKERS);
        } else if (o->initargs_len > (size_t)INT32_MAX) {
            c.verdict = -EINVAL;
            snprintf(g.msg, sizeof g.msg, "weft_mpi: initargs too large");
        }
        c.initializer = o->initializer;
        c.initargs_len = o->initargs_len;
    }
    MPI_Bcast(&c, (int)sizeof c, MPI_BYTE, 0, g.comm);
    if (c.verdict < 0) {
        if (g.rank)
            snprintf(g.msg, sizeof g.msg, "weft_mpi: rank 0 refused its pool options");
        return c.verdict;
    }
    unsigned char *args = g.rank == 0 ? (unsigned char *)o->initargs : NULL;
    if (g.rank && c.initargs_len && !(args = malloc((size_t)c.initargs_len)))
        MPI_Abort(g.comm, 12);
    if (c.initargs_len)
        MPI_Bcast(args, (int)c.initargs_len, MPI_BYTE, 0, g.comm);
    int status = 0;
    if (g.rank && c.initializer >= 0) {
        weft_bytes junk = WEFT_BYTES_INIT;
        weft_ptask_fn fn = weft__ptask_get(c.initializer);
        status = fn ? fn(args, (size_t)c.initargs_len, &junk) : -ENOENT;
        status = status < 0 ? status : 0;
        weft_bytes_free(&junk);
    }
    if (g.rank)
        free(args);
    int *all = NULL;
    if (g.rank == 0 && !(all = malloc((size_t)g.size * sizeof *all)))
        MPI_Abort(g.comm, 12);
    MPI_Gather(&status, 1, MPI_INT, all, 1, MPI_INT, 0, g.comm);
    if (g.rank == 0) {
        memmove(all, all + 1, (size_t)(g.size - 1) * sizeof *all);
        g.init = all;
    }
    return 0;
}

static void finish_mpi(void) {
    if (g.comm != MPI_COMM_NULL)
        MPI_Comm_free(&g.comm);
    if (g.we_init)
        MPI_Finalize();
}

static void publish(int phase) {
    pthread_mutex_lock(&g.mu);
    g.phase = phase;
    pthread_cond_broadcast(&g.cv);
    pthread_mutex_unlock(&g.mu);
}

static void *mpi_main(void *arg) {
    (void)arg;
    int flag = 0, level = 0, r = 0;
    g.comm = MPI_COMM_NULL;
    MPI_Initialized(&flag);
    if (!flag) {
        if (MPI_Init_thread(NULL, NULL, MPI_THREAD_FUNNELED, &level) != MPI_SUCCESS) {
            snprintf(g.msg, sizeof g.msg, "weft_mpi: MPI_Init_thread failed");
            g.err = -EIO;
            publish(1);
            return NULL;
        }
        g.we_init = true;
        if (level < MPI_THREAD_FUNNELED) {
            snprintf(g.msg, sizeof g.msg,
                     "weft_mpi: MPI gives thread level %d, the pool needs MPI_THREAD_FUNNELED",
                     level);
            r = -ENOTSUP;
        }
    } else {
        MPI_Query_thread(&level);
        if (level < MPI_THREAD_MULTIPLE) {
            snprintf(g.msg, sizeof g.msg,
                     "weft_mpi: MPI was started by the program at thread level %d; the "
                     "pool's thread needs MPI_THREAD_MULTIPLE then",
                     level);
            r = -ENOTSUP;
        }
    }
    if (r == 0) {
        MPI_Comm_dup(MPI_COMM_WORLD, &g.comm);
        MPI_Comm_rank(g.comm, &g.rank);
        MPI_Comm_size(g.comm, &g.size);
        r = check_names();
        if (r == 0)
            r = share_options();
    }
    g.err = r;
    publish(1);
    if (r < 0) {
        finish_mpi();
        return NULL;
    }
    if (g.rank == 0) {
        pthread_mutex_lock(&g.mu);
        while (g.phase < 2)
            pthread_cond_wait(&g.cv, &g.mu);
        pthread_mutex_unlock(&g.mu);
        if (g.pool)
            weft__mpi_bridge(g.pool, g.comm, g.size, &g.stop);
        else
            weft__mpi_stop_ranks(g.comm, g.size);
    } else {
        weft__mpi_serve(g.comm);
    }
    finish_mpi();
    return NULL;
}

/* The pool's destroy, after its watcher ended: stops the bridge and the ranks. */
static void stop_bridge(void *ctx) {
    (void)ctx;
    atomic_store(&g.stop, 1);
    atomic_fetch_add(&g.pool->shm->w[0].wake, 1);
    syscall(SYS_futex, &g.pool->shm->w[0].wake, FUTEX_WAKE, 1, NULL, NULL, 0);
    pthread_join(g.th, NULL);
}

WEFT_API int weft_mpi_pool_create(weft_ppool **out, const weft_ppool_opts *opts) {
    if (!out)
        return -EINVAL;
    *out = NULL;
    g.msg[0] = 0;
    if (!g.used && weft_mpi_size() <= 1)
        return weft_ppool_create(out, opts);
    if (g.used) {
        snprintf(g.msg, sizeof g.msg, "weft_mpi: one MPI pool per run");
        return -EALREADY;
    }
    g.used = true;
    if (opts)
        g.opts = *opts;
    else
        weft_ppool_opts_init(&g.opts);
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    int e = pthread_create(&g.th, NULL, mpi_main, NULL);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (e) {
        snprintf(g.msg, sizeof g.msg, "weft_mpi: cannot start the MPI thread");
        return -EAGAIN;
    }
    pthread_mutex_lock(&g.mu);
    while (g.phase < 1)
        pthread_cond_wait(&g.cv, &g.mu);
    pthread_mutex_unlock(&g.mu);
    if (g.err < 0) {
        pthread_join(g.th, NULL);
        return g.err;
    }
    if (g.rank != 0) {
        pthread_join(g.th, NULL); /* served until rank 0 destroyed the pool */
        exit(0);
    }
    int r =
        weft__ppool_create_remote(&g.pool, &g.opts, g.size - 1, g.init, stop_bridge, NULL, g.th);
    free(g.init);
    g.init = NULL;
    publish(2);
    if (r < 0) {
        snprintf(g.msg, sizeof g.msg, "weft_mpi: the pool could not be made on rank 0");
        pthread_join(g.th, NULL);
        return r;
    }
    *out = g.pool;
    return 0;
}
