/* MQTT detection events against a real mosquitto broker on a free loopback port: payloads and
 * topics as documented, score/class filters, QoS 1 acknowledgements, a broker that goes away
 * (the publisher keeps accepting calls, drops and counts the overflow, reconnects when the
 * broker is back) and a broker that was never there. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include "events/events.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#ifdef EDGECAM_HAVE_MOSQUITTO
#include <arpa/inet.h>
#include <cjson/cJSON.h>
#include <mosquitto.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>

#define WAIT_S 10.0 /* upper bound for things that normally take milliseconds */

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static void sleep_ms(int ms) { usleep((useconds_t)ms * 1000); }

/* ---------------------------------------------------------------- broker */

struct broker {
    pid_t pid;
    int port;
    char conf[96];
};

static int free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof a;
    assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &len), 0);
    close(fd);
    return ntohs(a.sin_port);
}

static int port_open(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    int ok = connect(fd, (struct sockaddr *)&a, sizeof a) == 0;
    close(fd);
    return ok;
}

static const char *mosquitto_bin(void)
{
    static const char *const paths[] = {"/usr/sbin/mosquitto", "/usr/bin/mosquitto",
                                        "/usr/local/sbin/mosquitto"};
    for (size_t i = 0; i < sizeof paths / sizeof paths[0]; i++)
        if (access(paths[i], X_OK) == 0)
            return paths[i];
    return NULL;
}

/* Starts `mosquitto -c conf` on 127.0.0.1:port and waits until it accepts connections. */
static void broker_start(struct broker *b, int port)
{
    const char *bin = mosquitto_bin();
    if (!bin)
        fail_msg("mosquitto not installed (scripts/install-deps.sh --test)");
    b->port = port;
    snprintf(b->conf, sizeof b->conf, "/tmp/edgecam-mosq-%d-%d.conf", (int)getpid(), port);
    FILE *f = fopen(b->conf, "w");
    assert_non_null(f);
    fprintf(f, "listener %d 127.0.0.1\nallow_anonymous true\npersistence false\n", port);
    fclose(f);
    b->pid = fork();
    assert_true(b->pid >= 0);
    if (b->pid == 0) {
        int devnull = open("/dev/null", O_WRONLY);
        dup2(devnull, 1);
        dup2(devnull, 2);
        execl(bin, "mosquitto", "-c", b->conf, (char *)NULL);
        _exit(127);
    }
    double until = now_s() + WAIT_S;
    while (!port_open(port)) {
        int status;
        if (waitpid(b->pid, &status, WNOHANG) == b->pid)
            fail_msg("mosquitto exited at start (status %d)", status);
        assert_true(now_s() < until);
        sleep_ms(20);
    }
}

static void broker_stop(struct broker *b)
{
    if (b->pid <= 0)
        return;
    kill(b->pid, SIGTERM);
    waitpid(b->pid, NULL, 0);
    b->pid = 0;
    unlink(b->conf);
}

/* ---------------------------------------------------------------- subscriber */

#define MAX_MSGS 512

struct subscriber {
    struct mosquitto *m;
    pthread_mutex_t lock;
    int subscribed;
    int n;
    char topic[MAX_MSGS][128];
    char *payload[MAX_MSGS];
};

static void sub_on_connect(struct mosquitto *m, void *obj, int rc)
{
    (void)obj;
    if (rc == 0)
        mosquitto_subscribe(m, NULL, "test/#", 1);
}

static void sub_on_subscribe(struct mosquitto *m, void *obj, int mid, int n, const int *q)
{
    (void)m, (void)mid, (void)n, (void)q;
    struct subscriber *s = obj;
    pthread_mutex_lock(&s->lock);
    s->subscribed = 1;
    pthread_mutex_unlock(&s->lock);
}

static void sub_on_message(struct mosquitto *m, void *obj, const struct mosquitto_message *msg)
{
    (void)m;
    struct subscriber *s = obj;
    pthread_mutex_lock(&s->lock);
    if (s->n < MAX_MSGS) {
        snprintf(s->topic[s->n], sizeof s->topic[0], "%s", msg->topic);
        s->payload[s->n] = strndup(msg->payload, (size_t)msg->payloadlen);
        s->n++;
    }
    pthread_mutex_unlock(&s->lock);
}

