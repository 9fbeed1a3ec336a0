/* skynet_mt: skynet (1M coroutines in a 10-ary tree, each leaf sends its id to its
 * parent, parents sum) on a worker group with one worker per usable CPU, in s. Measured
 * as bench/skynet measures the one-thread tree: one tree in a fresh process, memory
 * cold. The same tree on one thread, measured the same way in another fresh process,
 * is printed as `weft-1t`, so the speed-up comes from one run. With SKYNET_MT_WARM=1
 * each process times a second tree too (memory warm), printed as a note. */
#include "skynet_tree.h"

#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

/* One tree: in group g, or on this thread when g is NULL; seconds. */
static double tree(weft_group *g, long size) {
    weft_chan *root;
    BENCH_CHECK(weft_chan_create(&root, sizeof(long), 1));
    node_arg a = {0, size, root};
    int64_t t0 = weft_now();
    if (g)
        BENCH_CHECK(weft_group_spawn(g, NULL, skynet, &a, &shared));
    else
        BENCH_CHECK(weft_spawn(NULL, skynet, &a, &shared));
    long result;
    BENCH_CHECK(weft_chan_recv(root, &result, WEFT_FOREVER));
    int64_t t1 = weft_now();
    if (result != size * (size - 1) / 2) {
        fprintf(stderr, "skynet_mt: wrong sum %ld\n", result);
        exit(1);
    }
    if (g)
        BENCH_CHECK(weft_group_wait(g, WEFT_FOREVER));
    weft_chan_destroy(root);
    return (double)(t1 - t0) / 1e9;
}

/* In a fresh process: one cold tree (and a warm one with SKYNET_MT_WARM=1); the cold
 * figure comes back through a pipe. */
static double in_child(int group, long size) {
    int fds[2];
    if (pipe(fds) != 0) {
        perror("pipe");
        exit(1);
    }
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0) {
        perror("fork");
        exit(1);
    }
    if (pid == 0) {
        close(fds[0]);
        weft_group *g = NULL;
        if (group)
            BENCH_CHECK(weft_group_create(&g, NULL));
        double cold = tree(g, size);
        if (getenv("SKYNET_MT_WARM")) {
            struct rusage ru;
            getrusage(RUSAGE_SELF, &ru);
            long rss = ru.ru_maxrss;
            fprintf(stderr,
                    "note: weft skynet_mt %s: warm tree %.3f s (cold %.3f s, peak RSS %ld MiB)\n",
                    group ? "group" : "one thread", tree(g, size), cold, rss / 1024);
        }
        if (write(fds[1], &cold, sizeof cold) != (ssize_t)sizeof cold)
            _exit(1);
        _exit(0);
    }
    close(fds[1]);
    double v = -1;
    if (read(fds[0], &v, sizeof v) != (ssize_t)sizeof v)
        v = -1;
    close(fds[0]);
    int st = 0;
    waitpid(pid, &st, 0);
    if (v < 0 || !WIFEXITED(st) || WEXITSTATUS(st) != 0) {
        fprintf(stderr, "skynet_mt: the %s run failed\n", group ? "group" : "one-thread");
        exit(1);
    }
    return v;
}

int main(int argc, char **argv) {
    long size = bench_size(argc, argv, 1000000, 100000);
    double mt = in_child(1, size), one = in_child(0, size);
    long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
    fprintf(stderr, "note: weft skynet_mt: a group of %ld workers (one per CPU)\n", ncpu);
    bench_line("skynet_mt", "weft", mt, "s");
    bench_line("skynet_mt", "weft-1t", one, "s");
    return 0;
}
