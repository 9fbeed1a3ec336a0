/* Calls weft_hook_check() and compares: check_prog <expected live count> <expected text>.
 * Built several ways (tests/hook/hook_tests.cmake): without the hook library, with it
 * linked, preloaded, and linked after libc. Prints the report; exits 0 on a match. */
#include "weft.h"
#include "weft_hook.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
    printf("check_prog: %d live as expected\n", live);
    return 0;
}
