/* Coroutine stacks: guarded mmap stacks (lazily committed, pooled), the
 * per-thread shared stack with its copy-aside, and the overflow reporter. */
#include "coro/sched.h"
#include "coro/maplimit.h"

#include <pthread.h>
#include <signal.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#if defined(WEFT_VALGRIND)
atomic_int weft__vg_running = -1;
int weft__vg_running_slow(void) {
    int r = RUNNING_ON_VALGRIND ? 1 : 0; /* the same answer for every thread */
    atomic_store_explicit(&weft__vg_running, r, memory_order_relaxed);
    return r;
}
#endif

size_t weft__page_size(void) {
    static atomic_size_t ps;
    size_t p = atomic_load_explicit(&ps, memory_order_relaxed);
    if (!p) {
        p = (size_t)sysconf(_SC_PAGESIZE);
        atomic_store_explicit(&ps, p, memory_order_relaxed);
    }
    return p;
}

static int map_guarded(size_t size, void **map) {
    size_t pg = weft__page_size();
    void *m = mmap(NULL, size, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_STACK, -1, 0);
    if (m == MAP_FAILED) {
        weft__map_limit_note(errno);
        return -ENOMEM;
    }
    if (mprotect(m, pg, PROT_NONE) != 0) {
        int e = errno; /* ENOMEM: vm.max_map_count reached (the split needs one more) */
        munmap(m, size);
        weft__map_limit_note(e);
        return -ENOMEM;
    }
#ifdef WEFT_ASAN
    /* Stale poison from frames of an earlier stack at this address. */
    __asan_unpoison_memory_region((char *)m + pg, size - pg);
#endif
    *map = m;
    return 0;
}

/* size is the mapping size, guard page included; *vg receives valgrind's
 * id for the stack (registered as long as it is mapped). */
int weft__stack_get(weft__sched *s, size_t size, void **map, unsigned *vg) {
    for (weft__stack_free **pp = &s->pool; *pp; pp = &(*pp)->next) {
        if ((*pp)->size == size) {
            weft__stack_free *f = *pp;
            *pp = f->next;
            s->pool_len--;
            /* The free-list node lives at the stack's top end: map start is
             * recovered from it. */
            *map = (char *)f + sizeof *f - size;
            *vg = f->vg;
            weft__vg_stack_writable((char *)*map + weft__page_size(), size - weft__page_size());
            return 0;
        }
    }
    int r = map_guarded(size, map);
    if (r == 0)
        *vg = weft__vg_stack((char *)*map + weft__page_size(), size - weft__page_size());
    return r;
}

void weft__stack_put(weft__sched *s, void *map, size_t size, unsigned vg) {
#ifdef WEFT_ASAN
    /* The dead coroutine's frames never returned: their red zones are still
     * poisoned and would trip the next user of this stack (or of this
     * address range, once unmapped and mapped again). */
    __asan_unpoison_memory_region((char *)map + weft__page_size(), size - weft__page_size());
#endif
    if (s->pool_len >= WEFT__POOL_MAX) {
        weft__vg_unstack(vg);
        weft__stack_unmap(map, size);
        return;
    }
    weft__stack_free *f = (weft__stack_free *)((char *)map + size - sizeof *f);
    f->size = size;
    f->vg = vg;
    f->next = s->pool;
    s->pool = f;
    s->pool_len++;
}

void weft__stack_pool_free(weft__sched *s) {
    while (s->pool) {
        weft__stack_free *f = s->pool;
        s->pool = f->next;
        weft__vg_unstack(f->vg);
        weft__stack_unmap((char *)f + sizeof *f - f->size, f->size);
    }
    s->pool_len = 0;
}

#define SWITCHER_STACK ((size_t)32 * 1024)

void weft__stack_bounds(weft__sched *s, weft__coro *co, const void **lo, size_t *size) {
    if (co->flags & WEFT__F_MAIN) {
        *lo = s->main_lo;
        *size = s->main_size;
    } else if (co->flags & WEFT__F_SHARED) {
        *lo = s->shared_lo;
        *size = (size_t)(s->shared_hi - s->shared_lo);
    } else {
        *lo = (char *)co->stack + weft__page_size();
        *size = co->stack_size - weft__page_size();
    }
}

void weft__switcher_bounds(weft__sched *s, const void **lo, size_t *size) {
    *lo = (char *)s->switcher_map + weft__page_size();
    *size = SWITCHER_STACK;
}

