/* hook_overhead, the program without the hook: bench/hook_overhead.h's libcurl client
 * built with plain cc, no weft, no libweft-hook (bench/hook_overhead.c is the same client
 * linked with the hook). us per request.
 * bench-needs: curl/curl.h
 * bench-libs: -lcurl
 */
#define _GNU_SOURCE
#include "../../hook_overhead.h"

int main(int argc, char **argv) {
    return hook_overhead_run(argc, argv, "nohook");
}
