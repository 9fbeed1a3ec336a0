/* Monotonic time and deadline helpers. */
#include "internal.h"

#include <poll.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

WEFT_API int64_t weft_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * WEFT_SEC + ts.tv_nsec + 1; /* +1: never 0 (= NOWAIT) */
}

WEFT_API int64_t weft_after(int64_t ns) {
    int64_t now = weft_now();
    if (ns <= 0)
        return now + ns > 0 ? now + ns : 1;
    if (ns > INT64_MAX - now)
        return INT64_MAX;
    return now + ns;
}

WEFT_API int64_t weft_after_sec(double seconds) {
    if (seconds != seconds)
        return weft_now();
    if (seconds >= 9.2e9)
        return INT64_MAX;
    return weft_after((int64_t)(seconds * 1e9));
}

int weft__sys_poll(struct pollfd *fds, unsigned long n, int ms) {
    struct timespec ts, *tp = NULL;
    if (ms >= 0) {
        ts.tv_sec = ms / 1000;
        ts.tv_nsec = (long)(ms % 1000) * 1000000;
        tp = &ts;
    }
    long r = syscall(SYS_ppoll, fds, n, tp, NULL, (size_t)8);
    return (int)r;
}
