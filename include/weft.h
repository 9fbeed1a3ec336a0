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
 *     One deadline can serve a whole sequence of calls.
 *   - A blocking call made inside a coroutine parks only that coroutine;
 *     the other coroutines of its thread keep running. Made on a thread that
 *     never started a coroutine, it blocks the thread (on a futex), and no
 *     scheduler is created for it.
 *   - Misuse that can only come from a corrupted or destroyed object aborts
 *     with a message; everything a caller can get wrong returns an error.
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

typedef enum weft_stack_mode {
    /* Own mmap'd stack with a guard page below it, committed lazily by the
     * kernel and pooled for reuse. Fastest switches. Each one costs two
     * kernel memory mappings, and vm.max_map_count (65530 by default) caps
     * how many can exist: spawn fails with -ENOMEM past that. */
    WEFT_STACK_GUARDED = 0,
    /* Runs on a stack shared with the other SHARED coroutines of its thread;
     * when another one needs the shared stack, the live part of this one's
     * stack (usually a few hundred bytes) is copied aside. For very large
     * counts (a million sleeping coroutines in well under 1 GiB). Pointers
     * to a SHARED coroutine's stack variables are valid only while it runs:
     * never hand one to another coroutine. */
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
 * memory, or no more memory mappings for a GUARDED stack). */
WEFT_API int weft_spawn(weft_coro *out, weft_coro_fn fn, void *arg,
                        const weft_coro_opts *opts);

/* Waits until c has finished, stores its return value in *result (if result
 * is non-NULL) and releases it: the handle is stale afterwards. Must be
 * called from the thread c runs on.
 * Errors: -ESRCH (c already joined, detached-and-gone, or never valid),
 * -EINVAL (c is detached, or a main coroutine), -EDEADLK (c is the
 * caller), -EXDEV (c belongs to another thread), -EBUSY (another coroutine
 * is already joining c), -ETIMEDOUT (deadline passed first; c is untouched
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
 * it already has). The handle is stale afterwards.
 * Errors: -ESRCH, -EINVAL (already detached, or a main coroutine), -EXDEV
 * (another thread's), -EBUSY (a coroutine is joining it). */
WEFT_API int weft_detach(weft_coro c);

/* Lets every other ready coroutine of this thread run once, then returns.
 * Returns 0, or -ECANCELED if the caller is cancelled. On a thread without
 * coroutines it calls sched_yield(). */
WEFT_API int weft_yield(void);

/* Sleeps until `deadline` (absolute, weft_now() clock). Other coroutines run
 * meanwhile. Returns 0 when the deadline is reached (also if it is already
 * past), -ECANCELED if cancelled first, -EINVAL for WEFT_FOREVER
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
 * -ESRCH if the handle is stale. Call it from c's thread (from elsewhere
 * the answer may be out of date by the time it returns). */
WEFT_API int weft_coro_done(weft_coro c);

/* Number of coroutines on the calling thread that have not finished, not
 * counting its main coroutine. */
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
 * suspended: it is ready or blocked elsewhere), -EXDEV (another thread's),
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
 * Must be called on c's thread.
 * Errors: -ESRCH (stale), -EXDEV (another thread's). */
WEFT_API int weft_cancel(weft_coro c);

/* 1 if the calling coroutine has been cancelled, else 0. */
WEFT_API int weft_cancelled(void);

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
 * free nothing: the objects own no memory.
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
    uint64_t opaque_[6];
} weft_lock;
#define WEFT_LOCK_INIT {{0, 0, 0, 0, 0, 0}}

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
    uint64_t opaque_[7];
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
 * -EINVAL. */
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
    size_t stack_size; /* 0: the system default; else >= 64 KiB */
    int serve;         /* 1: a coroutine server: the thread gets its scheduler
                          before fn runs (fn may then be NULL); after fn
                          returns it keeps running the coroutines that other
                          threads weft_thread_spawn onto it, until
                          weft_thread_stop and until they have all finished */
} weft_thread_opts;

/* Starts a thread running fn(arg). opts may be NULL. On success *out
 * receives the handle, which stays valid until weft_thread_join succeeds
 * or weft_thread_detach. Errors: -EINVAL (out NULL, fn NULL without
 * opts->serve, stack_size too small), -ENOMEM, -EAGAIN (system thread
 * limit). */
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
 * return (arg stays in use until then) and returns its status.
 * Errors (besides fn's own status): -ECANCELED, -EINVAL (fn NULL),
 * -ENOMEM, -EAGAIN (the default pool could not start its threads). */
WEFT_API int weft_offload(weft_task_fn fn, void *arg, void **result);

/* @@PROC_BEGIN@@ */
/* @@PROC_END@@ */

/* @@SHM_BEGIN@@ */
/* @@SHM_END@@ */

/* @@PSYNC_BEGIN@@ */
/* @@PSYNC_END@@ */

/* @@PQUEUE_BEGIN@@ */
/* @@PQUEUE_END@@ */

/* @@PPOOL_BEGIN@@ */
/* @@PPOOL_END@@ */

/* @@NET_BEGIN@@ */
/* @@NET_END@@ */

/* @@HTTP_BEGIN@@ */
/* @@HTTP_END@@ */

#ifdef __cplusplus
}
#endif
#endif /* WEFT_H */