static void switcher_main(void *arg) {
    weft__sched *s = arg;
#ifdef WEFT_ASAN
    __sanitizer_finish_switch_fiber(NULL, NULL, NULL);
#endif
    for (;;) {
        weft__coro *from = s->sw_from, *to = s->sw_to;
        if (s->shared_owner && s->shared_owner == from && from->state != WEFT__C_DONE)
            weft__shared_save(s, from);
        s->shared_owner = NULL;
        weft__shared_load(s, to);
#ifdef WEFT_ASAN
        void *fake = NULL;
        const void *lo;
        size_t size;
        weft__stack_bounds(s, to, &lo, &size);
        __sanitizer_start_switch_fiber(&fake, lo, size);
#endif
#ifdef WEFT_TSAN
        __tsan_switch_to_fiber(to->san_fiber, 0);
#endif
        weft__ctx_switch(&s->switcher, &to->ctx, s); /* the switch returns the scheduler */
#ifdef WEFT_ASAN
        __sanitizer_finish_switch_fiber(fake, NULL, NULL);
#endif
    }
}

/* Byte copies of stack contents: invisible to the sanitizers, since live
 * frames hold poisoned red zones (ASan) and belong to another fiber (TSan). */
WEFT_NO_ASAN WEFT_NO_TSAN static void stack_copy(void *dst, const void *src, size_t n) {
    unsigned char *d = dst;
    const unsigned char *p = src;
#if defined(WEFT_ASAN) || defined(WEFT_TSAN)
    while (n--)
        *d++ = *p++;
#else
    memcpy(d, p, n);
#endif
}

int weft__shared_init(weft__sched *s) {
    if (s->shared_map)
        return 0;
    size_t pg = weft__page_size();
    size_t size = WEFT__SHARED_STACK + pg;
    void *m;
    if (map_guarded(size, &m) != 0)
        return -ENOMEM;
    void *sw;
    if (map_guarded(SWITCHER_STACK + pg, &sw) != 0) {
        munmap(m, size);
        return -ENOMEM;
    }
    s->shared_map = m;
    s->shared_map_size = size;
    s->shared_lo = (char *)m + pg;
    s->shared_hi = (char *)m + size;
    s->switcher_map = sw;
    s->vg_shared = weft__vg_stack(s->shared_lo, WEFT__SHARED_STACK);
    s->vg_switcher = weft__vg_stack((char *)sw + pg, SWITCHER_STACK);
#ifdef WEFT_TSAN
    s->switcher_fiber = __tsan_create_fiber(0);
#endif
    weft__ctx_init(&s->switcher, (char *)sw + pg, SWITCHER_STACK, switcher_main);
    /* First entry passes the scheduler as the argument. */
    s->sw_from = s->sw_to = NULL;
    return 0;
}

void weft__shared_free(weft__sched *s) {
    if (!s->shared_map)
        return;
    weft__vg_unstack(s->vg_shared);
    weft__vg_unstack(s->vg_switcher);
    s->vg_shared = s->vg_switcher = 0;
    weft__stack_unmap(s->shared_map, s->shared_map_size);
    weft__stack_unmap(s->switcher_map, SWITCHER_STACK + weft__page_size());
#ifdef WEFT_TSAN
    __tsan_destroy_fiber(s->switcher_fiber);
#endif
    s->shared_map = s->switcher_map = NULL;
}

/* Copies the live part of co's stack (from its saved stack pointer to the
 * top) aside. co must be suspended and own the shared stack. */
void weft__shared_save(weft__sched *s, weft__coro *co) {
    char *sp = weft__ctx_sp(&co->ctx);
    if (sp < s->shared_lo)
        sp = s->shared_lo;
    size_t len = (size_t)(s->shared_hi - sp);
    if (len > co->saved_cap) {
        weft__arena_free(s, co->saved, co->saved_cap);
        size_t cap;
        co->saved = weft__arena_alloc(s, len, &cap);
        if (!co->saved)
            WEFT_PANIC("out of memory saving the stack of coroutine %llu (%zu bytes)",
                       (unsigned long long)co->id, len);
        co->saved_cap = (uint32_t)cap;
    }
    stack_copy(co->saved, sp, len);
    co->saved_len = (uint32_t)len;
}

/* Makes co's frames live on the shared stack again (or builds its first
 * frame if it never ran). The shared stack must be free. */