static struct subscriber *sub_start(int port)
{
    struct subscriber *s = calloc(1, sizeof *s);
    pthread_mutex_init(&s->lock, NULL);
    s->m = mosquitto_new(NULL, true, s);
    assert_non_null(s->m);
    mosquitto_connect_callback_set(s->m, sub_on_connect);
    mosquitto_subscribe_callback_set(s->m, sub_on_subscribe);
    mosquitto_message_callback_set(s->m, sub_on_message);
    assert_int_equal(mosquitto_connect(s->m, "127.0.0.1", port, 30), MOSQ_ERR_SUCCESS);
    assert_int_equal(mosquitto_loop_start(s->m), MOSQ_ERR_SUCCESS);
    double until = now_s() + WAIT_S;
    for (;;) {
        pthread_mutex_lock(&s->lock);
        int ok = s->subscribed;
        pthread_mutex_unlock(&s->lock);
        if (ok)
            break;
        assert_true(now_s() < until);
        sleep_ms(10);
    }
    return s;
}

static int sub_count(struct subscriber *s)
{
    pthread_mutex_lock(&s->lock);
    int n = s->n;
    pthread_mutex_unlock(&s->lock);
    return n;
}

/* Waits until a message whose payload has "frame":<frame> arrived; its index. */
static int sub_wait_frame(struct subscriber *s, int64_t frame)
{
    char key[48];
    snprintf(key, sizeof key, "\"frame\":%lld,", (long long)frame);
    double until = now_s() + WAIT_S;
    for (;;) {
        pthread_mutex_lock(&s->lock);
        for (int i = 0; i < s->n; i++)
            if (strstr(s->payload[i], key)) {
                pthread_mutex_unlock(&s->lock);
                return i;
            }
        pthread_mutex_unlock(&s->lock);
        if (now_s() > until)
            fail_msg("no event for frame %lld arrived", (long long)frame);
        sleep_ms(10);
    }
}

static void sub_stop(struct subscriber *s)
{
    mosquitto_disconnect(s->m);
    mosquitto_loop_stop(s->m, true);
    mosquitto_destroy(s->m);
    for (int i = 0; i < s->n; i++)
        free(s->payload[i]);
    pthread_mutex_destroy(&s->lock);
    free(s);
}

/* ---------------------------------------------------------------- helpers */

static void wait_connected(mqtt_publisher *p, int64_t connects)
{
    double until = now_s() + WAIT_S;
    struct mqtt_publisher_stats st;
    for (mqtt_publisher_stats(p, &st); !st.connected || st.connects < connects;
         mqtt_publisher_stats(p, &st)) {
        assert_true(now_s() < until);
        sleep_ms(10);
    }
}

static struct det mkdet(int cls, float score, float x1, float y1, float x2, float y2)
{
    struct det d;
    memset(&d, 0, sizeof d);
    d.cls = cls;
    d.score = score;
    d.x1 = x1, d.y1 = y1, d.x2 = x2, d.y2 = y2;
    return d;
}

static int group_setup(void **state)
{
    mosquitto_lib_init();
    if (!mosquitto_bin()) {
        fprintf(stderr, "test_events: mosquitto is not installed\n");
        return -1;
    }
    *state = NULL;
    return 0;
}

/* ---------------------------------------------------------------- tests */

