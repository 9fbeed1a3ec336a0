/* Named shared-memory objects (shm_open) with a checked header, and
 * anonymous shared mappings. See shm/named.h. */
#include "shm/named.h"

#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#define NAMED_MAGIC 0x77656674u   /* "weft" */
#define NAMED_VERSION 1u
#define NAMED_READY 1u
#define NAMED_MAX_SIZE ((size_t)1 << 40)
/* How long an attacher waits for a creator to write a header at all; also how old a
 * half-made object must be before a creator may reclaim it (below). */
#define NAMED_HEADER_GRACE (200 * WEFT_MSEC)

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

static struct named_hdr *hdr_of(void *payload) {
    return (struct named_hdr *)((char *)payload - WEFT__NAMED_HDR);
}

/* ---- the mappings this process made -------------------------------------
 * Every payload that create or attach returned, with its mapping's length and kind, and
 * for an object being created the descriptor that holds its creation lock. detach and
 * kind_of consult it before touching a header, so a pointer weft did not map (a lock in
 * a plain MAP_SHARED page, an arena object, a heap object, one already detached) is
 * -EINVAL instead of a read of whatever lies 64 bytes before it and an munmap of a
 * length found there. A forked child inherits both the mappings and this table; the
 * lock is taken around fork so the child's copy is consistent. */
typedef struct {
    void *payload;
    size_t map_size;
    uint32_t kind;
    int fd; /* creator: holds the creation lock until ready or abort; else -1 */
} named_map;

static pthread_mutex_t reg_mu = PTHREAD_MUTEX_INITIALIZER;
static named_map *reg;
static size_t reg_n, reg_cap;
static pthread_once_t reg_once = PTHREAD_ONCE_INIT;

static void reg_lock(void) { pthread_mutex_lock(&reg_mu); }
static void reg_unlock(void) { pthread_mutex_unlock(&reg_mu); }
static void reg_init(void) { pthread_atfork(reg_lock, reg_unlock, reg_unlock); }

static int reg_add(void *payload, size_t map_size, uint32_t kind, int fd) {
    pthread_once(&reg_once, reg_init);
    reg_lock();
    if (reg_n == reg_cap) {
        size_t cap = reg_cap ? reg_cap * 2 : 16;
        named_map *n = weft__realloc(reg, cap * sizeof *n);
        if (!n) {
            reg_unlock();
            return -ENOMEM;
        }
        reg = n;
        reg_cap = cap;
    }
    reg[reg_n++] = (named_map){payload, map_size, kind, fd};
    reg_unlock();
    return 0;
}

/* Looks payload up (reg_mu held): its index, or -1. */
static long reg_find(const void *payload) {
    for (size_t i = reg_n; i-- > 0;)
        if (reg[i].payload == payload)
            return (long)i;
    return -1;
}

/* Removes payload's entry into *out: 0, or -EINVAL if weft did not map it. */
static int reg_take(const void *payload, named_map *out) {
    pthread_once(&reg_once, reg_init);
    reg_lock();
    long i = reg_find(payload);
    if (i >= 0) {
        *out = reg[i];
        reg[i] = reg[--reg_n];
    }
    reg_unlock();
    return i >= 0 ? 0 : -EINVAL;
}

/* The creation descriptor of payload (taken out of the table), or -1. */
static int reg_take_fd(const void *payload) {
    pthread_once(&reg_once, reg_init);
    reg_lock();
    long i = reg_find(payload);
    int fd = -1;
    if (i >= 0) {
        fd = reg[i].fd;
        reg[i].fd = -1;
    }
    reg_unlock();
    return fd;
}

int weft__named_lookup(const void *payload, uint32_t *kind, size_t *size) {
    if (!payload)
        return -EINVAL;
    pthread_once(&reg_once, reg_init);
    reg_lock();
    long i = reg_find(payload);
    if (i >= 0) {
        if (kind)
            *kind = reg[i].kind;
        if (size)
            *size = (size_t)hdr_of(reg[i].payload)->size;
    }
    reg_unlock();
    return i >= 0 ? 0 : -EINVAL;
}

/* ---- fault injection (tests) ------------------------------------------- */

static _Atomic long fault_left; /* 0: off; n: SIGKILL self at the n-th step */
void weft__named_fault(long n) { atomic_store(&fault_left, n); }
#define STEP()                                                                                     \
    do {                                                                                           \
        if (unlikely(atomic_load_explicit(&fault_left, memory_order_relaxed) > 0) &&               \
            atomic_fetch_sub(&fault_left, 1) == 1)                                                 \
            raise(SIGKILL);                                                                        \
    } while (0)

