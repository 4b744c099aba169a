/* Results store: validation, schema checks and every query, written once over the
 * prepared-statement driver (sql_driver.h) that the SQLite and MySQL backends implement. */
#include "store/store.h"

#include "core/log.h"
#include "store/sql_driver.h"

#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum stmt_id {
    ST_INSERT_FRAME,
    ST_INSERT_DETS_1, /* detections, 1, 4 and 16 rows per statement */
    ST_INSERT_DETS_4,
    ST_INSERT_DETS_16,
    ST_COUNT_FRAMES,
    ST_GET_FRAME,
    ST_GET_DETS,
    ST_SUMMARY_OUTCOMES,
    ST_SUMMARY_LATENCIES,
    ST_LIST_EDGES,
    ST_PUT_MODEL,
    ST_GET_MODEL,
    ST_PUT_ROUND,
    ST_LIST_ROUNDS,
    ST_COUNT
};

/* Detections go in up to 16 rows per statement: one round trip instead of 16 on a server
 * backend. Only placeholders are repeated; values are always bound. */
#define DET_CHUNK_MAX 16
#define DET_COLUMNS 8
static const struct {
    enum stmt_id id;
    int rows;
} det_chunks[] = {{ST_INSERT_DETS_16, 16}, {ST_INSERT_DETS_4, 4}, {ST_INSERT_DETS_1, 1}};
#define DET_INSERT_SQL "INSERT INTO detections (frame_id, seq, cls, score, x1, y1, x2, y2) VALUES "
#define DET_ROW_SQL "(?, ?, ?, ?, ?, ?, ?, ?)"

/* "(? IS NULL OR col = ?)" makes one statement serve both "all" and "one": bind twice. */
static const char *const stmt_sql[ST_COUNT] = {
    [ST_INSERT_FRAME] =
        "INSERT INTO frames (edge_id, frame_index, start_ms, end_ms, processed_at, bytes_sent,"
        " outcome, ref_index, model_version, latency_ms) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
    /* ST_INSERT_DETS_*: built by prepare_all */
    [ST_COUNT_FRAMES] = "SELECT COUNT(*) FROM frames WHERE (? IS NULL OR edge_id = ?)"
                        " AND (? IS NULL OR outcome = ?)",
    [ST_GET_FRAME] = "SELECT id, start_ms, end_ms, processed_at, bytes_sent, outcome, ref_index,"
                     " model_version, latency_ms FROM frames WHERE edge_id = ? AND frame_index = ?",
    [ST_GET_DETS] = "SELECT cls, score, x1, y1, x2, y2 FROM detections WHERE frame_id = ?"
                    " ORDER BY seq",
    [ST_SUMMARY_OUTCOMES] = "SELECT outcome, COUNT(*), SUM(bytes_sent) FROM frames"
                            " WHERE (? IS NULL OR edge_id = ?) GROUP BY outcome",
    [ST_SUMMARY_LATENCIES] = "SELECT latency_ms FROM frames WHERE (? IS NULL OR edge_id = ?)"
                             " AND outcome = 'finished' ORDER BY latency_ms",
    [ST_LIST_EDGES] = "SELECT DISTINCT edge_id FROM frames ORDER BY edge_id",
    [ST_PUT_MODEL] = "INSERT INTO model_versions (name, version, created_ms, path, sha256, map50)"
                     " VALUES (?, ?, ?, ?, ?, ?)",
    [ST_GET_MODEL] = "SELECT version, created_ms, path, sha256, map50 FROM model_versions"
                     " WHERE name = ? AND (? < 0 OR version = ?) ORDER BY version DESC LIMIT 1",
    [ST_PUT_ROUND] = "INSERT INTO retrain_rounds (edge_id, round_no, frames_used, map_before,"
                     " map_after, model_version, started_ms, label_ms, train_ms, accepted)"
                     " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
    [ST_LIST_ROUNDS] = "SELECT edge_id, round_no, frames_used, map_before, map_after,"
                       " model_version, started_ms, label_ms, train_ms, accepted"
                       " FROM retrain_rounds WHERE (? IS NULL OR edge_id = ?)"
                       " ORDER BY edge_id, round_no",
};

struct store {
    const struct sql_driver *drv;
    void *db;
    struct store_opts opts; /* owned copies, to reconnect */
    pthread_mutex_t lock;   /* one connection: every call holds it */
    sql_stmt *st[ST_COUNT];
};

static const char *const outcome_names[OUTCOME_COUNT] = {"finished", "ref", "timeout", "dropped"};

const char *frame_outcome_name(enum frame_outcome o)
{
    return (unsigned)o < OUTCOME_COUNT ? outcome_names[o] : "invalid";
}

int frame_outcome_parse(const char *name, enum frame_outcome *out)
{
    for (int i = 0; name && i < OUTCOME_COUNT; i++) {
        if (strcmp(name, outcome_names[i]) == 0) {
            *out = (enum frame_outcome)i;
            return 0;
        }
    }
    return -1;
}

