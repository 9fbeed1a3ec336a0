/*
 * Valid arguments for the sweep's cases (tests/sweep/cases.txt names them; tools/sweep
 * uses sw_<type>() for a parameter of type weft_<type> * when a case gives none). Every
 * fixture runs in the case's own child process, so it may leave threads, children and
 * blocked waiters behind: the child ends with _exit and its process group is killed.
 * A fixture that cannot make its object prints why and exits: the case then fails.
 */
#ifndef WEFT_SWEEP_FIXTURES_H
#define WEFT_SWEEP_FIXTURES_H

#define SW_FIX static __attribute__((unused))

SW_FIX void sw_die(const char *what, int err) {
    fprintf(stderr, "sweep fixture: %s: %s\n", what, weft_strerror(err));
    _exit(3);
}
#define SW_OK(call)                \
    do {                           \
        int sw_rc_ = (int)(call);  \
        if (sw_rc_ < 0)            \
            sw_die(#call, sw_rc_); \
    } while (0)

/* ------------------------------------------------------------ plain memory */

static _Alignas(64) unsigned char sw_zero_mem[65536];
static _Alignas(64) unsigned char sw_garbage_mem[65536];
static _Alignas(64) unsigned char sw_buf_mem[65536];
static _Alignas(64) unsigned char sw_out_mem[4096];

/* Zeroed memory that no weft call made. */
SW_FIX void *sw_zero(void) {
    return sw_zero_mem;
}
/* Garbage-filled memory that no weft call made. */
SW_FIX void *sw_garbage(void) {
    memset(sw_garbage_mem, 0xA5, sizeof sw_garbage_mem);
    return sw_garbage_mem;
}
/* A zeroed scratch buffer (64 KiB) for data arguments, and one (4 KiB) for out-pointers. */
SW_FIX void *sw_buf(void) {
    return sw_buf_mem;
}
SW_FIX void *sw_out(void) {
    return sw_out_mem;
}
/* A timeout scope the caller has entered (no limit). */
SW_FIX weft_timeout *sw_scope(void) {
    static weft_timeout t;
    weft_timeout_enter(&t, WEFT_FOREVER);
    return &t;
}
/* A MAP_SHARED page weft did not make (for the process-shared objects' detach). */
SW_FIX void *sw_shared_page(void) {
    void *p = mmap(NULL, 65536, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED)
        sw_die("mmap", -errno);
    return p;
}
/* The same, 64 bytes in, so the 64 bytes before it are zeroes weft did not write. */
SW_FIX void *sw_shared_page64(void) {
    return (char *)sw_shared_page() + 64;
}

/* ------------------------------------------------------------ names and descriptors */

SW_FIX const char *sw_name(void) {
    static char buf[96];
    static int n;
    snprintf(buf, sizeof buf, "/weft-sweep-%d-%d-%d", (int)getppid(), (int)getpid(), n++);
    return buf;
}
SW_FIX const char *sw_long_name(void) {
    static char buf[301];
    memset(buf, 'a', 300);
    buf[0] = '/';
    return buf;
}
static int sw_pipe_fds[2] = {-1, -1};
SW_FIX int sw_pipe_r(void) {
    if (sw_pipe_fds[0] < 0 && pipe2(sw_pipe_fds, O_NONBLOCK | O_CLOEXEC) != 0)
        sw_die("pipe2", -errno);
    return sw_pipe_fds[0];
}
SW_FIX int sw_pipe_w(void) {
    sw_pipe_r();
    return sw_pipe_fds[1];
}
/* The write end of a pipe whose buffer is full. */
SW_FIX int sw_pipe_w_full(void) {
    int w = sw_pipe_w();
    while (write(w, sw_buf_mem, sizeof sw_buf_mem) > 0) {
    }
    return w;
}
/* A descriptor number that was open and is closed now. */
SW_FIX int sw_closed_fd(void) {
    int fds[2];
    if (pipe(fds) != 0)
        sw_die("pipe", -errno);
    close(fds[0]);
    close(fds[1]);
    return fds[0];
}
/* A regular file, a socket that is not listening, a listening one. */
SW_FIX int sw_file_fd(void) {
    int fd = open("/dev/null", O_RDWR | O_CLOEXEC);
    if (fd < 0)
        sw_die("open", -errno);
    return fd;
}
SW_FIX int sw_socket(void) {
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        sw_die("socket", -errno);
    return fd;
}
SW_FIX int sw_listener(void) {
    int fd = weft_tcp_listen("127.0.0.1", 0, 0, 0);
    if (fd < 0)
        sw_die("weft_tcp_listen", fd);
    return fd;
}
SW_FIX weft_addr *sw_addr(void) {
    static weft_addr a;
    SW_OK(weft_resolve("127.0.0.1", 1, 0, &a, 1, WEFT_FOREVER));
    return &a;
}
/* An address of a family weft does not use (AF_UNIX). */
SW_FIX weft_addr *sw_unix_addr(void) {
    static weft_addr a;
    a.ss.ss_family = AF_UNIX;
    a.len = sizeof(sa_family_t);
    return &a;
}
SW_FIX socklen_t *sw_socklen(void) {
    static socklen_t n;
    n = sizeof(struct sockaddr_storage);
    return &n;
}

/* ------------------------------------------------------------ functions */

SW_FIX void *sw_coro_fn(void *arg) {
    return arg;
}
SW_FIX void *sw_thread_fn(void *arg) {
    return arg;
}
SW_FIX int sw_task_fn(void *arg, void **result) {
    (void)arg;
    (void)result;
    return 0;
}
SW_FIX int sw_proc_fn(void *arg) {
    (void)arg;
    return 0;
}
SW_FIX void sw_link_fn(weft_coro c, void *result, int status, void *ud) {
    (void)c;
    (void)result;
    (void)status;
    (void)ud;
}
SW_FIX void sw_key_dtor(void *value) {
    (void)value;
}
SW_FIX void sw_future_cb(weft_future *f, void *ud) {
    (void)f;
    (void)ud;
}
SW_FIX void sw_ppool_cb(weft_future *f, int status, const weft_bytes *result, void *ud) {
    (void)f;
    (void)status;
    (void)result;
    (void)ud;
}
/* Echoes its input. */
SW_FIX int sw_ptask_fn(const void *in, size_t len, weft_bytes *out) {
    return weft_bytes_set(out, in, len);
}
SW_FIX int sw_http_handler(const weft_http_request *req, weft_http_response *resp, void *arg) {
    (void)req;
    (void)resp;
    (void)arg;
    return 0;
}
SW_FIX void sw_once_fn(void *arg) {
    (void)arg;
}

static weft_event sw_never; /* nobody sets it */
SW_FIX void *sw_block_fn(void *arg) {
    (void)arg;
    weft_event_wait(&sw_never, WEFT_FOREVER);
    return NULL;
}
SW_FIX int sw_block_task(void *arg, void **result) {
    (void)arg;
    (void)result;
    weft_event_wait(&sw_never, WEFT_FOREVER);
    return 0;
}
SW_FIX int sw_block_proc(void *arg) {
    (void)arg;
    while (pause() != 12345) {
    }
    return 0;
}

/* ------------------------------------------------------------ coroutines */

SW_FIX weft_coro sw_coro(void) {
    weft_coro c;
    SW_OK(weft_spawn(&c, sw_coro_fn, NULL, NULL));
    return c;
}
/* A coroutine that waits on sw_never. */
SW_FIX weft_coro sw_coro_blocked(void) {
    weft_coro c;
    SW_OK(weft_spawn(&c, sw_block_fn, NULL, NULL));
    weft_yield();
    return c;
}
SW_FIX weft_coro sw_coro_suspended(void) {
    weft_coro c;
    weft_coro_opts o = {.suspended = 1};
    SW_OK(weft_spawn(&c, sw_coro_fn, NULL, &o));
    return c;
}
/* A handle of a coroutine that was joined. */
SW_FIX weft_coro sw_stale_coro(void) {
    weft_coro c;
    SW_OK(weft_spawn(&c, sw_coro_fn, NULL, NULL));
    SW_OK(weft_join(c, WEFT_FOREVER, NULL));
    return c;
}
/* A coroutine key (made once per case), and one that was deleted. */
SW_FIX weft_coro_key sw_coro_key(void) {
    weft_coro_key k;
    SW_OK(weft_coro_key_create(&k, sw_key_dtor));
    return k;
}
SW_FIX weft_coro_key sw_deleted_key(void) {
    weft_coro_key k;
    SW_OK(weft_coro_key_create(&k, NULL));
    SW_OK(weft_coro_key_delete(k));
    return k;
}
SW_FIX weft_coro *sw_coros(void) {
    static weft_coro cs[2];
    cs[0] = sw_coro_blocked();
    cs[1] = sw_coro_blocked();
    return cs;
}

/* ------------------------------------------------------------ channels, queues */

SW_FIX weft_chan *sw_chan(void) {
    weft_chan *ch;
    SW_OK(weft_chan_create(&ch, 8, 1));
    return ch;
}
SW_FIX weft_chan *sw_chan_full(void) {
    weft_chan *ch = sw_chan();
    SW_OK(weft_chan_send(ch, sw_buf_mem, WEFT_NOWAIT));
    return ch;
}
SW_FIX weft_select_op *sw_select_op(void) {
    static weft_select_op ops[2];
    ops[0] = (weft_select_op){sw_chan(), WEFT_RECV, sw_buf_mem, 0};
    ops[1] = (weft_select_op){sw_chan_full(), WEFT_SEND, sw_buf_mem, 0};
    return ops;
}
SW_FIX weft_select_op *sw_select_badop(void) {
    static weft_select_op op;
    op = (weft_select_op){sw_chan(), 3, sw_buf_mem, 0};
    return &op;
}
SW_FIX weft_select_op *sw_select_nullelem(void) {
    static weft_select_op op;
    op = (weft_select_op){sw_chan(), WEFT_RECV, NULL, 0};
    return &op;
}
SW_FIX weft_queue *sw_queue_kind(int kind) {
    weft_queue *q;
    SW_OK(weft_queue_create(&q, kind, 8, 1));
    return q;
}
SW_FIX weft_queue *sw_queue(void) {
    return sw_queue_kind(WEFT_QUEUE_FIFO);
}
SW_FIX weft_queue *sw_queue_full(int kind) {
    weft_queue *q = sw_queue_kind(kind);
    SW_OK(weft_queue_put(q, sw_buf_mem, WEFT_NOWAIT));
    return q;
}
/* A queue with one unfinished task (its element taken). */
SW_FIX weft_queue *sw_queue_task(void) {
    weft_queue *q = sw_queue_full(WEFT_QUEUE_FIFO);
    SW_OK(weft_queue_get(q, sw_out_mem, WEFT_NOWAIT));
    return q;
}

/* ------------------------------------------------------------ synchronisation */

#define SW_SYNC(type, init)               \
    SW_FIX weft_##type *sw_##type(void) { \
        static weft_##type o;             \
        SW_OK(init);                      \
        return &o;                        \
    }
