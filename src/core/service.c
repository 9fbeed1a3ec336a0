/* weft's own helper threads (the process reaper, the exit-descriptor watcher, the
 * process-shared futex helpers, the hook's watchdog): detached, a small stack, and
 * every signal blocked, so that they never run a handler of the application (a
 * thread inherits its creator's mask: it is blocked around the creation). */
#include "internal.h"

#include <pthread.h>
#include <signal.h>

WEFT_API int weft__service_thread(void *(*fn)(void *), void *arg, size_t stack_size) {
    pthread_attr_t a;
    int e = pthread_attr_init(&a);
    if (e)
        return -e;
    pthread_attr_setdetachstate(&a, PTHREAD_CREATE_DETACHED);
    pthread_attr_setstacksize(&a, stack_size);
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    pthread_t t;
    e = pthread_create(&t, &a, fn, arg);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    pthread_attr_destroy(&a);
    return -e;
}
