/* Shared dicts (weft_pdict): values, replace/add/cas/pop, snapshots,
 * growth, out of space, across forked processes and an exec'd process that
 * only knows the name, concurrent writers (processes and threads) with
 * exact final contents, a process killed at every step of a change and at
 * random instants, a coroutine that parks only itself while another process
 * holds the lock.
 *
 * Every child is reaped and must exit 0 (or be the one killed). */
#include "harness.h"

#include "pdict/pbox.h" /* white-box: the lock, the arena, the fault countdown */

#include <stdint.h>
#include <time.h>

/* WEFT_TEST_TIMEOUT(killed_at_every_step, 120) */
/* WEFT_TEST_TIMEOUT(killed_at_random, 120) */
/* WEFT_TEST_TIMEOUT(concurrent_writers, 120) */

#define MB ((size_t)1 << 20)

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

static void put_s(weft_pdict *d, const char *k, const char *v) {
    CHECK_OK(weft_pdict_set(d, k, strlen(k), v, strlen(v), WEFT_NOWAIT));
}

/* d[k] must be v (NULL: absent). */
static void expect_s(weft_pdict *d, const char *k, const char *v) {
    char b[256];
    ssize_t n = weft_pdict_get(d, k, strlen(k), b, sizeof b, WEFT_NOWAIT);
    if (!v) {
        CHECK_ERR(n, -ENOENT);
        CHECK_EQ(weft_pdict_contains(d, k, strlen(k), WEFT_NOWAIT), 0);
        return;
    }
    CHECK_EQ(n, (ssize_t)strlen(v));
    CHECK(memcmp(b, v, (size_t)n) == 0);
    CHECK_EQ(weft_pdict_contains(d, k, strlen(k), WEFT_NOWAIT), 1);
}

/* The arena bytes in use (white-box). */
static int64_t used_of(weft_pdict *d) {
    weft__pbox *b = (weft__pbox *)(void *)d;
    return weft_shm_arena_used((weft_shm_arena *)(void *)((char *)b + b->arena_off));
}

/* Keys "k<i>" with values derived from (i, gen): gen 0 .. 255. */
static size_t val_make(char *v, uint32_t i, uint32_t gen) {
    size_t len = 4 + (i * 7 + gen * 13) % 90;
    memcpy(v, &i, 4);
    for (size_t j = 4; j < len; j++)
        v[j] = (char)(i * 31 + gen * 17 + j);
    return len;
}

/* The generation of value v for key i, or -1 if it is no value of i's. */
static int val_gen(const char *v, size_t len, uint32_t i) {
    char w[128];
    for (uint32_t g = 0; g < 256; g++)
        if (val_make(w, i, g) == len && memcmp(w, v, len) == 0)
            return (int)g;
    return -1;
}

static size_t key_make(char *k, uint32_t i) {
    return (size_t)snprintf(k, 32, "k%u", i);
}

/* ---------------------------------------------------------------- values */

