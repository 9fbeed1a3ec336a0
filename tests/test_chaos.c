/* Chaos: processes killed at random points, many times over, for every
 * kind of process that shares state with others: a queue producer, a queue
 * consumer, a lock holder, a pool worker and a pool owner. Half the queue
 * kills land on a step chosen at random (the internal fault countdown of
 * pqueue.c), half at a random instant from outside (SIGKILL after a random
 * delay, so inside copies and waits too).
 *
 * Each case asserts: no torn message (every byte checked), none lost
 * beyond the documented case (a consumer killed after its get committed
 * takes one message with it), no phantom (nothing that was not put, none
 * twice, size/empty agreeing with get), no hang (every wait has a
 * deadline), no zombie, no orphan worker (this process is a subreaper:
 * every descendant must end), no leftover /dev/shm name.
 *
 * WEFT_CHAOS_KILLS (default 200) sets the kills per case, WEFT_CHAOS_SECONDS
 * (default 25) each case's time budget: a case stops early at its budget
 * and still asserts a minimum. WEFT_CHAOS_SEED replays a run (the seed is
 * printed). */
#include "harness.h"

#include "pdict/pbox.h"     /* the shared dict's and list's fault countdown */
#include "pqueue/pqueue.h" /* the fault countdown */

#include <dirent.h>
#include <poll.h>
#include <sched.h>
#include <stdint.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <time.h>

/* WEFT_TEST_TIMEOUT(producer, 100) */
/* WEFT_TEST_TIMEOUT(consumer, 100) */
/* WEFT_TEST_TIMEOUT(lock_holder, 100) */
/* WEFT_TEST_TIMEOUT(pool_worker, 100) */
/* WEFT_TEST_TIMEOUT(pool_owner, 100) */
/* WEFT_TEST_TIMEOUT(dict_writer, 100) */


static const int KINDS[4] = {WEFT_QUEUE_FIFO, WEFT_QUEUE_LIFO, WEFT_QUEUE_PRIORITY,
                             WEFT_QUEUE_DEQUE};
static const char *const KIND_NAMES[4] = {"fifo", "lifo", "priority", "deque"};

/* ---------------------------------------------------------------- settings */

static long env_long(const char *name, long def) {
    const char *s = getenv(name);
    if (!s || !*s)
        return def;
    char *end;
    long v = strtol(s, &end, 10);
    return *end || v <= 0 ? def : v;
}

static int kills_wanted(void) {
    return (int)env_long("WEFT_CHAOS_KILLS", 200);
}

/* The end of this case's time budget. */
static int64_t budget_end(void) {
    return weft_after(env_long("WEFT_CHAOS_SECONDS", 25) * WEFT_SEC);
}

/* The fewest kills a case must reach (within its budget) to count. */
static int kills_minimum(void) {
    int k = kills_wanted();
    return k < 20 ? k : 20;
}

static uint64_t rng;

