/* When a coroutine stack cannot be mapped while plenty of memory is free,
 * the limit hit is usually vm.max_map_count (65530 by default): every
 * GUARDED stack takes two mappings (the stack and its guard page), so about
 * 32,000 of them exist at most. mmap then fails with ENOMEM, which reads as
 * "out of memory": say once which limit it is and how to get around it. */
#include "coro/maplimit.h"
#include "internal.h"

#include <fcntl.h>
#include <unistd.h>

/* Mappings within this many of the limit count as "at the limit": other
 * threads map and unmap between the failure and the count. */
#define NEAR_MARGIN 128

static atomic_long test_limit;
static atomic_int printed;

static long count_lines(const char *path, long *first_number) {
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    char buf[4096];
    long lines = 0, num = 0;
    int in_num = 1;
    for (;;) {
        ssize_t n = read(fd, buf, sizeof buf);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        for (ssize_t i = 0; i < n; i++) {
            if (buf[i] == '\n') {
                lines++;
                in_num = 0;
            } else if (in_num && buf[i] >= '0' && buf[i] <= '9' && num < 1000000000L) {
                num = num * 10 + (buf[i] - '0');
            } else {
                in_num = 0;
            }
        }
    }
    close(fd);
    if (first_number)
        *first_number = num;
    return lines;
}

long weft__map_count(void) { return count_lines("/proc/self/maps", NULL); }

static long map_limit(void) {
    long t = atomic_load_explicit(&test_limit, memory_order_relaxed);
    if (t > 0)
        return t;
    long v = 0;
    if (count_lines("/proc/sys/vm/max_map_count", &v) < 0 || v <= 0)
        return -1;
    return v;
}

void weft__map_limit_set_for_test(long limit) {
    atomic_store(&test_limit, limit > 0 ? limit : 0);
    atomic_store(&printed, 0);
}

int weft__map_limit_note(int err) {
    int saved = errno;
    int hit = 0;
    if (err == ENOMEM) {
        long limit = map_limit(), count = weft__map_count();
        if (limit > 0 && count >= 0 && count + NEAR_MARGIN >= limit) {
            hit = 1;
            if (atomic_exchange(&printed, 1) == 0) {
                char b[512];
                size_t n = 0;
                weft__str_append(b, &n, sizeof b,
                                 "weft: cannot map coroutine memory: the process has ");
                n += weft__fmt_u64(b + n, (uint64_t)count); /* both > 0 here */
                weft__str_append(b, &n, sizeof b,
                                 " memory mappings, at the limit vm.max_map_count = ");
                n += weft__fmt_u64(b + n, (uint64_t)limit);
                weft__str_append(b, &n, sizeof b,
                    " (not out of memory: each WEFT_STACK_GUARDED coroutine takes 2"
                    " mappings). Spawn with .stack_mode = WEFT_STACK_SHARED (no mapping per"
                    " coroutine), or raise the limit (sysctl vm.max_map_count). Spawns fail"
                    " with -ENOMEM.\n");
                ssize_t w = write(2, b, n);
                (void)w;
            }
        }
    }
    errno = saved;
    return hit;
}