WEFT_TEST(values) {
    SKIP_UNLESS_ROBUST_PSHARED_MUTEX();
    weft_pdict *d;
    CHECK_OK(weft_pdict_create(&d, MB));
    CHECK_EQ(weft_pdict_len(d, WEFT_NOWAIT), 0);
    expect_s(d, "a", NULL);
    put_s(d, "a", "1");
    put_s(d, "b", "two");
    expect_s(d, "a", "1");
    expect_s(d, "b", "two");
    CHECK_EQ(weft_pdict_len(d, WEFT_NOWAIT), 2);
    put_s(d, "a", "one, longer now");
    expect_s(d, "a", "one, longer now");
    CHECK_EQ(weft_pdict_len(d, WEFT_NOWAIT), 2);
    /* Empty key and empty value are ordinary. */
    CHECK_OK(weft_pdict_set(d, NULL, 0, NULL, 0, WEFT_NOWAIT));
    CHECK_EQ(weft_pdict_get(d, "", 0, NULL, 0, WEFT_NOWAIT), 0);
    CHECK_EQ(weft_pdict_len(d, WEFT_NOWAIT), 3);
    /* Keys are bytes: embedded NULs, and a prefix is another key. */
    CHECK_OK(weft_pdict_set(d, "x\0y", 3, "nul", 3, WEFT_NOWAIT));
    CHECK_ERR(weft_pdict_get(d, "x", 1, NULL, 0, WEFT_NOWAIT), -ENOENT);
    char b[64];
    CHECK_EQ(weft_pdict_get(d, "x\0y", 3, b, sizeof b, WEFT_NOWAIT), 3);
    /* Too small a buffer: -EMSGSIZE, nothing copied; get_bytes grows. */
    memset(b, 'Z', sizeof b);
    CHECK_ERR(weft_pdict_get(d, "b", 1, b, 2, WEFT_NOWAIT), -EMSGSIZE);
    CHECK_EQ(b[0], 'Z');
    weft_bytes wb = WEFT_BYTES_INIT;
    CHECK_EQ(weft_pdict_get_bytes(d, "a", 1, &wb, WEFT_NOWAIT), 15);
    CHECK_EQ(wb.len, 15);
    CHECK(memcmp(wb.data, "one, longer now", 15) == 0);
    CHECK_ERR(weft_pdict_get_bytes(d, "nope", 4, &wb, WEFT_NOWAIT), -ENOENT);
    /* add: only if absent. */
    CHECK_ERR(weft_pdict_add(d, "b", 1, "x", 1, WEFT_NOWAIT), -EEXIST);
    expect_s(d, "b", "two");
    CHECK_OK(weft_pdict_add(d, "c", 1, "3", 1, WEFT_NOWAIT));
    expect_s(d, "c", "3");
    /* cas: only if equal. */
    CHECK_ERR(weft_pdict_cas(d, "c", 1, "4", 1, "5", 1, WEFT_NOWAIT), -EAGAIN);
    CHECK_ERR(weft_pdict_cas(d, "c", 1, "33", 2, "5", 1, WEFT_NOWAIT), -EAGAIN);
    CHECK_ERR(weft_pdict_cas(d, "zz", 2, "3", 1, "5", 1, WEFT_NOWAIT), -ENOENT);
    CHECK_OK(weft_pdict_cas(d, "c", 1, "3", 1, "5", 1, WEFT_NOWAIT));
    expect_s(d, "c", "5");
    /* pop: value out, entry gone; -EMSGSIZE leaves it. */
    CHECK_ERR(weft_pdict_pop(d, "b", 1, b, 1, WEFT_NOWAIT), -EMSGSIZE);
    expect_s(d, "b", "two");
    CHECK_EQ(weft_pdict_pop(d, "b", 1, b, sizeof b, WEFT_NOWAIT), 3);
    CHECK(memcmp(b, "two", 3) == 0);
    expect_s(d, "b", NULL);
    CHECK_ERR(weft_pdict_pop(d, "b", 1, b, sizeof b, WEFT_NOWAIT), -ENOENT);
    /* delete. */
    CHECK_OK(weft_pdict_delete(d, "c", 1, WEFT_NOWAIT));
    CHECK_ERR(weft_pdict_delete(d, "c", 1, WEFT_NOWAIT), -ENOENT);
    expect_s(d, "c", NULL);
    CHECK_EQ(weft_pdict_len(d, WEFT_NOWAIT), 3); /* a, "", x\0y */
    /* items: a snapshot of exactly what is there. */
    CHECK_EQ(weft_pdict_items(d, &wb, WEFT_NOWAIT), 3);
    size_t pos = 0, kl, vl;
    const void *k, *v;
    int seen = 0;
    while (weft_pdict_item_next(&wb, &pos, &k, &kl, &v, &vl) == 1) {
        if (kl == 1 && memcmp(k, "a", 1) == 0) {
            CHECK(vl == 15 && memcmp(v, "one, longer now", 15) == 0);
            seen |= 1;
        } else if (kl == 0) {
            CHECK_EQ(vl, 0);
            seen |= 2;
        } else {
            CHECK(kl == 3 && memcmp(k, "x\0y", 3) == 0);
            CHECK(vl == 3 && memcmp(v, "nul", 3) == 0);
            seen |= 4;
        }
    }
    CHECK_EQ(seen, 7);
    CHECK_EQ(pos, wb.len);
    CHECK_EQ(weft_pdict_item_next(&wb, &pos, &k, &kl, &v, &vl), 0);
    /* A snapshot does not change with the dict. */
    put_s(d, "later", "x");
    pos = 0;
    int n = 0;
    while (weft_pdict_item_next(&wb, &pos, &k, &kl, &v, &vl) == 1)
        n++;
    CHECK_EQ(n, 3);
    /* A malformed snapshot or position. */
    pos = 1;
    CHECK_ERR(weft_pdict_item_next(&wb, &pos, &k, &kl, &v, &vl), -EPROTO);
    pos = wb.len + 1;
    CHECK_ERR(weft_pdict_item_next(&wb, &pos, &k, &kl, &v, &vl), -EINVAL);
    /* clear: empty, usable, and every byte back. */
    CHECK_OK(weft_pdict_clear(d, WEFT_NOWAIT));
    CHECK_EQ(weft_pdict_len(d, WEFT_NOWAIT), 0);
    CHECK_EQ(used_of(d), 0);
    CHECK_EQ(weft_pdict_items(d, &wb, WEFT_NOWAIT), 0);
    CHECK_EQ(wb.len, 0);
    expect_s(d, "a", NULL);
    put_s(d, "a", "again");
    expect_s(d, "a", "again");
    CHECK_OK(weft_pdict_clear(d, WEFT_NOWAIT));
    CHECK_OK(weft_pdict_clear(d, WEFT_NOWAIT));
    weft_bytes_free(&wb);
    CHECK_OK(weft_pdict_close(d));
}

