/* Shared lists (weft_plist): values and Python's indexes, insert/pop/
 * delete anywhere, growth, out of space, across forked processes and a
 * process that opens it by name, concurrent appenders (processes and
 * threads) with exact final contents, a process killed at every step of a
 * change and at random instants.
 *
 * Every child is reaped and must exit 0 (or be the one killed). */
#include "harness.h"

#include "pdict/pbox.h" /* white-box: the arena, the fault countdown */

#include <stdint.h>
#include <time.h>

/* WEFT_TEST_TIMEOUT(killed_at_every_step, 120) */
/* WEFT_TEST_TIMEOUT(killed_at_random, 120) */

#define MB ((size_t)1 << 20)

static weft_plist *gl;

static void reap_ok(pid_t pid) {
    int st = test_reap(pid);
    if (st != 0)
        harness_fail(__FILE__, __LINE__, "child %d: exit %d (1000 + n: signal n)", (int)pid, st);
}

static void sleep_us(long us) {
    struct timespec ts = {us / 1000000, (us % 1000000) * 1000};
    while (nanosleep(&ts, &ts) < 0 && errno == EINTR) {
    }
}

static int64_t used_of(weft_plist *l) {
    weft__pbox *b = (weft__pbox *)(void *)l;
    return weft_shm_arena_used((weft_shm_arena *)(void *)((char *)b + b->arena_off));
}

static void app(weft_plist *l, const char *s) {
    CHECK_OK(weft_plist_append(l, s, strlen(s), WEFT_NOWAIT));
}

/* The list must be exactly the words of `want` (space-separated). */
static void expect_list(weft_plist *l, const char *want) {
    char w[256], b[64];
    snprintf(w, sizeof w, "%s", want);
    int64_t n = 0;
    for (char *save, *t = strtok_r(w, " ", &save); t; t = strtok_r(NULL, " ", &save), n++) {
        ssize_t got = weft_plist_get(l, n, b, sizeof b, WEFT_NOWAIT);
        CHECK_EQ(got, (ssize_t)strlen(t));
        CHECK(memcmp(b, t, (size_t)got) == 0);
    }
    CHECK_EQ(weft_plist_len(l, WEFT_NOWAIT), n);
    CHECK_ERR(weft_plist_get(l, n, b, sizeof b, WEFT_NOWAIT), -ERANGE);
}

/* Item values derived from (id, seq). */
static size_t val_make(char *v, uint32_t id, uint32_t seq) {
    size_t len = 8 + (id * 7 + seq * 13) % 80;
    memcpy(v, &id, 4);
    memcpy(v + 4, &seq, 4);
    for (size_t j = 8; j < len; j++)
        v[j] = (char)(id * 31 + seq * 17 + j);
    return len;
}

static bool val_ok(const char *v, size_t len, uint32_t *id, uint32_t *seq) {
    char w[128];
    if (len < 8)
        return false;
    memcpy(id, v, 4);
    memcpy(seq, v + 4, 4);
    return val_make(w, *id, *seq) == len && memcmp(w, v, len) == 0;
}

/* ---------------------------------------------------------------- values */

