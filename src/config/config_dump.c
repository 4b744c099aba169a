/* struct ec_config -> commented YAML that loads back to the same struct. Each key is preceded
 * by its documentation and its default, so `edgecam config defaults` is a full reference. */
#include "config/config_schema.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

struct dumper {
    FILE *out;
    unsigned flags; /* CONFIG_DUMP_* */
};

#define REDACTED "<redacted>"

/* Bytes of a YAML special character at s[i]: C1 controls (NEL among them, which YAML folds
 * as a line break) and U+2028/U+2029/U+FEFF must be escaped to read back unchanged. */
static size_t put_special(FILE *out, const unsigned char *s, size_t i, size_t len)
{
    if (s[i] == 0xc2 && i + 1 < len && s[i + 1] >= 0x80 && s[i + 1] <= 0x9f) {
        fprintf(out, "\\x%02x", s[i + 1]);
        return 2;
    }
    if (s[i] == 0xe2 && i + 2 < len && s[i + 1] == 0x80 && (s[i + 2] == 0xa8 || s[i + 2] == 0xa9)) {
        fputs(s[i + 2] == 0xa8 ? "\\L" : "\\P", out);
        return 3;
    }
    if (s[i] == 0xef && i + 2 < len && s[i + 1] == 0xbb && s[i + 2] == 0xbf) {
        fputs("\\uFEFF", out);
        return 3;
    }
    return 0;
}

/* Double-quoted YAML string: always quoted, so "yes", "123" or "" stay strings. */
static void put_string(FILE *out, const char *s, size_t size)
{
    size_t len = strnlen(s, size);
    const unsigned char *u = (const unsigned char *)s;
    fputc('"', out);
    for (size_t i = 0; i < len; i++) {
        unsigned char c = u[i];
        size_t n;
        if (c == '"' || c == '\\')
            fprintf(out, "\\%c", c);
        else if (c < 0x20 || c == 0x7f)
            fprintf(out, "\\x%02x", c);
        else if ((n = put_special(out, u, i, len)) > 0)
            i += n - 1;
        else
            fputc(c, out);
    }
    fputc('"', out);
}

/* %.15g keeps typed values readable (0.005, 100); %.17g when that does not read back exactly. */
static void put_double(FILE *out, double v)
{
    char buf[40];
    snprintf(buf, sizeof buf, "%.15g", v);
    if (strtod(buf, NULL) != v)
        snprintf(buf, sizeof buf, "%.17g", v);
    fputs(buf, out);
}

static void put_scalar(FILE *out, const struct field *f, const void *p)
{
    switch (f->type) {
    case FT_INT: fprintf(out, "%d", *(const int *)p); break;
    case FT_DOUBLE: put_double(out, *(const double *)p); break;
    case FT_BOOL: fputs(*(const bool *)p ? "true" : "false", out); break;
    case FT_ENUM: {
        const char *name = config_enum_name(f->enum_id, *(const int *)p);
        fputs(name ? name : "INVALID", out);
        break;
    }
    default: put_string(out, p, f->size); break;
    }
}

/* Copies `s` with the password of a scheme://user:password@host URL replaced by REDACTED;
 * returns 0 when `s` holds no such password. */
static int redact_url_password(const char *s, char *out, size_t size)
{
    const char *auth = strstr(s, "://");
    if (!auth)
        return 0;
    auth += 3;
    size_t auth_len = strcspn(auth, "/?#");
    const char *at = NULL;
    for (size_t i = 0; i < auth_len; i++)
        if (auth[i] == '@')
            at = auth + i;
    const char *colon = at ? memchr(auth, ':', (size_t)(at - auth)) : NULL;
    if (!colon || colon + 1 == at)
        return 0;
    snprintf(out, size, "%.*s" REDACTED "%s", (int)(colon + 1 - s), s, at);
    return 1;
}

/* A value as put_scalar writes it, but secrets redacted when the dumper asks for it. */
static void put_value(struct dumper *d, const struct field *f, const void *p)
{
    if ((d->flags & CONFIG_DUMP_REDACT) && f->type >= FT_STRING && f->type <= FT_URL) {
        const char *s = p;
        char buf[CONFIG_URL_SIZE + sizeof REDACTED];
        if ((f->flags & FIELD_SECRET) && s[0]) {
            put_string(d->out, REDACTED, sizeof REDACTED);
            return;
        }
        if (strnlen(s, f->size) < f->size && redact_url_password(s, buf, sizeof buf)) {
            put_string(d->out, buf, sizeof buf);
            return;
        }
    }
    put_scalar(d->out, f, p);
}

static void put_indent(FILE *out, int indent)
{
    fprintf(out, "%*s", indent, "");
}