WEFT_TEST(bad_input) {
    SKIP_UNLESS_ROBUST_PSHARED_MUTEX();
    weft_pdict *d;
    char b[8];
    CHECK_ERR(weft_pdict_create(NULL, MB), -EINVAL);
    CHECK_ERR(weft_pdict_create(&d, 0), -EINVAL);
    CHECK_ERR(weft_pdict_create(&d, 63), -EINVAL);
    CHECK_ERR(weft_pdict_create(&d, WEFT__MAX_BYTES + 1), -EINVAL);
    CHECK_ERR(weft_pdict_create_named(&d, NULL, MB), -EINVAL);
    CHECK_ERR(weft_pdict_create_named(&d, "a/b", MB), -EINVAL);
    CHECK_ERR(weft_pdict_open(&d, "weft_test_pdict_never_made", WEFT_NOWAIT), -ENOENT);
    CHECK_OK(weft_pdict_create(&d, MB));
    CHECK_ERR(weft_pdict_set(NULL, "a", 1, "b", 1, WEFT_NOWAIT), -EINVAL);
    CHECK_ERR(weft_pdict_set(d, NULL, 1, "b", 1, WEFT_NOWAIT), -EINVAL);
    CHECK_ERR(weft_pdict_set(d, "a", 1, NULL, 1, WEFT_NOWAIT), -EINVAL);
    CHECK_ERR(weft_pdict_get(d, "a", 1, NULL, 1, WEFT_NOWAIT), -EINVAL);
    CHECK_ERR(weft_pdict_get_bytes(d, "a", 1, NULL, WEFT_NOWAIT), -EINVAL);
    CHECK_ERR(weft_pdict_cas(d, "a", 1, NULL, 1, "b", 1, WEFT_NOWAIT), -EINVAL);
    CHECK_ERR(weft_pdict_items(d, NULL, WEFT_NOWAIT), -EINVAL);
    CHECK_ERR(weft_pdict_len(NULL, WEFT_NOWAIT), -EINVAL);
    CHECK_ERR(weft_pdict_clear(NULL, WEFT_NOWAIT), -EINVAL);
    CHECK_ERR(weft_pdict_delete(NULL, "a", 1, WEFT_NOWAIT), -EINVAL);
    CHECK_ERR(weft_pdict_contains(NULL, "a", 1, WEFT_NOWAIT), -EINVAL);
    /* A list is not a dict, nor the other way round. */
    weft_plist *l;
    CHECK_OK(weft_plist_create(&l, MB));
    CHECK_ERR(weft_pdict_set((weft_pdict *)(void *)l, "a", 1, "b", 1, WEFT_NOWAIT), -EINVAL);
    CHECK_ERR(weft_pdict_close((weft_pdict *)(void *)l), -EINVAL);
    CHECK_ERR(weft_plist_len((weft_plist *)(void *)d, WEFT_NOWAIT), -EINVAL);
    CHECK_OK(weft_plist_close(l));
    /* Nothing of the bad calls landed. */
    CHECK_EQ(weft_pdict_len(d, WEFT_NOWAIT), 0);
    CHECK_ERR(weft_pdict_get(d, "a", 1, b, sizeof b, WEFT_NOWAIT), -ENOENT);
    CHECK_OK(weft_pdict_close(d));
    CHECK_OK(weft_pdict_close(NULL));
}

/* Thousands of keys: the table grows (and drops tombstones), every value
 * stays right. */
WEFT_TEST(growth) {
    SKIP_UNLESS_ROBUST_PSHARED_MUTEX();
    weft_pdict *d;
    CHECK_OK(weft_pdict_create(&d, 16 * MB));
    char k[32], v[128], b[128];
    const uint32_t N = 20000;
    for (uint32_t i = 0; i < N; i++)
        CHECK_OK(weft_pdict_set(d, k, key_make(k, i), v, val_make(v, i, 0), WEFT_NOWAIT));
    CHECK_EQ(weft_pdict_len(d, WEFT_NOWAIT), N);
    for (uint32_t i = 0; i < N; i += 2)
        CHECK_OK(weft_pdict_delete(d, k, key_make(k, i), WEFT_NOWAIT));
    CHECK_EQ(weft_pdict_len(d, WEFT_NOWAIT), N / 2);
    for (int round = 1; round <= 3; round++)
        for (uint32_t i = 0; i < N; i++) {
            size_t kl = key_make(k, i);
            if (i % 2 == 0 && round == 3) {
                CHECK_OK(weft_pdict_delete(d, k, kl, WEFT_NOWAIT));
                continue;
            }
            CHECK_OK(weft_pdict_set(d, k, kl, v, val_make(v, i, (uint32_t)round), WEFT_NOWAIT));
        }
    CHECK_EQ(weft_pdict_len(d, WEFT_NOWAIT), N / 2);
    for (uint32_t i = 0; i < N; i++) {
        ssize_t n = weft_pdict_get(d, k, key_make(k, i), b, sizeof b, WEFT_NOWAIT);
        if (i % 2 == 0) {
            CHECK_ERR(n, -ENOENT);
        } else {
            CHECK_GT(n, 0);
            CHECK_EQ(val_gen(b, (size_t)n, i), 3);
        }
    }
    weft_bytes wb = WEFT_BYTES_INIT;
    CHECK_EQ(weft_pdict_items(d, &wb, WEFT_NOWAIT), N / 2);
    size_t pos = 0, kl, vl;
    const void *kp, *vp;
    uint32_t cnt = 0;
    while (weft_pdict_item_next(&wb, &pos, &kp, &kl, &vp, &vl) == 1) {
        uint32_t i;
        memcpy(&i, vp, 4);
        CHECK_EQ(i % 2, 1);
        CHECK_EQ(kl, key_make(k, i));
        CHECK(memcmp(kp, k, kl) == 0);
        CHECK_EQ(val_gen(vp, vl, i), 3);
        cnt++;
    }
    CHECK_EQ(cnt, N / 2);
    weft_bytes_free(&wb);
    CHECK_OK(weft_pdict_close(d));
}

