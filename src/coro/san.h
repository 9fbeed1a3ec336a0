/* Telling the sanitizers about stack switches. Compiles to nothing in a
 * normal build. ASan must know which stack is live (fake stacks, stack
 * bounds); TSan models each coroutine as a fiber. */
#ifndef WEFT_CORO_SAN_H
#define WEFT_CORO_SAN_H

#if defined(__SANITIZE_ADDRESS__)
#define WEFT_ASAN 1
void __sanitizer_start_switch_fiber(void **fake_stack_save, const void *bottom, size_t size);
void __sanitizer_finish_switch_fiber(void *fake_stack_save, const void **bottom_old,
                                     size_t *size_old);
void __asan_unpoison_memory_region(void const volatile *addr, size_t size);
#define WEFT_NO_ASAN __attribute__((no_sanitize_address))
#else
#define WEFT_NO_ASAN
#endif

#include <sys/mman.h>
/* Unmaps memory that served as a stack. Under ASan its shadow is cleared
 * first: frames that never returned (a coroutine switched away for good)
 * leave poisoned redzones behind, and the kernel hands the same addresses
 * out again to the next mapping (an arena region, another stack). */
static inline void weft__stack_unmap(void *p, size_t n) {
#if defined(__SANITIZE_ADDRESS__)
    __asan_unpoison_memory_region(p, n);
#endif
    munmap(p, n);
}

/* valgrind: every coroutine stack (the thread's own is valgrind's) is registered, so
 * that a switch is seen as one and not as a huge stack frame (which makes
 * memcheck mark the memory between the two stack pointers undefined). The
 * requests cost a few instructions outside valgrind. 0 = not registered. */
#if defined(WEFT_VALGRIND)
#include <valgrind/valgrind.h>
static inline unsigned weft__vg_stack(const void *lo, size_t size) {
    (void)lo; /* valgrind.h expands its requests to nothing where it has no port (riscv64) */
    (void)size;
    return VALGRIND_STACK_REGISTER(lo, (const char *)lo + size);
}
static inline void weft__vg_unstack(unsigned id) {
    if (id)
        VALGRIND_STACK_DEREGISTER(id);
}
#include <valgrind/memcheck.h>
/* Memory about to receive stack contents: memcheck marks what lies below a
 * stack pointer that moved up as inaccessible, and a SHARED coroutine's
 * frames copied back (or a stack's first frame) go where another
 * coroutine's frames had returned from. Addressable, contents undefined:
 * the copy then carries the saved bytes' own definedness. */
/* Only under valgrind (RUNNING_ON_VALGRIND, read once): outside it the request is
 * a no-op sequence of a dozen instructions on every spawn's stack. */
extern atomic_int weft__vg_running; /* -1 not known yet, else 0 or 1 (stack.c) */
int weft__vg_running_slow(void);
#define weft__vg_stack_writable(p, n)                                                        \
    do {                                                                                     \
        int weft__vg_r_ = atomic_load_explicit(&weft__vg_running, memory_order_relaxed);     \
        if (weft__vg_r_ < 0)                                                                 \
            weft__vg_r_ = weft__vg_running_slow();                                           \
        if (weft__vg_r_)                                                                     \
            (void)VALGRIND_MAKE_MEM_UNDEFINED((p), (n));                                     \
    } while (0)
#else
#define weft__vg_stack_writable(p, n) ((void)(p), (void)(n))
static inline unsigned weft__vg_stack(const void *lo, size_t size) {
    (void)lo;
    (void)size;
    return 0;
}
static inline void weft__vg_unstack(unsigned id) { (void)id; }
#endif

#if defined(__SANITIZE_THREAD__)
#define WEFT_TSAN 1
void *__tsan_get_current_fiber(void);
void *__tsan_create_fiber(unsigned flags);
void __tsan_destroy_fiber(void *fiber);
void __tsan_switch_to_fiber(void *fiber, unsigned flags);
#define WEFT_NO_TSAN __attribute__((no_sanitize_thread))
#else
#define WEFT_NO_TSAN
#endif

#endif
