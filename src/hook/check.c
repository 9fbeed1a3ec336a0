/* weft_hook_check()'s report: which hooks are live, proved by probes.
 *
 * For each hooked call: the definition a shared library's call binds to
 * (dlsym(RTLD_DEFAULT)) is compared with the hook's own, and the call is
 * made twice with a harmless probe argument while weft_hook__probing is
 * set: once through that address, once by name from here (as the
 * program's own calls bind). A hook is live when both reach it. */
#include "hook/hook.h"

#include <dlfcn.h>
#include <stdarg.h>
#include <netdb.h>
#include <string.h>
#include <unistd.h>

static void call_probe(int i, void *fn) {
    char b[1] = {0};
    struct iovec iov = {b, 0};
    struct msghdr mh;
    memset(&mh, 0, sizeof mh);
    struct timespec ts = {0, 0};
    struct timeval tv = {0, 0};
    struct addrinfo *ai = NULL;
    switch (i) {
#define C(T, ...) ((T)fn)(__VA_ARGS__)
    case 0:
        C(ssize_t(*)(int, void *, size_t), -1, b, 0);
        break;
    case 1:
        C(ssize_t(*)(int, const void *, size_t), -1, b, 0);
        break;
    case 2:
        C(ssize_t(*)(int, const struct iovec *, int), -1, &iov, 1);
        break;
    case 3:
        C(ssize_t(*)(int, const struct iovec *, int), -1, &iov, 1);
        break;
    case 4:
        C(ssize_t(*)(int, void *, size_t, int), -1, b, 0, 0);
        break;
    case 5:
        C(ssize_t(*)(int, void *, size_t, int, struct sockaddr *, socklen_t *), -1, b, 0, 0, NULL,
          NULL);
        break;
    case 6:
        C(ssize_t(*)(int, struct msghdr *, int), -1, &mh, 0);
        break;
    case 7:
        C(ssize_t(*)(int, const void *, size_t, int), -1, b, 0, 0);
        break;
    case 8:
        C(ssize_t(*)(int, const void *, size_t, int, const struct sockaddr *, socklen_t), -1, b, 0,
          0, NULL, 0);
        break;
    case 9:
        C(ssize_t(*)(int, const struct msghdr *, int), -1, &mh, 0);
        break;
    case 10:
        C(int (*)(int, const struct sockaddr *, socklen_t), -1, NULL, 0);
        break;
    case 11:
        C(int (*)(int, struct sockaddr *, socklen_t *), -1, NULL, NULL);
        break;
    case 12:
        C(int (*)(int, struct sockaddr *, socklen_t *, int), -1, NULL, NULL, 0);
        break;
    case 13:
        C(int (*)(struct pollfd *, nfds_t, int), NULL, 0, 0);
        break;
    case 14:
        C(int (*)(int, fd_set *, fd_set *, fd_set *, struct timeval *), 0, NULL, NULL, NULL, &tv);
        break;
    case 15:
        C(unsigned (*)(unsigned), 0);
        break;
    case 16:
        C(int (*)(useconds_t), 0);
        break;
    case 17:
        C(int (*)(const struct timespec *, struct timespec *), &ts, NULL);
        break;
    case 18:
        C(int (*)(clockid_t, int, const struct timespec *, struct timespec *), CLOCK_MONOTONIC, 0,
          &ts, NULL);
        break;
    case 19:
        if (C(int (*)(const char *, const char *, const struct addrinfo *, struct addrinfo **),
              NULL, NULL, NULL, &ai) == 0 &&
            ai)
            freeaddrinfo(ai);
        break;
#undef C
    }
}

/* The same calls by name: bound the way the program's own calls are. */
static void *by_name(int i) {
    static void *const direct[WEFT_HOOK_COUNT] = {
        (void *)read,    (void *)write,     (void *)readv,           (void *)writev,
        (void *)recv,    (void *)recvfrom,  (void *)recvmsg,         (void *)send,
        (void *)sendto,  (void *)sendmsg,   (void *)connect,         (void *)accept,
        (void *)accept4, (void *)poll,      (void *)select,          (void *)sleep,
        (void *)usleep,  (void *)nanosleep, (void *)clock_nanosleep, (void *)getaddrinfo,
    };
    return direct[i];
}

static bool probe(int i, void *fn) {
    int saved = errno;
    weft_hook__probe_hit = -1;
    weft_hook__probing = 1;
    call_probe(i, fn);
    weft_hook__probing = 0;
    errno = saved;
    return weft_hook__probe_hit == i;
}

