/* The live dump (weft_dump, WEFT_DUMP_SIGNAL): every scheduler's thread,
 * every coroutine with its state, what it waits on and since when, and the
 * return addresses found on its stack; then every child process.
 *
 * Nothing is stopped: the schedulers' list lock keeps them alive, control
 * blocks are type-stable (a recycled one is still a control block), lists
 * are walked with a bound, and every read of a stack or of code goes
 * through process_vm_readv(2), which fails instead of faulting when the
 * memory is gone. The text is built in a buffer on the stack and written
 * with write(2): no malloc, no stdio, so the signal handler can use it
 * (it prints module+offset instead of asking dladdr for symbols). */

#include "coro/group.h"
#include "ppool/ppool.h"
#include "proc/proc.h"
#include "sync/lock_impl.h"

#include <dlfcn.h>
#include <fcntl.h>
#include <elf.h>
#include <link.h>
#include <pthread.h>
#include <signal.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

/* ---- output without stdio --------------------------------------------- */
typedef struct out {
    int fd, err;
    bool tw_held; /* the thread-record list is locked by this dump */
    size_t n;
    char b[1024];
} out;

static void out_flush(out *o) {
    size_t off = 0;
    while (off < o->n && !o->err) {
        ssize_t k = write(o->fd, o->b + off, o->n - off);
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0)
            o->err = k < 0 ? errno : EIO;
        else
            off += (size_t)k;
    }
    o->n = 0;
}
static void out_s(out *o, const char *s) {
    while (*s) {
        if (o->n == sizeof o->b)
            out_flush(o);
        o->b[o->n++] = *s++;
    }
}
static void out_u(out *o, uint64_t v) {
    char t[24];
    t[weft__fmt_u64(t, v)] = 0;
    out_s(o, t);
}
static void out_x(out *o, uint64_t v) {
    char t[20];
    int n = 0;
    do {
        t[n++] = "0123456789abcdef"[v & 15];
        v >>= 4;
    } while (v);
    char r[22] = "0x";
    for (int i = 0; i < n; i++)
        r[2 + i] = t[n - 1 - i];
    r[2 + n] = 0;
    out_s(o, r);
}

/* ---- memory reads that cannot fault ------------------------------------ */
static bool peek_vm(void *dst, const void *src, size_t n) {
    struct iovec l = {dst, n}, r = {(void *)src, n};
    return process_vm_readv(getpid(), &l, 1, &r, 1, 0) == (ssize_t)n;
}
/* Where process_vm_readv cannot read this process (refused by a seccomp
 * policy, or under an emulator that hands it guest addresses unchanged),
 * write(2) into a fresh pipe is the read: it too fails with EFAULT instead
 * of faulting. Chunks stay far below a pipe's capacity, so it never blocks. */
static bool peek_pipe(void *dst, const void *src, size_t n) {
    int p[2];
    if (pipe2(p, O_CLOEXEC | O_NONBLOCK) != 0)
        return false;
    bool ok = true;
    for (size_t off = 0; ok && off < n;) {
        size_t len = n - off < 4096 ? n - off : 4096;
        /* the raw call: a sanitizer's write() interceptor would check the
         * source, another stack it has poisoned */
        ok = syscall(SYS_write, p[1], (const char *)src + off, len) == (long)len &&
             read(p[0], (char *)dst + off, len) == (ssize_t)len;
        off += len;
    }
    close(p[0]);
    close(p[1]);
    return ok;
}
static bool peek(void *dst, const void *src, size_t n) {
    /* 0: not yet known, 1: process_vm_readv reads this process, 2: it does not */
    static int vm_mode;
    int m = __atomic_load_n(&vm_mode, __ATOMIC_RELAXED);
    if (m == 0) {
        uint64_t probe = 0x5745465444554d50ull, got = 0;
        m = peek_vm((void *)&got, (const void *)&probe, sizeof probe) && got == probe ? 1 : 2;
        __atomic_store_n(&vm_mode, m, __ATOMIC_RELAXED);
    }
    return m == 1 ? peek_vm(dst, src, n) : peek_pipe(dst, src, n);
}