/* ---- validation: everything is checked before a transaction starts ---- */

static int name_ok(const char *s)
{
    if (!s)
        return 0;
    size_t n = strnlen(s, STORE_NAME_MAX);
    if (n == 0 || n >= STORE_NAME_MAX)
        return 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '-' || c == '.'))
            return 0;
    }
    return 1;
}

static int where_ok(const char *w)
{
    if (!w)
        return 0;
    if (strcmp(w, "local") == 0 || strcmp(w, "cloud") == 0 || strcmp(w, "none") == 0 ||
        strcmp(w, "local+cloud") == 0)
        return 1;
    return strncmp(w, "peer:", 5) == 0 && strlen(w) < STORE_NAME_MAX && name_ok(w + 5);
}

static int det_ok(const struct det *d)
{
    return isfinite(d->x1) && isfinite(d->y1) && isfinite(d->x2) && isfinite(d->y2) &&
           d->x1 <= d->x2 && d->y1 <= d->y2 && d->score >= 0.0f && d->score <= 1.0f &&
           d->cls >= 0;
}

static int validate_frame(const struct frame_record *r, ec_err *err)
{
    if (!name_ok(r->edge_id))
        return ec_err_set(err, EC_EINVAL, "edge_id must be 1..%d of [A-Za-z0-9_.-]",
                          STORE_NAME_MAX - 1);
    if (r->frame_index < 0)
        return ec_err_set(err, EC_EINVAL, "frame_index %lld < 0", (long long)r->frame_index);
    if (r->end_ms < r->start_ms)
        return ec_err_set(err, EC_EINVAL, "end_ms %lld before start_ms %lld",
                          (long long)r->end_ms, (long long)r->start_ms);
    if (!where_ok(r->where))
        return ec_err_set(err, EC_EINVAL, "where \"%.80s\" is not local, local+cloud, peer:<id>, cloud or none",
                          r->where ? r->where : "(null)");
    if (r->bytes_sent < 0 || r->model_version < 0 || !isfinite(r->latency_ms) ||
        r->latency_ms < 0)
        return ec_err_set(err, EC_EINVAL, "bytes_sent, model_version and latency_ms must be >= 0");
    if ((unsigned)r->outcome >= OUTCOME_COUNT)
        return ec_err_set(err, EC_EINVAL, "unknown outcome %d", (int)r->outcome);
    if ((r->outcome == OUTCOME_REF) != (r->ref_index >= 0))
        return ec_err_set(err, EC_EINVAL, "ref_index must be >= 0 exactly for Ref frames");
    if (r->ndet < 0 || r->ndet > STORE_MAX_DETS || (r->ndet > 0 && !r->dets))
        return ec_err_set(err, EC_EINVAL, "ndet %d out of range 0..%d", r->ndet, STORE_MAX_DETS);
    for (int i = 0; i < r->ndet; i++)
        if (!det_ok(&r->dets[i]))
            return ec_err_set(err, EC_EINVAL, "detection %d: bad box, score or class", i);
    return 0;
}

static int validate_model(const struct model_version *m, ec_err *err)
{
    if (!name_ok(m->name))
        return ec_err_set(err, EC_EINVAL, "model name must be 1..%d of [A-Za-z0-9_.-]",
                          STORE_NAME_MAX - 1);
    if (m->version < 0)
        return ec_err_set(err, EC_EINVAL, "model version %d < 0", m->version);
    if (strnlen(m->path, sizeof m->path) >= sizeof m->path)
        return ec_err_set(err, EC_EINVAL, "model path is not terminated");
    size_t n = strnlen(m->sha256, sizeof m->sha256);
    if (n != 0 && n != STORE_SHA256_HEX)
        return ec_err_set(err, EC_EINVAL, "sha256 must be empty or %d hex digits", STORE_SHA256_HEX);
    for (size_t i = 0; i < n; i++)
        if (!((m->sha256[i] >= '0' && m->sha256[i] <= '9') ||
              (m->sha256[i] >= 'a' && m->sha256[i] <= 'f')))
            return ec_err_set(err, EC_EINVAL, "sha256 must be lower-case hex");
    if (!isfinite(m->map50) || m->map50 > 1.0 || (m->map50 < 0 && m->map50 != -1.0))
        return ec_err_set(err, EC_EINVAL, "map50 must be in [0,1] or -1");
    return 0;
}

static int validate_round(const struct retrain_round *r, ec_err *err)
{
    if (!name_ok(r->edge_id))
        return ec_err_set(err, EC_EINVAL, "edge_id must be 1..%d of [A-Za-z0-9_.-]",
                          STORE_NAME_MAX - 1);
    if (r->round < 0 || r->frames_used < 0 || r->model_version < 0)
        return ec_err_set(err, EC_EINVAL, "round, frames_used and model_version must be >= 0");
    if (!isfinite(r->map_before) || !isfinite(r->map_after) || !isfinite(r->label_ms) ||
        !isfinite(r->train_ms) || r->label_ms < 0 || r->train_ms < 0)
        return ec_err_set(err, EC_EINVAL, "mAP and durations must be finite, durations >= 0");
    if (r->accepted != 0 && r->accepted != 1)
        return ec_err_set(err, EC_EINVAL, "accepted must be 0 or 1");
    return 0;
}

