/* Naming vm.max_map_count when it is what made a mapping fail. Private to
 * src/coro/ and its white-box test. */
#ifndef WEFT_CORO_MAPLIMIT_H
#define WEFT_CORO_MAPLIMIT_H

/* Called right after mmap or mprotect failed for coroutine memory, with
 * that call's errno. When it is ENOMEM and the process's mappings are
 * within a small margin of vm.max_map_count, prints once per process a
 * message to stderr naming the limit, its value and WEFT_STACK_SHARED.
 * Returns 1 if the limit is the likely cause (whether printed now or
 * before), else 0. errno is preserved. */
int weft__map_limit_note(int err);

/* Test hook: when > 0, used in place of /proc/sys/vm/max_map_count, and the
 * one-time message may be printed again. 0: back to the real limit. */
void weft__map_limit_set_for_test(long limit);

/* Lines of /proc/self/maps (the process's mappings), or -1. */
long weft__map_count(void);

#endif
