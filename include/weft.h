/*
 * weft: processes, threads and coroutines for C, with one set of locks,
 * queues, channels and pools that works between all three.
 *
 * This header is the manual. Every declaration states its contract: what it
 * does, who owns what, which threads may call it, and each error it returns.
 *
 * Conventions that hold everywhere:
 *   - Functions return int (or ssize_t): 0 or more on success, a negative
 *     errno on failure (-ETIMEDOUT, -ECANCELED, -EPIPE, -EAGAIN, ...).
 *     errno itself is never part of the contract. weft_strerror() names them.
 *   - Every blocking call takes an int64_t deadline: an absolute time in
 *     monotonic nanoseconds as returned by weft_now(). WEFT_FOREVER (-1)
 *     waits forever, WEFT_NOWAIT (0, or any time already past) does not
 *     wait at all: the call succeeds only if it can do so at once, and fails
 *     with -ETIMEDOUT otherwise (try-variants return -EAGAIN instead).
 *     Every negative value other than WEFT_FOREVER (-2, INT64_MIN, ...) is
 *     a time already past, like 0.
 *     One deadline can serve a whole sequence of calls.
 *   - A blocking call made inside a coroutine parks only that coroutine;
 *     the other coroutines of its thread keep running. Made on a thread that
 *     never started a coroutine, it blocks the thread (on a futex), and no
 *     scheduler is created for it.
 *   - Misuse that can only come from a corrupted or destroyed object aborts
 *     with a message; everything a caller can get wrong returns an error.
 *     What is detected: every object carries a tag word. A synchronization
 *     object (weft_lock ... weft_once) or a weft_as_completed_iter that was
 *     destroyed, or whose tag was
 *     overwritten (e.g. filled with garbage), aborts with "weft: <function>:
 *     corrupted or destroyed <type> at <address>" in any operation that
 *     waits, wakes, changes it under its internal lock, or destroys it;
 *     queries that only read a word (weft_lock_locked, weft_sem_value,
 *     weft_event_is_set) may return a meaningless value instead. A channel,
 *     queue, pool, future, thread or process handle that points at garbage
 *     aborts the same way in every call. A handle used after its destroy or
 *     release is freed memory: that may be caught, but not reliably. The
 *     process-shared primitives (weft_plock ... weft_pbarrier) answer
 *     -EINVAL instead, as documented there. Corruption that leaves the tag
 *     intact is not detected.
 */
#ifndef WEFT_H
#define WEFT_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/socket.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(WEFT_BUILDING) && defined(__GNUC__)
#define WEFT_API __attribute__((visibility("default")))
#else
#define WEFT_API
#endif

/* Layout checks that compile in C11 and later and in C++11 and later. */
#ifdef __cplusplus
#define WEFT_STATIC_ASSERT(cond, msg) static_assert(cond, msg)
#else
#define WEFT_STATIC_ASSERT(cond, msg) _Static_assert(cond, msg)
#endif
/* The layout asserts below freeze each struct's size per ABI: LP64, i386
 * (64-bit fields 4-aligned in structs) and other ILP32 ABIs (8-aligned). */
#if defined(__LP64__)
#define WEFT_ABI_SIZE(lp64, i386, ilp32) (lp64)
#elif defined(__i386__)
#define WEFT_ABI_SIZE(lp64, i386, ilp32) (i386)
#else
#define WEFT_ABI_SIZE(lp64, i386, ilp32) (ilp32)
#endif

#define WEFT_VERSION_MAJOR 0
#define WEFT_VERSION_MINOR 1
#define WEFT_VERSION_PATCH 0
#define WEFT_VERSION_STRING "0.1.0"

/* ======================================================================
 * Errors, time and allocation
 * ====================================================================== */

/* Returns a static, human-readable description of err, which may be given
 * either as a negative errno (as weft returns them) or a positive one.
 * Never returns NULL; unknown codes give "unknown error". Thread-safe. */
WEFT_API const char *weft_strerror(int err);

/* Deadlines. */
#define WEFT_FOREVER ((int64_t)-1)
#define WEFT_NOWAIT ((int64_t)0)
#define WEFT_NSEC ((int64_t)1)
#define WEFT_USEC ((int64_t)1000)
#define WEFT_MSEC ((int64_t)1000000)
#define WEFT_SEC ((int64_t)1000000000)

/* Monotonic clock (CLOCK_MONOTONIC) in nanoseconds. Always > 0. */
WEFT_API int64_t weft_now(void);

/* Deadline `ns` nanoseconds from now: weft_now() + ns. A negative ns gives a
 * deadline already past (the call will not wait). Saturates instead of
 * overflowing, so weft_after(INT64_MAX) is effectively forever. */
WEFT_API int64_t weft_after(int64_t ns);

/* Deadline `seconds` from now (fractions allowed). */
WEFT_API int64_t weft_after_sec(double seconds);

/* A custom allocator for everything weft allocates with malloc. All three
 * functions receive `ud`. alloc may return NULL: weft then fails the call
 * with -ENOMEM and leaves no partial state behind. */
typedef struct weft_allocator {
    void *(*alloc)(size_t size, void *ud);
    void *(*realloc)(void *ptr, size_t size, void *ud);
    void (*free)(void *ptr, void *ud);
    void *ud;
} weft_allocator;

/* Installs `a` (copied) as weft's allocator; NULL restores malloc/free.
 * Call it only while no weft object that was allocated under the previous
 * allocator is alive (memory is always freed by the allocator that gave it).
 * Errors: -EINVAL if a is non-NULL and any of its functions is NULL. */
WEFT_API int weft_set_allocator(const weft_allocator *a);

/* ======================================================================
 * Coroutines
 *
 * Each thread gets a scheduler the first time it spawns a coroutine (or
 * asks for weft_self()). The thread's own stack becomes its "main"
 * coroutine, so main() may block in any weft call while the coroutines it
 * spawned run. Coroutines never move between threads; thread-local
 * variables and errno are theirs to rely on (errno is saved and restored
 * at every switch).
 *
 * Scheduling is cooperative: a coroutine runs until it blocks in a weft
 * call, yields, or returns. Ready coroutines run in FIFO order.
 * ====================================================================== */

/* A coroutine handle: a small value, copied freely. A handle stays safe to
 * pass to any function here even after the coroutine was joined or detached
 * and its memory recycled: such a stale handle is reported as -ESRCH. */
typedef struct weft_coro {
    struct weft__coro *p;
    uint64_t gen;
} weft_coro;

typedef void *(*weft_coro_fn)(void *arg);

/* A timeout scope (weft_timeout_enter): caller-owned, opaque. */
typedef struct weft_timeout {
    int64_t deadline_;
    int64_t outer_;
    const void *prev_;
    void *state_;
    uint32_t tag_;
} weft_timeout;

typedef enum weft_stack_mode {
    /* Own mmap'd stack with a guard page below it, committed lazily by the
     * kernel and pooled for reuse. Fastest switches. Each one costs two
     * kernel memory mappings, and vm.max_map_count (65530 by default) caps
     * how many can exist (about 32,700 per process): spawn fails with
     * -ENOMEM past that, and the first such failure prints one line to
     * stderr naming the limit, its value and WEFT_STACK_SHARED. */
    WEFT_STACK_GUARDED = 0,
    /* Runs on a stack shared with the other SHARED coroutines of its thread;
     * when another one needs the shared stack, the live part of this one's
     * stack (usually a few hundred bytes) is copied aside. For very large
     * counts (a million sleeping coroutines in well under 1 GiB). Pointers
     * to a SHARED coroutine's stack variables are valid only while it runs,
     * with one exception: while it waits in weft_offload, on the future of
     * a task whose argument points into its stack (weft_future_result,
     * weft_futures_wait, weft_as_completed_next, weft_pool_map), in
     * weft_thread_join of a thread whose argument does, or in
     * weft_ppool_map with in, out or statuses there (weft_ppool_starmap:
     * out, statuses, items or the first item's argv, lens or argv[0]), or
     * in weft_pool_iter_next with a running task's argument there, its
     * stack stays in place, so that task or thread may use such pointers;
     * the other SHARED coroutines of its thread then wait until it resumes
     * (GUARDED ones keep running), so such a task must not wait for one of
     * them.
     * Anything else another thread or coroutine may touch while this one
     * waits (a pointer reached only through heap memory, a task it does not
     * wait for as above, the async and imap forms of the process pool, a
     * sync object, weft_thread_spawn's arg) belongs on the heap or in
     * static storage. weft's own calls (resolving, hooked getaddrinfo,
     * process-shared waits, weft_thread_spawn's options) copy what they
     * hand over. */
    WEFT_STACK_SHARED = 1,
} weft_stack_mode;

typedef struct weft_coro_opts {
    const char *name;      /* copied; NULL for none. Shown in crash reports. */
    size_t stack_size;     /* 0 = default (256 KiB); GUARDED: rounded up to
                              pages, at least 16 KiB; SHARED: the shared
                              stack's size is fixed at 256 KiB and this must
                              be 0 or <= it. */
    weft_stack_mode stack_mode;
    int detached;          /* 1: no one will join; memory is freed at exit */
    int suspended;         /* 1: not scheduled; it starts only when another
                              coroutine weft_switch()es to it, and fn then
                              receives the switched value as its argument
                              (the spawn arg must be NULL) */
} weft_coro_opts;

/* Creates a coroutine running fn(arg) on the calling thread's scheduler
 * (created on first use) and makes it ready; it first runs when the caller
 * blocks or yields. opts may be NULL for defaults. On success *out (which
 * may be NULL only if opts->detached) receives the handle.
 * Errors: -EINVAL (fn NULL; out NULL without detached; stack_size out of
 * range; unknown stack_mode; suspended with a non-NULL arg), -ENOMEM (no
 * memory, or no more memory mappings for a GUARDED stack: when the process
 * is at vm.max_map_count, a one-time message on stderr says so and points
 * to WEFT_STACK_SHARED, which needs no mapping per coroutine). */
WEFT_API int weft_spawn(weft_coro *out, weft_coro_fn fn, void *arg,
                        const weft_coro_opts *opts);

/* Waits until c has finished, stores its return value in *result (if result
 * is non-NULL) and releases it: the handle is stale afterwards. Must be
 * called from the thread c runs on; a worker group's coroutine may be joined
 * from any thread, a thread without a scheduler included.
 * Errors: -ESRCH (c already joined, detached-and-gone, or never valid),
 * -EDEADLK (c is the caller, a thread's main coroutine included: this is
 * checked first, so weft_join(weft_self(), ...) from main() is -EDEADLK),
 * -EINVAL (c is detached, or it is the main coroutine and the caller one
 * of its thread's other coroutines), -EXDEV (c belongs to another
 * thread and to no worker group),
 * -EBUSY (another coroutine is already joining c), -ETIMEDOUT (deadline passed first; c is untouched
 * and may be joined again), -ECANCELED (the caller was cancelled), -ENOMEM
 * (no memory for the deadline's timer). */
WEFT_API int weft_join(weft_coro c, int64_t deadline, void **result);

/* Joins every handle in cs[0..n) with one shared deadline, like gevent's
 * joinall. results may be NULL, else results[i] receives cs[i]'s value.
 * On success all n are released. On failure, returns the first error and
 * the handles not yet joined stay valid (those joined are released and
 * their results stored). Errors: as weft_join, and -EINVAL if cs is NULL
 * with n > 0. */
WEFT_API int weft_joinall(const weft_coro *cs, size_t n, int64_t deadline,
                          void **results);

/* Marks c so that its memory is released as soon as it finishes (at once if
 * it already has). The handle is stale afterwards. A worker group's coroutine
 * may be detached from any thread.
 * Errors: -ESRCH, -EINVAL (already detached, or a main coroutine), -EXDEV
 * (another thread's, not a group's), -EBUSY (a coroutine is joining it). */
WEFT_API int weft_detach(weft_coro c);

/* Lets every other ready coroutine of this thread run once, then returns.
 * Returns 0, or -ECANCELED if the caller is cancelled. On a thread without
 * coroutines it calls sched_yield(). */
WEFT_API int weft_yield(void);

/* Sleeps until `deadline` (absolute, weft_now() clock). Other coroutines run
 * meanwhile. Returns 0 when the deadline is reached (at once if it is
 * already past: 0 or any negative value but WEFT_FOREVER), -ECANCELED if
 * cancelled first, -ETIMEDOUT if a timeout scope (weft_timeout_enter)
 * ended first, -EINVAL for WEFT_FOREVER
 * (use a blocking wait on something instead), -ENOMEM (no memory for the
 * timer). */
WEFT_API int weft_sleep_until(int64_t deadline);

/* Sleeps for ns nanoseconds: weft_sleep_until(weft_after(ns)). */
WEFT_API int weft_sleep(int64_t ns);

/* The running coroutine; on a thread that has not used coroutines yet, this
 * creates its scheduler and returns the thread's main coroutine. The main
 * coroutine cannot be joined or detached. A zero handle on out of memory. */
WEFT_API weft_coro weft_self(void);

/* 1 if the two handles name the same coroutine, else 0. */
WEFT_API int weft_coro_equal(weft_coro a, weft_coro b);

/* Unique id of c within the process (main coroutines included; ids start at
 * 1 and are never reused). 0 for a stale handle. */
WEFT_API uint64_t weft_coro_id(weft_coro c);

/* The name given at spawn ("main" for a thread's main coroutine), or NULL
 * if it has none or the handle is stale. Valid while the handle is. */
WEFT_API const char *weft_coro_name(weft_coro c);

/* 1 if c has finished (its value is waiting to be joined), 0 if not yet,
 * -ESRCH if the handle is stale. Call it from c's thread, or for a group's
 * coroutine from anywhere (from elsewhere
 * the answer may be out of date by the time it returns). */
WEFT_API int weft_coro_done(weft_coro c);

/* Number of coroutines on the calling thread that have not finished, not
 * counting its main coroutine. In a worker group's coroutine: the group's
 * coroutines that have not finished, not counting the caller. */
WEFT_API size_t weft_coro_count(void);

/* Greenlet-style explicit switch. Suspends the caller and runs `to` at
 * once, handing it `value`: if `to` is suspended in weft_switch() that call
 * returns 0 with *received = value; if `to` was spawned suspended, it starts
 * with fn(value). The caller stays suspended (it is not ready: only a switch
 * to it, its parent role below, or cancellation resumes it) until some
 * coroutine switches back to it, and then returns 0 with that coroutine's
 * value in *received (received may be NULL). If instead a coroutine that
 * the caller spawned finishes while the caller waits here, the caller
 * resumes with that coroutine's return value in *received and the result
 * 1 (greenlet's "return to parent"). Must be called on the thread `to`
 * runs on.
 * Errors: -ESRCH (to is stale or has finished), -EDEADLK (to is the
 * caller), -EBUSY (to is neither suspended in weft_switch nor spawned
 * suspended: it is ready or blocked elsewhere), -EXDEV (another thread's,
 * or either is a worker group's coroutine: switching is per thread),
 * -ECANCELED (the caller was cancelled while suspended; or already is). */
WEFT_API int weft_switch(weft_coro to, void *value, void **received);

/* Cancels c: its current blocking weft call (if any) fails at once with
 * -ECANCELED, and so does every weft call it makes from then on that would
 * wait (cancellation is sticky), including sleeps, yields and joins of
 * unfinished coroutines, whatever their deadline. Calls that can complete
 * at once still do (a channel operation that finds a peer or room, I/O on
 * a ready descriptor, a free lock), so it can unwind, free what it holds
 * and return. The caller does not wait: join c to know it has finished.
 * Cancelling a finished coroutine is a no-op returning 0.
 * Must be called on c's thread; a worker group's coroutine may be cancelled
 * from any thread (its current wait, on whichever worker, fails at once).
 * Errors: -ESRCH (stale), -EXDEV (another thread's, not a group's). */
WEFT_API int weft_cancel(weft_coro c);

/* 1 if the calling coroutine has been cancelled, else 0. */
WEFT_API int weft_cancelled(void);

/* ---- Worker groups: coroutines on every core (M:N) -----------------------
 *
 * A coroutine spawned with weft_spawn lives and dies on its thread. A worker
 * group is N threads that share coroutines, as Go's runtime does: a coroutine
 * spawned into a group runs on whichever worker is free, and when it blocks
 * and is woken it may resume on another worker (work stealing: per-worker run
 * queues, a next slot for the coroutine a worker just woke, stealing half of
 * a busy worker's queue, a shared queue for wake-ups from outside; an idle
 * worker sleeps in the kernel: an idle group uses no CPU).
 *
 *     weft_group *g;
 *     weft_group_create(&g, NULL);              // one worker per usable CPU
 *     weft_group_spawn(g, &c, handler, arg, NULL);
 *     ...                                       // join, cancel, detach c from anywhere
 *     weft_group_destroy(g);
 *
 * Inside a group, weft_spawn (and weft_spawn_later) spawn into the caller's
 * group. Everything else works as on one thread, between a group's coroutines
 * and with any other thread or coroutine: channels, locks, queues, events,
 * futures, sleeps, timeouts, I/O. Joining, cancelling and detaching a group's
 * coroutine work from any thread (a plain thread too), and so does
 * weft_wait_any on its handle.
 *
 * What changes for code that runs in a group:
 *  - After any call that can block (a weft call that waits, a hooked libc
 *    call), the coroutine may be running on another thread. errno and
 *    pthread_self() are then the new thread's, but a compiler may have kept
 *    the old thread's address of errno or of any other thread-local across
 *    the call (glibc declares __errno_location and pthread_self "const"): in
 *    one function, do not use errno or a thread-local's address across such a
 *    call, or pin the coroutine (weft_coro_pin) around it. weft's own results
 *    never travel in errno.
 *  - A coroutine that holds thread-affine state across a blocking call (a
 *    pthread mutex, a thread-local, a thread id) pins itself with
 *    weft_coro_pin until it lets go of it.
 *  - Waits that leave state in the worker resume on that worker: a wait with a
 *    deadline (its timer), a wait for a descriptor (weft_read and friends,
 *    hooked I/O: the worker's poller), and every wait of a pinned coroutine.
 *    A SHARED-stack coroutine runs on the first worker that takes it and stays
 *    there (its frames live in that worker's shared stack).
 *  - weft_switch and weft_throw are per thread: a group's coroutines cannot be
 *    switched to and cannot switch (-EXDEV), and cannot be spawned suspended
 *    (-EINVAL). weft_coro_link and weft_coro_unlink on a group's coroutine
 *    must come from that coroutine itself, and weft_killall does not take a
 *    group's coroutines (-EXDEV): cancel and join them instead.
 *  - Scheduling stays cooperative: a coroutine that computes without blocking
 *    holds its worker. Other workers take what waits in its queue, but not the
 *    coroutine it woke last (that one runs next on that worker) nor those that
 *    resume only there (see above): call weft_yield now and then in a long
 *    computation, or hand it to a thread pool.
 *  - weft_coro_count() in a group's coroutine counts the group's unfinished
 *    coroutines but the caller.
 *  - WEFT_GROUP_MIGRATE=always in the environment (or opts.migrate) makes every
 *    wake-up of a group's coroutine go to another worker: each wait that can
 *    change thread does. A debugging mode that finds what normal scheduling
 *    hides (weft's own test suites run in it). */
typedef struct weft_group weft_group;

typedef struct weft_group_opts {
    unsigned threads; /* workers; 0 = the CPUs the process may run on; at most 1024 */
    int migrate;      /* 1: every wake-up changes worker (see above); 0 or 1 */
} weft_group_opts;

/* Starts a group's worker threads (opts may be NULL for defaults).
 * Errors: -EINVAL (out NULL, threads > 1024, migrate not 0 or 1), -ENOMEM,
 * -EAGAIN (no more threads: pthread_create). */
WEFT_API int weft_group_create(weft_group **out, const weft_group_opts *opts);

/* weft_spawn into g, from any thread: the coroutine starts on whichever worker
 * takes it first. Errors: as weft_spawn, and -EINVAL (g not a live group;
 * opts->suspended), -ESRCH (g is being destroyed). */
WEFT_API int weft_group_spawn(weft_group *g, weft_coro *out, weft_coro_fn fn, void *arg,
                              const weft_coro_opts *opts);

/* Waits until none of g's coroutines is left unfinished (joined or not), or
 * the deadline passes. Errors: -EINVAL (g not a live group), -EDEADLK (the
 * caller is one of g's coroutines), -ETIMEDOUT, -ECANCELED (the caller was
 * cancelled), -ENOMEM. */
WEFT_API int weft_group_wait(weft_group *g, int64_t deadline);

/* Stops g: cancels every coroutine of g still unfinished (as weft_cancel),
 * waits until all have finished (one that never blocks is waited for all the
 * same), releases those not joined (their handles go stale: join or detach
 * first what you need the results of), stops the workers and frees g.
 * Spawns into g that race with it fail with -ESRCH. Errors: -EINVAL (g not a
 * live group, or already being destroyed), -EDEADLK (the caller is one of
 * g's coroutines). */
WEFT_API int weft_group_destroy(weft_group *g);

/* The group the caller runs in (a group's coroutine or worker), else NULL. */
WEFT_API weft_group *weft_group_self(void);

/* g's number of workers, or -EINVAL (g not a live group). */
WEFT_API int weft_group_threads(weft_group *g);

/* g's coroutines spawned and not yet finished; 0 for an invalid g. */
WEFT_API size_t weft_group_count(weft_group *g);

/* Pins the calling coroutine to its thread until the matching weft_coro_unpin
 * (pins nest): a group's coroutine then resumes on the same worker after every
 * wait. For any other coroutine, or a thread, pinning changes nothing (they
 * never change thread) but is counted all the same.
 * Errors: -EOVERFLOW (32767 pins deep), -ENOMEM (no scheduler could be set
 * up for the thread). */
WEFT_API int weft_coro_pin(void);

/* Ends the innermost weft_coro_pin. Errors: -EINVAL (not pinned). */
WEFT_API int weft_coro_unpin(void);

