/* Debugger-facing behaviour: unwinding through coroutine stacks.
 *
 * The switch code's CFI (src/arch/switch_*.S) lets an unwinder walk a coroutine's
 * frames down to its entry trampoline, weft__ctx_start, and stop there, and walk
 * correctly from inside the switch itself. The gdb cases run `gdb -batch` on this
 * program's own bt_target_* cases; they are skipped when gdb is not installed. */
#include "harness.h"

#if __has_include(<execinfo.h>)
#include <execinfo.h>
#define HAVE_BACKTRACE 1
#endif
#include <stdint.h>

#ifndef WEFT_USE_UCONTEXT
void weft__ctx_start(void);
#endif

/* ---- the programs gdb looks at: harmless when run on their own ---------------------- */

__attribute__((noinline)) void debug_leaf(int n) {
    __asm__ volatile("" ::"r"(n) : "memory");
}

static __attribute__((noinline)) void *debug_body(void *arg) {
    debug_leaf(1);
    weft_yield();
    return arg;
}

static void run_target(weft_stack_mode mode) {
    weft_coro_opts o = {.name = "debug", .stack_mode = mode};
    weft_coro a, b;
    CHECK_EQ(weft_spawn(&a, debug_body, NULL, &o), 0);
    CHECK_EQ(weft_spawn(&b, debug_body, NULL, &o), 0);
    CHECK_EQ(weft_join(a, WEFT_FOREVER, NULL), 0);
    CHECK_EQ(weft_join(b, WEFT_FOREVER, NULL), 0);
}

WEFT_TEST(bt_target_guarded) {
    run_target(WEFT_STACK_GUARDED);
}
WEFT_TEST(bt_target_shared) {
    run_target(WEFT_STACK_SHARED);
}

/* ---- gdb ------------------------------------------------------------------------------ */

static char gdb_out[1 << 16];

/* Runs gdb -batch on this program's case `target` with the commands in cmds (one per
 * line); the output lands in gdb_out. Skips the case when there is no gdb. */
static void run_gdb(const char *target, const char *cmds) {
    SKIP_UNLESS_GDB_READS_SELF();
    char self[512];
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    CHECK(n > 0);
    self[n] = 0;
    char script[] = "/tmp/weft-debug-gdb-XXXXXX";
    int fd = mkstemp(script);
    CHECK(fd >= 0);
    FILE *f = fdopen(fd, "w");
    CHECK(f != NULL);
    fprintf(f,
            "set pagination off\nset confirm off\nset width 0\n"
            "set environment WEFT_TEST_TIMEOUT=0\n%s\nkill\n",
            cmds);
    fclose(f);
    char cmd[1400];
    snprintf(cmd, sizeof cmd, "timeout 50 gdb -nx -batch -x %s --args %s %s 2>&1", script, self,
             target);
    FILE *p = popen(cmd, "r");
    CHECK(p != NULL);
    size_t len = fread(gdb_out, 1, sizeof gdb_out - 1, p);
    gdb_out[len] = 0;
    pclose(p);
    unlink(script);
    if (strstr(gdb_out, "ptrace: Operation not permitted") ||
        strstr(gdb_out, "Couldn't get registers"))
        SKIP("gdb cannot trace here (ptrace refused)");
}

/* The text from the first line starting with `#<n> ` to the end of that backtrace. */
static const char *frame_line(const char *from, int n) {
    char tag[16];
    snprintf(tag, sizeof tag, "\n#%d ", n);
    const char *p = strstr(from, tag);
    return p ? p + 1 : NULL;
}

/* Checks that the backtrace starting at `bt` (its "#0 " line) ends with a frame in
 * weft__ctx_start and has no frame after it; returns the number of frames. */
static int check_ends_at_entry(const char *bt) {
    int last = 0;
    while (frame_line(bt - 1, last + 1) && frame_line(bt - 1, last + 1) < strstr(bt, "\n--\n"))
        last++;
    const char *l = frame_line(bt - 1, last);
    CHECK(l != NULL);
    const char *eol = strchr(l, '\n');
    if (!eol || !memmem(l, (size_t)(eol - l), "weft__ctx_start", 15)) {
        fprintf(stderr, "the backtrace does not end at weft__ctx_start:\n%s\n", gdb_out);
        CHECK(0);
    }
    return last + 1;
}

static void check_clean(void) {
    static const char *bad[] = {"Backtrace stopped", "corrupt stack", "Cannot access memory",
                                "previous frame identical", "?? ()"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        if (strstr(gdb_out, bad[i])) {
            fprintf(stderr, "gdb's output has \"%s\":\n%s\n", bad[i], gdb_out);
            CHECK(0);
        }
    }
}

/* A breakpoint inside a coroutine: bt shows its frames, its entry function under them,
 * weft__coro_entry, then weft__ctx_start, and stops there. */
static void bt_from_coroutine(const char *target) {
#ifdef WEFT_USE_UCONTEXT
    SKIP("the ucontext switch has no weft__ctx_start (glibc's __start_context ends the stack)");
#endif
    run_gdb(target, "break debug_leaf\nrun\nbt\necho --\\n");
    const char *bt = strstr(gdb_out, "\n#0 ");
    if (!bt) {
        fprintf(stderr, "no backtrace in gdb's output:\n%s\n", gdb_out);
        CHECK(0);
    }
    bt++;
    CHECK(strncmp(bt, "#0 ", 3) == 0 && strstr(bt, "debug_leaf") != NULL);
    const char *body = strstr(bt, "debug_body");
    const char *entry = strstr(bt, "weft__coro_entry");
    const char *start = strstr(bt, "weft__ctx_start");
    CHECK(body != NULL && entry != NULL && start != NULL);
    CHECK(body < entry && entry < start);
    int frames = check_ends_at_entry(bt);
    CHECK(frames >= 4);
    CHECK(strstr(bt, " main (") == NULL); /* the coroutine's stack, not the thread's */
    check_clean();
}