static void test_payload_topic_and_filters(void **state)
{
    (void)state;
    struct broker b = {0};
    broker_start(&b, free_port());
    struct subscriber *sub = sub_start(b.port);
    struct mqtt_publisher_opts o;
    mqtt_publisher_opts_init(&o);
    o.port = b.port;
    o.topic_prefix = "test";
    o.qos = 1;
    o.min_score = 0.5f;
    o.classes[0] = 0, o.classes[1] = 2, o.nclasses = 2;
    metrics *m = o.metrics = metrics_create();
    ec_err err = {0};
    mqtt_publisher *p = mqtt_publisher_create(&o, &err);
    assert_non_null(p);
    wait_connected(p, 1);

    struct det_list dets = {0};
    det_list_push(&dets, mkdet(0, 0.9f, 10, 20, 50, 80));   /* kept */
    det_list_push(&dets, mkdet(1, 0.95f, 0, 0, 5, 5));      /* class filtered out */
    det_list_push(&dets, mkdet(2, 0.3f, 0, 0, 5, 5));       /* score too low */
    assert_int_equal(mqtt_publisher_publish_detections(p, "cam-1", 1, 1700000000.25, &dets, &err), 0);
    det_list_clear(&dets);
    det_list_push(&dets, mkdet(0, 0.2f, 0, 0, 5, 5));
    assert_int_equal(mqtt_publisher_publish_detections(p, "cam-1", 2, 1700000000.5, &dets, &err), 0);
    det_list_clear(&dets);
    det_list_push(&dets, mkdet(2, 0.7f, 1, 2, 4, 8));
    assert_int_equal(mqtt_publisher_publish_detections(p, "cam-2", 3, 1700000001.0, &dets, &err), 0);
    assert_int_equal(mqtt_publisher_publish_detections(p, "bad/id", 4, 0, &dets, &err), -1);
    assert_int_equal(err.code, EC_EINVAL);
    assert_int_equal(mqtt_publisher_flush(p, 10000), 0); /* QoS 1: acknowledged */

    int i1 = sub_wait_frame(sub, 1), i3 = sub_wait_frame(sub, 3);
    assert_string_equal(sub->topic[i1], "test/cam-1/detections");
    assert_string_equal(sub->topic[i3], "test/cam-2/detections");
    cJSON *root = cJSON_Parse(sub->payload[i1]);
    assert_non_null(root);
    assert_string_equal(cJSON_GetObjectItem(root, "edge")->valuestring, "cam-1");
    assert_int_equal(cJSON_GetObjectItem(root, "frame")->valueint, 1);
    assert_true(cJSON_GetObjectItem(root, "t")->valuedouble == 1700000000.25);
    cJSON *arr = cJSON_GetObjectItem(root, "detections");
    assert_int_equal(cJSON_GetArraySize(arr), 1);
    cJSON *d = cJSON_GetArrayItem(arr, 0);
    assert_int_equal(cJSON_GetObjectItem(d, "class")->valueint, 0);
    assert_true(cJSON_GetObjectItem(d, "score")->valuedouble > 0.899 &&
                cJSON_GetObjectItem(d, "score")->valuedouble < 0.901);
    cJSON *box = cJSON_GetObjectItem(d, "box");
    double want[4] = {10, 20, 40, 60}; /* x, y, w, h */
    for (int k = 0; k < 4; k++)
        assert_true(cJSON_GetArrayItem(box, k)->valuedouble == want[k]);
    cJSON_Delete(root);

    struct mqtt_publisher_stats st;
    mqtt_publisher_stats(p, &st);
    assert_int_equal(st.published, 2);
    assert_int_equal(st.filtered, 1);
    assert_int_equal(st.dropped, 0);
    assert_int_equal(sub_count(sub), 2); /* the filtered frame never reached the broker */
    char *text = metrics_render(m, NULL);
    assert_non_null(strstr(text, "\nedgecam_mqtt_published_total 2\n"));
    assert_non_null(strstr(text, "\nedgecam_mqtt_connected 1\n"));
    free(text);

    mqtt_publisher_destroy(p);
    metrics_destroy(m);
    det_list_free(&dets);
    sub_stop(sub);
    broker_stop(&b);
}

