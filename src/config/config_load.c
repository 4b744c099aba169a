/* YAML -> struct ec_config. libyaml's document API gives every node its line; the schema
 * table says what each key must hold. The first problem found becomes the error. */
#include "config/config_schema.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <yaml.h>

struct loader {
    yaml_document_t *doc;
    const char *name; /* file name used in messages */
    ec_err *err;
    char path[256];   /* key path of the value being loaded */
};

static int line_of(const yaml_node_t *node)
{
    return (int)node->start_mark.line + 1;
}

/* Every error: "name:line: key.path: message". */
static int load_fail(struct loader *ld, const yaml_node_t *node, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int load_fail(struct loader *ld, const yaml_node_t *node, const char *fmt, ...)
{
    char msg[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (ld->path[0])
        return ec_err_set(ld->err, EC_EINVAL, "%s:%d: %s: %s", ld->name, line_of(node), ld->path,
                          msg);
    return ec_err_set(ld->err, EC_EINVAL, "%s:%d: %s", ld->name, line_of(node), msg);
}

static const char *node_kind(const yaml_node_t *node)
{
    switch (node->type) {
    case YAML_MAPPING_NODE: return "a mapping";
    case YAML_SEQUENCE_NODE: return "a list";
    default: return "a scalar";
    }
}

/* Rejects the value as "must be ... (got X)". */
static int bad_value(struct loader *ld, const struct field *f, const yaml_node_t *node)
{
    char want[160], got[80];
    field_describe(f, want, sizeof want);
    if (node->type != YAML_SCALAR_NODE)
        snprintf(got, sizeof got, "%s", node_kind(node));
    else if (node->data.scalar.length == 0)
        snprintf(got, sizeof got, "an empty value");
    else
        field_quote(got, sizeof got, (const char *)node->data.scalar.value,
                    node->data.scalar.length);
    return load_fail(ld, node, "%s (got %s)", want, got);
}

/* Numbers and booleans must be plain (unquoted) scalars: "5" in quotes is a string. */
static const char *plain_text(const yaml_node_t *node)
{
    if (node->type != YAML_SCALAR_NODE || node->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
        return NULL;
    const char *s = (const char *)node->data.scalar.value;
    if (strlen(s) != node->data.scalar.length || !s[0])
        return NULL;
    return s;
}

static int load_int(struct loader *ld, const struct field *f, const yaml_node_t *node, int *out)
{
    const char *s = plain_text(node);
    if (!s)
        return bad_value(ld, f, node);
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno || *end || !field_int_ok(f, v))
        return bad_value(ld, f, node);
    *out = (int)v;
    return 0;
}

static int load_double(struct loader *ld, const struct field *f, const yaml_node_t *node,
                       double *out)
{
    const char *s = plain_text(node);
    if (!s)
        return bad_value(ld, f, node);
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    /* strtod also takes "nan", "inf" and hex floats: field_double_ok rejects non-finite. */
    if (errno || *end || !field_double_ok(f, v))
        return bad_value(ld, f, node);
    *out = v;
    return 0;
}

static int load_bool(struct loader *ld, const struct field *f, const yaml_node_t *node, bool *out)
{
    static const char *const yes[] = {"true", "yes", "on"}, *const no[] = {"false", "no", "off"};
    const char *s = plain_text(node);
    for (int i = 0; s && i < 3; i++) {
        if (strcasecmp(s, yes[i]) == 0)
            return *out = true, 0;
        if (strcasecmp(s, no[i]) == 0)
            return *out = false, 0;
    }
    return bad_value(ld, f, node);
}

static int load_enum(struct loader *ld, const struct field *f, const yaml_node_t *node, int *out)
{
    const char *s = plain_text(node);
    int v = s ? config_enum_parse(f->enum_id, s) : -1;
    if (v < 0)
        return bad_value(ld, f, node);
    *out = v;
    return 0;
}

static bool is_null_text(const yaml_node_t *node)
{
    const char *s = (const char *)node->data.scalar.value;
    return node->data.scalar.style == YAML_PLAIN_SCALAR_STYLE &&
           (node->data.scalar.length == 0 || strcmp(s, "~") == 0 || strcmp(s, "null") == 0);
}

static int load_string(struct loader *ld, const struct field *f, const yaml_node_t *node,
                       char *out)
{
    if (node->type != YAML_SCALAR_NODE)
        return bad_value(ld, f, node);
    const char *s = (const char *)node->data.scalar.value;
    size_t len = node->data.scalar.length;
    if (is_null_text(node))
        len = 0; /* `key:` or `key: ~` means empty */
    if (!field_string_ok(f, s, len))
        return bad_value(ld, f, node);
    memset(out, 0, f->size);
    memcpy(out, s, len);
    return 0;
}

static int load_fields(struct loader *ld, const struct field *fields, const yaml_node_t *map,
                       void *obj, int (*check)(const void *, struct check_fail *));

static int load_list(struct loader *ld, const struct field *f, const yaml_node_t *seq, char *base)
{
    if (seq->type != YAML_SEQUENCE_NODE)
        return bad_value(ld, f, seq);
    int *count = (int *)(base + f->count_offset);
    int max = (int)f->max;
    memset(base + f->offset, 0, (size_t)max * f->size); /* a list replaces the default one */
    *count = 0;
    int i = 0;
    for (yaml_node_item_t *it = seq->data.sequence.items.start;
         it < seq->data.sequence.items.top; it++, i++) {
        yaml_node_t *item = yaml_document_get_node(ld->doc, *it);
        if (i >= max)
            return load_fail(ld, item, "too many entries (at most %d)", max);
        char *elem = base + f->offset + (size_t)i * f->size;
        size_t old = path_push_index(ld->path, sizeof ld->path, i);
        if (load_fields(ld, f->children, item, elem, NULL) != 0)
            return -1;
        const char *missing = fields_missing_required(f->children, elem);
        if (missing) {
            path_push(ld->path, sizeof ld->path, missing);
            return load_fail(ld, item, "required key missing");
        }
        ld->path[old] = '\0';
        *count = i + 1;
    }
    return 0;
}

static int load_value(struct loader *ld, const struct field *f, const yaml_node_t *node,
                      char *base)
{
    void *p = base + f->offset;
    switch (f->type) {
    case FT_INT: return load_int(ld, f, node, p);
    case FT_DOUBLE: return load_double(ld, f, node, p);
    case FT_BOOL: return load_bool(ld, f, node, p);
    case FT_ENUM: return load_enum(ld, f, node, p);
    case FT_STRING:
    case FT_ID:
    case FT_URL: return load_string(ld, f, node, p);
    case FT_SECTION: return load_fields(ld, f->children, node, p, f->check);
    case FT_LIST: return load_list(ld, f, node, base);
    }
    return 0;
}

static size_t edit_distance(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b), row[65];
    if (la > 64 || lb > 64)
        return 99;
    for (size_t j = 0; j <= lb; j++)
        row[j] = j;
    for (size_t i = 1; i <= la; i++) {
        size_t diag = row[0];
        row[0] = i;
        for (size_t j = 1; j <= lb; j++) {
            size_t up = row[j];
            size_t best = diag + (a[i - 1] != b[j - 1]);
            if (up + 1 < best)
                best = up + 1;
            if (row[j - 1] + 1 < best)
                best = row[j - 1] + 1;
            row[j] = best;
            diag = up;
        }
    }
    return row[lb];
}

static int unknown_key(struct loader *ld, const struct field *fields, const yaml_node_t *key)
{
    const char *name = (const char *)key->data.scalar.value, *best = NULL;
    size_t best_d = 3; /* suggest only close misspellings */
    for (const struct field *f = fields; f->key; f++) {
        size_t d = edit_distance(name, f->key);
        if (d < best_d)
            best_d = d, best = f->key;
    }
    if (best)
        return load_fail(ld, key, "unknown key (did you mean \"%s\"?)", best);
    return load_fail(ld, key, "unknown key");
}

static const struct field *find_field(const struct field *fields, const char *key)
{
    for (const struct field *f = fields; f->key; f++)
        if (strcmp(f->key, key) == 0)
            return f;
    return NULL;
}

/* Line of `key` inside mapping `map`, for errors from cross-field rules. */
static const yaml_node_t *key_node(struct loader *ld, const yaml_node_t *map, const char *key)
{
    for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top; p++) {
        yaml_node_t *k = yaml_document_get_node(ld->doc, p->key);
        if (k->type == YAML_SCALAR_NODE && strcmp((const char *)k->data.scalar.value, key) == 0)
            return k;
    }
    return map;
}