WEFT_TEST(values) {
    SKIP_UNLESS_ROBUST_PSHARED_MUTEX();
    weft_plist *l;
    CHECK_OK(weft_plist_create(&l, MB));
    expect_list(l, "");
    char b[64];
    CHECK_ERR(weft_plist_get(l, 0, b, sizeof b, WEFT_NOWAIT), -ERANGE);
    CHECK_ERR(weft_plist_get(l, -1, b, sizeof b, WEFT_NOWAIT), -ERANGE);
    CHECK_ERR(weft_plist_pop(l, -1, b, sizeof b, WEFT_NOWAIT), -ERANGE);
    app(l, "a");
    app(l, "b");
    app(l, "c");
    expect_list(l, "a b c");
    /* Negative indexes count from the end. */
    CHECK_EQ(weft_plist_get(l, -1, b, sizeof b, WEFT_NOWAIT), 1);
    CHECK_EQ(b[0], 'c');
    CHECK_EQ(weft_plist_get(l, -3, b, sizeof b, WEFT_NOWAIT), 1);
    CHECK_EQ(b[0], 'a');
    CHECK_ERR(weft_plist_get(l, -4, b, sizeof b, WEFT_NOWAIT), -ERANGE);
    CHECK_ERR(weft_plist_get(l, INT64_MIN, b, sizeof b, WEFT_NOWAIT), -ERANGE);
    CHECK_ERR(weft_plist_get(l, INT64_MAX, b, sizeof b, WEFT_NOWAIT), -ERANGE);
    /* set. */
    CHECK_OK(weft_plist_set(l, 1, "B2", 2, WEFT_NOWAIT));
    CHECK_OK(weft_plist_set(l, -1, "C", 1, WEFT_NOWAIT));
    CHECK_ERR(weft_plist_set(l, 3, "x", 1, WEFT_NOWAIT), -ERANGE);
    expect_list(l, "a B2 C");
    /* insert as Python: before i, clamped at both ends. */
    CHECK_OK(weft_plist_insert(l, 0, "first", 5, WEFT_NOWAIT));
    CHECK_OK(weft_plist_insert(l, -1, "beforelast", 10, WEFT_NOWAIT));
    CHECK_OK(weft_plist_insert(l, 100, "end", 3, WEFT_NOWAIT));
    CHECK_OK(weft_plist_insert(l, -100, "start", 5, WEFT_NOWAIT));
    CHECK_OK(weft_plist_insert(l, 2, "mid", 3, WEFT_NOWAIT));
    expect_list(l, "start first mid a B2 beforelast C end");
    /* pop: the last by default, any index too; -EMSGSIZE leaves it. */
    CHECK_ERR(weft_plist_pop(l, -1, b, 1, WEFT_NOWAIT), -EMSGSIZE);
    CHECK_EQ(weft_plist_pop(l, -1, b, sizeof b, WEFT_NOWAIT), 3);
    CHECK(memcmp(b, "end", 3) == 0);
    CHECK_EQ(weft_plist_pop(l, 0, b, sizeof b, WEFT_NOWAIT), 5);
    CHECK(memcmp(b, "start", 5) == 0);
    CHECK_EQ(weft_plist_pop(l, 1, b, sizeof b, WEFT_NOWAIT), 3);
    CHECK(memcmp(b, "mid", 3) == 0);
    expect_list(l, "first a B2 beforelast C");
    /* delete. */
    CHECK_OK(weft_plist_delete(l, -2, WEFT_NOWAIT));
    CHECK_OK(weft_plist_delete(l, 0, WEFT_NOWAIT));
    CHECK_ERR(weft_plist_delete(l, 3, WEFT_NOWAIT), -ERANGE);
    expect_list(l, "a B2 C");
    /* Empty items, get_bytes. */
    CHECK_OK(weft_plist_append(l, NULL, 0, WEFT_NOWAIT));
    CHECK_EQ(weft_plist_get(l, 3, NULL, 0, WEFT_NOWAIT), 0);
    weft_bytes wb = WEFT_BYTES_INIT;
    CHECK_EQ(weft_plist_get_bytes(l, 1, &wb, WEFT_NOWAIT), 2);
    CHECK(wb.len == 2 && memcmp(wb.data, "B2", 2) == 0);
    CHECK_ERR(weft_plist_get_bytes(l, 9, &wb, WEFT_NOWAIT), -ERANGE);
    weft_bytes_free(&wb);
    /* clear gives every byte back. */
    CHECK_OK(weft_plist_clear(l, WEFT_NOWAIT));
    expect_list(l, "");
    CHECK_EQ(used_of(l), 0);
    app(l, "z");
    expect_list(l, "z");
    CHECK_OK(weft_plist_close(l));
}

