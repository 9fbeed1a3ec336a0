/*
 * The README's examples. Each ```c block of README.md that follows a line
 * `<!-- example: examples/<name>.c -->` must be that file byte for byte, so the README
 * shows a program that builds (every examples/ program is compiled with the rest, -Werror in CI);
 * and each example runs here, in this process, and prints what the README says it prints.
 */
#include "harness.h"

#include <fcntl.h>
#include <libgen.h>
#include <limits.h>

#define main readme_pool_main
#include "../examples/readme_pool.c"
#undef main
#define main readme_queue_main
#include "../examples/readme_queue.c"
#undef main
#define main readme_pages_main
#include "../examples/readme_pages.c"
#undef main

/* The repository's root, from this file's path. */
static const char *root_dir(void) {
    static char root[PATH_MAX + 8];
    char here[PATH_MAX];
    snprintf(here, sizeof here, "%s", __FILE__);
    snprintf(root, sizeof root, "%s/..", dirname(here));
    return root;
}

/* Reads a whole file (malloc'd, NUL-terminated) or returns NULL. */
static char *slurp(const char *rel) {
    char path[2 * PATH_MAX];
    snprintf(path, sizeof path, "%s/%s", root_dir(), rel);
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    size_t cap = 1 << 16, len = 0, n;
    char *buf = malloc(cap);
    while (buf && (n = fread(buf + len, 1, cap - len - 1, f)) > 0) {
        len += n;
        if (len + 1 == cap) {
            char *nb = realloc(buf, cap *= 2);
            if (!nb)
                free(buf);
            buf = nb;
        }
    }
    fclose(f);
    if (buf)
        buf[len] = '\0';
    return buf;
}

/* The README's block for examples/<name>.c, or NULL. */
static char *readme_block(const char *readme, const char *name) {
    char marker[128];
    snprintf(marker, sizeof marker, "<!-- example: examples/%s.c -->", name);
    const char *m = strstr(readme, marker);
    if (!m)
        return NULL;
    const char *open = strstr(m, "\n```c\n");
    if (!open)
        return NULL;
    open += strlen("\n```c\n");
    const char *close = strstr(open, "\n```\n");
    if (!close)
        return NULL;
    size_t n = (size_t)(close - open) + 1; /* keep the block's last newline */
    char *b = malloc(n + 1);
    if (b) {
        memcpy(b, open, n);
        b[n] = '\0';
    }
    return b;
}

static void check_block(const char *name) {
    char *readme = slurp("README.md");
    char rel[64];
    snprintf(rel, sizeof rel, "examples/%s.c", name);
    char *file = slurp(rel);
    CHECK(readme != NULL);
    CHECK(file != NULL);
    char *block = readme_block(readme, name);
    CHECK(block != NULL);
    if (strcmp(block, file) != 0) {
        fprintf(stderr, "README.md's block for %s differs from the file; the README shows:\n%s",
                rel, block);
        CHECK(strcmp(block, file) == 0);
    }
    free(block);
    free(file);
    free(readme);
}

/* Runs fn with stdout sent to a temporary file; returns fn's status and the output in
 * out (NUL-terminated, truncated to cap - 1). */
static int capture(int (*fn)(void), char *out, size_t cap) {
    fflush(stdout);
    FILE *tmp = tmpfile();
    CHECK(tmp != NULL);
    int saved = dup(STDOUT_FILENO);
    CHECK(saved >= 0);
    CHECK(dup2(fileno(tmp), STDOUT_FILENO) >= 0);
    int rc = fn();
    fflush(stdout);
    CHECK(dup2(saved, STDOUT_FILENO) >= 0);
    close(saved);
    rewind(tmp);
    size_t n = fread(out, 1, cap - 1, tmp);
    out[n] = '\0';
    fclose(tmp);
    return rc;
}

WEFT_TEST(pool_block_matches) {
    check_block("readme_pool");
}

WEFT_TEST(queue_block_matches) {
    check_block("readme_queue");
}

WEFT_TEST(pages_block_matches) {
    check_block("readme_pages");
}

WEFT_TEST(pool_runs) {
    char out[256];
    CHECK_EQ(capture(readme_pool_main, out, sizeof out), 0);
    CHECK_STR_EQ(out, "1 4 9 16 25 36 49 64\n");
    CHECK_NO_ZOMBIES();
}

WEFT_TEST(queue_runs) {
    char out[256];
    CHECK_EQ(capture(readme_queue_main, out, sizeof out), 0);
    CHECK_STR_EQ(out, "sum of squares 1..100 = 338350\n");
}

/* The three 0.3 s pages overlap: all three take well under the 0.9 s of one after another. */
WEFT_TEST(pages_run) {
    char out[256];
    CHECK_EQ(capture(readme_pages_main, out, sizeof out), 0);
    long a = 0, b = 0, c = 0;
    double secs = 99;
    CHECK_EQ(sscanf(out, "3 pages (%ld, %ld, %ld bytes) in %lf s, not 0.9 s", &a, &b, &c, &secs),
             4);
    /* each answer: a status line, headers, and the 6-byte body "hello\n" */
    CHECK_GT(a, 6);
    CHECK_EQ(a, b);
    CHECK_EQ(b, c);
    long ms = (long)(secs * 1000);
    CHECK_GE(ms, 290);
    CHECK_LT(ms, 850);
}

WEFT_MAIN()