/* ---- executable ranges (refreshed by weft_dump, read by the handler) --- */
#define XR_MAX 128
typedef struct xr {
    uintptr_t lo, hi, base;
    const char *name;
} xr;
static xr xr_buf[2][XR_MAX];
static atomic_int xr_len[2], xr_cur;
static pthread_mutex_t xr_mu = PTHREAD_MUTEX_INITIALIZER;

static int xr_add(struct dl_phdr_info *info, size_t size, void *data) {
    (void)size;
    int *k = data;
    xr *t = xr_buf[!atomic_load(&xr_cur)];
    for (int i = 0; i < info->dlpi_phnum && *k < XR_MAX; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        if (ph->p_type != PT_LOAD || !(ph->p_flags & PF_X))
            continue;
        uintptr_t lo = info->dlpi_addr + ph->p_vaddr;
        t[(*k)++] = (xr){lo, lo + ph->p_memsz, info->dlpi_addr, info->dlpi_name};
    }
    return 0;
}
static void xr_refresh(void) {
    pthread_mutex_lock(&xr_mu);
    int k = 0;
    dl_iterate_phdr(xr_add, &k);
    int next = !atomic_load(&xr_cur);
    atomic_store(&xr_len[next], k);
    atomic_store(&xr_cur, next);
    pthread_mutex_unlock(&xr_mu);
}
static const xr *xr_find(uintptr_t a) {
    int c = atomic_load(&xr_cur), n = atomic_load(&xr_len[c]);
    for (int i = 0; i < n; i++)
        if (a >= xr_buf[c][i].lo + 8 && a < xr_buf[c][i].hi)
            return &xr_buf[c][i];
    return NULL;
}

/* True if a is a return address: it points into code just after a call. */
static bool is_return(uintptr_t a) {
    if (!xr_find(a))
        return false;
#if defined(__x86_64__) || defined(__i386__)
    unsigned char c[8];
    if (!peek(c, (const void *)(a - 8), 8))
        return false;
    /* c[8 - k] is the byte k before a */
    if (c[3] == 0xE8) /* call rel32 */
        return true;
    for (int k = 2; k <= 7; k++) /* call through a register or memory: FF /2 */
        if (c[8 - k] == 0xFF && (c[8 - k + 1] & 0x38) == 0x10)
            return true;
    return false;
#elif defined(__aarch64__)
    uint32_t i;
    if (!peek(&i, (const void *)(a - 4), 4))
        return false;
    return (i & 0xFC000000u) == 0x94000000u || (i & 0xFFFFFC1Fu) == 0xD63F0000u;
#else
    return true;
#endif
}

/* A code address: hex, then function+offset and module where known. */
static void out_where(out *o, uintptr_t a, bool sym) {
    out_x(o, a);
    Dl_info di;
    if (sym && dladdr((void *)a, &di) && di.dli_fname) {
        const char *base = strrchr(di.dli_fname, '/');
        if (di.dli_sname) {
            out_s(o, " ");
            out_s(o, di.dli_sname);
            out_s(o, "+");
            out_x(o, a - (uintptr_t)di.dli_saddr);
        }
        out_s(o, " (");
        out_s(o, base ? base + 1 : di.dli_fname);
        if (!di.dli_sname && di.dli_fbase) { /* an offset for addr2line */
            out_s(o, "+");
            out_x(o, a - (uintptr_t)di.dli_fbase);
        }
        out_s(o, ")");
    } else {
        const xr *r = xr_find(a);
        if (r) {
            const char *base = r->name ? strrchr(r->name, '/') : NULL;
            out_s(o, " (");
            out_s(o, base ? base + 1 : r->name && *r->name ? r->name : "main program");
            out_s(o, "+");
            out_x(o, a - r->base);
            out_s(o, ")");
        }
    }
}