static int load_pair(struct loader *ld, const struct field *fields, const yaml_node_t *map,
                     const yaml_node_pair_t *pair, char *base)
{
    yaml_node_t *key = yaml_document_get_node(ld->doc, pair->key);
    yaml_node_t *val = yaml_document_get_node(ld->doc, pair->value);
    if (key->type != YAML_SCALAR_NODE)
        return load_fail(ld, key, "keys must be plain words (got %s)", node_kind(key));
    const char *name = (const char *)key->data.scalar.value;
    for (const yaml_node_pair_t *p = map->data.mapping.pairs.start; p < pair; p++) {
        yaml_node_t *k = yaml_document_get_node(ld->doc, p->key);
        if (k->type == YAML_SCALAR_NODE && strcmp((const char *)k->data.scalar.value, name) == 0) {
            size_t old = path_push(ld->path, sizeof ld->path, name);
            int rc = load_fail(ld, key, "duplicate key (first at line %d)", line_of(k));
            ld->path[old] = '\0';
            return rc;
        }
    }
    const struct field *f = find_field(fields, name);
    size_t old = path_push(ld->path, sizeof ld->path, name);
    int rc = f ? load_value(ld, f, val, base) : unknown_key(ld, fields, key);
    if (rc == 0)
        ld->path[old] = '\0';
    return rc;
}

