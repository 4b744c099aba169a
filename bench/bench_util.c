#include "bench/bench_util.h"

#include "core/log.h"
#include "synth/synth.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

int bench_video_file(const char *dir, int width, int height, int frames, char *path, size_t cap,
                     ec_err *err)
{
    if (mkdir(dir, 0755) != 0 && errno != EEXIST)
        return ec_err_set(err, EC_EIO, "cannot create %s: %s", dir, strerror(errno));
    snprintf(path, cap, "%s/synth-%dx%d-%d.mp4", dir, width, height, frames);
    struct stat st;
    if (stat(path, &st) == 0 && st.st_size > 0)
        return 0;
    struct synth_opts so;
    synth_opts_default(&so);
    so.width = width;
    so.height = height;
    so.frames = frames;
    so.fps = 30;
    log_info("bench: generating %s (%d frames)", path, frames);
    char tmp[1100];
    snprintf(tmp, sizeof tmp, "%s.part.mp4", path);
    if (synth_write_video(&so, tmp, NULL, NULL, NULL, err) != 0)
        return ec_err_wrap(err, "generating %s", path);
    if (rename(tmp, path) != 0)
        return ec_err_set(err, EC_EIO, "rename %s: %s", tmp, strerror(errno));
    return 0;
}

int bench_run(char *const argv[], char *errbuf, size_t cap)
{
    int fds[2];
    if (pipe(fds) != 0)
        return -1;
    pid_t pid = fork();
    if (pid < 0) {
        close(fds[0]);
        close(fds[1]);
        return -1;
    }
    if (pid == 0) {
        int fd = open("/dev/null", O_RDWR);
        if (fd >= 0) {
            dup2(fd, 0);
            dup2(fd, 1);
        }
        dup2(fds[1], 2);
        execvp(argv[0], argv);
        _exit(127);
    }
    close(fds[1]);
    size_t n = 0;
    char sink[4096];
    ssize_t r;
    while ((r = read(fds[0], errbuf && n + 1 < cap ? errbuf + n : sink,
                     errbuf && n + 1 < cap ? cap - 1 - n : sizeof sink)) != 0) {
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            break;
        if (errbuf && n + 1 < cap)
            n += (size_t)r;
    }
    if (errbuf && cap)
        errbuf[n] = '\0';
    close(fds[0]);
    int status;
    while (waitpid(pid, &status, 0) < 0)
        if (errno != EINTR)
            return -1;
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}