/* Timeout scopes (gevent's `with Timeout(2):`): a deadline for every
 * blocking call inside a stretch of code, code you did not write included.
 *
 *     weft_timeout t;
 *     weft_timeout_enter(&t, weft_after(2 * WEFT_SEC));
 *     r = fetch_everything();          // any weft or hooked calls
 *     if (weft_timeout_leave(&t) == -ETIMEDOUT)
 *         ...                          // the 2 s ran out inside
 *
 * Between enter and leave, every wait of the caller that cancellation
 * would interrupt (weft_cancel) ends at the scope's deadline if it is the
 * earlier one: the weft call fails with -ETIMEDOUT (weft_sleep too), and a
 * call of the hook library (weft_hook.h) fails as the C library reports a
 * timeout: read/write/recv/send/accept families -1 with errno EAGAIN (as
 * SO_RCVTIMEO/SO_SNDTIMEO do), connect, poll and select -1 with errno
 * ETIMEDOUT, getaddrinfo EAI_AGAIN (the lookup is left to finish on a pool
 * thread), and the sleeps return early (sleep returns the seconds left,
 * usleep/nanosleep/clock_nanosleep report EINTR with the time left). Once
 * the deadline has passed, every such wait in the scope fails at once, so
 * the code unwinds quickly. Calls that can complete without waiting still
 * do, and waits that cannot be cut anyway (a read from a regular file or a
 * terminal, CPU work) are not: the scope is checked only where a wait
 * begins. Unlike weft_cancel it is not sticky: after weft_timeout_leave
 * the caller's calls wait normally again.
 *
 * Scopes nest: the earliest deadline of the scopes entered applies. They
 * belong to the coroutine that entered them (a plain thread and its main
 * coroutine share one set); a coroutine's scopes end with it. With no
 * scope entered a wait pays one comparison, and entering and leaving a
 * scope cost a few nanoseconds; no timer is armed until a call waits.
 * On plain threads without a scheduler, hooked calls on sockets and pipes
 * are cut only while a scope is entered (they then wait with poll(2)); a
 * descriptor they made non-blocking stays emulated as blocking after.
 *
 * weft_timeout_enter: enters a scope with `deadline` (weft_after(ns); any
 * deadline: WEFT_FOREVER is a scope without limit, one already past makes
 * every wait inside fail at once). t is caller-owned and must stay valid
 * until the matching leave; it needs no initialisation.
 * Errors: -EINVAL (t NULL). */
WEFT_API int weft_timeout_enter(weft_timeout *t, int64_t deadline);

/* Leaves the caller's innermost scope t, restoring the enclosing deadline.
 * Returns -ETIMEDOUT if t's deadline has passed and a wait inside the
 * scope was cut by a scope's deadline (gevent's Timeout "fired"), else 0.
 * Errors: -EINVAL (t NULL, or not entered, or already left), -EPERM (t is
 * not the caller's innermost scope: entered by another coroutine or
 * thread, or an inner scope was not left first). */
WEFT_API int weft_timeout_leave(weft_timeout *t);

/* The deadline the caller's scopes impose now (the earliest), or
 * WEFT_FOREVER outside any scope: for code that waits by other means and
 * wants to honour it. */
WEFT_API int64_t weft_timeout_deadline(void);
/* gevent.spawn_later: weft_spawn, but the coroutine starts only at `start`
 * (absolute, weft_now() clock; for a delay use weft_after(ns)). Until then
 * it waits like a sleeping coroutine: it is counted by weft_coro_count,
 * can be joined, detached and cancelled (cancelled before it starts, it
 * finishes without running fn; its result is NULL). A start already past
 * (0 or negative but WEFT_FOREVER, or reached) spawns as weft_spawn does.
 * The timer is set here, so the start itself cannot fail.
 * Errors: as weft_spawn, and -EINVAL (start WEFT_FOREVER; opts->suspended),
 * -ENOMEM (no memory for the timer). */
WEFT_API int weft_spawn_later(weft_coro *out, int64_t start, weft_coro_fn fn, void *arg,
                              const weft_coro_opts *opts);

/* gevent's killall: cancels every coroutine of cs[0..n) (as weft_cancel;
 * finished ones are left alone) and, with block 1, waits until all have
 * finished or the deadline passes. The handles stay valid: join the
 * coroutines (or have them detached) as usual. Every handle is checked
 * before any is cancelled: on those errors nothing is cancelled. The set
 * may name a coroutine more than once. Call it on the thread they run on.
 * Errors: -EINVAL (cs NULL with n > 0; block not 0 or 1; a main
 * coroutine in the set), -ESRCH (a stale handle), -EXDEV (another
 * thread's), -EDEADLK (the caller is in the set), and with block 1 (all are
 * cancelled by then): -ETIMEDOUT, -ECANCELED (the caller was cancelled),
 * -ENOMEM (no memory to wait). */
WEFT_API int weft_killall(const weft_coro *cs, size_t n, int block, int64_t deadline);

/* Links (gevent's Greenlet.link, link_exception, link_value): a callback
 * run when a coroutine finishes. C has no exceptions, so a coroutine
 * "fails" when it ends by cancellation: status is -ECANCELED if it was
 * cancelled before it finished (weft_cancel, weft_killall, thread exit;
 * whatever it returned), the error of a weft_throw that reached it before
 * it started, else 0 (a success: it returned from fn). The callback gets
 * the coroutine's handle (valid during the call), its return value (NULL
 * if fn never ran), that status and ud. */
typedef void (*weft_link_fn)(weft_coro c, void *result, int status, void *ud);

enum {
    WEFT_LINK_ALL = 0,     /* link: whatever the status */
    WEFT_LINK_FAILURE = 1, /* link_exception: status < 0 */
    WEFT_LINK_SUCCESS = 2, /* link_value: status 0 */
};

/* Arranges for fn(c, result, status, ud) to run when c finishes, if `when`
 * matches its status. Callbacks run as c's last acts, in c's own context
 * (on its thread and stack, before weft_coro_done(c) is 1 and before a
 * joiner resumes), in the order they were linked, before its
 * per-coroutine values are destroyed. They may block (a cancelled c's
 * blocking calls fail with -ECANCELED), link more callbacks, unlink
 * others, and detach c; joining c there is -EDEADLK. If c has finished
 * already (not yet joined), fn runs at once, in the caller, and *id is 0.
 * On success *id (id may be NULL) receives a nonzero id for
 * weft_coro_unlink. Call it on c's thread (a worker group's coroutine links
 * only itself: it may be running on another worker).
 * Errors: -EINVAL (fn NULL, unknown `when`, c a main coroutine), -ESRCH
 * (stale), -EXDEV (another thread's, or another group coroutine), -ENOMEM. */
WEFT_API int weft_coro_link(weft_coro c, int when, weft_link_fn fn, void *ud, uint64_t *id);

/* Removes the link `id` of c before it runs (gevent's unlink). Errors:
 * -ENOENT (no such link: it ran, was removed, or was never c's), -ESRCH,
 * -EXDEV. */
WEFT_API int weft_coro_unlink(weft_coro c, uint64_t id);

/* Per-coroutine storage (gevent.local; pthread_key_create for
 * coroutines). A key names one slot in every coroutine, NULL until that
 * coroutine sets it. A thread's main coroutine and a thread without a
 * scheduler share one set of slots: the thread's. When a coroutine
 * finishes (after its links, in its own context, before a joiner resumes)
 * and when a thread exits (its own slots), each non-NULL value of a key
 * with a destructor is set to NULL and the destructor called with it;
 * values set meanwhile get further rounds, at most 4 in all (as pthread's
 * PTHREAD_DESTRUCTOR_ITERATIONS), and what is left then is dropped.
 * Destructors do not run for the process's main thread when it returns
 * from main() or calls exit() (as with pthread keys), nor for a coroutine
 * abandoned at thread exit. A deleted key's values are dropped without
 * their destructor. Getting and setting cost a few nanoseconds. */
#define WEFT_CORO_KEYS_MAX 256
typedef struct weft_coro_key {
    uint32_t idx_;
    uint32_t gen_; /* odd while the key exists; 0 for no key */
} weft_coro_key;

/* Creates a key with an optional destructor (NULL: none). Any thread.
 * Errors: -EINVAL (key NULL), -EAGAIN (WEFT_CORO_KEYS_MAX keys exist). */
WEFT_API int weft_coro_key_create(weft_coro_key *key, void (*destructor)(void *value));

/* Deletes key: no destructor runs; its values are unreachable from then on
 * (a new key never sees them). Errors: -EINVAL (no such key: deleted,
 * zero or never made). */
WEFT_API int weft_coro_key_delete(weft_coro_key key);

/* Sets the calling coroutine's value for key (the thread's, in a main
 * coroutine or a thread without a scheduler).
 * Errors: -EINVAL (no such key), -ENOMEM (the slots could not grow: the
 * old value stays). */
WEFT_API int weft_coro_setspecific(weft_coro_key key, const void *value);

/* The calling coroutine's value for key; NULL if unset or no such key. */
WEFT_API void *weft_coro_getspecific(weft_coro_key key);

/* greenlet's throw(): switches to `to` like weft_switch, but instead of a
 * value `to` receives the error err (< 0): its weft_switch returns err. A
 * coroutine spawned suspended and never started finishes without running
 * fn (result NULL, link status err), like a greenlet thrown into before it
 * started; the caller then resumes as its parent, if it is. What a started
 * coroutine does with err is up to it (returning from fn is a success for
 * its links). The caller waits exactly as in weft_switch and returns the
 * same way (0 and a value, or 1 and a finished child's result).
 * Errors: as weft_switch, and -EINVAL (err >= 0). */
WEFT_API int weft_throw(weft_coro to, int err, void **received);

/* greenlet's parent: the coroutine that weft_switch returns to (result 1)
 * when c finishes, if it waits in weft_switch or weft_throw then (greenlet
 * switches to the parent unconditionally; weft never preempts a parent
 * blocked elsewhere). It is c's spawner unless changed. *parent receives
 * it, or a zero handle if c has none (a main coroutine) or the parent was
 * released. Errors: -EINVAL (parent NULL), -ESRCH, -EXDEV (c is another
 * thread's). */
WEFT_API int weft_coro_parent(weft_coro c, weft_coro *parent);

/* Sets c's parent to p (same thread). Errors: -EINVAL (c is a main
 * coroutine, which has no parent), -EDEADLK (a cycle: p is c or one of c's
 * descendants, as greenlet's ValueError), -ESRCH (c or p stale), -EXDEV (c
 * or p is another thread's). */
WEFT_API int weft_coro_set_parent(weft_coro c, weft_coro parent);

/* ======================================================================
 * Channels
 *
 * A channel carries fixed-size elements (copied by value). Capacity 0 makes
 * it unbuffered: a send completes only when a receiver takes the element
 * (handed over directly). A channel works between coroutines of one thread,
 * coroutines of different threads and plain threads alike; any thread may
 * call any function on it.
 * ====================================================================== */

typedef struct weft_chan weft_chan;

/* Creates a channel of elements of elem_size bytes (1 .. 65536) with room
 * for `capacity` buffered elements (0 .. 2^30).
 * Errors: -EINVAL (out NULL, sizes out of range), -ENOMEM. */
WEFT_API int weft_chan_create(weft_chan **out, size_t elem_size,
                              size_t capacity);

/* Destroys ch. Nobody may be blocked on it or use it afterwards. NULL is a
 * no-op. Errors: -EBUSY if a coroutine or thread is still blocked on it
 * (then nothing is destroyed). */
WEFT_API int weft_chan_destroy(weft_chan *ch);

/* Sends the element at `elem` (elem_size bytes, copied): hands it to a
 * waiting receiver, or buffers it, or waits for room until `deadline`.
 * Errors: -EPIPE (closed, before or while waiting; the element was not
 * sent), -ETIMEDOUT, -ECANCELED, -EINVAL (NULL arguments), -ENOMEM (a
 * SHARED-stack coroutine's park memory, or the deadline's timer). */
WEFT_API int weft_chan_send(weft_chan *ch, const void *elem, int64_t deadline);

/* Receives one element into `elem` (elem_size bytes), waiting until
 * `deadline`. A closed channel still delivers what was buffered; then
 * -EPIPE. Errors: -EPIPE, -ETIMEDOUT, -ECANCELED, -EINVAL, -ENOMEM (as
 * for send). */
WEFT_API int weft_chan_recv(weft_chan *ch, void *elem, int64_t deadline);

/* Non-blocking forms: -EAGAIN instead of waiting. */
WEFT_API int weft_chan_try_send(weft_chan *ch, const void *elem);
WEFT_API int weft_chan_try_recv(weft_chan *ch, void *elem);

/* Closes ch: blocked and later senders fail with -EPIPE; receivers drain
 * the buffer, then get -EPIPE. Errors: -EPIPE if already closed,
 * -EINVAL if ch is NULL. */
WEFT_API int weft_chan_close(weft_chan *ch);

/* Elements buffered now, and the capacity. */
WEFT_API size_t weft_chan_len(weft_chan *ch);
WEFT_API size_t weft_chan_cap(weft_chan *ch);

enum { WEFT_SEND = 1, WEFT_RECV = 2 };

typedef struct weft_select_op {
    weft_chan *chan;  /* NULL: the op is ignored (a disabled case) */
    int op;           /* WEFT_SEND or WEFT_RECV */
    void *elem;       /* element to send, or buffer to receive into */
    int result;       /* out: for the op chosen: 0, or -EPIPE if closed */
} weft_select_op;

/* Waits until one of the n operations can complete, completes exactly that
 * one and returns its index (its outcome in ops[i].result: 0, or -EPIPE if
 * its channel was closed). When several are ready at once one is picked at
 * random, so none starves. With deadline WEFT_NOWAIT this is a non-blocking
 * select. Errors: -ETIMEDOUT, -ECANCELED, -EINVAL (ops NULL with n > 0,
 * n > 1024, bad op kind, NULL elem; or nothing to wait for: n == 0 or
 * every chan NULL, with deadline WEFT_FOREVER), -ENOMEM. With n == 0 (or
 * every chan NULL) and a finite deadline it waits for the deadline and
 * returns -ETIMEDOUT. */
WEFT_API int weft_select(weft_select_op *ops, size_t n, int64_t deadline);

/* ======================================================================
 * File descriptors and sockets that yield
 *
 * These wrap the system calls of the same name: inside a coroutine, where
 * the call would block, the coroutine parks until the descriptor is ready
 * or the deadline passes. The descriptor must be non-blocking for that
 * (weft_fd_set_nonblock; weft_accept returns non-blocking descriptors);
 * on a blocking descriptor the system call blocks the whole thread.
 * Outside coroutines they wait with poll(2). One coroutine at a time may
 * wait for reading, and one for writing, on a given descriptor.
 * ====================================================================== */

enum { WEFT_READABLE = 0x001, WEFT_WRITABLE = 0x004 };

/* Waits until fd is readable and/or writable (events is a mask of
 * WEFT_READABLE and WEFT_WRITABLE) and returns the mask that is ready (also
 * set when the peer hung up or the fd has an error, so the next call
 * reports it). Errors: -EINVAL (no events, or unknown bits), -EBADF (not an
 * open descriptor, or closed with weft_fd_close while waiting), -EBUSY
 * (another coroutine is already waiting on fd in that direction),
 * -ETIMEDOUT, -ECANCELED, -ENOMEM. */
WEFT_API int weft_fd_wait(int fd, int events, int64_t deadline);

/* Sets O_NONBLOCK on fd. Errors: the negative errno of fcntl. */
WEFT_API int weft_fd_set_nonblock(int fd);

/* Wakes whoever waits on fd with -EBADF, forgets it in this thread's
 * poller, then close(2)s it. Use it instead of close() for descriptors
 * that coroutines wait on. Errors: close's, negated. */
WEFT_API int weft_fd_close(int fd);

/* read/write/recv/send: the number of bytes transferred (0 at end of file
 * for reads), or a negative errno: the system call's own, or -ETIMEDOUT,
 * -ECANCELED, -EBUSY, -EBADF as for weft_fd_wait. Like the system calls,
 * write and send may transfer less than asked; weft_write_all loops. */
WEFT_API ssize_t weft_read(int fd, void *buf, size_t len, int64_t deadline);
WEFT_API ssize_t weft_write(int fd, const void *buf, size_t len,
                            int64_t deadline);
WEFT_API ssize_t weft_recv(int fd, void *buf, size_t len, int flags,
                           int64_t deadline);
WEFT_API ssize_t weft_send(int fd, const void *buf, size_t len, int flags,
                           int64_t deadline);

/* Writes all len bytes, waiting as needed. Returns len, or a negative errno;
 * *written (if non-NULL) always receives the bytes actually written, so a
 * partial write before an error is not lost. */
WEFT_API ssize_t weft_write_all(int fd, const void *buf, size_t len,
                                int64_t deadline, size_t *written);

/* accept4(2) with SOCK_NONBLOCK | SOCK_CLOEXEC, waiting for a connection.
 * Returns the new descriptor or a negative errno (as weft_fd_wait, or
 * accept4's own). addr/addrlen may be NULL. */
WEFT_API int weft_accept(int fd, struct sockaddr *addr, socklen_t *addrlen,
                         int64_t deadline);

/* connect(2) on a non-blocking socket, waiting for completion. Returns 0 or
 * a negative errno: connect's own (-ECONNREFUSED, ...), or -ETIMEDOUT,
 * -ECANCELED. */
WEFT_API int weft_connect(int fd, const struct sockaddr *addr,
                          socklen_t addrlen, int64_t deadline);

/* ======================================================================
 * Synchronization: Lock, RLock, Condition, Semaphore, Event, Barrier,
 * WaitGroup, Once
 *
 * One set of primitives for coroutines and threads alike: any of them may
 * be used between coroutines of one thread, coroutines of different
 * threads, and plain threads, in any mix. A coroutine that waits parks only
 * itself; a plain thread blocks on a futex. Each object is a fixed-size
 * struct the caller allocates (embed it, put it on the heap or in static
 * storage; not on the stack of a WEFT_STACK_SHARED coroutine if other
 * coroutines use it). All-zero bytes are a valid initial state for lock,
 * rlock, cond, event, waitgroup and once (so static storage needs no
 * _init); a semaphore or barrier needs its _init. The _destroy calls
 * check that nobody holds or waits on the object (-EBUSY otherwise) and
 * free nothing: the objects own no memory. A destroyed object is usable
 * again only after its _init (see the first page on misuse).
 * ====================================================================== */

/* Mutual exclusion (Python's threading.Lock). Not recursive. Uncontended
 * acquire and release make no system call; while only one thread has ever
 * used a lock, they make no atomic read-modify-write either (the lock is
 * biased to that thread until another one touches it). Under contention waiters spin
 * briefly, then park in FIFO order; a released lock may be taken by a
 * running acquirer before the woken waiter ("barging"), except that a
 * waiter that has waited more than 1 ms is handed the lock directly, so no
 * one starves. Any thread or coroutine may release a held lock (as in
 * Python). */
typedef struct weft_lock {
    uint64_t opaque_[8];
} __attribute__((aligned(16))) weft_lock;
#define WEFT_LOCK_INIT {{0, 0, 0, 0, 0, 0, 0, 0}}

/* Initializes l (unlocked). Errors: -EINVAL (l NULL). */
WEFT_API int weft_lock_init(weft_lock *l);
/* Errors: -EBUSY (held or waited on), -EINVAL. */
WEFT_API int weft_lock_destroy(weft_lock *l);
/* Acquires l, waiting until deadline. Errors: -ETIMEDOUT, -ECANCELED,
 * -EDEADLK (the caller already holds it), -EINVAL. */
WEFT_API int weft_lock_acquire(weft_lock *l, int64_t deadline);
/* Acquires l only if free now: 0 or -EAGAIN (or -EDEADLK, -EINVAL). */
WEFT_API int weft_lock_try_acquire(weft_lock *l);
/* Releases l. Errors: -EPERM (l is not locked), -EINVAL. */
WEFT_API int weft_lock_release(weft_lock *l);
/* 1 if l is held, else 0. */
WEFT_API int weft_lock_locked(weft_lock *l);

/* Reentrant lock (Python's threading.RLock): the owner (a coroutine, or a
 * plain thread) may acquire it again; it is free after as many releases. */
typedef struct weft_rlock {
    uint64_t opaque_[8];
} weft_rlock;

WEFT_API int weft_rlock_init(weft_rlock *l);
/* Errors: -EBUSY, -EINVAL. */
WEFT_API int weft_rlock_destroy(weft_rlock *l);
/* Errors: -ETIMEDOUT, -ECANCELED, -EINVAL, -EOVERFLOW (2^31 nested). */
WEFT_API int weft_rlock_acquire(weft_rlock *l, int64_t deadline);
/* 0 or -EAGAIN. */
WEFT_API int weft_rlock_try_acquire(weft_rlock *l);
/* Errors: -EPERM (the caller does not own it), -EINVAL. */
WEFT_API int weft_rlock_release(weft_rlock *l);

/* Condition variable (Python's threading.Condition), used with a
 * weft_lock the caller holds. */
typedef struct weft_cond {
    uint64_t opaque_[4];
} weft_cond;

WEFT_API int weft_cond_init(weft_cond *c);
/* Errors: -EBUSY (waiters), -EINVAL. */
WEFT_API int weft_cond_destroy(weft_cond *c);
/* Atomically releases l and waits for a notify or the deadline, then
 * re-acquires l (always, even on error) before returning. Spurious
 * wake-ups do not happen, but as in Python, re-check the predicate in a
 * loop: another party may have changed it before l was re-acquired.
 * Errors: -ETIMEDOUT, -ECANCELED, -EPERM (l is not held by the caller),
 * -EINVAL. */
WEFT_API int weft_cond_wait(weft_cond *c, weft_lock *l, int64_t deadline);
/* Wakes up to n waiters (FIFO); returns how many were woken. */
WEFT_API int weft_cond_notify(weft_cond *c, int n);
/* Wakes every waiter; returns how many. */
WEFT_API int weft_cond_notify_all(weft_cond *c);

/* Counting semaphore (Python's Semaphore and BoundedSemaphore). */
typedef struct weft_sem {
    uint64_t opaque_[5];
} weft_sem;

/* Initializes s with `value` permits (0 .. INT32_MAX). With bounded = 1,
 * a release that would make the available count exceed the initial value
 * fails (BoundedSemaphore; as in Python, permits being handed to waiters
 * at that moment are not counted as available).
 * Errors: -EINVAL. */
WEFT_API int weft_sem_init(weft_sem *s, int64_t value, int bounded);
/* Errors: -EBUSY, -EINVAL. */
WEFT_API int weft_sem_destroy(weft_sem *s);
/* Takes one permit, waiting until deadline. Waiters are served FIFO.
 * Errors: -ETIMEDOUT, -ECANCELED, -EINVAL. */
WEFT_API int weft_sem_acquire(weft_sem *s, int64_t deadline);
/* 0 or -EAGAIN. */
WEFT_API int weft_sem_try_acquire(weft_sem *s);
/* Returns n permits (n >= 1), handing them to waiters first.
 * Errors: -EOVERFLOW (bounded and above the initial value, or past
 * INT32_MAX: nothing is released), -EINVAL. */
WEFT_API int weft_sem_release(weft_sem *s, int64_t n);
/* Permits available now. */
WEFT_API int64_t weft_sem_value(weft_sem *s);

/* Event (Python's threading.Event). */
typedef struct weft_event {
    uint64_t opaque_[4];
} weft_event;

WEFT_API int weft_event_init(weft_event *e);
/* Errors: -EBUSY, -EINVAL. */
WEFT_API int weft_event_destroy(weft_event *e);
/* Sets the flag and wakes every waiter. */
WEFT_API int weft_event_set(weft_event *e);
WEFT_API int weft_event_clear(weft_event *e);
/* 1 if set, else 0. */
WEFT_API int weft_event_is_set(weft_event *e);
/* Waits until the flag is set (returns 0 at once if it is).
 * Errors: -ETIMEDOUT, -ECANCELED, -EINVAL. */
WEFT_API int weft_event_wait(weft_event *e, int64_t deadline);

/* Barrier for a fixed number of parties (Python's threading.Barrier). */
typedef struct weft_barrier {
    uint64_t opaque_[5];
} weft_barrier;

