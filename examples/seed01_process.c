/*
 * seed01_process: the seed's first example (section 1), in C.
 *
 * The Python original:
 *
 *     def say(name):
 *         print('父进程ID:', os.getppid())   # parent process id
 *         print('子进程ID:', os.getpid())    # child process id
 *         print("hello %s" % name)
 *     def main():
 *         print('当前进程ID:', os.getpid())  # current process id
 *         p = Process(target=say, args=('forever404',))
 *         p.start(); p.join()
 *     start = time(); main(); print(time() - start)
 *
 * It printed (Windows 10, CPython 3.8):
 *
 *     当前进程ID: 14728
 *     父进程ID: 14728
 *     子进程ID: 21828
 *     hello forever404
 *     0.1047201156616211
 *
 * Here weft_proc_start forks a child running say(); the child checks
 * that its parent pid is the pid main() printed and reports a mismatch
 * through its exit code, which main() reads after the join.
 *
 * Usage: seed01_process
 * Exit status: 0 on success, 1 if a weft call fails or the ids disagree.
 */
#include <weft.h>

#include <stdio.h>
#include <sys/types.h>

typedef struct say_args {
    const char *name;
    pid_t parent; /* main()'s pid, to check in the child */
} say_args;

static int say(void *arg) {
    say_args *a = arg;
    pid_t ppid = weft_getppid();
    printf("parent process id (父进程ID): %d\n", (int)ppid);
    printf("child process id (子进程ID):  %d\n", (int)weft_getpid());
    printf("hello %s  (in %s)\n", a->name, weft_proc_current_name());
    return ppid == a->parent ? 0 : 1;
}

int main(void) {
    int64_t start = weft_now();
    say_args a = {"forever404", weft_getpid()};
    printf("current process id (当前进程ID): %d\n\n", (int)a.parent);

    weft_proc *p;
    int r = weft_proc_start(&p, say, &a, NULL);
    if (r < 0) {
        fprintf(stderr, "seed01: weft_proc_start: %s\n", weft_strerror(r));
        return 1;
    }
    int alive = weft_proc_is_alive(p);
    if (alive < 0) {
        fprintf(stderr, "seed01: weft_proc_is_alive: %s\n", weft_strerror(alive));
        return 1;
    }
    r = weft_proc_join(p, weft_after(10 * WEFT_SEC));
    if (r < 0) {
        fprintf(stderr, "seed01: weft_proc_join: %s\n", weft_strerror(r));
        weft_proc_kill(p);
        weft_proc_join(p, WEFT_FOREVER);
        weft_proc_release(p);
        return 1;
    }
    double secs = (double)(weft_now() - start) / 1e9;
    int code = -1;
    r = weft_proc_exitcode(p, &code);
    if (r < 0) {
        fprintf(stderr, "seed01: weft_proc_exitcode: %s\n", weft_strerror(r));
        return 1;
    }
    alive = weft_proc_is_alive(p);
    printf("%s (pid %d) exit code %d, alive after join: %s\n", weft_proc_name(p),
           (int)weft_proc_pid(p), code, alive == 0 ? "no" : "yes");
    printf("%.6f\n", secs);
    weft_proc_release(p);
    if (code != 0) {
        fprintf(stderr, "seed01: the child's parent id is not this process's id\n");
        return 1;
    }
    return alive == 0 ? 0 : 1;
}
