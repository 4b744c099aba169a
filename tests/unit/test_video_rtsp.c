/* RTSP source against a real RTSP server (GStreamer gst-rtsp-server, from
 * tests/integration/rtsp_server.py) on 127.0.0.1: the server is killed and
 * restarted mid-stream and the source must reconnect and keep reading.
 * Every wait is bounded: a watchdog interrupts the source if a test overruns. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include "core/clock.h"
#include "core/err.h"
#include "video/video.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#define SERVER_START_TIMEOUT_MS 15000
#define TEST_DEADLINE_S 40.0

struct server {
    pid_t pid;
    int port;
};

/* The test's server, killed by the teardown even when an assertion bailed out. */
static struct server sv;

/* Starts the server on `port` (0: any free port) and waits for its "PORT n" line. */
static int server_start(struct server *srv, int port)
{
    const char *src = getenv("EDGECAM_SOURCE_DIR");
    char script[1024], port_arg[16];
    snprintf(script, sizeof script, "%s/tests/integration/rtsp_server.py", src ? src : ".");
    snprintf(port_arg, sizeof port_arg, "%d", port);
    const char *bin = getenv("EDGECAM_BINARY_DIR");
    char log[1024];
    snprintf(log, sizeof log, "%s/rtsp_server.log", bin ? bin : "/tmp");
    int fds[2];
    if (pipe(fds) != 0)
        return -1;
    pid_t pid = fork();
    if (pid < 0)
        return -1;
    if (pid == 0) {
        /* Only async-signal-safe calls here. Its chatter goes to a log, not to CTest's
         * pipe; the script exits by itself when this process goes away. */
        int logfd = open(log, O_WRONLY | O_CREAT | O_APPEND, 0644);
        if (logfd >= 0)
            dup2(logfd, STDERR_FILENO);
        dup2(fds[1], STDOUT_FILENO);
        close(fds[0]);
        close(fds[1]);
        execl("/usr/bin/python3", "python3", script, "--port", port_arg, "--lifetime", "90",
              (char *)NULL);
        _exit(127);
    }
    close(fds[1]);
    srv->pid = pid;
    srv->port = -1;
    char buf[256];
    size_t used = 0;
    double end = clock_mono_s() + SERVER_START_TIMEOUT_MS / 1000.0;
    while (srv->port < 0 && clock_mono_s() < end && used < sizeof buf - 1) {
        struct pollfd p = {.fd = fds[0], .events = POLLIN};
        if (poll(&p, 1, 100) <= 0)
            continue;
        ssize_t n = read(fds[0], buf + used, sizeof buf - 1 - used);
        if (n <= 0)
            break;
        used += (size_t)n;
        buf[used] = '\0';
        char *line = strstr(buf, "PORT ");
        if (line && strchr(line, '\n'))
            srv->port = atoi(line + 5);
    }
    close(fds[0]);
    if (srv->port <= 0) {
        kill(pid, SIGKILL);
        waitpid(pid, NULL, 0);
        srv->pid = 0;
        return -1;
    }
    return 0;
}

static void server_kill(struct server *srv)
{
    if (srv->pid > 0) {
        kill(srv->pid, SIGCONT);
        kill(srv->pid, SIGKILL);
        waitpid(srv->pid, NULL, 0);
        srv->pid = 0;
    }
}

/* Interrupts the source once the test's deadline passes, so nothing can hang. */
struct watchdog {
    source *src;
    atomic_int done;
    pthread_t thread;
};

static void *watchdog_main(void *arg)
{
    struct watchdog *w = arg;
    double end = clock_mono_s() + TEST_DEADLINE_S;
    while (!atomic_load(&w->done) && clock_mono_s() < end)
        clock_sleep_ns(20 * 1000000ull);
    if (!atomic_load(&w->done))
        source_interrupt(w->src);
    return NULL;
}

static void watchdog_start(struct watchdog *w, source *s)
{
    w->src = s;
    atomic_store(&w->done, 0);
    pthread_create(&w->thread, NULL, watchdog_main, w);
}

static void watchdog_stop(struct watchdog *w)
{
    atomic_store(&w->done, 1);
    pthread_join(w->thread, NULL);
}

static source *open_rtsp(int port, int io_timeout_ms, ec_err *err)
{
    char url[128];
    snprintf(url, sizeof url, "rtsp://127.0.0.1:%d/cam", port);
    struct source_opts o;
    source_opts_init(&o);
    o.uri = url;
    o.sample_interval = 5;
    o.io_timeout_ms = io_timeout_ms;
    o.reconnect_max = 40;
    o.backoff_initial_ms = 50;
    o.backoff_max_ms = 400;
    return source_open(&o, err);
}

/* Reads `n` frames, checking the index runs on by one and pts increases. */
static void read_frames(source *s, int n, int64_t *next_index, double *last_pts)
{
    for (int i = 0; i < n; i++) {
        struct frame f;
        ec_err err;
        ec_err_clear(&err);
        int r = source_read(s, &f, &err);
        if (r != 1)
            fail_msg("read %d of %d: rc %d: %s", i, n, r, err.msg);
        assert_int_equal(f.index, *next_index);
        assert_true(f.pts_s > *last_pts);
        assert_int_equal(f.sampled, f.index % 5 == 0);
        if (f.sampled) {
            assert_non_null(f.img);
            assert_int_equal(f.img->w, 320);
            assert_int_equal(f.img->h, 240);
        }
        *last_pts = f.pts_s;
        (*next_index)++;
        frame_release(&f);
    }
}

struct restarter {
    struct server *sv;
    int port, ok;
};