SW_SYNC(lock, weft_lock_init(&o))
SW_SYNC(rlock, weft_rlock_init(&o))
SW_SYNC(cond, weft_cond_init(&o))
SW_SYNC(sem, weft_sem_init(&o, 0, 0))
SW_SYNC(event, weft_event_init(&o))
SW_SYNC(barrier, weft_barrier_init(&o, 2))
SW_SYNC(waitgroup, weft_waitgroup_init(&o))
SW_SYNC(plock, weft_plock_init(&o))
SW_SYNC(prlock, weft_prlock_init(&o))
SW_SYNC(psem, weft_psem_init(&o, 0, 0))
SW_SYNC(pevent, weft_pevent_init(&o))
SW_SYNC(pcond, weft_pcond_init(&o))
SW_SYNC(pbarrier, weft_pbarrier_init(&o, 2))
#undef SW_SYNC
SW_FIX weft_once *sw_once(void) {
    static weft_once o = WEFT_ONCE_INIT;
    return &o;
}
SW_FIX weft_lock *sw_lock_held(void) {
    weft_lock *l = sw_lock();
    SW_OK(weft_lock_acquire(l, WEFT_NOWAIT));
    return l;
}
SW_FIX weft_plock *sw_plock_held(void) {
    weft_plock *l = sw_plock();
    SW_OK(weft_plock_acquire(l, WEFT_NOWAIT));
    return l;
}
SW_FIX weft_rlock *sw_rlock_held(void) {
    weft_rlock *l = sw_rlock();
    SW_OK(weft_rlock_acquire(l, WEFT_NOWAIT));
    return l;
}
SW_FIX weft_prlock *sw_prlock_held(void) {
    weft_prlock *l = sw_prlock();
    SW_OK(weft_prlock_acquire(l, WEFT_NOWAIT));
    return l;
}
SW_FIX weft_waitgroup *sw_waitgroup_one(void) {
    weft_waitgroup *wg = sw_waitgroup();
    SW_OK(weft_waitgroup_add(wg, 1));
    return wg;
}

