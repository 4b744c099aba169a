#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include "core/bqueue.h"
#include "core/clock.h"
#include "core/det.h"
#include "core/err.h"
#include "core/image.h"
#include "core/log.h"
#include "core/tpool.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void test_err_set_and_wrap(void **state)
{
    (void)state;
    ec_err e;
    ec_err_clear(&e);
    assert_int_equal(ec_err_set(&e, EC_EFORMAT, "bad byte %d", 7), -1);
    assert_int_equal(e.code, EC_EFORMAT);
    assert_string_equal(e.msg, "bad byte 7");
    ec_err_wrap(&e, "reading %s", "x.jpg");
    assert_string_equal(e.msg, "reading x.jpg: bad byte 7");
    assert_int_equal(ec_err_set(NULL, EC_EIO, "ignored"), -1);
}

static void test_log_level_parse(void **state)
{
    (void)state;
    enum log_level l;
    assert_int_equal(log_level_parse("debug", &l), 0);
    assert_int_equal(l, LOG_LEVEL_DEBUG);
    assert_int_equal(log_level_parse("loud", &l), -1);
}

static void test_log_file_receives_lines(void **state)
{
    (void)state;
    char path[] = "/tmp/edgecam-log-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    close(fd);
    assert_int_equal(log_set_file(path, NULL), 0);
    log_set_level(LOG_LEVEL_INFO);
    log_info("hello %d", 42);
    log_debug("hidden");
    log_set_file(NULL, NULL);
    FILE *f = fopen(path, "r");
    char buf[4096] = {0};
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    unlink(path);
    assert_true(n > 0);
    assert_non_null(strstr(buf, "INFO"));
    assert_non_null(strstr(buf, "hello 42"));
    assert_null(strstr(buf, "hidden"));
}

static void test_bqueue_fifo_bounded_counts_drops(void **state)
{
    (void)state;
    bqueue *q = bqueue_create(2);
    int a = 1, b = 2, c = 3;
    assert_int_equal(bqueue_try_push(q, &a), 0);
    assert_int_equal(bqueue_try_push(q, &b), 0);
    assert_int_equal(bqueue_try_push(q, &c), -1);
    assert_int_equal(bqueue_push(q, &c, 20), -1); /* times out */
    struct bqueue_stats s;
    bqueue_stats(q, &s);
    assert_int_equal(s.len, 2);
    assert_int_equal(s.dropped, 2);
    assert_ptr_equal(bqueue_pop(q, 0), &a);
    assert_ptr_equal(bqueue_pop(q, 0), &b);
    assert_null(bqueue_pop(q, 10));
    bqueue_destroy(q);
    assert_null(bqueue_create(0));
}

static void test_bqueue_close_drains_then_null(void **state)
{
    (void)state;
    bqueue *q = bqueue_create(4);
    int a = 1;
    bqueue_try_push(q, &a);
    bqueue_close(q);
    assert_int_equal(bqueue_try_push(q, &a), -1);
    assert_ptr_equal(bqueue_pop(q, -1), &a);
    assert_null(bqueue_pop(q, -1)); /* closed and empty: does not block */
    bqueue_destroy(q);
}

#define NPROD 4
#define NCONS 3
#define PER_PROD 5000

struct mpmc {
    bqueue *q;
    atomic_long sum;
    atomic_long count;
};

static void *producer(void *arg)
{
    struct mpmc *m = arg;
    for (intptr_t i = 1; i <= PER_PROD; i++)
        while (bqueue_push(m->q, (void *)i, -1) != 0) {
        }
    return NULL;
}

static void *consumer(void *arg)
{
    struct mpmc *m = arg;
    void *item;
    while ((item = bqueue_pop(m->q, -1)) != NULL) {
        atomic_fetch_add(&m->sum, (long)(intptr_t)item);
        atomic_fetch_add(&m->count, 1);
    }
    return NULL;
}

