/* Built against an installed weft by tests/install/run.sh. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <weft.h>

int main(void) {
    int64_t t0 = weft_now();
    int64_t t1 = weft_now();
    const char *msg = weft_strerror(-ETIMEDOUT);
    printf("weft %s: now=%lld ns, strerror(-ETIMEDOUT)=\"%s\"\n", WEFT_VERSION_STRING,
           (long long)t1, msg ? msg : "(null)");
    if (t0 <= 0 || t1 < t0) {
        fprintf(stderr, "hello: weft_now() is not sane: %lld then %lld\n", (long long)t0,
                (long long)t1);
        return 1;
    }
    if (msg == NULL || msg[0] == '\0') {
        fprintf(stderr, "hello: weft_strerror(-ETIMEDOUT) returned an empty string\n");
        return 1;
    }
    return 0;
}