static uint64_t rnd(void) {
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

static void seed_rng(void) {
    uint64_t s = (uint64_t)env_long("WEFT_CHAOS_SEED", 0);
    if (!s)
        s = (uint64_t)weft_now() ^ ((uint64_t)getpid() << 32);
    rng = s | 1;
    printf("chaos: seed %llu (WEFT_CHAOS_SEED replays it)\n", (unsigned long long)s);
}

/* In a forked child: its own random sequence. */
static void reseed_child(void) {
    rng ^= (uint64_t)getpid() * 0x9e3779b97f4a7c15ULL;
    rng |= 1;
}

static void sleep_us(long us) {
    struct timespec ts = {us / 1000000, (us % 1000000) * 1000};
    while (nanosleep(&ts, &ts) < 0 && errno == EINTR) {
    }
}

/* ---------------------------------------------------------------- messages */

static uint64_t mix(uint64_t x) {
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdULL;
    x ^= x >> 33;
    return x;
}

#define MSG_MAX 320

static size_t msg_len(uint32_t id, uint32_t seq) {
    return 8 + mix(id * 7919u + seq) % (MSG_MAX - 8);
}

static size_t msg_make(unsigned char *m, uint32_t id, uint32_t seq) {
    size_t len = msg_len(id, seq);
    memcpy(m, &id, 4);
    memcpy(m + 4, &seq, 4);
    for (size_t i = 8; i < len; i++)
        m[i] = (unsigned char)mix(((uint64_t)id << 40) ^ ((uint64_t)seq << 8) ^ i);
    return len;
}

/* Whole and well-formed: the length and every byte follow from (id, seq). */
static bool msg_check(const unsigned char *m, size_t len, uint32_t *id, uint32_t *seq) {
    if (len < 8)
        return false;
    memcpy(id, m, 4);
    memcpy(seq, m + 4, 4);
    if (len != msg_len(*id, *seq))
        return false;
    for (size_t i = 8; i < len; i++)
        if (m[i] != (unsigned char)mix(((uint64_t)*id << 40) ^ ((uint64_t)*seq << 8) ^ i))
            return false;
    return true;
}

/* ---------------------------------------------------------------- shared bookkeeping */

typedef struct {
    _Atomic uint32_t done; /* puts that returned 0 */
    _Atomic uint32_t recv; /* messages taken and recorded */
} pstat;

/* Shared with every child: per producer its counts and a bitmap of the
 * seqs taken (seq_max bits each, after the pstat array). */
typedef struct {
    _Atomic long bad;
    _Atomic int stop;
    _Atomic uint32_t last_seq; /* FIFO consumers: the last seq taken, + 1 */
    char why[256];
    uint32_t nprod, seq_max;
    pstat p[];
} shared_t;

static shared_t *sh;
static size_t sh_len;

static void shared_make(uint32_t nprod, uint32_t seq_max) {
    sh_len = sizeof(shared_t) + nprod * sizeof(pstat) + (size_t)nprod * seq_max / 8;
    sh = test_shared_mem(sh_len);
    sh->nprod = nprod;
    sh->seq_max = seq_max;
}

static _Atomic uint64_t *bits_of(uint32_t id) {
    _Atomic uint64_t *b = (_Atomic uint64_t *)(void *)&sh->p[sh->nprod];
    return b + (size_t)id * (sh->seq_max / 64);
}

static void reset_producer(uint32_t id) {
    atomic_store(&sh->p[id].done, 0);
    atomic_store(&sh->p[id].recv, 0);
    _Atomic uint64_t *b = bits_of(id);
    for (uint32_t w = 0; w < sh->seq_max / 64; w++)
        atomic_store(&b[w], 0);
}

static bool taken(uint32_t id, uint32_t seq) {
    return atomic_load(&bits_of(id)[seq / 64]) >> (seq % 64) & 1;
}

static void shared_free(void) {
    munmap(sh, sh_len);
    sh = NULL;
}

static void bad(const char *fmt, uint32_t a, uint32_t b) {
    if (atomic_fetch_add(&sh->bad, 1) == 0)
        snprintf(sh->why, sizeof sh->why, fmt, a, b);
}

/* Records a message taken; flags a torn, unknown or repeated one. */
static void record(const unsigned char *m, ssize_t n, int kind) {
    uint32_t id, seq;
    if (!msg_check(m, (size_t)n, &id, &seq) || id >= sh->nprod || seq >= sh->seq_max) {
        bad("torn or unknown message (%u bytes, first byte %u)", (uint32_t)n, n > 0 ? m[0] : 0);
        return;
    }
    pstat *ps = &sh->p[id];
    uint64_t bit = 1ull << (seq % 64);
    if (atomic_fetch_or(&bits_of(id)[seq / 64], bit) & bit)
        bad("message (%u, %u) taken twice", id, seq);
    if (seq >= atomic_load(&ps->done) + 1)
        bad("message (%u, %u) taken before its put began", id, seq);
    if (kind == WEFT_QUEUE_FIFO && id == 0) {
        /* One producer (id 0) in the consumer case: FIFO order. */
        if (seq + 1 <= atomic_load(&sh->last_seq))
            bad("FIFO order: (0, %u) after %u", seq, atomic_load(&sh->last_seq));
        atomic_store(&sh->last_seq, seq + 1);
    }
    atomic_fetch_add(&ps->recv, 1);
}

/* The seqs of producer id taken: a prefix 0..n-1 (no gap)? Returns n, or -1. */
static long taken_prefix(uint32_t id) {
    uint32_t n = 0;
    while (n < sh->seq_max && taken(id, n))
        n++;
    for (uint32_t s = n; s < sh->seq_max; s++)
        if (taken(id, s))
            return -1;
    return n;
}

static long taken_count(uint32_t id) {
    long n = 0;
    for (uint32_t w = 0; w < sh->seq_max / 64; w++)
        n += __builtin_popcountll(atomic_load(&bits_of(id)[w]));
    return n;
}

/* ---------------------------------------------------------------- /dev/shm and children */

static char prefix[64];

static void name_prefix(const char *what) {
    snprintf(prefix, sizeof prefix, "weft-chaos-%d-%s", (int)getpid(), what);
}

/* Names in /dev/shm that start with prefix. */
static int shm_leftovers(void) {
    DIR *d = opendir("/dev/shm");
    if (!d)
        return 0;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL)
        if (strncmp(e->d_name, prefix, strlen(prefix)) == 0)
            n++;
    closedir(d);
    return n;
}

/* Reaps every child (and, as a subreaper, every descendant) until none is
 * left, for at most `secs`; returns how many were reaped, or -1 if some
 * were still alive at the deadline (they are killed then). */
static int reap_all(int secs) {
    int64_t end = weft_after(secs * WEFT_SEC);
    int n = 0;
    for (;;) {
        pid_t r = waitpid(-1, NULL, WNOHANG);
        if (r > 0) {
            n++;
            continue;
        }
        if (r < 0 && errno == ECHILD)
            return n;
        if (weft_now() >= end) {
            test_kill_children();
            while (waitpid(-1, NULL, 0) > 0) {
            }
            return -1;
        }
        sleep_us(500);
    }
}

