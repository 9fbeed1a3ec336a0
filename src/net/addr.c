/* Socket addresses and name resolution (getaddrinfo on the default pool). */
#include "internal.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <string.h>

_Static_assert(sizeof(((weft_addr *)0)->ss) >= sizeof(struct sockaddr_in6),
               "weft_addr holds an IPv6 address");

/* At most this many addresses are asked of the resolver at once. */
#define RESOLVE_MAX 64

/* 1 if host is empty or a numeric address (stored in *out), -ENOENT if it
 * is a numeric address of another family than asked, 0 for a name. */
static int fill_numeric(const char *host, int port, int family, weft_addr *out) {
    memset(out, 0, sizeof *out);
    struct sockaddr_in *a4 = (struct sockaddr_in *)&out->ss;
    struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)&out->ss;
    if (!host || !*host) {
        if (family == AF_INET6) {
            a6->sin6_family = AF_INET6;
            a6->sin6_addr = in6addr_any;
            a6->sin6_port = htons((uint16_t)port);
            out->len = sizeof *a6;
        } else {
            a4->sin_family = AF_INET;
            a4->sin_addr.s_addr = htonl(INADDR_ANY);
            a4->sin_port = htons((uint16_t)port);
            out->len = sizeof *a4;
        }
        return 1;
    }
    if (inet_pton(AF_INET, host, &a4->sin_addr) == 1) {
        if (family == AF_INET6)
            return -ENOENT; /* a numeric address of the other family */
        a4->sin_family = AF_INET;
        a4->sin_port = htons((uint16_t)port);
        out->len = sizeof *a4;
        return 1;
    }
    if (inet_pton(AF_INET6, host, &a6->sin6_addr) == 1) {
        if (family == AF_INET)
            return -ENOENT;
        a6->sin6_family = AF_INET6;
        a6->sin6_port = htons((uint16_t)port);
        out->len = sizeof *a6;
        return 1;
    }
    return 0;
}

/* A lookup shared between the caller and the pool task: whichever drops
 * the last reference frees it (the caller may give up at its deadline). */
typedef struct resolve_job {
    atomic_int refs;
    int family;
    int port;
    size_t max;
    int n; /* addresses stored, or a negative errno */
    weft_addr *addrs;
    char host[];
} resolve_job;

static void job_unref(resolve_job *j) {
    if (atomic_fetch_sub_explicit(&j->refs, 1, memory_order_acq_rel) == 1) {
        weft__free(j->addrs);
        weft__free(j);
    }
}

static int map_gai_error(int e, int saved_errno) {
    switch (e) {
    case EAI_NONAME:
#ifdef EAI_NODATA
    case EAI_NODATA:
#endif
#ifdef EAI_ADDRFAMILY
    case EAI_ADDRFAMILY:
#endif
    case EAI_FAMILY:
        return -ENOENT;
    case EAI_AGAIN:
        return -EAGAIN;
    case EAI_MEMORY:
        return -ENOMEM;
    case EAI_SYSTEM:
        return saved_errno ? -saved_errno : -EIO;
    default:
        return -EIO;
    }
}

static int resolve_task(void *arg, void **result) {
    (void)result;
    resolve_job *j = arg;
    struct addrinfo hints, *res = NULL;
    memset(&hints, 0, sizeof hints);
    hints.ai_family = j->family;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_NUMERICSERV;
    char port[8];
    snprintf(port, sizeof port, "%d", j->port);
    errno = 0;
    int e = getaddrinfo(j->host, port, &hints, &res);
    int n;
    if (e != 0) {
        n = map_gai_error(e, errno);
    } else {
        n = 0;
        for (struct addrinfo *ai = res; ai && (size_t)n < j->max; ai = ai->ai_next) {
            if ((ai->ai_family != AF_INET && ai->ai_family != AF_INET6) ||
                ai->ai_addrlen > sizeof j->addrs[0].ss)
                continue;
            memset(&j->addrs[n], 0, sizeof j->addrs[n]);
            memcpy(&j->addrs[n].ss, ai->ai_addr, ai->ai_addrlen);
            j->addrs[n].len = ai->ai_addrlen;
            n++;
        }
        freeaddrinfo(res);
        if (n == 0)
            n = -ENOENT;
    }
    j->n = n;
    job_unref(j);
    return n < 0 ? n : 0;
}