static void test_broker_down_drops_then_reconnects(void **state)
{
    (void)state;
    struct broker b = {0};
    int port = free_port();
    broker_start(&b, port);
    struct mqtt_publisher_opts o;
    mqtt_publisher_opts_init(&o);
    o.port = port;
    o.topic_prefix = "test";
    o.queue_size = 4;
    o.backoff_min_ms = 20;
    o.backoff_max_ms = 100;
    ec_err err = {0};
    mqtt_publisher *p = mqtt_publisher_create(&o, &err);
    assert_non_null(p);
    wait_connected(p, 1);
    broker_stop(&b);
    struct mqtt_publisher_stats st;
    double until = now_s() + WAIT_S;
    for (mqtt_publisher_stats(p, &st); st.connected; mqtt_publisher_stats(p, &st)) {
        assert_true(now_s() < until);
        sleep_ms(10);
    }

    /* The frame pipeline keeps calling: every call returns at once, the overflow is counted. */
    struct det_list dets = {0};
    det_list_push(&dets, mkdet(1, 0.8f, 0, 0, 10, 10));
    int refused = 0;
    for (int i = 0; i < 100; i++)
        refused += mqtt_publisher_publish_detections(p, "cam-1", i, 1.0, &dets, NULL) != 0;
    mqtt_publisher_stats(p, &st);
    assert_int_equal(st.queue_len, 4);
    assert_int_equal(refused, 96);
    assert_int_equal(st.dropped, 96);
    assert_int_equal(st.queued, 4);

    /* The broker comes back on the same port: the publisher reconnects by itself. */
    broker_start(&b, port);
    struct subscriber *sub = sub_start(port);
    wait_connected(p, 2);
    assert_int_equal(mqtt_publisher_publish_detections(p, "cam-1", 999, 2.0, &dets, &err), 0);
    int i = sub_wait_frame(sub, 999);
    assert_string_equal(sub->topic[i], "test/cam-1/detections");
    assert_int_equal(mqtt_publisher_flush(p, 10000), 0);
    mqtt_publisher_stats(p, &st);
    assert_int_equal(st.published, 5); /* the 4 that waited, then frame 999 */
    mqtt_publisher_destroy(p);
    det_list_free(&dets);
    sub_stop(sub);
    broker_stop(&b);
}

static void test_no_broker_never_blocks(void **state)
{
    (void)state;
    struct mqtt_publisher_opts o;
    mqtt_publisher_opts_init(&o);
    o.port = free_port(); /* nothing listens there */
    o.queue_size = 2;
    o.backoff_min_ms = 10;
    o.backoff_max_ms = 40;
    ec_err err = {0};
    mqtt_publisher *p = mqtt_publisher_create(&o, &err);
    assert_non_null(p); /* connecting is the thread's business */
    struct det_list dets = {0};
    det_list_push(&dets, mkdet(0, 0.9f, 0, 0, 4, 4));
    for (int i = 0; i < 10; i++)
        mqtt_publisher_publish_detections(p, "cam-9", i, 0, &dets, NULL);
    sleep_ms(100); /* a few reconnect attempts happen meanwhile */
    struct mqtt_publisher_stats st;
    mqtt_publisher_stats(p, &st);
    assert_int_equal(st.connected, 0);
    assert_int_equal(st.queued, 2);
    assert_int_equal(st.dropped, 8);
    assert_int_equal(st.published, 0);
    assert_int_equal(mqtt_publisher_flush(p, 50), -1);
    mqtt_publisher_destroy(p);
    det_list_free(&dets);

    o.qos = 2;
    assert_null(mqtt_publisher_create(&o, &err));
    assert_int_equal(err.code, EC_EINVAL);
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_payload_topic_and_filters),
        cmocka_unit_test(test_broker_down_drops_then_reconnects),
        cmocka_unit_test(test_no_broker_never_blocks),
    };
    return cmocka_run_group_tests(tests, group_setup, NULL);
}

#else /* built without libmosquitto */

static void test_built_without_mqtt_says_so(void **state)
{
    (void)state;
    struct mqtt_publisher_opts o;
    mqtt_publisher_opts_init(&o);
    ec_err err = {0};
    assert_null(mqtt_publisher_create(&o, &err));
    assert_int_equal(err.code, EC_EUNSUPPORTED);
    assert_non_null(strstr(err.msg, "built without MQTT"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_built_without_mqtt_says_so)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}

#endif