void weft__shared_load(weft__sched *s, weft__coro *co) {
#ifdef WEFT_ASAN
    __asan_unpoison_memory_region(s->shared_lo, (size_t)(s->shared_hi - s->shared_lo));
#endif
    weft__vg_stack_writable(s->shared_lo, (size_t)(s->shared_hi - s->shared_lo));
    if (!(co->flags & WEFT__F_STARTED)) {
        weft__coro_flag_set(co, WEFT__F_STARTED);
        weft__ctx_init(&co->ctx, s->shared_lo, (size_t)(s->shared_hi - s->shared_lo),
                       weft__coro_entry);
    } else {
        stack_copy(s->shared_hi - co->saved_len, co->saved, co->saved_len);
        /* A long-lived coroutine keeps its buffer; a big one gives it back. */
        if (co->saved_cap > WEFT__ARENA_MAX) {
            weft__arena_free(s, co->saved, co->saved_cap);
            co->saved = NULL;
            co->saved_cap = 0;
        }
    }
    s->shared_owner = co;
}

/* ---- stack overflow reporting ------------------------------------------ */

static struct sigaction prev_segv, prev_bus;
static pthread_once_t handler_once = PTHREAD_ONCE_INIT;

static void on_fault(int sig, siginfo_t *si, void *uc) {
    weft__sched *s = weft__sched_get();
    weft__coro *co = s ? s->current : NULL;
    char *addr = si->si_addr;
    if (co && !(co->flags & WEFT__F_MAIN)) {
        char *glo, *ghi;
        if (co->flags & WEFT__F_SHARED) {
            glo = (char *)s->shared_map;
            ghi = s->shared_lo;
        } else {
            glo = (char *)co->stack;
            ghi = glo + weft__page_size();
        }
        /* A frame larger than the guard page can jump below it: count
         * anything within 64 KiB under the stack as an overflow too. */
        if (addr >= glo - 65536 && addr < ghi) {
            char b[256];
            size_t n = 0;
            weft__str_append(b, &n, sizeof b, "weft: stack overflow in coroutine ");
            n += weft__fmt_u64(b + n, co->id);
            if (co->name) {
                weft__str_append(b, &n, sizeof b, " \"");
                weft__str_append(b, &n, sizeof b - 3, co->name);
                weft__str_append(b, &n, sizeof b, "\"");
            }
            weft__str_append(b, &n, sizeof b, co->flags & WEFT__F_SHARED ? " (shared stack of "
                                                               : " (stack of ");
            n += weft__fmt_u64(b + n, (uint64_t)(ghi == s->shared_lo ? WEFT__SHARED_STACK
                                                                : co->stack_size -
                                                                      weft__page_size()));
            weft__str_append(b, &n, sizeof b, " bytes); aborting\n");
            ssize_t w = write(2, b, n);
            (void)w;
            signal(SIGABRT, SIG_DFL);
            abort();
        }
    }
    /* Not ours: hand over to whatever was installed before. */
    struct sigaction *prev = sig == SIGSEGV ? &prev_segv : &prev_bus;
    if (prev->sa_flags & SA_SIGINFO) {
        prev->sa_sigaction(sig, si, uc);
    } else if (prev->sa_handler == SIG_IGN || prev->sa_handler == SIG_DFL) {
        signal(sig, SIG_DFL); /* returning re-faults with the default action */
    } else {
        prev->sa_handler(sig);
    }
}

static void install_handler(void) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = on_fault;
    sa.sa_flags = SA_SIGINFO | SA_ONSTACK | SA_NODEFER;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGSEGV, &sa, &prev_segv);
    sigaction(SIGBUS, &sa, &prev_bus);
}

#define ALTSTACK_SIZE ((size_t)64 * 1024)

int weft__overflow_install(weft__sched *s) {
    stack_t cur;
    if (sigaltstack(NULL, &cur) == 0 && !(cur.ss_flags & SS_DISABLE)) {
        s->altstack = NULL; /* the thread already has one: use it */
    } else {
        void *m = mmap(NULL, ALTSTACK_SIZE, PROT_READ | PROT_WRITE,
                       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
        if (m == MAP_FAILED)
            return -ENOMEM;
        stack_t ss = {.ss_sp = m, .ss_size = ALTSTACK_SIZE, .ss_flags = 0};
        if (sigaltstack(&ss, NULL) != 0) {
            munmap(m, ALTSTACK_SIZE);
            return -ENOMEM;
        }
        s->altstack = m;
    }
    pthread_once(&handler_once, install_handler);
    return 0;
}

void weft__overflow_uninstall(weft__sched *s) {
    if (!s->altstack)
        return;
    stack_t ss = {.ss_sp = NULL, .ss_size = 0, .ss_flags = SS_DISABLE};
    sigaltstack(&ss, NULL);
    weft__stack_unmap(s->altstack, ALTSTACK_SIZE);
    s->altstack = NULL;
}
