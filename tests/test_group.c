/* Worker groups (issue 17): so far the per-worker stealable run queue
 * (src/coro/stealq.c, white-box); the group itself is designed in
 * docs/design.md and not built yet. */
#include "harness.h"

#include "coro/stealq.h"

#include <pthread.h>
#include <sched.h>
#include <stdlib.h>

#define P(i) ((void *)(uintptr_t)(i))

static weft__stealq qa, qb;

WEFT_TEST(stealq_push_pop_fifo) {
    weft__stealq_init(&qa);
    void *spill[WEFT__STEALQ_CAP / 2 + 1];
    CHECK(weft__stealq_pop(&qa) == NULL);
    for (uintptr_t i = 1; i <= 10; i++)
        CHECK_EQ(weft__stealq_push(&qa, P(i), spill), 0u);
    CHECK_EQ(weft__stealq_len(&qa), 10u);
    for (uintptr_t i = 1; i <= 10; i++)
        CHECK_EQ((uintptr_t)weft__stealq_pop(&qa), i);
    CHECK(weft__stealq_pop(&qa) == NULL);
    CHECK_EQ(weft__stealq_len(&qa), 0u);
}

WEFT_TEST(stealq_wraps_around) {
    weft__stealq_init(&qa);
    void *spill[WEFT__STEALQ_CAP / 2 + 1];
    uintptr_t next_in = 1, next_out = 1;
    for (int round = 0; round < 10; round++) {
        for (unsigned i = 0; i < WEFT__STEALQ_CAP - 3; i++)
            CHECK_EQ(weft__stealq_push(&qa, P(next_in++), spill), 0u);
        for (unsigned i = 0; i < WEFT__STEALQ_CAP - 3; i++)
            CHECK_EQ((uintptr_t)weft__stealq_pop(&qa), next_out++);
    }
    CHECK(weft__stealq_pop(&qa) == NULL);
}

WEFT_TEST(stealq_full_spills_older_half_then_item) {
    weft__stealq_init(&qa);
    void *spill[WEFT__STEALQ_CAP / 2 + 1];
    for (uintptr_t i = 1; i <= WEFT__STEALQ_CAP; i++)
        CHECK_EQ(weft__stealq_push(&qa, P(i), spill), 0u);
    uintptr_t extra = WEFT__STEALQ_CAP + 1;
    CHECK_EQ(weft__stealq_push(&qa, P(extra), spill), WEFT__STEALQ_CAP / 2 + 1);
    for (uintptr_t i = 0; i < WEFT__STEALQ_CAP / 2; i++)
        CHECK_EQ((uintptr_t)spill[i], i + 1);
    CHECK_EQ((uintptr_t)spill[WEFT__STEALQ_CAP / 2], extra);
    CHECK_EQ(weft__stealq_len(&qa), WEFT__STEALQ_CAP / 2);
    for (uintptr_t i = WEFT__STEALQ_CAP / 2 + 1; i <= WEFT__STEALQ_CAP; i++)
        CHECK_EQ((uintptr_t)weft__stealq_pop(&qa), i);
    CHECK(weft__stealq_pop(&qa) == NULL);
}

WEFT_TEST(stealq_steal_takes_older_half) {
    weft__stealq_init(&qa);
    weft__stealq_init(&qb);
    void *spill[WEFT__STEALQ_CAP / 2 + 1];
    CHECK(weft__stealq_steal(&qb, &qa) == NULL);
    for (uintptr_t i = 1; i <= 11; i++)
        CHECK_EQ(weft__stealq_push(&qa, P(i), spill), 0u);
    /* 11 queued: the thief takes 6 (1..6), runs 6, keeps 1..5 in order. */
    CHECK_EQ((uintptr_t)weft__stealq_steal(&qb, &qa), 6u);
    CHECK_EQ(weft__stealq_len(&qb), 5u);
    CHECK_EQ(weft__stealq_len(&qa), 5u);
    for (uintptr_t i = 1; i <= 5; i++)
        CHECK_EQ((uintptr_t)weft__stealq_pop(&qb), i);
    for (uintptr_t i = 7; i <= 11; i++)
        CHECK_EQ((uintptr_t)weft__stealq_pop(&qa), i);
    /* One item: the thief takes it to run, its own ring stays empty. */
    CHECK_EQ(weft__stealq_push(&qa, P(42), spill), 0u);
    CHECK_EQ((uintptr_t)weft__stealq_steal(&qb, &qa), 42u);
    CHECK_EQ(weft__stealq_len(&qb), 0u);
    CHECK(weft__stealq_pop(&qa) == NULL);
}

/* The owner pushes (spilling when full) and pops; a thief steals and
 * drains what it stole. Every item is taken exactly once. */
#define CONC_N 1000000u
static _Atomic unsigned char seen[CONC_N + 1];
static atomic_int owner_done;
static atomic_uint taken;
static atomic_int thief_up;

static void take(void *p) {
    uintptr_t i = (uintptr_t)p;
    CHECK(i >= 1 && i <= CONC_N);
    atomic_fetch_add(&seen[i], 1);
    atomic_fetch_add(&taken, 1);
}

static void *thief(void *arg) {
    (void)arg;
    atomic_store(&thief_up, 1);
    for (;;) {
        bool done = atomic_load(&owner_done);
        void *p = weft__stealq_steal(&qb, &qa);
        if (p) {
            take(p);
            while ((p = weft__stealq_pop(&qb)))
                take(p);
        } else if (done) {
            return NULL;
        }
    }
}

WEFT_TEST(stealq_owner_and_thief_take_each_item_once) {
    weft__stealq_init(&qa);
    weft__stealq_init(&qb);
    void *spill[WEFT__STEALQ_CAP / 2 + 1];
    pthread_t t;
    CHECK_EQ(pthread_create(&t, NULL, thief, NULL), 0);
    while (!atomic_load(&thief_up)) /* both run from here on (a stress test, */
        sched_yield();              /* not a proof: the cases above are exact) */
    for (uintptr_t i = 1; i <= CONC_N; i++) {
        unsigned n = weft__stealq_push(&qa, P(i), spill);
        for (unsigned k = 0; k < n; k++)
            take(spill[k]);
        if (i % 2 == 0) {
            void *p = weft__stealq_pop(&qa);
            if (p)
                take(p);
        }
    }
    void *p;
    while ((p = weft__stealq_pop(&qa)))
        take(p);
    atomic_store(&owner_done, 1);
    CHECK_EQ(pthread_join(t, NULL), 0);
    CHECK_EQ(atomic_load(&taken), CONC_N);
    for (uintptr_t i = 1; i <= CONC_N; i++)
        if (atomic_load(&seen[i]) != 1)
            CHECK_EQ((unsigned)atomic_load(&seen[i]), 1u);
}

WEFT_MAIN()