/* Reaps pid; 1 if SIGKILL ended it, 0 if it exited 0; anything else fails. */
static int reap_killed_or_ok(pid_t pid) {
    int st = test_reap(pid);
    if (st == 1000 + SIGKILL)
        return 1;
    if (st != 0)
        harness_fail(__FILE__, __LINE__, "child %d ended with %d (1000 + n: signal n)", (int)pid,
                     st);
    return 0;
}

/* Kills child pid as chosen: either it arms the fault countdown itself
 * (fault > 0, chosen by the caller before the fork), or here after a
 * random delay. */
static int kill_child(pid_t pid, long fault) {
    if (!fault) {
        sleep_us((long)(rnd() % 3000));
        kill(pid, SIGKILL);
    }
    return reap_killed_or_ok(pid);
}

/* ---------------------------------------------------------------- queue: producers */

static weft_pqueue *cq;
static int ckind;

static void queue_put(uint32_t id, uint32_t seq, int64_t deadline, int *r) {
    unsigned char m[MSG_MAX];
    size_t len = msg_make(m, id, seq);
    if (ckind == WEFT_QUEUE_PRIORITY)
        *r = weft_pqueue_put_prio(cq, m, len, (int64_t)(rnd() % 5), deadline);
    else if (ckind == WEFT_QUEUE_DEQUE && rnd() % 2)
        *r = weft_pqueue_put_front(cq, m, len, deadline);
    else
        *r = weft_pqueue_put(cq, m, len, deadline);
}

static ssize_t queue_get(unsigned char *b, int64_t deadline) {
    if (ckind == WEFT_QUEUE_DEQUE && rnd() % 2)
        return weft_pqueue_get_back(cq, b, MSG_MAX, deadline);
    return weft_pqueue_get(cq, b, MSG_MAX, deadline);
}

static long child_fault;
static uint32_t child_id;

/* A producer (id child_id) putting until it is killed (or out of seqs). */
static void producer_child(void *arg) {
    (void)arg;
    reseed_child();
    if (child_fault)
        weft__pqueue_fault(child_fault);
    pstat *ps = &sh->p[child_id];
    for (uint32_t seq = 0; seq < sh->seq_max; seq++) {
        int r;
        queue_put(child_id, seq, weft_after(20 * WEFT_SEC), &r);
        if (r != 0) {
            bad("put: %u (producer %u)", (uint32_t)-r, child_id);
            _exit(1);
        }
        atomic_store(&ps->done, seq + 1);
    }
    weft__pqueue_fault(0);
}

/* The consumer of the producer case: takes until shutdown. */
static void steady_consumer(void *arg) {
    (void)arg;
    reseed_child();
    unsigned char b[MSG_MAX];
    for (;;) {
        ssize_t n = queue_get(b, weft_after(20 * WEFT_SEC));
        if (n == -EPIPE)
            return;
        if (n < 0) {
            bad("consumer get: %u", (uint32_t)-n, 0);
            _exit(1);
        }
        record(b, n, ckind);
        if (weft_pqueue_task_done(cq) != 0)
            bad("task_done refused a taken message", 0, 0);
    }
}

/* size and empty agree with what try_get then takes (no one else runs). */
static long drain_agreeing(void) {
    size_t sz = weft_pqueue_size(cq);
    CHECK_EQ(weft_pqueue_empty(cq), sz == 0);
    unsigned char b[MSG_MAX];
    ssize_t n;
    long got = 0;
    while ((n = weft_pqueue_try_get(cq, b, sizeof b)) >= 0) {
        record(b, n, ckind);
        CHECK_OK(weft_pqueue_task_done(cq));
        got++;
    }
    CHECK_ERR(n, weft_pqueue_is_shutdown(cq) ? -EPIPE : -EAGAIN);
    CHECK_EQ((size_t)got, sz);
    CHECK_EQ(weft_pqueue_empty(cq), 1);
    return got;
}

static void check_bad(void) {
    if (atomic_load(&sh->bad))
        harness_fail(__FILE__, __LINE__, "%ld anomalies, first: %s", atomic_load(&sh->bad),
                     sh->why);
}

static void open_queue(int k) {
    char name[128];
    snprintf(name, sizeof name, "%s-%s", prefix, KIND_NAMES[k]);
    ckind = KINDS[k];
    CHECK_OK(weft_pqueue_create_named(&cq, name, ckind, 4096, 0));
}

static void close_queue(int k) {
    char name[128];
    snprintf(name, sizeof name, "%s-%s", prefix, KIND_NAMES[k]);
    CHECK_OK(weft_pqueue_unlink(name));
    CHECK_OK(weft_pqueue_close(cq));
    cq = NULL;
}

/* Producers killed at random points while one consumer takes: every
 * producer's messages arrive whole, each once, a gapless prefix of what
 * it put: all it finished, plus perhaps the one it was killed in. */