/* A small dict fills up: -ENOSPC changes nothing, -EMSGSIZE for what could
 * never fit, room comes back with deletes, and all of it after clear. */
WEFT_TEST(out_of_space) {
    SKIP_UNLESS_ROBUST_PSHARED_MUTEX();
    weft_pdict *d;
    CHECK_OK(weft_pdict_create(&d, 4096));
    char k[32], v[128];
    static char big[8192];
    CHECK_ERR(weft_pdict_set(d, "big", 3, big, sizeof big, WEFT_NOWAIT), -EMSGSIZE);
    CHECK_ERR(weft_pdict_set(d, big, 4096, NULL, 0, WEFT_NOWAIT), -EMSGSIZE);
    uint32_t n = 0;
    int r;
    while ((r = weft_pdict_set(d, k, key_make(k, n), v, val_make(v, n, 0), WEFT_NOWAIT)) == 0)
        n++;
    CHECK_ERR(r, -ENOSPC);
    CHECK_GT(n, 10);
    CHECK_EQ(weft_pdict_len(d, WEFT_NOWAIT), n);
    CHECK_ERR(weft_pdict_add(d, "new", 3, "x", 1, WEFT_NOWAIT), -ENOSPC);
    CHECK_EQ(weft_pdict_contains(d, "new", 3, WEFT_NOWAIT), 0);
    /* Every entry is still whole. */
    char b[128];
    for (uint32_t i = 0; i < n; i++) {
        ssize_t got = weft_pdict_get(d, k, key_make(k, i), b, sizeof b, WEFT_NOWAIT);
        CHECK_GT(got, 0);
        CHECK_EQ(val_gen(b, (size_t)got, i), 0);
    }
    /* Deleting makes room. */
    for (uint32_t i = 0; i < 4; i++)
        CHECK_OK(weft_pdict_delete(d, k, key_make(k, i), WEFT_NOWAIT));
    CHECK_OK(weft_pdict_set(d, "new", 3, "x", 1, WEFT_NOWAIT));
    CHECK_OK(weft_pdict_clear(d, WEFT_NOWAIT));
    CHECK_EQ(used_of(d), 0);
    uint32_t m = 0;
    while (weft_pdict_set(d, k, key_make(k, m), v, val_make(v, m, 0), WEFT_NOWAIT) == 0)
        m++;
    CHECK_EQ(m, n);
    CHECK_OK(weft_pdict_close(d));
}

/* ---------------------------------------------------------------- processes */

static weft_pdict *gd;

static void fork_writer(void *arg) {
    uint32_t id = (uint32_t)(uintptr_t)arg;
    char k[32], v[128];
    for (uint32_t i = id * 1000; i < id * 1000 + 500; i++)
        CHECK_OK(weft_pdict_set(gd, k, key_make(k, i), v, val_make(v, i, id), WEFT_FOREVER));
}

/* Children forked after create see the dict and write into it. */
WEFT_TEST(across_fork) {
    SKIP_UNLESS_ROBUST_PSHARED_MUTEX();
    CHECK_OK(weft_pdict_create(&gd, 4 * MB));
    put_s(gd, "parent", "p");
    pid_t c[3];
    for (uintptr_t i = 0; i < 3; i++)
        c[i] = test_fork_child(fork_writer, (void *)(i + 1));
    for (int i = 0; i < 3; i++)
        reap_ok(c[i]);
    CHECK_EQ(weft_pdict_len(gd, WEFT_NOWAIT), 1 + 3 * 500);
    char k[32], b[128];
    for (uint32_t id = 1; id <= 3; id++)
        for (uint32_t i = id * 1000; i < id * 1000 + 500; i++) {
            ssize_t n = weft_pdict_get(gd, k, key_make(k, i), b, sizeof b, WEFT_NOWAIT);
            CHECK_GT(n, 0);
            CHECK_EQ(val_gen(b, (size_t)n, i), (int)id);
        }
    expect_s(gd, "parent", "p");
    CHECK_OK(weft_pdict_close(gd));
    CHECK_NO_ZOMBIES();
}

