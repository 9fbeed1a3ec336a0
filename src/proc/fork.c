/* weft's pthread_atfork handlers (weft.h, "Fork rules"): the locks of the
 * process-wide lists are taken around fork() so that none is left held in
 * the child, and the child's runtime is reset there: the forking thread's
 * scheduler is abandoned, the process registry emptied. (The thread
 * registry, the thread pools and the pfutex helpers register their own
 * handlers.) Registered on first use of a scheduler or of a process. */
#include "coro/sched.h"
#include "proc/proc.h"

static pthread_once_t once = PTHREAD_ONCE_INIT;

static void prepare(void) {
    weft__proc_atfork_prepare();
    weft__coro_atfork_prepare();
    weft__sched_atfork_prepare();
    weft__tw_atfork_prepare();
    weft__exitfd_atfork_prepare();
}

static void parent(void) {
    weft__exitfd_atfork_parent();
    weft__tw_atfork_parent();
    weft__sched_atfork_parent();
    weft__coro_atfork_parent();
    weft__proc_atfork_parent();
}

static void child(void) {
    weft__sched_atfork_child();
    weft__coro_atfork_child();
    weft__proc_atfork_child();
    weft__tw_atfork_child();
    weft__exitfd_atfork_child();
}

static void setup(void) {
    if (pthread_atfork(prepare, parent, child) != 0)
        WEFT_PANIC("pthread_atfork failed");
}

void weft__fork_setup(void) { pthread_once(&once, setup); }