/* ---- statement helpers (lock held) ---- */

static void bind_optional_text(store *s, sql_stmt *st, int i, const char *v)
{
    if (v) {
        s->drv->bind_text(st, i, v);
        s->drv->bind_text(st, i + 1, v);
    } else {
        s->drv->bind_null(st, i);
        s->drv->bind_null(st, i + 1);
    }
}

/* Runs a statement that returns no rows. */
static int run_statement(store *s, sql_stmt *st, ec_err *err)
{
    int rc = s->drv->step(st, err);
    s->drv->reset(st);
    return rc < 0 ? -1 : 0;
}

static int query_int64(store *s, const char *sql, const char *text_arg, int64_t *out, ec_err *err)
{
    sql_stmt *st = s->drv->prepare(s->db, sql, err);
    if (!st)
        return -1;
    if (text_arg)
        s->drv->bind_text(st, 0, text_arg);
    int rc = s->drv->step(st, err);
    *out = rc == 1 ? s->drv->column_int64(st, 0) : 0;
    s->drv->finalize(st);
    return rc < 0 ? -1 : rc;
}

static int read_text(store *s, sql_stmt *st, int col, char *buf, size_t size, ec_err *err)
{
    if (s->drv->column_text(st, col, buf, size) < 0)
        return ec_err_set(err, EC_EFORMAT, "stored text in column %d is too long", col);
    return 0;
}

static int transaction_end(store *s, int ok, ec_err *err)
{
    if (ok && s->drv->exec(s->db, "COMMIT", err) == 0)
        return 0;
    ec_err rollback_err;
    s->drv->exec(s->db, "ROLLBACK", &rollback_err); /* the first error is the one to report */
    return -1;
}

/* ---- open / close ---- */

static int create_schema(store *s, ec_err *err)
{
    for (const char *const *ddl = s->drv->schema; *ddl; ddl++)
        if (s->drv->exec(s->db, *ddl, err) < 0)
            return ec_err_wrap(err, "creating schema");
    sql_stmt *st = s->drv->prepare(s->db, "INSERT INTO schema_version (version) VALUES (?)", err);
    if (!st)
        return -1;
    s->drv->bind_int64(st, 0, STORE_SCHEMA_VERSION);
    int rc = run_statement(s, st, err);
    s->drv->finalize(st);
    return rc;
}

/* An empty database gets our schema; anything else must carry our exact schema version. */
static int check_schema(store *s, ec_err *err)
{
    int64_t ntables = 0, exists = 0, version = 0, rows = 0;
    if (query_int64(s, s->drv->count_tables_sql, NULL, &ntables, err) < 0)
        return -1;
    if (ntables == 0)
        return create_schema(s, err);
    if (query_int64(s, s->drv->table_exists_sql, "schema_version", &exists, err) < 0)
        return -1;
    if (!exists)
        return ec_err_set(err, EC_EFORMAT,
                          "database holds %lld tables but no schema_version: not an edgecam "
                          "store (left untouched)", (long long)ntables);
    if (query_int64(s, "SELECT COUNT(*) FROM schema_version", NULL, &rows, err) < 0 ||
        query_int64(s, "SELECT MAX(version) FROM schema_version", NULL, &version, err) < 0)
        return -1;
    if (rows != 1 || version != STORE_SCHEMA_VERSION)
        return ec_err_set(err, EC_EUNSUPPORTED,
                          "schema version %lld (%lld rows) is not the supported version %d "
                          "(left untouched)", (long long)version, (long long)rows,
                          STORE_SCHEMA_VERSION);
    return 0;
}

/* Each row is ", " + DET_ROW_SQL; sizeof counts one NUL per string, covering the rest. */
typedef char det_insert_sql[sizeof DET_INSERT_SQL + DET_CHUNK_MAX * (sizeof DET_ROW_SQL + 2)];

static const char *det_insert_sql_build(det_insert_sql sql, int rows)
{
    size_t len = strlen(DET_INSERT_SQL);
    memcpy(sql, DET_INSERT_SQL, len);
    for (int i = 0; i < rows && i < DET_CHUNK_MAX; i++) {
        if (i) {
            memcpy(sql + len, ", ", 2);
            len += 2;
        }
        memcpy(sql + len, DET_ROW_SQL, strlen(DET_ROW_SQL));
        len += strlen(DET_ROW_SQL);
    }
    sql[len] = '\0';
    return sql;
}