/* Unrelated processes: a named dict, opened by an exec'd copy of this
 * program that is given only the name (in the environment). It reads what
 * the creator wrote, increments a counter and writes its own key. */
WEFT_TEST(named_exec_peer) {
    SKIP_UNLESS_EXEC_SELF();
    SKIP_UNLESS_ROBUST_PSHARED_MUTEX();
    const char *peer = getenv("WEFT_TEST_PDICT_NAME");
    if (peer) {
        weft_pdict *d;
        CHECK_OK(weft_pdict_open(&d, peer, weft_after(5 * WEFT_SEC)));
        /* The other peer may hold the dict's lock: wait for it (a NOWAIT
         * read failed with -ETIMEDOUT under TSan). */
        char g[16];
        CHECK_EQ(weft_pdict_get(d, "greeting", 8, g, sizeof g, weft_after(10 * WEFT_SEC)), 5);
        CHECK(memcmp(g, "hello", 5) == 0);
        for (;;) {
            uint64_t c, n;
            CHECK_EQ(weft_pdict_get(d, "count", 5, &c, sizeof c, WEFT_FOREVER), 8);
            n = c + 1;
            int r = weft_pdict_cas(d, "count", 5, &c, 8, &n, 8, WEFT_FOREVER);
            if (r == 0)
                break;
            CHECK_ERR(r, -EAGAIN);
        }
        CHECK_OK(weft_pdict_set(d, "peer", 4, "was here", 8, weft_after(10 * WEFT_SEC)));
        CHECK_OK(weft_pdict_close(d));
        return;
    }
    char name[64];
    snprintf(name, sizeof name, "weft_test_pdict_%d", (int)getpid());
    weft_pdict_unlink(name);
    weft_pdict *d, *d2;
    CHECK_OK(weft_pdict_create_named(&d, name, MB));
    CHECK_ERR(weft_pdict_create_named(&d2, name, MB), -EEXIST);
    weft_plist *l;
    CHECK_ERR(weft_plist_open(&l, name, WEFT_NOWAIT), -EPROTOTYPE);
    put_s(d, "greeting", "hello");
    uint64_t zero = 0;
    CHECK_OK(weft_pdict_set(d, "count", 5, &zero, 8, WEFT_NOWAIT));
    fflush(NULL);
    pid_t c[2];
    for (int i = 0; i < 2; i++) {
        c[i] = fork();
        CHECK_GE(c[i], 0);
        if (c[i] == 0) {
            setenv("WEFT_TEST_PDICT_NAME", name, 1);
            execl("/proc/self/exe", "test_pdict", "named_exec_peer", (char *)NULL);
            _exit(127);
        }
    }
    for (int i = 0; i < 2; i++)
        reap_ok(c[i]);
    uint64_t cnt;
    CHECK_EQ(weft_pdict_get(d, "count", 5, &cnt, sizeof cnt, WEFT_NOWAIT), 8);
    CHECK_EQ(cnt, 2);
    expect_s(d, "peer", "was here");
    /* A second handle in the same process, and the name removed. */
    CHECK_OK(weft_pdict_open(&d2, name, WEFT_NOWAIT));
    expect_s(d2, "greeting", "hello");
    CHECK_OK(weft_pdict_close(d2));
    CHECK_OK(weft_pdict_unlink(name));
    CHECK_ERR(weft_pdict_open(&d2, name, WEFT_NOWAIT), -ENOENT);
    CHECK_ERR(weft_pdict_unlink(name), -ENOENT);
    put_s(d, "after", "unlink");
    expect_s(d, "after", "unlink");
    CHECK_OK(weft_pdict_close(d));
    CHECK_ERR(weft_pdict_close(d), -EINVAL);
    CHECK_NO_ZOMBIES();
}

/* Three processes of two threads each: every thread writes its own 400
 * keys (each twice, the second value winning), deletes every fourth, and
 * increments one shared counter 200 times with cas. The final contents
 * are exact. */
#define CW_PROCS 3
#define CW_THREADS 2
#define CW_KEYS 400
#define CW_INCS 200

static void *cw_thread(void *arg) {
    uint32_t id = (uint32_t)(uintptr_t)arg;
    char k[32], v[128];
    for (uint32_t j = 0; j < CW_KEYS; j++) {
        uint32_t i = id * 10000 + j;
        CHECK_OK(weft_pdict_set(gd, k, key_make(k, i), v, val_make(v, i, 1), WEFT_FOREVER));
        CHECK_OK(weft_pdict_set(gd, k, key_make(k, i), v, val_make(v, i, 2), WEFT_FOREVER));
        if (j % 4 == 0)
            CHECK_OK(weft_pdict_delete(gd, k, key_make(k, i), WEFT_FOREVER));
        if (j < CW_INCS)
            for (;;) {
                uint64_t c, n;
                CHECK_EQ(weft_pdict_get(gd, "n", 1, &c, sizeof c, WEFT_FOREVER), 8);
                n = c + 1;
                int r = weft_pdict_cas(gd, "n", 1, &c, 8, &n, 8, WEFT_FOREVER);
                if (r == 0)
                    break;
                CHECK_ERR(r, -EAGAIN);
            }
    }
    return NULL;
}

