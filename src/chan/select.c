/* select over several channel operations.
 *
 * Pass 1 tries each op once, without waiting, starting at a random index
 * (so no ready op starves). If none is ready and the caller may wait,
 * pass 2 enters every channel involved in address order (a global order, so
 * two selects never deadlock; each is first settled: biased to the caller
 * or shared, so entering never waits for another thread's bias), tries once more, and otherwise enqueues one
 * node per op, all sharing one waiter, before unlocking. Whichever peer
 * claims the waiter first completes that op; the claim makes the other
 * nodes inert, and the owner unlinks them when it resumes. */
#include "chan/chan.h"

#define MAX_OPS 1024
#define STACK_OPS 8

static int try_op(weft_select_op *op, weft__waiter **wake) {
    return op->op == WEFT_SEND ? weft__chan_try_send_locked(op->chan, op->elem, wake)
                               : weft__chan_try_recv_locked(op->chan, op->elem, wake);
}

/* Sorts op indices by channel address (insertion sort: n is small). */
static void sort_by_chan(weft_select_op *ops, uint16_t *idx, size_t m) {
    for (size_t i = 1; i < m; i++) {
        uint16_t v = idx[i];
        size_t j = i;
        while (j > 0 && (uintptr_t)ops[idx[j - 1]].chan > (uintptr_t)ops[v].chan) {
            idx[j] = idx[j - 1];
            j--;
        }
        idx[j] = v;
    }
}

/* Enters (or leaves) every channel in address order; biased[i] records
 * how op i's channel was entered. Channels must have been settled first. */
static void enter_all(weft_select_op *ops, const uint16_t *idx, size_t m, uint8_t *biased,
                      int enter) {
    for (size_t k = 0; k < m; k++) {
        size_t i = idx[k];
        weft_chan *ch = ops[i].chan;
        if (k > 0 && ops[idx[k - 1]].chan == ch) {
            biased[i] = biased[idx[k - 1]]; /* the same channel twice: once */
            continue;
        }
        if (enter)
            biased[i] = weft__chan_enter(ch, WEFT__CHAN_SELECT);
        else
            weft__chan_leave(ch, biased[i]);
    }
}

/* A plain thread's random start (a thread with a scheduler uses the scheduler's): a
 * per-thread xorshift64*, seeded from the clock and the thread's address space. The clock
 * alone (it was weft_now() % n) repeats with the caller's loop and starved some ops. */
static uint64_t thread_rand(void) {
    static _Thread_local uint64_t x;
    if (!x)
        x = ((uint64_t)weft_now() ^ (uint64_t)(uintptr_t)&x) | 1;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    return (x * 0x2545F4914F6CDD1Dull) >> 32;
}