WEFT_TEST(bad_input) {
    SKIP_UNLESS_ROBUST_PSHARED_MUTEX();
    weft_plist *l;
    char b[8];
    CHECK_ERR(weft_plist_create(NULL, MB), -EINVAL);
    CHECK_ERR(weft_plist_create(&l, 10), -EINVAL);
    CHECK_ERR(weft_plist_create_named(&l, NULL, MB), -EINVAL);
    CHECK_ERR(weft_plist_create_named(&l, "..", MB), -EINVAL);
    CHECK_OK(weft_plist_create(&l, MB));
    CHECK_ERR(weft_plist_append(NULL, "a", 1, WEFT_NOWAIT), -EINVAL);
    CHECK_ERR(weft_plist_append(l, NULL, 1, WEFT_NOWAIT), -EINVAL);
    CHECK_ERR(weft_plist_insert(l, 0, NULL, 1, WEFT_NOWAIT), -EINVAL);
    CHECK_ERR(weft_plist_set(l, 0, NULL, 1, WEFT_NOWAIT), -EINVAL);
    CHECK_ERR(weft_plist_get(l, 0, NULL, 1, WEFT_NOWAIT), -EINVAL);
    CHECK_ERR(weft_plist_get_bytes(l, 0, NULL, WEFT_NOWAIT), -EINVAL);
    CHECK_ERR(weft_plist_pop(NULL, 0, b, sizeof b, WEFT_NOWAIT), -EINVAL);
    CHECK_ERR(weft_plist_delete(NULL, 0, WEFT_NOWAIT), -EINVAL);
    CHECK_ERR(weft_plist_clear(NULL, WEFT_NOWAIT), -EINVAL);
    static char big[2 * MB];
    CHECK_ERR(weft_plist_append(l, big, sizeof big, WEFT_NOWAIT), -EMSGSIZE);
    CHECK_EQ(weft_plist_len(l, WEFT_NOWAIT), 0);
    CHECK_OK(weft_plist_close(l));
    CHECK_ERR(weft_plist_close(l), -EINVAL);
    CHECK_OK(weft_plist_close(NULL));
}

/* 30000 appends (the index doubles many times), inserts and deletes in
 * the middle, pops from the end: the order stays exact. */
WEFT_TEST(growth) {
    SKIP_UNLESS_ROBUST_PSHARED_MUTEX();
    weft_plist *l;
    CHECK_OK(weft_plist_create(&l, 16 * MB));
    char v[128], b[128];
    const uint32_t N = 30000;
    for (uint32_t i = 0; i < N; i++)
        CHECK_OK(weft_plist_append(l, v, val_make(v, 1, i), WEFT_NOWAIT));
    for (uint32_t i = 0; i < 100; i++) /* 100 inserts at 2i+1, between the first 100 */
        CHECK_OK(weft_plist_insert(l, 2 * i + 1, v, val_make(v, 2, i), WEFT_NOWAIT));
    CHECK_EQ(weft_plist_len(l, WEFT_NOWAIT), N + 100);
    for (uint32_t i = 0; i < N + 100; i++) {
        ssize_t n = weft_plist_get(l, i, b, sizeof b, WEFT_NOWAIT);
        uint32_t id, seq;
        CHECK(n > 0 && val_ok(b, (size_t)n, &id, &seq));
        if (i < 200 && i % 2 == 1) {
            CHECK_EQ(id, 2);
            CHECK_EQ(seq, i / 2);
        } else {
            CHECK_EQ(id, 1);
            CHECK_EQ(seq, i < 200 ? i / 2 : i - 100);
        }
    }
    for (uint32_t i = 0; i < 100; i++)
        CHECK_OK(weft_plist_delete(l, i + 1, WEFT_NOWAIT));
    for (uint32_t i = N; i-- > 0;) {
        ssize_t n = weft_plist_pop(l, -1, b, sizeof b, WEFT_NOWAIT);
        uint32_t id, seq;
        CHECK(n > 0 && val_ok(b, (size_t)n, &id, &seq));
        CHECK_EQ(id, 1);
        CHECK_EQ(seq, i);
    }
    CHECK_EQ(weft_plist_len(l, WEFT_NOWAIT), 0);
    CHECK_OK(weft_plist_close(l));
}