/* ------------------------------------------------------------ threads */

SW_FIX weft_thread *sw_thread(void) {
    weft_thread *t;
    weft_thread_opts o = {.daemon = 1};
    SW_OK(weft_thread_start(&t, sw_block_fn, NULL, &o));
    return t;
}
/* A timer that would fire in an hour (cancelled, it ends at once). */
SW_FIX weft_thread *sw_timer(void) {
    weft_thread *t;
    SW_OK(weft_timer_start(&t, 3600 * WEFT_SEC, sw_thread_fn, NULL));
    return t;
}
SW_FIX weft_thread *sw_thread_serving(void) {
    weft_thread *t;
    weft_thread_opts o = {.daemon = 1, .serve = 1};
    SW_OK(weft_thread_start(&t, NULL, NULL, &o));
    return t;
}
SW_FIX void *sw_thread_obj_run(weft_thread_obj *self) {
    (void)self;
    return sw_block_fn(NULL);
}
SW_FIX weft_thread_obj *sw_thread_obj(void) {
    static weft_thread_obj o;
    o.run = sw_thread_obj_run;
    o.handle = NULL;
    return &o;
}
SW_FIX weft_thread_obj *sw_thread_obj_started(void) {
    weft_thread_obj *o = sw_thread_obj();
    weft_thread_opts opts = {.daemon = 1};
    SW_OK(weft_thread_obj_start(o, &opts));
    return o;
}

/* ------------------------------------------------------------ pools, futures */

