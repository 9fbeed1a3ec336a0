/* Named shared-memory objects (shm_open) with a checked header, the
 * process-local registry of the named mappings, and anonymous shared
 * mappings. See shm/named.h. */
#include "shm/named.h"

#include <fcntl.h>
#include <pthread.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define NAMED_MAGIC 0x77656674u /* "weft" */
#define NAMED_VERSION 1u
#define NAMED_READY 1u
#define NAMED_DEAD 2u /* abandoned (creator died or gave up); name removed */
#define NAMED_MAX_SIZE WEFT__MAX_BYTES
/* How long an attacher waits for a creator to write a header at all, how
 * long a creator waits for the lock of a taken name, and the age after which
 * an object without a header is taken for abandoned. */
#define NAMED_HEADER_GRACE (200 * WEFT_MSEC)
/* How often an attacher waiting for `ready` checks that the creator lives. */
#define NAMED_PROBE (20 * WEFT_MSEC)
/* Where shm_open keeps its objects (glibc and musl on Linux). */
#define SHM_DIR "/dev/shm"

struct named_hdr {
    uint32_t magic;
    uint32_t kind;
    uint32_t version;
    _Atomic uint32_t ready;
    uint64_t size;     /* payload bytes */
    uint64_t map_size; /* whole object, header included */
    int32_t creator;   /* pid */
    uint32_t reserved[7];
};
_Static_assert(sizeof(struct named_hdr) == WEFT__NAMED_HDR, "named header is 64 bytes");

void (*weft__named_test_stop)(int step);
#define STOP(step)                       \
    do {                                 \
        if (weft__named_test_stop)       \
            weft__named_test_stop(step); \
    } while (0)

static struct named_hdr *hdr_of(void *payload) {
    return (struct named_hdr *)((char *)payload - WEFT__NAMED_HDR);
}

static size_t page_round(size_t n) {
    size_t pg = (size_t)sysconf(_SC_PAGESIZE);
    return (n + pg - 1) / pg * pg;
}

/* ---- the registry: the named mappings of this process ------------------
 * Detach and the kind checks consult it before touching a header, so an
 * address weft did not map by name is never read. Children inherit the
 * mappings and so the registry; the lock is held across fork(). */

struct reg {
    void *payload;
    size_t map_size;
    uint32_t kind;
    int fd; /* a creator's locked descriptor until ready, else -1 */
};

static pthread_mutex_t reg_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_once_t reg_once = PTHREAD_ONCE_INIT;
static struct reg *regs;
static size_t nregs, capregs;

static void reg_prepare(void) {
    pthread_mutex_lock(&reg_mu);
}
static void reg_parent(void) {
    pthread_mutex_unlock(&reg_mu);
}
static void reg_child(void) {
    /* A creation in progress is the parent's: the child drops its copy of
     * the descriptor so that it does not keep the creator's lock alive. */
    for (size_t i = 0; i < nregs; i++)
        if (regs[i].fd >= 0) {
            close(regs[i].fd);
            regs[i].fd = -1;
        }
    pthread_mutex_unlock(&reg_mu);
}
static void reg_setup(void) {
    pthread_atfork(reg_prepare, reg_parent, reg_child);
}

static struct reg *reg_find(void *payload) {
    for (size_t i = 0; i < nregs; i++)
        if (regs[i].payload == payload)
            return &regs[i];
    return NULL;
}

static int reg_add(void *payload, size_t map_size, uint32_t kind, int fd) {
    pthread_once(&reg_once, reg_setup);
    pthread_mutex_lock(&reg_mu);
    if (nregs == capregs) {
        size_t cap = capregs ? capregs * 2 : 16;
        struct reg *n = weft__realloc(regs, cap * sizeof *n);
        if (!n) {
            pthread_mutex_unlock(&reg_mu);
            return -ENOMEM;
        }
        regs = n;
        capregs = cap;
    }
    regs[nregs++] = (struct reg){payload, map_size, kind, fd};
    pthread_mutex_unlock(&reg_mu);
    return 0;
}

