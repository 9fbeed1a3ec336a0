/* Shared memory: named objects (create, attach from a child and from a program
 * started with exec, wrong kind, wrong magic, EEXIST, unlink, mode 0600, the ready
 * flag), anonymous and named arenas (allocation, coalescing, double free, use from
 * several processes, repair after a process died inside the allocator), shared
 * values and arrays (in an arena, anonymous, named; with and without a lock);
 * bad input everywhere. Children are plain fork() + waitpid, every one reaped. */
#include "harness.h"

#include "psync/rmutex.h"
#include "shm/named.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>

/* WEFT_TEST_TIMEOUT(arena_processes, 120) */

static char *name_of(char *buf, const char *tag) {
    snprintf(buf, 64, "/weft_test_shm_%d_%s", (int)getpid(), tag);
    return buf;
}

/* ------------------------------------------------------------------ named objects */

static void raw_child(void *arg) {
    const char *name = arg;
    void *p;
    size_t size = 0;
    CHECK_OK(weft_shm_attach(&p, name, &size));
    CHECK_EQ(size, (size_t)5000);
    CHECK_EQ(((uintptr_t)p) % 64, 0u);
    CHECK_STR_EQ((char *)p, "from the parent");
    strcpy((char *)p + 100, "from the child");
    CHECK_OK(weft_shm_detach(p));
}

WEFT_TEST(named_raw_roundtrip) {
    char name[64];
    name_of(name, "raw");
    void *p, *q;
    CHECK_OK(weft_shm_create(&p, name, 5000));
    CHECK_EQ(((char *)p)[4999], 0); /* zero-filled */
    strcpy(p, "from the parent");
    CHECK_ERR(weft_shm_create(&q, name, 10), -EEXIST);
    CHECK_ERR(weft_shm_create(&q, name + 1, 10), -EEXIST); /* same name without '/' */
    pid_t c = test_fork_child(raw_child, name);
    CHECK_EQ(test_reap(c), 0);
    CHECK_STR_EQ((char *)p + 100, "from the child");

    /* Created 0600 whatever the umask. */
    mode_t old = umask(0);
    char other[64];
    name_of(other, "mode");
    CHECK_OK(weft_shm_create(&q, other, 1));
    umask(old);
    int fd = shm_open(other, O_RDONLY, 0);
    CHECK_GE(fd, 0);
    struct stat st;
    CHECK_OK(fstat(fd, &st));
    CHECK_EQ(st.st_mode & 07777, 0600u);
    CHECK_EQ(st.st_uid, getuid());
    close(fd);
    CHECK_OK(weft_shm_detach(q));
    CHECK_OK(weft_shm_unlink(other));

    /* A second attach in this process: another address, the same bytes. */
    size_t size;
    CHECK_OK(weft_shm_attach(&q, name, &size));
    CHECK(q != p);
    CHECK_STR_EQ((char *)q, "from the parent");
    CHECK_OK(weft_shm_unlink(name));
    /* Unlinked: attached mappings still work, the name is gone. */
    ((char *)q)[0] = 'F';
    CHECK_EQ(((char *)p)[0], 'F');
    void *r;
    CHECK_ERR(weft_shm_attach(&r, name, NULL), -ENOENT);
    CHECK_ERR(weft_shm_unlink(name), -ENOENT);
    CHECK_OK(weft_shm_detach(q));
    CHECK_OK(weft_shm_detach(p));
    CHECK_NO_ZOMBIES();
}

WEFT_TEST(named_bad_input) {
    void *p;
    char longname[300];
    memset(longname, 'a', sizeof longname - 1);
    longname[sizeof longname - 1] = 0;
    CHECK_ERR(weft_shm_create(NULL, "/x", 1), -EINVAL);
    CHECK_ERR(weft_shm_create(&p, NULL, 1), -EINVAL);
    CHECK_ERR(weft_shm_create(&p, "", 1), -EINVAL);
    CHECK_ERR(weft_shm_create(&p, "/", 1), -EINVAL);
    CHECK_ERR(weft_shm_create(&p, "a/b", 1), -EINVAL);
    CHECK_ERR(weft_shm_create(&p, "/a/b", 1), -EINVAL);
    CHECK_ERR(weft_shm_create(&p, longname, 1), -ENAMETOOLONG);
    CHECK_ERR(weft_shm_create(&p, "/weft_test_size0", 0), -EINVAL);
    CHECK_ERR(weft_shm_create(&p, "/weft_test_huge", WEFT__MAX_BYTES + 1), -EINVAL);
    CHECK_ERR(weft_shm_attach(NULL, "/x", NULL), -EINVAL);
    CHECK_ERR(weft_shm_attach(&p, NULL, NULL), -EINVAL);
    CHECK_ERR(weft_shm_attach(&p, "a/b", NULL), -EINVAL);
    CHECK_ERR(weft_shm_attach(&p, longname, NULL), -ENAMETOOLONG);
    CHECK_ERR(weft_shm_detach(NULL), -EINVAL);
    CHECK_ERR(weft_shm_unlink(NULL), -EINVAL);
    CHECK_ERR(weft_shm_unlink(""), -EINVAL);
    CHECK_ERR(weft_shm_unlink(longname), -ENAMETOOLONG);
    char name[64];
    CHECK_ERR(weft_shm_attach(&p, name_of(name, "none"), NULL), -ENOENT);
}