/* A small list fills: -ENOSPC changes nothing; pop from the end needs no
 * room; room comes back. */
WEFT_TEST(out_of_space) {
    SKIP_UNLESS_ROBUST_PSHARED_MUTEX();
    weft_plist *l;
    CHECK_OK(weft_plist_create(&l, 4096));
    char v[128], b[128];
    uint32_t n = 0;
    int r;
    while ((r = weft_plist_append(l, v, val_make(v, 3, n), WEFT_NOWAIT)) == 0)
        n++;
    CHECK_ERR(r, -ENOSPC);
    CHECK_GT(n, 10);
    CHECK_EQ(weft_plist_len(l, WEFT_NOWAIT), n);
    CHECK_ERR(weft_plist_insert(l, 0, v, val_make(v, 3, 999), WEFT_NOWAIT), -ENOSPC);
    for (uint32_t i = 0; i < n; i++) {
        ssize_t got = weft_plist_get(l, i, b, sizeof b, WEFT_NOWAIT);
        uint32_t id, seq;
        CHECK(got > 0 && val_ok(b, (size_t)got, &id, &seq));
        CHECK_EQ(seq, i);
    }
    CHECK_GT(weft_plist_pop(l, -1, b, sizeof b, WEFT_NOWAIT), 0);
    CHECK_OK(weft_plist_append(l, "x", 1, WEFT_NOWAIT));
    CHECK_OK(weft_plist_clear(l, WEFT_NOWAIT));
    CHECK_EQ(used_of(l), 0);
    CHECK_OK(weft_plist_close(l));
}

/* ---------------------------------------------------------------- processes */

#define AP_PROCS 3
#define AP_THREADS 2
#define AP_ITEMS 500

static void *ap_thread(void *arg) {
    uint32_t id = (uint32_t)(uintptr_t)arg;
    char v[128];
    for (uint32_t s = 0; s < AP_ITEMS; s++)
        CHECK_OK(weft_plist_append(gl, v, val_make(v, id, s), WEFT_FOREVER));
    return NULL;
}

static void ap_proc(void *arg) {
    uint32_t p = (uint32_t)(uintptr_t)arg;
    pthread_t t[AP_THREADS];
    for (uint32_t i = 0; i < AP_THREADS; i++)
        CHECK_EQ(pthread_create(&t[i], NULL, ap_thread, (void *)(uintptr_t)(p * AP_THREADS + i)),
                 0);
    for (uint32_t i = 0; i < AP_THREADS; i++)
        CHECK_EQ(pthread_join(t[i], NULL), 0);
}

/* Processes of several threads append at once: every item is there once,
 * whole, and each appender's items in its order. */
WEFT_TEST(concurrent_appenders) {
    SKIP_UNLESS_ROBUST_PSHARED_MUTEX();
    CHECK_OK(weft_plist_create(&gl, 8 * MB));
    pid_t c[AP_PROCS];
    for (uintptr_t p = 0; p < AP_PROCS; p++)
        c[p] = test_fork_child(ap_proc, (void *)p);
    for (int p = 0; p < AP_PROCS; p++)
        reap_ok(c[p]);
    const uint32_t ids = AP_PROCS * AP_THREADS;
    CHECK_EQ(weft_plist_len(gl, WEFT_NOWAIT), ids * AP_ITEMS);
    uint32_t next[AP_PROCS * AP_THREADS] = {0};
    char b[128];
    for (uint32_t i = 0; i < ids * AP_ITEMS; i++) {
        ssize_t n = weft_plist_get(gl, i, b, sizeof b, WEFT_NOWAIT);
        uint32_t id, seq;
        CHECK(n > 0 && val_ok(b, (size_t)n, &id, &seq));
        CHECK_LT(id, ids);
        CHECK_EQ(seq, next[id]);
        next[id]++;
    }
    CHECK_OK(weft_plist_close(gl));
    CHECK_NO_ZOMBIES();
}