/* Errors: -EINVAL (parties < 1 or > INT32_MAX). */
WEFT_API int weft_barrier_init(weft_barrier *b, int parties);
/* Errors: -EBUSY, -EINVAL. */
WEFT_API int weft_barrier_destroy(weft_barrier *b);
/* Waits until `parties` callers have arrived, then releases them all and
 * resets for the next round. Returns the caller's arrival index, 0 ..
 * parties - 1 (parties - 1 for the last to arrive). If the deadline
 * passes or the caller is cancelled, the barrier breaks: the caller gets
 * -ETIMEDOUT / -ECANCELED, everyone waiting and every later caller
 * -EPIPE, until weft_barrier_reset. (A deadline that passes just as the
 * round completes may still give -ETIMEDOUT to that caller without
 * breaking the barrier.) Errors: -EPIPE (broken), -ETIMEDOUT, -ECANCELED,
 * -EINVAL (b NULL, or never initialised: all-zero bytes). */
WEFT_API int weft_barrier_wait(weft_barrier *b, int64_t deadline);
/* Breaks the barrier: current and later waiters get -EPIPE. */
WEFT_API int weft_barrier_abort(weft_barrier *b);
/* Repairs a broken barrier (waiters still inside get -EPIPE). */
WEFT_API int weft_barrier_reset(weft_barrier *b);
/* 1 if broken, else 0. */
WEFT_API int weft_barrier_broken(weft_barrier *b);
/* Number of callers waiting now. */
WEFT_API int weft_barrier_waiting(weft_barrier *b);

/* WaitGroup (Go's sync.WaitGroup): a counter waiters wait to reach 0. */
typedef struct weft_waitgroup {
    uint64_t opaque_[4];
} weft_waitgroup;

WEFT_API int weft_waitgroup_init(weft_waitgroup *wg);
/* Errors: -EBUSY, -EINVAL. */
WEFT_API int weft_waitgroup_destroy(weft_waitgroup *wg);
/* Adds delta (may be negative); reaching 0 wakes every waiter.
 * Errors: -EINVAL (the counter would go negative or past INT64_MAX:
 * nothing changes). */
WEFT_API int weft_waitgroup_add(weft_waitgroup *wg, int64_t delta);
/* weft_waitgroup_add(wg, -1). */
WEFT_API int weft_waitgroup_done(weft_waitgroup *wg);
/* Waits for the counter to be 0. Errors: -ETIMEDOUT, -ECANCELED. */
WEFT_API int weft_waitgroup_wait(weft_waitgroup *wg, int64_t deadline);

/* Once: runs an initializer exactly once however many callers race. */
typedef struct weft_once {
    uint64_t opaque_[4];
} weft_once;
#define WEFT_ONCE_INIT {{0, 0, 0, 0}}

/* Calls fn(arg) if no call on o has completed yet; concurrent callers wait
 * (parking) until the first finishes. Returns 0 once fn has run (now or
 * before). If the running call's caller is cancelled while others wait,
 * they still wait for it. Errors: -EINVAL (NULL), -ECANCELED (the caller
 * was cancelled while waiting; fn may still be running elsewhere). */
WEFT_API int weft_once_call(weft_once *o, void (*fn)(void *arg), void *arg);

/* ======================================================================
 * Threads (Python's threading.Thread)
 *
 * A weft thread is a pthread with a name, a daemon flag, a join with a
 * deadline and a result. Its function may use coroutines (the thread gets
 * its own scheduler on first use) and every weft primitive. Joining from a
 * coroutine parks only that coroutine.
 *
 * Daemon semantics, as in Python: when the process exits normally (return
 * from main or exit()), weft first waits for every non-daemon weft thread
 * that is still running; daemon threads are not waited for and die with
 * the process. (A thread that calls exit() itself is not waited for by
 * that exit.)
 * ====================================================================== */

typedef struct weft_thread weft_thread;
typedef void *(*weft_thread_fn)(void *arg);

typedef struct weft_thread_opts {
    const char *name;  /* copied; NULL: "Thread-N" (N counts from 1 per process) */
    int daemon;        /* 1: not waited for at process exit */
    size_t stack_size; /* 0: the system default; else 64 KiB .. SIZE_MAX / 2,
                          rounded up to whole pages and raised to the
                          platform's minimum (sysconf(_SC_THREAD_STACK_MIN):
                          16 KiB on x86_64, 128 KiB on aarch64 glibc) */
    int serve;         /* 1: a coroutine server: the thread gets its scheduler
                          before fn runs (fn may then be NULL); after fn
                          returns it keeps running the coroutines that other
                          threads weft_thread_spawn onto it, until
                          weft_thread_stop and until they have all finished */
} weft_thread_opts;

/* Starts a thread running fn(arg). opts may be NULL. On success *out
 * receives the handle, which stays valid until weft_thread_join succeeds
 * or weft_thread_detach. Errors: -EINVAL (out NULL, fn NULL without
 * opts->serve, stack_size below 64 KiB or above SIZE_MAX / 2), -ENOMEM,
 * -EAGAIN (system thread limit, or no memory for the stack). */
WEFT_API int weft_thread_start(weft_thread **out, weft_thread_fn fn, void *arg,
                               const weft_thread_opts *opts);

/* Waits until t has finished, stores its return value in *result (if
 * non-NULL) and frees the handle. Errors: -ETIMEDOUT (t still runs; the
 * handle stays valid), -ECANCELED, -EDEADLK (t is the calling thread),
 * -EINVAL (t NULL or detached). */
WEFT_API int weft_thread_join(weft_thread *t, int64_t deadline, void **result);

/* Lets t free itself when it finishes; the handle must not be used again.
 * Errors: -EINVAL. */
WEFT_API int weft_thread_detach(weft_thread *t);

/* Spawns a detached coroutine fn(arg) on the scheduler of t, a thread
 * started with opts.serve, from any thread or coroutine; it starts at once
 * on t (its result is not kept: report back through a channel, a queue or
 * a future). opts as for weft_spawn (detached is implied). The caller
 * waits (parking, if a coroutine) until t has created it, so errors are
 * reported here. Errors: -EINVAL (t or fn NULL, t does not serve,
 * opts->suspended, bad stack options), -ESRCH (t has stopped serving, or
 * could not set up its scheduler), -ENOMEM (here or on t). */
WEFT_API int weft_thread_spawn(weft_thread *t, weft_coro_fn fn, void *arg,
                               const weft_coro_opts *opts);

/* Asks a serving thread to finish: it accepts no more spawns and ends once
 * its coroutines have finished. Errors: -EINVAL (t NULL or not serving). */
WEFT_API int weft_thread_stop(weft_thread *t);

/* 1 while t runs its function, 0 once it has returned. */
WEFT_API int weft_thread_is_alive(const weft_thread *t);
/* t's name (valid while the handle is). */
WEFT_API const char *weft_thread_name(const weft_thread *t);
/* t's kernel thread id (gettid), 0 before it has started. */
WEFT_API int64_t weft_thread_native_id(const weft_thread *t);
/* 1 if t is a daemon thread. */
WEFT_API int weft_thread_daemon(const weft_thread *t);

/* The calling thread's name: its weft name, "MainThread" for the process's
 * initial thread, or "Dummy-N" for other threads weft did not start. */
WEFT_API const char *weft_thread_current_name(void);
/* The calling thread's kernel thread id. */
WEFT_API int64_t weft_thread_current_id(void);
/* Python's threading.get_ident(): a nonzero id of the calling thread,
 * fixed for its lifetime and never given to another thread of the process
 * (unlike a kernel id, it is not reused). 1 is the process's initial
 * thread; a weft thread's ident is fixed when weft_thread_start returns
 * (weft_thread_enumerate lists it from then); other threads get theirs at
 * first use. In a forked child, the forking thread keeps its ident and
 * is the child's main thread. */
WEFT_API uint64_t weft_thread_ident(void);
/* Python's threading.enumerate(): stores the idents (weft_thread_ident) of
 * the live threads in idents[0 .. max-1]: the process's initial thread
 * first, then the calling thread if weft did not start it, then every
 * thread started with weft_thread_start (timers included) whose function
 * has not returned, in start order. Threads made with pthread_create that
 * are not the caller are not listed. Idents, not handles: a handle may be
 * freed at any time by its owner's join or detach, an ident stays
 * meaningful (compare it with what the thread reported). Returns how many
 * live threads there are (may exceed max: call again with more room).
 * Errors: -EINVAL (max < 0, idents NULL with max > 0). */
WEFT_API int weft_thread_enumerate(uint64_t *idents, int max);
/* Python's threading.active_count(): weft_thread_enumerate(NULL, 0), so
 * at least 1 (the initial thread, and the caller). */
WEFT_API int weft_thread_active_count(void);

/* Python's threading.Timer(delay, fn, (arg,)).start(): starts a thread
 * ("Thread-N", not a daemon: exit waits for it, as Python) that waits
 * delay_ns nanoseconds, then returns fn(arg), unless weft_timer_cancel
 * came first, in which case fn never runs and the thread returns NULL.
 * *out is a weft_thread handle: join it with weft_thread_join (the result
 * is fn's, or NULL if cancelled) or detach it; the other weft_thread_*
 * calls work on it too. Errors: -EINVAL (out or fn NULL, delay_ns < 0),
 * as weft_thread_start. */
WEFT_API int weft_timer_start(weft_thread **out, int64_t delay_ns, weft_thread_fn fn, void *arg);
/* Python's Timer.cancel(): stops t from calling fn if it has not yet
 * started to, and wakes its thread, which then finishes at once (it still
 * must be joined or detached). Returns 0 if fn will never run (also on a
 * second cancel), 1 if it was too late: fn has started (or returned); the
 * call then changes nothing. Valid from any thread or coroutine while the
 * handle is. Errors: -EINVAL (t NULL, or not made by weft_timer_start). */
WEFT_API int weft_timer_cancel(weft_thread *t);

/* Python's threading.excepthook. C has no exceptions, so a thread fails
 * explicitly: weft_thread_fail(err) from inside a thread started with
 * weft_thread_start (or weft_thread_obj_start, or a timer's fn) marks it
 * failed with err, and when its function returns (or, for opts.serve, when
 * the thread ends) the process-wide excepthook runs on that thread, while
 * it is still alive and listed by weft_thread_enumerate, before any join
 * returns: "raise" is `weft_thread_fail(-EIO); return NULL;`. The join
 * itself is unaffected (it returns 0 and the function's result), as in
 * Python. The thread pool's counterpart: a task submitted fire-and-forget
 * (weft_pool_submit with out NULL) that returns a negative status, which
 * no one else can ever see, is reported the same way on the worker that
 * ran it (a task whose future the caller holds is not: its result is the
 * report). The default hook writes one line to stderr, as Python prints
 * "Exception in thread NAME:" and a traceback:
 *     Exception in thread Thread-3 (ident 5): deadline passed (-110)
 * and for a pool task "Exception in a fire-and-forget pool task on thread
 * Dummy-2 (ident 4): ...". */
typedef struct weft_excepthook_args {
    const char *thread_name; /* the failing thread's (weft_thread_current_name) */
    uint64_t ident;          /* its weft_thread_ident */
    int err;                 /* the error, < 0 */
    weft_thread *thread;     /* the failed thread's handle; NULL for a pool task */
    /* a pool task's function (a weft_task_fn) and argument; else NULL */
    int (*task)(void *arg, void **result);
    void *arg;
} weft_excepthook_args;
typedef void (*weft_excepthook_fn)(const weft_excepthook_args *args, void *ud);

/* Marks the calling thread as failed with err (a later call replaces it).
 * Errors: -EINVAL (err >= 0), -ESRCH (the caller is not a thread weft
 * started: the initial thread, a pool worker, a foreign thread). */
WEFT_API int weft_thread_fail(int err);
/* Sets the process-wide hook: fn(args, ud) runs on each failing thread
 * (several at once if several fail; fn may call weft_thread_set_excepthook
 * itself). fn NULL restores the default. Any thread may call it. */
WEFT_API void weft_thread_set_excepthook(weft_excepthook_fn fn, void *ud);
/* Stores the current hook in *fn (weft_thread_excepthook_default if none
 * was set) and, if ud is non-NULL, its ud in *ud: to chain to it from a new
 * hook. Errors: -EINVAL (fn NULL). */
WEFT_API int weft_thread_get_excepthook(weft_excepthook_fn *fn, void **ud);
/* The default hook (Python's threading.__excepthook__): the line above, in
 * one write(2) to descriptor 2. args NULL is a no-op; ud is unused. */
WEFT_API void weft_thread_excepthook_default(const weft_excepthook_args *args, void *ud);

/* The seed's subclass style: embed a weft_thread_obj in your own struct,
 * give it a run callback, start it, and recover your struct in run() with
 * WEFT_CONTAINER_OF. */
typedef struct weft_thread_obj weft_thread_obj;
struct weft_thread_obj {
    void *(*run)(weft_thread_obj *self);
    weft_thread *handle; /* set by weft_thread_obj_start */
};
#define WEFT_CONTAINER_OF(ptr, type, member) ((type *)((char *)(ptr)-offsetof(type, member)))

/* Starts self->run(self) on a new thread (self must stay valid until it is
 * joined). Errors: as weft_thread_start, -EINVAL if run is NULL. */
WEFT_API int weft_thread_obj_start(weft_thread_obj *self, const weft_thread_opts *opts);
/* weft_thread_join(self->handle, ...), then clears self->handle. */
WEFT_API int weft_thread_obj_join(weft_thread_obj *self, int64_t deadline, void **result);

/* ======================================================================
 * Queues (Python's queue.Queue, LifoQueue, PriorityQueue, and a
 * double-ended queue), with task_done/join and shutdown
 *
 * One type serves every kind. A queue carries fixed-size elements, copied
 * in by put and out by get. It may be bounded (put waits while it holds
 * maxsize elements) or unbounded (its storage grows by doubling). Like the
 * other primitives, a queue works between coroutines of one thread,
 * coroutines of different threads and plain threads, in any mix; any
 * thread may call any function on it. A coroutine that waits parks only
 * itself; a plain thread blocks on a futex (after spinning a few
 * microseconds, as a put or get on another core is usually that close).
 *
 * Waiting getters are served first come, first served, and so are waiting
 * putters. A put that finds a getter waiting hands the element straight to
 * it; a get that makes room in a full queue moves the oldest waiting
 * putter's element in at once. A wake-up is only ever sent to a party that
 * is actually parked.
 *
 * Kinds, and which end each call uses:
 *   WEFT_QUEUE_FIFO      put appends, get takes the oldest.
 *   WEFT_QUEUE_LIFO      put appends, get takes the newest (a stack).
 *   WEFT_QUEUE_PRIORITY  get takes the element with the lowest priority
 *                        value (as Python's PriorityQueue); equal
 *                        priorities come out in the order they went in.
 *                        weft_queue_put gives priority 0.
 *   WEFT_QUEUE_DEQUE     put appends at the back, put_front at the front;
 *                        get takes from the front, get_back from the back.
 *
 * Tasks (Python's task_done/join): every successful put adds one
 * unfinished task; weft_queue_task_done retires one; weft_queue_join
 * waits until none is left.
 *
 * Shutdown (Python 3.13's Queue.shutdown): afterwards every put fails with
 * -EPIPE (and so do putters blocked at that moment); gets keep returning
 * what is left and then fail with -EPIPE, so a reader loops "while get
 * returns 0" and never polls weft_queue_empty(). With immediate = 1 the
 * elements left are discarded (each counted as a finished task, which
 * can release join).
 *
 * Deadlines follow the header's conventions: WEFT_FOREVER, WEFT_NOWAIT
 * (then -ETIMEDOUT at once if the call would wait), or an absolute
 * weft_now() time. The try-variants are the WEFT_NOWAIT forms that return
 * -EAGAIN instead of -ETIMEDOUT.
 * ====================================================================== */

typedef struct weft_queue weft_queue;

enum {
    WEFT_QUEUE_FIFO = 0,
    WEFT_QUEUE_LIFO = 1,
    WEFT_QUEUE_PRIORITY = 2,
    WEFT_QUEUE_DEQUE = 3,
};

/* Creates an empty queue of `kind` (WEFT_QUEUE_*) carrying elements of
 * elem_size bytes (1 .. 65536). maxsize is the bound (1 .. 2^30), or 0 for
 * an unbounded queue. Storage starts small and grows as needed (never past
 * maxsize). On success *out receives the queue; on failure *out is
 * untouched and nothing is left allocated.
 * Errors: -EINVAL (out NULL, unknown kind, elem_size or maxsize out of
 * range), -ENOMEM. */
WEFT_API int weft_queue_create(weft_queue **out, int kind, size_t elem_size,
                               size_t maxsize);

/* Destroys q and the elements still in it. Nobody may use q afterwards.
 * NULL is a no-op returning 0.
 * Errors: -EBUSY if a coroutine or thread is blocked in a put, get or join
 * on q (then nothing is destroyed). */
WEFT_API int weft_queue_destroy(weft_queue *q);

/* Puts a copy of the elem_size bytes at `elem`: hands it to the oldest
 * waiting getter, or stores it, or (bounded and full) waits for room until
 * `deadline`. On success the queue's unfinished-task count grows by one.
 * On a PRIORITY queue the element gets priority 0; on a DEQUE it goes to
 * the back. On failure nothing was put.
 * Errors: -EPIPE (q was shut down, before or while waiting), -ETIMEDOUT,
 * -ECANCELED (the calling coroutine was cancelled), -ENOMEM (the storage
 * could not grow, or, in a WEFT_STACK_SHARED coroutine, no memory to
 * park), -EINVAL (q or elem NULL). */
WEFT_API int weft_queue_put(weft_queue *q, const void *elem, int64_t deadline);

/* weft_queue_put with WEFT_NOWAIT, returning -EAGAIN (bounded and full)
 * instead of -ETIMEDOUT. Other errors as weft_queue_put. */
WEFT_API int weft_queue_try_put(weft_queue *q, const void *elem);

/* Puts elem with `priority` (any int64_t; lower values come out first, and
 * equal values in the order they were put) into a PRIORITY queue.
 * Errors: as weft_queue_put; -EINVAL also if q is not a PRIORITY queue. */
WEFT_API int weft_queue_put_prio(weft_queue *q, const void *elem,
                                 int64_t priority, int64_t deadline);

/* Puts elem at the front of a DEQUE queue (Python's deque.appendleft),
 * so that the next weft_queue_get returns it.
 * Errors: as weft_queue_put; -EINVAL also if q is not a DEQUE queue. */
WEFT_API int weft_queue_put_front(weft_queue *q, const void *elem,
                                  int64_t deadline);

/* Takes one element into `out` (elem_size bytes): from the end given by
 * q's kind, else waits for a put until `deadline`. If the queue was full,
 * the oldest waiting putter's element moves in. A shut-down queue still
 * delivers what it holds, then fails with -EPIPE. On failure *out is
 * untouched (its bytes may have been overwritten only on success).
 * Errors: -EPIPE (shut down and empty, before or while waiting),
 * -ETIMEDOUT, -ECANCELED, -ENOMEM (in a WEFT_STACK_SHARED coroutine, no
 * memory to park), -EINVAL (q or out NULL). */
WEFT_API int weft_queue_get(weft_queue *q, void *out, int64_t deadline);

/* weft_queue_get with WEFT_NOWAIT, returning -EAGAIN (empty, not shut
 * down) instead of -ETIMEDOUT. Other errors as weft_queue_get. */
WEFT_API int weft_queue_try_get(weft_queue *q, void *out);

/* Takes the element at the back of a DEQUE queue (Python's deque.pop).
 * Errors: as weft_queue_get; -EINVAL also if q is not a DEQUE queue. */
WEFT_API int weft_queue_get_back(weft_queue *q, void *out, int64_t deadline);

/* Number of elements in q now (Python's qsize); 0 for NULL. Like Python's,
 * the answer may be stale by the time the caller acts on it. */
WEFT_API size_t weft_queue_size(weft_queue *q);

/* 1 if q holds no element now, else 0 (1 for NULL). */
WEFT_API int weft_queue_empty(weft_queue *q);

/* 1 if q is bounded and holds maxsize elements now, else 0 (an unbounded
 * queue is never full; 0 for NULL). */
WEFT_API int weft_queue_full(weft_queue *q);

/* Marks one task as finished: call it once per element taken with a get,
 * when its processing is done. When the unfinished count reaches 0, every
 * weft_queue_join waiter returns.
 * Errors: -EINVAL (q NULL, or called more times than elements were put:
 * Python's ValueError; nothing changes). */
WEFT_API int weft_queue_task_done(weft_queue *q);

/* Waits until every element ever put has been matched by a
 * weft_queue_task_done (or discarded by an immediate shutdown); returns 0
 * at once if none is unfinished. Shutdown alone does not end the wait.
 * Errors: -ETIMEDOUT, -ECANCELED, -ENOMEM (WEFT_STACK_SHARED coroutine, no
 * memory to park), -EINVAL (q NULL). */
WEFT_API int weft_queue_join(weft_queue *q, int64_t deadline);

/* Shuts q down: putters blocked now and every later put fail with -EPIPE;
 * getters blocked now (the queue is empty then) fail with -EPIPE, later
 * getters take what is left and then get -EPIPE. With immediate = 1 the
 * elements left are discarded as well, each counted as a finished task
 * (joiners return once the elements already taken are task_done'd too).
 * Calling it again is allowed (and may discard, with immediate = 1).
 * Errors: -EINVAL (q NULL). */
WEFT_API int weft_queue_shutdown(weft_queue *q, int immediate);

/* 1 if q has been shut down, else 0 (0 for NULL). */
WEFT_API int weft_queue_is_shutdown(weft_queue *q);

/* ======================================================================
 * Thread pool and futures (Python's concurrent.futures)
 *
 * A weft_pool runs tasks on a fixed set of worker threads (plain pthreads
 * owned by the pool). weft_pool_submit() queues a task and hands back a
 * weft_future, the task's eventual outcome; the caller waits for it with a
 * deadline, cancels it while it has not started, attaches done-callbacks,
 * or waits for many futures at once. Every wait here follows the header's
 * rule: inside a coroutine it parks only that coroutine, on a plain thread
 * it blocks the thread. Any thread or coroutine may call any function on a
 * pool or future.
 *
 * C has no exceptions, so a task reports failure through its return
 * value: a task is `int fn(void *arg, void **result)` returning a status,
 * 0 or more for success (the value is passed through, so a task may return
 * a small count) or a negative errno for failure; it may store a pointer in
 * *result (NULL beforehand). The future carries (status, result).
 *
 * Futures are reference counted: weft_pool_submit() gives the caller one
 * reference (release it with weft_future_release()), and the pool holds
 * another until the task has finished or been cancelled, so releasing a
 * future early never stops or breaks its task. Tasks cannot be interrupted
 * once started. Blocking inside a task blocks its worker thread; a task
 * that waits for another task of the same pool can deadlock a pool whose
 * workers are all busy (as in Python).
 * ====================================================================== */

typedef struct weft_pool weft_pool;
typedef struct weft_future weft_future;