static void out_frame(out *o, unsigned k, uintptr_t a, bool sym) {
    out_s(o, "    #");
    out_u(o, k);
    out_s(o, " ");
    out_where(o, a, sym);
    out_s(o, "\n");
}

/* Return addresses among the words of [lo, hi), read at `at` (a copy of
 * a SHARED coroutine's stack, or lo itself), innermost first. */
static size_t scan(uintptr_t lo, uintptr_t hi, const char *at, uintptr_t *pcs, size_t max) {
    size_t n = 0;
    const size_t w = sizeof(uintptr_t);
    lo = (lo + w - 1) & ~(uintptr_t)(w - 1);
    uintptr_t buf[128];
    for (uintptr_t p = lo; p < hi && n < max;) {
        size_t len = hi - p < sizeof buf ? (size_t)(hi - p) & ~(w - 1) : sizeof buf;
        if (!len || !peek(buf, at + (p - lo), len))
            break;
        for (size_t i = 0; i < len / w && n < max; i++)
            if (is_return(buf[i]))
                pcs[n++] = buf[i];
        p += len;
    }
    return n;
}

#define FRAMES 24

/* Frames of a suspended coroutine (not running anywhere). */
WEFT_NO_ASAN WEFT_NO_TSAN static void stack_of(out *o, weft__sched *s, weft__coro *co, bool sym) {
    const void *lo;
    size_t size;
    weft__stack_bounds(s, co, &lo, &size);
    uintptr_t sp = (uintptr_t)weft__ctx_sp(&co->ctx), hi = (uintptr_t)lo + size;
    const char *at = (const char *)sp;
    if ((co->flags & WEFT__F_SHARED) && s->shared_owner != co) {
        if (!co->saved) {
            out_s(o, "    (no frames: never ran)\n");
            return;
        }
        out_s(o, "    (SHARED stack, copied aside: ");
        out_u(o, co->saved_len);
        out_s(o, " bytes)\n");
        at = co->saved;
        if (sp < (uintptr_t)lo)
            sp = (uintptr_t)lo;
        hi = sp + co->saved_len;
    }
    if (sp < (uintptr_t)lo || sp >= hi) {
        out_s(o, "    (stack pointer outside its stack)\n");
        return;
    }
    uintptr_t pcs[FRAMES];
    size_t n = scan(sp, hi, at, pcs, FRAMES);
    for (size_t i = 0; i < n; i++)
        out_frame(o, (unsigned)i, pcs[i], sym);
}

static const char *const why_name[WEFT__WHY_COUNT] = {
    [WEFT__WHY_NONE] = "unknown",
    [WEFT__WHY_LOCK] = "lock",
    [WEFT__WHY_RLOCK] = "rlock",
    [WEFT__WHY_COND] = "cond",
    [WEFT__WHY_SEM] = "sem",
    [WEFT__WHY_EVENT] = "event",
    [WEFT__WHY_BARRIER] = "barrier",
    [WEFT__WHY_SEND] = "chan-send",
    [WEFT__WHY_RECV] = "chan-recv",
    [WEFT__WHY_SELECT] = "chan-select",
    [WEFT__WHY_QGET] = "queue-get",
    [WEFT__WHY_QPUT] = "queue-put",
    [WEFT__WHY_FD] = "fd",
    [WEFT__WHY_SLEEP] = "sleep",
    [WEFT__WHY_JOIN] = "join",
    [WEFT__WHY_FUTURE] = "future",
    [WEFT__WHY_PROC] = "process",
    [WEFT__WHY_POOL] = "pool-join",
    [WEFT__WHY_PFUTEX] = "pfutex",
    [WEFT__WHY_SWITCH] = "switch",
    [WEFT__WHY_WAITGROUP] = "waitgroup",
    [WEFT__WHY_ONCE] = "once",
    [WEFT__WHY_QJOIN] = "queue-join",
    [WEFT__WHY_KILLALL] = "killall",
    [WEFT__WHY_PLOCK] = "plock",
    [WEFT__WHY_PSEM] = "psem",
    [WEFT__WHY_PEVENT] = "pevent",
    [WEFT__WHY_PCOND] = "pcond",
    [WEFT__WHY_PBARRIER] = "pbarrier",
    [WEFT__WHY_PQUEUE] = "pqueue",
    [WEFT__WHY_SHM_READY] = "shm-ready",
    [WEFT__WHY_OTHER] = "other",
};

