/* Error values returned by every module: a code and a human-readable message.
 * Functions that can fail take an `ec_err *` (may be NULL) and return -1 on failure. */
#ifndef EDGECAM_CORE_ERR_H
#define EDGECAM_CORE_ERR_H

enum ec_errcode {
    EC_OK = 0,
    EC_EINVAL,   /* bad argument or configuration value */
    EC_EIO,      /* file or device I/O */
    EC_ENOMEM,
    EC_EFORMAT,  /* malformed input: file, JPEG, JSON, model */
    EC_ENET,     /* network or peer failure */
    EC_ETIMEOUT,
    EC_ENOTFOUND,
    EC_EEOF,     /* end of stream: not an error for a finite source */
    EC_EFULL,    /* bounded queue or pool full */
    EC_ECLOSED,  /* queue closed / component shut down */
    EC_EUNSUPPORTED,
};

typedef struct ec_err {
    enum ec_errcode code;
    char msg[512];
} ec_err;

/* Fills `e` (if not NULL) and returns -1 so callers can `return ec_err_set(...)`. */
int ec_err_set(ec_err *e, enum ec_errcode code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Prepends context: "context: previous message". Returns -1. */
int ec_err_wrap(ec_err *e, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void ec_err_clear(ec_err *e);
const char *ec_errcode_name(enum ec_errcode code);

#endif
