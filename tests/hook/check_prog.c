/* Calls weft_hook_check() and compares: check_prog <expected live count> <expected text>.
 * Built several ways (tests/hook/hook_tests.cmake): without the hook library, with it
 * linked, preloaded, and linked after libc. Prints the report; exits 0 on a match. When
 * every hook is live it also proves it in use: a coroutine's blocking read() on a pipe
 * must let another coroutine of the thread run. */
#include "weft.h"
#include "weft_hook.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* With the hooks live: a coroutine blocked in read() on a pipe lets the other coroutine
 * of the thread run and write to it (the order proves the thread was not blocked). */
static int fds[2];
static char order[64];
static void *reader(void *arg) {
    (void)arg;
    char b[1];
    strcat(order, "R");
    if (read(fds[0], b, 1) != 1)
        return (void *)1;
    strcat(order, "r");
    return NULL;
}
static void *writer(void *arg) {
    (void)arg;
    strcat(order, "W");
    return write(fds[1], "x", 1) == 1 ? NULL : (void *)1;
}
static int coroutines_yield(void) {
    weft_coro c[2];
    void *res[2];
    if (pipe(fds) != 0 || weft_spawn(&c[0], reader, NULL, NULL) != 0 ||
        weft_spawn(&c[1], writer, NULL, NULL) != 0 ||
        weft_joinall(c, 2, weft_after(10 * WEFT_SEC), res) != 0 || res[0] || res[1])
        return 0;
    close(fds[0]);
    close(fds[1]);
    return strcmp(order, "RWr") == 0;
}

int main(int argc, char **argv) {
    if (argc != 3) {
        fprintf(stderr, "usage: %s <expected live hooks> <expected text>\n", argv[0]);
        return 2;
    }
    char buf[8192];
    if (weft_hook_check(NULL, 1) != -EINVAL) {
        fprintf(stderr, "weft_hook_check(NULL, 1) did not fail with -EINVAL\n");
        return 1;
    }
    int live = weft_hook_check(buf, sizeof buf);
    fputs(buf, stdout);
    /* A short buffer is truncated, still terminated. */
    char tiny[8];
    memset(tiny, 'x', sizeof tiny);
    int live2 = weft_hook_check(tiny, sizeof tiny);
    if (live2 != live || tiny[sizeof tiny - 1] != 0 || strlen(tiny) != sizeof tiny - 1) {
        fprintf(stderr, "truncated report: %d/%d '%s'\n", live2, live, tiny);
        return 1;
    }
    if (live != atoi(argv[1])) {
        fprintf(stderr, "expected %s live hooks, got %d\n", argv[1], live);
        return 1;
    }
    if (!strstr(buf, argv[2])) {
        fprintf(stderr, "report lacks \"%s\"\n", argv[2]);
        return 1;
    }
    if (live == WEFT_HOOK_COUNT && !coroutines_yield()) {
        fprintf(stderr, "hooks reported live, but a coroutine's read() blocked (order %s)\n",
                order);
        return 1;
    }
    printf("check_prog: %d live as expected\n", live);
    return 0;
}