static int64_t coarse_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
    return (int64_t)ts.tv_sec * WEFT_SEC + ts.tv_nsec;
}

WEFT_NO_ASAN WEFT_NO_TSAN static void reason(out *o, unsigned why, const void *why_obj,
                                             int64_t arg) {
    why = why < WEFT__WHY_COUNT ? why : WEFT__WHY_OTHER;
    out_s(o, why_name[why]);
    switch (why) {
    case WEFT__WHY_FD:
        if (why_obj) { /* several descriptors: n, then the first */
            out_s(o, " (");
            out_u(o, (uintptr_t)why_obj);
            out_s(o, " fds)");
        }
        if (arg >= 0) {
            out_s(o, " ");
            out_u(o, (uint64_t)(arg >> 16));
            out_s(o, (arg & WEFT_READABLE) && (arg & WEFT_WRITABLE) ? " rw"
                     : (arg & WEFT_WRITABLE)                        ? " w"
                                                                    : " r");
        }
        break;
    case WEFT__WHY_SLEEP:
        if (arg > 0) {
            int64_t left = (int64_t)arg - weft_now();
            out_s(o, " until ");
            if (left < 0) {
                out_s(o, "-");
                left = -left;
            } else {
                out_s(o, "+");
            }
            out_u(o, (uint64_t)left / WEFT_MSEC);
            out_s(o, "ms");
        }
        break;
    case WEFT__WHY_JOIN: {
        const weft__coro *t = why_obj;
        out_s(o, " coroutine ");
        out_u(o, t ? t->id : 0);
        break;
    }
    case WEFT__WHY_SWITCH: {
        const weft__coro *t = why_obj;
        out_s(o, " to coroutine ");
        out_u(o, t ? t->id : 0);
        break;
    }
    case WEFT__WHY_PROC: {
        const weft_proc *p = why_obj;
        out_s(o, " pid ");
        out_u(o, p ? (uint64_t)p->pid : 0);
        break;
    }
    case WEFT__WHY_PFUTEX:
    case WEFT__WHY_PLOCK:
    case WEFT__WHY_PSEM:
    case WEFT__WHY_PEVENT:
    case WEFT__WHY_PCOND:
    case WEFT__WHY_PBARRIER:
    case WEFT__WHY_PQUEUE:
    case WEFT__WHY_SHM_READY:
        out_s(o, " ");
        out_x(o, (uintptr_t)why_obj);
        out_s(o, " (process-shared word, waits while it is ");
        out_u(o, (uint32_t)arg);
        out_s(o, ", now ");
        uint32_t v;
        if (peek(&v, why_obj, 4))
            out_u(o, v);
        else
            out_s(o, "unreadable");
        out_s(o, ")");
        break;
    case WEFT__WHY_NONE:
    case WEFT__WHY_OTHER:
        break;
    default:
        out_s(o, " ");
        out_x(o, (uintptr_t)why_obj);
        if (why == WEFT__WHY_SELECT) {
            out_s(o, " (");
            out_u(o, (uint64_t)arg);
            out_s(o, " ops)");
        }
    }
}

/* Whose thread is `anchor` (weft__thread_anchor of some thread): with the
 * scheduler list held, and the thread-record list when o->tw_held. */
