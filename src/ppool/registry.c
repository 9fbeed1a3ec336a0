/* The task registry: names to functions, process-wide (workers are forked
 * and inherit it, which is what lets the parent name a task by an id). */
#include "ppool/ppool.h"

#include <string.h>

#define NAME_MAX_ 64

static struct {
    char name[NAME_MAX_];
    weft_ptask_fn fn;
} tasks[PP_MAX_TASKS];
static atomic_int ntasks;
static pthread_mutex_t reg_mu = PTHREAD_MUTEX_INITIALIZER;

WEFT_API int weft_ptask_register(const char *name, weft_ptask_fn fn) {
    if (!name || !fn || !*name)
        return -EINVAL;
    if (strlen(name) >= NAME_MAX_)
        return -ENAMETOOLONG;
    pthread_mutex_lock(&reg_mu);
    int n = atomic_load_explicit(&ntasks, memory_order_relaxed), r;
    for (int i = 0; i < n; i++) {
        if (strcmp(tasks[i].name, name) == 0) {
            pthread_mutex_unlock(&reg_mu);
            return -EEXIST;
        }
    }
    if (n == PP_MAX_TASKS) {
        r = -ENOSPC;
    } else {
        strcpy(tasks[n].name, name);
        tasks[n].fn = fn;
        atomic_store_explicit(&ntasks, n + 1, memory_order_release);
        r = n;
    }
    pthread_mutex_unlock(&reg_mu);
    return r;
}

WEFT_API int weft_ptask_find(const char *name) {
    if (!name)
        return -EINVAL;
    int n = atomic_load_explicit(&ntasks, memory_order_acquire);
    for (int i = 0; i < n; i++)
        if (strcmp(tasks[i].name, name) == 0)
            return i;
    return -ENOENT;
}

weft_ptask_fn weft__ptask_get(int id) {
    if (id < 0 || id >= atomic_load_explicit(&ntasks, memory_order_acquire))
        return NULL;
    return tasks[id].fn;
}

int weft__ptask_count(void) { return atomic_load_explicit(&ntasks, memory_order_acquire); }

const char *weft__ptask_name(int id) {
    if (id < 0 || id >= atomic_load_explicit(&ntasks, memory_order_acquire))
        return NULL;
    return tasks[id].name;
}