/* A task: returns its status (>= 0 success, < 0 a negative errno) and may
 * store a result pointer in *result (which is NULL on entry). */
typedef int (*weft_task_fn)(void *arg, void **result);

/* Creates a pool of nthreads worker threads (0: the number of online
 * CPUs), started at once. The workers block all asynchronous signals (they
 * are delivered to the application's own threads) and are not waited for
 * at process exit (daemon-like): destroy the pool to wait for its tasks.
 * Errors: -EINVAL (out NULL, nthreads < 0 or > 1024), -ENOMEM, -EAGAIN
 * (the system could not create a thread; nothing is left behind). */
WEFT_API int weft_pool_create(weft_pool **out, int nthreads);

/* Number of worker threads of p (0 if p is NULL). */
WEFT_API int weft_pool_size(const weft_pool *p);

/* Queues fn(arg) to run on one of p's workers; tasks start in submission
 * order (FIFO). On success, if out is non-NULL, *out receives a future
 * holding one reference for the caller; with out NULL the task runs
 * "fire and forget". Never waits.
 * Errors: -EINVAL (p or fn NULL), -EPIPE (p was shut down: the task is not
 * queued), -ENOMEM. */
WEFT_API int weft_pool_submit(weft_pool *p, weft_task_fn fn, void *arg,
                              weft_future **out);

/* Waits until f has finished, until `deadline`, and returns the task's
 * status (>= 0, or the task's negative errno); *result (if result is
 * non-NULL) receives the task's result pointer when f finished, NULL
 * otherwise. Several callers may wait on one future.
 * Errors (besides a failed task's own status): -ECANCELED (f was
 * cancelled; also when the calling coroutine is cancelled while waiting),
 * -ETIMEDOUT (f had not finished by the deadline; f is untouched), -ENOMEM
 * (a SHARED-stack coroutine could not get park memory), -EINVAL (f NULL).
 * A task may itself return -ETIMEDOUT or -ECANCELED: weft_future_done()
 * and weft_future_cancelled() tell the cases apart. */
WEFT_API int weft_future_result(weft_future *f, int64_t deadline,
                                void **result);

/* Cancels f if its task has not started yet: it will never run, f is done
 * with status -ECANCELED, its waiters wake and its done-callbacks run now,
 * on the calling thread. Returns 1 if this call cancelled f, 0 if it could
 * not (the task is running or finished, or f was already cancelled).
 * Errors: -EINVAL (f NULL). */
WEFT_API int weft_future_cancel(weft_future *f);

/* 1 if f has finished or was cancelled, else 0 (also for NULL). Never waits. */
WEFT_API int weft_future_done(weft_future *f);

/* 1 if f was cancelled (its task never ran), else 0 (also for NULL). */
WEFT_API int weft_future_cancelled(weft_future *f);

/* Callback for weft_future_on_done: f is valid during the call (the
 * callback may read it with weft_future_result(f, WEFT_NOWAIT, ...)) but
 * must not release the caller's reference to it. */
typedef void (*weft_future_cb)(weft_future *f, void *ud);

/* Arranges for cb(f, ud) to be called once f is done: at once, on the
 * calling thread, if f already is; otherwise on the thread that completes
 * f (the worker that ran the task, or the caller of weft_future_cancel /
 * weft_pool_shutdown that cancelled it), after its waiters were woken.
 * Several callbacks run in the order they were added. Callbacks run on
 * pool workers must not block for long: the worker runs no task meanwhile.
 * Errors: -EINVAL (f or cb NULL), -ENOMEM (cb will not be called). */
WEFT_API int weft_future_on_done(weft_future *f, weft_future_cb cb, void *ud);

/* Drops the caller's reference to f; f must not be used by the caller
 * afterwards. The task is not affected. NULL is a no-op. */
WEFT_API void weft_future_release(weft_future *f);

/* Futures made by hand (concurrent.futures.Future() with set_result and
 * set_exception: a promise). weft_future_create makes a pending future
 * with no task, holding one reference for the caller; whoever holds it
 * completes it once with weft_future_set_result or _set_exception, and
 * every other call above works on it as on a task's future (waiting,
 * callbacks, weft_futures_wait, as_completed, cancel while pending).
 * Errors: -EINVAL (out NULL), -ENOMEM. */
WEFT_API int weft_future_create(weft_future **out);
/* Adds a reference to f (any future), for another owner that will call
 * weft_future_release. Errors: -EINVAL (f NULL). */
WEFT_API int weft_future_retain(weft_future *f);
/* Completes the hand-made future f with status 0 and `result`: its waiters
 * wake and its done-callbacks run now, on the calling thread. Any thread
 * may call it. Errors: -EALREADY (f is already done, cancelled, or being
 * completed by another call: as Python's InvalidStateError), -EPERM (f is a
 * pool task's future), -EINVAL (f NULL). */
WEFT_API int weft_future_set_result(weft_future *f, void *result);
/* Completes the hand-made future f as failed: weft_future_result returns
 * err (a negative errno, < 0) with a NULL result. Errors: as
 * weft_future_set_result, and -EINVAL (err >= 0). */
WEFT_API int weft_future_set_exception(weft_future *f, int err);

enum {
    WEFT_WAIT_ALL = 0,          /* every future is done */
    WEFT_WAIT_ANY = 1,          /* at least one future is done */
    WEFT_WAIT_FIRST_ERROR = 2,  /* one finished with a negative status (not
                                   counting cancelled ones), or all done */
};

/* Waits until the condition `mode` holds for fs[0..n), or until the
 * deadline, and returns the number of futures that are done (use
 * weft_future_done / weft_future_result to see which). With n == 0 it
 * returns 0 at once. The array may contain a future more than once; no
 * entry may be NULL.
 * Errors: -ETIMEDOUT (the condition did not hold by the deadline),
 * -ECANCELED (the calling coroutine was cancelled), -EINVAL (fs NULL with
 * n > 0, a NULL entry, n > INT32_MAX, unknown mode), -ENOMEM. */
WEFT_API int weft_futures_wait(weft_future *const *fs, size_t n, int mode,
                               int64_t deadline);

/* as_completed: yields the indexes of fs[0..n) in the order the futures
 * finish (those already done first, in index order). Caller-owned state:
 *
 *     weft_as_completed_iter it;
 *     size_t i;
 *     int r;
 *     weft_as_completed_init(&it, fs, n);
 *     while ((r = weft_as_completed_next(&it, deadline, &i)) > 0)
 *         use(fs[i]);
 *     weft_as_completed_destroy(&it);
 *
 * The array fs must stay valid (and its futures referenced) until
 * weft_as_completed_destroy. Each call scans the futures not yet yielded,
 * so a full iteration costs O(n^2) in the worst case: fine for thousands. */
typedef struct weft_as_completed_iter {
    weft_future *const *fs_;
    size_t n_;
    size_t yielded_;
    size_t *rest_;  /* indexes not yet yielded, from yielded_ on */
    uint64_t tag_;  /* set by init: a destroyed or garbage iterator aborts */
} weft_as_completed_iter;

/* Errors: -EINVAL (it NULL, fs NULL with n > 0, a NULL entry), -ENOMEM. */
WEFT_API int weft_as_completed_init(weft_as_completed_iter *it,
                                    weft_future *const *fs, size_t n);

/* Waits until a future not yet yielded is done, stores its index in
 * *index and returns 1; returns 0 once every index has been yielded.
 * Errors: -ETIMEDOUT (none finished by the deadline; call again later),
 * -ECANCELED (the calling coroutine was cancelled), -EINVAL (it or index
 * NULL, or it not initialized), -ENOMEM. */
WEFT_API int weft_as_completed_next(weft_as_completed_iter *it,
                                    int64_t deadline, size_t *index);

/* Frees the iterator's memory (not the futures). NULL is a no-op. */
WEFT_API void weft_as_completed_destroy(weft_as_completed_iter *it);

/* Runs fn(args[i], &results[i]) for i in 0..n on p and waits for all of
 * them (Python's Executor.map, but every outcome is kept). statuses[i]
 * (if statuses is non-NULL) receives task i's status, or -ECANCELED if it
 * never ran; results[i] (if results is non-NULL) its result pointer, or
 * NULL. Returns 0 if every task succeeded (status >= 0), else the status
 * of the lowest-index task that failed or was not run.
 * The deadline bounds the wait: once it passes (or the calling coroutine
 * is cancelled) the tasks not yet started are cancelled, and map then
 * still waits for those already running (tasks cannot be interrupted and
 * they use args), and returns -ETIMEDOUT (or -ECANCELED).
 * Errors: -EINVAL (p or fn NULL; args NULL with n > 0), -EPIPE (p is shut
 * down; tasks submitted before are cancelled or waited for as above),
 * -ENOMEM, -EDEADLK (called from one of p's own workers with n > 0: it
 * could wait for itself), -ETIMEDOUT, -ECANCELED. */
WEFT_API int weft_pool_map(weft_pool *p, weft_task_fn fn, void *const *args,
                           void **results, int *statuses, size_t n,
                           int64_t deadline);

/* Lazy map with a timeout (Python's Executor.map(fn, items, timeout=)
 * iterated as results come, and its buffersize=): an iterator that submits
 * fn(arg) for the inputs a window at a time and yields each outcome:
 *
 *     weft_pool_iter *it;
 *     size_t i;
 *     int st, r;
 *     void *res;
 *     weft_pool_imap(p, fn, args, n, 0, 0, &it);
 *     int64_t deadline = weft_after(2 * WEFT_SEC);  // Python's timeout=2
 *     while ((r = weft_pool_iter_next(it, deadline, &i, &st, &res)) > 0)
 *         use(i, st, res);
 *     weft_pool_iter_destroy(it);  // r: 0 at the end, -ETIMEDOUT, ...
 *
 * Inputs are taken lazily: at most `window` tasks are submitted and not yet
 * yielded (0: 256, or 4 per worker thread if that is more), and the input
 * is read only to top the window up, by the caller of weft_pool_imap and
 * weft_pool_iter_next, so an endless or huge input allocates nothing more
 * than the window (Python submits every item at once unless given
 * buffersize; a window much smaller than 256 makes the caller wait for
 * wake-ups often: on 2 CPUs, 8 costs ~10x more per no-op task). Results come in
 * input order (a finished task waits until those before it are yielded,
 * holding its window place), or with WEFT_POOL_UNORDERED in the order they
 * finish. An iterator is used by one thread or coroutine at a time.
 * args (or what gen returns) must stay valid while the tasks run; a SHARED
 * coroutine's stack stays in place only while it waits in
 * weft_pool_iter_next.
 * Errors: -EINVAL (p, fn or it NULL, args NULL with n > 0, unknown flags,
 * window > 2^24), -EDEADLK (called from one of p's workers), -EPIPE (p is
 * shut down), -ENOMEM. */
enum { WEFT_POOL_UNORDERED = 1 };
typedef struct weft_pool_iter weft_pool_iter;
WEFT_API int weft_pool_imap(weft_pool *p, weft_task_fn fn, void *const *args, size_t n,
                            size_t window, int flags, weft_pool_iter **it);

/* The inputs of weft_pool_imap_gen: returns 1 with the next argument in
 * *arg, 0 at the end of the input, or a negative errno (the input ends;
 * weft_pool_iter_next returns that error once, before the results of the
 * tasks already submitted). Called only by the iterator's caller. */
typedef int (*weft_pool_gen_fn)(void *ud, void **arg);
/* weft_pool_imap over the arguments gen(ud) gives (an endless input works:
 * stop with weft_pool_iter_cancel). Errors: as weft_pool_imap, -EINVAL
 * for gen NULL. */
WEFT_API int weft_pool_imap_gen(weft_pool *p, weft_task_fn fn, weft_pool_gen_fn gen, void *ud,
                                size_t window, int flags, weft_pool_iter **it);

/* Tops the window up, then waits until `deadline` for the next outcome:
 * returns 1 with *index (the input's position), *status (the task's, or
 * -ECANCELED for one weft_pool_iter_cancel or weft_pool_shutdown with
 * cancel_pending stopped before it started, or the submit error of
 * an input the pool refused, e.g. -EPIPE after a shutdown: the input then
 * ends there) and *result (may be NULL); 0 once every input was yielded.
 * The deadline is absolute, so both of Python's readings work: the same
 * deadline on every call bounds the whole map from its start (as
 * Executor.map's timeout, which counts from the call to map), a fresh
 * weft_after(t) on each bounds each wait. Unlike Python a timeout loses
 * nothing: the iterator stays usable and the next call resumes.
 * Errors: -ETIMEDOUT, -ECANCELED (the calling coroutine was cancelled),
 * the generator's error (see weft_pool_gen_fn), -EINVAL (it, index or
 * status NULL). */
WEFT_API int weft_pool_iter_next(weft_pool_iter *it, int64_t deadline, size_t *index, int *status,
                                 void **result);

/* Closing early (Python's closing of the map's generator): no more inputs
 * are taken, and every submitted task that has not started is cancelled.
 * weft_pool_iter_next then yields what was submitted (cancelled ones with
 * -ECANCELED, the others when they finish), then 0. Returns how many tasks
 * this call cancelled. Errors: -EINVAL (it NULL). */
WEFT_API int weft_pool_iter_cancel(weft_pool_iter *it);

/* weft_pool_iter_cancel, then waits for the tasks still running (they use
 * their arguments; tasks cannot be interrupted) and frees it. Results not
 * yielded are dropped: to free what they point to, cancel and call
 * weft_pool_iter_next until 0 first. NULL is a no-op. */
WEFT_API void weft_pool_iter_destroy(weft_pool_iter *it);

/* Stops p from accepting tasks: later submits fail with -EPIPE. With
 * cancel_pending = 1, every queued task that has not started is cancelled
 * (its future done with -ECANCELED; callbacks run on the calling thread).
 * With wait = 1, then waits until every task still queued or running has
 * finished and the workers are exiting. Calling it again is allowed (e.g.
 * shutdown(p, 0, 0) then shutdown(p, 1, 0)).
 * Errors: -EINVAL (p NULL), -EDEADLK (wait = 1 from one of p's workers),
 * -ECANCELED (the calling coroutine was cancelled while waiting; the pool
 * is shut down all the same). */
WEFT_API int weft_pool_shutdown(weft_pool *p, int wait, int cancel_pending);

/* Shuts p down (as weft_pool_shutdown(p, 1, 0), but the wait cannot be
 * cancelled), joins its threads and frees it. Futures the caller still
 * holds stay valid (all are done) until released. Nobody may use p
 * afterwards. NULL is a no-op returning 0.
 * Errors: -EDEADLK (called from one of p's workers; nothing is freed). */
WEFT_API int weft_pool_destroy(weft_pool *p);

/* The process-wide default pool, created on first use: the one piece of
 * global state of this section. It has min(32, online CPUs + 4) workers
 * (as Python's default executor: it is meant for blocking calls, not for
 * CPU-bound work), is never destroyed and does not keep the process from
 * exiting. A child process created by fork() gets a fresh one on first
 * use. Do not shut it down.
 * Errors: -EINVAL (out NULL), -ENOMEM, -EAGAIN (as weft_pool_create). */
WEFT_API int weft_pool_default(weft_pool **out);

/* Runs a blocking call, fn(arg, result), on the default pool and waits for
 * it: from a coroutine, only that coroutine parks while the other
 * coroutines of its thread keep running (for calls that cannot yield:
 * file I/O, getaddrinfo, a library's blocking API); on a plain thread the
 * thread blocks. Returns fn's status, with *result (if non-NULL) set to
 * fn's result pointer.
 * If the calling coroutine is cancelled before fn starts, fn never runs
 * and the call returns -ECANCELED; once fn runs, the call waits for it to
 * return (arg stays in use until then) and returns its status. arg may
 * point to a local of a WEFT_STACK_SHARED caller (see WEFT_STACK_SHARED).
 * Errors (besides fn's own status): -ECANCELED, -EINVAL (fn NULL),
 * -ENOMEM, -EAGAIN (the default pool could not start its threads). */
WEFT_API int weft_offload(weft_task_fn fn, void *arg, void **result);

/* @@PROC_BEGIN@@ */
/* ======================================================================
 * Processes (Python's multiprocessing.Process, and running programs)
 *
 * weft_proc_start forks a child process that runs fn(arg) and exits with
 * its return value; weft_proc_exec runs a program (posix_spawn) with its
 * standard streams inherited, sent to /dev/null, or connected to pipes.
 * Both give a weft_proc handle: join with a deadline, exit code, is_alive,
 * pid, terminate (SIGTERM) and kill (SIGKILL). Each child is watched
 * through a pidfd, so joining from a coroutine parks only that coroutine
 * (the pidfd is waited on through the thread's poller); a plain thread
 * blocks. Signals go through the pidfd too, so they can never hit another
 * process that reused a reaped child's pid.
 *
 * Without pidfds (pidfd_open(2) refused: ENOSYS on Linux < 5.3, or EPERM
 * from a seccomp policy), each child gets an eventfd in its place, written
 * when the child exits, and SIGCHLD drives it: on the first such child weft
 * installs a SIGCHLD handler (SA_RESTART; it calls the handler it replaced,
 * so a program's own still runs) and a watcher thread that looks at the
 * watched children without reaping them (waitid with WNOWAIT). Joins still
 * sleep, never poll; signals go by pid, which stays the child's until weft
 * reaps it. A program that installs its own SIGCHLD handler later (without
 * calling weft's) or ignores SIGCHLD delays the news of an exit: the watcher
 * also looks once a second while children are watched. Process pools work
 * the same way. A handle belongs to the
 * process that created it: in any other process (a forked child) every
 * call on it fails with -ECHILD (weft_proc_release frees only memory).
 *
 * Exit codes follow Python: 0 .. 255 for a child that exited, -N for a
 * child killed by signal N (-9 for SIGKILL, -15 for SIGTERM). A forked
 * child whose fn returns a value outside 0 .. 255 exits with it modulo
 * 256, as exit() does.
 *
 * No zombies: a child is reaped by the first of weft_proc_join, a
 * weft_proc_exitcode or weft_proc_is_alive that finds it finished, or, if
 * the handle is released before that, by a process-wide reaper thread
 * (started on the first such release; it waits on the pidfds of released
 * children and reaps each one as it ends).
 *
 * At exit. When the parent process exits normally (return from main or
 * exit()), weft, as Python's multiprocessing does, first sends SIGTERM to
 * every daemon child started with weft_proc_start that is still running
 * and reaps it, then waits for every non-daemon weft_proc_start child
 * (whether its handle was released or not). Programs run with
 * weft_proc_exec are neither signalled nor waited for (as Python's
 * subprocess): they outlive the parent, and init reaps them. A forked
 * child whose fn returns does the same for its own children before it
 * exits.
 *
 * Daemon children also die (SIGKILL) when the parent dies abnormally
 * (killed, _exit, crash): they are started with PR_SET_PDEATHSIG, and a
 * child whose parent is already gone when it starts exits at once. Linux
 * sends that signal when the *thread* that forked the child exits, not
 * only the process: start daemon children from the main thread or from a
 * thread that lives as long as they should (a daemon child started from a
 * short-lived thread is killed when that thread ends).
 *
 * Fork rules (weft_proc_start, and every plain fork() of a process that
 * uses weft; weft registers pthread_atfork handlers):
 *   - The child has only the thread that forked. weft's runtime there
 *     starts clean: the forking thread's scheduler, its coroutines, timers,
 *     poller and eventfd, the other threads' schedulers, the thread
 *     registry, the default thread pool and the process reaper are
 *     abandoned (their memory is not freed; the inherited epoll and event
 *     descriptors are closed, never modified, as they are the same kernel
 *     objects as the parent's) and are created afresh on first use. The
 *     other coroutines of the forking thread never run in the child.
 *   - A child forked from inside a coroutine runs on that coroutine's
 *     stack, which becomes the main stack of its new runtime: fn may spawn
 *     coroutines, use channels, locks and everything else.
 *   - weft's internal locks are taken around fork and are never left held
 *     in the child. Locks, queues, channels and other objects the
 *     application created before the fork are copies in the child: they
 *     work there (between the child's own threads and coroutines) only if
 *     no other thread or coroutine was inside them at the fork, and they
 *     are never shared with the parent (use the process-shared objects for
 *     that).
 *   - A worker group has no workers in the child: do not use it there. A
 *     child forked from a group's coroutine runs as above, outside any
 *     group (its weft_spawn spawns onto its own thread).
 *   - A weft_pool created before the fork has no worker threads in the
 *     child: do not use it there (weft_pool_default and weft_offload get
 *     a fresh default pool). Child handles (weft_proc) of the parent are
 *     not the child's.
 *   - The child's stdio buffers are flushed before it exits; the parent
 *     flushes stdout and stderr before forking, so nothing is written
 *     twice.
 * ====================================================================== */

typedef struct weft_proc weft_proc;

/* A forked child's function: its return value is the exit code. */
typedef int (*weft_proc_fn)(void *arg);

typedef struct weft_proc_opts {
    const char *name;  /* copied; NULL: "Process-N" (N counts from 1 in
                          each process). The child sees it as
                          weft_proc_current_name(). */
    int daemon;        /* 1: a daemon child (see above); 0: waited for at
                          exit */
} weft_proc_opts;

/* Forks a child process that runs fn(arg), then flushes stdio and exits
 * (_exit, running no atexit handler of the parent's) with fn's return
 * value. The child inherits the caller's memory (arg included) as a
 * copy, its open descriptors, and only the calling thread (see the fork
 * rules above). opts may be NULL. On success *out receives the handle,
 * which the caller must give back with weft_proc_release.
 * Errors: -EINVAL (out or fn NULL), -ENOMEM, -EAGAIN (the process limit:
 * fork's error), -EMFILE/-ENFILE (no descriptor for the pidfd or the
 * eventfd standing for it). On failure no child is left. Where pidfd_open
 * (Linux 5.3), waitid(P_PIDFD) (5.4) or pidfd_send_signal (5.1) is refused,
 * weft waits for and signals the child by its pid instead (see above), which
 * is as exact: the pid stays the child's until weft reaps it. */
WEFT_API int weft_proc_start(weft_proc **out, weft_proc_fn fn, void *arg,
                             const weft_proc_opts *opts);

/* Waits until p has exited (reaping it) or until `deadline`. Returns 0 at
 * once if p has already been reaped. Any number of coroutines and threads
 * may join one process at the same time.
 * Errors: -ETIMEDOUT (still running; p is untouched and may be joined
 * again), -ECANCELED (the calling coroutine was cancelled), -EINVAL (p
 * NULL), -ECHILD (p belongs to another process; or the child was reaped
 * behind weft's back, by a waitpid(-1) of the application or because
 * SIGCHLD is ignored, so its exit code is lost), -ENOMEM. */
WEFT_API int weft_proc_join(weft_proc *p, int64_t deadline);

/* Stores p's exit code in *code (0 .. 255, or -signal) if p has exited
 * (reaping it if needed), without waiting.
 * Errors: -EAGAIN (still running: Python's None), -EINVAL (p or code
 * NULL), -ECHILD (p belongs to another process, or its exit code was lost
 * as for weft_proc_join). */