WEFT_NO_ASAN WEFT_NO_TSAN static void out_thread_of(out *o, uintptr_t anchor) {
    for (weft__sched *s = weft__sched_list_head(); s; s = s->wd_next)
        if (s->wd_anchor == anchor) {
            out_s(o, "thread ");
            out_u(o, (uint64_t)s->wd_tid);
            out_s(o, " (its main coroutine)");
            return;
        }
    if (o->tw_held)
        for (weft__tw *t = weft__tw_list_head(); t; t = t->next)
            if (t->anchor == anchor) {
                out_s(o, "thread ");
                out_u(o, (uint64_t)t->tid);
                return;
            }
    out_s(o, "a thread that runs no coroutines");
}

/* ", held by ..." for a lock or rlock: its owner token is a coroutine's
 * control block (type-stable: read through peek) or a thread's anchor | 1. */
WEFT_NO_ASAN WEFT_NO_TSAN static void owner_of(out *o, unsigned why, const void *obj) {
    if ((why != WEFT__WHY_LOCK && why != WEFT__WHY_RLOCK) || !obj)
        return;
    uintptr_t tok;
    if (!peek(&tok, (const char *)obj + offsetof(struct weft__lock, owner), sizeof tok))
        return;
    out_s(o, ", held by ");
    if (!tok) {
        out_s(o, "no one now");
    } else if (tok & 1) {
        out_thread_of(o, tok & ~(uintptr_t)1);
    } else {
        uint64_t id = 0;
        weft__sched *s = NULL;
        const weft__coro *co = (const weft__coro *)tok;
        out_s(o, "coroutine ");
        if (peek(&id, &co->id, sizeof id))
            out_u(o, id);
        else
            out_s(o, "?");
        if (peek(&s, &co->sched, sizeof s) && s) {
            int tid = 0;
            if (peek(&tid, &s->wd_tid, sizeof tid)) {
                out_s(o, " on thread ");
                out_u(o, (uint64_t)tid);
            }
        }
    }
}

/* "    spawned at <where>": the caller of weft_spawn, where known. */
static void spawn_site(out *o, const weft__coro *co, bool sym) {
    if (!co->spawn_pc)
        return;
    out_s(o, "    spawned at ");
    out_where(o, (uintptr_t)co->spawn_pc - 1, sym);
    out_s(o, "\n");
}

WEFT_NO_ASAN WEFT_NO_TSAN static void coro_line(out *o, weft__sched *s, weft__coro *co, bool mine,
                                                bool sym, int64_t now) {
    out_s(o, "  coroutine ");
    out_u(o, co->id);
    if (co->flags & WEFT__F_MAIN)
        out_s(o, " main");
    char name[48];
    if (co->name && peek(name, co->name, 1)) {
        size_t k = 0;
        while (k < sizeof name - 1 && peek(name + k, co->name + k, 1) && name[k] >= ' ')
            k++;
        name[k] = 0;
        out_s(o, " \"");
        out_s(o, name);
        out_s(o, "\"");
    }
    out_s(o, co->flags & WEFT__F_SHARED ? " shared: " : ": ");
    int st = co->state;
    /* while its thread waits in the poller, `current` is whoever ran last */
    bool polling = atomic_load_explicit(&s->polling, memory_order_relaxed);
    bool running = co == s->current && !polling;
    bool parked = false;
    if (running && mine)
        out_s(o, "running (the caller)\n");
    else if (running)
        out_s(o, "running\n");
    else if (st == WEFT__C_PARKED) {
        unsigned why = co->why;
        const void *obj = co->why_obj;
        out_s(o, "parked on ");
        reason(o, why, obj, co->why_arg);
        int64_t since = co->why_since;
        out_s(o, " for ");
        out_u(o, since && now > since ? (uint64_t)(now - since) / WEFT_MSEC : 0);
        out_s(o, " ms");
        owner_of(o, why, obj);
        out_s(o, "\n");
        parked = true;
    } else if (st == WEFT__C_READY)
        out_s(o, polling && co == s->current ? "idle (its thread waits for events)\n" : "ready\n");
    else if (st == WEFT__C_SUSPENDED)
        out_s(o, "suspended\n");
    else if (st == WEFT__C_DONE)
        out_s(o, "done (not joined)\n");
    else
        out_s(o, "changing\n");
    spawn_site(o, co, sym);
    if (parked)
        stack_of(o, s, co, sym);
}