/* Removes payload's entry (of `kind`, any if 0) into *out; -EINVAL if none. */
static int reg_take(void *payload, uint32_t kind, struct reg *out) {
    pthread_mutex_lock(&reg_mu);
    struct reg *e = payload ? reg_find(payload) : NULL;
    if (!e || (kind && e->kind != kind)) {
        pthread_mutex_unlock(&reg_mu);
        return -EINVAL;
    }
    *out = *e;
    *e = regs[--nregs];
    pthread_mutex_unlock(&reg_mu);
    return 0;
}

/* The creator's descriptor of payload (now no longer the registry's), -1. */
static int reg_take_fd(void *payload) {
    pthread_mutex_lock(&reg_mu);
    struct reg *e = reg_find(payload);
    int fd = -1;
    if (e) {
        fd = e->fd;
        e->fd = -1;
    }
    pthread_mutex_unlock(&reg_mu);
    return fd;
}

uint32_t weft__named_kind_of(void *payload) {
    pthread_mutex_lock(&reg_mu);
    struct reg *e = payload ? reg_find(payload) : NULL;
    uint32_t k = e ? e->kind : 0;
    pthread_mutex_unlock(&reg_mu);
    return k;
}

size_t weft__named_size_of(void *payload) {
    pthread_mutex_lock(&reg_mu);
    struct reg *e = payload ? reg_find(payload) : NULL;
    size_t n = e ? (size_t)hdr_of(payload)->size : 0;
    pthread_mutex_unlock(&reg_mu);
    return n;
}

/* ---- names ------------------------------------------------------------- */

int weft__named_path(const char *name, char *buf, size_t cap) {
    if (!name || !buf || cap < 2)
        return -EINVAL;
    if (name[0] == '/')
        name++;
    size_t n = strlen(name);
    if (n == 0 || strchr(name, '/') || strcmp(name, ".") == 0 || strcmp(name, "..") == 0)
        return -EINVAL;
    if (n > 250 || n + 2 > cap)
        return -ENAMETOOLONG;
    buf[0] = '/';
    memcpy(buf + 1, name, n + 1);
    return 0;
}

/* The file system path of "/name". */
static void fs_path(char *dst, size_t cap, const char *path) {
    snprintf(dst, cap, "%s%s", SHM_DIR, path);
}

/* 1 if the name `path` denotes the file open on fd, 0 if not, <0 error. */
static int name_is(const char *path, int fd) {
    char fs[sizeof SHM_DIR + 256];
    struct stat a, b;
    fs_path(fs, sizeof fs, path);
    if (fstat(fd, &a) < 0)
        return -errno;
    if (stat(fs, &b) < 0)
        return errno == ENOENT ? 0 : -errno;
    return a.st_dev == b.st_dev && a.st_ino == b.st_ino;
}

/* Gives the unnamed file open on fd the name `path`; -EEXIST if taken. */
static int link_fd(int fd, const char *path) {
    char proc[64], fs[sizeof SHM_DIR + 256];
    snprintf(proc, sizeof proc, "/proc/self/fd/%d", fd);
    fs_path(fs, sizeof fs, path);
    if (linkat(AT_FDCWD, proc, AT_FDCWD, fs, AT_SYMLINK_FOLLOW) == 0)
        return 0;
    if (errno != ENOENT)
        return -errno;
    /* No /proc: linking the descriptor itself needs CAP_DAC_READ_SEARCH. */
    return linkat(fd, "", AT_FDCWD, fs, AT_EMPTY_PATH) == 0 ? 0 : -errno;
}

static int64_t age_ns(const struct stat *st) {
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    struct timespec t = st->st_ctim;
    if (st->st_mtim.tv_sec > t.tv_sec ||
        (st->st_mtim.tv_sec == t.tv_sec && st->st_mtim.tv_nsec > t.tv_nsec))
        t = st->st_mtim;
    return (int64_t)(now.tv_sec - t.tv_sec) * WEFT_SEC + (now.tv_nsec - t.tv_nsec);
}

/* Publishes an object's final state (ready or dead) to its attachers, then drops the
 * creation lock held on fd (if any). */