WEFT_API int weft_proc_exitcode(weft_proc *p, int *code);

/* 1 if p is still running, 0 once it has exited (reaping it), -EINVAL
 * (NULL), -ECHILD (another process's handle). */
WEFT_API int weft_proc_is_alive(weft_proc *p);

/* p's process id (it stays p's even after p was reaped; do not signal it
 * by hand then), or -EINVAL for NULL. */
WEFT_API pid_t weft_proc_pid(const weft_proc *p);

/* p's name: opts->name, "Process-N", or, for weft_proc_exec, the program's
 * path. NULL for NULL. Valid until weft_proc_release. */
WEFT_API const char *weft_proc_name(const weft_proc *p);

/* 1 if p was started as a daemon, 0 if not, -EINVAL for NULL. */
WEFT_API int weft_proc_daemon(const weft_proc *p);

/* p's pidfd (without pidfds, the eventfd standing for it): a descriptor
 * that becomes readable (weft_fd_wait, WEFT_READABLE) once p has exited;
 * Python's sentinel. Owned by p: do not
 * close it, read it or wait on it after weft_proc_release. After p was
 * reaped it stays readable. Errors: -EINVAL (NULL), -ECHILD (another
 * process's handle). */
WEFT_API int weft_proc_fd(const weft_proc *p);

/* Sends SIGTERM (terminate) or SIGKILL (kill) to p. Returns 0, also when
 * p has already exited (nothing is sent then), as Python does. Does not
 * wait: join p afterwards. Errors: -EINVAL (NULL), -ECHILD (another
 * process's handle), -EPERM. */
WEFT_API int weft_proc_terminate(weft_proc *p);
WEFT_API int weft_proc_kill(weft_proc *p);

/* Sends signal sig (1 .. 64) to p, as above; 0 if p has already exited.
 * Errors: -EINVAL (p NULL, bad sig), -ECHILD, -EPERM. */
WEFT_API int weft_proc_signal(weft_proc *p, int sig);

/* Closes p's pipe ends and frees p. A child still running is not
 * signalled: it goes on, and is reaped by the reaper when it exits (and
 * at the parent's exit, a forked child is still terminated or waited for
 * as above). Nobody may use p afterwards (nor be inside a call on it).
 * NULL is a no-op. */
WEFT_API void weft_proc_release(weft_proc *p);

/* The calling process's id and its parent's (os.getpid, os.getppid). */
WEFT_API pid_t weft_getpid(void);
WEFT_API pid_t weft_getppid(void);

/* The pid of the process whose weft_proc_start forked the calling process
 * (multiprocessing.parent_process().pid), recorded at the fork: it stays
 * the same after that process has died (unlike weft_getppid). 0 in a
 * process weft_proc_start did not fork: the main process, a program run
 * by weft_proc_exec, a child made by a plain fork(). */
WEFT_API pid_t weft_parent_process(void);

/* The calling process's children, started with weft_proc_start or
 * weft_proc_exec, that still run and whose handle was not released
 * (multiprocessing.active_children()). As in Python, it reaps the ones
 * that have exited on the way (their exit codes stay readable with
 * weft_proc_exitcode). Fills pids with up to max of them, in start order,
 * and returns how many there are (which may be more than max; pids may be
 * NULL when max is 0). Errors: -EINVAL if max < 0, or pids is NULL and max
 * is not 0. */
WEFT_API int weft_active_children(pid_t *pids, int max);

/* The number of CPUs the calling process may use (os.process_cpu_count,
 * what multiprocessing.cpu_count() should be): the CPUs of its affinity
 * mask (sched_getaffinity), bounded by the cgroup v2 CPU quota (cpu.max,
 * quota / period rounded up) of its cgroup or of an ancestor when one is
 * set. Read afresh at each call; never less than 1. */
WEFT_API int weft_cpu_count(void);

/* The calling process's name: "MainProcess" in a process weft did not
 * start, else the name given to weft_proc_start (Python's
 * current_process().name). Never NULL. */
WEFT_API const char *weft_proc_current_name(void);

/* The seed's subclass style, as weft_thread_obj: embed a weft_proc_obj in
 * your own struct, set run, start it; in the child, recover your struct
 * with WEFT_CONTAINER_OF(self, type, member). run's return value is the
 * exit code. */
typedef struct weft_proc_obj weft_proc_obj;
struct weft_proc_obj {
    int (*run)(weft_proc_obj *self);
    weft_proc *handle; /* set by weft_proc_obj_start; release it with
                          weft_proc_release (or weft_proc_obj_release) */
};

/* Starts self->run(self) in a forked child (its copy of *self). On
 * success self->handle is set. Errors: as weft_proc_start, -EINVAL if
 * self or run is NULL. */
WEFT_API int weft_proc_obj_start(weft_proc_obj *self, const weft_proc_opts *opts);
/* weft_proc_join(self->handle, deadline); -EINVAL if self or its handle
 * is NULL. */
WEFT_API int weft_proc_obj_join(weft_proc_obj *self, int64_t deadline);
/* weft_proc_release(self->handle), then clears self->handle. NULL is a
 * no-op. */
WEFT_API void weft_proc_obj_release(weft_proc_obj *self);

/* Running programs. Each standard stream of the new program (index 0
 * stdin, 1 stdout, 2 stderr) is one of: */
enum {
    WEFT_STDIO_INHERIT = 0, /* the parent's own descriptor */
    WEFT_STDIO_NULL = 1,    /* /dev/null */
    WEFT_STDIO_PIPE = 2,    /* a pipe; the parent's end (O_NONBLOCK |
                               O_CLOEXEC, for weft_read / weft_write) is
                               weft_proc_stdio(p, i) */
    WEFT_STDIO_PTY = 3,     /* the slave side of a new pseudo-terminal
                               (every stream given PTY shares the one
                               terminal); the program runs in a new session
                               (setsid) with it as its controlling
                               terminal. weft_proc_stdio(p, i) is a
                               descriptor of the master (O_NONBLOCK |
                               O_CLOEXEC; each PTY stream has its own
                               duplicate, closed independently): read the
                               program's output from it, write its input,
                               resize with TIOCSWINSZ (the program gets
                               SIGWINCH; it starts at 24 rows, 80
                               columns). Once the program and everything
                               it started have closed the terminal, reads
                               return -EIO after the last output. */
};

typedef struct weft_exec_opts {
    int stdio[3];        /* WEFT_STDIO_* for stdin, stdout, stderr */
    char *const *envp;   /* NULL-terminated environment; NULL: the
                            caller's environ */
} weft_exec_opts;

/* Runs the program at `path` with arguments argv (NULL-terminated; argv[0]
 * is the program's name as it sees it). A path without a '/' is searched
 * in PATH (execvp's rules). opts may be NULL (everything inherited). The
 * program's standard streams are set up as opts->stdio says; every other
 * descriptor of the parent that is close-on-exec stays out of it (weft's
 * own are). Signal dispositions and mask are reset to defaults. If the
 * program cannot be run, the call fails with exec's error and no process
 * is left behind. On success *out receives the handle (join, exit code,
 * terminate, kill, release as for weft_proc_start; the exit code of a
 * shell-style "exit 3" is 3). Never started as a daemon (see "At exit").
 * Errors: -EINVAL (out, path or argv NULL; a stdio mode out of range),
 * -ENOENT, -EACCES, -ENOEXEC, -ENOTDIR, ... (the program could not be
 * executed), -ENOMEM, -EAGAIN, -EMFILE/-ENFILE, and
 * for WEFT_STDIO_PTY the errors of posix_openpt, grantpt and unlockpt
 * (-ENOSPC, -EAGAIN: no pseudo-terminal left). */
WEFT_API int weft_proc_exec(weft_proc **out, const char *path,
                            char *const argv[], const weft_exec_opts *opts);

/* The parent's end of stream i (0, 1 or 2) of a program run with
 * WEFT_STDIO_PIPE for it: write to it (i = 0) or read from it (1, 2) with
 * weft_write / weft_read; owned by p. Errors: -EINVAL (p NULL, i not 0 ..
 * 2), -EBADF (stream i is not a pipe, or was closed with
 * weft_proc_close_stdio), -ECHILD (another process's handle). */
WEFT_API int weft_proc_stdio(const weft_proc *p, int i);

/* Closes the parent's end of stream i (closing stdin sends end-of-file to
 * the program). Waiters on it are woken with -EBADF (weft_fd_close).
 * Errors: as weft_proc_stdio. */
WEFT_API int weft_proc_close_stdio(weft_proc *p, int i);
/* @@PROC_END@@ */

/* @@SHM_BEGIN@@ */
/* ======================================================================
 * Shared memory between processes
 * ======================================================================
 * Two ways to share memory:
 *   - An anonymous shared arena (or value, or array) made before fork():
 *     every child forked afterwards sees it at the same address.
 *   - Named objects, for unrelated processes: created exclusively (O_EXCL)
 *     with mode 0600 (only the same user can attach), found by name, and
 *     removed only by weft_shm_unlink (a name outlives every process until
 *     then; objects already attached stay usable after the unlink).
 * Names (the one rule for every named object, process queues included):
 * "name" or "/name", both spellings denoting the same object; 1 to 250
 * bytes after the optional leading '/', no other '/', and not "." or "..";
 * any other name is -EINVAL (too long: -ENAMETOOLONG).
 * Every named object starts with a header (magic, kind, layout version,
 * size) and a ready flag that its creator sets last, so an attacher never
 * sees a half-initialised object: attaching waits up to one second for a
 * creator that has not finished, then fails with -ETIMEDOUT. A creator that
 * dies before its object is ready leaves the name behind: attaching to it
 * fails with -ENOENT (within about 20 ms, not at the deadline), and the next
 * create of that name removes it and succeeds (of several racing creators,
 * one). A name without any header (not made by weft) that is empty and
 * older than 200 ms is likewise taken over by a create. Attaching to a name that is not a weft object, or is one of
 * another kind (an array attached as a lock, ...), fails with -EPROTOTYPE;
 * one of another layout version with -EPROTONOSUPPORT.
 * Errors common to every create_named: -EINVAL (bad name or arguments),
 * -ENAMETOOLONG, -EEXIST (the name is taken), -EACCES, -EMFILE, -ENFILE,
 * -ENOSPC, -ENOMEM, -ENOSYS (/dev/shm is not a tmpfs with O_TMPFILE).
 * Every detach (weft_shm_detach, weft_p*_detach) takes only an address
 * that a create_named or attach of this process returned and that was not
 * detached since (a forked child inherits them): anything else, a second
 * detach included, is -EINVAL, and nothing is read or unmapped. To
 * every attach: -EINVAL, -ENAMETOOLONG, -ENOENT (no
 * such name), -EACCES (another user's object), -EPROTOTYPE,
 * -EPROTONOSUPPORT, -ETIMEDOUT, -ECANCELED, -EMFILE, -ENFILE, -ENOMEM.
 * Shared memory holds no pointers of weft's: a named object may be mapped
 * at a different address in each process. */

/* Removes the name of a named weft object (of any kind; any shm_open name
 * in fact). Processes that have it attached keep using it; the memory goes
 * when the last one detaches or exits.
 * Errors: -EINVAL, -ENAMETOOLONG, -ENOENT, -EACCES. */
WEFT_API int weft_shm_unlink(const char *name);

/* Raw named shared memory: `size` zero-filled bytes (1 .. 2^40 (2^31 on 32-bit ABIs)), aligned
 * to 64, for data the caller lays out itself (put process-shared
 * primitives there with their _init functions). *out receives the address
 * in the calling process. Ready as soon as this returns: initialise the
 * contents before telling other processes the name. */
WEFT_API int weft_shm_create(void **out, const char *name, size_t size);
/* Maps an existing raw object; *size (if non-NULL) gets its size. */
WEFT_API int weft_shm_attach(void **out, const char *name, size_t *size);
/* Unmaps a raw object from the calling process. Errors: -EINVAL (p NULL, not
 * an address weft_shm_create or weft_shm_attach returned in this process
 * (or its parent before fork), or already detached; nothing at or near p is
 * read then). */
WEFT_API int weft_shm_detach(void *p);

/* A memory allocator over one shared mapping, usable from every process
 * that maps it (a robust process lock serialises alloc and free; a
 * process killed inside one of them is repaired from by the next caller).
 * Blocks are 16-byte aligned and zero-filled. */
typedef struct weft_shm_arena weft_shm_arena;

/* Creates an anonymous arena with room for about `bytes` of allocations
 * (each block costs 16 bytes more). Create it before fork(): children see
 * it, and everything allocated in it, at the same address.
 * Errors: -EINVAL (out NULL, bytes 0 or above 2^40 (2^31 on 32-bit ABIs)), -ENOMEM. */
WEFT_API int weft_shm_arena_create(weft_shm_arena **out, size_t bytes);
/* A named arena (see the errors above). Its blocks are at different
 * addresses in each process: pass offsets (weft_shm_offset) between them. */
WEFT_API int weft_shm_arena_create_named(weft_shm_arena **out, const char *name, size_t bytes);
WEFT_API int weft_shm_arena_attach(weft_shm_arena **out, const char *name);
/* Unmaps the arena from the calling process (others keep theirs; a named
 * arena stays until unlinked and unmapped everywhere). Everything
 * allocated in it becomes inaccessible to this process. Errors: -EINVAL
 * (not an arena, or destroyed already: a second destroy does not fault). */
WEFT_API int weft_shm_arena_destroy(weft_shm_arena *a);
/* Allocates size bytes (zero-filled). NULL if a is not an arena, size is
 * 0, there is no free block large enough, or the arena's lock was made
 * unusable. Never fails for cancellation: the lock is held only briefly. */
WEFT_API void *weft_shm_alloc(weft_shm_arena *a, size_t size);
/* Frees a block from weft_shm_alloc, from any process.
 * Errors: -EINVAL (a not an arena, p NULL, not a live block of a: a double
 * free is detected), -ENOTRECOVERABLE. */
WEFT_API int weft_shm_free(weft_shm_arena *a, void *p);
/* Bytes in use (headers included), or -EINVAL. */
WEFT_API int64_t weft_shm_arena_used(weft_shm_arena *a);
/* The offset of p from the arena's start, the same in every process
 * (-EINVAL if p is not inside a's blocks), and back (NULL if out of
 * range). */
WEFT_API int64_t weft_shm_offset(weft_shm_arena *a, const void *p);
WEFT_API void *weft_shm_ptr(weft_shm_arena *a, int64_t offset);

/* Shared values and arrays of fixed-size elements (Python's
 * multiprocessing Value and Array). Made in an arena (arena non-NULL), in
 * an anonymous mapping of their own (arena NULL: create before fork), or
 * named. With WEFT_SHM_LOCKED the object carries its own process lock
 * (weft_shm_*_lock returns it): get and set then copy under it, and a
 * read-modify-write holds it around both; without it, get and set are
 * plain copies. Errors of create: -EINVAL (out NULL, size or count 0, too
 * big, unknown flags, arena not an arena), -ENOMEM (no room); of get/set:
 * -EINVAL, -ERANGE (index past the end), and the lock's -ECANCELED,
 * -ENOTRECOVERABLE, -EDEADLK (a plain thread that holds the lock). If a process died holding the lock, get/set mark it
 * consistent and go on (that one element may be half-written). */
#define WEFT_SHM_LOCKED 1
typedef struct weft_plock weft_plock;
typedef struct weft_shm_array weft_shm_array;
typedef struct weft_shm_value weft_shm_value;

WEFT_API int weft_shm_array_create(weft_shm_array **out, weft_shm_arena *arena,
                                   size_t elem_size, size_t count, int flags);
WEFT_API int weft_shm_array_create_named(weft_shm_array **out, const char *name,
                                         size_t elem_size, size_t count, int flags);
WEFT_API int weft_shm_array_attach(weft_shm_array **out, const char *name);
/* Frees an arena array to its arena, unmaps an anonymous one, detaches a
 * named one (the name stays until weft_shm_unlink). Do it once per
 * process for named ones; for the others once, after every process is
 * done. Errors: -EINVAL. */
WEFT_API int weft_shm_array_destroy(weft_shm_array *a);
/* The elements (64-byte aligned), their number and size; NULL / 0 if a is
 * not an array. */
WEFT_API void *weft_shm_array_data(weft_shm_array *a);
WEFT_API size_t weft_shm_array_len(weft_shm_array *a);
WEFT_API size_t weft_shm_array_elem_size(weft_shm_array *a);
/* Copies element i out to / in from elem_size bytes at buf. */
WEFT_API int weft_shm_array_get(weft_shm_array *a, size_t i, void *out);
WEFT_API int weft_shm_array_set(weft_shm_array *a, size_t i, const void *in);
/* The array's lock, NULL without WEFT_SHM_LOCKED. */
WEFT_API weft_plock *weft_shm_array_lock(weft_shm_array *a);

/* A value is an array of one element of `size` bytes (a named value is of
 * its own kind: attaching it as an array fails with -EPROTOTYPE). */
WEFT_API int weft_shm_value_create(weft_shm_value **out, weft_shm_arena *arena, size_t size,
                                   int flags);
WEFT_API int weft_shm_value_create_named(weft_shm_value **out, const char *name, size_t size,
                                         int flags);
WEFT_API int weft_shm_value_attach(weft_shm_value **out, const char *name);
WEFT_API int weft_shm_value_destroy(weft_shm_value *v);
WEFT_API void *weft_shm_value_data(weft_shm_value *v);
WEFT_API size_t weft_shm_value_size(weft_shm_value *v);
WEFT_API int weft_shm_value_get(weft_shm_value *v, void *out);
WEFT_API int weft_shm_value_set(weft_shm_value *v, const void *in);
WEFT_API weft_plock *weft_shm_value_lock(weft_shm_value *v);
/* @@SHM_END@@ */

/* @@PSYNC_BEGIN@@ */
/* ======================================================================
 * Synchronisation between processes
 * ======================================================================
 * Process-shared counterparts of the primitives above, with the same API
 * shape. Each is a fixed-size struct to place in memory shared between the
 * processes (an arena, a raw named object, a value, any MAP_SHARED
 * mapping) and initialise there once, or a named object of its own
 * (*_create_named / *_attach / *_detach, with the errors listed for named
 * objects above; *_detach only takes what those returned in this process
 * (or its parent before fork), once: -EINVAL for anything else, NULL, a
 * second detach, or an object of another kind, without reading it). They hold no pointers and work at any address.
 * Waiting parks only the calling coroutine (a helper thread does the
 * kernel wait); a plain thread blocks. Initialise them only while no
 * process uses them; destroy them once, when none does.
 *
 * Ownership of the locks is per thread: the thread that acquired a lock
 * must release it, and the coroutines of one thread count as one owner
 * (a plain thread re-acquiring its own weft_plock gets -EDEADLK; a
 * coroutine acquiring a weft_plock held by another coroutine of its
 * thread waits for that one to release it).
 *
 * A process that dies (or a thread that exits) holding a lock: the next
 * acquirer gets -EOWNERDEAD, holding the lock. It repairs what the lock
 * protects, calls *_consistent, and goes on; releasing without that makes
 * the lock unusable: every later acquire fails with -ENOTRECOVERABLE.
 * Semaphores, events and conditions hold no internal lock (a death cannot
 * block their waiters); a barrier whose internal lock's holder died is
 * broken (-EPIPE), so nobody waits for a party that will never come. */

/* Lock (multiprocessing.Lock), robust. */
typedef struct weft_plock {
    uint64_t opaque_[8];
} weft_plock;

/* Errors: -EINVAL (l NULL), -ENOMEM. */
WEFT_API int weft_plock_init(weft_plock *l);
/* Errors: -EBUSY (held), -EINVAL (not initialised). */
WEFT_API int weft_plock_destroy(weft_plock *l);
/* Acquires l, waiting until deadline. Errors: -EOWNERDEAD (acquired; the
 * previous holder died), -ENOTRECOVERABLE, -ETIMEDOUT, -ECANCELED,
 * -EDEADLK (a plain thread that holds it already), -ENOMEM, -EINVAL. */
WEFT_API int weft_plock_acquire(weft_plock *l, int64_t deadline);
/* 0, -EAGAIN (held, also by the caller's thread), -EOWNERDEAD,
 * -ENOTRECOVERABLE, -EINVAL. */
WEFT_API int weft_plock_try_acquire(weft_plock *l);
/* Errors: -EPERM (the calling thread does not hold it), -EINVAL. */
WEFT_API int weft_plock_release(weft_plock *l);
/* After -EOWNERDEAD: marks the state repaired; the caller still holds l.
 * Errors: -EINVAL (not in that state, or not held by the caller). */
WEFT_API int weft_plock_consistent(weft_plock *l);
/* 1 if held by some thread of some process, else 0. */
WEFT_API int weft_plock_locked(weft_plock *l);
WEFT_API int weft_plock_create_named(weft_plock **out, const char *name);
WEFT_API int weft_plock_attach(weft_plock **out, const char *name);
WEFT_API int weft_plock_detach(weft_plock *l);

/* Reentrant lock (multiprocessing.RLock), robust: the owning thread may
 * acquire it again and must release it as many times. */
typedef struct weft_prlock {
    uint64_t opaque_[8];
} weft_prlock;

WEFT_API int weft_prlock_init(weft_prlock *l);
WEFT_API int weft_prlock_destroy(weft_prlock *l);
/* Errors: as weft_plock_acquire, plus -EOVERFLOW (too deeply nested),
 * without -EDEADLK. */
WEFT_API int weft_prlock_acquire(weft_prlock *l, int64_t deadline);
/* 0, -EAGAIN (held by another thread), -EOWNERDEAD, -ENOTRECOVERABLE,
 * -EOVERFLOW, -EINVAL. */
WEFT_API int weft_prlock_try_acquire(weft_prlock *l);
/* Errors: -EPERM (the calling thread does not hold it), -EINVAL. */
WEFT_API int weft_prlock_release(weft_prlock *l);
WEFT_API int weft_prlock_consistent(weft_prlock *l);
WEFT_API int weft_prlock_create_named(weft_prlock **out, const char *name);
WEFT_API int weft_prlock_attach(weft_prlock **out, const char *name);
WEFT_API int weft_prlock_detach(weft_prlock *l);

/* Counting semaphore (multiprocessing.Semaphore / BoundedSemaphore).
 * Waiters are not served in FIFO order. */
typedef struct weft_psem {
    uint64_t opaque_[4];
} weft_psem;

/* value: 0 .. INT32_MAX. bounded: a release that would make the count
 * exceed value fails. Errors: -EINVAL. */
WEFT_API int weft_psem_init(weft_psem *s, int64_t value, int bounded);
/* Errors: -EBUSY (a caller is waiting, or was killed while waiting),
 * -EINVAL. */
WEFT_API int weft_psem_destroy(weft_psem *s);
/* Errors: -ETIMEDOUT, -ECANCELED, -ENOMEM, -EINVAL. */
WEFT_API int weft_psem_acquire(weft_psem *s, int64_t deadline);
/* 0 or -EAGAIN (or -EINVAL). */
WEFT_API int weft_psem_try_acquire(weft_psem *s);
/* Adds n permits (n >= 1). Errors: -EOVERFLOW (bounded and above the
 * initial value, or past INT32_MAX: nothing is released), -EINVAL. */