/* A thread without a scheduler: waiting in a weft primitive, or not. */
WEFT_NO_ASAN WEFT_NO_TSAN static void tw_line(out *o, const weft__tw *t, int64_t now) {
    out_s(o, "  thread ");
    out_u(o, (uint64_t)t->tid);
    if (t->name[0]) {
        char name[sizeof t->name];
        memcpy(name, t->name, sizeof name);
        name[sizeof name - 1] = 0;
        out_s(o, " \"");
        out_s(o, name);
        out_s(o, "\"");
    }
    int64_t since = t->since;
    unsigned why = t->why;
    const void *obj = t->why_obj;
    if (!since) {
        out_s(o, ": not in a weft wait\n");
        return;
    }
    out_s(o, ": parked on ");
    reason(o, why, obj, t->why_arg);
    out_s(o, " for ");
    out_u(o, now > since ? (uint64_t)(now - since) / WEFT_MSEC : 0);
    out_s(o, " ms");
    owner_of(o, why, obj);
    out_s(o, "\n");
}

static void proc_line(void *ud, const weft_proc *p) {
    out *o = ud;
    if (p->owner != getpid())
        return;
    out_s(o, "  process ");
    out_u(o, (uint64_t)p->pid);
    if (p->name[0]) {
        out_s(o, " \"");
        out_s(o, p->name);
        out_s(o, "\"");
    }
    out_s(o, p->exec ? " exec" : " fork");
    if (p->daemon)
        out_s(o, " daemon");
    int st = atomic_load(&p->state);
    if (st == WEFT__P_RUNNING)
        out_s(o, ": running");
    else if (st == WEFT__P_EXITED) {
        out_s(o, ": exited ");
        if (p->code < 0) {
            out_s(o, "-");
            out_u(o, (uint64_t) - (int64_t)p->code);
        } else
            out_u(o, (uint64_t)p->code);
    } else
        out_s(o, ": reaped elsewhere");
    if (p->released)
        out_s(o, " (released)");
    out_s(o, "\n");
}

/* A process pool and its workers, read without its lock (the list's lock
 * keeps the pool alive; its watcher may hold the pool's lock across a fork,
 * whose atfork handler waits for the list's lock). */
WEFT_NO_ASAN WEFT_NO_TSAN static void ppool_lines(void *ud, weft_ppool *p) {
    out *o = ud;
    out_s(o, "  process pool ");
    out_x(o, (uintptr_t)p);
    out_s(o, ": ");
    int st = p->state;
    out_s(o, st == P_RUNNING ? "running" : st == P_CLOSED ? "closed" : "terminated");
    out_s(o, ", ");
    out_u(o, (uint64_t)p->n);
    out_s(o, p->remote_init ? " remote slots\n" : " workers\n");
    for (int i = 0; i < p->n && i < PP_MAX_WORKERS; i++) {
        const pp_worker *w = &p->w[i];
        pid_t pid = w->pid;
        out_s(o, "    worker ");
        out_u(o, (uint64_t)i);
        if (p->remote_init) {
            out_s(o, " (remote rank ");
            out_u(o, (uint64_t)i + 1);
            out_s(o, ")");
        } else if (pid > 0) {
            out_s(o, " pid ");
            out_u(o, (uint64_t)pid);
        } else {
            out_s(o, ": no process now (being replaced)\n");
            continue;
        }
        int busy = w->busy;
        out_s(o, busy > 0 ? ": busy (" : ": idle\n");
        if (busy > 0) {
            out_u(o, (uint64_t)busy);
            out_s(o, busy == 1 ? " task)\n" : " tasks)\n");
        }
    }
}

