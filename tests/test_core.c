/* Errors and time: weft_strerror, weft_now, weft_after. */
#include "harness.h"

#include <limits.h>

WEFT_TEST(strerror_every_code) {
    /* Negative and positive forms name the same thing. */
    int codes[] = {ETIMEDOUT, ECANCELED, EPIPE, EAGAIN, ESRCH, EDEADLK, EXDEV, EBUSY,
                   EINVAL,    ENOMEM,    EBADF, EMSGSIZE, EOWNERDEAD, ENOTRECOVERABLE, EPERM};
    for (size_t i = 0; i < sizeof codes / sizeof codes[0]; i++) {
        const char *neg = weft_strerror(-codes[i]), *pos = weft_strerror(codes[i]);
        CHECK(neg != NULL);
        CHECK_STR_EQ(neg, pos);
        CHECK(strcmp(neg, "unknown error") != 0);
    }
    CHECK_STR_EQ(weft_strerror(0), "success");
    CHECK_STR_EQ(weft_strerror(-ETIMEDOUT), "deadline passed");
}

WEFT_TEST(strerror_extremes) {
    /* INT_MIN has no positive counterpart: negating it was undefined (UBSan). */
    CHECK_STR_EQ(weft_strerror(INT_MIN), "unknown error");
    CHECK_STR_EQ(weft_strerror(INT_MIN + 1), "unknown error");
    CHECK_STR_EQ(weft_strerror(INT_MAX), "unknown error");
    CHECK_STR_EQ(weft_strerror(-100000), "unknown error");
}

WEFT_TEST(time_after_saturates) {
    int64_t now = weft_now();
    CHECK(now > 0);
    CHECK(weft_after(INT64_MAX) == INT64_MAX);
    int64_t past = weft_after(INT64_MIN);
    CHECK(past <= now);
    CHECK(past != WEFT_FOREVER);
    CHECK(weft_after(-1) <= weft_now());
    CHECK(weft_after(WEFT_SEC) > now);
}

WEFT_MAIN()