WEFT_API int weft_psem_release(weft_psem *s, int64_t n);
/* Permits available now, or -EINVAL. */
WEFT_API int64_t weft_psem_value(weft_psem *s);
WEFT_API int weft_psem_create_named(weft_psem **out, const char *name, int64_t value,
                                    int bounded);
WEFT_API int weft_psem_attach(weft_psem **out, const char *name);
WEFT_API int weft_psem_detach(weft_psem *s);

/* Event (multiprocessing.Event). */
typedef struct weft_pevent {
    uint64_t opaque_[2];
} weft_pevent;

WEFT_API int weft_pevent_init(weft_pevent *e);
/* Errors: -EBUSY (a caller is waiting, or was killed while waiting),
 * -EINVAL. */
WEFT_API int weft_pevent_destroy(weft_pevent *e);
/* Sets the flag and wakes every waiter. Errors: -EINVAL. */
WEFT_API int weft_pevent_set(weft_pevent *e);
WEFT_API int weft_pevent_clear(weft_pevent *e);
/* 1 if set, else 0. */
WEFT_API int weft_pevent_is_set(weft_pevent *e);
/* Waits until the flag is set; returns 0 also if it was set and cleared
 * again meanwhile. Errors: -ETIMEDOUT, -ECANCELED, -ENOMEM, -EINVAL. */
WEFT_API int weft_pevent_wait(weft_pevent *e, int64_t deadline);
WEFT_API int weft_pevent_create_named(weft_pevent **out, const char *name);
WEFT_API int weft_pevent_attach(weft_pevent **out, const char *name);
WEFT_API int weft_pevent_detach(weft_pevent *e);

/* Condition variable (multiprocessing.Condition) used with a weft_plock
 * the caller holds. */
typedef struct weft_pcond {
    uint64_t opaque_[2];
} weft_pcond;

WEFT_API int weft_pcond_init(weft_pcond *c);
/* Errors: -EBUSY (a caller is waiting, or was killed while waiting),
 * -EINVAL. */
WEFT_API int weft_pcond_destroy(weft_pcond *c);
/* Atomically releases l and waits for a notify or the deadline, then
 * re-acquires l (always, even on error) before returning. Unlike
 * weft_cond_wait, a wait may end without a notify for it (a notify may
 * wake more than n, and a waiter that times out may still return 0 if a
 * notify came meanwhile): re-check the predicate in a loop. Errors:
 * -ETIMEDOUT, -ECANCELED, -ENOMEM, -EPERM (l not held by the calling
 * thread), -EINVAL, and from re-acquiring l: -EOWNERDEAD (l is held;
 * repair and call weft_plock_consistent), -ENOTRECOVERABLE. */
WEFT_API int weft_pcond_wait(weft_pcond *c, weft_plock *l, int64_t deadline);
/* Wakes up to n waiters (n >= 0); returns how many were woken in the
 * kernel (waiters about to sleep also see the notify), or -EINVAL. */
WEFT_API int weft_pcond_notify(weft_pcond *c, int n);
WEFT_API int weft_pcond_notify_all(weft_pcond *c);
WEFT_API int weft_pcond_create_named(weft_pcond **out, const char *name);
WEFT_API int weft_pcond_attach(weft_pcond **out, const char *name);
WEFT_API int weft_pcond_detach(weft_pcond *c);

/* Barrier (multiprocessing.Barrier) for `parties` callers, with the
 * semantics of weft_barrier_wait: returns the arrival index 0 .. parties -
 * 1; a deadline or cancellation breaks it (-ETIMEDOUT / -ECANCELED for the
 * caller, -EPIPE for the others and later callers until reset). */
typedef struct weft_pbarrier {
    uint64_t opaque_[12];
} weft_pbarrier;

/* Errors: -EINVAL (parties < 1), -ENOMEM. */
WEFT_API int weft_pbarrier_init(weft_pbarrier *b, int parties);
/* Errors: -EBUSY (waiters), -EINVAL. */
WEFT_API int weft_pbarrier_destroy(weft_pbarrier *b);
/* Errors: -EPIPE (broken), -ETIMEDOUT, -ECANCELED, -ENOMEM,
 * -ENOTRECOVERABLE, -EINVAL. */
WEFT_API int weft_pbarrier_wait(weft_pbarrier *b, int64_t deadline);
/* Breaks the barrier: current and later waiters get -EPIPE. */
WEFT_API int weft_pbarrier_abort(weft_pbarrier *b);
/* Repairs a broken barrier (waiters of the current round get -EPIPE). */
WEFT_API int weft_pbarrier_reset(weft_pbarrier *b);
/* 1 if broken, else 0. */
WEFT_API int weft_pbarrier_broken(weft_pbarrier *b);
/* Callers waiting now (including ones killed while waiting), or -EINVAL. */
WEFT_API int weft_pbarrier_waiting(weft_pbarrier *b);
WEFT_API int weft_pbarrier_create_named(weft_pbarrier **out, const char *name, int parties);
WEFT_API int weft_pbarrier_attach(weft_pbarrier **out, const char *name);
WEFT_API int weft_pbarrier_detach(weft_pbarrier *b);
/* @@PSYNC_END@@ */

/* @@PQUEUE_BEGIN@@ */
/* ======================================================================
 * Process queues and pipes (Python's multiprocessing.Queue and Pipe)
 *
 * A weft_pqueue carries byte messages of any length between processes.
 * It lives in shared memory: created with weft_pqueue_create before fork()
 * (the children inherit it), or by name (weft_pqueue_create_named,
 * weft_pqueue_open, weft_pqueue_unlink) for unrelated processes. Every
 * process, thread and coroutine may call every function on it; a waiting
 * coroutine parks only itself. The same kinds as weft_queue:
 * WEFT_QUEUE_FIFO, _LIFO, _PRIORITY (lowest value first, equal priorities
 * in put order) and _DEQUE (put_front, get_back), with the same semantics
 * and error codes for put, get, the try-variants, size/empty/full,
 * task_done/join and shutdown.
 *
 * Bounds. A message of n bytes occupies 8 + n rounded up to 8 bytes of the
 * queue's `max_bytes` (its footprint); a put waits while the footprints
 * would exceed max_bytes, or while the queue holds `max_count` messages
 * (0: no count bound). A message whose footprint exceeds max_bytes can
 * never be put: -EMSGSIZE. The FIFO kind is a byte ring of max_bytes
 * (rounded up to a power of two); the other kinds reserve up to about 10
 * times max_bytes of shared memory, less with a small max_count (pages are
 * committed as they are touched).
 *
 * Waiting putters (and getters) are not queued in order: whoever takes
 * the lock first after room (or a message) appears goes first.
 *
 * Processes that die. A producer killed in the middle of a put leaves no
 * partial message and blocks no one: a message appears whole or not at
 * all, and the next caller to need the lock repairs the queue. A consumer
 * killed in the middle of a get either has taken the message or left it
 * in the queue, whole. Right after either death, before anyone else
 * comes, size, empty and get agree (there is no message that get cannot
 * take, nor one that size does not count), and a waiter the dead process
 * was about to wake goes on within about 0.1 s.
 * Counters survive: a message counts as a task exactly when its put
 * completes; tasks taken by a process that dies before its task_done stay
 * unfinished (join then waits for a deadline, as it would in Python). A
 * process killed inside an immediate shutdown may leave discarded
 * messages counted as unfinished.
 * ====================================================================== */

typedef struct weft_pqueue weft_pqueue;

/* Creates a process queue of `kind` (WEFT_QUEUE_*) in anonymous shared
 * memory, inherited by processes forked afterwards. max_bytes: 16 .. 2^30;
 * max_count: 0 (bounded by bytes only) .. 2^30. *out is the same pointer
 * in every process that inherits it.
 * Errors: -EINVAL (out NULL, unknown kind, bounds out of range), -ENOMEM. */
WEFT_API int weft_pqueue_create(weft_pqueue **out, int kind, size_t max_bytes,
                                size_t max_count);

/* Creates the queue under `name` ("name" or "/name", a POSIX shared-memory
 * name: no other '/', at most 250 bytes; mode 0600) for unrelated
 * processes to weft_pqueue_open. It lives until weft_pqueue_unlink and the
 * last close.
 * Errors: as weft_pqueue_create, and -EINVAL (name NULL or bad),
 * -ENAMETOOLONG, -EEXIST (the name exists), -EACCES, -EMFILE, -ENFILE,
 * -ENOSPC. */
WEFT_API int weft_pqueue_create_named(weft_pqueue **out, const char *name, int kind,
                                      size_t max_bytes, size_t max_count);

/* Maps the queue created under `name`, waiting until `deadline` for its
 * creator to finish initialising it.
 * Errors: -EINVAL (out or name NULL, bad name), -ENAMETOOLONG, -ENOENT (no
 * such name), -EACCES, -EPROTOTYPE (the name is not a process queue),
 * -EPROTONOSUPPORT (another layout version), -EPROTO (inconsistent size),
 * -ETIMEDOUT, -ECANCELED, -EMFILE, -ENFILE, -ENOMEM. */
WEFT_API int weft_pqueue_open(weft_pqueue **out, const char *name, int64_t deadline);

/* Removes `name`; processes that have the queue mapped keep using it.
 * Errors: -EINVAL (NULL or bad name), -ENAMETOOLONG, -ENOENT, -EACCES. */
WEFT_API int weft_pqueue_unlink(const char *name);

/* Unmaps q from the calling process (the queue goes when the last process
 * that maps it closes it or exits). Other processes are not affected. No
 * thread or coroutine of this process may be using q. NULL: no-op, 0.
 * Errors: -EINVAL (not a process queue, or closed already). */
WEFT_API int weft_pqueue_close(weft_pqueue *q);

/* The largest message length q accepts: (max_bytes - 8) rounded down to
 * 8. 0 for NULL. */
WEFT_API size_t weft_pqueue_max_msg(weft_pqueue *q);

/* Puts a copy of the len bytes at msg (msg may be NULL if len is 0): at
 * the back (DEQUE), with priority 0 (PRIORITY). Waits for room until
 * `deadline`. On failure nothing was put.
 * Errors: -EMSGSIZE (the message can never fit), -EPIPE (shut down, before
 * or while waiting), -ETIMEDOUT, -ECANCELED, -ENOMEM (a coroutine could not
 * park), -EINVAL (q NULL or not a process queue, msg NULL with len > 0). */
WEFT_API int weft_pqueue_put(weft_pqueue *q, const void *msg, size_t len,
                             int64_t deadline);

/* weft_pqueue_put with WEFT_NOWAIT, -EAGAIN (no room) instead of
 * -ETIMEDOUT. */
WEFT_API int weft_pqueue_try_put(weft_pqueue *q, const void *msg, size_t len);

/* Puts with `priority` (lower first) into a PRIORITY queue.
 * Errors: as weft_pqueue_put; -EINVAL also if q is not PRIORITY. */
WEFT_API int weft_pqueue_put_prio(weft_pqueue *q, const void *msg, size_t len,
                                  int64_t priority, int64_t deadline);

/* Puts at the front of a DEQUE queue. Errors: as weft_pqueue_put; -EINVAL
 * also if q is not DEQUE. */
WEFT_API int weft_pqueue_put_front(weft_pqueue *q, const void *msg, size_t len,
                                   int64_t deadline);

/* Takes the next message (FIFO: oldest; LIFO: newest; PRIORITY: lowest
 * priority; DEQUE: front) into buf (cap bytes) and returns its length,
 * waiting until `deadline`. A shut-down queue delivers what it holds, then
 * fails with -EPIPE. If the message is longer than cap it stays in the
 * queue and the call fails with -EMSGSIZE (weft_pqueue_max_msg bounds
 * every message).
 * Errors: -EMSGSIZE, -EPIPE, -ETIMEDOUT, -ECANCELED, -ENOMEM (a coroutine
 * could not park), -EINVAL (q NULL or not a process queue, buf NULL with
 * cap > 0). */
WEFT_API ssize_t weft_pqueue_get(weft_pqueue *q, void *buf, size_t cap,
                                 int64_t deadline);

/* weft_pqueue_get with WEFT_NOWAIT, -EAGAIN (empty) instead of
 * -ETIMEDOUT. */
WEFT_API ssize_t weft_pqueue_try_get(weft_pqueue *q, void *buf, size_t cap);

/* Takes from the back of a DEQUE queue. Errors: as weft_pqueue_get;
 * -EINVAL also if q is not DEQUE. */
WEFT_API ssize_t weft_pqueue_get_back(weft_pqueue *q, void *buf, size_t cap,
                                      int64_t deadline);

/* Messages in q now (may be stale at once; 0 for NULL). */
WEFT_API size_t weft_pqueue_size(weft_pqueue *q);
/* 1 if q holds no message now, else 0 (1 for NULL). */
WEFT_API int weft_pqueue_empty(weft_pqueue *q);
/* 1 if not even an empty message fits now (max_count messages, or no 8
 * bytes left), else 0 (0 for NULL and for a shut-down queue). */
WEFT_API int weft_pqueue_full(weft_pqueue *q);

/* Marks one task done (see weft_queue_task_done).
 * Errors: -EINVAL (q NULL, or more task_done calls than puts). */
WEFT_API int weft_pqueue_task_done(weft_pqueue *q);

/* Waits until every message ever put has been task_done'd (or discarded
 * by an immediate shutdown). Errors: -ETIMEDOUT, -ECANCELED, -ENOMEM,
 * -EINVAL. */
WEFT_API int weft_pqueue_join(weft_pqueue *q, int64_t deadline);

/* Shuts q down for every process (see weft_queue_shutdown): puts fail with
 * -EPIPE, getters drain what is left and then get -EPIPE; immediate = 1
 * discards the messages left (counted as done). Errors: -EINVAL. */
WEFT_API int weft_pqueue_shutdown(weft_pqueue *q, int immediate);

/* 1 if q has been shut down, else 0. */
WEFT_API int weft_pqueue_is_shutdown(weft_pqueue *q);

/* A message pipe between related processes (Python's Pipe). Create it
 * before fork(); each process then closes the end it does not use.
 * Messages keep their boundaries and may be of any size (larger than the
 * kernel's buffer too). A send either writes the whole message or (if the
 * deadline passes or the caller is cancelled before its first byte goes
 * out) nothing; once started, it finishes, waiting as long as the reader
 * lives. A receive that times out in the middle of a message keeps the
 * bytes read and the next receive continues it. The ends are
 * non-blocking descriptors waited on with weft_fd_wait: a coroutine parks
 * only itself. One sender and one receiver at a time per end (others
 * wait their turn). Never raises SIGPIPE. */
typedef struct weft_pipe weft_pipe;

/* Creates a pipe. duplex = 1: both ends send and receive. duplex = 0:
 * *end0 only receives and *end1 only sends.
 * Errors: -EINVAL (NULL, duplex not 0/1), -EMFILE, -ENFILE, -ENOMEM. */
WEFT_API int weft_pipe_create(weft_pipe **end0, weft_pipe **end1, int duplex);

/* Sends len bytes at msg as one message (len up to 2^40 (2^31 on 32-bit ABIs)).
 * Errors: -EPIPE (the other end is closed everywhere, or an earlier send
 * on this end broke off inside a message), -ETIMEDOUT, -ECANCELED,
 * -EBADF (a receive-only end), -EMSGSIZE, -EINVAL (p NULL, msg NULL with
 * len > 0), -ENOMEM. If a coroutine is cancelled in the middle of a
 * message, the end is broken: later sends fail with -EPIPE. */
WEFT_API int weft_pipe_send(weft_pipe *p, const void *msg, size_t len, int64_t deadline);

/* Receives the next message into buf (cap bytes) and returns its length.
 * Errors: -EMSGSIZE (longer than cap: it stays; weft_pipe_next_size tells
 * its length), -EPIPE (the other end is closed everywhere and no whole
 * message is left: Python's EOFError; also once a writer died in the
 * middle of a message), -ETIMEDOUT, -ECANCELED, -EBADF (a send-only end),
 * -EPROTO (the stream is not weft's framing), -EINVAL, -ENOMEM. */
WEFT_API ssize_t weft_pipe_recv(weft_pipe *p, void *buf, size_t cap, int64_t deadline);

/* Waits for the next message and returns its length without taking it
 * (Python's poll(), telling also how big a buffer to pass).
 * Errors: as weft_pipe_recv. */
WEFT_API ssize_t weft_pipe_next_size(weft_pipe *p, int64_t deadline);

/* The end's descriptor (to wait on it, e.g. in a poller), or -EINVAL. Do
 * not read, write or close it. */
WEFT_API int weft_pipe_fd(const weft_pipe *p);

/* Closes this process's copy of the end and frees it (the peer sees EOF
 * once every process closed it or exited). NULL: no-op, 0. */
WEFT_API int weft_pipe_close(weft_pipe *p);
/* @@PQUEUE_END@@ */

/* @@PPOOL_BEGIN@@ */
/* ======================================================================
 * Process pool (Python's multiprocessing.Pool)
 *
 * A weft_ppool runs tasks in a fixed number of worker processes forked
 * from the caller. Tasks are named: a task is registered once, before the
 * pool is created (workers are forked, so they inherit the registry), and
 * submitted by the id the registration returns. A task takes bytes and
 * gives bytes:
 *
 *     static int square(const void *in, size_t len, weft_bytes *out) {
 *         int64_t x;
 *         if (len != sizeof x)
 *             return -EINVAL;
 *         memcpy(&x, in, sizeof x);
 *         x *= x;
 *         return weft_bytes_set(out, &x, sizeof x);
 *     }
 *     int sq = weft_ptask_register("square", square);
 *
 * Its status (>= 0 success, < 0 a negative errno) travels back as the
 * task's outcome. Tasks and results move through memory shared with the
 * workers (no pipes, no serialization); map splits its items into chunks.
 *
 * A worker that dies (crash, abort, _exit, SIGKILL) is noticed at once and
 * replaced. The task it was running fails with -EOWNERDEAD (policy
 * WEFT_PPOOL_FAIL, the default) or runs again on another worker (policy
 * WEFT_PPOOL_RETRY, up to max_retries times, then -EOWNERDEAD); tasks it had
 * been given but not started are handed to other workers. No task is ever
 * lost silently. A task running longer than task_timeout is killed with its
 * worker (the task fails with -ETIMEDOUT; never retried) and the worker is
 * replaced.
 *
 * Waiting (apply, map, futures, imap_next, join) parks only the calling
 * coroutine. One thread in the calling process per pool watches the
 * workers and completes futures: done-callbacks run on it, so they must
 * not wait for the pool (the watcher would wait for itself).
 *
 * Workers are forked by the pool (weft's fork rules apply: see Processes)
 * and are not weft_proc handles. They are reaped by the pool. If the
 * process that owns the pool dies, exits or execs without destroying it,
 * its workers are killed at once (SIGKILL, a running task included: no
 * one is left to take its result), even in the instant after
 * weft_ppool_create. The thread that created the pool may end before the
 * pool: the workers stay (they are forked by the pool's own thread).
 *
 * The same pool over MPI ranks (other hosts): weft_mpi_pool_create in
 * weft_mpi.h (libweft-mpi, optional).
 * ====================================================================== */

/* Bytes a task produces: data[0..len) with room for cap bytes. Start from
 * WEFT_BYTES_INIT; write with the functions below only (inside a map with
 * fixed-size results, out points straight into the result and cannot grow
 * past out_size: -EMSGSIZE). */
typedef struct weft_bytes {
    void *data;
    size_t len;
    size_t cap;
    uint64_t flags_;
} weft_bytes;
#define WEFT_BYTES_INIT {NULL, 0, 0, 0}

/* Replaces b's contents with p[0..n) (p may be NULL when n is 0).
 * Errors: -EINVAL (b NULL, p NULL with n > 0), -ENOMEM, -EMSGSIZE (a
 * fixed-size result and n exceeds its size). */
WEFT_API int weft_bytes_set(weft_bytes *b, const void *p, size_t n);
/* Appends p[0..n). Errors: as weft_bytes_set. */
WEFT_API int weft_bytes_append(weft_bytes *b, const void *p, size_t n);
/* Makes room for at least n bytes in total (len is unchanged), so a task
 * may write into data directly and then set len (<= cap).
 * Errors: -EINVAL (b NULL), -ENOMEM, -EMSGSIZE (fixed-size, n too big). */
WEFT_API int weft_bytes_reserve(weft_bytes *b, size_t n);
/* Frees b's memory and resets it to WEFT_BYTES_INIT. NULL is a no-op. */
WEFT_API void weft_bytes_free(weft_bytes *b);

/* A task: in[0..in_len) in, bytes out (out is empty on entry; write it with
 * the weft_bytes functions, or reserve then fill data and set len). It runs
 * in a worker process: a plain thread there, free to block, to call weft
 * (coroutines, sleeps, process queues) and to print (flush before
 * returning: workers leave with _exit). */
typedef int (*weft_ptask_fn)(const void *in, size_t in_len, weft_bytes *out);

/* Registers fn under name (1..63 bytes) for this process and the worker
 * processes of pools created afterwards. Returns the task id (>= 0).
 * Thread-safe. Errors: -EINVAL (name or fn NULL, name empty),
 * -ENAMETOOLONG, -EEXIST (name taken), -ENOSPC (1024 tasks registered). */
WEFT_API int weft_ptask_register(const char *name, weft_ptask_fn fn);
/* The id of a registered task. Errors: -EINVAL (NULL), -ENOENT. */
WEFT_API int weft_ptask_find(const char *name);

/* Multi-argument tasks: weft_ppool_apply_argv packs argc byte strings into
 * one input; inside the task, weft_ppool_arg(in, in_len, i, &p, &len)
 * fetches argument i. Returns argc (i may be -1 to ask only that).
 * Errors: -EINVAL (in NULL, malformed input, i < -1), -ERANGE (i >= argc). */
WEFT_API int weft_ppool_arg(const void *in, size_t in_len, int i, const void **p, size_t *len);

typedef struct weft_ppool weft_ppool;

enum {
    WEFT_PPOOL_FAIL = 0,  /* a dead worker's running task fails with -EOWNERDEAD */
    WEFT_PPOOL_RETRY = 1, /* ... or runs again, up to max_retries times */
};

typedef struct weft_ppool_opts {
    int nworkers;          /* 0: the number of online CPUs; at most 256 */
    int initializer;       /* task id run once in each new worker, or -1 */
    const void *initargs;  /* its input (copied at create) */
    size_t initargs_len;
    uint32_t maxtasks;     /* tasks (map chunks count one each) a worker runs
                              before it is replaced; 0: unlimited */
    int on_death;          /* WEFT_PPOOL_FAIL or WEFT_PPOOL_RETRY */
    int max_retries;       /* RETRY: runs after the first; 0 means 3 */
    int64_t task_timeout;  /* ns a task (or map chunk) may run; 0: no limit */
    uint64_t reserved_[4]; /* zero */
} weft_ppool_opts;
WEFT_STATIC_ASSERT(sizeof(weft_ppool_opts) == WEFT_ABI_SIZE(80, 68, 72), "weft_ppool_opts layout");


