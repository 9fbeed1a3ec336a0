/*
 * debug_busy: a program to look at with valgrind, perf, gdb and the sanitizers
 * (docs/debugging.md).
 *
 * Three "crunch" coroutines (GUARDED stacks) compute checksums, yielding to each other
 * after every round and sending each round's sum on a channel; two "tally" coroutines
 * (SHARED stacks, so their frames are copied aside at every switch) receive the sums
 * and add them up. Main joins the crunchers, closes the channel, joins the tallies and
 * checks the total.
 *
 * Usage: debug_busy [run|spin|hang|bug]
 *   run   (default) 2000 rounds per cruncher, then everything finishes
 *   spin  the crunchers never stop: a busy thread to sample with perf or attach gdb to
 *   hang  main forgets to close the channel: the tallies wait on it for ever and main
 *         waits for them, a deadlock to find with gdb
 *   bug   the first cruncher reads one element past its block, a stack-buffer overflow
 *         for ASan to report (in a plain build it reads a neighbouring stack slot)
 * Exit status: 0 on success, 1 if a weft call fails or the total is wrong, 2 on a
 * usage error.
 */
#include "example.h"

#include <string.h>
#include <unistd.h>

enum { NCRUNCH = 3, NTALLY = 2, ROUNDS = 2000, BLOCK = 512 };

static int g_spin, g_bug;
static weft_chan *g_sums;

static __attribute__((noinline)) uint64_t peek(const uint64_t *p, int i) {
    return ((const volatile uint64_t *)p)[i];
}

/* One round: a checksum over a block that changes with the round. */
static __attribute__((noinline)) uint64_t crunch_round(uint64_t seed) {
    uint64_t block[BLOCK];
    for (int i = 0; i < BLOCK; i++)
        block[i] = seed * 6364136223846793005u + (uint64_t)i;
    uint64_t h = 1469598103934665603u;
    for (int i = 0; i < BLOCK; i++)
        h = (h ^ block[i]) * 1099511628211u;
    if (g_bug && seed == 0) /* the deliberate bug: one element past the block */
        h ^= peek(block, BLOCK);
    return h;
}

static void *crunch(void *arg) {
    uint64_t id = (uint64_t)(intptr_t)arg;
    for (uint64_t round = 0; g_spin || round < ROUNDS; round++) {
        uint64_t sum = crunch_round(id * 1000003u + round) & 0xffff;
        int r = weft_chan_send(g_sums, &sum, WEFT_FOREVER);
        if (r < 0) {
            fprintf(stderr, "crunch: weft_chan_send: %s\n", weft_strerror(r));
            return (void *)(intptr_t)r;
        }
        weft_yield();
    }
    return NULL;
}

static uint64_t g_total;

static void *tally(void *arg) {
    (void)arg;
    uint64_t sum;
    int r;
    while ((r = weft_chan_recv(g_sums, &sum, WEFT_FOREVER)) == 0)
        g_total += sum;
    if (r != -EPIPE) {
        fprintf(stderr, "tally: weft_chan_recv: %s\n", weft_strerror(r));
        return (void *)(intptr_t)r;
    }
    return NULL;
}

/* What the crunchers send in ROUNDS rounds each. */
static uint64_t expected_total(void) {
    uint64_t t = 0;
    for (uint64_t id = 0; id < NCRUNCH; id++)
        for (uint64_t round = 0; round < ROUNDS; round++)
            t += crunch_round(id * 1000003u + round) & 0xffff;
    return t;
}

int main(int argc, char **argv) {
    const char *mode = argc > 1 ? argv[1] : "run";
    int hang = strcmp(mode, "hang") == 0;
    g_spin = strcmp(mode, "spin") == 0;
    g_bug = strcmp(mode, "bug") == 0;
    if (argc > 2 || (!hang && !g_spin && !g_bug && strcmp(mode, "run") != 0)) {
        fprintf(stderr, "usage: %s [run|spin|hang|bug]\n", argv[0]);
        return 2;
    }
    if (example_line_buffered("debug_busy") != 0)
        return 1;
    int r = weft_chan_create(&g_sums, sizeof(uint64_t), 4);
    if (r < 0) {
        fprintf(stderr, "debug_busy: weft_chan_create: %s\n", weft_strerror(r));
        return 1;
    }
    weft_coro crunchers[NCRUNCH], tallies[NTALLY];
    for (int i = 0; i < NCRUNCH; i++) {
        weft_coro_opts o = {.name = "crunch", .stack_mode = WEFT_STACK_GUARDED};
        if ((r = weft_spawn(&crunchers[i], crunch, (void *)(intptr_t)i, &o)) < 0) {
            fprintf(stderr, "debug_busy: weft_spawn: %s\n", weft_strerror(r));
            return 1;
        }
    }
    for (int i = 0; i < NTALLY; i++) {
        weft_coro_opts o = {.name = "tally", .stack_mode = WEFT_STACK_SHARED};
        if ((r = weft_spawn(&tallies[i], tally, NULL, &o)) < 0) {
            fprintf(stderr, "debug_busy: weft_spawn: %s\n", weft_strerror(r));
            return 1;
        }
    }
    printf("debug_busy (pid %d): %d crunchers, %d tallies, mode %s\n", (int)getpid(), NCRUNCH,
           NTALLY, mode);
    int failed = 0;
    void *res;
    for (int i = 0; i < NCRUNCH; i++)
        if (weft_join(crunchers[i], WEFT_FOREVER, &res) < 0 || res != NULL)
            failed = 1;
    if (!hang)
        weft_chan_close(g_sums);
    for (int i = 0; i < NTALLY; i++)
        if (weft_join(tallies[i], WEFT_FOREVER, &res) < 0 || res != NULL)
            failed = 1;
    weft_chan_destroy(g_sums);
    uint64_t want = expected_total();
    printf("total %llu (expected %llu)\n", (unsigned long long)g_total, (unsigned long long)want);
    return failed || g_total != want;
}