static int prepare_all(store *s, ec_err *err)
{
    det_insert_sql chunk_sql[sizeof det_chunks / sizeof det_chunks[0]];
    const char *sql_of[ST_COUNT];
    memcpy(sql_of, stmt_sql, sizeof sql_of);
    for (size_t c = 0; c < sizeof det_chunks / sizeof det_chunks[0]; c++)
        sql_of[det_chunks[c].id] = det_insert_sql_build(chunk_sql[c], det_chunks[c].rows);
    for (int i = 0; i < ST_COUNT; i++) {
        s->st[i] = s->drv->prepare(s->db, sql_of[i], err);
        if (!s->st[i])
            return ec_err_wrap(err, "preparing statement %d", i);
    }
    return 0;
}

static void disconnect(store *s)
{
    for (int i = 0; i < ST_COUNT; i++) {
        if (s->st[i])
            s->drv->finalize(s->st[i]);
        s->st[i] = NULL;
    }
    if (s->db)
        s->drv->close(s->db);
    s->db = NULL;
}

static int connect_db(store *s, ec_err *err)
{
    const struct sql_driver *drv = s->drv;
    s->db = drv->open(&s->opts, err);
    if (!s->db)
        return -1;
    /* MySQL DDL commits implicitly: a named lock keeps two first opens from racing. */
    if (drv->schema_lock_sql && drv->exec(s->db, drv->schema_lock_sql, err) < 0)
        goto fail;
    int ok = drv->exec(s->db, drv->begin_sql, err) == 0 && check_schema(s, err) == 0;
    int rc = transaction_end(s, ok, err);
    if (drv->schema_unlock_sql) {
        ec_err unlock_err;
        drv->exec(s->db, drv->schema_unlock_sql, &unlock_err); /* also freed on disconnect */
    }
    if (rc < 0 || (drv->ready_sql && drv->exec(s->db, drv->ready_sql, err) < 0) ||
        prepare_all(s, err) < 0)
        goto fail;
    return 0;
fail:
    disconnect(s);
    return -1;
}

static int copy_opt(const char *from, char **to)
{
    *to = from ? strdup(from) : NULL;
    return from && !*to ? -1 : 0;
}

static int copy_opts(store *s, const struct store_opts *o)
{
    s->opts = *o;
    s->opts.kind = s->drv->name;
    return copy_opt(o->path, (char **)&s->opts.path) | copy_opt(o->host, (char **)&s->opts.host) |
           copy_opt(o->user, (char **)&s->opts.user) |
           copy_opt(o->password, (char **)&s->opts.password) |
           copy_opt(o->database, (char **)&s->opts.database);
}

store *store_open(const struct store_opts *o, ec_err *err)
{
    const char *kind = o && o->kind ? o->kind : "sqlite";
    const struct sql_driver *drv = NULL;
    if (strcmp(kind, "sqlite") == 0)
        drv = &sql_driver_sqlite;
    else if (strcmp(kind, "mysql") == 0 || strcmp(kind, "mariadb") == 0)
        drv = &sql_driver_mysql;
    if (!o || !drv) {
        ec_err_set(err, EC_EINVAL, "store.kind \"%.40s\": expected sqlite or mysql", kind);
        return NULL;
    }
    store *s = calloc(1, sizeof *s);
    if (!s) {
        ec_err_set(err, EC_ENOMEM, "out of memory");
        return NULL;
    }
    s->drv = drv;
    pthread_mutex_init(&s->lock, NULL);
    if (copy_opts(s, o) < 0) {
        ec_err_set(err, EC_ENOMEM, "out of memory");
        store_close(s);
        return NULL;
    }
    if (connect_db(s, err) < 0) {
        ec_err_wrap(err, "opening %s store", drv->name);
        store_close(s);
        return NULL;
    }
    return s;
}

void store_close(store *s)
{
    if (!s)
        return;
    disconnect(s);
    free((char *)s->opts.path);
    free((char *)s->opts.host);
    free((char *)s->opts.user);
    free((char *)s->opts.password);
    free((char *)s->opts.database);
    pthread_mutex_destroy(&s->lock);
    free(s);
}

/* Takes the lock; a connection lost earlier (and not re-established) is retried first. */
static int lock_store(store *s, ec_err *err)
{
    pthread_mutex_lock(&s->lock);
    if (s->db || connect_db(s, err) == 0)
        return 0;
    pthread_mutex_unlock(&s->lock);
    return ec_err_wrap(err, "reconnecting %s store", s->drv->name);
}

/* After a failed call (lock held): if the server connection was lost, connect again and
 * return 1 so the caller retries once. A batch whose COMMIT was lost may then report
 * "already stored": frames are never stored twice. */
static int reconnected(store *s, ec_err *err)
{
    if (err->code != EC_ENET || !s->drv->reconnects)
        return 0;
    log_warn("store: %s; reconnecting", err->msg);
    disconnect(s);
    if (connect_db(s, err) < 0) {
        ec_err_wrap(err, "reconnecting %s store", s->drv->name);
        return 0;
    }
    return 1;
}