static void cw_proc(void *arg) {
    uint32_t p = (uint32_t)(uintptr_t)arg;
    pthread_t t[CW_THREADS];
    for (uint32_t i = 0; i < CW_THREADS; i++)
        CHECK_EQ(
            pthread_create(&t[i], NULL, cw_thread, (void *)(uintptr_t)(p * CW_THREADS + i + 1)), 0);
    for (uint32_t i = 0; i < CW_THREADS; i++)
        CHECK_EQ(pthread_join(t[i], NULL), 0);
}

WEFT_TEST(concurrent_writers) {
    SKIP_UNLESS_ROBUST_PSHARED_MUTEX();
    CHECK_OK(weft_pdict_create(&gd, 8 * MB));
    uint64_t zero = 0;
    CHECK_OK(weft_pdict_set(gd, "n", 1, &zero, 8, WEFT_NOWAIT));
    pid_t c[CW_PROCS];
    for (uintptr_t p = 0; p < CW_PROCS; p++)
        c[p] = test_fork_child(cw_proc, (void *)p);
    for (int p = 0; p < CW_PROCS; p++)
        reap_ok(c[p]);
    uint32_t ids = CW_PROCS * CW_THREADS;
    CHECK_EQ(weft_pdict_len(gd, WEFT_NOWAIT), 1 + ids * (CW_KEYS - CW_KEYS / 4));
    uint64_t n;
    CHECK_EQ(weft_pdict_get(gd, "n", 1, &n, sizeof n, WEFT_NOWAIT), 8);
    CHECK_EQ(n, (uint64_t)ids * CW_INCS);
    char k[32], b[128];
    for (uint32_t id = 1; id <= ids; id++)
        for (uint32_t j = 0; j < CW_KEYS; j++) {
            uint32_t i = id * 10000 + j;
            ssize_t got = weft_pdict_get(gd, k, key_make(k, i), b, sizeof b, WEFT_NOWAIT);
            if (j % 4 == 0) {
                CHECK_ERR(got, -ENOENT);
            } else {
                CHECK_GT(got, 0);
                CHECK_EQ(val_gen(b, (size_t)got, i), 2);
            }
        }
    CHECK_OK(weft_pdict_close(gd));
    CHECK_NO_ZOMBIES();
}

/* ---------------------------------------------------------------- deaths */

/* In a child: arms the fault countdown at `step`, runs op on gd. */
static long fr_step;
static int fr_op;

static void fault_child(void *arg) {
    (void)arg;
    char k[32], v[128];
    weft__pbox_fault(fr_step);
    switch (fr_op) {
    case 0: /* replace key 0 */
        CHECK_OK(weft_pdict_set(gd, k, key_make(k, 0), v, val_make(v, 0, 9), WEFT_FOREVER));
        break;
    case 1: /* insert key 7: the table grows */
        CHECK_OK(weft_pdict_set(gd, k, key_make(k, 7), v, val_make(v, 7, 9), WEFT_FOREVER));
        break;
    case 2: /* delete key 1 */
        CHECK_OK(weft_pdict_delete(gd, k, key_make(k, 1), WEFT_FOREVER));
        break;
    case 3: /* pop key 2 */
        CHECK_GT(weft_pdict_pop(gd, k, key_make(k, 2), v, sizeof v, WEFT_FOREVER), 0);
        break;
    case 4: /* clear */
        CHECK_OK(weft_pdict_clear(gd, WEFT_FOREVER));
        break;
    }
    weft__pbox_fault(0);
}

/* Runs op in a child dying at `step` (and a second child dying at step
 * `second` of its own call, inside the repair): 1 if it died. */
static int fault_run(long step) {
    fr_step = step;
    pid_t p = test_fork_child(fault_child, NULL);
    int st = test_reap(p);
    if (st == 0)
        return 0;
    CHECK_EQ(st, 1000 + SIGKILL);
    return 1;
}

/* The state: for keys 0..7, the generation of the value (-1: absent). */
static void state_of(int gen[8]) {
    char k[32], b[128];
    for (uint32_t i = 0; i < 8; i++) {
        ssize_t n = weft_pdict_get(gd, k, key_make(k, i), b, sizeof b, WEFT_NOWAIT);
        if (n == -ENOENT) {
            gen[i] = -1;
            continue;
        }
        CHECK_GT(n, 0);
        gen[i] = val_gen(b, (size_t)n, i);
        CHECK_GE(gen[i], 0);
    }
}

/* A process killed at every step of every kind of change (and, for each, a
 * second one killed in the first steps of the repair): the change is there
 * whole or not at all, with one commit point, len agrees, and no byte of
 * the arena leaks (after deleting everything, only the table is left). */