static int load_fields(struct loader *ld, const struct field *fields, const yaml_node_t *map,
                       void *obj, int (*check)(const void *, struct check_fail *))
{
    if (map->type != YAML_MAPPING_NODE) {
        if (map->type == YAML_SCALAR_NODE && is_null_text(map))
            return 0; /* `section:` with nothing under it keeps the defaults */
        return load_fail(ld, map, "must be a mapping (got %s)", node_kind(map));
    }
    for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top; p++)
        if (load_pair(ld, fields, map, p, obj) != 0)
            return -1;
    struct check_fail fail;
    if (check && check(obj, &fail) != 0) {
        path_push(ld->path, sizeof ld->path, fail.key);
        return load_fail(ld, key_node(ld, map, fail.key), "%s", fail.msg);
    }
    return 0;
}

static int syntax_error(const yaml_parser_t *parser, const char *name, ec_err *err)
{
    const yaml_mark_t *mark = parser->problem ? &parser->problem_mark : &parser->context_mark;
    if (parser->error == YAML_MEMORY_ERROR)
        return ec_err_set(err, EC_ENOMEM, "%s: out of memory while parsing YAML", name);
    return ec_err_set(err, EC_EFORMAT, "%s:%d: malformed YAML: %s%s%s", name,
                      (int)mark->line + 1, parser->problem ? parser->problem : "syntax error",
                      parser->context ? " " : "", parser->context ? parser->context : "");
}

/* Loads the single document of the stream; a second document is an error. */
static int parse_document(yaml_parser_t *parser, yaml_document_t *doc, const char *name,
                          ec_err *err)
{
    if (!yaml_parser_load(parser, doc))
        return syntax_error(parser, name, err);
    yaml_document_t extra;
    if (!yaml_parser_load(parser, &extra)) {
        yaml_document_delete(doc);
        return syntax_error(parser, name, err);
    }
    yaml_node_t *root = yaml_document_get_root_node(&extra);
    int line = root ? line_of(root) : 0;
    yaml_document_delete(&extra);
    if (root) {
        yaml_document_delete(doc);
        return ec_err_set(err, EC_EFORMAT, "%s:%d: only one YAML document is allowed", name, line);
    }
    return 0;
}

/* libyaml slows down super-linearly on deeply nested input ("[[[[...") and builds a node per
 * value, so a first pass over the events rejects nesting deeper, or values more numerous, than
 * any real configuration before the document is built. */