static char lname[64];

/* A process that knows only the name. */
static void named_child(void *arg) {
    (void)arg;
    weft_plist *l;
    CHECK_OK(weft_plist_open(&l, lname, weft_after(5 * WEFT_SEC)));
    expect_list(l, "from parent");
    CHECK_OK(weft_plist_insert(l, 0, "child", 5, WEFT_FOREVER));
    CHECK_OK(weft_plist_close(l));
}

WEFT_TEST(named) {
    SKIP_UNLESS_ROBUST_PSHARED_MUTEX();
    snprintf(lname, sizeof lname, "weft_test_plist_%d", (int)getpid());
    weft_plist_unlink(lname);
    weft_plist *l, *l2;
    CHECK_OK(weft_plist_create_named(&l, lname, MB));
    CHECK_ERR(weft_plist_create_named(&l2, lname, MB), -EEXIST);
    weft_pdict *d;
    CHECK_ERR(weft_pdict_open(&d, lname, WEFT_NOWAIT), -EPROTOTYPE);
    app(l, "from");
    app(l, "parent");
    pid_t c = test_fork_child(named_child, NULL);
    reap_ok(c);
    expect_list(l, "child from parent");
    CHECK_OK(weft_plist_unlink(lname));
    CHECK_ERR(weft_plist_open(&l2, lname, WEFT_NOWAIT), -ENOENT);
    CHECK_ERR(weft_plist_unlink(lname), -ENOENT);
    app(l, "still");
    expect_list(l, "child from parent still");
    CHECK_OK(weft_plist_close(l));
    CHECK_NO_ZOMBIES();
}

/* ---------------------------------------------------------------- deaths */

static long fr_step;
static int fr_op;

enum { OP_APPEND, OP_APPEND_GROW, OP_INSERT, OP_SET, OP_POP_LAST, OP_POP_MID, OP_CLEAR, NOPS };

/* The list before each op: items (9, 0..n-1); OP_APPEND_GROW starts full
 * (8 of 8 slots). */
static uint32_t start_len(int op) {
    return op == OP_APPEND_GROW ? 8 : 5;
}

static void fault_child(void *arg) {
    (void)arg;
    char v[128];
    weft__pbox_fault(fr_step);
    switch (fr_op) {
    case OP_APPEND:
    case OP_APPEND_GROW:
        CHECK_OK(weft_plist_append(gl, v, val_make(v, 7, 0), WEFT_FOREVER));
        break;
    case OP_INSERT:
        CHECK_OK(weft_plist_insert(gl, 2, v, val_make(v, 7, 0), WEFT_FOREVER));
        break;
    case OP_SET:
        CHECK_OK(weft_plist_set(gl, 1, v, val_make(v, 7, 0), WEFT_FOREVER));
        break;
    case OP_POP_LAST:
        CHECK_GT(weft_plist_pop(gl, -1, v, sizeof v, WEFT_FOREVER), 0);
        break;
    case OP_POP_MID:
        CHECK_GT(weft_plist_pop(gl, 1, v, sizeof v, WEFT_FOREVER), 0);
        break;
    case OP_CLEAR:
        CHECK_OK(weft_plist_clear(gl, WEFT_FOREVER));
        break;
    }
    weft__pbox_fault(0);
}

static int fault_run(long step) {
    fr_step = step;
    pid_t p = test_fork_child(fault_child, NULL);
    int st = test_reap(p);
    if (st == 0)
        return 0;
    CHECK_EQ(st, 1000 + SIGKILL);
    return 1;
}

/* The list as (id, seq) pairs; n items. */
static uint32_t snapshot(uint32_t ids[16], uint32_t seqs[16]) {
    int64_t n = weft_plist_len(gl, WEFT_NOWAIT);
    CHECK(n >= 0 && n <= 16);
    char b[128];
    for (int64_t i = 0; i < n; i++) {
        ssize_t got = weft_plist_get(gl, i, b, sizeof b, WEFT_NOWAIT);
        CHECK(got > 0 && val_ok(b, (size_t)got, &ids[i], &seqs[i]));
    }
    return (uint32_t)n;
}