SW_FIX weft_group *sw_group(void) {
    weft_group *g;
    SW_OK(weft_group_create(&g, &(weft_group_opts){.threads = 1}));
    return g;
}
SW_FIX weft_pool *sw_pool(void) {
    weft_pool *p;
    SW_OK(weft_pool_create(&p, 1));
    return p;
}
/* A future whose task never finishes (on a pool of its own). */
SW_FIX weft_future *sw_future(void) {
    static weft_pool *p;
    weft_future *f;
    if (!p)
        p = sw_pool();
    SW_OK(weft_pool_submit(p, sw_block_task, NULL, &f));
    return f;
}
SW_FIX weft_future *sw_promise(void) {
    weft_future *f;
    SW_OK(weft_future_create(&f));
    return f;
}
SW_FIX weft_future *const *sw_futures(void) {
    static weft_future *fs[2];
    fs[0] = sw_future();
    fs[1] = sw_future();
    return fs;
}
SW_FIX weft_future *const *sw_futures_null(void) {
    static weft_future *fs[2];
    fs[0] = sw_future();
    fs[1] = NULL;
    return fs;
}
SW_FIX weft_as_completed_iter *sw_as_completed_iter(void) {
    static weft_as_completed_iter it;
    SW_OK(weft_as_completed_init(&it, sw_futures(), 2));
    return &it;
}
/* weft_wait_any's sets: a pending future and an empty pipe (nothing ready); one with an
 * entry of an unknown kind; all-zero bytes (every entry WEFT_WAIT_NONE). */
SW_FIX weft_waitable *sw_waitables(void) {
    static weft_waitable ws[2];
    ws[0] = WEFT_WAIT_FUTURE(sw_promise());
    ws[1] = WEFT_WAIT_FD(sw_pipe_r(), WEFT_READABLE);
    return ws;
}
SW_FIX weft_waitable *sw_waitables_bad(void) {
    weft_waitable *ws = sw_waitables();
    ws[1].kind = 0x5a5a;
    return ws;
}
SW_FIX weft_waitable *sw_waitables_none(void) {
    static weft_waitable ws[2];
    return ws;
}
SW_FIX int sw_coro_failed(void *result, void *ud) {
    (void)ud;
    return result != NULL;
}
SW_FIX void *const *sw_args(void) {
    static void *args[2];
    return args;
}
SW_FIX weft_pool *sw_pool_shut(void) {
    weft_pool *p = sw_pool();
    SW_OK(weft_pool_shutdown(p, 0, 0));
    return p;
}
/* Gives two NULL arguments, then ends. */
SW_FIX int sw_pool_gen_fn(void *ud, void **arg) {
    static int calls;
    (void)ud;
    *arg = NULL;
    return calls++ < 2;
}
/* An iterator over two tasks that never finish (on a pool of its own). */
SW_FIX weft_pool_iter *sw_pool_iter(void) {
    static void *args[2];
    weft_pool_iter *it;
    SW_OK(weft_pool_imap(sw_pool(), sw_block_task, args, 2, 0, 0, &it));
    return it;
}
SW_FIX void sw_excepthook_fn(const weft_excepthook_args *args, void *ud) {
    (void)args;
    (void)ud;
}
SW_FIX const weft_excepthook_args *sw_excepthook_args(void) {
    static weft_excepthook_args a = {"sw", 1, -EIO, NULL, NULL, NULL};
    return &a;
}

/* ------------------------------------------------------------ processes */

SW_FIX weft_proc *sw_proc(void) {
    weft_proc *p;
    SW_OK(weft_proc_start(&p, sw_block_proc, NULL, NULL));
    return p;
}
SW_FIX weft_proc *sw_proc_exec(void) {
    weft_proc *p;
    char *argv[] = {"sleep", "30", NULL};
    weft_exec_opts o = {{WEFT_STDIO_PIPE, WEFT_STDIO_PIPE, WEFT_STDIO_NULL}, NULL};
    SW_OK(weft_proc_exec(&p, "sleep", argv, &o));
    return p;
}
SW_FIX int sw_proc_obj_run(weft_proc_obj *self) {
    (void)self;
    return sw_block_proc(NULL);
}
SW_FIX weft_proc_obj *sw_proc_obj(void) {
    static weft_proc_obj o;
    o.run = sw_proc_obj_run;
    o.handle = NULL;
    return &o;
}
SW_FIX weft_proc_obj *sw_proc_obj_started(void) {
    weft_proc_obj *o = sw_proc_obj();
    SW_OK(weft_proc_obj_start(o, NULL));
    return o;
}
SW_FIX char *const *sw_argv(void) {
    static char *argv[] = {"true", NULL};
    return argv;
}

/* ------------------------------------------------------------ shared memory */

SW_FIX weft_shm_arena *sw_shm_arena(void) {
    weft_shm_arena *a;
    SW_OK(weft_shm_arena_create(&a, 4096));
    return a;
}
SW_FIX weft_shm_array *sw_shm_array(void) {
    weft_shm_array *a;
    SW_OK(weft_shm_array_create(&a, NULL, 8, 4, 0));
    return a;
}
SW_FIX weft_shm_value *sw_shm_value(void) {
    weft_shm_value *v;
    SW_OK(weft_shm_value_create(&v, NULL, 8, 0));
    return v;
}
/* The name of an existing raw object, and of an existing object of another kind. */
SW_FIX const char *sw_raw_name(void) {
    const char *n = sw_name();
    void *p;
    SW_OK(weft_shm_create(&p, n, 64));
    return n;
}
SW_FIX const char *sw_plock_name(void) {
    const char *n = sw_name();
    weft_plock *l;
    SW_OK(weft_plock_create_named(&l, n));
    return n;
}