static const char *object_of(void *p) {
    Dl_info di;
    if (p && dladdr(p, &di) && di.dli_fname && di.dli_fname[0])
        return di.dli_fname;
    return "the program";
}

struct out {
    char *buf;
    size_t n, len;
};
__attribute__((format(printf, 2, 3))) static void put(struct out *o, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    char tmp[512];
    int k = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    if (k < 0 || !o->n)
        return;
    size_t room = o->n - 1 - o->len;
    size_t c = (size_t)k < room ? (size_t)k : room;
    memcpy(o->buf + o->len, tmp, c);
    o->len += c;
    o->buf[o->len] = 0;
}

#define WEFT_HOOK_STR_(x) #x
#define WEFT_HOOK_STR(x) WEFT_HOOK_STR_(x)
/* Whether the program's weft_now is another copy than the hook's libweft.so. Comparing with
 * the hook's own reference to weft_now is not enough: where the linker puts the program's
 * weft_now into its dynamic symbol table (riscv64 binutils does, for a PIE with libweft.a),
 * that reference binds to the program's copy too. So the program's pointer is also compared
 * with libweft.so's own definition, when it is a definition of weft_now in another object
 * (a non-PIE program's canonical PLT entry for libweft.so's weft_now is no definition). */
static bool another_copy(int64_t (*program_weft_now)(void)) {
    if (program_weft_now != weft_now)
        return true;
    void *h = dlopen("libweft.so." WEFT_HOOK_STR(WEFT_VERSION_MAJOR), RTLD_LAZY | RTLD_NOLOAD);
    if (!h)
        return false; /* the hook's libweft is linked in statically: one copy */
    void *lib = dlsym(h, "weft_now");
    dlclose(h);
    Dl_info prog, own;
    return lib && lib != (void *)program_weft_now && dladdr((void *)program_weft_now, &prog) &&
           prog.dli_sname && strcmp(prog.dli_sname, "weft_now") == 0 &&
           prog.dli_saddr == (void *)program_weft_now && dladdr(lib, &own) &&
           prog.dli_fbase != own.dli_fbase;
}

HOOK_API int weft_hook__report(char *buf, size_t n, int64_t (*program_weft_now)(void)) {
    if (!buf && n)
        return -EINVAL;
    weft_hook__resolve();
    struct out o = {buf, n, 0};
    if (n)
        buf[0] = 0;
    void *rep = dlsym(RTLD_DEFAULT, "weft_hook__report");
    bool dyn = dlsym(RTLD_DEFAULT, "dlsym") != NULL || dlsym(RTLD_DEFAULT, "malloc") != NULL;
    if (program_weft_now && another_copy(program_weft_now)) {
        for (int i = 0; i < WEFT_HOOK_COUNT; i++)
            put(&o,
                "%s: dead (two copies of libweft: the program has its own, e.g. libweft.a "
                "linked without -rdynamic, and the hook library uses %s; the hooks cannot "
                "see the program's coroutines)\n",
                weft_hook__names[i], object_of((void *)weft_now));
        put(&o, "weft-hook: 0 of %d hooks live\n", WEFT_HOOK_COUNT);
        return 0;
    }
    int live = 0;
    for (int i = 0; i < WEFT_HOOK_COUNT; i++) {
        const char *name = weft_hook__names[i];
        void *own = weft_hook__self(i);
        void *def = dlsym(RTLD_DEFAULT, name);
        bool direct = probe(i, by_name(i));
        bool shared = def ? probe(i, def) : false;
        if (direct && shared) {
            live++;
            if (def == own)
                put(&o, "%s: live\n", name);
            else
                put(&o, "%s: live (through %s, which forwards to the hook)\n", name,
                    object_of(def));
        } else if (direct && !def) {
            live++;
            put(&o,
                "%s: live for the program's own calls (no dynamic symbol table: a static "
                "executable; calls made inside the C library are not hooked)\n",
                name);
        } else if (!rep && !dyn) {
            put(&o, "%s: dead (static executable without the hook's definitions)\n", name);
        } else if (!rep) {
            put(&o,
                "%s: dead (the hook library is not in the global lookup scope: loaded with "
                "dlopen? link it or LD_PRELOAD it instead)\n",
                name);
        } else if (!shared) {
            put(&o,
                "%s: dead (calls bind to %s: it comes before the hook library in the lookup "
                "order; put -lweft-hook earlier on the link line or LD_PRELOAD it)\n",
                name, object_of(def));
        } else {
            put(&o,
                "%s: dead for the program's own calls (bound at link time to another "
                "definition)\n",
                name);
        }
    }
    put(&o, "weft-hook: %d of %d hooks live\n", live, WEFT_HOOK_COUNT);
    return live;
}