WEFT_TEST(producer) {
    SKIP_UNLESS_ROBUST_FUTEX();
    SKIP_UNLESS_ROBUST_PSHARED_MUTEX();
    seed_rng();
    name_prefix("p");
    int want = kills_wanted(), per = (want + 3) / 4, kills = 0, fault_kills = 0;
    int64_t start = weft_now(), end = budget_end();
    shared_make((uint32_t)per + 1, 1u << 14);
    for (int k = 0; k < 4; k++) {
        open_queue(k);
        pid_t cons = test_fork_child(steady_consumer, NULL);
        int64_t kend = start + (end - start) * (k + 1) / 4;
        int n = 0;
        for (uint32_t id = 0; id < (uint32_t)per && weft_now() < kend; id++) {
            reset_producer(id);
            child_id = id;
            child_fault = rnd() % 2 ? 1 + (long)(rnd() % 600) : 0;
            pid_t pr = test_fork_child(producer_child, NULL);
            int killed = kill_child(pr, child_fault);
            n += killed;
            fault_kills += killed && child_fault;
            /* No producer is left: once the consumer has taken everything,
             * nothing is counted that is not there. */
            int64_t e = weft_after(20 * WEFT_SEC);
            while (!weft_pqueue_empty(cq)) {
                CHECK(weft_now() < e);
                sleep_us(100);
            }
            CHECK_EQ(weft_pqueue_size(cq), 0);
        }
        CHECK_OK(weft_pqueue_shutdown(cq, 0));
        CHECK_EQ(reap_killed_or_ok(cons), 0);
        check_bad();
        CHECK_EQ(drain_agreeing(), 0);
        for (uint32_t id = 0; id < (uint32_t)per; id++) {
            uint32_t done = atomic_load(&sh->p[id].done);
            long got = taken_prefix(id);
            CHECK_GE(got, 0);
            CHECK_GE(got, (long)done);
            CHECK_LE(got, (long)done + 1);
            CHECK_EQ((long)atomic_load(&sh->p[id].recv), got);
            reset_producer(id);
        }
        /* Every committed message was taken and marked done. */
        CHECK_OK(weft_pqueue_join(cq, WEFT_NOWAIT));
        close_queue(k);
        kills += n;
    }
    CHECK_EQ(shm_leftovers(), 0);
    CHECK_NO_ZOMBIES();
    printf("chaos: producer: %d kills (%d at an injected step) in %.1f s\n", kills, fault_kills,
           (double)(weft_now() - start) / WEFT_SEC);
    CHECK_GE(kills, kills_minimum());
    shared_free();
}

/* ---------------------------------------------------------------- queue: consumers */

/* The producer of the consumer case (id 0): puts until told to stop. */
static void steady_producer(void *arg) {
    (void)arg;
    reseed_child();
    pstat *ps = &sh->p[0];
    for (uint32_t seq = 0; seq < sh->seq_max && !atomic_load(&sh->stop); seq++) {
        int r;
        queue_put(0, seq, weft_after(20 * WEFT_SEC), &r);
        if (r == -ETIMEDOUT && atomic_load(&sh->stop))
            return;
        if (r != 0) {
            bad("steady put: %u", (uint32_t)-r, 0);
            _exit(1);
        }
        atomic_store(&ps->done, seq + 1);
    }
}

/* A consumer taking until it is killed. */
static void consumer_child(void *arg) {
    (void)arg;
    reseed_child();
    if (child_fault)
        weft__pqueue_fault(child_fault);
    unsigned char b[MSG_MAX];
    for (int i = 0; i < 100000; i++) {
        ssize_t n = queue_get(b, weft_after(20 * WEFT_SEC));
        if (n < 0) {
            bad("consumer get: %u", (uint32_t)-n, 0);
            _exit(1);
        }
        record(b, n, ckind);
    }
    weft__pqueue_fault(0);
}

/* Consumers killed at random points while one producer puts: no message
 * twice, none torn, and the ones missing at the end are at most one per
 * kill (taken by a consumer killed after its get committed). */