/* ------------------------------------------------------------ process queues, pipes */

SW_FIX weft_pqueue *sw_pqueue_kind(int kind) {
    weft_pqueue *q;
    SW_OK(weft_pqueue_create(&q, kind, 64, 1));
    return q;
}
SW_FIX weft_pqueue *sw_pqueue(void) {
    return sw_pqueue_kind(WEFT_QUEUE_FIFO);
}
SW_FIX weft_pqueue *sw_pqueue_full(int kind) {
    weft_pqueue *q = sw_pqueue_kind(kind);
    SW_OK(weft_pqueue_put(q, "x", 1, WEFT_NOWAIT));
    return q;
}
SW_FIX weft_pqueue *sw_pqueue_task(void) {
    weft_pqueue *q = sw_pqueue_full(WEFT_QUEUE_FIFO);
    SW_OK(weft_pqueue_get(q, sw_out_mem, sizeof sw_out_mem, WEFT_NOWAIT));
    return q;
}
static weft_pipe *sw_pipe_ends[2];
SW_FIX weft_pipe *sw_pipe(void) {
    SW_OK(weft_pipe_create(&sw_pipe_ends[0], &sw_pipe_ends[1], 1));
    return sw_pipe_ends[0];
}
SW_FIX weft_pipe *sw_pipe_simplex(int end) {
    SW_OK(weft_pipe_create(&sw_pipe_ends[0], &sw_pipe_ends[1], 0));
    return sw_pipe_ends[end];
}

/* ------------------------------------------------------------ shared dicts and lists */

/* A dict holding "k" = "v", a list holding "v", and their names. */
SW_FIX weft_pdict *sw_pdict(void) {
    weft_pdict *d;
    SW_OK(weft_pdict_create(&d, 4096));
    SW_OK(weft_pdict_set(d, "k", 1, "v", 1, WEFT_NOWAIT));
    return d;
}
SW_FIX const char *sw_pdict_name(void) {
    const char *n = sw_name();
    weft_pdict *d;
    SW_OK(weft_pdict_create_named(&d, n, 4096));
    return n;
}
SW_FIX weft_plist *sw_plist(void) {
    weft_plist *l;
    SW_OK(weft_plist_create(&l, 4096));
    SW_OK(weft_plist_append(l, "v", 1, WEFT_NOWAIT));
    return l;
}
SW_FIX const char *sw_plist_name(void) {
    const char *n = sw_name();
    weft_plist *l;
    SW_OK(weft_plist_create_named(&l, n, 4096));
    return n;
}
/* A snapshot of sw_pdict(), and a position at its start. */
SW_FIX weft_bytes *sw_pdict_snap(void) {
    static weft_bytes b = WEFT_BYTES_INIT;
    int64_t r = weft_pdict_items(sw_pdict(), &b, WEFT_NOWAIT);
    if (r != 1)
        sw_die("weft_pdict_items", (int)r);
    return &b;
}
SW_FIX size_t *sw_pos(size_t v) {
    static size_t pos;
    pos = v;
    return &pos;
}

/* ------------------------------------------------------------ process pools */

SW_FIX weft_bytes *sw_bytes(void) {
    static weft_bytes b = WEFT_BYTES_INIT;
    return &b;
}
SW_FIX weft_ppool_opts *sw_ppool_opts(void) {
    static weft_ppool_opts o;
    weft_ppool_opts_init(&o);
    return &o;
}
static int sw_ptask_id = -1;
SW_FIX int sw_ptask(void) {
    if (sw_ptask_id < 0) {
        sw_ptask_id = weft_ptask_register("sw_task", sw_ptask_fn);
        if (sw_ptask_id < 0)
            sw_die("weft_ptask_register", sw_ptask_id);
    }
    return sw_ptask_id;
}
SW_FIX weft_ppool *sw_ppool(void) {
    weft_ppool *p;
    weft_ppool_opts o;
    sw_ptask();
    weft_ppool_opts_init(&o);
    o.nworkers = 1;
    SW_OK(weft_ppool_create(&p, &o));
    return p;
}
SW_FIX weft_ppool *sw_ppool_closed(void) {
    weft_ppool *p = sw_ppool();
    SW_OK(weft_ppool_close(p));
    return p;
}
SW_FIX weft_ppool_iter *sw_ppool_iter(void) {
    weft_ppool_iter *it;
    static int64_t in[1];
    weft_ppool *p = sw_ppool();
    SW_OK(weft_ppool_imap(p, sw_ptask(), in, 1, sizeof in[0], 0, 0, &it));
    return it;
}
/* Packed arguments as weft_ppool_apply_argv makes them are not public: a one-argument
 * input is built the documented way, through a task that echoes its input back. */

/* ------------------------------------------------------------ HTTP */

