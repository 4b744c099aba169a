#include "core/log.h"

#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

static atomic_int g_level = LOG_LEVEL_INFO;
static pthread_mutex_t g_lock = PTHREAD_MUTEX_INITIALIZER;
static FILE *g_file;
static char g_name[32];

static const char *level_names[] = {"ERROR", "WARN", "INFO", "DEBUG"};

void log_set_level(enum log_level level) { atomic_store(&g_level, (int)level); }

enum log_level log_get_level(void) { return (enum log_level)atomic_load(&g_level); }

int log_level_parse(const char *name, enum log_level *out)
{
    static const char *lower[] = {"error", "warn", "info", "debug"};
    for (int i = 0; i < 4; i++) {
        if (strcmp(name, lower[i]) == 0) {
            *out = (enum log_level)i;
            return 0;
        }
    }
    return -1;
}

int log_set_file(const char *path, ec_err *err)
{
    FILE *f = NULL;
    if (path) {
        f = fopen(path, "a");
        if (!f)
            return ec_err_set(err, EC_EIO, "cannot open log file %s: %s", path, strerror(errno));
        setvbuf(f, NULL, _IOLBF, 0);
    }
    pthread_mutex_lock(&g_lock);
    if (g_file)
        fclose(g_file);
    g_file = f;
    pthread_mutex_unlock(&g_lock);
    return 0;
}

void log_set_name(const char *name)
{
    pthread_mutex_lock(&g_lock);
    snprintf(g_name, sizeof g_name, "%s", name ? name : "");
    pthread_mutex_unlock(&g_lock);
}

void log_write(enum log_level level, const char *file, int line, const char *fmt, ...)
{
    if ((int)level > atomic_load(&g_level))
        return;
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);

    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    struct tm tm;
    gmtime_r(&ts.tv_sec, &tm);
    char stamp[40];
    strftime(stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%S", &tm);
    const char *base = strrchr(file, '/');
    base = base ? base + 1 : file;

    pthread_mutex_lock(&g_lock);
    FILE *outs[2] = {stderr, g_file};
    for (int i = 0; i < 2; i++) {
        if (!outs[i])
            continue;
        fprintf(outs[i], "%s.%03ldZ %-5s %s%s%s%s:%d: %s\n", stamp, ts.tv_nsec / 1000000L,
                level_names[level], g_name[0] ? "[" : "", g_name, g_name[0] ? "] " : "", base,
                line, msg);
    }
    pthread_mutex_unlock(&g_lock);
}
