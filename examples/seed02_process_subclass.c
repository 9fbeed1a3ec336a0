/*
 * seed02_process_subclass: the seed's second example (section 2), in C.
 *
 * The Python original subclasses Process:
 *
 *     class Myprocess(Process):
 *         def __init__(self, args):
 *             Process.__init__(self)
 *             self.args = args
 *         def run(self):
 *             print("父进程ID:{}".format(os.getppid()))
 *             print("子进程ID:{}".format(os.getpid()))
 *             print("hello {}".format(self.args))
 *     def main():
 *         print("当前进程id:{}".format(os.getpid()))
 *         p = Myprocess('forever404'); p.start(); p.join()
 *     start = time(); main(); print(time() - start)
 *
 * It printed 当前进程id:15388, 父进程ID:15388, 子进程ID:19752,
 * hello forever404 and 0.11170077323913574 (seconds).
 *
 * In C the "subclass" is a struct that embeds a weft_proc_obj next to its
 * own state; run() receives the embedded object and recovers the whole
 * struct with WEFT_CONTAINER_OF (in the child, the struct is the child's
 * copy). run()'s return value is the child's exit code: 0 when the
 * child's parent id is the id main() printed.
 *
 * Usage: seed02_process_subclass
 * Exit status: 0 on success, 1 if a weft call fails or the ids disagree.
 */
#include <weft.h>

#include <stdio.h>
#include <sys/types.h>

typedef struct my_process {
    weft_proc_obj base; /* the "Process" part; need not be first */
    const char *args;   /* the subclass's own state */
    pid_t parent;
} my_process;

static int my_run(weft_proc_obj *self) {
    my_process *me = WEFT_CONTAINER_OF(self, my_process, base);
    pid_t ppid = weft_getppid();
    printf("parent process id (父进程ID): %d\n", (int)ppid);
    printf("child process id (子进程ID):  %d\n", (int)weft_getpid());
    printf("hello %s\n", me->args);
    return ppid == me->parent ? 0 : 1;
}

int main(void) {
    int64_t start = weft_now();
    my_process p = {.base = {my_run, NULL}, .args = "forever404", .parent = weft_getpid()};
    printf("current process id (当前进程id): %d\n\n", (int)p.parent);

    int r = weft_proc_obj_start(&p.base, NULL);
    if (r < 0) {
        fprintf(stderr, "seed02: weft_proc_obj_start: %s\n", weft_strerror(r));
        return 1;
    }
    r = weft_proc_obj_join(&p.base, weft_after(10 * WEFT_SEC));
    if (r < 0) {
        fprintf(stderr, "seed02: weft_proc_obj_join: %s\n", weft_strerror(r));
        weft_proc_kill(p.base.handle);
        weft_proc_obj_join(&p.base, WEFT_FOREVER);
        weft_proc_obj_release(&p.base);
        return 1;
    }
    double secs = (double)(weft_now() - start) / 1e9;
    int code = -1;
    r = weft_proc_exitcode(p.base.handle, &code);
    if (r < 0) {
        fprintf(stderr, "seed02: weft_proc_exitcode: %s\n", weft_strerror(r));
        return 1;
    }
    printf("%s exit code %d\n", weft_proc_name(p.base.handle), code);
    printf("%.6f\n", secs);
    weft_proc_obj_release(&p.base);
    if (code != 0) {
        fprintf(stderr, "seed02: the child's parent id is not this process's id\n");
        return 1;
    }
    return 0;
}
