/* Helpers the seed examples share: the command line, line-buffered output,
 * elapsed time and joining a child process. Header-only (static inline). */
#ifndef WEFT_EXAMPLE_H
#define WEFT_EXAMPLE_H

#include <weft.h>

#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

/* Line-buffers stdout, so the order of the prints shows even through a
 * pipe: 0, or -1 after telling stderr (prog: the message's prefix). */
static inline int example_line_buffered(const char *prog) {
    if (setvbuf(stdout, NULL, _IOLBF, 0) != 0) {
        fprintf(stderr, "%s: setvbuf failed\n", prog);
        return -1;
    }
    return 0;
}

/* Parses SECONDS (fractions allowed, 0 .. max_s) into *ns: 0, or -1. */
static inline int example_parse_seconds(const char *s, double max_s, int64_t *ns) {
    char *end = NULL;
    errno = 0;
    double sec = strtod(s, &end);
    if (errno != 0 || end == s || *end != '\0' || !isfinite(sec) || sec < 0 || sec > max_s)
        return -1;
    *ns = (int64_t)(sec * (double)WEFT_SEC);
    return 0;
}

/* The command line [SECONDS] of a seed example whose default is 1 s: sets
 * *ns (1 s without the argument) and returns 0, or prints the usage and
 * returns 2 (the usage error's exit status). */
static inline int example_seconds_arg(int argc, char **argv, double max_s, int64_t *ns) {
    *ns = WEFT_SEC;
    if (argc > 2 || (argc == 2 && example_parse_seconds(argv[1], max_s, ns) != 0)) {
        fprintf(stderr, "usage: %s [SECONDS]   (0 <= SECONDS <= %g, default 1)\n", argv[0], max_s);
        return 2;
    }
    return 0;
}

/* Seconds from t0 (a weft_now() reading) to now. */
static inline double example_since(int64_t t0) {
    return (double)(weft_now() - t0) / WEFT_SEC;
}

/* Joins p, checks its exit code and releases it: 0, or 1 on any failure
 * (told to stderr with prefix prog). */
static inline int example_join_proc(const char *prog, weft_proc *p) {
    int r = weft_proc_join(p, WEFT_FOREVER);
    int code = -1;
    if (r == 0)
        r = weft_proc_exitcode(p, &code);
    if (r < 0)
        fprintf(stderr, "%s: joining %s: %s\n", prog, weft_proc_name(p), weft_strerror(r));
    else if (code != 0)
        fprintf(stderr, "%s: %s exited with %d\n", prog, weft_proc_name(p), code);
    weft_proc_release(p);
    return r < 0 || code != 0;
}

/* seed10_pages_*: the optional DELAY_MS argument (default 300, 100 with
 * WEFT_DEMO_FAST set): 0 with *ms, or 1 after printing the usage. */
static inline int example_delay_ms_arg(int argc, char **argv, long *ms) {
    *ms = getenv("WEFT_DEMO_FAST") ? 100 : 300;
    if (argc > 1)
        *ms = strtol(argv[1], NULL, 10);
    if (*ms <= 0 || *ms > 60000) {
        fprintf(stderr, "usage: %s [DELAY_MS]\n", argv[0]);
        return 1;
    }
    return 0;
}

/* seed10_pages_*: the verdict on npages fetches of delay_ms each: 0 if all
 * came back right (ok), the concurrent run overlapped (under two delays)
 * and the sequential one did not; else 1 after telling why. */
static inline int example_pages_verdict(const char *prog, int ok, double concurrent,
                                        double sequential, long delay_ms, int npages) {
    double d = (double)delay_ms / 1e3;
    if (!ok) {
        fprintf(stderr, "%s: a page came back with the wrong size\n", prog);
        return 1;
    }
    /* Under a tool that slows every call (valgrind) only the results count. */
    const char *untimed = getenv("WEFT_EXAMPLES_UNTIMED");
    if (untimed && *untimed && *untimed != '0')
        return 0;
    if (concurrent >= 2 * d || sequential < npages * d) {
        fprintf(stderr, "%s: expected ~%.2f s concurrent and >= %.2f s sequential\n", prog, d,
                npages * d);
        return 1;
    }
    return 0;
}

#endif