#define CONFIG_MAX_DEPTH 32
#define CONFIG_MAX_NODES 65536

static int check_depth(const char *text, size_t len, const char *name, ec_err *err)
{
    yaml_parser_t parser;
    if (!yaml_parser_initialize(&parser))
        return ec_err_set(err, EC_ENOMEM, "%s: cannot create YAML parser", name);
    yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);
    int depth = 0, nodes = 0, rc = 0;
    for (;;) {
        yaml_event_t ev;
        if (!yaml_parser_parse(&parser, &ev)) {
            rc = syntax_error(&parser, name, err);
            break;
        }
        yaml_event_type_t type = ev.type;
        int line = (int)ev.start_mark.line + 1;
        yaml_event_delete(&ev);
        if (type == YAML_STREAM_END_EVENT)
            break;
        if (type == YAML_SEQUENCE_START_EVENT || type == YAML_MAPPING_START_EVENT ||
            type == YAML_SCALAR_EVENT || type == YAML_ALIAS_EVENT)
            nodes++;
        if (type == YAML_SEQUENCE_START_EVENT || type == YAML_MAPPING_START_EVENT)
            depth++;
        else if (type == YAML_SEQUENCE_END_EVENT || type == YAML_MAPPING_END_EVENT)
            depth--;
        if (depth > CONFIG_MAX_DEPTH) {
            rc = ec_err_set(err, EC_EFORMAT, "%s:%d: nested deeper than %d levels", name, line,
                            CONFIG_MAX_DEPTH);
            break;
        }
        if (nodes > CONFIG_MAX_NODES) {
            rc = ec_err_set(err, EC_EFORMAT, "%s:%d: more than %d values", name, line,
                            CONFIG_MAX_NODES);
            break;
        }
    }
    yaml_parser_delete(&parser);
    return rc;
}

int config_load_string(const char *text, size_t len, const char *name, struct ec_config *cfg,
                       ec_err *err)
{
    if (!name)
        name = "<config>";
    if (len > CONFIG_MAX_FILE_BYTES)
        return ec_err_set(err, EC_EINVAL, "%s: too large (%zu bytes, at most %d)", name, len,
                          CONFIG_MAX_FILE_BYTES);
    if (check_depth(text, len, name, err) != 0)
        return -1;
    yaml_parser_t parser;
    yaml_document_t doc;
    if (!yaml_parser_initialize(&parser))
        return ec_err_set(err, EC_ENOMEM, "%s: cannot create YAML parser", name);
    yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);
    int rc = parse_document(&parser, &doc, name, err);
    yaml_parser_delete(&parser);
    if (rc != 0)
        return -1;
    yaml_node_t *root = yaml_document_get_root_node(&doc);
    if (root) { /* an empty file keeps every default */
        struct loader ld = {.doc = &doc, .name = name, .err = err};
        rc = load_fields(&ld, config_root_fields, root, cfg, NULL);
    }
    yaml_document_delete(&doc);
    return rc;
}

int config_load_file(const char *path, struct ec_config *cfg, ec_err *err)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return ec_err_set(err, EC_EIO, "%s: cannot open: %s", path, strerror(errno));
    /* Read at most one byte past the limit: enough to tell "too large" without trusting stat
     * (pipes, /dev/zero). */
    char *buf = malloc(CONFIG_MAX_FILE_BYTES + 1);
    if (!buf) {
        fclose(f);
        return ec_err_set(err, EC_ENOMEM, "%s: out of memory", path);
    }
    size_t n = fread(buf, 1, CONFIG_MAX_FILE_BYTES + 1, f);
    int read_error = ferror(f);
    fclose(f);
    int rc;
    if (read_error)
        rc = ec_err_set(err, EC_EIO, "%s: read error", path);
    else if (n > CONFIG_MAX_FILE_BYTES)
        rc = ec_err_set(err, EC_EINVAL, "%s: file too large (more than %d bytes)", path,
                        CONFIG_MAX_FILE_BYTES);
    else
        rc = config_load_string(buf, n, path, cfg, err);
    free(buf);
    return rc;
}
