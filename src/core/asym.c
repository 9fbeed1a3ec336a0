/* The asymmetric memory barrier behind biased objects (channels, locks):
 * the fast side uses plain (relaxed) stores and a compiler barrier, the
 * rare side calls membarrier(2), which makes every running thread of the
 * process pass a full barrier. Probed once; unavailable under qemu-user,
 * on old kernels, and deliberately off under ThreadSanitizer (which cannot
 * see the ordering membarrier provides). */
#include "internal.h"

#include <linux/membarrier.h>
#include <pthread.h>
#include <sys/syscall.h>
#include <unistd.h>

static atomic_int state; /* 0 unknown, 1 usable, -1 not */
static pthread_once_t once = PTHREAD_ONCE_INIT;

static void probe(void) {
    int ok = -1;
#if !defined(__SANITIZE_THREAD__)
    int saved = errno; /* a refused probe must not show in the caller's errno */
    if (syscall(SYS_membarrier, MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED, 0, 0) == 0)
        ok = 1;
    errno = saved;
#endif
    atomic_store(&state, ok);
}

bool weft__asym_ok_slow(void) {
    pthread_once(&once, probe);
    return atomic_load(&state) > 0;
}

int weft__asym_state(void) { return atomic_load_explicit(&state, memory_order_relaxed); }

void weft__asym_barrier(void) {
    if (syscall(SYS_membarrier, MEMBARRIER_CMD_PRIVATE_EXPEDITED, 0, 0) != 0)
        WEFT_PANIC("membarrier failed after registration");
}

WEFT_TLS char weft__anchor;