/* Not weft objects: a plain shm object with other bytes, and an empty one. */
WEFT_TEST(named_wrong_magic) {
    char name[64];
    name_of(name, "plain");
    int fd = shm_open(name, O_RDWR | O_CREAT | O_EXCL, 0600);
    CHECK_GE(fd, 0);
    CHECK_OK(ftruncate(fd, 4096));
    CHECK_EQ(write(fd, "not a weft object at all", 24), 24);
    void *p;
    CHECK_ERR(weft_shm_attach(&p, name, NULL), -EPROTOTYPE);
    weft_plock *l;
    CHECK_ERR(weft_plock_attach(&l, name), -EPROTOTYPE);
    weft_shm_array *a;
    CHECK_ERR(weft_shm_array_attach(&a, name), -EPROTOTYPE);
    /* Too small for a header. */
    CHECK_OK(ftruncate(fd, 16));
    CHECK_ERR(weft_shm_attach(&p, name, NULL), -EPROTOTYPE);
    /* Empty (as if its creator had not sized it yet): a bounded wait, then
     * -EPROTOTYPE. */
    CHECK_OK(ftruncate(fd, 0));
    int64_t t0 = weft_now();
    CHECK_ERR(weft_shm_attach(&p, name, NULL), -EPROTOTYPE);
    CHECK_LT(weft_now() - t0, 2 * WEFT_SEC);
    close(fd);
    CHECK_OK(weft_shm_unlink(name));
}

/* Objects of another kind: -EPROTOTYPE, nothing mapped. */
WEFT_TEST(named_wrong_kind) {
    SKIP_UNLESS_ROBUST_PSHARED_MUTEX();
    char vn[64], an[64], rn[64];
    name_of(vn, "value");
    name_of(an, "array");
    name_of(rn, "raw");
    weft_shm_value *v;
    weft_shm_array *a;
    void *r;
    CHECK_OK(weft_shm_value_create_named(&v, vn, 8, WEFT_SHM_LOCKED));
    CHECK_OK(weft_shm_array_create_named(&a, an, 4, 10, 0));
    CHECK_OK(weft_shm_create(&r, rn, 64));
    weft_shm_array *a2;
    weft_shm_value *v2;
    weft_shm_arena *ar;
    void *r2;
    weft_pevent *e;
    CHECK_ERR(weft_shm_array_attach(&a2, vn), -EPROTOTYPE);
    CHECK_ERR(weft_shm_value_attach(&v2, an), -EPROTOTYPE);
    CHECK_ERR(weft_shm_attach(&r2, vn, NULL), -EPROTOTYPE);
    CHECK_ERR(weft_shm_arena_attach(&ar, rn), -EPROTOTYPE);
    CHECK_ERR(weft_pevent_attach(&e, an), -EPROTOTYPE);
    CHECK_ERR(weft_shm_detach(v), -EINVAL); /* not a raw object */
    CHECK_OK(weft_shm_value_destroy(v));
    CHECK_OK(weft_shm_array_destroy(a));
    CHECK_OK(weft_shm_detach(r));
    CHECK_OK(weft_shm_unlink(vn));
    CHECK_OK(weft_shm_unlink(an));
    CHECK_OK(weft_shm_unlink(rn));
}

/* The ready flag: an object its creator has not made ready yet is waited for,
 * up to the deadline. */