/* What the list is after op applied (applied = 1) or not, from the start. */
static uint32_t expected(int op, bool applied, uint32_t ids[16], uint32_t seqs[16]) {
    uint32_t n = start_len(op);
    for (uint32_t i = 0; i < n; i++)
        ids[i] = 9, seqs[i] = i;
    if (!applied)
        return n;
    switch (op) {
    case OP_APPEND:
    case OP_APPEND_GROW:
        ids[n] = 7, seqs[n] = 0;
        return n + 1;
    case OP_INSERT:
        memmove(ids + 3, ids + 2, (n - 2) * 4), memmove(seqs + 3, seqs + 2, (n - 2) * 4);
        ids[2] = 7, seqs[2] = 0;
        return n + 1;
    case OP_SET:
        ids[1] = 7, seqs[1] = 0;
        return n;
    case OP_POP_LAST:
        return n - 1;
    case OP_POP_MID:
        memmove(ids + 1, ids + 2, (n - 2) * 4), memmove(seqs + 1, seqs + 2, (n - 2) * 4);
        return n - 1;
    default:
        return 0;
    }
}

/* A process killed at every step of every kind of change (and a second
 * one killed inside the repair): the list is the one before or the one
 * after, with one commit point; it works on; no byte leaks (after popping
 * everything only the index is left). */
WEFT_TEST(killed_at_every_step) {
    SKIP_UNLESS_ROBUST_FUTEX();
    SKIP_UNLESS_ROBUST_PSHARED_MUTEX();
    int kills = 0;
    for (fr_op = 0; fr_op < NOPS; fr_op++) {
        long commit = 0;
        for (long step = 1;; step++) {
            int died = 0;
            for (long second = 0; second <= 3; second++) {
                CHECK_OK(weft_plist_create(&gl, 64 * 1024));
                char v[128];
                for (uint32_t i = 0; i < start_len(fr_op); i++)
                    CHECK_OK(weft_plist_append(gl, v, val_make(v, 9, i), WEFT_NOWAIT));
                died = fault_run(step);
                if (!died) {
                    CHECK_OK(weft_plist_close(gl));
                    break;
                }
                kills++;
                if (second) {
                    int keep = fr_op;
                    fr_op = OP_SET; /* the second one sets item 1 */
                    int d2 = fault_run(second);
                    fr_op = keep;
                    CHECK_EQ(d2, 1);
                }
                uint32_t ids[16], seqs[16], eids[16], eseqs[16];
                uint32_t n = snapshot(ids, seqs);
                uint32_t n0 = expected(fr_op, false, eids, eseqs);
                bool applied =
                    !(n == n0 && memcmp(ids, eids, n * 4) == 0 && memcmp(seqs, eseqs, n * 4) == 0);
                if (applied) {
                    uint32_t n1 = expected(fr_op, true, eids, eseqs);
                    CHECK_EQ(n, n1);
                    CHECK(memcmp(ids, eids, n * 4) == 0 && memcmp(seqs, eseqs, n * 4) == 0);
                    if (!commit)
                        commit = step;
                }
                CHECK_EQ(applied, commit != 0);
                /* It works on, without a leaked byte. */
                CHECK_OK(weft_plist_append(gl, "after", 5, WEFT_NOWAIT));
                char b[128];
                CHECK_EQ(weft_plist_get(gl, -1, b, sizeof b, WEFT_NOWAIT), 5);
                while (weft_plist_pop(gl, -1, b, sizeof b, WEFT_NOWAIT) > 0) {
                }
                CHECK_EQ(weft_plist_len(gl, WEFT_NOWAIT), 0);
                weft__pbox *bx = (weft__pbox *)(void *)gl;
                uint64_t *ix = weft__pbox_at(bx, bx->root, 24);
                CHECK(ix != NULL);
                CHECK_EQ(used_of(gl), (int64_t)(16 + 24 + 8 * ix[1] + 15) / 16 * 16);
                CHECK_OK(weft_plist_close(gl));
            }
            if (!died)
                break;
        }
        CHECK_GT(commit, 0);
    }
    printf("plist: killed at every step: %d kills\n", kills);
    CHECK_GE(kills, NOPS * 4);
    CHECK_NO_ZOMBIES();
}