WEFT_TEST(killed_at_every_step) {
    SKIP_UNLESS_ROBUST_FUTEX();
    SKIP_UNLESS_ROBUST_PSHARED_MUTEX();
    int kills = 0;
    for (fr_op = 0; fr_op < 5; fr_op++) {
        long commit = 0;
        for (long step = 1;; step++) {
            int died = 0;
            for (long second = 0; second <= 3; second++) {
                CHECK_OK(weft_pdict_create(&gd, 64 * 1024));
                char k[32], v[128];
                for (uint32_t i = 0; i < 6; i++) /* 6 of 8 buckets' 3/4: key 7 grows */
                    CHECK_OK(
                        weft_pdict_set(gd, k, key_make(k, i), v, val_make(v, i, 0), WEFT_NOWAIT));
                died = fault_run(step);
                if (!died) {
                    CHECK_OK(weft_pdict_close(gd));
                    break;
                }
                kills++;
                if (second) {
                    int keep = fr_op;
                    fr_op = 1; /* the second one inserts key 7 */
                    int d2 = fault_run(second);
                    fr_op = keep;
                    CHECK_EQ(d2, 1);
                }
                int gen[8];
                state_of(gen);
                /* Applied or not, as a whole. */
                bool applied;
                switch (fr_op) {
                case 0:
                    applied = gen[0] == 9;
                    CHECK(gen[0] == 0 || gen[0] == 9);
                    break;
                case 1:
                    applied = gen[7] == 9;
                    break;
                case 2:
                    applied = gen[1] == -1;
                    break;
                case 3:
                    applied = gen[2] == -1;
                    break;
                default:
                    applied = gen[0] == -1;
                    break;
                }
                if (applied && !commit)
                    commit = step;
                CHECK_EQ(applied, commit != 0);
                int64_t count = 0;
                for (uint32_t i = 0; i < 8; i++) {
                    bool changed = (fr_op == 0 && i == 0) || (fr_op == 1 && i == 7) ||
                                   (fr_op == 2 && i == 1) || (fr_op == 3 && i == 2) || fr_op == 4;
                    if (!changed || !applied)
                        CHECK_EQ(gen[i], i < 6 ? 0 : -1);
                    count += gen[i] >= 0;
                }
                CHECK_EQ(weft_pdict_len(gd, WEFT_NOWAIT), count);
                /* And it works on, without a leaked byte. */
                put_s(gd, "after", "x");
                expect_s(gd, "after", "x");
                CHECK_OK(weft_pdict_delete(gd, "after", 5, WEFT_NOWAIT));
                for (uint32_t i = 0; i < 8; i++)
                    weft_pdict_delete(gd, k, key_make(k, i), WEFT_NOWAIT);
                CHECK_EQ(weft_pdict_len(gd, WEFT_NOWAIT), 0);
                weft__pbox *b = (weft__pbox *)(void *)gd;
                int64_t table = 0;
                if (b->root)
                    table = 16 + 16 + 8 * (int64_t)((uint64_t *)weft__pbox_at(b, b->root, 16))[1];
                CHECK_EQ(used_of(gd), table);
                CHECK_OK(weft_pdict_close(gd));
            }
            if (!died)
                break;
        }
        CHECK_GT(commit, 0);
    }
    printf("pdict: killed at every step: %d kills\n", kills);
    CHECK_GE(kills, 44); /* 3 + 5 + 1 + 1 + 1 steps, each with 4 deaths */
    CHECK_NO_ZOMBIES();
}

/* Writers killed at random instants (SIGKILL from outside, inside copies
 * and the lock included) while they replace, insert and delete: after
 * each kill every value is whole (of its key, of some generation), len
 * agrees with a snapshot, and a survivor keeps working. */
static void random_writer(void *arg) {
    uint32_t seed = (uint32_t)(uintptr_t)arg;
    char k[32], v[128];
    for (uint32_t n = 0;; n++) {
        uint32_t r = seed * 2654435761u + n * 40503u;
        uint32_t i = r % 64;
        if (r % 5 == 0)
            weft_pdict_delete(gd, k, key_make(k, i), WEFT_FOREVER);
        else
            CHECK_OK(weft_pdict_set(gd, k, key_make(k, i), v, val_make(v, i, (r >> 8) % 256),
                                    WEFT_FOREVER));
    }
}

/* alone: no writer is left, so len must agree with the snapshot. */
static void check_whole(bool alone) {
    weft_bytes wb = WEFT_BYTES_INIT;
    int64_t n = weft_pdict_items(gd, &wb, weft_after(10 * WEFT_SEC));
    CHECK_GE(n, 0);
    size_t pos = 0, kl, vl;
    const void *kp, *vp;
    int64_t cnt = 0;
    while (weft_pdict_item_next(&wb, &pos, &kp, &kl, &vp, &vl) == 1) {
        uint32_t i;
        CHECK_GE(vl, 4);
        memcpy(&i, vp, 4);
        char k[32];
        CHECK_EQ(kl, key_make(k, i));
        CHECK(memcmp(k, kp, kl) == 0);
        CHECK_GE(val_gen(vp, vl, i), 0);
        cnt++;
    }
    CHECK_EQ(cnt, n);
    if (alone)
        CHECK_EQ(weft_pdict_len(gd, weft_after(10 * WEFT_SEC)), n);
    weft_bytes_free(&wb);
}