/* Fills o with the defaults (initializer -1, everything else 0). */
WEFT_API void weft_ppool_opts_init(weft_ppool_opts *o);

/* Forks the workers and starts the pool; opts NULL: defaults. If the
 * initializer fails (negative status) in a worker, the pool is broken:
 * every queued and later task fails with that status.
 * Errors: -EINVAL (out NULL, nworkers < 0 or > 256, unknown initializer
 * id, bad policy, max_retries or task_timeout < 0, reserved_ not zero),
 * -ENOMEM, -EAGAIN (fork, thread or descriptor limits; nothing is left
 * behind). Without pidfds (Linux < 5.3, a seccomp policy), workers are
 * watched through SIGCHLD, as processes are (see "Processes"). */
WEFT_API int weft_ppool_create(weft_ppool **out, const weft_ppool_opts *opts);

/* Number of workers of p (0 for NULL). */
WEFT_API int weft_ppool_size(const weft_ppool *p);

/* Stores the pids of p's live workers (at most max) and returns how many
 * (>= 0). A worker that has ended (killed, crashed, exited) is left out
 * from the moment it ends, before the pool has noticed or replaced it; a
 * replacement is listed once forked. Errors: -EINVAL (p NULL, pids NULL
 * with max > 0, max < 0). */
WEFT_API int weft_ppool_pids(weft_ppool *p, pid_t *pids, int max);

/* Worker processes started by p so far, replacements included (0 for NULL). */
WEFT_API long weft_ppool_started(weft_ppool *p);

/* Done-callback: status >= 0 goes to on_success, < 0 (the task's error,
 * -EOWNERDEAD, -ETIMEDOUT, -ECANCELED) to on_error. result is valid during
 * the call only. Runs on the pool's watcher thread, or on the caller of
 * weft_ppool_terminate / weft_ppool_destroy / weft_future_cancel that
 * ended the task. */
typedef void (*weft_ppool_cb)(weft_future *f, int status, const weft_bytes *result, void *ud);

/* Queues task(in[0..len)) (the input is copied) and returns at once. On
 * success *out (if out is non-NULL) receives a future whose result pointer
 * (weft_future_result) is a const weft_bytes * with the task's output;
 * it is valid until the future is released or the pool destroyed. The
 * future can be cancelled while the task waits for a worker.
 * on_success / on_error (either may be NULL) are called once it is done.
 * Errors: -EINVAL (p NULL, unknown task or one registered after p was
 * created, in NULL with len > 0), -EPIPE (p
 * closed or terminated), -ENOMEM, or the initializer's status (p broken). */
WEFT_API int weft_ppool_apply_async(weft_ppool *p, int task, const void *in, size_t len,
                                    weft_ppool_cb on_success, weft_ppool_cb on_error, void *ud,
                                    weft_future **out);

/* apply_async for a multi-argument task: argv[i][0..lens[i]) for i < argc
 * (see weft_ppool_arg). Errors: as apply_async; -EINVAL also for argc < 0
 * or argv/lens NULL with argc > 0. */
WEFT_API int weft_ppool_apply_argv(weft_ppool *p, int task, int argc, const void *const *argv,
                                   const size_t *lens, weft_future **out);

/* Runs task(in[0..len)) on a worker and waits for it. Returns the task's
 * status; out (if non-NULL, and initialized) receives a copy of its output
 * (free with weft_bytes_free). Errors: as apply_async, plus the task's
 * status, -EOWNERDEAD, -ETIMEDOUT (task_timeout), -ECANCELED (terminated,
 * or the calling coroutine was cancelled while waiting: the task still
 * runs). */
WEFT_API int weft_ppool_apply(weft_ppool *p, int task, const void *in, size_t len,
                              weft_bytes *out);

/* Map over n fixed-size items: out[i*out_size ..] = task(in[i*in_size ..]),
 * each result exactly out_size bytes (else that item fails with
 * -EMSGSIZE; a failed item's out_size bytes are zeros). Items go to workers in chunks of chunksize (0: automatic, as
 * Python: n / (4 * workers), rounded up). statuses (if non-NULL) receives
 * each item's status (-EOWNERDEAD for every item of a chunk lost with its
 * worker, -ETIMEDOUT, -ECANCELED if the pool was terminated). Returns 0 if
 * all succeeded, else the status of the lowest failed item. Waits until
 * every chunk is done, even if the calling coroutine is cancelled (the
 * workers use the caller's buffers until then).
 * Errors: -EINVAL (p NULL, unknown task, in or out NULL with n > 0,
 * in_size or out_size 0 or > 2^31, sizes overflowing), -EPIPE, -ENOMEM,
 * or a failed item's status. */
WEFT_API int weft_ppool_map(weft_ppool *p, int task, const void *in, size_t n, size_t in_size,
                            void *out, size_t out_size, size_t chunksize, int *statuses);

/* weft_ppool_map without waiting: *out receives a future (status: what
 * weft_ppool_map would return; result pointer NULL). in, out and statuses
 * must stay valid until it is done. Errors: as weft_ppool_map (out NULL:
 * -EINVAL). */
WEFT_API int weft_ppool_map_async(weft_ppool *p, int task, const void *in, size_t n,
                                  size_t in_size, void *out, size_t out_size, size_t chunksize,
                                  int *statuses, weft_future **out_future);

/* Python's Pool.starmap: one multi-argument task per item, each item an
 * argument tuple of byte strings (items[i].argv[k][0 .. items[i].lens[k])
 * for k < items[i].argc, as weft_ppool_apply_argv takes them; the task
 * reads them with weft_ppool_arg). Results, chunks, statuses, retries and
 * the return value as weft_ppool_map: out[i*out_size ..] = task(items[i]).
 * The arguments are packed into the workers' memory chunk by chunk as the
 * chunks are handed out (no copy of the whole input is made first).
 * Errors: as weft_ppool_map; -EINVAL also for items NULL with n > 0, an
 * item with argc < 0, argv or lens NULL with argc > 0, an argument NULL
 * with a nonzero length, or packed larger than 2^31 bytes (8 + 8 * argc +
 * the lengths). */
typedef struct weft_ppool_args {
    int argc;
    const void *const *argv;
    const size_t *lens;
} weft_ppool_args;
WEFT_API int weft_ppool_starmap(weft_ppool *p, int task, const weft_ppool_args *items, size_t n,
                                void *out, size_t out_size, size_t chunksize, int *statuses);

/* weft_ppool_starmap without waiting, as weft_ppool_map_async: items, the
 * arrays and bytes they point to, out and statuses must stay valid until
 * the future is done (the watcher thread packs later chunks from them).
 * Errors: as weft_ppool_starmap (out_future NULL: -EINVAL). */
WEFT_API int weft_ppool_starmap_async(weft_ppool *p, int task, const weft_ppool_args *items,
                                      size_t n, void *out, size_t out_size, size_t chunksize,
                                      int *statuses, weft_future **out_future);

/* imap / imap_unordered: results of any size, yielded one by one as they
 * come (in index order, or with WEFT_PPOOL_UNORDERED in the order they
 * finish). chunksize 0: automatic as for map. in must stay valid until the
 * iterator is destroyed. Errors: as weft_ppool_map, -EINVAL for it NULL or
 * unknown flags. */
enum { WEFT_PPOOL_UNORDERED = 1 };
typedef struct weft_ppool_iter weft_ppool_iter;
WEFT_API int weft_ppool_imap(weft_ppool *p, int task, const void *in, size_t n, size_t in_size,
                             size_t chunksize, int flags, weft_ppool_iter **it);

/* Waits for the next result: returns 1 with *index, *status (the item's
 * status) and *out (moved to the caller, who frees it; out may be NULL);
 * 0 once all n were yielded. Errors: -ETIMEDOUT (call again), -ECANCELED
 * (the calling coroutine was cancelled), -EINVAL (it or index or status
 * NULL). */
WEFT_API int weft_ppool_iter_next(weft_ppool_iter *it, int64_t deadline, size_t *index,
                                  int *status, weft_bytes *out);

/* Frees it; items not yet sent to a worker are dropped, results still
 * coming are discarded. Call it before destroying the pool. NULL is a
 * no-op. */
WEFT_API void weft_ppool_iter_destroy(weft_ppool_iter *it);

/* Stops accepting tasks (later submits: -EPIPE); queued tasks still run,
 * then the workers exit. Calling it again is allowed. Errors: -EINVAL. */
WEFT_API int weft_ppool_close(weft_ppool *p);

/* Kills every worker at once (SIGKILL) and fails every queued and running
 * task with -ECANCELED (futures done, callbacks run on the caller).
 * Errors: -EINVAL. */
WEFT_API int weft_ppool_terminate(weft_ppool *p);

/* Waits until every worker has exited and been reaped (after close: once
 * the queued tasks are done). Errors: -EINVAL (p NULL, or neither closed
 * nor terminated), -ETIMEDOUT, -ECANCELED. */
WEFT_API int weft_ppool_join(weft_ppool *p, int64_t deadline);

/* Terminates p unless it was closed and joined, waits for its workers and
 * frees it. Results of futures still held are freed (they read as empty
 * bytes); the futures themselves stay valid (done) until released. NULL is
 * a no-op returning 0.
 * Errors: -EDEADLK (called from a done-callback on p's watcher thread;
 * nothing is freed). */
WEFT_API int weft_ppool_destroy(weft_ppool *p);
/* @@PPOOL_END@@ */

/* @@PDICT_BEGIN@@ */
/* ======================================================================
 * Shared dict and list (Python's multiprocessing Manager().dict(),
 * .list() and Namespace)
 *
 * A weft_pdict maps byte keys to byte values; a weft_plist is a growable
 * array of byte items. Both live in shared memory: created before fork()
 * (weft_pdict_create: the children inherit it at the same address), or by
 * name for unrelated processes (create_named / open / unlink, with the
 * rules and errors of named objects in "Shared memory between processes").
 * There is no manager process: every process, thread and coroutine calls
 * the functions directly, and each call is atomic (a robust process lock
 * serialises them; a coroutine waiting for it parks only itself). Every
 * call that takes the lock takes a deadline for it: -ETIMEDOUT (at once
 * with WEFT_NOWAIT if another caller holds it), -ECANCELED, -ENOMEM (a
 * coroutine could not park), -EDEADLK (never in practice: the lock is not
 * held across calls).
 *
 * Space. A container holds up to about `max_bytes` bytes, fixed at
 * creation (pages are committed as they are touched, so a generous bound
 * costs address space, not memory). A dict entry costs its key and value
 * plus 40 bytes (rounded up to 16), and the table 8 bytes per bucket (up
 * to 8/3 buckets per entry while it grows); a list item its length plus 32
 * bytes (rounded up to 16), and the index 8 bytes per item (twice that
 * while it grows). A change that does not fit fails with -ENOSPC and
 * changes nothing; a key and value (or an item) that could never fit,
 * -EMSGSIZE. Replacing a value needs room for the new one before the old
 * is freed.
 *
 * Processes that die. A process killed in the middle of any call leaves
 * the container as if its change had been made whole or not at all, and
 * the others go on: the next caller repairs it (frees what the dead process
 * had allocated but not committed, or replaced but not freed) before its
 * own call.
 *
 * Values are copied out: a get copies into the caller's buffer (cap bytes)
 * and returns the length; a value longer than cap stays and the call fails
 * with -EMSGSIZE (the *_get_bytes variants copy into a growing weft_bytes
 * instead). Python's d.get(k, default): use your default on -ENOENT. A key
 * longer than any entry the dict could hold is absent (-ENOENT, or 0 from
 * contains) without being read.
 * Namespace: a weft_pdict with the attribute names as keys (klen =
 * strlen(name)).
 * ====================================================================== */

typedef struct weft_pdict weft_pdict;
typedef struct weft_plist weft_plist;

/* Creates a dict in anonymous shared memory, inherited by processes forked
 * afterwards. max_bytes: 64 .. 2^40 (2^31 on 32-bit ABIs).
 * Errors: -EINVAL (out NULL, max_bytes out of range), -ENOMEM. */
WEFT_API int weft_pdict_create(weft_pdict **out, size_t max_bytes);
/* Creates a dict under `name` for unrelated processes (weft_pdict_open);
 * it lives until weft_pdict_unlink and the last close.
 * Errors: as weft_pdict_create, and those of every create_named. */
WEFT_API int weft_pdict_create_named(weft_pdict **out, const char *name, size_t max_bytes);
/* Maps the dict created under `name`, waiting until `deadline` for its
 * creator to finish initialising it. Errors: those of every attach, and
 * -EPROTO (an inconsistent object). */
WEFT_API int weft_pdict_open(weft_pdict **out, const char *name, int64_t deadline);
/* Removes `name`; processes that have the dict open keep using it.
 * Errors: -EINVAL, -ENAMETOOLONG, -ENOENT, -EACCES. */
WEFT_API int weft_pdict_unlink(const char *name);
/* Unmaps d from the calling process (the dict goes when the last process
 * that maps it closes it or exits; an anonymous one is unmapped in this
 * process only). No thread of this process may be using d. NULL: 0.
 * Errors: -EINVAL (not a dict, or closed already). */
WEFT_API int weft_pdict_close(weft_pdict *d);

/* d[key] = val: inserts or replaces (key and val may be NULL when their
 * length is 0). Errors: -ENOSPC, -EMSGSIZE (see Space), the lock's errors
 * (above), -EINVAL (d not a dict, key or val NULL with a length). */
WEFT_API int weft_pdict_set(weft_pdict *d, const void *key, size_t klen, const void *val,
                            size_t vlen, int64_t deadline);
/* Inserts key only if it is absent (the insert of Python's setdefault;
 * call weft_pdict_get after -EEXIST for its value).
 * Errors: -EEXIST (present: nothing changed), and as weft_pdict_set. */
WEFT_API int weft_pdict_add(weft_pdict *d, const void *key, size_t klen, const void *val,
                            size_t vlen, int64_t deadline);
/* Replaces key's value by val only if it equals expect[0..elen) now.
 * Errors: -ENOENT (absent), -EAGAIN (another value: nothing changed), and
 * as weft_pdict_set (-EINVAL also for expect NULL with elen > 0). */
WEFT_API int weft_pdict_cas(weft_pdict *d, const void *key, size_t klen, const void *expect,
                            size_t elen, const void *val, size_t vlen, int64_t deadline);
/* Copies key's value into buf (cap bytes) and returns its length.
 * Errors: -ENOENT (absent), -EMSGSIZE (longer than cap: nothing copied),
 * the lock's errors, -EINVAL (d not a dict, key NULL with klen > 0, buf
 * NULL with cap > 0). */
WEFT_API ssize_t weft_pdict_get(weft_pdict *d, const void *key, size_t klen, void *buf,
                                size_t cap, int64_t deadline);
/* The same into *out (replacing its contents), and its length.
 * Errors: as weft_pdict_get without -EMSGSIZE, plus -ENOMEM. */
WEFT_API ssize_t weft_pdict_get_bytes(weft_pdict *d, const void *key, size_t klen,
                                      weft_bytes *out, int64_t deadline);
/* weft_pdict_get that also removes the entry (Python's pop). After
 * -EMSGSIZE the entry stays. Errors: as weft_pdict_get. */
WEFT_API ssize_t weft_pdict_pop(weft_pdict *d, const void *key, size_t klen, void *buf,
                                size_t cap, int64_t deadline);
/* del d[key]. Errors: -ENOENT (absent), the lock's errors, -EINVAL. */
WEFT_API int weft_pdict_delete(weft_pdict *d, const void *key, size_t klen, int64_t deadline);
/* key in d: 1 or 0. Errors: the lock's errors, -EINVAL. */
WEFT_API int weft_pdict_contains(weft_pdict *d, const void *key, size_t klen,
                                 int64_t deadline);
/* len(d). Errors: the lock's errors, -EINVAL. */
WEFT_API int64_t weft_pdict_len(weft_pdict *d, int64_t deadline);
/* Removes every entry. Errors: the lock's errors, -ENOTRECOVERABLE,
 * -EINVAL. */
WEFT_API int weft_pdict_clear(weft_pdict *d, int64_t deadline);
/* A snapshot of every item, taken atomically (Python's Manager dict's
 * items() is a copy too), into *out (replacing its contents); returns the
 * number of items. Walk it with weft_pdict_item_next. The order is
 * unspecified (not insertion order, unlike Python's dict).
 * Errors: -ENOMEM, the lock's errors, -EINVAL (d not a dict, out NULL). */
WEFT_API int64_t weft_pdict_items(weft_pdict *d, weft_bytes *out, int64_t deadline);
/* The next item of a snapshot: start with *pos = 0; each call sets key,
 * klen, val, vlen (pointing into snap) and advances *pos. Returns 1, or 0
 * at the end. Errors: -EINVAL (a pointer NULL, *pos past the end), -EPROTO
 * (snap is not a snapshot, or *pos is not at an item). */
WEFT_API int weft_pdict_item_next(const weft_bytes *snap, size_t *pos, const void **key,
                                  size_t *klen, const void **val, size_t *vlen);

/* A list: create, create_named, open, unlink and close as for a dict
 * (errors alike). Indexes are Python's: i < 0 counts from the end (-1 is
 * the last item); an index outside the list is -ERANGE (IndexError). */
WEFT_API int weft_plist_create(weft_plist **out, size_t max_bytes);
WEFT_API int weft_plist_create_named(weft_plist **out, const char *name, size_t max_bytes);
WEFT_API int weft_plist_open(weft_plist **out, const char *name, int64_t deadline);
WEFT_API int weft_plist_unlink(const char *name);
WEFT_API int weft_plist_close(weft_plist *l);
/* Appends a copy of val[0..len) (val may be NULL if len is 0).
 * Errors: -ENOSPC, -EMSGSIZE, the lock's errors, -EINVAL (l not a list,
 * val NULL with len > 0). */
WEFT_API int weft_plist_append(weft_plist *l, const void *val, size_t len, int64_t deadline);
/* Inserts before index i, as Python's insert: an index past either end
 * means that end (never -ERANGE). Copies the index (see Space) unless it
 * appends. Errors: as weft_plist_append. */
WEFT_API int weft_plist_insert(weft_plist *l, int64_t i, const void *val, size_t len,
                               int64_t deadline);
/* Copies item i into buf (cap bytes) and returns its length.
 * Errors: -ERANGE, -EMSGSIZE (longer than cap: nothing copied), the lock's
 * errors, -EINVAL (l not a list, buf NULL with cap > 0). */
WEFT_API ssize_t weft_plist_get(weft_plist *l, int64_t i, void *buf, size_t cap,
                                int64_t deadline);
/* The same into *out (replacing its contents). Errors: as weft_plist_get
 * without -EMSGSIZE, plus -ENOMEM. */
WEFT_API ssize_t weft_plist_get_bytes(weft_plist *l, int64_t i, weft_bytes *out,
                                      int64_t deadline);
/* l[i] = val. Errors: -ERANGE, and as weft_plist_append. */
WEFT_API int weft_plist_set(weft_plist *l, int64_t i, const void *val, size_t len,
                            int64_t deadline);
/* weft_plist_get that also removes item i (Python's pop(i); pop() is
 * i = -1). After -EMSGSIZE the item stays. Removing any item but the last
 * copies the index: -ENOSPC when there is no room for that (nothing
 * changed). Errors: as weft_plist_get, and -ENOSPC. */
WEFT_API ssize_t weft_plist_pop(weft_plist *l, int64_t i, void *buf, size_t cap,
                                int64_t deadline);
/* del l[i]. Errors: -ERANGE, -ENOSPC (as weft_plist_pop), the lock's
 * errors, -EINVAL. */
WEFT_API int weft_plist_delete(weft_plist *l, int64_t i, int64_t deadline);
/* len(l). Errors: the lock's errors, -EINVAL. */
WEFT_API int64_t weft_plist_len(weft_plist *l, int64_t deadline);
/* Removes every item. Errors: the lock's errors, -ENOTRECOVERABLE,
 * -EINVAL. */
WEFT_API int weft_plist_clear(weft_plist *l, int64_t deadline);
/* @@PDICT_END@@ */

/* @@NET_BEGIN@@ */
/* ======================================================================
 * TCP networking: addresses, name resolution, listen/accept/connect and
 * socket options
 *
 * Every socket made here is non-blocking and close-on-exec, so the
 * yielding calls above (weft_read, weft_send, weft_accept, ...) park only
 * the calling coroutine. Close sockets with weft_fd_close when coroutines
 * may wait on them. IPv4 and IPv6 alike.
 * ====================================================================== */

/* A socket address (IPv4 or IPv6) and its length: a plain value. */
typedef struct weft_addr {
    struct sockaddr_storage ss;
    socklen_t len;
} weft_addr;
WEFT_STATIC_ASSERT(sizeof(weft_addr) == WEFT_ABI_SIZE(136, 132, 132), "weft_addr layout");

/* Resolves host and port into at most max addresses stored in out[],
 * in getaddrinfo's order (stream sockets only), and returns how many.
 * family is AF_UNSPEC (0: both), AF_INET or AF_INET6. A numeric host
 * ("127.0.0.1", "::1") is converted at once; a name is looked up with
 * getaddrinfo(3) on the default thread pool (weft_offload's), so inside a
 * coroutine only the caller parks while the lookup runs. host NULL or ""
 * gives the wildcard address (0.0.0.0, or :: for AF_INET6): for listening.
 * When the deadline passes first, the lookup goes on in the background
 * (its result is dropped) and the call returns -ETIMEDOUT.
 * Errors: -EINVAL (out NULL, max 0, port outside 0..65535, bad family),
 * -ENOENT (no such name, or no address of that family), -EAGAIN (a
 * temporary failure of the name service), -ETIMEDOUT, -ECANCELED (the
 * calling coroutine was cancelled), -ENOMEM, -EIO (any other resolver
 * failure). */
WEFT_API int weft_resolve(const char *host, int port, int family, weft_addr *out,
                          size_t max, int64_t deadline);

/* The port of a (AF_INET or AF_INET6), 0..65535.
 * Errors: -EINVAL (a NULL or of another family). */
WEFT_API int weft_addr_port(const weft_addr *a);

/* Writes a as "1.2.3.4:80" or "[::1]:80" (NUL-terminated) into buf and
 * returns the length written (without the NUL).
 * Errors: -EINVAL (a or buf NULL, unknown family), -ENOSPC (len too
 * small; buf then holds an empty string if len > 0). */
WEFT_API int weft_addr_format(const weft_addr *a, char *buf, size_t len);

enum {
    WEFT_TCP_REUSEPORT = 1, /* SO_REUSEPORT: several sockets share the port */
    WEFT_TCP_V6ONLY = 2,    /* IPv6 socket accepts IPv6 only (no mapped v4) */
};

