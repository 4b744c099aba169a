/* Child processes of the demo: spawn with the log redirected, stop in order, always reap. */
#include "demo/demo_internal.h"

#include "core/clock.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

int demo_fmt(char *dst, size_t cap, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(dst, cap, fmt, ap);
    va_end(ap);
    return n < 0 || (size_t)n >= cap ? -1 : 0;
}

int demo_proc_spawn(struct demo_proc *p, const char *exe, const char *sub, const char *cfg,
                    ec_err *err)
{
    int logfd = open(p->log_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (logfd < 0)
        return ec_err_set(err, EC_EIO, "%s: %s", p->log_path, strerror(errno));
    int nullfd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (nullfd < 0) {
        close(logfd);
        return ec_err_set(err, EC_EIO, "/dev/null: %s", strerror(errno));
    }
    char *argv[] = {"edgecam", (char *)sub, "-c", (char *)cfg, NULL};
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid == 0) {
        /* Child: only async-signal-safe calls until exec. Its own process group keeps a
         * terminal's Ctrl-C for the demo, which stops the children in order. */
        setpgid(0, 0);
        prctl(PR_SET_PDEATHSIG, SIGTERM);
        if (getppid() != parent)
            _exit(126);
        dup2(nullfd, 0);
        dup2(logfd, 1);
        dup2(logfd, 2);
        sigset_t none;
        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, NULL);
        execv(exe, argv);
        static const char msg[] = "edgecam demo: exec of the edgecam binary failed\n";
        (void)!write(2, msg, sizeof msg - 1);
        _exit(127);
    }
    int e = errno;
    close(logfd);
    close(nullfd);
    if (pid < 0)
        return ec_err_set(err, EC_EIO, "fork: %s", strerror(e));
    p->pid = pid;
    p->reaped = 0;
    p->status = 0;
    return 0;
}

int demo_proc_exited(struct demo_proc *p)
{
    if (p->pid <= 0 || p->reaped)
        return 1;
    int st;
    pid_t r = waitpid(p->pid, &st, WNOHANG);
    if (r == p->pid || (r < 0 && errno == ECHILD)) {
        p->reaped = 1;
        p->status = r == p->pid ? st : 0;
        return 1;
    }
    return 0;
}

void demo_proc_stop(struct demo_proc *p, double grace_s)
{
    if (demo_proc_exited(p))
        return;
    kill(p->pid, SIGTERM);
    double deadline = clock_mono_s() + grace_s;
    while (!demo_proc_exited(p)) {
        if (clock_mono_s() > deadline) {
            kill(p->pid, SIGKILL);
            int st;
            if (waitpid(p->pid, &st, 0) == p->pid)
                p->status = st;
            p->reaped = 1;
            return;
        }
        clock_sleep_ns(20000000ull);
    }
}

void demo_proc_describe(const struct demo_proc *p, char *out, size_t cap)
{
    if (p->pid <= 0)
        snprintf(out, cap, "not started");
    else if (!p->reaped)
        snprintf(out, cap, "running");
    else if (WIFEXITED(p->status))
        snprintf(out, cap, "exit %d", WEXITSTATUS(p->status));
    else if (WIFSIGNALED(p->status))
        snprintf(out, cap, "signal %d", WTERMSIG(p->status));
    else
        snprintf(out, cap, "status %d", p->status);
}

static int port_accepts(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return 0;
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    int ok = connect(fd, (struct sockaddr *)&a, sizeof a) == 0;
    close(fd);
    return ok;
}

int demo_wait_port(struct demo_proc *p, double timeout_s, ec_err *err)
{
    double deadline = clock_mono_s() + timeout_s;
    for (;;) {
        if (port_accepts(p->port))
            return 0;
        if (demo_proc_exited(p))
            return 1;
        if (clock_mono_s() > deadline)
            return ec_err_set(err, EC_ETIMEOUT, "%s did not listen on port %d within %.0f s",
                              p->name, p->port, timeout_s);
        clock_sleep_ns(50000000ull);
    }
}

static int bind_loopback(int port, int *out_port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof a;
    if (bind(fd, (struct sockaddr *)&a, sizeof a) != 0 ||
        getsockname(fd, (struct sockaddr *)&a, &len) != 0) {
        close(fd);
        return -1;
    }
    *out_port = ntohs(a.sin_port);
    return fd;
}

int demo_pick_ports(int base, int *ports, int n, ec_err *err)
{
    if (base < 0 || base + n - 1 > 65535)
        return ec_err_set(err, EC_EINVAL, "base port %d: need %d ports up to 65535", base, n);
    int fds[16], rc = 0, nfd = 0;
    if (n > 16)
        return ec_err_set(err, EC_EINVAL, "too many ports");
    /* Hold every socket until all are chosen, so the kernel hands out distinct ports. */
    for (int i = 0; i < n && rc == 0; i++) {
        int fd = bind_loopback(base ? base + i : 0, &ports[i]);
        if (fd < 0)
            rc = base ? ec_err_set(err, EC_EINVAL,
                                   "port %d on 127.0.0.1 is busy (%s): stop what uses it or "
                                   "pick another --base-port (0 = free ports)",
                                   base + i, strerror(errno))
                      : ec_err_set(err, EC_EIO, "no free loopback port: %s", strerror(errno));
        else
            fds[nfd++] = fd;
    }
    for (int i = 0; i < nfd; i++)
        close(fds[i]);
    return rc;
}

void demo_log_tail(const char *path, char *out, size_t max)
{
    out[0] = '\0';
    FILE *f = fopen(path, "r");
    if (!f || max < 2)
        goto done;
    fseek(f, 0, SEEK_END);
    long size = ftell(f);
    long from = size > (long)max - 1 ? size - (long)max + 1 : 0;
    fseek(f, from, SEEK_SET);
    size_t n = fread(out, 1, max - 1, f);
    out[n] = '\0';
done:
    if (f)
        fclose(f);
}
