/* hook_overhead: what linking libweft-hook costs code that does not use coroutines. The
 * libcurl client of hook_overhead.h (sequential GETs from a plain thread) in a program
 * linked with the hook, whose poll/recv/send then go through the hook's wrappers and
 * fall through to the system calls; its peer `nohook` (peers/curl/hook_overhead_nohook.c)
 * is the same client built without the hook. us per request; the target is "within
 * noise" (<= 1.05x nohook). */
#include <weft_hook.h>

#include <curl/curl.h> /* here too: CMake links libcurl to benchmarks that include it */

#include "hook_overhead.h"

int main(int argc, char **argv) {
    char report[8192];
    if (weft_hook_check(report, sizeof report) != WEFT_HOOK_COUNT) {
        fputs(report, stderr);
        return 1;
    }
    return hook_overhead_run(argc, argv, "weft");
}