struct ready_arg {
    char name[64];
    int fds[2];
};
static void ready_child(void *arg) {
    struct ready_arg *ra = arg;
    void *p;
    CHECK_ERR(weft__named_attach_until(ra->name, WEFT__NK_RAW, &p, NULL, weft_after(20 * WEFT_MSEC)),
              -ETIMEDOUT);
    char c = 'w';
    CHECK_EQ(write(ra->fds[1], &c, 1), 1);
    size_t size;
    CHECK_OK(weft__named_attach_until(ra->name, WEFT__NK_RAW, &p, &size, weft_after(20 * WEFT_SEC)));
    CHECK_EQ(size, (size_t)100);
    CHECK_EQ(((int *)p)[0], 42); /* initialised before ready */
    CHECK_OK(weft__named_detach(p));
}
WEFT_TEST(named_ready_flag) {
    struct ready_arg *ra = mmap(NULL, sizeof *ra, PROT_READ | PROT_WRITE,
                                MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    CHECK(ra != MAP_FAILED);
    name_of(ra->name, "ready");
    CHECK_OK(pipe(ra->fds));
    void *p;
    CHECK_OK(weft__named_create(ra->name, WEFT__NK_RAW, 100, &p));
    CHECK_EQ(weft__named_kind_of(p), (uint32_t)WEFT__NK_RAW);
    CHECK_EQ(weft__named_size_of(p), (size_t)100);
    pid_t c = test_fork_child(ready_child, ra);
    char ch;
    CHECK_EQ(read(ra->fds[0], &ch, 1), 1);
    usleep(20000); /* the child is (very likely) waiting on the flag now */
    ((int *)p)[0] = 42;
    weft__named_ready(p);
    CHECK_EQ(test_reap(c), 0);
    CHECK_OK(weft__named_detach(p));
    CHECK_OK(weft_shm_unlink(ra->name));
    /* A creator that gives up removes the name. */
    CHECK_OK(weft__named_create(ra->name, WEFT__NK_RAW, 100, &p));
    weft__named_abort(p, ra->name);
    CHECK_ERR(weft_shm_attach(&p, ra->name, NULL), -ENOENT);
    /* Internal bad input. */
    CHECK_ERR(weft__named_create(ra->name, 0, 100, &p), -EINVAL);
    CHECK_ERR(weft__named_create(ra->name, WEFT__NK_RAW, 100, NULL), -EINVAL);
    CHECK_ERR(weft__named_attach(ra->name, 0, &p, NULL), -EINVAL);
    CHECK_ERR(weft__named_detach(NULL), -EINVAL);
    CHECK_ERR(weft__shm_map_anon(0, &p), -EINVAL);
    CHECK_ERR(weft__shm_map_anon(10, NULL), -EINVAL);
    CHECK_OK(weft__shm_map_anon(10, &p));
    weft__shm_unmap_anon(p, 10);
    close(ra->fds[0]);
    close(ra->fds[1]);
}

/* Attach from a program started with exec: this test program itself, run with
 * WEFT_SHM_PEER set, attaches, checks and writes, then exits. */
WEFT_TEST(named_exec_peer) {
    SKIP_UNLESS_EXEC_SELF();
    SKIP_UNLESS_ROBUST_PSHARED_MUTEX();
    const char *peer = getenv("WEFT_SHM_PEER");
    if (peer) { /* the exec'd side */
        weft_shm_value *v;
        CHECK_OK(weft_shm_value_attach(&v, peer));
        int64_t x;
        CHECK_OK(weft_shm_value_get(v, &x));
        CHECK_EQ(x, 1234);
        x = 5678;
        CHECK_OK(weft_shm_value_set(v, &x));
        CHECK_OK(weft_shm_value_destroy(v));
        return;
    }
    char name[64];
    name_of(name, "exec");
    weft_shm_value *v;
    CHECK_OK(weft_shm_value_create_named(&v, name, sizeof(int64_t), WEFT_SHM_LOCKED));
    int64_t x = 1234;
    CHECK_OK(weft_shm_value_set(v, &x));
    fflush(NULL);
    pid_t c = fork();
    CHECK_GE(c, 0);
    if (c == 0) {
        setenv("WEFT_SHM_PEER", name, 1);
        execl("/proc/self/exe", "test_shm", "named_exec_peer", (char *)NULL);
        _exit(127);
    }
    CHECK_EQ(test_reap(c), 0);
    CHECK_OK(weft_shm_value_get(v, &x));
    CHECK_EQ(x, 5678);
    CHECK_OK(weft_shm_value_destroy(v));
    CHECK_OK(weft_shm_unlink(name));
}

/* ------------------------------------------------------------------ arenas */

WEFT_TEST(arena_alloc_free) {
    SKIP_UNLESS_ROBUST_PSHARED_MUTEX();
    weft_shm_arena *a;
    CHECK_ERR(weft_shm_arena_create(NULL, 100), -EINVAL);
    CHECK_ERR(weft_shm_arena_create(&a, 0), -EINVAL);
    CHECK_ERR(weft_shm_arena_create(&a, WEFT__MAX_BYTES + 1), -EINVAL);
    CHECK_OK(weft_shm_arena_create(&a, 64 * 1024));
    CHECK_EQ(weft_shm_arena_used(a), 0);
    CHECK(weft_shm_alloc(a, 0) == NULL);
    CHECK(weft_shm_alloc(NULL, 10) == NULL);
    CHECK(weft_shm_alloc(a, 1 << 20) == NULL);
    char *p[64];
    for (int i = 0; i < 64; i++) {
        p[i] = weft_shm_alloc(a, 100 + i);
        CHECK(p[i] != NULL);
        CHECK_EQ((uintptr_t)p[i] % 16, 0u);
        for (int j = 0; j < 100 + i; j++)
            CHECK_EQ(p[i][j], 0);
        memset(p[i], i + 1, 100 + i);
    }
    for (int i = 0; i < 64; i++)
        for (int j = 0; j < 100 + i; j++)
            CHECK_EQ(p[i][j], (char)(i + 1)); /* no overlap */
    CHECK_GT(weft_shm_arena_used(a), 64 * 100);
    /* Free every other one, then the rest: everything coalesces back. */
    for (int i = 0; i < 64; i += 2)
        CHECK_OK(weft_shm_free(a, p[i]));
    CHECK_ERR(weft_shm_free(a, p[0]), -EINVAL); /* double free */
    CHECK_ERR(weft_shm_free(a, p[1] + 16), -EINVAL); /* not a block */
    CHECK_ERR(weft_shm_free(a, p[1] + 1), -EINVAL);
    int stack;
    CHECK_ERR(weft_shm_free(a, &stack), -EINVAL);
    CHECK_ERR(weft_shm_free(a, NULL), -EINVAL);
    CHECK_ERR(weft_shm_free(NULL, p[1]), -EINVAL);
    for (int i = 1; i < 64; i += 2)
        CHECK_OK(weft_shm_free(a, p[i]));
    CHECK_EQ(weft_shm_arena_used(a), 0);
    /* One block as large as the whole arena fits again. */
    void *big = weft_shm_alloc(a, 64 * 1024);
    CHECK(big != NULL);
    CHECK(weft_shm_alloc(a, 16) == NULL);
    int64_t off = weft_shm_offset(a, big);
    CHECK_GT(off, 0);
    CHECK(weft_shm_ptr(a, off) == big);
    CHECK_ERR(weft_shm_offset(a, &stack), -EINVAL);
    CHECK(weft_shm_ptr(a, 0) == NULL);
    CHECK(weft_shm_ptr(a, 1 << 30) == NULL);
    CHECK_OK(weft_shm_free(a, big));
    CHECK_OK(weft_shm_arena_destroy(a));
    CHECK_ERR(weft_shm_arena_destroy(NULL), -EINVAL);
    CHECK_EQ(weft_shm_arena_used(NULL), -EINVAL);
}

/* Children allocate, write, and free in one arena at the same time; blocks
 * handed between processes by address (forked: same mapping address). */
struct arena_arg {
    weft_shm_arena *a;
    int id;
};
static void arena_worker(void *arg) {
    struct arena_arg *aa = arg;
    char *mine[32] = {0};
    for (int round = 0; round < 300; round++) {
        int k = round % 32;
        if (mine[k]) {
            for (int j = 0; j < 48; j++)
                CHECK_EQ(mine[k][j], (char)aa->id);
            CHECK_OK(weft_shm_free(aa->a, mine[k]));
        }
        mine[k] = weft_shm_alloc(aa->a, 48 + (round % 5) * 40);
        CHECK(mine[k] != NULL);
        memset(mine[k], aa->id, 48);
    }
    for (int k = 0; k < 32; k++)
        CHECK_OK(weft_shm_free(aa->a, mine[k]));
}
WEFT_TEST(arena_processes) {
    SKIP_UNLESS_ROBUST_PSHARED_MUTEX();
    weft_shm_arena *a;
    CHECK_OK(weft_shm_arena_create(&a, 1 << 20));
    struct arena_arg args[4];
    pid_t kids[4];
    for (int i = 0; i < 4; i++) {
        args[i] = (struct arena_arg){a, i + 1};
        kids[i] = test_fork_child(arena_worker, &args[i]);
    }
    for (int i = 0; i < 4; i++)
        CHECK_EQ(test_reap(kids[i]), 0);
    CHECK_EQ(weft_shm_arena_used(a), 0);
    CHECK(weft_shm_alloc(a, (1 << 20) - 64) != NULL); /* fully coalesced */
    CHECK_OK(weft_shm_arena_destroy(a));
    CHECK_NO_ZOMBIES();
}

/* A process dies holding the arena's lock in the middle of an update: the next
 * caller repairs the free list by walking the blocks. (White-box: the child
 * takes the lock itself and leaves a free block unlinked.) */
struct arena_hdr_view {
    _Atomic uint32_t magic;
    uint32_t named;
    uint64_t size, first, free_head, used;
    weft__rmutex m;
};
static void arena_die_inside(void *arg) {
    weft_shm_arena *a = arg;
    struct arena_hdr_view *h = (struct arena_hdr_view *)(void *)a;
    CHECK_OK(weft__rmutex_lock(&h->m, WEFT_FOREVER));
    h->free_head = 0; /* as if cut off mid-update */
    h->used = 12345;
    kill(getpid(), SIGKILL);
}
WEFT_TEST(arena_owner_killed) {
    SKIP_UNLESS_ROBUST_FUTEX();
    SKIP_UNLESS_ROBUST_PSHARED_MUTEX();
    weft_shm_arena *a;
    CHECK_OK(weft_shm_arena_create(&a, 16 * 1024));
    void *x = weft_shm_alloc(a, 1000);
    void *y = weft_shm_alloc(a, 1000);
    CHECK(x && y);
    CHECK_OK(weft_shm_free(a, x));
    pid_t c = test_fork_child(arena_die_inside, a);
    CHECK_EQ(test_reap(c), 1000 + SIGKILL);
    void *z = weft_shm_alloc(a, 1000); /* repairs, then allocates the freed block */
    CHECK(z == x);
    CHECK_OK(weft_shm_free(a, y));
    CHECK_OK(weft_shm_free(a, z));
    CHECK_EQ(weft_shm_arena_used(a), 0);
    CHECK(weft_shm_alloc(a, 16 * 1024) != NULL);
    CHECK_OK(weft_shm_arena_destroy(a));
}

/* A named arena in an unrelated-style attach: offsets are what crosses. */
struct narena_arg {
    char name[64];
    int64_t off;
};
static void narena_child(void *arg) {
    struct narena_arg *na = arg;
    weft_shm_arena *a;
    CHECK_OK(weft_shm_arena_attach(&a, na->name));
    char *p = weft_shm_ptr(a, na->off);
    CHECK(p != NULL);
    CHECK_STR_EQ(p, "parent block");
    char *q = weft_shm_alloc(a, 64);
    CHECK(q != NULL);
    strcpy(q, "child block");
    na->off = weft_shm_offset(a, q);
    CHECK_OK(weft_shm_free(a, p));
    CHECK_OK(weft_shm_arena_destroy(a));
}
WEFT_TEST(arena_named) {
    SKIP_UNLESS_ROBUST_PSHARED_MUTEX();
    struct narena_arg *na = mmap(NULL, sizeof *na, PROT_READ | PROT_WRITE,
                                 MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    CHECK(na != MAP_FAILED);
    name_of(na->name, "arena");
    weft_shm_arena *a, *b;
    CHECK_ERR(weft_shm_arena_create_named(&a, na->name, 0), -EINVAL);
    CHECK_OK(weft_shm_arena_create_named(&a, na->name, 8192));
    CHECK_ERR(weft_shm_arena_create_named(&b, na->name, 8192), -EEXIST);
    char *p = weft_shm_alloc(a, 64);
    strcpy(p, "parent block");
    na->off = weft_shm_offset(a, p);
    pid_t c = test_fork_child(narena_child, na);
    CHECK_EQ(test_reap(c), 0);
    CHECK_STR_EQ((char *)weft_shm_ptr(a, na->off), "child block");
    CHECK_OK(weft_shm_free(a, weft_shm_ptr(a, na->off)));
    CHECK_EQ(weft_shm_arena_used(a), 0);
    CHECK_OK(weft_shm_arena_destroy(a));
    CHECK_OK(weft_shm_unlink(na->name));
}

/* ------------------------------------------------------------------ values and arrays */

struct incr_arg {
    weft_shm_value *v;
    weft_shm_array *arr;
};
static void incr_child(void *arg) {
    struct incr_arg *ia = arg;
    weft_plock *l = weft_shm_value_lock(ia->v);
    for (int i = 0; i < 2000; i++) {
        CHECK_OK(weft_plock_acquire(l, weft_after(20 * WEFT_SEC)));
        int64_t *x = weft_shm_value_data(ia->v);
        int64_t y = *x;
        if (i % 100 == 0)
            sched_yield();
        *x = y + 1;
        CHECK_OK(weft_plock_release(l));
    }
    for (size_t i = 0; i < weft_shm_array_len(ia->arr); i++) {
        weft_plock *al = weft_shm_array_lock(ia->arr);
        CHECK_OK(weft_plock_acquire(al, WEFT_FOREVER));
        int32_t e;
        CHECK_ERR(weft_shm_array_get(ia->arr, i, &e), -EDEADLK); /* holds it */
        int32_t *d = weft_shm_array_data(ia->arr);
        d[i] += (int32_t)i;
        CHECK_OK(weft_plock_release(al));
    }
}
static void value_array_in(weft_shm_arena *arena) {
    struct incr_arg ia;
    CHECK_OK(weft_shm_value_create(&ia.v, arena, sizeof(int64_t), WEFT_SHM_LOCKED));
    CHECK_OK(weft_shm_array_create(&ia.arr, arena, sizeof(int32_t), 100, WEFT_SHM_LOCKED));
    CHECK_EQ(weft_shm_value_size(ia.v), sizeof(int64_t));
    CHECK_EQ(weft_shm_array_len(ia.arr), (size_t)100);
    CHECK_EQ(weft_shm_array_elem_size(ia.arr), sizeof(int32_t));
    CHECK_EQ((uintptr_t)weft_shm_array_data(ia.arr) % 64, 0u);
    pid_t kids[3];
    for (int i = 0; i < 3; i++)
        kids[i] = test_fork_child(incr_child, &ia);
    for (int i = 0; i < 3; i++)
        CHECK_EQ(test_reap(kids[i]), 0);
    int64_t x;
    CHECK_OK(weft_shm_value_get(ia.v, &x));
    CHECK_EQ(x, 6000);
    for (size_t i = 0; i < 100; i++) {
        int32_t e;
        CHECK_OK(weft_shm_array_get(ia.arr, i, &e));
        CHECK_EQ(e, (int32_t)(3 * i));
    }
    int32_t e = 7;
    CHECK_OK(weft_shm_array_set(ia.arr, 99, &e));
    CHECK_EQ(((int32_t *)weft_shm_array_data(ia.arr))[99], 7);
    CHECK_ERR(weft_shm_array_set(ia.arr, 100, &e), -ERANGE);
    CHECK_ERR(weft_shm_array_get(ia.arr, 100, &e), -ERANGE);
    CHECK_ERR(weft_shm_array_get(ia.arr, 0, NULL), -EINVAL);
    CHECK_ERR(weft_shm_value_get(ia.v, NULL), -EINVAL);
    /* A value is not an array and the other way round. */
    CHECK(weft_shm_array_data((weft_shm_array *)(void *)ia.v) == NULL);
    CHECK(weft_shm_value_data((weft_shm_value *)(void *)ia.arr) == NULL);
    CHECK_ERR(weft_shm_array_destroy((weft_shm_array *)(void *)ia.v), -EINVAL);
    CHECK_OK(weft_shm_value_destroy(ia.v));
    CHECK_OK(weft_shm_array_destroy(ia.arr));
}

WEFT_TEST(value_array_anonymous) {
    SKIP_UNLESS_ROBUST_PSHARED_MUTEX();
    value_array_in(NULL);
    CHECK_NO_ZOMBIES();
}

WEFT_TEST(value_array_in_arena) {
    SKIP_UNLESS_ROBUST_PSHARED_MUTEX();
    weft_shm_arena *a;
    CHECK_OK(weft_shm_arena_create(&a, 64 * 1024));
    value_array_in(a);
    CHECK_EQ(weft_shm_arena_used(a), 0); /* destroy gave the blocks back */
    CHECK_OK(weft_shm_arena_destroy(a));
    CHECK_NO_ZOMBIES();
}

WEFT_TEST(value_array_bad_input) {
    SKIP_UNLESS_ROBUST_PSHARED_MUTEX();
    weft_shm_value *v;
    weft_shm_array *a;
    CHECK_ERR(weft_shm_value_create(NULL, NULL, 8, 0), -EINVAL);
    CHECK_ERR(weft_shm_value_create(&v, NULL, 0, 0), -EINVAL);
    CHECK_ERR(weft_shm_value_create(&v, NULL, 8, 2), -EINVAL); /* unknown flag */
    CHECK_ERR(weft_shm_array_create(&a, NULL, 8, 0, 0), -EINVAL);
    CHECK_ERR(weft_shm_array_create(&a, NULL, SIZE_MAX / 2, 4, 0), -EINVAL);
    weft_shm_arena *ar;
    CHECK_OK(weft_shm_arena_create(&ar, 1024));
    CHECK_ERR(weft_shm_array_create(&a, ar, 8, 1000, 0), -ENOMEM); /* no room */
    CHECK_OK(weft_shm_arena_destroy(ar));
    CHECK_ERR(weft_shm_array_create_named(&a, "a/b", 8, 1, 0), -EINVAL);
    CHECK_ERR(weft_shm_value_attach(NULL, "/x"), -EINVAL);
    /* Without a lock: no lock object, plain copies. */
    CHECK_OK(weft_shm_value_create(&v, NULL, 3, 0));
    CHECK(weft_shm_value_lock(v) == NULL);
    char in[3] = {1, 2, 3}, out[3] = {0};
    CHECK_OK(weft_shm_value_set(v, in));
    CHECK_OK(weft_shm_value_get(v, out));
    CHECK_EQ(memcmp(in, out, 3), 0);
    CHECK_OK(weft_shm_value_destroy(v));
    CHECK_ERR(weft_shm_value_destroy(NULL), -EINVAL);
    CHECK_ERR(weft_shm_array_destroy(NULL), -EINVAL);
    CHECK(weft_shm_array_lock(NULL) == NULL);
    CHECK_EQ(weft_shm_array_len(NULL), (size_t)0);
    CHECK_EQ(weft_shm_value_size(NULL), (size_t)0);
    CHECK_ERR(weft_shm_value_set(NULL, in), -EINVAL);
}

/* A named array, attached by a child; the lock inside a named object. */
static void narray_child(void *arg) {
    const char *name = arg;
    weft_shm_array *a;
    CHECK_OK(weft_shm_array_attach(&a, name));
    CHECK_EQ(weft_shm_array_len(a), (size_t)16);
    for (size_t i = 0; i < 16; i++) {
        double d;
        CHECK_OK(weft_shm_array_get(a, i, &d));
        d *= 2;
        CHECK_OK(weft_shm_array_set(a, i, &d));
    }
    CHECK_OK(weft_shm_array_destroy(a));
}
WEFT_TEST(array_named) {
    SKIP_UNLESS_ROBUST_PSHARED_MUTEX();
    char name[64];
    name_of(name, "narray");
    weft_shm_array *a, *b;
    CHECK_OK(weft_shm_array_create_named(&a, name, sizeof(double), 16, WEFT_SHM_LOCKED));
    CHECK_ERR(weft_shm_array_create_named(&b, name, sizeof(double), 16, 0), -EEXIST);
    for (size_t i = 0; i < 16; i++) {
        double d = (double)i + 0.5;
        CHECK_OK(weft_shm_array_set(a, i, &d));
    }
    pid_t c = test_fork_child(narray_child, name);
    CHECK_EQ(test_reap(c), 0);
    for (size_t i = 0; i < 16; i++) {
        double d;
        CHECK_OK(weft_shm_array_get(a, i, &d));
        CHECK(d == 2 * ((double)i + 0.5));
    }
    CHECK_OK(weft_shm_array_destroy(a));
    CHECK_OK(weft_shm_unlink(name));
    CHECK_NO_ZOMBIES();
}

/* A process killed holding a value's lock: get/set recover and go on. */
static void value_hold_die(void *arg) {
    weft_shm_value *v = arg;
    CHECK_OK(weft_plock_acquire(weft_shm_value_lock(v), WEFT_FOREVER));
    kill(getpid(), SIGKILL);
}
WEFT_TEST(value_lock_owner_killed) {
    SKIP_UNLESS_ROBUST_FUTEX();
    SKIP_UNLESS_ROBUST_PSHARED_MUTEX();
    weft_shm_value *v;
    CHECK_OK(weft_shm_value_create(&v, NULL, sizeof(int), WEFT_SHM_LOCKED));
    pid_t c = test_fork_child(value_hold_die, v);
    CHECK_EQ(test_reap(c), 1000 + SIGKILL);
    int x = 9;
    CHECK_OK(weft_shm_value_set(v, &x));
    x = 0;
    CHECK_OK(weft_shm_value_get(v, &x));
    CHECK_EQ(x, 9);
    CHECK_EQ(weft_plock_locked(weft_shm_value_lock(v)), 0);
    CHECK_OK(weft_shm_value_destroy(v));
}



WEFT_MAIN()

/* ------------------------------------------------------------------ names, half-made objects */

/* Names shm_open would misread (".", ".." name the directory itself) or
 * reject: -EINVAL from every named constructor, attach and unlink; too long:
 * -ENAMETOOLONG. */
static int sweep_one(const char *n) {
    void *p;
    weft_shm_arena *ar;
    weft_shm_array *a;
    weft_shm_value *v;
    weft_plock *l;
    weft_prlock *rl;
    weft_psem *s;
    weft_pevent *e;
    weft_pcond *c;
    weft_pbarrier *b;
    weft_pqueue *q;
    int r[] = {
        weft_shm_create(&p, n, 64),
        weft_shm_attach(&p, n, NULL),
        weft_shm_arena_create_named(&ar, n, 4096),
        weft_shm_arena_attach(&ar, n),
        weft_shm_array_create_named(&a, n, 4, 4, 0),
        weft_shm_array_attach(&a, n),
        weft_shm_value_create_named(&v, n, 8, 0),
        weft_shm_value_attach(&v, n),
        weft_plock_create_named(&l, n),
        weft_plock_attach(&l, n),
        weft_prlock_create_named(&rl, n),
        weft_prlock_attach(&rl, n),
        weft_psem_create_named(&s, n, 1, 0),
        weft_psem_attach(&s, n),
        weft_pevent_create_named(&e, n),
        weft_pevent_attach(&e, n),
        weft_pcond_create_named(&c, n),
        weft_pcond_attach(&c, n),
        weft_pbarrier_create_named(&b, n, 2),
        weft_pbarrier_attach(&b, n),
        weft_pqueue_create_named(&q, n, WEFT_QUEUE_FIFO, 64, 4),
        weft_pqueue_open(&q, n, weft_after(WEFT_SEC)),
        weft_pqueue_unlink(n),
        weft_shm_unlink(n),
    };
    for (size_t i = 1; i < sizeof r / sizeof r[0]; i++)
        if (r[i] != r[0]) {
            fprintf(stderr, "name \"%s\": call %zu gave %d, call 0 gave %d\n", n, i, r[i], r[0]);
            return 1;
        }
    return r[0];
}

WEFT_TEST(named_names_sweep) {
    static const char *const bad[] = {"",    "/",   ".",   "..", "/.",   "/..", "//",
                                      "//a", "a/b", "/a/", "a/", "/./a", "../a"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        errno = 0;
        CHECK_EQ(sweep_one(bad[i]), -EINVAL);
    }
    char longname[252];
    memset(longname, 'a', sizeof longname - 1);
    longname[sizeof longname - 1] = 0; /* 251 bytes */
    CHECK_EQ(sweep_one(longname), -ENAMETOOLONG);
    /* 250 bytes, and a dotted name that is not "." or "..", are good names. */
    longname[250] = 0;
    void *p;
    CHECK_OK(weft_shm_create(&p, longname, 64));
    CHECK_OK(weft_shm_detach(p));
    CHECK_OK(weft_shm_unlink(longname));
    char dotted[64];
    snprintf(dotted, sizeof dotted, "...weft_test_%d", (int)getpid());
    CHECK_OK(weft_shm_create(&p, dotted, 64));
    CHECK_OK(weft_shm_detach(p));
    CHECK_OK(weft_shm_unlink(dotted));
}

/* A creator killed at each step of creation (and a reclaimer killed at each
 * step of reclaiming): the next create of the name succeeds, an attach
 * meanwhile does not wait past its deadline, and after the unlink no name
 * is left in /dev/shm. */
struct kill_arg {
    char name[64];
    int step;
    int fds[2];
};
static struct kill_arg *kill_now;
static void stop_here(int step) {
    if (step != kill_now->step)
        return;
    char c = 's';
    if (write(kill_now->fds[1], &c, 1) != 1)
        _exit(3);
    for (;;)
        pause();
}
static void kill_child(void *arg) {
    kill_now = arg;
    weft__named_test_stop = stop_here;
    weft_plock *l;
    weft_plock_create_named(&l, kill_now->name);
    _exit(2); /* never reached for the steps tested */
}
/* Runs a creator that stops at `step` and kills it there. */
static void kill_at(struct kill_arg *ka, int step) {
    ka->step = step;
    pid_t c = test_fork_child(kill_child, ka);
    char ch;
    CHECK_EQ(read(ka->fds[0], &ch, 1), 1);
    CHECK_OK(kill(c, SIGKILL));
    CHECK_EQ(test_reap(c), 1000 + SIGKILL);
}
static int shm_name_exists(const char *name) {
    char fs[128];
    snprintf(fs, sizeof fs, "/dev/shm%s", name);
    return access(fs, F_OK) == 0;
}

WEFT_TEST(named_killed_mid_create) {
    SKIP_UNLESS_ROBUST_PSHARED_MUTEX();
    struct kill_arg *ka = test_shared_mem(sizeof *ka);
    name_of(ka->name, "killed");
    CHECK_OK(pipe(ka->fds));
    static const int steps[] = {1, 2, 3, 4, 5};
    for (size_t i = 0; i < sizeof steps / sizeof steps[0]; i++) {
        int step = steps[i];
        kill_at(ka, step);
        /* Before step 4 no name was made; from it on, a half-made one. */
        CHECK_EQ(shm_name_exists(ka->name), step >= 4);
        weft_plock *l, *l2;
        int64_t t0 = weft_now();
        CHECK_ERR(weft__named_attach_until(ka->name, WEFT__NK_LOCK, (void **)&l, NULL,
                                           weft_after(10 * WEFT_SEC)),
                  -ENOENT);
        CHECK_LT(weft_now() - t0, 5 * WEFT_SEC);
        CHECK_OK(weft_plock_create_named(&l, ka->name));
        CHECK_OK(weft_plock_attach(&l2, ka->name));
        CHECK_EQ(weft_plock_locked(l), 0);
        CHECK_OK(weft_plock_acquire(l2, WEFT_FOREVER));
        CHECK_EQ(weft_plock_locked(l), 1); /* one object, not two */
        CHECK_OK(weft_plock_release(l2));
        CHECK_OK(weft_plock_detach(l2));
        CHECK_OK(weft_plock_detach(l));
        CHECK_OK(weft_shm_unlink(ka->name));
        CHECK(!shm_name_exists(ka->name));
    }
    /* A reclaimer killed holding the old object's lock (20), and after it
     * removed the old name (21): the next creator still succeeds. */
    for (int step = 20; step <= 21; step++) {
        kill_at(ka, 5);
        kill_at(ka, step);
        weft_plock *l;
        CHECK_OK(weft_plock_create_named(&l, ka->name));
        CHECK_OK(weft_plock_detach(l));
        CHECK_OK(weft_shm_unlink(ka->name));
        CHECK(!shm_name_exists(ka->name));
    }
    close(ka->fds[0]);
    close(ka->fds[1]);
    munmap(ka, sizeof *ka);
}

/* Creators racing for an abandoned name: exactly one wins, the others see
 * -EEXIST; an attacher that was waiting on the abandoned object ends up with
 * the winner's object or with -ENOENT, never with another object. */
struct race_arg {
    char name[64];
    weft_pbarrier start;
    _Atomic int wins, eexist, other;
};
static void race_child(void *arg) {
    struct race_arg *ra = arg;
    weft_pbarrier_wait(&ra->start, weft_after(20 * WEFT_SEC));
    weft_shm_value *v;
    int r = weft_shm_value_create_named(&v, ra->name, sizeof(int), 0);
    if (r == 0) {
        int mine = (int)getpid();
        CHECK_OK(weft_shm_value_set(v, &mine));
        ra->wins++;
        CHECK_OK(weft_shm_value_destroy(v));
    } else if (r == -EEXIST) {
        ra->eexist++;
    } else {
        ra->other++;
    }
}
WEFT_TEST(named_reclaim_race) {
    SKIP_UNLESS_ROBUST_FUTEX();
    struct race_arg *ra = test_shared_mem(sizeof *ra);
    struct kill_arg *ka = test_shared_mem(sizeof *ka);
    CHECK_OK(pipe(ka->fds));
    name_of(ka->name, "race");
    snprintf(ra->name, sizeof ra->name, "%s", ka->name);
    for (int round = 0; round < 20; round++) {
        kill_at(ka, 5); /* a half-made lock... */
        CHECK_OK(weft_shm_unlink(ka->name));
        /* ...and a half-made value under the racers' name. */
        ka->step = 5;
        pid_t c = fork();
        CHECK_GE(c, 0);
        if (c == 0) {
            kill_now = ka;
            weft__named_test_stop = stop_here;
            weft_shm_value *v;
            weft_shm_value_create_named(&v, ka->name, sizeof(int), 0);
            _exit(2);
        }
        char ch;
        CHECK_EQ(read(ka->fds[0], &ch, 1), 1);
        CHECK_OK(kill(c, SIGKILL));
        CHECK_EQ(test_reap(c), 1000 + SIGKILL);
        ra->wins = ra->eexist = ra->other = 0;
        CHECK_OK(weft_pbarrier_init(&ra->start, 3));
        pid_t k1 = test_fork_child(race_child, ra), k2 = test_fork_child(race_child, ra),
              k3 = test_fork_child(race_child, ra);
        CHECK_EQ(test_reap(k1), 0);
        CHECK_EQ(test_reap(k2), 0);
        CHECK_EQ(test_reap(k3), 0);
        CHECK_EQ(ra->wins, 1);
        CHECK_EQ(ra->eexist, 2);
        CHECK_EQ(ra->other, 0);
        weft_shm_value *v;
        CHECK_OK(weft_shm_value_attach(&v, ra->name));
        int who = 0;
        CHECK_OK(weft_shm_value_get(v, &who));
        CHECK(who == (int)k1 || who == (int)k2 || who == (int)k3);
        CHECK_OK(weft_shm_value_destroy(v));
        CHECK_OK(weft_shm_unlink(ra->name));
    }
    close(ka->fds[0]);
    close(ka->fds[1]);
}

/* An attacher waiting on an object whose creator is alive but not done,
 * when the creator is killed and another creator re-makes the name: it gets
 * -ENOENT or the new object (its content proves which), in bounded time. */
struct waiter_arg {
    char name[64];
    _Atomic int started;
    int result, seen;
};
static void waiter_child(void *arg) {
    struct waiter_arg *wa = arg;
    wa->started = 1;
    void *p;
    wa->result =
        weft__named_attach_until(wa->name, WEFT__NK_RAW, &p, NULL, weft_after(20 * WEFT_SEC));
    if (wa->result == 0) {
        wa->seen = *(int *)p;
        CHECK_OK(weft__named_detach(p));
    }
}
static void raw_stop_child(void *arg) {
    kill_now = arg;
    weft__named_test_stop = stop_here;
    void *p;
    if (weft__named_create(kill_now->name, WEFT__NK_RAW, 64, &p) == 0)
        weft__named_ready(p);
    _exit(2);
}
WEFT_TEST(named_waiter_of_abandoned) {
    struct kill_arg *ka = test_shared_mem(sizeof *ka);
    struct waiter_arg *wa = test_shared_mem(sizeof *wa);
    CHECK_OK(pipe(ka->fds));
    name_of(ka->name, "waiter");
    snprintf(wa->name, sizeof wa->name, "%s", ka->name);
    ka->step = 5;
    pid_t c = test_fork_child(raw_stop_child, ka);
    char ch;
    CHECK_EQ(read(ka->fds[0], &ch, 1), 1);
    pid_t w = test_fork_child(waiter_child, wa);
    while (!wa->started)
        weft_sleep(WEFT_MSEC);
    CHECK_OK(kill(c, SIGKILL));
    CHECK_EQ(test_reap(c), 1000 + SIGKILL);
    void *p;
    CHECK_OK(weft__named_create(ka->name, WEFT__NK_RAW, 64, &p));
    *(int *)p = 4242;
    weft__named_ready(p);
    int64_t t0 = weft_now();
    CHECK_EQ(test_reap(w), 0);
    CHECK_LT(weft_now() - t0, 5 * WEFT_SEC);
    CHECK(wa->result == -ENOENT || (wa->result == 0 && wa->seen == 4242));
    CHECK_OK(weft__named_detach(p));
    CHECK_OK(weft_shm_unlink(ka->name));
    close(ka->fds[0]);
    close(ka->fds[1]);
}

/* A second destroy of a named or anonymous arena, array or value (its
 * memory unmapped by the first) is -EINVAL, not a fault; so is a destroy of
 * a named object through the wrong kind, and of a page start that is not
 * an object. */
WEFT_TEST(destroy_twice) {
    SKIP_UNLESS_ROBUST_PSHARED_MUTEX();
    char an[64], rn[64], vn[64];
    name_of(an, "d_arena");
    name_of(rn, "d_array");
    name_of(vn, "d_value");
    weft_shm_arena *ar, *anon;
    weft_shm_array *a, *aa;
    weft_shm_value *v, *va;
    CHECK_OK(weft_shm_arena_create_named(&ar, an, 4096));
    CHECK_OK(weft_shm_array_create_named(&a, rn, 4, 8, WEFT_SHM_LOCKED));
    CHECK_OK(weft_shm_value_create_named(&v, vn, 8, 0));
    CHECK_OK(weft_shm_arena_create(&anon, 4096));
    CHECK_OK(weft_shm_array_create(&aa, NULL, 4, 8, 0));
    CHECK_OK(weft_shm_value_create(&va, NULL, 8, 0));
    CHECK_ERR(weft_shm_array_destroy((weft_shm_array *)(void *)v), -EINVAL);
    CHECK_ERR(weft_shm_value_destroy((weft_shm_value *)(void *)a), -EINVAL);
    CHECK_ERR(weft_shm_arena_destroy((weft_shm_arena *)(void *)a), -EINVAL);
    CHECK_OK(weft_shm_arena_destroy(ar));
    CHECK_ERR(weft_shm_arena_destroy(ar), -EINVAL);
    CHECK_OK(weft_shm_array_destroy(a));
    CHECK_ERR(weft_shm_array_destroy(a), -EINVAL);
    CHECK_OK(weft_shm_value_destroy(v));
    CHECK_ERR(weft_shm_value_destroy(v), -EINVAL);
    CHECK_OK(weft_shm_arena_destroy(anon));
    CHECK_ERR(weft_shm_arena_destroy(anon), -EINVAL);
    CHECK_OK(weft_shm_array_destroy(aa));
    CHECK_ERR(weft_shm_array_destroy(aa), -EINVAL);
    CHECK_OK(weft_shm_value_destroy(va));
    CHECK_ERR(weft_shm_value_destroy(va), -EINVAL);
    /* Process queues, named and anonymous, closed twice. */
    weft_pqueue *q, *qa;
    char qn[64];
    name_of(qn, "d_queue");
    CHECK_OK(weft_pqueue_create_named(&q, qn, WEFT_QUEUE_FIFO, 64, 4));
    CHECK_OK(weft_pqueue_create(&qa, WEFT_QUEUE_FIFO, 64, 4));
    CHECK_OK(weft_pqueue_close(q));
    CHECK_ERR(weft_pqueue_close(q), -EINVAL);
    CHECK_OK(weft_pqueue_close(qa));
    CHECK_ERR(weft_pqueue_close(qa), -EINVAL);
    CHECK_OK(weft_pqueue_unlink(qn));
    size_t pg = (size_t)sysconf(_SC_PAGESIZE);
    char *two = mmap(NULL, 2 * pg, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    CHECK(two != MAP_FAILED);
    CHECK_OK(munmap(two, pg));
    CHECK_ERR(weft_shm_arena_destroy((weft_shm_arena *)(void *)(two + pg)), -EINVAL);
    CHECK_ERR(weft_shm_array_destroy((weft_shm_array *)(void *)(two + pg)), -EINVAL);
    CHECK_OK(munmap(two + pg, pg));
    CHECK_OK(weft_shm_unlink(an));
    CHECK_OK(weft_shm_unlink(rn));
    CHECK_OK(weft_shm_unlink(vn));
}