static size_t page_round(size_t n) {
    size_t pg = (size_t)sysconf(_SC_PAGESIZE);
    return (n + pg - 1) / pg * pg;
}

int weft__named_path(const char *name, char *buf, size_t cap) {
    if (!name || !buf || cap < 2)
        return -EINVAL;
    if (name[0] == '/')
        name++;
    size_t n = strlen(name);
    /* "." and ".." would name the shm directory itself or its parent. */
    if (n == 0 || strchr(name, '/') || strcmp(name, ".") == 0 || strcmp(name, "..") == 0)
        return -EINVAL;
    if (n > 250 || n + 2 > cap)
        return -ENAMETOOLONG;
    buf[0] = '/';
    memcpy(buf + 1, name, n + 1);
    return 0;
}

/* A name that exists but whose object was never made ready, and whose creator no longer
 * holds its creation lock (it died: the lock went with its descriptors) and is older
 * than the grace period (a live creator takes the lock microseconds after creating the
 * name): removes the name. Returns 1 if it did (create again), 0 if the name stands, 2 if
 * the object looks abandoned but is younger than the grace period (look again). */
static int reclaim_half_made(const char *path) {
    int fd = shm_open(path, O_RDWR | O_CLOEXEC, 0);
    if (fd < 0)
        return errno == ENOENT ? 1 : 0;
    int r = 0;
    struct stat st;
    if (flock(fd, LOCK_EX | LOCK_NB) == 0 && fstat(fd, &st) == 0) {
        /* We hold the creation lock: no creator is working on this object. */
        bool ready = false;
        if ((size_t)st.st_size >= WEFT__NAMED_HDR) {
            struct named_hdr *h = mmap(NULL, WEFT__NAMED_HDR, PROT_READ, MAP_SHARED, fd, 0);
            if (h != MAP_FAILED) {
                /* magic 0: the header was never written; another magic: not ours */
                uint32_t magic = __atomic_load_n(&h->magic, __ATOMIC_ACQUIRE);
                ready = (magic != 0 && magic != NAMED_MAGIC) ||
                        (magic == NAMED_MAGIC &&
                         atomic_load_explicit(&h->ready, memory_order_acquire) == NAMED_READY);
                munmap(h, WEFT__NAMED_HDR);
            } else {
                ready = true; /* cannot tell: leave it */
            }
        }
        struct timespec now;
        clock_gettime(CLOCK_REALTIME, &now);
        int64_t age = ((int64_t)now.tv_sec - (int64_t)st.st_ctim.tv_sec) * WEFT_SEC +
                      (now.tv_nsec - st.st_ctim.tv_nsec);
        if (st.st_nlink == 0) {
            r = 1; /* another reclaimer removed it already */
        } else if (!ready && age <= NAMED_HEADER_GRACE) {
            r = 2; /* abandoned, or a creator in its first instant: look again soon */
        } else if (!ready) {
            /* Still ours to remove? The name may now denote a newer object. */
            struct stat cur;
            char dpath[300];
            snprintf(dpath, sizeof dpath, "/dev/shm%s", path);
            if (stat(dpath, &cur) == 0 && cur.st_ino == st.st_ino && cur.st_dev == st.st_dev)
                r = shm_unlink(path) == 0 || errno == ENOENT;
            else
                r = 1;
        }
    }
    close(fd); /* drops the lock */
    return r;
}

