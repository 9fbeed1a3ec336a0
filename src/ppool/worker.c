/* The worker process: runs the cells its parent fills, in order, and posts
 * each result into shared memory. Runs in a forked child; uses nothing of
 * the parent's schedulers, only raw futexes and its own mappings. */
#include "ppool/ppool.h"

#include <linux/futex.h>
#include <sched.h>
#include <signal.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <time.h>
#include <sys/syscall.h>
#include <unistd.h>

/* How long an idle worker keeps looking for work before it sleeps: a
 * cross-process futex wake-up costs 10-16 us here. */
#define IDLE_SPIN_NS (60 * WEFT_USEC)

int weft__pp_map(int fd, void **map, size_t *maplen, size_t need) {
    if (need <= *maplen)
        return 0;
    size_t len = *maplen * 2 > need ? *maplen * 2 : need;
    len = (len + 65535) & ~(size_t)65535;
    /* The file may be shorter than the mapping: only bytes below its size
     * are ever touched. */
    void *m = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, fd, 0);
    if (m == MAP_FAILED)
        return -ENOMEM;
    if (*map)
        munmap(*map, *maplen);
    *map = m;
    *maplen = len;
    return 0;
}

int weft__pp_grow(int fd, uint64_t *file, size_t need) {
    if (need <= *file)
        return 0;
    size_t sz = *file * 2 > need ? *file * 2 : need;
    sz = (sz + 65535) & ~(size_t)65535;
    if (ftruncate(fd, (off_t)sz) < 0)
        return errno == EFBIG || errno == EINVAL ? -ENOMEM : -errno;
    *file = sz;
    return 0;
}

typedef struct pp_wstate {
    void *in_map[PP_CELLS], *out_map[PP_CELLS];
    size_t in_len[PP_CELLS], out_len[PP_CELLS];
    weft_bytes scratch, item;
    /* Direct mode (weft__pp_wstate_direct): input and results in the caller's memory. */
    const unsigned char *in_direct;
    unsigned char *out_direct;
    size_t out_direct_cap;
    const unsigned char *result;
} wstate;

/* Writes the VAR results gathered in ws->scratch to the cell. */
static int post_var(const pp_wcfg *cfg, wstate *ws, pp_cell *cell, int c) {
    size_t len = ws->scratch.len;
    if (ws->in_direct && len > PP_INLINE) {
        ws->result = ws->scratch.data; /* the caller takes it from there */
        cell->out_buf = 1;
    } else if (len <= PP_INLINE) {
        if (len)
            memcpy(cell->out, ws->scratch.data, len);
        cell->out_buf = 0;
    } else {
        int r = weft__pp_grow(cfg->outfd[c], &cell->out_file, len);
        if (r == 0)
            r = weft__pp_map(cfg->outfd[c], &ws->out_map[c], &ws->out_len[c], len);
        if (r < 0)
            return r;
        memcpy(ws->out_map[c], ws->scratch.data, len);
        cell->out_buf = 1;
    }
    cell->out_len = len;
    return 0;
}

/* The starmap record at *off of in[0..len) (see pack_records in
 * dispatch.c), or -EPROTO if malformed. */
static int next_record(const unsigned char *in, size_t len, size_t *off, const unsigned char **item,
                       size_t *item_len) {
    uint64_t l;
    if (len - *off < 8)
        return -EPROTO;
    memcpy(&l, in + *off, 8);
    if (l > len - *off - 8)
        return -EPROTO;
    *item = in + *off + 8;
    *item_len = (size_t)l;
    *off += 8 + pp_pad8((size_t)l);
    if (*off > len)
        *off = len;
    return 0;
}

static void run_cell(const pp_wcfg *cfg, wstate *ws, pp_cell *cell, int c) {
    weft_ptask_fn fn = weft__ptask_get((int)cell->task);
    size_t n = cell->n, isz = cell->in_size;
    const unsigned char *in = cell->in;
    int fails = 0, r;
    bool var = cell->in_var;
    size_t in_len = var ? isz : n * isz;
    cell->out_len = 0;
    cell->out_buf = 0;
    ws->result = NULL;
    if (cell->in_buf && ws->in_direct) {
        in = ws->in_direct;
    } else if (cell->in_buf) {
        r = weft__pp_map(cfg->infd[c], &ws->in_map[c], &ws->in_len[c], in_len);
        if (r < 0) {
            cell->status = r;
            return;
        }
        in = ws->in_map[c];
    }
    if (cell->kind == K_FIXED) {
        size_t osz = cell->out_size, hdr = pp_pad8(4 * n), need = hdr + n * osz;
        unsigned char *o = cell->out;
        if (need > PP_INLINE && ws->in_direct && ws->out_direct_cap >= need) {
            o = ws->out_direct;
            ws->result = o;
            cell->out_buf = 1;
        } else if (need > PP_INLINE) {
            /* The parent sized the file before handing the cell over. */
            r = weft__pp_map(cfg->outfd[c], &ws->out_map[c], &ws->out_len[c], need);
            if (r < 0) {
                cell->status = r;
                return;
            }
            o = ws->out_map[c];
            cell->out_buf = 1;
        }
        int32_t *st = (int32_t *)(void *)o;
        unsigned char *res = o + hdr;
        size_t off = 0;
        for (size_t i = 0; i < n; i++) {
            weft_bytes b = {res + i * osz, 0, osz, PP_BYTES_FIXED};
            const unsigned char *item = in + i * isz;
            size_t item_len = isz;
            if (var && next_record(in, in_len, &off, &item, &item_len) < 0) {
                memset(res + i * osz, 0, osz);
                st[i] = -EPROTO;
                fails++;
                continue;
            }
            int s = fn ? fn(item, item_len, &b) : -ENOENT;
            if (s >= 0 && b.len != osz)
                s = -EMSGSIZE;
            if (s < 0) /* no bytes of an earlier chunk (or of the failed try) go out */
                memset(res + i * osz, 0, osz);
            st[i] = s;
            fails += s < 0;
        }
        cell->out_len = need;
        cell->status = fails;
        return;
    }
    ws->scratch.len = 0;
    for (size_t i = 0; i < n; i++) {
        ws->item.len = 0;
        int s = fn ? fn(in + i * isz, isz, &ws->item) : -ENOENT;
        if (ws->item.flags_ & PP_BYTES_FIXED) /* the task replaced its buffer */
            ws->item = (weft_bytes)WEFT_BYTES_INIT;
        size_t len = s >= 0 ? ws->item.len : 0;
        struct {
            int32_t status;
            uint32_t zero;
            uint64_t len;
        } hdr = {s, 0, len};
        static const char zero[8];
        r = weft_bytes_append(&ws->scratch, &hdr, sizeof hdr);
        if (r == 0 && len)
            r = weft_bytes_append(&ws->scratch, ws->item.data, len);
        if (r == 0)
            r = weft_bytes_append(&ws->scratch, zero, pp_pad8(len) - len);
        if (r < 0) {
            cell->status = r;
            return;
        }
        fails += s < 0;
    }
    r = post_var(cfg, ws, cell, c);
    cell->status = r < 0 ? r : fails;
}