SW_FIX weft_http_server *sw_http_server(void) {
    weft_http_server *s;
    SW_OK(weft_http_server_start(&s, "127.0.0.1", 0, sw_http_handler, NULL, NULL));
    return s;
}
SW_FIX const weft_http_request *sw_http_request(void) {
    static weft_http_header h[1] = {{"Host", "x"}};
    static weft_http_request r = {"GET", "/", 1, h, 1, "", 0, NULL};
    return &r;
}
/* A live response object: a handler parks holding it while the case uses it. */
static weft_chan *sw_resp_chan;
SW_FIX int sw_resp_handler(const weft_http_request *req, weft_http_response *resp, void *arg) {
    (void)req;
    (void)arg;
    weft_chan_send(sw_resp_chan, &resp, WEFT_FOREVER);
    weft_event_wait(&sw_never, WEFT_FOREVER);
    return 0;
}
SW_FIX void *sw_resp_client(void *arg) {
    int port = (int)(intptr_t)arg;
    int fd = weft_tcp_connect("127.0.0.1", port, WEFT_FOREVER);
    if (fd < 0)
        sw_die("weft_tcp_connect", fd);
    static const char rq[] = "GET / HTTP/1.1\r\nHost: x\r\n\r\n";
    weft_write_all(fd, rq, sizeof rq - 1, WEFT_FOREVER, NULL);
    weft_event_wait(&sw_never, WEFT_FOREVER);
    return NULL;
}
SW_FIX weft_http_response *sw_http_response(void) {
    weft_http_server *s;
    weft_http_response *resp;
    weft_coro c;
    SW_OK(weft_chan_create(&sw_resp_chan, sizeof resp, 0));
    SW_OK(weft_http_server_start(&s, "127.0.0.1", 0, sw_resp_handler, NULL, NULL));
    SW_OK(weft_spawn(&c, sw_resp_client, (void *)(intptr_t)weft_http_server_port(s), NULL));
    SW_OK(weft_chan_recv(sw_resp_chan, &resp, weft_after(10 * WEFT_SEC)));
    return resp;
}

/* ------------------------------------------------------------ misc */

SW_FIX void *sw_alloc_fn(size_t n, void *ud) {
    (void)ud;
    return malloc(n);
}
SW_FIX void *sw_realloc_fn(void *p, size_t n, void *ud) {
    (void)ud;
    return realloc(p, n);
}
SW_FIX void sw_free_fn(void *p, void *ud) {
    (void)ud;
    free(p);
}
SW_FIX const weft_allocator *sw_allocator(void) {
    static const weft_allocator a = {sw_alloc_fn, sw_realloc_fn, sw_free_fn, NULL};
    return &a;
}
SW_FIX const weft_allocator *sw_allocator_null(int which) {
    static weft_allocator a;
    a = *sw_allocator();
    if (which == 0)
        a.alloc = NULL;
    else if (which == 1)
        a.realloc = NULL;
    else
        a.free = NULL;
    return &a;
}

/* ------------------------------------------------------------ more descriptors */

static int sw_sp[2] = {-1, -1};
SW_FIX int sw_sock_pair(int end) {
    if (sw_sp[0] < 0 && socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sw_sp))
        sw_die("socketpair", -errno);
    return sw_sp[end];
}
/* A socket whose send buffer (and its peer's receive buffer) is full. */
SW_FIX int sw_sock_full(void) {
    int fd = sw_sock_pair(0);
    while (send(fd, sw_buf_mem, sizeof sw_buf_mem, MSG_DONTWAIT | MSG_NOSIGNAL) > 0) {
    }
    while (send(fd, sw_buf_mem, 1, MSG_DONTWAIT | MSG_NOSIGNAL) > 0) {
    }
    return fd;
}
SW_FIX weft_addr *sw_addr_port0(void) {
    static weft_addr a;
    SW_OK(weft_resolve("127.0.0.1", 0, 0, &a, 1, WEFT_FOREVER));
    return &a;
}

/* ------------------------------------------------------------ locks held elsewhere */

/* Starts a daemon thread that runs acquire(obj) and then blocks; returns once it holds. */
typedef struct sw_holder {
    int (*acquire)(void *obj);
    void *obj;
    weft_event held;
} sw_holder;
SW_FIX void *sw_holder_fn(void *arg) {
    sw_holder *h = arg;
    int rc = h->acquire(h->obj);
    if (rc < 0)
        sw_die("acquire in the holder thread", rc);
    weft_event_set(&h->held);
    weft_event_wait(&sw_never, WEFT_FOREVER);
    return NULL;
}
SW_FIX void *sw_held_elsewhere(int (*acquire)(void *), void *obj) {
    static sw_holder h;
    weft_thread *t;
    h.acquire = acquire;
    h.obj = obj;
    weft_event_init(&h.held);
    weft_thread_opts o = {.daemon = 1};
    SW_OK(weft_thread_start(&t, sw_holder_fn, &h, &o));
    SW_OK(weft_event_wait(&h.held, weft_after(10 * WEFT_SEC)));
    return obj;
}
SW_FIX int sw_acq_lock(void *o) {
    return weft_lock_acquire(o, WEFT_FOREVER);
}
SW_FIX int sw_acq_rlock(void *o) {
    return weft_rlock_acquire(o, WEFT_FOREVER);
}
SW_FIX int sw_acq_plock(void *o) {
    return weft_plock_acquire(o, WEFT_FOREVER);
}
SW_FIX int sw_acq_prlock(void *o) {
    return weft_prlock_acquire(o, WEFT_FOREVER);
}
SW_FIX weft_lock *sw_lock_held_other(void) {
    return sw_held_elsewhere(sw_acq_lock, sw_lock());
}
SW_FIX weft_rlock *sw_rlock_held_other(void) {
    return sw_held_elsewhere(sw_acq_rlock, sw_rlock());
}
SW_FIX weft_plock *sw_plock_held_other(void) {
    return sw_held_elsewhere(sw_acq_plock, sw_plock());
}
SW_FIX weft_prlock *sw_prlock_held_other(void) {
    return sw_held_elsewhere(sw_acq_prlock, sw_prlock());
}