/* Kills the server, leaves it down for a while, then starts it again on the same port. */
static void *restart_main(void *arg)
{
    struct restarter *r = arg;
    server_kill(r->sv);
    clock_sleep_ns(700 * 1000000ull);
    r->ok = server_start(r->sv, r->port) == 0;
    return NULL;
}

static void test_rtsp_reconnects_after_server_restart(void **state)
{
    (void)state;
    assert_int_equal(server_start(&sv, 0), 0);
    ec_err err;
    ec_err_clear(&err);
    source *s = open_rtsp(sv.port, 2000, &err);
    if (!s) {
        server_kill(&sv);
        fail_msg("open: %s", err.msg);
    }
    struct watchdog wd;
    watchdog_start(&wd, s);

    int64_t next = 0;
    double last_pts = -1;
    read_frames(s, 30, &next, &last_pts);
    struct source_stats st;
    source_stats(s, &st);
    assert_int_equal(st.reconnects, 0);
    assert_int_equal(st.width, 320);

    struct restarter rs = {.sv = &sv, .port = sv.port};
    pthread_t t;
    pthread_create(&t, NULL, restart_main, &rs);
    /* Frames keep coming: those still buffered, then the new session's. */
    read_frames(s, 60, &next, &last_pts);
    pthread_join(t, NULL);
    assert_true(rs.ok);
    source_stats(s, &st);
    assert_true(st.reconnects >= 1);
    /* And once more, to show the source is settled on the new session. */
    read_frames(s, 30, &next, &last_pts);
    source_stats(s, &st);
    assert_int_equal(st.decoded, (uint64_t)next);

    watchdog_stop(&wd);
    source_destroy(s);
    server_kill(&sv);
}

static void *resume_server_later(void *arg)
{
    (void)arg;
    clock_sleep_ns(2500 * 1000000ull);
    kill(sv.pid, SIGCONT);
    return NULL;
}

/* A server that stops answering (SIGSTOP) for longer than the I/O timeout: the read
 * times out, the source reconnects once the server answers again, frames go on. */
static void test_rtsp_stall_times_out_and_recovers(void **state)
{
    (void)state;
    assert_int_equal(server_start(&sv, 0), 0);
    ec_err err;
    source *s = open_rtsp(sv.port, 1000, &err);
    if (!s)
        fail_msg("open: %s", err.msg);
    struct watchdog wd;
    watchdog_start(&wd, s);
    int64_t next = 0;
    double last_pts = -1;
    read_frames(s, 10, &next, &last_pts);
    kill(sv.pid, SIGSTOP);
    pthread_t t;
    pthread_create(&t, NULL, resume_server_later, NULL);
    read_frames(s, 60, &next, &last_pts);
    pthread_join(t, NULL);
    struct source_stats st;
    source_stats(s, &st);
    assert_true(st.reconnects >= 1);
    watchdog_stop(&wd);
    source_destroy(s);
    server_kill(&sv);
}

static void *interrupt_after_delay(void *arg)
{
    clock_sleep_ns(500 * 1000000ull);
    source_interrupt(arg);
    return NULL;
}

/* A stalled server (SIGSTOP) must not block the reader past source_interrupt. */
static void test_rtsp_interrupt_unblocks_stalled_read(void **state)
{
    (void)state;
    assert_int_equal(server_start(&sv, 0), 0);
    ec_err err;
    source *s = open_rtsp(sv.port, 6000, &err);
    if (!s) {
        server_kill(&sv);
        fail_msg("open: %s", err.msg);
    }
    int64_t next = 0;
    double last_pts = -1;
    read_frames(s, 10, &next, &last_pts);
    kill(sv.pid, SIGSTOP);

    struct watchdog wd;
    watchdog_start(&wd, s);
    struct frame f;
    int r;
    double t0 = clock_mono_s();
    /* Drain whatever was already in flight; then reads block on the silent server. */
    pthread_t t;
    pthread_create(&t, NULL, interrupt_after_delay, s);
    while ((r = source_read(s, &f, &err)) == 1)
        frame_release(&f);
    double waited = clock_mono_s() - t0;
    pthread_join(t, NULL);
    watchdog_stop(&wd);
    assert_int_equal(r, -1);
    assert_int_equal(err.code, EC_ECLOSED);
    /* Interrupted at 0.5 s: well before the 6 s I/O timeout could have ended the read. */
    assert_true(waited < 5.0);
    source_destroy(s);
    server_kill(&sv);
}

/* Nothing listening: the first open fails fast with a network error. */
static void test_rtsp_no_server_is_clear_error(void **state)
{
    (void)state;
    assert_int_equal(server_start(&sv, 0), 0);
    int port = sv.port;
    server_kill(&sv); /* the port is now (very likely) closed */
    ec_err err;
    ec_err_clear(&err);
    double t0 = clock_mono_s();
    source *s = open_rtsp(port, 2000, &err);
    assert_null(s);
    assert_true(clock_mono_s() - t0 < 10.0);
    assert_true(err.code == EC_ENET || err.code == EC_ETIMEOUT);
    assert_non_null(strstr(err.msg, "rtsp://127.0.0.1:"));
}

static int kill_server(void **state)
{
    (void)state;
    server_kill(&sv);
    return 0;
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_rtsp_reconnects_after_server_restart, kill_server),
        cmocka_unit_test_teardown(test_rtsp_stall_times_out_and_recovers, kill_server),
        cmocka_unit_test_teardown(test_rtsp_interrupt_unblocks_stalled_read, kill_server),
        cmocka_unit_test_teardown(test_rtsp_no_server_is_clear_error, kill_server),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