WEFT_TEST(consumer) {
    SKIP_UNLESS_ROBUST_FUTEX();
    SKIP_UNLESS_ROBUST_PSHARED_MUTEX();
    seed_rng();
    name_prefix("c");
    int want = kills_wanted(), per = (want + 3) / 4, kills = 0, fault_kills = 0;
    long lost_total = 0;
    int64_t start = weft_now(), end = budget_end();
    shared_make(1, 1u << 22);
    for (int k = 0; k < 4; k++) {
        reset_producer(0);
        atomic_store(&sh->stop, 0);
        atomic_store(&sh->last_seq, 0);
        open_queue(k);
        pid_t prod = test_fork_child(steady_producer, NULL);
        int64_t kend = start + (end - start) * (k + 1) / 4;
        int n = 0;
        for (int i = 0; i < per && weft_now() < kend; i++) {
            child_fault = rnd() % 2 ? 1 + (long)(rnd() % 400) : 0;
            pid_t c = test_fork_child(consumer_child, NULL);
            int killed = kill_child(c, child_fault);
            n += killed;
            fault_kills += killed && child_fault;
            if (atomic_load(&sh->p[0].done) >= sh->seq_max - 4096)
                break; /* the producer's sequence is used up */
        }
        atomic_store(&sh->stop, 1);
        /* The producer leaves at its next put; one waiting for room gets
         * it from what we take here. */
        unsigned char b[MSG_MAX];
        int st;
        pid_t r;
        int64_t pend = weft_after(20 * WEFT_SEC);
        while ((r = waitpid(prod, &st, WNOHANG)) == 0) {
            CHECK(weft_now() < pend);
            ssize_t g = weft_pqueue_try_get(cq, b, sizeof b);
            if (g >= 0)
                record(b, g, ckind);
            else
                sleep_us(200);
        }
        CHECK_EQ(r, prod);
        CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
        check_bad();
        drain_agreeing();
        uint32_t done = atomic_load(&sh->p[0].done);
        long got = taken_count(0);
        CHECK_LE(got, (long)done);
        long lost = (long)done - got;
        CHECK_LE(lost, n);
        for (uint32_t s = done; s < sh->seq_max; s++)
            CHECK(!taken(0, s));
        lost_total += lost;
        close_queue(k);
        kills += n;
    }
    CHECK_EQ(shm_leftovers(), 0);
    CHECK_NO_ZOMBIES();
    printf("chaos: consumer: %d kills (%d at an injected step), %ld messages taken by killed "
           "consumers, in %.1f s\n",
           kills, fault_kills, lost_total, (double)(weft_now() - start) / WEFT_SEC);
    CHECK_GE(kills, kills_minimum());
    shared_free();
}

/* ---------------------------------------------------------------- lock holders */

typedef struct {
    _Atomic uint64_t a, b; /* a == b outside the lock */
    _Atomic uint64_t recovered;
    _Atomic long bad;
} lock_state;

static weft_plock *clk;
static lock_state *ls;

/* Takes the lock over and over; half-updates (a, b) inside, so a kill there
 * leaves a != b for the next holder to repair. */
static void holder_child(void *arg) {
    (void)arg;
    reseed_child();
    for (;;) {
        int r = weft_plock_acquire(clk, weft_after(20 * WEFT_SEC));
        if (r == -EOWNERDEAD) {
            atomic_store(&ls->b, atomic_load(&ls->a));
            atomic_fetch_add(&ls->recovered, 1);
            if (weft_plock_consistent(clk) != 0)
                atomic_fetch_add(&ls->bad, 1);
        } else if (r != 0) {
            atomic_fetch_add(&ls->bad, 1);
            _exit(1);
        }
        if (atomic_load(&ls->a) != atomic_load(&ls->b))
            atomic_fetch_add(&ls->bad, 1);
        atomic_fetch_add(&ls->a, 1);
        int64_t until = weft_now() + (int64_t)(rnd() % 40) * WEFT_USEC;
        while (weft_now() < until) {
        }
        atomic_fetch_add(&ls->b, 1);
        if (weft_plock_release(clk) != 0) {
            atomic_fetch_add(&ls->bad, 1);
            _exit(1);
        }
        if (rnd() % 4 == 0)
            sched_yield();
    }
}

/* Two processes take a named robust lock in turn; one of them, chosen at
 * random, is killed at a random instant and replaced. The next holder
 * always gets in (bounded wait) and sees -EOWNERDEAD exactly when the dead
 * one held the lock (a != b tells). */
WEFT_TEST(lock_holder) {
    SKIP_UNLESS_ROBUST_FUTEX();
    SKIP_UNLESS_ROBUST_PSHARED_MUTEX();
    seed_rng();
    name_prefix("l");
    char name[128];
    snprintf(name, sizeof name, "%s-lock", prefix);
    CHECK_OK(weft_plock_create_named(&clk, name));
    ls = test_shared_mem(sizeof *ls);
    int want = kills_wanted(), kills = 0;
    int64_t start = weft_now(), end = budget_end();
    pid_t h[2];
    for (int i = 0; i < 2; i++)
        h[i] = test_fork_child(holder_child, NULL);
    while (kills < want && weft_now() < end) {
        sleep_us((long)(rnd() % 2000));
        int i = (int)(rnd() % 2);
        CHECK_EQ(kill(h[i], SIGKILL), 0);
        CHECK_EQ(test_reap(h[i]), 1000 + SIGKILL);
        kills++;
        h[i] = test_fork_child(holder_child, NULL);
    }
    for (int i = 0; i < 2; i++) {
        CHECK_EQ(kill(h[i], SIGKILL), 0);
        CHECK_EQ(test_reap(h[i]), 1000 + SIGKILL);
    }
    int r = weft_plock_acquire(clk, weft_after(10 * WEFT_SEC));
    CHECK(r == 0 || r == -EOWNERDEAD);
    if (r == -EOWNERDEAD) {
        atomic_store(&ls->b, atomic_load(&ls->a));
        atomic_fetch_add(&ls->recovered, 1);
        CHECK_OK(weft_plock_consistent(clk));
    }
    CHECK_EQ(atomic_load(&ls->a), atomic_load(&ls->b));
    CHECK_OK(weft_plock_release(clk));
    CHECK_EQ(atomic_load(&ls->bad), 0);
    long rec = (long)atomic_load(&ls->recovered);
    CHECK_LE(rec, kills + 2);
    CHECK_GT(rec, 0);
    CHECK_OK(weft_plock_detach(clk));
    CHECK_OK(weft_shm_unlink(name));
    CHECK_EQ(shm_leftovers(), 0);
    CHECK_NO_ZOMBIES();
    printf("chaos: lock holder: %d kills, %ld while holding (-EOWNERDEAD), %llu sections, in "
           "%.1f s\n",
           kills + 2, rec, (unsigned long long)atomic_load(&ls->a),
           (double)(weft_now() - start) / WEFT_SEC);
    CHECK_GE(kills, kills_minimum());
    munmap(ls, sizeof *ls);
}