pp_wstate *weft__pp_wstate_new(void) { return weft__calloc(1, sizeof(pp_wstate)); }

void weft__pp_wstate_free(pp_wstate *ws) {
    if (!ws)
        return;
    for (int c = 0; c < PP_CELLS; c++) {
        if (ws->in_map[c])
            munmap(ws->in_map[c], ws->in_len[c]);
        if (ws->out_map[c])
            munmap(ws->out_map[c], ws->out_len[c]);
    }
    weft_bytes_free(&ws->scratch);
    weft_bytes_free(&ws->item);
    weft__free(ws);
}

void weft__pp_wstate_direct(pp_wstate *ws, const void *in, void *out, size_t out_cap) {
    ws->in_direct = in;
    ws->out_direct = out;
    ws->out_direct_cap = out_cap;
}

const void *weft__pp_wstate_result(const pp_wstate *ws) { return ws->result; }

void weft__pp_run_cell(const pp_wcfg *cfg, pp_wstate *ws, pp_cell *cell, int c) {
    run_cell(cfg, ws, cell, c);
}

static int next_cell(pp_wshm *w) {
    int best = -1;
    for (int c = 0; c < PP_CELLS; c++) {
        if (atomic_load_explicit(&w->cell[c].state, memory_order_acquire) != CELL_READY)
            continue;
        if (best < 0 || w->cell[c].seq < w->cell[best].seq)
            best = c;
    }
    return best;
}

void weft__ppool_worker(const pp_wcfg *cfg) {
    pp_wshm *w = cfg->ws;
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    /* The parent-death signal fires when the forking thread exits: that is
     * the pool's watcher, which lives while the pool has workers, so only
     * the end of the pool's process (exit, death, exec) fires it. It is
     * armed only now: if the process ended since fork() we have a new
     * parent already. (getppid() is 0 when the parent is outside our pid
     * namespace; the signal alone covers that case.) */
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    pid_t parent = getppid();
    if (parent != cfg->owner && parent != 0)
        _exit(0);
    if (cfg->initializer >= 0) {
        weft_bytes junk = WEFT_BYTES_INIT;
        weft_ptask_fn fn = weft__ptask_get(cfg->initializer);
        int s = fn ? fn(cfg->initargs, cfg->initargs_len, &junk) : -ENOENT;
        weft_bytes_free(&junk);
        atomic_store(&w->init_status, s < 0 ? s : 0);
        if (s < 0)
            _exit(3);
    } else {
        atomic_store(&w->init_status, 0);
    }
    wstate ws;
    memset(&ws, 0, sizeof ws);
    uint32_t done = 0;
    int64_t idle_since = 0;
    for (;;) {
        int c = next_cell(w);
        if (c < 0) {
            if (atomic_load(&w->quit))
                _exit(0);
            int64_t now = weft_now();
            if (!idle_since)
                idle_since = now;
            if (now - idle_since < IDLE_SPIN_NS) {
                for (int i = 0; i < 64 && next_cell(w) < 0; i++)
                    weft__cpu_relax();
                sched_yield();
                continue;
            }
            uint32_t v = atomic_load(&w->wake);
            atomic_store(&w->sleeping, 1);
            if (next_cell(w) < 0 && !atomic_load(&w->quit)) {
                struct timespec ts = {0, 500 * 1000000L};
                long r = syscall(SYS_futex, &w->wake, FUTEX_WAIT, v, &ts, NULL, 0);
                if (r < 0 && errno == ETIMEDOUT && getppid() != parent)
                    _exit(0); /* the pool's process is gone */
            }
            atomic_store(&w->sleeping, 0);
            continue;
        }
        idle_since = 0;
        pp_cell *cell = &w->cell[c];
        atomic_store(&cell->state, CELL_RUN);
        atomic_store(&cell->started, weft_now());
        run_cell(cfg, &ws, cell, c);
        atomic_store(&cell->state, CELL_DONE);
        if (atomic_load(&cfg->shm->parent_sleeping)) {
            uint64_t one = 1;
            ssize_t wr = write(cfg->efd, &one, sizeof one);
            (void)wr;
        }
        if (cfg->maxtasks && ++done >= cfg->maxtasks)
            _exit(0);
    }
}