static void publish(struct named_hdr *h, uint32_t state, int fd) {
    atomic_store_explicit(&h->ready, state, memory_order_release);
    weft__pfutex_wake(&h->ready, INT32_MAX);
    if (fd >= 0) {
        flock(fd, LOCK_UN);
        close(fd);
    }
}

/* The name `path` is taken: if it holds an object that its creator left
 * half-made (the creator's lock is free but the object is not ready), or an
 * object without a header older than the grace period, removes the name and
 * returns 0 (the caller links again); -EEXIST if the object is real or its
 * creator is still at work. Only the process that holds the abandoned
 * object's lock may remove its name, so of racing reclaimers one wins and
 * the others find the name gone or re-made. */
static int reclaim(const char *path) {
    int fd = shm_open(path, O_RDWR | O_CLOEXEC, 0);
    if (fd < 0)
        return errno == ENOENT ? 0 : -EEXIST;
    int64_t until = weft_after(NAMED_HEADER_GRACE);
    while (flock(fd, LOCK_EX | LOCK_NB) < 0) {
        if ((errno != EWOULDBLOCK && errno != EINTR) || weft_now() >= until) {
            close(fd);
            return -EEXIST;
        }
        weft_sleep(WEFT_MSEC);
    }
    STOP(20);
    int r = -EEXIST;
    struct stat st;
    struct named_hdr *h = NULL;
    int same = name_is(path, fd);
    if (same <= 0 || fstat(fd, &st) < 0) {
        r = same == 0 ? 0 : -EEXIST; /* reclaimed by another meanwhile */
        goto out;
    }
    if ((size_t)st.st_size < WEFT__NAMED_HDR) {
        if (st.st_size == 0 && age_ns(&st) >= NAMED_HEADER_GRACE)
            r = 1;
        goto out;
    }
    h = mmap(NULL, WEFT__NAMED_HDR, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (h == MAP_FAILED) {
        h = NULL;
        goto out;
    }
    uint32_t magic = __atomic_load_n(&h->magic, __ATOMIC_ACQUIRE);
    if (magic == NAMED_MAGIC)
        /* Our creators hold the lock from before the name exists until the
         * object is ready: holding it now, not ready means abandoned. */
        r = atomic_load_explicit(&h->ready, memory_order_acquire) != NAMED_READY ? 1 : -EEXIST;
    else if (magic == 0 && age_ns(&st) >= NAMED_HEADER_GRACE)
        r = 1;
    if (r == 1) {
        char fs[sizeof SHM_DIR + 256];
        fs_path(fs, sizeof fs, path);
        r = unlink(fs) == 0 || errno == ENOENT ? 0 : -EEXIST;
        STOP(21);
        if (magic == NAMED_MAGIC) {
            /* Attachers waiting on the old object go and look again. */
            publish(h, NAMED_DEAD, -1); /* our lock is dropped below */
        }
    }
out:
    if (h)
        munmap(h, WEFT__NAMED_HDR);
    flock(fd, LOCK_UN);
    close(fd);
    return r;
}

/* ---- create, ready, abort, detach --------------------------------------- */

/* The object is made unnamed (O_TMPFILE in the shm directory), locked,
 * sized and given its header, and only then linked under its name: a name
 * never denotes an object without a header, and the creator's lock (held
 * until ready or abort; the kernel drops it if the creator dies) tells
 * whether a half-made object is still being made. */
int weft__named_create(const char *name, uint32_t kind, size_t size, void **out) {
    char path[256];
    if (!out || kind == 0 || size == 0 || size > NAMED_MAX_SIZE)
        return -EINVAL;
    int r = weft__named_path(name, path, sizeof path);
    if (r < 0)
        return r;
    size_t map_size = page_round(WEFT__NAMED_HDR + size);
    int fd = open(SHM_DIR, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
    if (fd < 0)
        return errno == EISDIR || errno == EOPNOTSUPP ? -ENOSYS : -errno;
    STOP(1);
    void *p = MAP_FAILED;
    if (flock(fd, LOCK_EX) < 0 || fchmod(fd, 0600) < 0 || ftruncate(fd, (off_t)map_size) < 0 ||
        (p = mmap(NULL, map_size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0)) == MAP_FAILED) {
        r = -errno;
        close(fd);
        return r == -EFBIG || r == -EINVAL ? -ENOSPC : r;
    }
    STOP(2);
    struct named_hdr *h = p;
    h->kind = kind;
    h->version = NAMED_VERSION;
    h->size = size;
    h->map_size = map_size;
    h->creator = (int32_t)getpid();
    atomic_store_explicit(&h->ready, 0, memory_order_relaxed);
    __atomic_store_n(&h->magic, NAMED_MAGIC, __ATOMIC_RELEASE);
    void *payload = (char *)p + WEFT__NAMED_HDR;
    if ((r = reg_add(payload, map_size, kind, fd)) < 0)
        goto fail;
    STOP(3);
    for (int tries = 0;; tries++) {
        r = link_fd(fd, path);
        if (r != -EEXIST)
            break;
        if (tries == 100 || (r = reclaim(path)) < 0)
            break;
    }
    if (r < 0) {
        struct reg e;
        reg_take(payload, 0, &e);
        goto fail;
    }
    STOP(4);
    *out = payload;
    return 0;
fail:
    munmap(p, map_size);
    close(fd);
    return r;
}

void weft__named_ready(void *payload) {
    if (!payload)
        return;
    STOP(5);
    publish(hdr_of(payload), NAMED_READY, reg_take_fd(payload));
}

int weft__named_detach_as(void *payload, uint32_t kind) {
    struct reg e;
    if (reg_take(payload, kind, &e) < 0)
        return -EINVAL;
    if (e.fd >= 0)
        close(e.fd);
    return munmap(hdr_of(payload), e.map_size) < 0 ? -errno : 0;
}

int weft__named_detach(void *payload) {
    return weft__named_detach_as(payload, 0);
}

void weft__named_abort(void *payload, const char *name) {
    char path[256];
    int fd = reg_take_fd(payload);
    if (fd >= 0 && weft__named_path(name, path, sizeof path) == 0 && name_is(path, fd) == 1) {
        char fs[sizeof SHM_DIR + 256];
        fs_path(fs, sizeof fs, path);
        unlink(fs);
    }
    publish(hdr_of(payload), NAMED_DEAD, fd);
    weft__named_detach(payload);
}

/* ---- attach --------------------------------------------------------------- */

/* Maps the object open on fd once its header is written; 1 to retry. */
static int map_checked(int fd, uint32_t kind, struct named_hdr **out) {
    struct stat st;
    if (fstat(fd, &st) < 0)
        return -errno;
    if ((size_t)st.st_size < WEFT__NAMED_HDR)
        return st.st_size == 0 ? 1 : -EPROTOTYPE; /* 0: maybe not sized yet */
    size_t len = (size_t)st.st_size;
    void *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (p == MAP_FAILED)
        return -errno;
    struct named_hdr *h = p;
    uint32_t magic = __atomic_load_n(&h->magic, __ATOMIC_ACQUIRE);
    int r = 0;
    if (magic == 0)
        r = 1; /* maybe not written yet */
    else if (magic != NAMED_MAGIC)
        r = -EPROTOTYPE;
    else if (h->version != NAMED_VERSION)
        r = -EPROTONOSUPPORT;
    else if (h->kind != kind)
        r = -EPROTOTYPE;
    else if (h->map_size != len || h->size == 0 || h->size > len - WEFT__NAMED_HDR)
        r = -EPROTOTYPE;
    if (r != 0) {
        munmap(p, len);
        return r;
    }
    *out = h;
    return 0;
}

/* Waits for the object h (open on fd as `path`) to be ready. 0 ready, 1 to
 * open the name again (the object was abandoned and its name removed),
 * -ENOENT (abandoned, name not yet reclaimed), -ETIMEDOUT, -ECANCELED. */
static int wait_ready(struct named_hdr *h, int fd, const char *path, int64_t deadline) {
    for (;;) {
        uint32_t v = atomic_load_explicit(&h->ready, memory_order_acquire);
        if (v == NAMED_READY)
            return 0;
        if (v == NAMED_DEAD)
            return name_is(path, fd) == 1 ? -ENOENT : 1;
        /* The creator's lock free while not ready: it died making it. */
        if (flock(fd, LOCK_SH | LOCK_NB) == 0) {
            v = atomic_load_explicit(&h->ready, memory_order_acquire);
            flock(fd, LOCK_UN);
            if (v == NAMED_READY)
                return 0;
            return name_is(path, fd) == 1 ? -ENOENT : 1;
        }
        if (weft__dl_passed(deadline))
            return -ETIMEDOUT;
        int64_t until = weft_after(NAMED_PROBE);
        if (deadline != WEFT_FOREVER && deadline < until)
            until = deadline < 0 ? 0 : deadline;
        int r = weft__pfutex_wait_why(&h->ready, v, until, WEFT__WHY_SHM_READY);
        if (r == -ECANCELED || r == -ENOMEM)
            return r;
    }
}

int weft__named_attach_until(const char *name, uint32_t kind, void **out, size_t *size,
                             int64_t deadline) {
    char path[256];
    if (!out || kind == 0)
        return -EINVAL;
    int r = weft__named_path(name, path, sizeof path);
    if (r < 0)
        return r;
    struct named_hdr *h = NULL;
    for (;;) {
        int fd = shm_open(path, O_RDWR | O_CLOEXEC, 0);
        if (fd < 0)
            return -errno;
        int64_t grace = weft_after(NAMED_HEADER_GRACE);
        if (!weft__dl_forever(deadline) && deadline < grace)
            grace = deadline;
        while ((r = map_checked(fd, kind, &h)) == 1) {
            if (weft_now() >= grace) {
                r = !weft__dl_forever(deadline) && grace == deadline ? -ETIMEDOUT : -EPROTOTYPE;
                break;
            }
            int s = weft_sleep(WEFT_MSEC);
            if (s == -ECANCELED) {
                r = s;
                break;
            }
        }
        if (r < 0) {
            close(fd);
            return r;
        }
        r = wait_ready(h, fd, path, deadline);
        close(fd);
        if (r == 0)
            r = reg_add((char *)h + WEFT__NAMED_HDR, (size_t)h->map_size, kind, -1);
        if (r == 0)
            break;
        munmap(h, (size_t)h->map_size);
        if (r < 0)
            return r;
    }
    *out = (char *)h + WEFT__NAMED_HDR;
    if (size)
        *size = (size_t)h->size;
    return 0;
}

int weft__named_attach(const char *name, uint32_t kind, void **out, size_t *size) {
    return weft__named_attach_until(name, kind, out, size, weft_after(WEFT_SEC));
}

int weft_shm_unlink(const char *name) {
    char path[256];
    int r = weft__named_path(name, path, sizeof path);
    if (r < 0)
        return r;
    return shm_unlink(path) < 0 ? -errno : 0;
}

bool weft__mem_mapped(const void *p, size_t n) {
    uintptr_t pg = (uintptr_t)sysconf(_SC_PAGESIZE);
    uintptr_t lo = (uintptr_t)p & ~(pg - 1);
    uintptr_t hi = ((uintptr_t)p + n + pg - 1) & ~(pg - 1);
    /* msync only looks the range up: ENOMEM where nothing is mapped. */
    return hi > lo && msync((void *)lo, hi - lo, MS_ASYNC) == 0;
}

/* ---- anonymous shared mappings ------------------------------------------ */

int weft__shm_map_anon(size_t size, void **out) {
    if (!out || size == 0 || size > NAMED_MAX_SIZE)
        return -EINVAL;
    void *p =
        mmap(NULL, page_round(size), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED)
        return -ENOMEM;
    *out = p;
    return 0;
}

void weft__shm_unmap_anon(void *p, size_t size) {
    if (p && size)
        munmap(p, page_round(size));
}