const char *store_kind(const store *s) { return s->drv->name; }

/* ---- frames ---- */

/* Public calls follow one shape: validate, lock, run the *_locked body, retry it once after
 * a reconnect, unlock. `err` is made non-NULL first so the error code can be inspected. */
#define RUN_LOCKED(s, err, rc, call)                     \
    do {                                                 \
        if (lock_store((s), (err)) < 0) {                \
            (rc) = -1;                                   \
            break;                                       \
        }                                                \
        (rc) = (call);                                   \
        if ((rc) < 0 && reconnected((s), (err)))         \
            (rc) = (call);                               \
        pthread_mutex_unlock(&(s)->lock);                \
    } while (0)

static void bind_det(store *s, sql_stmt *st, int at, int64_t frame_id, int seq,
                     const struct det *dt)
{
    const struct sql_driver *d = s->drv;
    d->bind_int64(st, at, frame_id);
    d->bind_int64(st, at + 1, seq);
    d->bind_int64(st, at + 2, dt->cls);
    d->bind_double(st, at + 3, dt->score);
    d->bind_double(st, at + 4, dt->x1);
    d->bind_double(st, at + 5, dt->y1);
    d->bind_double(st, at + 6, dt->x2);
    d->bind_double(st, at + 7, dt->y2);
}

static int insert_frame(store *s, const struct frame_record *r, ec_err *err)
{
    const struct sql_driver *d = s->drv;
    sql_stmt *st = s->st[ST_INSERT_FRAME];
    d->bind_text(st, 0, r->edge_id);
    d->bind_int64(st, 1, r->frame_index);
    d->bind_int64(st, 2, r->start_ms);
    d->bind_int64(st, 3, r->end_ms);
    d->bind_text(st, 4, r->where);
    d->bind_int64(st, 5, r->bytes_sent);
    d->bind_text(st, 6, frame_outcome_name(r->outcome));
    if (r->outcome == OUTCOME_REF)
        d->bind_int64(st, 7, r->ref_index);
    else
        d->bind_null(st, 7);
    d->bind_int64(st, 8, r->model_version);
    d->bind_double(st, 9, r->latency_ms);
    if (d->step(st, err) < 0) {
        d->reset(st);
        if (err->code == EC_EINVAL)
            return ec_err_set(err, EC_EINVAL, "frame %s/%lld is already stored (one outcome "
                              "per frame)", r->edge_id, (long long)r->frame_index);
        return -1;
    }
    int64_t frame_id = d->last_insert_id(st);
    d->reset(st);

    /* Largest chunks first: 37 detections -> 16 + 16 + 4 + 1. */
    int i = 0;
    for (size_t c = 0; c < sizeof det_chunks / sizeof det_chunks[0]; c++) {
        sql_stmt *chunk = s->st[det_chunks[c].id];
        int rows = det_chunks[c].rows;
        for (; i + rows <= r->ndet; i += rows) {
            for (int k = 0; k < rows; k++)
                bind_det(s, chunk, k * DET_COLUMNS, frame_id, i + k, &r->dets[i + k]);
            if (run_statement(s, chunk, err) < 0)
                return -1;
        }
    }
    return 0;
}

static int put_frames_locked(store *s, const struct frame_record *recs, int n, ec_err *err)
{
    if (s->drv->exec(s->db, s->drv->begin_sql, err) < 0) {
        transaction_end(s, 0, err);
        return ec_err_wrap(err, "storing batch of %d frames", n);
    }
    for (int i = 0; i < n; i++) {
        if (insert_frame(s, &recs[i], err) < 0) {
            transaction_end(s, 0, err);
            return ec_err_wrap(err, "frame %d of batch of %d (batch rolled back)", i, n);
        }
    }
    if (transaction_end(s, 1, err) < 0)
        return ec_err_wrap(err, "committing batch of %d frames (rolled back)", n);
    return 0;
}

int store_put_frames(store *s, const struct frame_record *recs, int n, ec_err *err)
{
    ec_err local;
    if (!err)
        err = &local;
    if (n < 0 || (n > 0 && !recs))
        return ec_err_set(err, EC_EINVAL, "store_put_frames: bad batch (n=%d)", n);
    for (int i = 0; i < n; i++)
        if (validate_frame(&recs[i], err) < 0)
            return ec_err_wrap(err, "frame %d of batch (nothing stored)", i);
    if (n == 0)
        return 0;
    int rc;
    RUN_LOCKED(s, err, rc, put_frames_locked(s, recs, n, err));
    return rc;
}

static int count_locked(store *s, const char *edge_id, int outcome, int64_t *out, ec_err *err)
{
    sql_stmt *st = s->st[ST_COUNT_FRAMES];
    bind_optional_text(s, st, 0, edge_id);
    bind_optional_text(s, st, 2, outcome < 0 ? NULL : outcome_names[outcome]);
    int rc = s->drv->step(st, err);
    if (rc == 1)
        *out = s->drv->column_int64(st, 0);
    s->drv->reset(st);
    return rc == 1 ? 0 : rc < 0 ? -1 : ec_err_set(err, EC_EIO, "COUNT returned no row");
}

