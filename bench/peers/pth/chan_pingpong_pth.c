/* chan_pingpong, GNU Pth peer: two Pth threads bounce one message between two
 * message ports (pth_msgport_put + pth_wait on the port's event + pth_msgport_get);
 * ns per round trip. Usage: chan_pingpong_pth [ROUNDS]; BENCH_QUICK=1 reduced.
 * bench-needs: pth.h
 * bench-libs: -lpth
 */
#include <pth.h>

#include "pth_common.h"

typedef struct {
    pth_message_t head; /* first, as Pth wants */
    long value;
} msg;

static long iters;
static pth_msgport_t ping, pong;

static msg *receive(pth_msgport_t port, pth_event_t ev) {
    msg *m;
    while ((m = (msg *)pth_msgport_get(port)) == NULL)
        pth_wait(ev);
    return m;
}

static void *ponger(void *arg) {
    (void)arg;
    pth_event_t ev = pth_event(PTH_EVENT_MSG, ping);
    for (long i = 0; i < iters; i++) {
        msg *m = receive(ping, ev);
        m->value++;
        pth_msgport_put(pong, &m->head);
    }
    pth_event_free(ev, PTH_FREE_THIS);
    return NULL;
}

int main(int argc, char **argv) {
    iters = peer_size(argc, argv, 200000, 20000);
    if (!pth_init())
        return 1;
    ping = pth_msgport_create("ping");
    pong = pth_msgport_create("pong");
    pth_attr_t at = pth_attr_new();
    pth_attr_set(at, PTH_ATTR_JOINABLE, TRUE);
    pth_t t = pth_spawn(at, ponger, NULL);
    pth_event_t ev = pth_event(PTH_EVENT_MSG, pong);
    msg m = {.value = 0};
    int64_t t0 = peer_now_ns();
    for (long i = 0; i < iters; i++) {
        pth_msgport_put(ping, &m.head);
        receive(pong, ev);
    }
    int64_t t1 = peer_now_ns();
    pth_join(t, NULL);
    if (m.value != iters) {
        fprintf(stderr, "chan_pingpong_pth: %ld != %ld\n", m.value, iters);
        return 1;
    }
    fprintf(stderr,
            "note: pth: two message ports (pth_msgport_put/get + pth_wait), %ld round trips\n",
            iters);
    printf("chan_pingpong\tpth\t%.3f\tns/op\n", (double)(t1 - t0) / (double)iters);
    pth_kill();
    return 0;
}
