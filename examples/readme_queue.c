/* README: threads sharing a queue; shutdown tells the readers to stop. */
#include <stdio.h>
#include <weft.h>

static void *worker(void *arg) {
    weft_queue *q = arg;
    long job, sum = 0;
    while (weft_queue_get(q, &job, WEFT_FOREVER) == 0) /* -EPIPE once shut down and empty */
        sum += job * job;
    return (void *)sum;
}

int main(void) {
    weft_queue *q;
    weft_thread *t[4];
    long total = 0;
    if (weft_queue_create(&q, WEFT_QUEUE_FIFO, sizeof(long), 16) < 0) /* bounded: 16 */
        return 1;
    for (int i = 0; i < 4; i++)
        weft_thread_start(&t[i], worker, q, NULL); /* "Thread-1" .. "Thread-4" */
    for (long job = 1; job <= 100; job++)
        weft_queue_put(q, &job, WEFT_FOREVER); /* waits while the queue is full */
    weft_queue_shutdown(q, 0);
    for (int i = 0; i < 4; i++) {
        void *sum;
        weft_thread_join(t[i], WEFT_FOREVER, &sum);
        total += (long)sum;
    }
    printf("sum of squares 1..100 = %ld\n", total); /* 338350 */
    weft_queue_destroy(q);
    return total != 338350;
}