/* Creates a TCP socket bound to host:port (resolved as weft_resolve, the
 * first address that binds is used; port 0 picks a free port: read it
 * with weft_sock_local_addr) and listening with `backlog` (0: SOMAXCONN;
 * at most 65535). SO_REUSEADDR is always set; flags may add
 * WEFT_TCP_REUSEPORT and WEFT_TCP_V6ONLY. Returns the descriptor.
 * Errors: as weft_resolve (with deadline WEFT_FOREVER), -EINVAL (flags or
 * backlog out of range), and socket/bind/listen's own, negated
 * (-EADDRINUSE, -EACCES, -EADDRNOTAVAIL, -EMFILE, ...). */
WEFT_API int weft_tcp_listen(const char *host, int port, int backlog, int flags);

/* weft_tcp_listen on one address. Errors: as weft_tcp_listen; -EINVAL
 * also for a NULL or non-IP address. */
WEFT_API int weft_tcp_listen_addr(const weft_addr *a, int backlog, int flags);

/* Accepts a connection on the listening socket lfd, waiting until the
 * deadline; the new socket is non-blocking, close-on-exec and has
 * TCP_NODELAY set. *peer (if non-NULL) receives the peer's address.
 * Returns the descriptor. Errors: as weft_accept (-ETIMEDOUT, -ECANCELED,
 * -EBADF, -EINVAL for a socket that does not listen, -EMFILE, ...). */
WEFT_API int weft_tcp_accept(int lfd, weft_addr *peer, int64_t deadline);

/* Connects to host:port: resolves it (as weft_resolve, same deadline),
 * then tries each address in turn until one connects, all within the one
 * deadline. The socket is non-blocking, close-on-exec, with TCP_NODELAY.
 * Returns the descriptor. Errors: as weft_resolve; otherwise the last
 * address's error (-ECONNREFUSED, -ENETUNREACH, ...), -ETIMEDOUT (the
 * deadline passed while connecting), -ECANCELED. */
WEFT_API int weft_tcp_connect(const char *host, int port, int64_t deadline);

/* weft_tcp_connect to one address. Errors: as weft_tcp_connect; -EINVAL
 * for a NULL or non-IP address. */
WEFT_API int weft_tcp_connect_addr(const weft_addr *a, int64_t deadline);

/* The local (getsockname) or remote (getpeername) address of a socket.
 * Errors: -EINVAL (out NULL), and the system call's, negated (-EBADF,
 * -ENOTSOCK, -ENOTCONN). */
WEFT_API int weft_sock_local_addr(int fd, weft_addr *out);
WEFT_API int weft_sock_peer_addr(int fd, weft_addr *out);

/* Socket options for weft_sock_set / weft_sock_get. Booleans are 0 or 1. */
enum {
    WEFT_SO_REUSEADDR = 1, /* SO_REUSEADDR (bool) */
    WEFT_SO_REUSEPORT = 2, /* SO_REUSEPORT (bool) */
    WEFT_SO_NODELAY = 3,   /* TCP_NODELAY (bool): no Nagle delay */
    WEFT_SO_KEEPALIVE = 4, /* SO_KEEPALIVE (bool) */
    WEFT_SO_KEEPIDLE = 5,  /* TCP_KEEPIDLE: idle seconds before probes (1..32767) */
    WEFT_SO_RCVBUF = 6,    /* SO_RCVBUF in bytes (the kernel doubles what is set) */
    WEFT_SO_SNDBUF = 7,    /* SO_SNDBUF in bytes (likewise) */
    WEFT_SO_V6ONLY = 8,    /* IPV6_V6ONLY (bool; IPv6 sockets, before bind) */
    WEFT_SO_LINGER = 9,    /* SO_LINGER seconds; -1 turns lingering off,
                              0 makes close() reset the connection */
};

/* Sets option opt of socket fd to value. Errors: -EINVAL (unknown opt,
 * value out of range), and setsockopt's own, negated (-EBADF, -ENOTSOCK,
 * -ENOPROTOOPT, ...). */
WEFT_API int weft_sock_set(int fd, int opt, int value);

/* Reads option opt of socket fd and returns its value (>= 0); for
 * WEFT_SO_LINGER the linger seconds, or INT32_MAX when lingering is off.
 * Errors: -EINVAL (unknown opt), and getsockopt's own, negated. */
WEFT_API int weft_sock_get(int fd, int opt);
/* @@NET_END@@ */

/* @@HTTP_BEGIN@@ */
/* ======================================================================
 * A small HTTP/1.1 server
 *
 * One coroutine per connection, keep-alive and pipelining (requests on one
 * connection are answered in order). The handler runs in the connection's
 * coroutine, so it may block in any weft call (weft_sleep, channels, I/O,
 * weft_offload) and only that connection waits.
 *
 * Requests are parsed strictly. A request the server cannot accept is
 * answered by the server itself, without calling the handler, and the
 * connection is closed after the answer.
 *   400  malformed request line or header line (obs-fold included), bad
 *        or conflicting Content-Length, Content-Length together with
 *        Transfer-Encoding, no Host in an HTTP/1.1 request, two Hosts
 *   413  body larger than opts.max_body
 *   414  request line longer than opts.max_request_line
 *   431  header block larger than opts.max_header_bytes, or more than
 *        opts.max_headers header lines
 *   501  a Transfer-Encoding (chunked request bodies are not supported;
 *        send a Content-Length)
 *   505  an HTTP version other than 1.0 and 1.1
 * Such an answer often comes before the client has sent all of its
 * request (a 413 is sent as soon as the headers are read), so the server
 * closes gently ("lingering close"): it sends the answer, shuts down its
 * sending side, and reads and discards what the client still sends until
 * the client closes its side, for at most 5 s (the idle timeout if
 * shorter) and 16 MiB, whichever comes first; a client still sending then
 * gets a reset. The same applies when a handler's error (500) or
 * "Connection: close" ends a connection with pipelined requests unread.
 * Stopping the server ends lingering connections at once.
 * "Expect: 100-continue" (HTTP/1.1 only) is answered with one "100
 * Continue" once the head is read and before the body is; no other
 * request gets one. HTTP/1.1 connections persist unless either side says
 * "Connection: close"; HTTP/1.0 ones only with "Connection: keep-alive".
 * ====================================================================== */

typedef struct weft_http_server weft_http_server;
typedef struct weft_http_response weft_http_response;

/* One request header; both strings NUL-terminated, the value without
 * surrounding white space. */
typedef struct weft_http_header {
    const char *name;
    const char *value;
} weft_http_header;

/* A parsed request. Every pointer (strings NUL-terminated) is valid only
 * during the handler call. */
typedef struct weft_http_request {
    const char *method;   /* "GET", "POST", ... (case as sent) */
    const char *target;   /* request target as sent: "/path?query" */
    int version_minor;    /* 0 (HTTP/1.0) or 1 (HTTP/1.1) */
    const weft_http_header *headers; /* in the order received */
    size_t nheaders;
    const char *body;     /* body_len bytes (then a NUL); "" if none */
    size_t body_len;
    const weft_addr *peer; /* the client's address */
} weft_http_request;

/* The value of the first header named `name` (compared without regard to
 * case), or NULL if there is none (or req/name is NULL). */
WEFT_API const char *weft_http_request_header(const weft_http_request *req,
                                              const char *name);

/* Fills resp for req. The response starts as status 200 with no headers
 * and an empty body. Return 0 to send it; a negative errno makes the
 * server answer 500 instead and close the connection. */
typedef int (*weft_http_handler)(const weft_http_request *req, weft_http_response *resp,
                                 void *arg);

/* Sets the status code (200..599; the reason phrase is the standard one).
 * 204 and 304 responses are sent without a body.
 * Errors: -EINVAL (resp NULL, status out of range). */
WEFT_API int weft_http_response_status(weft_http_response *resp, int status);

/* Adds a response header (both copied). The server writes Content-Length
 * and Connection itself. Errors: -EINVAL (NULL arguments; a name that is
 * empty or not an HTTP token, or is Content-Length, Transfer-Encoding or
 * Connection; a value containing CR, LF or NUL), -ENOMEM. */
WEFT_API int weft_http_response_header(weft_http_response *resp, const char *name,
                                       const char *value);

/* Appends len bytes to the body (copied; call it as often as needed). The
 * body is sent with a Content-Length once the handler returns; for HEAD
 * requests only the length is sent. Errors: -EINVAL (resp NULL, or data
 * NULL with len > 0), -ENOMEM. */
WEFT_API int weft_http_response_write(weft_http_response *resp, const void *data,
                                      size_t len);

typedef struct weft_http_opts {
    int threads;              /* 0: serve on the calling thread's scheduler
                                 (its coroutines run when it blocks or
                                 yields); N (1..256): on N server threads of
                                 its own, sharing the listening socket */
    int backlog;              /* listen backlog; 0: SOMAXCONN */
    int reuseport;            /* 1: SO_REUSEPORT on the listening socket */
    size_t max_request_line;  /* 0: 8 KiB */
    size_t max_header_bytes;  /* header block after the request line; 0: 16 KiB */
    int max_headers;          /* 0: 100 */
    size_t max_body;          /* 0: 1 MiB */
    int64_t idle_timeout;     /* ns a connection may take to send a request
                                 (and to accept a response); 0: 60 s; < 0: none */
    size_t stack_size;        /* connection coroutine stacks; 0: default */
} weft_http_opts;
WEFT_STATIC_ASSERT(sizeof(weft_http_opts) == WEFT_ABI_SIZE(64, 40, 48), "weft_http_opts layout");

/* Starts an HTTP server listening on host:port (host resolved as
 * weft_resolve; port 0 picks a free port, see weft_http_server_port) that
 * calls handler(req, resp, arg) for every request. opts may be NULL. With
 * opts->threads == 0 the server's coroutines live on the calling thread:
 * that thread must keep blocking or yielding in weft calls for them to
 * run, and must be the one to call weft_http_server_stop.
 * Errors: -EINVAL (out, host or handler NULL, port outside 0..65535, an
 * option out of range), errors of weft_tcp_listen (-EADDRINUSE, ...),
 * -ENOMEM, -EAGAIN (a thread could not be started). */
WEFT_API int weft_http_server_start(weft_http_server **out, const char *host, int port,
                                    weft_http_handler handler, void *arg,
                                    const weft_http_opts *opts);

/* The port the server listens on (its actual one when started with port
 * 0). Errors: -EINVAL (srv NULL). */
WEFT_API int weft_http_server_port(const weft_http_server *srv);

/* Stops srv and frees it: closes the listening socket, closes connections
 * idle between requests at once, lets requests in progress finish (their
 * connections close after the response) until `deadline`, then cancels
 * the handlers still running (their blocking calls fail with -ECANCELED)
 * and waits for them to return. Server threads are joined. srv must not
 * be used afterwards.
 * Errors: -EINVAL (srv NULL), -EXDEV (a threads == 0 server stopped from
 * another thread than the one that started it; nothing is done),
 * -EDEADLK (called from one of srv's handlers, or from a coroutine on one
 * of its server threads; nothing is done), -ECANCELED (the calling
 * coroutine is cancelled: the stop goes on as if the deadline had passed,
 * in a coroutine of the calling thread, which frees srv when done; srv is
 * gone for the caller all the same), -ENOMEM (cancelled, and no memory to
 * finish in the background: srv is left stopping and stop may be called
 * again). */
WEFT_API int weft_http_server_stop(weft_http_server *srv, int64_t deadline);
/* @@HTTP_END@@ */

/* ======================================================================
 * Waiting on several objects of different kinds (gevent.wait, gevent.iwait,
 * multiprocessing.connection.wait, select.select over descriptors).
 *
 * A caller-owned array of weft_waitable entries, each an object and what to
 * wait for, built with the WEFT_WAIT_* macros:
 *
 *     weft_waitable ws[] = {WEFT_WAIT_CORO(c), WEFT_WAIT_FUTURE(f),
 *                           WEFT_WAIT_FD(fd, WEFT_READABLE)};
 *     int i = weft_wait_any(ws, 3, weft_after_sec(2));
 *
 * An entry is ready when:
 *   WEFT_WAIT_CORO(c)        coroutine c has finished (not yet joined);
 *   WEFT_WAIT_FUTURE(f)      f is done (weft_future_done);
 *   WEFT_WAIT_PROC(p)        process p has exited (p's pidfd is readable, or
 *                            p was reaped: weft_proc_join then returns at once);
 *   WEFT_WAIT_THREAD(t)      thread t's function has returned (not yet joined);
 *   WEFT_WAIT_QUEUE_GET(q)   weft_queue_get would not wait: q holds an item or
 *                            is shut down;
 *   WEFT_WAIT_QUEUE_PUT(q)   weft_queue_put would not wait: q has room (or is
 *                            unbounded) or is shut down;
 *   WEFT_WAIT_EVENT(e)       e is set;
 *   WEFT_WAIT_FD(fd, ev)     fd is readable / writable (ev: WEFT_READABLE,
 *                            WEFT_WRITABLE or both; hang-up and errors count
 *                            as ready, as with poll(2));
 *   WEFT_WAIT_NONE           never (a disabled slot; skipped).
 * Readiness consumes nothing: a finished coroutine or thread is not joined,
 * a queue's item is not taken, a descriptor is not read. The caller does
 * that next (weft_join, weft_thread_join, weft_proc_join or
 * weft_proc_exitcode, weft_future_result, weft_queue_get, read(2)), and a
 * queue item or a descriptor's bytes may have been taken by another
 * consumer meanwhile, so use a non-blocking or bounded call there.
 *
 * The call waits on all entries with one waiter (no polling, no helper
 * coroutines or threads): in a coroutine only the coroutine parks; a thread
 * without coroutines sleeps (in ppoll(2) when the set has descriptors or
 * processes; mixed with other kinds, on an eventfd too, which the thread
 * opens on first need and closes when it exits). Other threads may complete the futures, set the events, fill
 * the queues and end the threads. Coroutines must belong to the calling
 * thread. In a coroutine, the descriptors (and processes' pidfds) follow
 * weft_fd_wait's rule: one coroutine per descriptor and direction at a time
 * on a thread, so -EBUSY if another coroutine of this thread waits on one
 * (weft_proc_join waits on its pidfd); a coroutine entry counts as the
 * coroutine's joiner while the call waits (a weft_join of it meanwhile gets
 * -EBUSY, and a coroutine already being joined gives -EBUSY here). The same
 * object may appear twice. The objects must stay valid during the call.
 * Channels are not entries (a channel hands its element to whoever waits on
 * it): weft_select waits on several channel operations.
 * ====================================================================== */

enum {
    WEFT_WAITABLE_NONE = 0,
    WEFT_WAITABLE_CORO = 1,
    WEFT_WAITABLE_FUTURE = 2,
    WEFT_WAITABLE_PROC = 3,
    WEFT_WAITABLE_THREAD = 4,
    WEFT_WAITABLE_QUEUE_GET = 5,
    WEFT_WAITABLE_QUEUE_PUT = 6,
    WEFT_WAITABLE_EVENT = 7,
    WEFT_WAITABLE_FD = 8,
};

typedef struct weft_waitable {
    int kind;     /* WEFT_WAITABLE_* */
    int events;   /* FD: WEFT_READABLE and/or WEFT_WRITABLE; else 0 */
    union {
        weft_coro coro;
        weft_future *future;
        weft_proc *proc;
        weft_thread *thread;
        weft_queue *queue;
        weft_event *event;
        int fd;
    } u;
    int reported; /* set to 1 by weft_wait_next once it has returned this
                     entry (the macros start it at 0); weft_wait_any
                     neither reads nor writes it */
} weft_waitable;

#define WEFT_WAIT_NONE ((weft_waitable){.kind = WEFT_WAITABLE_NONE})
#define WEFT_WAIT_CORO(c) ((weft_waitable){.kind = WEFT_WAITABLE_CORO, .u.coro = (c)})
#define WEFT_WAIT_FUTURE(f) ((weft_waitable){.kind = WEFT_WAITABLE_FUTURE, .u.future = (f)})
#define WEFT_WAIT_PROC(p) ((weft_waitable){.kind = WEFT_WAITABLE_PROC, .u.proc = (p)})
#define WEFT_WAIT_THREAD(t) ((weft_waitable){.kind = WEFT_WAITABLE_THREAD, .u.thread = (t)})
#define WEFT_WAIT_QUEUE_GET(q) ((weft_waitable){.kind = WEFT_WAITABLE_QUEUE_GET, .u.queue = (q)})
#define WEFT_WAIT_QUEUE_PUT(q) ((weft_waitable){.kind = WEFT_WAITABLE_QUEUE_PUT, .u.queue = (q)})
#define WEFT_WAIT_EVENT(e) ((weft_waitable){.kind = WEFT_WAITABLE_EVENT, .u.event = (e)})
#define WEFT_WAIT_FD(f, ev) ((weft_waitable){.kind = WEFT_WAITABLE_FD, .events = (ev), .u.fd = (f)})

/* Waits until one of ws[0..n) is ready and returns its index: the lowest
 * among those ready when it looks (so what is ready before the call is
 * reported in index order, without waiting, also with a deadline already
 * past). Call it again to see the next one: ready entries stay ready until
 * consumed, so remove or consume what was reported (or use weft_wait_next).
 * With no entry other than WEFT_WAIT_NONE it sleeps until the deadline and
 * returns -ETIMEDOUT.
 * Errors: -ETIMEDOUT (none ready by the deadline), -ECANCELED (the calling
 * coroutine was cancelled; nothing stays registered), -EINVAL (ws NULL with
 * n > 0, n > INT32_MAX, an unknown kind, a NULL object, an fd entry's events
 * 0 or with unknown bits, a coroutine that is detached or its thread's main
 * one, a detached thread; no entry but WEFT_WAIT_NONE and deadline WEFT_FOREVER), -EBADF (a
 * negative or closed descriptor, or one closed with weft_fd_close while
 * waiting), -ESRCH (a stale coroutine handle), -EXDEV (another thread's
 * coroutine, unless a worker group's), -EDEADLK (the calling coroutine itself, or the calling
 * thread's own weft_thread), -ECHILD (a process
 * another process started), -EBUSY (see above), -EPERM (a descriptor epoll
 * cannot watch, in a coroutine), -ENOMEM. */
WEFT_API int weft_wait_any(weft_waitable *ws, size_t n, int64_t deadline);

/* gevent.iwait: returns each entry once, in the order they become ready
 * (those ready at a call in index order). Waits until an entry whose
 * `reported` is 0 is ready, sets its `reported` to 1, stores its index in
 * *index and returns 1; returns 0 once every entry (WEFT_WAIT_NONE ones
 * aside) has been reported, at once (n == 0 included). Keeps no other
 * state: clear `reported` to wait for an entry again.
 *
 *     size_t i;
 *     while ((r = weft_wait_next(ws, n, deadline, &i)) > 0)
 *         consume(&ws[i]);
 *
 * Errors: as weft_wait_any, and -EINVAL if index is NULL. */
WEFT_API int weft_wait_next(weft_waitable *ws, size_t n, int64_t deadline, size_t *index);

/* joinall(raise_error=True): joins cs[0..n) in the order they finish, and
 * stops at the first whose result failed(result, ud) judges a failure
 * (returns non-zero). results may be NULL, else results[i] receives cs[i]'s
 * value once it is joined. Returns 0 when all n are joined and none failed;
 * 1 when one failed: *failed_index (if not NULL) is its index, it is
 * joined, and so is every coroutine reported finished before it; the others
 * stay valid (join, cancel or detach them). Must be called from the thread
 * the coroutines run on. On an error the coroutines not yet joined stay
 * valid, as for weft_joinall.
 * Errors: -EINVAL (cs NULL with n > 0, failed NULL, n > INT32_MAX), the
 * errors of weft_wait_any for coroutine entries, -ENOMEM. */
typedef int (*weft_coro_failed_fn)(void *result, void *ud);
WEFT_API int weft_joinall_failfast(const weft_coro *cs, size_t n, int64_t deadline,
                                   void **results, weft_coro_failed_fn failed, void *ud,
                                   size_t *failed_index);

/* ---- Debugging: the live dump (docs/debugging.md) ----------------------
 * weft_dump writes to fd a text report of every thread that runs a
 * scheduler and every coroutine on it, then every child process handle:
 *   weft dump: pid P
 *   thread TID[ (the caller)]: running coroutine ID | waiting for events, N live coroutines
 *     coroutine ID[ main][ "NAME"][ shared]: STATE
 *       spawned at 0xADDR[ SYMBOL+0xOFF] (MODULE[+0xOFF])   the caller of weft_spawn
 *       #K 0xADDR[ SYMBOL+0xOFF] (MODULE[+0xOFF])  frames of a parked coroutine
 *   threads without coroutines:
 *     thread TID "NAME": parked on REASON for MS ms | not in a weft wait
 *   processes:
 *     process PID[ "NAME"] fork|exec[ daemon]: running | exited CODE | reaped elsewhere
 *   process pools:
 *     process pool 0xADDR: running|closed|terminated, N workers|remote slots
 *       worker I pid PID|(remote rank R): idle | busy (K tasks) | no process now (being replaced)
 *   end of weft dump
 * STATE is "running (the caller)", "running" (on its thread, now), "ready",
 * "suspended", "done (not joined)", "idle (its thread waits for events)" (a
 * main coroutine whose thread sleeps in its poller), or "parked on REASON
 * for MS ms", REASON one of: lock, rlock, cond, sem, event, barrier,
 * waitgroup, once, chan-send, chan-recv, chan-select (then its object's
 * address, and for select "(N ops)"), queue-get, queue-put, queue-join,
 * pool-join, future (address), fd FD r|w|rw (fd (N fds) FD ...: a poll),
 * sleep until +MSms, join coroutine ID, switch to coroutine ID, process pid
 * PID, plock|psem|pevent|pcond|pbarrier|pqueue|shm-ready ADDR (a wait on a
 * process-shared object's word: that word's address, its expected and
 * current values; pfutex for another word), killall, unknown. A wait on a lock or rlock ends with
 * ", held by coroutine ID on thread TID", ", held by thread TID (its main
 * coroutine)", ", held by a thread that runs no coroutines" or ", held by
 * no one now". A thread without a scheduler (a plain pthread, a thread
 * pool's worker) is listed from its first wait in a weft primitive until it
 * exits, with the same REASON while it waits. The wait time has the coarse clock's
 * resolution (a few ms). Frames are the return addresses found on the
 * parked coroutine's stack (innermost first; a stale one may appear),
 * symbolised with dladdr (static functions show as the nearest exported
 * symbol). Nothing is stopped: other threads keep running, so the report
 * is a snapshot taken one coroutine at a time (a coroutine may be shown in
 * the state it just left). Any thread may call it, with or without a
 * scheduler. Setting WEFT_DUMP_SIGNAL (SIGQUIT, QUIT, USR1, USR2, WINCH,
 * PWR or a number) before the first scheduler is created makes that signal
 * write the same report to stderr from a handler (async-signal-safe: no
 * symbols there, frames show as MODULE+0xOFF; it then does not quit).
 * Returns 0, or the negated errno of a failed write(2).
 * Errors: -EBADF (fd < 0, or not open), -EPIPE, -EIO, ... (those of write). */
WEFT_API int weft_dump(int fd);

#ifdef __cplusplus
}
#endif
#endif /* WEFT_H */
