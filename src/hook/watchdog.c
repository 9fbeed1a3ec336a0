/* The watchdog (WEFT_WATCHDOG_MS): a monitor thread samples every
 * scheduler's switch word (coro/sched.c) every threshold/4. A scheduler
 * whose word has not changed for the threshold while a coroutine other
 * than its main one runs and it is not waiting in its poller is stuck; the
 * monitor sends its thread SIGURG once per stall, and the handler, running
 * on the stuck thread, names the coroutine and the hooked call it is in,
 * lists the return addresses on its stack (coro/dump.c: bounded by the
 * coroutine's stack, read without faulting, no symbols: async-signal-safe)
 * and counts the report (weft_hook_watchdog_hits). */
#include "hook/hook.h"

#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <ucontext.h>
#include <unistd.h>

static int64_t wd_ms;
static atomic_int wd_on;
static _Atomic uint64_t wd_hits;

HOOK_API int weft_hook__watchdog_on(void) {
    return atomic_load(&wd_on);
}

HOOK_API uint64_t weft_hook__watchdog_count(void) {
    return atomic_load(&wd_hits);
}

/* The interrupted stack pointer: where the busy coroutine's frames start. */
static const void *interrupted_sp(const void *uc) {
    const ucontext_t *u = uc;
#if defined(__x86_64__)
    return (const void *)u->uc_mcontext.gregs[REG_RSP];
#elif defined(__aarch64__)
    return (const void *)u->uc_mcontext.sp;
#elif defined(__i386__)
    return (const void *)u->uc_mcontext.gregs[REG_ESP];
#else
    (void)u;
    return NULL;
#endif
}

static void on_sigurg(int sig, siginfo_t *si, void *uc) {
    (void)sig;
    (void)si;
    int saved = errno;
    char who[160], msg[320];
    if (weft__sched_describe(who, sizeof who)) {
        const char *call = weft_hook__current_call;
        int k = snprintf(
            msg, sizeof msg, "weft watchdog: %s kept its thread busy for more than %lld ms%s%s%s\n",
            who, (long long)wd_ms, call ? " (in " : "", call ? call : "", call ? ")" : "");
        if (k > 0)
            (void)!weft_hook__real.write(2, msg,
                                         (size_t)k < sizeof msg ? (size_t)k : sizeof msg - 1);
        /* Its frames: the return addresses on its stack from the interrupted
         * stack pointer up, bounded by the coroutine's stack. */
        weft__sched_backtrace(interrupted_sp(uc), 2);
        atomic_fetch_add(&wd_hits, 1);
    }
    errno = saved;
}

struct track {
    const void *id;
    uint64_t word;
    int64_t since;
    bool reported, seen;
};

static void *monitor(void *arg) {
    (void)arg;
    enum { MAX = 256 };
    static weft__sched_sample_t smp[MAX];
    static struct track tr[MAX];
    size_t ntr = 0;
    int64_t period = wd_ms * WEFT_MSEC / 4;
    if (period < WEFT_MSEC)
        period = WEFT_MSEC;
    struct timespec ts = {(time_t)(period / WEFT_SEC), (long)(period % WEFT_SEC)};
    for (;;) {
        weft_hook__real.nanosleep(&ts, NULL);
        int64_t now = weft_now();
        size_t n = weft__sched_sample(smp, MAX);
        for (size_t t = 0; t < ntr; t++)
            tr[t].seen = false;
        for (size_t i = 0; i < n; i++) {
            size_t t = 0;
            while (t < ntr && tr[t].id != smp[i].id)
                t++;
            if (t == ntr) {
                if (ntr == MAX)
                    continue;
                tr[ntr++] = (struct track){smp[i].id, smp[i].word, now, false, false};
            }
            struct track *k = &tr[t];
            k->seen = true;
            if (k->word != smp[i].word || smp[i].polling || (smp[i].word & 1)) {
                k->word = smp[i].word;
                k->since = now;
                k->reported = false;
                continue;
            }
            if (!k->reported && now - k->since >= wd_ms * WEFT_MSEC) {
                k->reported = true;
                weft__sched_signal(k->id, SIGURG);
            }
        }
        for (size_t t = 0; t < ntr;) /* forget schedulers that are gone */
            if (!tr[t].seen)
                tr[t] = tr[--ntr];
            else
                t++;
    }
    return NULL;
}

__attribute__((constructor)) static void watchdog_init(void) {
    const char *e = getenv("WEFT_WATCHDOG_MS");
    if (!e || !*e)
        return;
    char *end;
    long long ms = strtoll(e, &end, 10);
    if (*end || ms <= 0)
        return;
    weft_hook__resolve();
    wd_ms = ms;
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    weft__dump_prepare(); /* the code ranges the backtrace checks against */
    sa.sa_sigaction = on_sigurg;
    sa.sa_flags = SA_RESTART | SA_ONSTACK | SA_SIGINFO;
    sigemptyset(&sa.sa_mask);
    if (sigaction(SIGURG, &sa, NULL) != 0)
        return;
    if (weft__service_thread(monitor, NULL, 64 * 1024) == 0)
        atomic_store(&wd_on, 1);
}
