/* The arena (shm/arena.c) as a building block of other process-shared
 * objects: an arena placed inside a mapping they own, and a sweep that
 * frees what they no longer reference. Not installed. */
#ifndef WEFT_SHM_ARENA_H
#define WEFT_SHM_ARENA_H
#include "internal.h"

#include <stddef.h>
#include <stdint.h>

/* Makes the `size` bytes at mem (16-aligned, zero-filled, shared) an arena
 * whose blocks are addressed by offsets from mem; *out is mem. size must be
 * at least weft__shm_arena_min() + the room wanted.
 * 0, -EINVAL (size too small or above 2^40), -ENOMEM. */
int weft__shm_arena_init(weft_shm_arena **out, void *mem, size_t size);
/* The bytes an arena needs beyond its blocks (its header and one spare block
 * header), and what each block costs beyond its payload. */
size_t weft__shm_arena_overhead(void);
#define WEFT__SHM_BLOCK_HDR 16
/* The offset of the first block's payload from the arena's start: no
 * payload is below it. */
#define WEFT__SHM_ARENA_FIRST 144

/* Frees, under the arena's lock, every used block whose payload `keep`
 * rejects (keep reads only that payload). A process killed inside leaves
 * the arena whole (the next locker rebuilds its free list): calling the
 * sweep again completes it. Errors: -EINVAL (not an arena), the lock's
 * -ENOTRECOVERABLE. */
int weft__shm_arena_sweep(weft_shm_arena *a, bool (*keep)(const void *payload, void *arg),
                          void *arg);

#endif