int store_count_frames(store *s, const char *edge_id, int outcome, int64_t *out, ec_err *err)
{
    ec_err local;
    if (!err)
        err = &local;
    if (outcome < -1 || outcome >= OUTCOME_COUNT)
        return ec_err_set(err, EC_EINVAL, "unknown outcome %d", outcome);
    if (edge_id && !name_ok(edge_id))
        return ec_err_set(err, EC_EINVAL, "bad edge_id");
    int rc;
    RUN_LOCKED(s, err, rc, count_locked(s, edge_id, outcome, out, err));
    return rc;
}

static int read_frame_row(store *s, sql_stmt *st, struct frame_row *out, int64_t *frame_id,
                          ec_err *err)
{
    const struct sql_driver *d = s->drv;
    char outcome[16];
    *frame_id = d->column_int64(st, 0);
    out->start_ms = d->column_int64(st, 1);
    out->end_ms = d->column_int64(st, 2);
    if (read_text(s, st, 3, out->where, sizeof out->where, err) < 0 ||
        read_text(s, st, 5, outcome, sizeof outcome, err) < 0)
        return -1;
    out->bytes_sent = d->column_int64(st, 4);
    if (frame_outcome_parse(outcome, &out->outcome) < 0)
        return ec_err_set(err, EC_EFORMAT, "stored outcome \"%s\" is unknown", outcome);
    out->ref_index = d->column_is_null(st, 6) ? -1 : d->column_int64(st, 6);
    out->model_version = (int)d->column_int64(st, 7);
    out->latency_ms = d->column_double(st, 8);
    return 0;
}

static int read_dets(store *s, int64_t frame_id, struct det_list *dets, ec_err *err)
{
    const struct sql_driver *d = s->drv;
    sql_stmt *st = s->st[ST_GET_DETS];
    d->bind_int64(st, 0, frame_id);
    int rc;
    det_list_clear(dets);
    while ((rc = d->step(st, err)) == 1) {
        struct det dt = {
            .cls = (int)d->column_int64(st, 0),
            .score = (float)d->column_double(st, 1),
            .x1 = (float)d->column_double(st, 2),
            .y1 = (float)d->column_double(st, 3),
            .x2 = (float)d->column_double(st, 4),
            .y2 = (float)d->column_double(st, 5),
        };
        if (det_list_push(dets, dt) < 0) {
            rc = ec_err_set(err, EC_ENOMEM, "out of memory");
            break;
        }
    }
    d->reset(st);
    return rc < 0 ? -1 : 0;
}

static int get_frame_locked(store *s, const char *edge_id, int64_t frame_index,
                            struct frame_row *out, struct det_list *dets, ec_err *err)
{
    sql_stmt *st = s->st[ST_GET_FRAME];
    s->drv->bind_text(st, 0, edge_id);
    s->drv->bind_int64(st, 1, frame_index);
    int64_t frame_id = 0;
    int rc = s->drv->step(st, err);
    if (rc == 0)
        rc = ec_err_set(err, EC_ENOTFOUND, "frame %s/%lld not stored", edge_id,
                        (long long)frame_index);
    else if (rc == 1)
        rc = read_frame_row(s, st, out, &frame_id, err);
    s->drv->reset(st);
    if (rc == 0 && dets)
        rc = read_dets(s, frame_id, dets, err);
    return rc;
}

int store_get_frame(store *s, const char *edge_id, int64_t frame_index, struct frame_row *out,
                    struct det_list *dets, ec_err *err)
{
    ec_err local;
    if (!err)
        err = &local;
    if (!name_ok(edge_id))
        return ec_err_set(err, EC_EINVAL, "bad edge_id");
    memset(out, 0, sizeof *out);
    int rc;
    RUN_LOCKED(s, err, rc, get_frame_locked(s, edge_id, frame_index, out, dets, err));
    if (rc == 0) {
        memcpy(out->edge_id, edge_id, strlen(edge_id) + 1);
        out->frame_index = frame_index;
    }
    return rc;
}

/* Nearest-rank percentile of sorted values. */
static double percentile(const double *v, size_t n, double p)
{
    if (n == 0)
        return 0;
    size_t rank = (size_t)ceil(p / 100.0 * (double)n);
    return v[rank > 0 ? rank - 1 : 0];
}