static void test_bqueue_mpmc_no_loss(void **state)
{
    (void)state;
    struct mpmc m = {.q = bqueue_create(8)};
    pthread_t p[NPROD], c[NCONS];
    for (int i = 0; i < NCONS; i++)
        pthread_create(&c[i], NULL, consumer, &m);
    for (int i = 0; i < NPROD; i++)
        pthread_create(&p[i], NULL, producer, &m);
    for (int i = 0; i < NPROD; i++)
        pthread_join(p[i], NULL);
    bqueue_close(m.q);
    for (int i = 0; i < NCONS; i++)
        pthread_join(c[i], NULL);
    assert_int_equal(atomic_load(&m.count), NPROD * PER_PROD);
    assert_int_equal(atomic_load(&m.sum), (long)NPROD * PER_PROD * (PER_PROD + 1) / 2);
    struct bqueue_stats s;
    bqueue_stats(m.q, &s);
    assert_int_equal(s.dropped, 0);
    assert_int_equal(s.pushed, s.popped);
    bqueue_destroy(m.q);
}

static atomic_int g_ran;
static void count_task(void *arg)
{
    (void)arg;
    clock_sleep_ns(100000);
    atomic_fetch_add(&g_ran, 1);
}

static void test_tpool_runs_all_and_rejects_when_full(void **state)
{
    (void)state;
    atomic_store(&g_ran, 0);
    tpool *p = tpool_create(2, 1000);
    for (int i = 0; i < 200; i++)
        assert_int_equal(tpool_submit(p, count_task, NULL), 0);
    tpool_wait_idle(p);
    assert_int_equal(atomic_load(&g_ran), 200);
    tpool_destroy(p);

    atomic_store(&g_ran, 0);
    p = tpool_create(1, 2);
    int accepted = 0, rejected = 0;
    for (int i = 0; i < 50; i++)
        (tpool_submit(p, count_task, NULL) == 0) ? accepted++ : rejected++;
    assert_true(rejected > 0);
    assert_int_equal(tpool_rejected(p), (uint64_t)rejected);
    tpool_destroy(p); /* runs the accepted ones */
    assert_int_equal(atomic_load(&g_ran), accepted);
}

static void test_clock_monotonic(void **state)
{
    (void)state;
    uint64_t a = clock_mono_ns();
    clock_sleep_ns(2000000);
    uint64_t b = clock_mono_ns();
    assert_true(b - a >= 2000000);
    assert_true(clock_wall_ms() > 1600000000000LL);
}

static void test_image_create_limits_and_gray(void **state)
{
    (void)state;
    assert_null(image_create(0, 10, 3));
    assert_null(image_create(10, IMAGE_MAX_DIM + 1, 3));
    assert_null(image_create(10, 10, 2));
    image *rgb = image_create(2, 1, 3);
    uint8_t px[6] = {255, 0, 0, 10, 200, 30};
    memcpy(rgb->data, px, 6);
    image *gray = image_create(2, 1, 1);
    image_rgb_to_gray(rgb, gray);
    assert_int_equal(gray->data[0], 76);  /* round(0.299 * 255) */
    assert_int_equal(gray->data[1], 124); /* round(2.99 + 117.4 + 3.42) */
    image *copy = image_clone(rgb);
    assert_memory_equal(copy->data, rgb->data, 6);
    image_destroy(copy);
    image_destroy(rgb);
    image_destroy(gray);
}

static void test_det_list_and_iou(void **state)
{
    (void)state;
    struct det_list l = {0};
    for (int i = 0; i < 40; i++)
        assert_int_equal(det_list_push(&l, (struct det){0, 0, (float)i + 1, 1, 0.5f, i % 3}), 0);
    assert_int_equal(l.n, 40);
    assert_true(l.v[39].x2 == 40.0f);
    struct det a = {0, 0, 10, 10, 1, 0}, b = {5, 0, 15, 10, 1, 0}, c = {20, 20, 30, 30, 1, 0};
    assert_float_equal(det_iou(&a, &b), 50.0 / 150.0, 1e-6);
    assert_float_equal(det_iou(&a, &c), 0.0, 1e-9);
    assert_float_equal(det_iou(&a, &a), 1.0, 1e-6);
    det_list_free(&l);
    assert_null(l.v);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_err_set_and_wrap),
        cmocka_unit_test(test_log_level_parse),
        cmocka_unit_test(test_log_file_receives_lines),
        cmocka_unit_test(test_bqueue_fifo_bounded_counts_drops),
        cmocka_unit_test(test_bqueue_close_drains_then_null),
        cmocka_unit_test(test_bqueue_mpmc_no_loss),
        cmocka_unit_test(test_tpool_runs_all_and_rejects_when_full),
        cmocka_unit_test(test_clock_monotonic),
        cmocka_unit_test(test_image_create_limits_and_gray),
        cmocka_unit_test(test_det_list_and_iou),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
