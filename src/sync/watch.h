/* Watching an object for weft_wait_any (sync/wait.c): each kind of object
 * that a mixed wait covers lends its own waiting structure to a foreign
 * waiter, without handing it anything. A watch registers the caller's
 * waiter (and, for the objects with a wait queue, a node in park memory);
 * whoever changes the object's state claims and wakes it like any other
 * waiter of that object, and the owner takes every registration back
 * after the park. A watch returns 1 (ready now: nothing registered),
 * 0 (registered) or a negative errno (nothing registered). */
#ifndef WEFT_SYNC_WATCH_H
#define WEFT_SYNC_WATCH_H

#include "sync/waitq.h"

/* sync/event.c: ready once set. */
int weft__event_watch(weft_event *e, weft__wq_node *n, weft__waiter *w);
void weft__event_unwatch(weft_event *e, weft__wq_node *n);

/* thread/thread.c: the event set when t's function has returned, and t's
 * argument (for stack pinning). -EINVAL (detached), -EDEADLK (the caller). */
int weft__thread_watchable(weft_thread *t, weft_event **done, void **arg);

/* pool/future.c: ready once final. */
int weft__future_watch(weft_future *f, weft__wq_node *n, weft__waiter *w);
void weft__future_unwatch(weft_future *f, weft__wq_node *n);

/* queue/queue.c: `room` 0: an item to get (or shut down); 1: room to put
 * (or unbounded, or shut down). ready: 1 or 0, no registration. */
int weft__queue_ready(weft_queue *q, int room);
int weft__queue_watch(weft_queue *q, int room, weft__wq_node *n, weft__waiter *w);
void weft__queue_unwatch(weft_queue *q, int room, weft__wq_node *n);

/* coro/coro.c: c's readiness (finished) with w NULL, else also takes the
 * joiner slot for w (w may already hold it: the same coroutine twice).
 * Errors as weft_join's (-ESRCH, -EXDEV, -EDEADLK, -EINVAL, -EBUSY). */
int weft__coro_watch(weft_coro c, weft__waiter *w);
void weft__coro_unwatch(weft_coro c, weft__waiter *w);

/* io/fdwait.c, in a coroutine: puts w on fd's record for `events` (as
 * weft__fd_wait_any; w may already hold it); 1 for a descriptor epoll
 * cannot watch that is always ready (a regular file). unwatch takes w off
 * the record (if still there). fd_parking(+1 / -1) around the park. */
int weft__fd_watch(int fd, int events, weft__waiter *w);
void weft__fd_unwatch(int fd, weft__waiter *w);
void weft__fd_parking(int delta);

#endif