/* ---------------------------------------------------------------- pool workers */

static int t_square, t_pause;

static int square(const void *in, size_t len, weft_bytes *out) {
    int64_t x;
    if (len != sizeof x)
        return -EINVAL;
    memcpy(&x, in, sizeof x);
    int64_t until = weft_now() + (int64_t)(x % 50) * WEFT_USEC;
    while (weft_now() < until) {
    }
    x *= x;
    return weft_bytes_set(out, &x, sizeof x);
}

static __attribute__((noreturn)) int pause_task(const void *in, size_t len, weft_bytes *out) {
    (void)in, (void)len, (void)out;
    for (;;)
        pause();
}

__attribute__((constructor)) static void setup(void) {
    t_square = weft_ptask_register("square", square);
    t_pause = weft_ptask_register("pause", pause_task);
    if (t_square < 0 || t_pause < 0)
        abort();
}

static weft_ppool *kpool;
static _Atomic int kstop, kdone;
static int kwant;
static int64_t kend;

/* Kills a random live worker, waits until it is dead, and again. */
static void *worker_killer(void *arg) {
    (void)arg;
    while (!atomic_load(&kstop) && atomic_load(&kdone) < kwant && weft_now() < kend) {
        sleep_us((long)(rnd() % 1500));
        pid_t pids[4];
        int n = weft_ppool_pids(kpool, pids, 4);
        if (n <= 0)
            continue;
        pid_t v = pids[rnd() % (uint64_t)n];
        harness_watch hw;
        if (!harness_watch_open(&hw, v))
            continue;
        if (kill(v, SIGKILL) == 0) {
            if (!harness_watch_wait(&hw, 10000))
                harness_fail(__FILE__, __LINE__, "worker %d did not die", (int)v);
            /* Listed no more, dead. */
            n = weft_ppool_pids(kpool, pids, 4);
            for (int i = 0; i < n; i++)
                if (pids[i] == v)
                    harness_fail(__FILE__, __LINE__, "dead worker %d listed", (int)v);
            atomic_fetch_add(&kdone, 1);
        } else if (hw.fd >= 0) {
            close(hw.fd);
        }
    }
    return NULL;
}

/* Workers killed at random instants under a stream of tasks (policy
 * RETRY): every result right, none lost, each dead worker unlisted at once
 * and replaced. */
WEFT_TEST(pool_worker) {
    seed_rng();
    weft_ppool_opts o;
    weft_ppool_opts_init(&o);
    o.nworkers = 2;
    o.on_death = WEFT_PPOOL_RETRY;
    o.max_retries = 255;
    CHECK_OK(weft_ppool_create(&kpool, &o));
    kwant = kills_wanted();
    int64_t start = weft_now();
    kend = budget_end();
    atomic_store(&kstop, 0);
    pthread_t t;
    CHECK_EQ(pthread_create(&t, NULL, worker_killer, NULL), 0);
    long tasks = 0;
    enum { BATCH = 64 };
    while (atomic_load(&kdone) < kwant && weft_now() < kend) {
        weft_future *f[BATCH];
        for (int i = 0; i < BATCH; i++) {
            int64_t x = tasks + i;
            CHECK_OK(
                weft_ppool_apply_async(kpool, t_square, &x, sizeof x, NULL, NULL, NULL, &f[i]));
        }
        for (int i = 0; i < BATCH; i++) {
            void *res;
            CHECK_EQ(weft_future_result(f[i], weft_after(30 * WEFT_SEC), &res), 0);
            const weft_bytes *b = res;
            int64_t y, x = tasks + i;
            CHECK_EQ(b->len, sizeof y);
            memcpy(&y, b->data, sizeof y);
            CHECK_EQ(y, x * x);
            weft_future_release(f[i]);
        }
        tasks += BATCH;
    }
    atomic_store(&kstop, 1);
    pthread_join(t, NULL);
    int kills = atomic_load(&kdone);
    int64_t x = 12;
    weft_bytes b = WEFT_BYTES_INIT;
    CHECK_EQ(weft_ppool_apply(kpool, t_square, &x, sizeof x, &b), 0);
    weft_bytes_free(&b);
    /* The watcher replaces a dead worker after it reaps it; the last
     * kill's replacement may still be on its way (the apply above ran on
     * the other worker). */
    int64_t until = weft_after(10 * WEFT_SEC);
    while (weft_ppool_started(kpool) < 2 + kills && weft_now() < until)
        weft_sleep(WEFT_MSEC);
    CHECK_GE(weft_ppool_started(kpool), 2 + kills);
    CHECK_OK(weft_ppool_close(kpool));
    CHECK_OK(weft_ppool_join(kpool, weft_after(20 * WEFT_SEC)));
    CHECK_OK(weft_ppool_destroy(kpool));
    CHECK_NO_ZOMBIES();
    printf("chaos: pool worker: %d kills, %ld tasks, all right, in %.1f s\n", kills, tasks,
           (double)(weft_now() - start) / WEFT_SEC);
    CHECK_GE(kills, kills_minimum());
}