/* A worker group and its coroutines (each shown as its worker, the one it runs on
 * or last ran on, sees it). */
typedef struct {
    out *o;
    weft__sched *me;
    bool in_signal;
    int64_t now;
} group_ctx;

WEFT_NO_ASAN WEFT_NO_TSAN static void group_lines(weft_group *g, void *arg) {
    group_ctx *c = arg;
    out *o = c->o;
    out_s(o, "group of ");
    out_u(o, g->n);
    out_s(o, " workers (threads");
    for (unsigned i = 0; i < g->n; i++) {
        out_s(o, " ");
        out_u(o, g->w[i].s ? (uint64_t)g->w[i].s->wd_tid : 0);
    }
    out_s(o, "), ");
    out_u(o, weft__group_live(g));
    out_s(o, " live coroutines\n");
    for (unsigned i = 0; i <= g->n; i++) {
        weft__glist *l = &g->lists[i];
        /* Its holders never wait inside it: try, and say so from a signal handler. */
        bool held = false;
        for (int k = 0; k < (c->in_signal ? 1000 : 1000000) && !held; k++)
            held = !atomic_exchange_explicit(&l->lock.v, 1, memory_order_acquire);
        if (!held) {
            out_s(o, "  (a list of its coroutines is busy)\n");
            continue;
        }
        size_t k = 0;
        for (weft__coro *co = l->head; co && k < ((size_t)1 << 24); co = co->all_next, k++) {
            weft__sched *s = atomic_load_explicit(&co->sched, memory_order_relaxed);
            if (s && s->group == g)
                coro_line(o, s, co, s == c->me, !c->in_signal, c->now);
            else
                out_s(o, "  coroutine (not started yet)\n");
        }
        weft__spin_unlock(&l->lock);
    }
}

WEFT_NO_ASAN WEFT_NO_TSAN static int dump(int fd, bool in_signal) {
    out o = {.fd = fd};
    int64_t now = coarse_now();
    weft__sched *me = weft__tls_sched;
    out_s(&o, "weft dump: pid ");
    out_u(&o, (uint64_t)getpid());
    out_s(&o, "\n");
    if (!weft__sched_list_lock(in_signal)) {
        out_s(&o, "(the scheduler list is locked: threads not shown)\n");
    } else {
        o.tw_held = weft__tw_list_lock(in_signal);
        for (weft__sched *s = weft__sched_list_head(); s; s = s->wd_next) {
            weft__coro *cur = s->current;
            out_s(&o, "thread ");
            out_u(&o, (uint64_t)s->wd_tid);
            if (s == me)
                out_s(&o, " (the caller)");
            out_s(&o, ": ");
            if (atomic_load_explicit(&s->polling, memory_order_relaxed))
                out_s(&o, "waiting for events");
            else {
                out_s(&o, "running coroutine ");
                out_u(&o, cur ? cur->id : 0);
            }
            out_s(&o, ", ");
            out_u(&o, s->live);
            out_s(&o, " live coroutines\n");
            coro_line(&o, s, s->main, s == me, !in_signal, now);
            size_t k = 0;
            for (weft__coro *co = s->all; co && k < ((size_t)1 << 24); co = co->all_next, k++)
                if (co != s->main)
                    coro_line(&o, s, co, s == me, !in_signal, now);
        }
        out_s(&o, "threads without coroutines:\n");
        if (!o.tw_held)
            out_s(&o, "  (their list is locked)\n");
        else
            for (weft__tw *t = weft__tw_list_head(); t; t = t->next)
                tw_line(&o, t, now);
        if (o.tw_held)
            weft__tw_list_unlock();
        out_s(&o, "worker groups:\n");
        group_ctx gc = {&o, me, in_signal, now};
        if (!weft__group_each(in_signal, group_lines, &gc))
            out_s(&o, "  (their list is locked)\n");
        weft__sched_list_unlock();
    }
    out_s(&o, "processes:\n");
    if (weft__proc_each(in_signal, proc_line, &o) < 0)
        out_s(&o, "  (the process registry is locked)\n");
    out_s(&o, "process pools:\n");
    if (weft__ppool_each(in_signal, ppool_lines, &o) < 0)
        out_s(&o, "  (their list is locked)\n");
    out_s(&o, "end of weft dump\n");
    out_flush(&o);
    return -o.err;
}