/* "# doc One of a|b. Default: x." wrapped at about 96 columns. */
static void put_doc(struct dumper *d, const struct field *f, const void *defval, int indent)
{
    char text[1024];
    size_t n = (size_t)snprintf(text, sizeof text, "%s", f->doc);
    if (f->type == FT_ENUM && n < sizeof text)
        n += (size_t)snprintf(text + n, sizeof text - n, " One of %s.",
                              config_enum_choices(f->enum_id));
    if (f->type < FT_SECTION && n < sizeof text) {
        char def[600];
        FILE *mem = fmemopen(def, sizeof def, "w");
        if (mem) {
            put_scalar(mem, f, defval);
            fputc('\0', mem);
            fclose(mem);
            def[sizeof def - 1] = '\0';
            snprintf(text + n, sizeof text - n, " Default: %s.", def);
        }
    }
    const char *s = text;
    while (*s) {
        size_t width = 96 - (size_t)indent, len = strlen(s);
        if (len > width) {
            size_t cut = width;
            /* break at a space, or after a '|' inside a long list of names */
            while (cut > 20 && s[cut] != ' ' && s[cut - 1] != '|')
                cut--;
            len = cut > 20 ? cut : width;
        }
        put_indent(d->out, indent);
        fprintf(d->out, "# %.*s\n", (int)len, s);
        s += len;
        while (*s == ' ')
            s++;
    }
}

static void dump_fields(struct dumper *d, const struct field *fields, const char *obj,
                        const char *defobj, int indent);

/* List entries hold scalars only: "- first: x" then "  other: y". */
static void dump_entry(struct dumper *d, const struct field *fields, const char *elem, int indent)
{
    for (const struct field *c = fields; c->key; c++) {
        put_indent(d->out, indent);
        fprintf(d->out, "%s%s: ", c == fields ? "- " : "  ", c->key);
        put_value(d, c, elem + c->offset);
        fputc('\n', d->out);
    }
}

static void dump_list(struct dumper *d, const struct field *f, const char *base, int indent)
{
    int count = *(const int *)(base + f->count_offset);
    for (const struct field *c = f->children; c->key; c++) {
        put_indent(d->out, indent);
        fprintf(d->out, "#   %s: %s", c->key, c->doc);
        if (c->type == FT_ENUM)
            fprintf(d->out, ", one of %s", config_enum_choices(c->enum_id));
        fprintf(d->out, "%s\n", (c->flags & FIELD_REQUIRED) ? " (required)" : "");
    }
    put_indent(d->out, indent);
    if (count <= 0) {
        fprintf(d->out, "%s: []\n", f->key);
        return;
    }
    fprintf(d->out, "%s:\n", f->key);
    for (int i = 0; i < count && i < (int)f->max; i++)
        dump_entry(d, f->children, base + f->offset + (size_t)i * f->size, indent + 2);
}

static void dump_fields(struct dumper *d, const struct field *fields, const char *obj,
                        const char *defobj, int indent)
{
    for (const struct field *f = fields; f->key; f++) {
        put_doc(d, f, defobj + f->offset, indent);
        if (f->type == FT_LIST) {
            dump_list(d, f, obj, indent);
            continue;
        }
        put_indent(d->out, indent);
        fprintf(d->out, "%s:", f->key);
        if (f->type == FT_SECTION) {
            fputc('\n', d->out);
            dump_fields(d, f->children, obj + f->offset, defobj + f->offset, indent + 2);
        } else {
            fputc(' ', d->out);
            put_value(d, f, obj + f->offset);
            fputc('\n', d->out);
        }
    }
}

int config_dump_yaml(const struct ec_config *cfg, FILE *out)
{
    return config_dump_yaml_opts(cfg, out, 0);
}

int config_dump_yaml_opts(const struct ec_config *cfg, FILE *out, unsigned flags)
{
    struct ec_config *defaults = malloc(sizeof *defaults);
    if (!defaults)
        return -1;
    config_defaults(defaults);
    fputs("# edgecam configuration. Every key is optional; missing keys keep the default shown.\n"
          "# [EdgeCam: x] / [SmartEye: x] name the setting of the original system a key replaces.\n",
          out);
    struct dumper d = {.out = out, .flags = flags};
    for (const struct field *f = config_root_fields; f->key; f++) {
        fputc('\n', out);
        put_doc(&d, f, NULL, 0);
        fprintf(out, "%s:\n", f->key);
        dump_fields(&d, f->children, (const char *)cfg + f->offset,
                    (const char *)defaults + f->offset, 2);
    }
    free(defaults);
    return fflush(out) == 0 && !ferror(out) ? 0 : -1;
}