WEFT_API int weft_select(weft_select_op *ops, size_t n, int64_t deadline) {
    if ((!ops && n) || n > MAX_OPS)
        return -EINVAL;
    size_t active = 0;
    for (size_t i = 0; i < n; i++) {
        if (!ops[i].chan)
            continue;
        if ((ops[i].op != WEFT_SEND && ops[i].op != WEFT_RECV) || !ops[i].elem)
            return -EINVAL;
        weft__chan_check(ops[i].chan, WEFT__CHAN_SELECT);
        active++;
    }
    if (!active) {
        if (weft__dl_forever(deadline))
            return -EINVAL; /* would wait forever on nothing */
        int r = weft_sleep_until(deadline);
        return r < 0 ? r : -ETIMEDOUT;
    }
    weft__sched *s = weft__sched_get();
    size_t start = s ? (size_t)(weft__sched_rand(s) % n) : (size_t)(thread_rand() % n);

    /* Pass 1: anything ready now? */
    for (size_t k = 0; k < n; k++) {
        size_t i = (start + k) % n;
        if (!ops[i].chan)
            continue;
        weft__waiter *wake = NULL;
        bool b = weft__chan_enter(ops[i].chan, WEFT__CHAN_SELECT);
        int r = try_op(&ops[i], &wake);
        weft__chan_leave(ops[i].chan, b);
        if (r != 0) {
            if (wake)
                weft__waiter_wake(wake);
            ops[i].result = r < 0 ? r : 0;
            return (int)i;
        }
    }
    if (weft__dl_nowait(deadline))
        return -ETIMEDOUT;

    /* Nodes must stay reachable while we are parked; a SHARED coroutine
     * also needs bounce copies of the elements (its stack may be copied
     * aside meanwhile). */
    weft__wq_node stack_nodes[STACK_OPS];
    uint16_t stack_idx[STACK_OPS];
    uint8_t stack_biased[STACK_OPS];
    uint8_t *biased = stack_biased;
    weft__wq_node *nodes = stack_nodes;
    uint16_t *idx = stack_idx;
    unsigned char *bounce = NULL;
    bool heap = false;
    if (weft__caller_shared()) {
        size_t need = n * sizeof *nodes;
        for (size_t i = 0; i < n; i++)
            need += ops[i].chan ? ops[i].chan->elem_size : 0;
        if (!(nodes = weft__park_mem(NULL, need)))
            return -ENOMEM;
        bounce = (unsigned char *)(nodes + n);
    } else if (n > STACK_OPS) {
        if (!(nodes = weft__malloc(n * sizeof *nodes)))
            return -ENOMEM;
        heap = true;
    }
    if (n > STACK_OPS) {
        idx = weft__malloc(n * (sizeof *idx + 1));
        if (!idx) {
            if (heap)
                weft__free(nodes);
            return -ENOMEM;
        }
        biased = (uint8_t *)(idx + n);
    }
    size_t m = 0;
    for (size_t i = 0; i < n; i++) {
        nodes[i].w = NULL;
        nodes[i].linked = 0;
        nodes[i].elem = ops[i].elem;
        if (!ops[i].chan)
            continue;
        idx[m++] = (uint16_t)i;
        weft__chan_settle(ops[i].chan);
        if (bounce) {
            nodes[i].elem = bounce;
            if (ops[i].op == WEFT_SEND)
                weft__chan_copy(bounce, ops[i].elem, ops[i].chan->elem_size);
            bounce += ops[i].chan->elem_size;
        }
    }
    sort_by_chan(ops, idx, m);
    weft__waiter lw, *w = weft__waiter_begin(&lw, WEFT__W_OTHER);
    weft__why(WEFT__WHY_SELECT, ops[0].chan, (intptr_t)m);

    /* Pass 2: under every lock, try again, else enqueue everywhere. */
    int res = -1;
    weft__waiter *wake = NULL;
    enter_all(ops, idx, m, biased, 1);
    for (size_t k = 0; k < n && res < 0; k++) {
        size_t i = (start + k) % n;
        if (!ops[i].chan)
            continue;
        int r = try_op(&ops[i], &wake);
        if (r != 0) {
            ops[i].result = r < 0 ? r : 0;
            res = (int)i;
        }
    }
    if (res < 0) {
        for (size_t i = 0; i < n; i++) {
            if (!ops[i].chan)
                continue;
            nodes[i].w = w;
            nodes[i].arg = (intptr_t)i;
            weft__wq_push(ops[i].op == WEFT_SEND ? &ops[i].chan->sendq : &ops[i].chan->recvq,
                          &nodes[i], false);
        }
    }
    enter_all(ops, idx, m, biased, 0);
    if (wake)
        weft__waiter_wake(wake);

    if (res < 0) {
        int pr = weft__park(w, deadline);
        if (pr == -ETIMEDOUT || pr == -ECANCELED || pr == -ENOMEM) {
            res = pr;
        } else {
            res = (int)w->index;
            ops[res].result = pr;
            if (pr == 0 && ops[res].op == WEFT_RECV && nodes[res].elem != ops[res].elem)
                weft__chan_copy(ops[res].elem, nodes[res].elem, ops[res].chan->elem_size);
        }
        /* Take back the nodes nobody took. */
        enter_all(ops, idx, m, biased, 1);
        for (size_t i = 0; i < n; i++) {
            if (nodes[i].linked)
                weft__wq_unlink(ops[i].op == WEFT_SEND ? &ops[i].chan->sendq
                                                          : &ops[i].chan->recvq,
                                   &nodes[i]);
        }
        enter_all(ops, idx, m, biased, 0);
    }
    if (heap)
        weft__free(nodes);
    if (idx != stack_idx)
        weft__free(idx);
    return res;
}
