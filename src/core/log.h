/* Leveled, thread-safe logging to stderr and optionally a file. */
#ifndef EDGECAM_CORE_LOG_H
#define EDGECAM_CORE_LOG_H

#include "core/err.h"

enum log_level { LOG_LEVEL_ERROR = 0, LOG_LEVEL_WARN, LOG_LEVEL_INFO, LOG_LEVEL_DEBUG };

void log_set_level(enum log_level level);
enum log_level log_get_level(void);
/* Parses "error|warn|info|debug"; returns -1 on an unknown name. */
int log_level_parse(const char *name, enum log_level *out);
/* Also append every line to `path` (NULL closes the file). */
int log_set_file(const char *path, ec_err *err);
/* Prefix every line with a component name, e.g. "edge-1". */
void log_set_name(const char *name);

void log_write(enum log_level level, const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

#define log_error(...) log_write(LOG_LEVEL_ERROR, __FILE__, __LINE__, __VA_ARGS__)
#define log_warn(...) log_write(LOG_LEVEL_WARN, __FILE__, __LINE__, __VA_ARGS__)
#define log_info(...) log_write(LOG_LEVEL_INFO, __FILE__, __LINE__, __VA_ARGS__)
#define log_debug(...) log_write(LOG_LEVEL_DEBUG, __FILE__, __LINE__, __VA_ARGS__)

#endif
