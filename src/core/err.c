#include "core/err.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

int ec_err_set(ec_err *e, enum ec_errcode code, const char *fmt, ...)
{
    if (!e)
        return -1;
    e->code = code;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e->msg, sizeof e->msg, fmt, ap);
    va_end(ap);
    return -1;
}

int ec_err_wrap(ec_err *e, const char *fmt, ...)
{
    if (!e)
        return -1;
    char prefix[256], old[sizeof e->msg];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(prefix, sizeof prefix, fmt, ap);
    va_end(ap);
    memcpy(old, e->msg, sizeof old);
    /* Truncation is acceptable: the message is for people. */
    size_t n = strlen(prefix);
    if (n > sizeof e->msg - 3)
        n = sizeof e->msg - 3;
    memcpy(e->msg, prefix, n);
    memcpy(e->msg + n, ": ", 2);
    size_t room = sizeof e->msg - n - 3;
    size_t m = strnlen(old, room);
    memcpy(e->msg + n + 2, old, m);
    e->msg[n + 2 + m] = '\0';
    return -1;
}

void ec_err_clear(ec_err *e)
{
    if (e) {
        e->code = EC_OK;
        e->msg[0] = '\0';
    }
}

const char *ec_errcode_name(enum ec_errcode code)
{
    static const char *names[] = {
        "ok", "invalid argument", "i/o error", "out of memory", "bad format",
        "network error", "timeout", "not found", "end of stream", "full",
        "closed", "unsupported",
    };
    if ((unsigned)code < sizeof names / sizeof names[0])
        return names[code];
    return "unknown error";
}