static int summarize_outcomes(store *s, const char *edge_id, struct store_summary *out,
                              ec_err *err)
{
    sql_stmt *st = s->st[ST_SUMMARY_OUTCOMES];
    bind_optional_text(s, st, 0, edge_id);
    int rc;
    while ((rc = s->drv->step(st, err)) == 1) {
        char name[16];
        enum frame_outcome o;
        if (read_text(s, st, 0, name, sizeof name, err) < 0 ||
            frame_outcome_parse(name, &o) < 0) {
            rc = ec_err_set(err, EC_EFORMAT, "stored outcome is unknown");
            break;
        }
        int64_t count = s->drv->column_int64(st, 1);
        out->by_outcome[o] = count;
        out->frames += count;
        out->bytes_sent += s->drv->column_int64(st, 2);
    }
    s->drv->reset(st);
    return rc < 0 ? -1 : 0;
}

static int summarize_latencies(store *s, const char *edge_id, struct store_summary *out,
                               ec_err *err)
{
    sql_stmt *st = s->st[ST_SUMMARY_LATENCIES];
    bind_optional_text(s, st, 0, edge_id);
    double *v = NULL, sum = 0;
    size_t n = 0, cap = 0;
    int rc;
    while ((rc = s->drv->step(st, err)) == 1) {
        if (n == cap) {
            size_t ncap = cap ? cap * 2 : 1024;
            double *nv = realloc(v, ncap * sizeof *nv);
            if (!nv) {
                rc = ec_err_set(err, EC_ENOMEM, "out of memory");
                break;
            }
            v = nv;
            cap = ncap;
        }
        v[n] = s->drv->column_double(st, 0);
        sum += v[n++];
    }
    s->drv->reset(st);
    if (rc == 0 && n > 0) {
        out->latency_mean_ms = sum / (double)n;
        out->latency_p50_ms = percentile(v, n, 50);
        out->latency_p95_ms = percentile(v, n, 95);
        out->latency_p99_ms = percentile(v, n, 99);
        out->latency_max_ms = v[n - 1];
    }
    free(v);
    return rc < 0 ? -1 : 0;
}

static int summarize_locked(store *s, const char *edge_id, struct store_summary *out,
                            ec_err *err)
{
    memset(out, 0, sizeof *out);
    if (summarize_outcomes(s, edge_id, out, err) < 0)
        return -1;
    return summarize_latencies(s, edge_id, out, err);
}

int store_summarize(store *s, const char *edge_id, struct store_summary *out, ec_err *err)
{
    ec_err local;
    if (!err)
        err = &local;
    if (edge_id && !name_ok(edge_id))
        return ec_err_set(err, EC_EINVAL, "bad edge_id");
    int rc;
    RUN_LOCKED(s, err, rc, summarize_locked(s, edge_id, out, err));
    return rc;
}

static int list_edges_locked(store *s, char (**ids)[STORE_NAME_MAX], int *n, ec_err *err)
{
    char (*v)[STORE_NAME_MAX] = NULL;
    int cap = 0, count = 0, rc;
    sql_stmt *st = s->st[ST_LIST_EDGES];
    while ((rc = s->drv->step(st, err)) == 1) {
        if (count == cap) {
            int ncap = cap ? cap * 2 : 16;
            char (*nv)[STORE_NAME_MAX] = realloc(v, (size_t)ncap * sizeof *nv);
            if (!nv) {
                rc = ec_err_set(err, EC_ENOMEM, "out of memory");
                break;
            }
            v = nv;
            cap = ncap;
        }
        if ((rc = read_text(s, st, 0, v[count], sizeof v[count], err)) < 0)
            break;
        count++;
    }
    s->drv->reset(st);
    if (rc < 0) {
        free(v);
        return -1;
    }
    *ids = v;
    *n = count;
    return 0;
}

int store_list_edges(store *s, char (**ids)[STORE_NAME_MAX], int *n, ec_err *err)
{
    ec_err local;
    if (!err)
        err = &local;
    *ids = NULL;
    *n = 0;
    int rc;
    RUN_LOCKED(s, err, rc, list_edges_locked(s, ids, n, err));
    return rc;
}

/* ---- model versions and retrain rounds ---- */

static int put_model_locked(store *s, const struct model_version *m, ec_err *err)
{
    const struct sql_driver *d = s->drv;
    sql_stmt *st = s->st[ST_PUT_MODEL];
    d->bind_text(st, 0, m->name);
    d->bind_int64(st, 1, m->version);
    d->bind_int64(st, 2, m->created_ms);
    d->bind_text(st, 3, m->path);
    d->bind_text(st, 4, m->sha256);
    d->bind_double(st, 5, m->map50);
    return run_statement(s, st, err);
}

int store_put_model_version(store *s, const struct model_version *m, ec_err *err)
{
    ec_err local;
    if (!err)
        err = &local;
    if (validate_model(m, err) < 0)
        return ec_err_wrap(err, "model %.63s", m->name);
    int rc;
    RUN_LOCKED(s, err, rc, put_model_locked(s, m, err));
    if (rc < 0)
        return ec_err_wrap(err, "storing model %s version %d", m->name, m->version);
    return 0;
}

