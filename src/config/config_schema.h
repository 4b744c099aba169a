/* Internal: the table that describes every key of struct ec_config. The loader, the validator
 * and the dumper all walk it, so a key added here is parsed, checked and documented at once. */
#ifndef EDGECAM_CONFIG_SCHEMA_H
#define EDGECAM_CONFIG_SCHEMA_H

#include "config/config.h"

#include <limits.h>
#include <stddef.h>

enum field_type {
    FT_INT,     /* int */
    FT_DOUBLE,  /* double */
    FT_BOOL,    /* bool */
    FT_STRING,  /* char[size], no control characters */
    FT_ID,      /* char[size], 1..size-1 of [A-Za-z0-9_-] */
    FT_URL,     /* char[size], "" or http(s)://... */
    FT_ENUM,    /* int-sized enum, names from config_enum_name() */
    FT_SECTION, /* nested struct described by children */
    FT_LIST,    /* element array of `size` bytes each + int count at count_offset */
};

#define FIELD_REQUIRED 1u /* list element key that must be present and non-empty */
#define FIELD_SECRET 2u   /* string shown as "<redacted>" by a redacting dump */

/* A cross-field rule that failed: the key it blames (a child of the section) and why. */
struct check_fail {
    const char *key;
    char msg[256];
};

struct field {
    const char *key; /* NULL ends a table */
    enum field_type type;
    size_t offset; /* from the start of the enclosing struct */
    size_t size;   /* string buffer size, or list element size */
    double min, max; /* numeric range; list: max = capacity */
    enum config_enum enum_id;
    const struct field *children; /* section fields or list element fields */
    size_t count_offset;          /* list: offset of the int count */
    unsigned flags;
    int (*check)(const void *obj, struct check_fail *fail); /* section rule, 0 = ok */
    const char *doc;
};

extern const struct field config_root_fields[];

/* "must be an integer >= 1" etc.: what a valid value of `f` looks like. */
void field_describe(const struct field *f, char *buf, size_t n);
/* Value checks shared by the loader and the validator (true = valid). */
bool field_int_ok(const struct field *f, long long v);
bool field_double_ok(const struct field *f, double v);
bool field_string_ok(const struct field *f, const char *s, size_t len);
/* Appends `text` to buf as a double-quoted, escaped, truncated YAML-ish string. */
void field_quote(char *buf, size_t n, const char *text, size_t len);
/* Key of the first FIELD_REQUIRED string left empty in a list entry, or NULL. */
const char *fields_missing_required(const struct field *fields, const char *elem);
/* Validates a section or list element struct; on failure `path` ends with the bad key. */
int fields_validate(const struct field *fields, const void *obj, char *path, size_t pathsz,
                    char *msg, size_t msgsz);
/* Appends ".key" (or "key" at the root) / "[i]" to path; returns the old length. */
size_t path_push(char *path, size_t n, const char *key);
size_t path_push_index(char *path, size_t n, int index);

#endif
