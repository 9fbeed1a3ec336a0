/*
 * Floor for the `sleepers` workload: the physical limit on wall time is the
 * sleep itself. One thread sleeps 1 s and reports the measured wall time as
 * "sleepers\tfloor\t<s>\ts". There is no memory floor line: a floor for the
 * memory of a million sleepers would be a design choice, not a measurement.
 * The size argument (number of sleepers) is accepted and ignored.
 */
#define _POSIX_C_SOURCE 200809L
#include <stdint.h>
#include <stdio.h>
#include <time.h>

int main(void) {
    struct timespec a, b, d = {1, 0};
    clock_gettime(CLOCK_MONOTONIC, &a);
    while (clock_nanosleep(CLOCK_MONOTONIC, 0, &d, &d) != 0) {
    }
    clock_gettime(CLOCK_MONOTONIC, &b);
    double s = (double)(b.tv_sec - a.tv_sec) + (double)(b.tv_nsec - a.tv_nsec) / 1e9;
    printf("sleepers\tfloor\t%.3f\ts\n", s);
    return 0;
}
