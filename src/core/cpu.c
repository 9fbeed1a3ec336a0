/* weft_cpu_count: the CPUs this process may use (weft.h, "Processes"): its
 * affinity mask, bounded by the cgroup v2 CPU quota of its cgroup and of
 * every ancestor cgroup. */
#include "internal.h"

#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

/* The number of CPUs in the affinity mask; 0 if it cannot be read. The mask
 * grows until the kernel's fits (machines with more than 1024 CPUs). */
static int affinity_count(void) {
    for (int n = 1024; n <= (1 << 22); n *= 2) {
        cpu_set_t *set = CPU_ALLOC((size_t)n);
        if (!set)
            return 0;
        size_t size = CPU_ALLOC_SIZE((size_t)n);
        CPU_ZERO_S(size, set);
        if (sched_getaffinity(0, size, set) == 0) {
            int c = CPU_COUNT_S(size, set);
            CPU_FREE(set);
            return c;
        }
        CPU_FREE(set);
        if (errno != EINVAL)
            return 0;
    }
    return 0;
}

/* The quota in dir/cpu.max ("quota period" or "max period"), in CPUs
 * rounded up; 0 for none (no file, "max", or unreadable). */
static int quota_of(const char *dir) {
    char path[4200];
    if (snprintf(path, sizeof path, "%s/cpu.max", dir) >= (int)sizeof path)
        return 0;
    FILE *f = fopen(path, "re");
    if (!f)
        return 0;
    char q[32];
    long long quota = 0, period = 0;
    int k = fscanf(f, "%31s %lld", q, &period);
    fclose(f);
    if (k != 2 || strcmp(q, "max") == 0 || period <= 0)
        return 0;
    if (sscanf(q, "%lld", &quota) != 1 || quota <= 0)
        return 0;
    long long c = (quota + period - 1) / period;
    return c > 1 << 30 ? 1 << 30 : (int)c;
}

/* The smallest quota of the calling process's cgroup v2 and its
 * ancestors, 0 for none. */
static int cgroup_quota(void) {
    char dir[4200] = "/sys/fs/cgroup";
    size_t base = strlen(dir);
    FILE *f = fopen("/proc/self/cgroup", "re");
    if (f) {
        char line[4096];
        while (fgets(line, sizeof line, f)) {
            if (strncmp(line, "0::/", 4) != 0)
                continue;
            line[strcspn(line, "\n")] = 0;
            if (strcmp(line + 3, "/") != 0 && base + strlen(line + 3) < sizeof dir)
                strcpy(dir + base, line + 3);
            break;
        }
        fclose(f);
    }
    int best = 0;
    for (;;) {
        int q = quota_of(dir);
        if (q > 0 && (best == 0 || q < best))
            best = q;
        char *slash = strrchr(dir, '/');
        if (!slash || (size_t)(slash - dir) < base)
            break;
        *slash = 0;
    }
    return best;
}

WEFT_API int weft_cpu_count(void) {
    int n = affinity_count();
    if (n <= 0) {
        long c = sysconf(_SC_NPROCESSORS_ONLN);
        n = c > 0 ? (int)(c > 1 << 30 ? 1 << 30 : c) : 1;
    }
    int q = cgroup_quota();
    if (q > 0 && q < n)
        n = q;
    return n > 0 ? n : 1;
}
