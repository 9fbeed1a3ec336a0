/* Errors and time: weft_strerror, weft_now, weft_after; weft_cpu_count. */
#include "harness.h"

#include <limits.h>
#include <sched.h>

WEFT_TEST(strerror_every_code) {
    /* Negative and positive forms name the same thing. */
    int codes[] = {ETIMEDOUT, ECANCELED, EPIPE, EAGAIN, ESRCH, EDEADLK, EXDEV, EBUSY,
                   EINVAL,    ENOMEM,    EBADF, EMSGSIZE, EOWNERDEAD, ENOTRECOVERABLE, EPERM};
    for (size_t i = 0; i < sizeof codes / sizeof codes[0]; i++) {
        const char *neg = weft_strerror(-codes[i]), *pos = weft_strerror(codes[i]);
        CHECK(neg != NULL);
        CHECK_STR_EQ(neg, pos);
        CHECK(strcmp(neg, "unknown error") != 0);
    }
    CHECK_STR_EQ(weft_strerror(0), "success");
    CHECK_STR_EQ(weft_strerror(-ETIMEDOUT), "deadline passed");
}

WEFT_TEST(strerror_extremes) {
    /* INT_MIN has no positive counterpart: negating it was undefined (UBSan). */
    CHECK_STR_EQ(weft_strerror(INT_MIN), "unknown error");
    CHECK_STR_EQ(weft_strerror(INT_MIN + 1), "unknown error");
    CHECK_STR_EQ(weft_strerror(INT_MAX), "unknown error");
    CHECK_STR_EQ(weft_strerror(-100000), "unknown error");
}

WEFT_TEST(strerror_libc_independent) {
    /* Codes weft gives no text of its own get the same description on every
     * libc (weft's table, not strerror's). */
    CHECK_STR_EQ(weft_strerror(-ENOENT), "No such file or directory");
    CHECK_STR_EQ(weft_strerror(ECONNABORTED), "Software caused connection abort");
    CHECK_STR_EQ(weft_strerror(-EHWPOISON), "Memory page has hardware error");
    CHECK_STR_EQ(weft_strerror(-4000), "unknown error"); /* in range, no errno */
}

WEFT_TEST(time_after_saturates) {
    int64_t now = weft_now();
    CHECK(now > 0);
    CHECK(weft_after(INT64_MAX) == INT64_MAX);
    int64_t past = weft_after(INT64_MIN);
    CHECK(past <= now);
    CHECK(past != WEFT_FOREVER);
    CHECK(weft_after(-1) <= weft_now());
    CHECK(weft_after(WEFT_SEC) > now);
}

/* ---- weft_cpu_count ------------------------------------------------------ */

static int affinity_popcount(void) {
    cpu_set_t set;
    CPU_ZERO(&set);
    CHECK_EQ(sched_getaffinity(0, sizeof set, &set), 0);
    return CPU_COUNT(&set);
}

/* 1 if the test's cgroup v2 (or an ancestor) sets a CPU quota. */
static int has_cpu_quota(void) {
    char dir[4200] = "/sys/fs/cgroup", line[4096] = "";
    FILE *f = fopen("/proc/self/cgroup", "r");
    if (f) {
        while (fgets(line, sizeof line, f))
            if (strncmp(line, "0::/", 4) == 0) {
                line[strcspn(line, "\n")] = 0;
                if (strlen(line + 3) < 4000)
                    strcat(dir, line + 3);
                break;
            }
        fclose(f);
    }
    for (;;) {
        char path[4300], q[32] = "";
        snprintf(path, sizeof path, "%s/cpu.max", dir);
        FILE *g = fopen(path, "r");
        if (g) {
            int k = fscanf(g, "%31s", q);
            fclose(g);
            if (k == 1 && strcmp(q, "max") != 0)
                return 1;
        }
        char *slash = strrchr(dir, '/');
        if (!slash || slash - dir < 14)
            return 0;
        *slash = 0;
    }
}

WEFT_TEST(cpu_count_is_the_affinity_mask) {
    int n = weft_cpu_count();
    CHECK_GE(n, 1);
    if (has_cpu_quota())
        CHECK_LE(n, affinity_popcount());
    else
        CHECK_EQ(n, affinity_popcount());
    CHECK_EQ(weft_cpu_count(), n); /* read afresh: the same */
}

/* In a child whose affinity is narrowed, the count follows. */
static void narrow_affinity(void *arg) {
    (void)arg;
    cpu_set_t set;
    CPU_ZERO(&set);
    CHECK_EQ(sched_getaffinity(0, sizeof set, &set), 0);
    int first = -1, second = -1;
    for (int i = 0; i < CPU_SETSIZE && second < 0; i++)
        if (CPU_ISSET(i, &set)) {
            if (first < 0)
                first = i;
            else
                second = i;
        }
    CHECK_GE(first, 0);
    int before = weft_cpu_count();
    if (second >= 0) {
        cpu_set_t two;
        CPU_ZERO(&two);
        CPU_SET(first, &two);
        CPU_SET(second, &two);
        CHECK_EQ(sched_setaffinity(0, sizeof two, &two), 0);
        CHECK_EQ(weft_cpu_count(), before >= 2 ? 2 : before);
    }
    cpu_set_t one;
    CPU_ZERO(&one);
    CPU_SET(first, &one);
    CHECK_EQ(sched_setaffinity(0, sizeof one, &one), 0);
    CHECK_EQ(weft_cpu_count(), 1);
}

WEFT_TEST(cpu_count_follows_affinity) {
    int n = weft_cpu_count();
    CHECK_EQ(test_reap(test_fork_child(narrow_affinity, NULL)), 0);
    CHECK_EQ(weft_cpu_count(), n); /* the parent's mask is untouched */
}

WEFT_MAIN()