static int get_model_locked(store *s, const char *name, int version, struct model_version *out,
                            ec_err *err)
{
    const struct sql_driver *d = s->drv;
    sql_stmt *st = s->st[ST_GET_MODEL];
    d->bind_text(st, 0, name);
    d->bind_int64(st, 1, version);
    d->bind_int64(st, 2, version);
    int rc = d->step(st, err);
    if (rc == 0) {
        rc = ec_err_set(err, EC_ENOTFOUND, "model %s version %d not stored", name, version);
    } else if (rc == 1) {
        out->version = (int)d->column_int64(st, 0);
        out->created_ms = d->column_int64(st, 1);
        out->map50 = d->column_double(st, 4);
        rc = read_text(s, st, 2, out->path, sizeof out->path, err) < 0 ||
                     read_text(s, st, 3, out->sha256, sizeof out->sha256, err) < 0
                 ? -1
                 : 0;
    }
    d->reset(st);
    return rc;
}

int store_get_model_version(store *s, const char *name, int version, struct model_version *out,
                            ec_err *err)
{
    ec_err local;
    if (!err)
        err = &local;
    if (!name_ok(name))
        return ec_err_set(err, EC_EINVAL, "bad model name");
    memset(out, 0, sizeof *out);
    int rc;
    RUN_LOCKED(s, err, rc, get_model_locked(s, name, version, out, err));
    if (rc == 0)
        memcpy(out->name, name, strlen(name) + 1);
    return rc;
}

static int put_round_locked(store *s, const struct retrain_round *r, ec_err *err)
{
    const struct sql_driver *d = s->drv;
    sql_stmt *st = s->st[ST_PUT_ROUND];
    d->bind_text(st, 0, r->edge_id);
    d->bind_int64(st, 1, r->round);
    d->bind_int64(st, 2, r->frames_used);
    d->bind_double(st, 3, r->map_before);
    d->bind_double(st, 4, r->map_after);
    d->bind_int64(st, 5, r->model_version);
    d->bind_int64(st, 6, r->started_ms);
    d->bind_double(st, 7, r->label_ms);
    d->bind_double(st, 8, r->train_ms);
    d->bind_int64(st, 9, r->accepted);
    return run_statement(s, st, err);
}

int store_put_retrain_round(store *s, const struct retrain_round *r, ec_err *err)
{
    ec_err local;
    if (!err)
        err = &local;
    if (validate_round(r, err) < 0)
        return ec_err_wrap(err, "retrain round");
    int rc;
    RUN_LOCKED(s, err, rc, put_round_locked(s, r, err));
    if (rc < 0)
        return ec_err_wrap(err, "storing retrain round %s/%d", r->edge_id, r->round);
    return 0;
}

static int read_round(store *s, sql_stmt *st, struct retrain_round *r, ec_err *err)
{
    const struct sql_driver *d = s->drv;
    memset(r, 0, sizeof *r);
    if (read_text(s, st, 0, r->edge_id, sizeof r->edge_id, err) < 0)
        return -1;
    r->round = (int)d->column_int64(st, 1);
    r->frames_used = (int)d->column_int64(st, 2);
    r->map_before = d->column_double(st, 3);
    r->map_after = d->column_double(st, 4);
    r->model_version = (int)d->column_int64(st, 5);
    r->started_ms = d->column_int64(st, 6);
    r->label_ms = d->column_double(st, 7);
    r->train_ms = d->column_double(st, 8);
    r->accepted = (int)d->column_int64(st, 9);
    return 0;
}

static int list_rounds_locked(store *s, const char *edge_id, struct retrain_round **rows, int *n,
                              ec_err *err)
{
    struct retrain_round *v = NULL;
    int cap = 0, count = 0, rc;
    sql_stmt *st = s->st[ST_LIST_ROUNDS];
    bind_optional_text(s, st, 0, edge_id);
    while ((rc = s->drv->step(st, err)) == 1) {
        if (count == cap) {
            int ncap = cap ? cap * 2 : 16;
            struct retrain_round *nv = realloc(v, (size_t)ncap * sizeof *nv);
            if (!nv) {
                rc = ec_err_set(err, EC_ENOMEM, "out of memory");
                break;
            }
            v = nv;
            cap = ncap;
        }
        if ((rc = read_round(s, st, &v[count], err)) < 0)
            break;
        count++;
    }
    s->drv->reset(st);
    if (rc < 0) {
        free(v);
        return -1;
    }
    *rows = v;
    *n = count;
    return 0;
}

int store_list_retrain_rounds(store *s, const char *edge_id, struct retrain_round **rows, int *n,
                              ec_err *err)
{
    ec_err local;
    if (!err)
        err = &local;
    *rows = NULL;
    *n = 0;
    if (edge_id && !name_ok(edge_id))
        return ec_err_set(err, EC_EINVAL, "bad edge_id");
    int rc;
    RUN_LOCKED(s, err, rc, list_rounds_locked(s, edge_id, rows, n, err));
    return rc;
}
