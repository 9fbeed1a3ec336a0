/*
 * Compiled as C (C11, C17, C23) and as C++ (C++11 .. C++20) with gcc/g++ and clang/clang++
 * by tests/header/header_tests.cmake, with -Wall -Wextra -pedantic -Werror: weft.h,
 * weft_hook.h and weft_session.h must build in every one of them, and a program using them must link against
 * libweft and run. The body uses the static initialisers, a coroutine, a channel and the
 * hook header's inline functions, so that macros and inline code are compiled too.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "weft.h"
#include "weft_hook.h"
#include "weft_session.h"

static weft_lock g_lock = WEFT_LOCK_INIT;
static weft_once g_once = WEFT_ONCE_INIT;
static int g_once_runs;

static void once_fn(void *arg) { *(int *)arg += 1; }

static void *worker(void *arg) {
    weft_chan *ch = (weft_chan *)arg;
    int v = 42;
    if (weft_lock_acquire(&g_lock, WEFT_FOREVER) != 0)
        return NULL;
    (void)weft_lock_release(&g_lock);
    (void)weft_chan_send(ch, &v, weft_after(5 * WEFT_SEC));
    return arg;
}

#define EXPECT(cond)                                                                         \
    do {                                                                                     \
        if (!(cond)) {                                                                       \
            fprintf(stderr, "header test: %s:%d: %s\n", __FILE__, __LINE__, #cond);          \
            return 1;                                                                        \
        }                                                                                    \
    } while (0)

int main(void) {
    weft_chan *ch = NULL;
    weft_coro c;
    void *res = NULL;
    int v = 0;
    weft_bytes b = WEFT_BYTES_INIT;
    char report[64];

    EXPECT(weft_chan_create(&ch, sizeof(int), 0) == 0);
    EXPECT(weft_spawn(&c, worker, ch, NULL) == 0);
    EXPECT(weft_chan_recv(ch, &v, weft_after(5 * WEFT_SEC)) == 0);
    EXPECT(v == 42);
    EXPECT(weft_join(c, weft_after(5 * WEFT_SEC), &res) == 0);
    EXPECT(res == (void *)ch);
    EXPECT(weft_chan_destroy(ch) == 0);
    EXPECT(weft_once_call(&g_once, once_fn, &g_once_runs) == 0);
    EXPECT(weft_once_call(&g_once, once_fn, &g_once_runs) == 0);
    EXPECT(g_once_runs == 1);
    EXPECT(b.data == NULL && b.len == 0);
    EXPECT(weft_hook_check(report, sizeof report) == 0);
    EXPECT(weft_hook_watchdog_running() == 0);
    EXPECT(strcmp(weft_strerror(-ETIMEDOUT), weft_strerror(ETIMEDOUT)) == 0);
    EXPECT(sizeof(weft_addr) == 136 && sizeof(weft_http_opts) == 64);
    weft_session_info in;
    char dir[64];
    EXPECT(sizeof in.name == WEFT_SESSION_NAME_MAX);
    EXPECT(weft_session_dir("/nonexistent/weft/header", dir, sizeof dir) == -ENOENT);
    puts("header ok");
    return 0;
}