/* ------------------------------------------------------------ more objects */

SW_FIX weft_thread_obj *sw_thread_obj_norun(void) {
    weft_thread_obj *o = sw_thread_obj();
    o->run = NULL;
    return o;
}
SW_FIX weft_proc_obj *sw_proc_obj_norun(void) {
    weft_proc_obj *o = sw_proc_obj();
    o->run = NULL;
    return o;
}
/* A future queued behind one that never finishes: it has not started. */
SW_FIX weft_future *sw_future_queued(void) {
    sw_future();
    return sw_future();
}

/* Named objects of each kind (names from sw_name, removed by the runner at the end). */
SW_FIX void *sw_raw(void) {
    void *p;
    SW_OK(weft_shm_create(&p, sw_name(), 64));
    return p;
}
SW_FIX const char *sw_arena_name(void) {
    const char *n = sw_name();
    weft_shm_arena *a;
    SW_OK(weft_shm_arena_create_named(&a, n, 4096));
    return n;
}
SW_FIX const char *sw_array_name(void) {
    const char *n = sw_name();
    weft_shm_array *a;
    SW_OK(weft_shm_array_create_named(&a, n, 8, 4, 0));
    return n;
}
SW_FIX const char *sw_value_name(void) {
    const char *n = sw_name();
    weft_shm_value *v;
    SW_OK(weft_shm_value_create_named(&v, n, 8, 0));
    return n;
}
SW_FIX weft_shm_array *sw_shm_array_locked(void) {
    weft_shm_array *a;
    SW_OK(weft_shm_array_create(&a, NULL, 8, 4, WEFT_SHM_LOCKED));
    return a;
}
static weft_shm_arena *sw_arena_a;
static void *sw_arena_b;
static int64_t sw_arena_off;
SW_FIX void sw_arena_block(void) {
    sw_arena_a = sw_shm_arena();
    sw_arena_b = weft_shm_alloc(sw_arena_a, 16);
    if (!sw_arena_b)
        sw_die("weft_shm_alloc", -ENOMEM);
    sw_arena_off = weft_shm_offset(sw_arena_a, sw_arena_b);
}
#define SW_NAMED(type, create)                    \
    SW_FIX const char *sw_##type##_name(void) {   \
        const char *n = sw_name();                \
        weft_##type *o;                           \
        SW_OK(create);                            \
        return n;                                 \
    }                                             \
    SW_FIX weft_##type *sw_##type##_named(void) { \
        const char *n = sw_name();                \
        weft_##type *o;                           \
        SW_OK(create);                            \
        return o;                                 \
    }
SW_NAMED(prlock, weft_prlock_create_named(&o, n))
SW_NAMED(psem, weft_psem_create_named(&o, n, 0, 0))
SW_NAMED(pevent, weft_pevent_create_named(&o, n))
SW_NAMED(pcond, weft_pcond_create_named(&o, n))
SW_NAMED(pbarrier, weft_pbarrier_create_named(&o, n, 2))
SW_NAMED(pqueue, weft_pqueue_create_named(&o, n, WEFT_QUEUE_FIFO, 64, 1))
#undef SW_NAMED
SW_FIX weft_plock *sw_plock_named(void) {
    weft_plock *l;
    SW_OK(weft_plock_create_named(&l, sw_name()));
    return l;
}

/* ------------------------------------------------------------ process pool inputs */

/* One argument "abc" packed as weft_ppool_apply_argv packs it (src/ppool/bytes.c: argc
 * and padding, one 8-byte length per argument, then the arguments). */