/* The dump reads other threads' coroutine records while they run, on
 * purpose (a snapshot that may be stale, never followed unchecked: stacks
 * and code go through process_vm_readv). ThreadSanitizer is told to ignore
 * this thread's accesses meanwhile, as those reads are the design. */
#if defined(__SANITIZE_THREAD__)
void __tsan_ignore_thread_begin(void);
void __tsan_ignore_thread_end(void);
#define RACY_READS_BEGIN() __tsan_ignore_thread_begin()
#define RACY_READS_END() __tsan_ignore_thread_end()
#else
#define RACY_READS_BEGIN() ((void)0)
#define RACY_READS_END() ((void)0)
#endif

WEFT_API int weft_dump(int fd) {
    if (fd < 0)
        return -EBADF;
    xr_refresh();
    RACY_READS_BEGIN();
    int r = dump(fd, false);
    RACY_READS_END();
    return r;
}

/* ---- the opt-in signal -------------------------------------------------- */
static void on_dump_signal(int sig) {
    (void)sig;
    int saved = errno;
    RACY_READS_BEGIN();
    (void)dump(2, true);
    RACY_READS_END();
    errno = saved;
}

static int parse_signal(const char *e) {
    static const struct {
        const char *name;
        int sig;
    } names[] = {{"QUIT", SIGQUIT}, {"USR1", SIGUSR1},   {"USR2", SIGUSR2},
                 {"PWR", SIGPWR},   {"WINCH", SIGWINCH}, {"INFO", SIGPWR}};
    if (!strncmp(e, "SIG", 3))
        e += 3;
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (!strcmp(e, names[i].name))
            return names[i].sig;
    char *end;
    long v = strtol(e, &end, 10);
    if (*e && !*end && v > 0 && v < NSIG && v != SIGKILL && v != SIGSTOP)
        return (int)v;
    return 0;
}

static void setup_once(void) {
    const char *e = getenv("WEFT_DUMP_SIGNAL");
    int sig = e ? parse_signal(e) : 0;
    if (!sig)
        return;
    xr_refresh();
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_dump_signal;
    sa.sa_flags = SA_RESTART | SA_ONSTACK;
    sigemptyset(&sa.sa_mask);
    sigaction(sig, &sa, NULL);
}

void weft__dump_setup(void) {
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, setup_once);
}

/* ---- the watchdog's backtrace (libweft-hook's SIGURG handler) ----------- */
WEFT_API size_t weft__sched_backtrace(const void *sp, int fd) {
    weft__sched *s = weft__tls_sched;
    if (!s || fd < 0)
        return 0;
    weft__coro *co = s->current;
    const void *lo;
    size_t size;
    weft__stack_bounds(s, co, &lo, &size);
    uintptr_t hi = (uintptr_t)lo + size;
    if ((uintptr_t)sp < (uintptr_t)lo || (uintptr_t)sp >= hi)
        return 0;
    if (!atomic_load(&xr_len[atomic_load(&xr_cur)]))
        return 0;
    uintptr_t pcs[FRAMES];
    size_t n = scan((uintptr_t)sp, hi, sp, pcs, FRAMES);
    out o = {.fd = fd};
    for (size_t i = 0; i < n; i++)
        out_frame(&o, (unsigned)i, pcs[i], false);
    out_flush(&o);
    return n;
}

/* Loads the executable ranges for weft__sched_backtrace (the watchdog). */
WEFT_API void weft__dump_prepare(void) {
    xr_refresh();
}