/* ---------------------------------------------------------------- pool owners */

/* An owner: creates a pool, keeps both workers busy (one task that never
 * ends, a stream of short ones), until it is killed. */
static void owner_child(void *arg) {
    (void)arg;
    reseed_child();
    weft_ppool_opts o;
    weft_ppool_opts_init(&o);
    o.nworkers = 2;
    weft_ppool *p;
    if (weft_ppool_create(&p, &o) != 0)
        _exit(1);
    if (rnd() % 2 && weft_ppool_apply_async(p, t_pause, NULL, 0, NULL, NULL, NULL, NULL) != 0)
        _exit(1);
    for (int64_t x = 0;; x++) {
        weft_bytes b = WEFT_BYTES_INIT;
        if (weft_ppool_apply(p, t_square, &x, sizeof x, &b) != 0)
            _exit(1);
        weft_bytes_free(&b);
    }
}

/* Pool owners killed at random instants, from inside weft_ppool_create to
 * the middle of a stream of tasks: every worker ends at once (this
 * process is a subreaper: each is reparented here and must be reaped),
 * busy or idle, none lives on. */
WEFT_TEST(pool_owner) {
    seed_rng();
    SKIP_UNLESS_SUBREAPER();
    CHECK_EQ(prctl(PR_SET_CHILD_SUBREAPER, 1), 0);
    int want = kills_wanted(), kills = 0;
    long workers = 0;
    int64_t start = weft_now(), end = budget_end();
    while (kills < want && weft_now() < end) {
        fflush(NULL);
        pid_t owner = fork();
        CHECK_GE(owner, 0);
        if (owner == 0) {
            alarm(60);
            owner_child(NULL);
            _exit(0);
        }
        sleep_us((long)(rnd() % 10000));
        CHECK_EQ(kill(owner, SIGKILL), 0);
        CHECK_EQ(test_reap(owner), 1000 + SIGKILL);
        kills++;
        int n = reap_all(5);
        if (n < 0)
            harness_fail(__FILE__, __LINE__, "pool workers outlived their owner (kill %d)", kills);
        workers += n;
    }
    CHECK_NO_ZOMBIES();
    printf("chaos: pool owner: %d kills, %ld orphaned workers all gone, in %.1f s\n", kills,
           workers, (double)(weft_now() - start) / WEFT_SEC);
    CHECK_GE(kills, kills_minimum());
    CHECK_GT(workers, 0);
}

/* ---------------------------------------------------------------- shared dict and list */

static weft_pdict *cd;
static weft_plist *cl;

/* Writer child_id: for seq = 0, 1, ...: sets key (id, seq) to a message,
 * overwrites one of 16 shared "hot" keys, appends the message to the list,
 * then records seq + 1 as done. */
static void dict_writer_child(void *arg) {
    (void)arg;
    reseed_child();
    if (child_fault)
        weft__pbox_fault(child_fault);
    pstat *ps = &sh->p[child_id];
    for (uint32_t seq = 0; seq < sh->seq_max; seq++) {
        unsigned char m[MSG_MAX];
        size_t len = msg_make(m, child_id, seq);
        uint32_t key[2] = {child_id, seq}, hot = (uint32_t)(rnd() % 16);
        int64_t dl = weft_after(20 * WEFT_SEC);
        int r = weft_pdict_set(cd, key, sizeof key, m, len, dl);
        if (r == 0)
            r = weft_pdict_set(cd, &hot, sizeof hot, m, len, dl);
        if (r == 0)
            r = weft_plist_append(cl, m, len, dl);
        if (r != 0) {
            bad("dict writer: %u (writer %u)", (uint32_t)-r, child_id);
            _exit(1);
        }
        atomic_store(&ps->done, seq + 1);
    }
    weft__pbox_fault(0);
}

/* Checks the dict and the list against what the writers [0, n) recorded:
 * every value and item whole; writer id's keys are seqs 0 .. done - 1 and
 * perhaps done (the set it was killed in), its list items the same prefix
 * in order, never more than its keys. */