static unsigned char sw_packed[24];
static size_t sw_packed_len;
SW_FIX void sw_pack_args(void) {
    uint32_t argc = 1;
    uint64_t len = 3;
    memset(sw_packed, 0, sizeof sw_packed);
    memcpy(sw_packed, &argc, 4);
    memcpy(sw_packed + 8, &len, 8);
    memcpy(sw_packed + 16, "abc", 3);
    sw_packed_len = 19;
}
SW_FIX const void *const *sw_argv_in(void) {
    static const void *argv[1] = {"abc"};
    return argv;
}
SW_FIX const size_t *sw_lens(void) {
    static size_t lens[1] = {3};
    return lens;
}
SW_FIX const size_t *sw_lens_huge(void) {
    static size_t lens[1] = {SIZE_MAX};
    return lens;
}
/* Two starmap items of one argument ("abc") each. */
SW_FIX const weft_ppool_args *sw_ppool_args(void) {
    static weft_ppool_args items[2];
    items[0] = (weft_ppool_args){1, sw_argv_in(), sw_lens()};
    items[1] = items[0];
    return items;
}
SW_FIX const weft_ppool_args *sw_ppool_args_bad(void) {
    static const void *argv[1] = {NULL};
    static weft_ppool_args items[2];
    items[0] = (weft_ppool_args){1, sw_argv_in(), sw_lens()};
    items[1] = (weft_ppool_args){1, argv, sw_lens()}; /* NULL with a length */
    return items;
}
/* Default options with one field set to v: 1 nworkers, 2 initializer, 3 on_death,
 * 4 max_retries, 5 task_timeout, 6 reserved_[0], 7 initargs_len (initargs NULL). */
SW_FIX const weft_ppool_opts *sw_ppool_opts_with(int field, int64_t v) {
    static weft_ppool_opts o;
    weft_ppool_opts_init(&o);
    o.nworkers = 1;
    switch (field) {
    case 1:
        o.nworkers = (int)v;
        break;
    case 2:
        o.initializer = (int)v;
        break;
    case 3:
        o.on_death = (int)v;
        break;
    case 4:
        o.max_retries = (int)v;
        break;
    case 5:
        o.task_timeout = v;
        break;
    case 6:
        o.reserved_[0] = (uint64_t)v;
        break;
    case 7:
        o.initargs_len = (size_t)v;
        break;
    }
    return &o;
}

/* ------------------------------------------------------------ session keeper */

/* A temporary session directory with one session (id 1, `sleep 30`). The session's server is
 * outside the case's process group, so a janitor (in a group of its own) waits for the
 * case's end (a pipe only the case holds) and then kills every session of the directory and
 * removes it. */
SW_FIX const char *sw_session_dir(void) {
    static char dir[64];
    if (dir[0])
        return dir;
    snprintf(dir, sizeof dir, "/tmp/weft-sweep-XXXXXX");
    if (!mkdtemp(dir))
        sw_die("mkdtemp", -errno);
    int p[2];
    if (pipe(p) != 0)
        sw_die("pipe", -errno);
    pid_t j = fork();
    if (j < 0)
        sw_die("fork", -errno);
    if (j == 0) {
        setpgid(0, 0);
        close(p[1]);
        char b;
        while (read(p[0], &b, 1) < 0 && errno == EINTR)
            ;
        weft_session_info v[16];
        int n = weft_session_list(dir, v, 16, 0);
        for (int i = 0; i < n && i < 16; i++) {
            kill(-v[i].pid, SIGKILL);
            kill(v[i].server_pid, SIGKILL);
        }
        DIR *d = opendir(dir);
        struct dirent *e;
        char path[128];
        while (d && (e = readdir(d)))
            if (e->d_name[0] != '.' && snprintf(path, sizeof path, "%s/%s", dir, e->d_name) > 0)
                unlink(path);
        if (d)
            closedir(d);
        rmdir(dir);
        _exit(0);
    }
    /* Out of the case's process group before the case can end (both sides set it, so it
       holds whichever runs first): the runner kills that group. */
    setpgid(j, j);
    close(p[0]);
    char *argv[] = {"sleep", "30", NULL};
    weft_session_opts o = {.dir = dir};
    SW_OK(weft_session_start(NULL, "sleep", argv, &o));
    return dir;
}
SW_FIX const weft_session_opts *sw_session_opts(void) {
    static weft_session_opts o;
    o.dir = sw_session_dir();
    return &o;
}
SW_FIX weft_session_info *sw_session_info(void) {
    static weft_session_info v[4];
    return v;
}
/* A connection to session 1 that may do everything. */
SW_FIX weft_session *sw_session(void) {
    weft_session *s;
    SW_OK(weft_session_open(&s, sw_session_dir(), 1,
                            WEFT_SESSION_OUTPUT | WEFT_SESSION_INPUT | WEFT_SESSION_TERMINAL,
                            weft_after(5000000000)));
    return s;
}
/* A connection that may only make requests. */
SW_FIX weft_session *sw_session_ro(void) {
    weft_session *s;
    SW_OK(weft_session_open(&s, sw_session_dir(), 1, 0, weft_after(5000000000)));
    return s;
}
/* attach's terminal: keys from a pipe that is already at its end (so attach detaches at
 * once), output to /dev/null. */
SW_FIX const weft_session_attach_opts *sw_attach_opts(void) {
    static weft_session_attach_opts o;
    int p[2];
    if (pipe(p) != 0)
        sw_die("pipe", -errno);
    close(p[1]);
    o.in_fd = p[0];
    o.out_fd = open("/dev/null", O_WRONLY);
    o.no_replay = 1;
    return &o;
}

#endif
