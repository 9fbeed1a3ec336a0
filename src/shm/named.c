/* Named shared-memory objects (shm_open) with a checked header, and
 * anonymous shared mappings. See shm/named.h. */
#include "shm/named.h"

#include <fcntl.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#define NAMED_MAGIC 0x77656674u   /* "weft" */
#define NAMED_VERSION 1u
#define NAMED_READY 1u
#define NAMED_MAX_SIZE ((size_t)1 << 40)
/* How long an attacher waits for a creator to write a header at all. */
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
    if (n == 0 || strchr(name, '/'))
        return -EINVAL;
    if (n > 250 || n + 2 > cap)
        return -ENAMETOOLONG;
    buf[0] = '/';
    memcpy(buf + 1, name, n + 1);
    return 0;
}

int weft__named_create(const char *name, uint32_t kind, size_t size, void **out) {
    char path[256];
    if (!out || kind == 0 || size == 0 || size > NAMED_MAX_SIZE)
        return -EINVAL;
    int r = weft__named_path(name, path, sizeof path);
    if (r < 0)
        return r;
    size_t map_size = page_round(WEFT__NAMED_HDR + size);
    int fd = shm_open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0)
        return -errno;
    void *p = MAP_FAILED;
    if (fchmod(fd, 0600) < 0 || ftruncate(fd, (off_t)map_size) < 0 ||
        (p = mmap(NULL, map_size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0)) == MAP_FAILED) {
        r = -errno;
        close(fd);
        shm_unlink(path);
        return r == -EFBIG || r == -EINVAL ? -ENOSPC : r;
    }
    close(fd);
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
    *out = (char *)p + WEFT__NAMED_HDR;
    return 0;
}

void weft__named_ready(void *payload) {
    if (!payload)
        return;
    struct named_hdr *h = hdr_of(payload);
    atomic_store_explicit(&h->ready, NAMED_READY, memory_order_release);
    weft__pfutex_wake(&h->ready, INT32_MAX);
}

int weft__named_detach(void *payload) {
    if (!payload)
        return -EINVAL;
    struct named_hdr *h = hdr_of(payload);
    return munmap(h, (size_t)h->map_size) < 0 ? -errno : 0;
}

void weft__named_abort(void *payload, const char *name) {
    char path[256];
    if (weft__named_path(name, path, sizeof path) == 0)
        shm_unlink(path);
    weft__named_detach(payload);
}

uint32_t weft__named_kind_of(void *payload) { return hdr_of(payload)->kind; }
size_t weft__named_size_of(void *payload) { return (size_t)hdr_of(payload)->size; }

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