WEFT_TEST(gdb_bt_guarded_reaches_entry) {
    bt_from_coroutine("bt_target_guarded");
}
WEFT_TEST(gdb_bt_shared_reaches_entry) {
    bt_from_coroutine("bt_target_shared");
}

/* Inside the switch, after the registers are pushed: bt walks through the switch into
 * the switching thread's frames, down to main. Then, one instruction past the stack
 * move, the frame is the new coroutine's first one: bt shows weft__ctx_swap over
 * weft__ctx_start and nothing else. */
WEFT_TEST(gdb_bt_inside_switch) {
#ifdef WEFT_USE_UCONTEXT
    SKIP("the ucontext switch is glibc's swapcontext");
    const char *pushes = "", *move = "";
#elif defined(__x86_64__)
    const char *pushes = "stepi 6", *move = "stepi 2";
#elif defined(__aarch64__)
    const char *pushes = "stepi 11", *move = "stepi 3";
#elif defined(__riscv) && __riscv_xlen == 64
    const char *pushes = "stepi 26", *move = "stepi 2";
#else
    SKIP("no instruction counts for this architecture's switch");
    const char *pushes = "", *move = "";
#endif
    char cmds[512];
    snprintf(cmds, sizeof cmds,
             "break *weft__ctx_swap\nrun\n%s\nbt\necho --\\n\n%s\nbt\necho --\\n", pushes, move);
    run_gdb("bt_target_guarded", cmds);
    const char *bt1 = strstr(gdb_out, "\n#0 ");
    if (!bt1) {
        fprintf(stderr, "no backtrace in gdb's output:\n%s\n", gdb_out);
        CHECK(0);
    }
    bt1++;
    const char *end1 = strstr(bt1, "\n--\n");
    CHECK(end1 != NULL);
    const char *join = strstr(bt1, "weft_join");
    const char *mainf = strstr(bt1, " main (");
    if (!(strstr(bt1, "weft__ctx_swap") < end1 && join && join < end1 && mainf && mainf < end1)) {
        fprintf(stderr, "the backtrace inside the switch does not reach main:\n%s\n", gdb_out);
        CHECK(0);
    }
    const char *bt2 = strstr(end1, "\n#0 ");
    if (!bt2) {
        fprintf(stderr, "no backtrace after the stack move:\n%s\n", gdb_out);
        CHECK(0);
    }
    bt2++;
    CHECK(strstr(bt2, "weft__ctx_swap") != NULL);
    CHECK_EQ(check_ends_at_entry(bt2), 2);
    check_clean();
}

/* ---- the libgcc unwinder (glibc's backtrace) ----------------------------------------- */

static __attribute__((unused)) void *bt_frames[64];
static __attribute__((unused)) int bt_n;

static __attribute__((noinline, unused)) void *unwind_body(void *arg) {
#ifdef HAVE_BACKTRACE
    bt_n = backtrace(bt_frames, 64);
#endif
    return arg;
}

#ifdef HAVE_BACKTRACE
/* backtrace() walks past its caller on a thread's own stack (riscv64 glibc under
 * qemu-user returns only the first frame, even from main). */
static __attribute__((noinline)) int bt_probe_leaf(void) {
    void *f[8];
    int n = backtrace(f, 8);
    __asm__ volatile("" : "+r"(n));
    return n;
}
static __attribute__((noinline, unused)) int bt_probe(void) {
    int n = bt_probe_leaf();
    __asm__ volatile("" : "+r"(n));
    return n;
}
#endif

/* backtrace() from a coroutine walks its frames and stops at the entry trampoline: the
 * last frame is in weft__ctx_start, with nothing beyond it. */
static void unwind_in(weft_stack_mode mode) {
#if defined(WEFT_USE_UCONTEXT)
    (void)mode;
    SKIP("the ucontext switch has no weft__ctx_start");
#elif !defined(HAVE_BACKTRACE)
    (void)mode;
    SKIP("this C library has no backtrace() (<execinfo.h>: glibc's)");
#else
    if (bt_probe() < 3)
        SKIP("backtrace() does not walk past its caller here, even on a thread's stack");
    weft_coro_opts o = {.stack_mode = mode};
    weft_coro c;
    bt_n = 0;
    CHECK_EQ(weft_spawn(&c, unwind_body, NULL, &o), 0);
    CHECK_EQ(weft_join(c, WEFT_FOREVER, NULL), 0);
    CHECK(bt_n >= 3 && bt_n < 64);
    uintptr_t last = (uintptr_t)bt_frames[bt_n - 1];
    uintptr_t start = (uintptr_t)weft__ctx_start;
    CHECK(last > start && last <= start + 16);
#endif
}

WEFT_TEST(backtrace_guarded_stops_at_entry) {
    unwind_in(WEFT_STACK_GUARDED);
}
WEFT_TEST(backtrace_shared_stops_at_entry) {
    unwind_in(WEFT_STACK_SHARED);
}

WEFT_MAIN()