WEFT_API int weft_resolve(const char *host, int port, int family, weft_addr *out, size_t max,
                          int64_t deadline) {
    if (!out || max == 0 || port < 0 || port > 65535 ||
        (family != AF_UNSPEC && family != AF_INET && family != AF_INET6))
        return -EINVAL;
    int r = fill_numeric(host, port, family, out);
    if (r != 0)
        return r;
    size_t hl = strlen(host);
    if (hl > 1024)
        return -ENOENT;
    resolve_job *j = weft__malloc(sizeof *j + hl + 1);
    if (!j)
        return -ENOMEM;
    j->max = max < RESOLVE_MAX ? max : RESOLVE_MAX;
    j->addrs = weft__malloc(j->max * sizeof *j->addrs);
    if (!j->addrs) {
        weft__free(j);
        return -ENOMEM;
    }
    atomic_init(&j->refs, 2);
    j->family = family;
    j->port = port;
    j->n = -EIO;
    memcpy(j->host, host, hl + 1);

    weft_pool *pool;
    weft_future *f;
    r = weft_pool_default(&pool);
    if (r == 0)
        r = weft_pool_submit(pool, resolve_task, j, &f);
    if (r < 0) {
        weft__free(j->addrs);
        weft__free(j);
        return r;
    }
    r = weft_future_result(f, deadline, NULL);
    if (!weft_future_done(f)) {
        /* Gave up waiting (deadline or cancellation): the task keeps its
         * reference, unless it never starts. */
        if (weft_future_cancel(f) == 1)
            job_unref(j);
        weft_future_release(f);
        job_unref(j);
        return r;
    }
    weft_future_release(f);
    if (r == 0) {
        r = j->n;
        if (r > 0)
            memcpy(out, j->addrs, (size_t)r * sizeof *out);
    }
    job_unref(j);
    return r;
}

WEFT_API int weft_addr_port(const weft_addr *a) {
    if (!a)
        return -EINVAL;
    if (a->ss.ss_family == AF_INET && a->len >= sizeof(struct sockaddr_in))
        return ntohs(((const struct sockaddr_in *)&a->ss)->sin_port);
    if (a->ss.ss_family == AF_INET6 && a->len >= sizeof(struct sockaddr_in6))
        return ntohs(((const struct sockaddr_in6 *)&a->ss)->sin6_port);
    return -EINVAL;
}

WEFT_API int weft_addr_format(const weft_addr *a, char *buf, size_t len) {
    if (!a || !buf)
        return -EINVAL;
    char ip[INET6_ADDRSTRLEN];
    int port = weft_addr_port(a);
    if (port < 0)
        return -EINVAL;
    /* The text is at most 54 bytes; a larger len is capped because some libcs
     * (musl) refuse a snprintf size above INT_MAX with EOVERFLOW. */
    size_t cap = len < 64 ? len : 64;
    int n;
    if (a->ss.ss_family == AF_INET) {
        if (!inet_ntop(AF_INET, &((const struct sockaddr_in *)&a->ss)->sin_addr, ip, sizeof ip))
            return -EINVAL;
        n = snprintf(buf, cap, "%s:%d", ip, port);
    } else {
        if (!inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)&a->ss)->sin6_addr, ip, sizeof ip))
            return -EINVAL;
        n = snprintf(buf, cap, "[%s]:%d", ip, port);
    }
    if (n < 0 || (size_t)n >= cap) {
        if (len > 0)
            buf[0] = 0;
        return -ENOSPC;
    }
    return n;
}
