/* Named shared-memory objects and anonymous shared mappings (shm/named.c):
 * the internal API every process-shared part of weft builds its named
 * objects on. Not installed.
 *
 * A named object is one POSIX shared-memory object (shm_open) holding a
 * 64-byte header followed by the payload. The header records a magic
 * number, the object's kind, a layout version, the payload size and a ready
 * flag that the creator sets last: an attacher never sees a half-initialised
 * payload. Names are "name" or "/name" (no other '/', not "." or "..", at
 * most 250 bytes); both spellings denote the same object. Objects are made
 * unnamed, given their header and then linked under the name (exclusively),
 * and live until weft_shm_unlink (public, in weft.h) removes the name and
 * the last mapping goes away. The creator holds a lock on the object (flock)
 * until it is ready: a name whose object is not ready and unlocked was left
 * by a creator that died, and the next creator reclaims it.
 *
 * Every mapping made by create or attach is entered in a process-local
 * registry; detach and the kind queries look there first and never read
 * memory that is not a named mapping of this process. */
#ifndef WEFT_SHM_NAMED_H
#define WEFT_SHM_NAMED_H
#include "internal.h"

#include <stddef.h>
#include <stdint.h>

/* What a named object holds. Attaching checks it. Values are part of the
 * on-memory format: never renumber, only append. */
enum weft__named_kind {
    WEFT__NK_RAW = 1,     /* weft_shm_create: bytes */
    WEFT__NK_ARENA = 2,   /* an allocator arena */
    WEFT__NK_VALUE = 3,   /* weft_shm_value */
    WEFT__NK_ARRAY = 4,   /* weft_shm_array */
    WEFT__NK_LOCK = 5,    /* weft_plock */
    WEFT__NK_RLOCK = 6,   /* weft_prlock */
    WEFT__NK_SEM = 7,     /* weft_psem */
    WEFT__NK_EVENT = 8,   /* weft_pevent */
    WEFT__NK_COND = 9,    /* weft_pcond */
    WEFT__NK_BARRIER = 10,/* weft_pbarrier */
    WEFT__NK_QUEUE = 11,  /* process queues */
    WEFT__NK_PIPE = 12,   /* process pipes */
    WEFT__NK_POOL = 13,   /* process pools */
    WEFT__NK_DICT = 14,   /* weft_pdict */
    WEFT__NK_LIST = 15,   /* weft_plist */
    WEFT__NK_USER = 0x100 /* first value free for further kinds */
};

/* Payloads start this many bytes into the mapping, so they are aligned to
 * 64 bytes (a cache line). */
#define WEFT__NAMED_HDR 64

/* Creates the named object `name` of `kind` with a zero-filled payload of
 * `size` bytes (1 .. 2^40) and maps it; *out is the payload. The object is
 * not ready: initialise the payload, then call weft__named_ready. If the
 * creator gives up before that, it calls weft__named_abort (unlinks and
 * unmaps). Errors: -EINVAL (bad name, kind 0, size 0 or too big, out NULL),
 * -ENAMETOOLONG, -EEXIST (the name exists), -EACCES, -EMFILE, -ENFILE,
 * -ENOSPC, -ENOMEM, -ENOSYS (no O_TMPFILE in the shm directory). */
int weft__named_create(const char *name, uint32_t kind, size_t size, void **out);
/* Publishes a created object: attachers waiting for it go on. */
void weft__named_ready(void *payload);
/* Undoes weft__named_create of an object never made ready: removes the
 * name (if it still denotes this object) and unmaps it. */
void weft__named_abort(void *payload, const char *name);

/* Maps the existing object `name`, which must be of `kind`; *out is the
 * payload, *size (if non-NULL) its size. If the object exists but its
 * creator has not made it ready yet, waits for that until `deadline`
 * (weft_now() clock). Errors: -EINVAL (bad name, out NULL), -ENAMETOOLONG,
 * -ENOENT (no such name), -EACCES, -EPROTOTYPE (not a weft object, or one of
 * another kind), -EPROTONOSUPPORT (a weft object of another layout
 * version), -ETIMEDOUT (not ready by the deadline), -ECANCELED, -EMFILE,
 * -ENFILE, -ENOMEM. */
int weft__named_attach_until(const char *name, uint32_t kind, void **out, size_t *size,
                             int64_t deadline);
/* weft__named_attach_until with a deadline one second away. */
int weft__named_attach(const char *name, uint32_t kind, void **out, size_t *size);
/* Unmaps a payload returned by create or attach (the object and its name
 * stay). 0, or -EINVAL (NULL, not a named mapping of this process, already
 * detached, or of another kind than `kind` unless kind is 0). */
int weft__named_detach_as(void *payload, uint32_t kind);
/* weft__named_detach_as of any kind. */
int weft__named_detach(void *payload);
/* The kind and payload size of a named mapping of this process; 0 for any
 * other address. */
uint32_t weft__named_kind_of(void *payload);
size_t weft__named_size_of(void *payload);

/* Tests only: called with a step number at each step of creation and
 * reclaim (1 file made, 2 sized and mapped, 3 header written, 4 linked,
 * 5 about to be made ready, 20 reclaimer holds the old object's lock,
 * 21 old name removed). */
extern void (*weft__named_test_stop)(int step);

/* Normalises a user name to "/name" in buf (at least 256 bytes).
 * 0, -EINVAL, -ENAMETOOLONG. */
int weft__named_path(const char *name, char *buf, size_t cap);

/* Whether [p, p+n) is mapped in this process (without reading it): for
 * the destroy functions, so that a second destroy of an unmapped object is
 * -EINVAL rather than a fault. */
bool weft__mem_mapped(const void *p, size_t n);

/* Anonymous MAP_SHARED memory (zero-filled), shared with children forked
 * later. size is rounded up to pages. 0, -EINVAL (size 0 or huge, out
 * NULL), -ENOMEM. */
int weft__shm_map_anon(size_t size, void **out);
/* Unmaps what weft__shm_map_anon returned (the same size). */
void weft__shm_unmap_anon(void *p, size_t size);

#endif