WEFT_TEST(killed_at_random) {
    SKIP_UNLESS_ROBUST_FUTEX();
    SKIP_UNLESS_ROBUST_PSHARED_MUTEX();
    const char *e = getenv("WEFT_CHAOS_KILLS");
    int want = e && atoi(e) > 0 ? atoi(e) : 60;
    CHECK_OK(weft_pdict_create(&gd, 256 * 1024));
    pid_t steady = test_fork_child(random_writer, (void *)(uintptr_t)12345);
    uint64_t rng = (uint64_t)weft_now() | 1;
    for (int kill_n = 0; kill_n < want; kill_n++) {
        pid_t p = test_fork_child(random_writer, (void *)(uintptr_t)(kill_n + 1));
        rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
        sleep_us(200 + (long)(rng % 3000));
        CHECK_EQ(kill(p, SIGKILL), 0);
        CHECK_EQ(test_reap(p), 1000 + SIGKILL);
        check_whole(false);
    }
    CHECK_EQ(kill(steady, SIGKILL), 0);
    CHECK_EQ(test_reap(steady), 1000 + SIGKILL);
    check_whole(true);
    CHECK_OK(weft_pdict_clear(gd, WEFT_NOWAIT));
    CHECK_EQ(used_of(gd), 0);
    CHECK_OK(weft_pdict_close(gd));
    printf("pdict: %d random kills\n", want);
    CHECK_NO_ZOMBIES();
}

/* ---------------------------------------------------------------- waiting */

static int hold_fd[2], rel_fd[2];

/* Holds the dict's lock until told to let go. */
static void holder(void *arg) {
    (void)arg;
    weft__pbox *b = (weft__pbox *)(void *)gd;
    CHECK_OK(weft__pbox_lock(b, WEFT_FOREVER));
    char c = 'h';
    CHECK_EQ(write(hold_fd[1], &c, 1), 1);
    CHECK_EQ(read(rel_fd[0], &c, 1), 1);
    weft__pbox_unlock(b);
}

static int ticks;
static int set_result = 1;

static void *co_setter(void *arg) {
    (void)arg;
    set_result = weft_pdict_set(gd, "co", 2, "v", 1, weft_after(30 * WEFT_SEC));
    return NULL;
}

static void *co_ticker(void *arg) {
    (void)arg;
    for (ticks = 0; ticks < 20; ticks++) {
        CHECK_EQ(set_result, 1); /* the setter is still waiting */
        weft_sleep(WEFT_MSEC);
    }
    char c = 'r';
    CHECK_EQ(write(rel_fd[1], &c, 1), 1);
    return NULL;
}

static void coro_body(void) {
    weft_coro a, t;
    CHECK_OK(weft_spawn(&a, co_setter, NULL, NULL));
    CHECK_OK(weft_spawn(&t, co_ticker, NULL, NULL));
    CHECK_OK(weft_join(a, WEFT_FOREVER, NULL));
    CHECK_OK(weft_join(t, WEFT_FOREVER, NULL));
}

/* While another process holds the lock: a call with a deadline times out;
 * a coroutine waiting for it parks only itself (another coroutine of its
 * thread runs 20 ticks meanwhile), and goes on once the lock is free. */
WEFT_TEST(deadline_and_coroutine_parks_only_itself) {
    SKIP_UNLESS_ROBUST_PSHARED_MUTEX();
    CHECK_OK(weft_pdict_create(&gd, MB));
    CHECK_EQ(pipe(hold_fd), 0);
    CHECK_EQ(pipe(rel_fd), 0);
    pid_t h = test_fork_child(holder, NULL);
    char c;
    CHECK_EQ(read(hold_fd[0], &c, 1), 1);
    CHECK_ERR(weft_pdict_set(gd, "a", 1, "b", 1, WEFT_NOWAIT), -ETIMEDOUT);
    int64_t t0 = weft_now();
    CHECK_ERR(weft_pdict_get(gd, "a", 1, NULL, 0, weft_after(20 * WEFT_MSEC)), -ETIMEDOUT);
    CHECK_GE(weft_now() - t0, 20 * WEFT_MSEC);
    CHECK_ERR(weft_pdict_len(gd, -2), -ETIMEDOUT);
    run_plain_in_thread(coro_body);
    CHECK_OK(set_result);
    CHECK_EQ(ticks, 20);
    reap_ok(h);
    expect_s(gd, "co", "v");
    close(hold_fd[0]), close(hold_fd[1]), close(rel_fd[0]), close(rel_fd[1]);
    CHECK_OK(weft_pdict_close(gd));
}

WEFT_MAIN()