/* Appenders and poppers killed at random instants: every item is whole, no
 * item appears twice, and each appender's surviving items keep its order. */
static void random_worker(void *arg) {
    uint32_t id = (uint32_t)(uintptr_t)arg;
    char v[128];
    for (uint32_t s = 0;; s++) {
        if (s % 3 == 2)
            weft_plist_pop(gl, (int64_t)(s % 7) - 3, v, sizeof v, WEFT_FOREVER);
        else
            CHECK_OK(weft_plist_append(gl, v, val_make(v, id, s), WEFT_FOREVER));
        if (weft_plist_len(gl, WEFT_FOREVER) > 200)
            weft_plist_delete(gl, 0, WEFT_FOREVER);
    }
}

static void check_whole(void) {
    weft_bytes wb = WEFT_BYTES_INIT;
    int64_t n = weft_plist_len(gl, weft_after(10 * WEFT_SEC));
    CHECK_GE(n, 0);
    for (int64_t i = 0; i < n; i++) {
        ssize_t got = weft_plist_get_bytes(gl, i, &wb, weft_after(10 * WEFT_SEC));
        if (got == -ERANGE) /* the survivor popped meanwhile */
            break;
        uint32_t id, seq;
        CHECK(got > 0 && val_ok(wb.data, wb.len, &id, &seq));
        CHECK_LT(id, 1024);
    }
    weft_bytes_free(&wb);
}

WEFT_TEST(killed_at_random) {
    SKIP_UNLESS_ROBUST_FUTEX();
    SKIP_UNLESS_ROBUST_PSHARED_MUTEX();
    const char *e = getenv("WEFT_CHAOS_KILLS");
    int want = e && atoi(e) > 0 ? atoi(e) : 60;
    if (want > 1000)
        want = 1000;
    CHECK_OK(weft_plist_create(&gl, 256 * 1024));
    pid_t steady = test_fork_child(random_worker, (void *)(uintptr_t)1000);
    uint64_t rng = (uint64_t)weft_now() | 1;
    for (int k = 0; k < want; k++) {
        pid_t p = test_fork_child(random_worker, (void *)(uintptr_t)k);
        rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
        sleep_us(200 + (long)(rng % 3000));
        CHECK_EQ(kill(p, SIGKILL), 0);
        CHECK_EQ(test_reap(p), 1000 + SIGKILL);
        check_whole();
    }
    CHECK_EQ(kill(steady, SIGKILL), 0);
    CHECK_EQ(test_reap(steady), 1000 + SIGKILL);
    /* Alone now: the whole list, each appender's items in its order, none
     * twice. */
    int64_t n = weft_plist_len(gl, weft_after(10 * WEFT_SEC));
    CHECK_GE(n, 0);
    static uint32_t last[1024];
    memset(last, 0xff, sizeof last);
    char b[128];
    for (int64_t i = 0; i < n; i++) {
        ssize_t got = weft_plist_get(gl, i, b, sizeof b, WEFT_NOWAIT);
        uint32_t id, seq;
        CHECK(got > 0 && val_ok(b, (size_t)got, &id, &seq));
        CHECK_LT(id, 1024);
        CHECK(last[id] == UINT32_MAX || seq > last[id]);
        last[id] = seq;
    }
    CHECK_OK(weft_plist_clear(gl, WEFT_NOWAIT));
    CHECK_EQ(used_of(gl), 0);
    CHECK_OK(weft_plist_close(gl));
    printf("plist: %d random kills, %lld items checked\n", want, (long long)n);
    CHECK_NO_ZOMBIES();
}

WEFT_MAIN()
