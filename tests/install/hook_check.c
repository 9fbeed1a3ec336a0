/* Built against an installed weft with `pkg-config --cflags --libs weft-hook`: every hook
 * must be live. */
#include <stdio.h>
#include <weft.h>
#include <weft_hook.h>

int main(void) {
    char report[8192];
    int live = weft_hook_check(report, sizeof report);
    if (live != WEFT_HOOK_COUNT) {
        fprintf(stderr, "%d of %d hooks live:\n%s\n", live, WEFT_HOOK_COUNT, report);
        return 1;
    }
    printf("all %d hooks live\n", live);
    return 0;
}