int weft__named_create(const char *name, uint32_t kind, size_t size, void **out) {
    char path[256];
    if (!out || kind == 0 || size == 0 || size > NAMED_MAX_SIZE)
        return -EINVAL;
    int r = weft__named_path(name, path, sizeof path);
    if (r < 0)
        return r;
    size_t map_size = page_round(WEFT__NAMED_HDR + size);
    int fd;
    int64_t give_up = weft_after(2 * NAMED_HEADER_GRACE);
    for (int reclaimed = 0;;) {
        fd = shm_open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
        if (fd >= 0)
            break;
        int e = errno;
        if (e != EEXIST || reclaimed == 2)
            return -e;
        int k = reclaim_half_made(path);
        if (k == 0 || (k == 2 && weft_now() >= give_up))
            return -EEXIST;
        if (k == 1)
            reclaimed++;
        else if (weft_sleep(5 * WEFT_MSEC) == -ECANCELED)
            return -ECANCELED;
    }
    STEP();
    /* The creation lock, held until ready or abort: a reclaimer that can take it knows
     * the creator is gone. If a reclaimer removed our name in the moment before we took
     * it (the object was mistaken for an abandoned one), this object is nobody's. */
    struct stat st;
    if (flock(fd, LOCK_EX) < 0 || fstat(fd, &st) < 0) {
        r = -errno;
        close(fd);
        shm_unlink(path);
        return r;
    }
    if (st.st_nlink == 0) {
        close(fd);
        return -EEXIST;
    }
    STEP();
    void *p = MAP_FAILED;
    if (fchmod(fd, 0600) < 0 || ftruncate(fd, (off_t)map_size) < 0 ||
        (p = mmap(NULL, map_size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0)) == MAP_FAILED) {
        r = -errno;
        close(fd);
        shm_unlink(path);
        return r == -EFBIG || r == -EINVAL ? -ENOSPC : r;
    }
    STEP();
    struct named_hdr *h = p;
    h->kind = kind;
    h->version = NAMED_VERSION;
    h->size = size;
    h->map_size = map_size;
    h->creator = (int32_t)getpid();
    atomic_store_explicit(&h->ready, 0, memory_order_relaxed);
    /* The magic last among the header fields: an attacher that sees it may
     * read the rest (it still waits for `ready` before the payload). */
    __atomic_store_n(&h->magic, NAMED_MAGIC, __ATOMIC_RELEASE);
    STEP();
    *out = (char *)p + WEFT__NAMED_HDR;
    if ((r = reg_add(*out, map_size, kind, fd)) < 0) {
        munmap(p, map_size);
        close(fd);
        shm_unlink(path);
        *out = NULL;
        return r;
    }
    return 0;
}

void weft__named_ready(void *payload) {
    if (!payload)
        return;
    STEP();
    struct named_hdr *h = hdr_of(payload);
    atomic_store_explicit(&h->ready, NAMED_READY, memory_order_release);
    weft__pfutex_wake(&h->ready, INT32_MAX);
    int fd = reg_take_fd(payload);
    if (fd >= 0)
        close(fd); /* releases the creation lock */
}

int weft__named_detach(void *payload) {
    named_map m;
    if (!payload || reg_take(payload, &m) < 0)
        return -EINVAL;
    if (m.fd >= 0)
        close(m.fd);
    return munmap(hdr_of(payload), m.map_size) < 0 ? -errno : 0;
}

void weft__named_abort(void *payload, const char *name) {
    char path[256];
    if (weft__named_path(name, path, sizeof path) == 0)
        shm_unlink(path);
    weft__named_detach(payload);
}

uint32_t weft__named_kind_of(void *payload) {
    uint32_t k = 0;
    return weft__named_lookup(payload, &k, NULL) == 0 ? k : 0;
}
size_t weft__named_size_of(void *payload) {
    size_t n = 0;
    return weft__named_lookup(payload, NULL, &n) == 0 ? n : 0;
}

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

int weft__named_attach_until(const char *name, uint32_t kind, void **out, size_t *size,
                             int64_t deadline) {
    char path[256];
    if (!out || kind == 0)
        return -EINVAL;
    int r = weft__named_path(name, path, sizeof path);
    if (r < 0)
        return r;
    int fd = shm_open(path, O_RDWR | O_CLOEXEC, 0);
    if (fd < 0)
        return -errno;
    struct named_hdr *h = NULL;
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
    close(fd);
    if (r < 0)
        return r;
    while (atomic_load_explicit(&h->ready, memory_order_acquire) != NAMED_READY) {
        r = weft__pfutex_wait(&h->ready, 0, deadline);
        if (r < 0 && atomic_load_explicit(&h->ready, memory_order_acquire) != NAMED_READY) {
            munmap(h, (size_t)h->map_size);
            return r;
        }
    }
    if ((r = reg_add((char *)h + WEFT__NAMED_HDR, (size_t)h->map_size, kind, -1)) < 0) {
        munmap(h, (size_t)h->map_size);
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

int weft__shm_map_anon(size_t size, void **out) {
    if (!out || size == 0 || size > NAMED_MAX_SIZE)
        return -EINVAL;
    void *p = mmap(NULL, page_round(size), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS,
                   -1, 0);
    if (p == MAP_FAILED)
        return -ENOMEM;
    *out = p;
    return 0;
}

void weft__shm_unmap_anon(void *p, size_t size) {
    if (p && size)
        munmap(p, page_round(size));
}