static void dict_check(uint32_t n, bool steady_runs) {
    int64_t dl = weft_after(20 * WEFT_SEC);
    /* Writer 0 (the steady one) may still be writing while this reads: its
     * counts only fall between what it had done before and after. */
    uint32_t before0 = atomic_load(&sh->p[0].done);
    weft_bytes snap = WEFT_BYTES_INIT;
    int64_t items = weft_pdict_items(cd, &snap, dl);
    CHECK_GE(items, 0);
    if (!steady_runs)
        CHECK_EQ(weft_pdict_len(cd, dl), items);
    static uint32_t keys[1024], hot_seen;
    memset(keys, 0, sizeof keys);
    hot_seen = 0;
    size_t pos = 0, kl, vl;
    const void *k, *v;
    int r;
    while ((r = weft_pdict_item_next(&snap, &pos, &k, &kl, &v, &vl)) == 1) {
        uint32_t id, seq;
        if (!msg_check(v, vl, &id, &seq) || id >= n)
            harness_fail(__FILE__, __LINE__, "torn or unknown value (%zu bytes)", vl);
        if (kl == 4) {
            hot_seen++;
            continue;
        }
        CHECK_EQ(kl, 8);
        uint32_t key[2];
        memcpy(key, k, 8);
        CHECK_EQ(key[0], id);
        CHECK_EQ(key[1], seq);
        keys[id]++;
        CHECK_LE(seq, atomic_load(&sh->p[id].done));
    }
    CHECK_EQ(r, 0);
    CHECK_LE(hot_seen, 16);
    uint32_t next[1024] = {0};
    int64_t len = weft_plist_len(cl, dl);
    CHECK_GE(len, 0);
    for (int64_t i = 0; i < len; i++) {
        ssize_t got = weft_plist_get_bytes(cl, i, &snap, dl);
        uint32_t id, seq;
        CHECK_GT(got, 0);
        if (!msg_check(snap.data, snap.len, &id, &seq) || id >= n)
            harness_fail(__FILE__, __LINE__, "torn or unknown list item %lld", (long long)i);
        CHECK_EQ(seq, next[id]); /* each writer's items in order, no gap, none twice */
        next[id]++;
    }
    for (uint32_t id = 0; id < n; id++) {
        uint32_t done = atomic_load(&sh->p[id].done);
        if (id == 0 && steady_runs) {
            CHECK(keys[0] >= before0 && keys[0] <= done + 1);
            CHECK(next[0] >= before0 && next[0] <= done + 1);
            continue;
        }
        CHECK(keys[id] == done || keys[id] == done + 1);
        CHECK(next[id] == done || next[id] == done + 1);
        CHECK_LE(next[id], keys[id]);
    }
    weft_bytes_free(&snap);
}

/* Writers of a named dict and list killed at random points (half at an
 * injected step of a change or of the repair, half at a random instant),
 * each replaced by the next while a steady writer goes on: after every
 * kill the dict and the list hold only whole values, each writer's work a
 * gapless prefix, whatever the dead one was doing. */
WEFT_TEST(dict_writer) {
    SKIP_UNLESS_ROBUST_FUTEX();
    SKIP_UNLESS_ROBUST_PSHARED_MUTEX();
    seed_rng();
    name_prefix("d");
    char dname[128], lname[128];
    snprintf(dname, sizeof dname, "%s-dict", prefix);
    snprintf(lname, sizeof lname, "%s-list", prefix);
    CHECK_OK(weft_pdict_create_named(&cd, dname, 64u << 20));
    CHECK_OK(weft_plist_create_named(&cl, lname, 64u << 20));
    int want = kills_wanted(), kills = 0, fault_kills = 0;
    if (want > 1000)
        want = 1000;
    shared_make((uint32_t)want + 2, 256);
    int64_t start = weft_now(), end = budget_end();
    child_id = 0;
    child_fault = 0;
    pid_t steady = test_fork_child(dict_writer_child, NULL);
    uint32_t id = 1;
    for (; kills < want && weft_now() < end; id++) {
        child_id = id;
        child_fault = rnd() % 2 ? 1 + (long)(rnd() % 400) : 0;
        pid_t w = test_fork_child(dict_writer_child, NULL);
        int killed = kill_child(w, child_fault);
        kills += killed;
        fault_kills += killed && child_fault;
        check_bad();
        dict_check(id + 1, true);
    }
    CHECK_EQ(kill(steady, SIGKILL), 0);
    reap_killed_or_ok(steady);
    dict_check(id, false);
    CHECK_EQ(atomic_load(&sh->bad), 0);
    CHECK_OK(weft_pdict_unlink(dname));
    CHECK_OK(weft_plist_unlink(lname));
    CHECK_OK(weft_pdict_close(cd));
    CHECK_OK(weft_plist_close(cl));
    CHECK_EQ(shm_leftovers(), 0);
    CHECK_NO_ZOMBIES();
    printf("chaos: dict writer: %d kills (%d at an injected step) in %.1f s\n", kills,
           fault_kills, (double)(weft_now() - start) / WEFT_SEC);
    CHECK_GE(kills, kills_minimum());
    shared_free();
}

WEFT_MAIN()
