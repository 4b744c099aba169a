/* SQLite backend of the results store: a WAL-mode database file. */
#include "store/sql_driver.h"

#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>

struct sql_stmt {
    sqlite3 *db;
    sqlite3_stmt *st;
};

static const char *const sqlite_schema[] = {
    "CREATE TABLE schema_version (version INTEGER NOT NULL)",
    "CREATE TABLE frames ("
    " id INTEGER PRIMARY KEY,"
    " edge_id TEXT NOT NULL,"
    " frame_index INTEGER NOT NULL,"
    " start_ms INTEGER NOT NULL,"
    " end_ms INTEGER NOT NULL,"
    " processed_at TEXT NOT NULL,"
    " bytes_sent INTEGER NOT NULL,"
    " outcome TEXT NOT NULL CHECK (outcome IN ('finished', 'ref', 'timeout', 'dropped')),"
    " ref_index INTEGER,"
    " model_version INTEGER NOT NULL,"
    " latency_ms REAL NOT NULL,"
    " UNIQUE (edge_id, frame_index))",
    "CREATE TABLE detections ("
    " frame_id INTEGER NOT NULL REFERENCES frames (id) ON DELETE CASCADE,"
    " seq INTEGER NOT NULL,"
    " cls INTEGER NOT NULL,"
    " score REAL NOT NULL,"
    " x1 REAL NOT NULL, y1 REAL NOT NULL, x2 REAL NOT NULL, y2 REAL NOT NULL,"
    " PRIMARY KEY (frame_id, seq)) WITHOUT ROWID",
    "CREATE TABLE model_versions ("
    " name TEXT NOT NULL,"
    " version INTEGER NOT NULL,"
    " created_ms INTEGER NOT NULL,"
    " path TEXT NOT NULL,"
    " sha256 TEXT NOT NULL,"
    " map50 REAL NOT NULL,"
    " PRIMARY KEY (name, version))",
    "CREATE TABLE retrain_rounds ("
    " edge_id TEXT NOT NULL,"
    " round_no INTEGER NOT NULL,"
    " frames_used INTEGER NOT NULL,"
    " map_before REAL NOT NULL,"
    " map_after REAL NOT NULL,"
    " model_version INTEGER NOT NULL,"
    " started_ms INTEGER NOT NULL,"
    " label_ms REAL NOT NULL,"
    " train_ms REAL NOT NULL,"
    " accepted INTEGER NOT NULL,"
    " PRIMARY KEY (edge_id, round_no))",
    NULL,
};

static int sqlite_fail(sqlite3 *db, int rc, ec_err *err)
{
    const char *msg = db ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
    if ((rc & 0xff) == SQLITE_CONSTRAINT)
        return ec_err_set(err, EC_EINVAL, "constraint violated (duplicate or invalid row): %s",
                          msg);
    if ((rc & 0xff) == SQLITE_NOTADB || (rc & 0xff) == SQLITE_CORRUPT)
        return ec_err_set(err, EC_EFORMAT, "not a valid SQLite database: %s", msg);
    return ec_err_set(err, EC_EIO, "sqlite: %s", msg);
}

static int sqlite_exec(void *db, const char *sql, ec_err *err)
{
    int rc = sqlite3_exec(db, sql, NULL, NULL, NULL);
    return rc == SQLITE_OK ? 0 : sqlite_fail(db, rc, err);
}

static void *sqlite_open(const struct store_opts *o, ec_err *err)
{
    if (!o->path || !o->path[0]) {
        ec_err_set(err, EC_EINVAL, "store.path: an SQLite file name is required");
        return NULL;
    }
    sqlite3 *db = NULL;
    int rc = sqlite3_open_v2(o->path, &db,
                             SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
                             NULL);
    if (rc != SQLITE_OK) {
        sqlite_fail(db, rc, err);
        ec_err_wrap(err, "opening %s", o->path);
        sqlite3_close(db);
        return NULL;
    }
    /* Other processes (reports, a second edge) may hold the lock for a moment. */
    sqlite3_busy_timeout(db, 5000);
    sqlite3_extended_result_codes(db, 1);
    /* Reading the header first: a file that is not SQLite fails here, before any write. */
    if (sqlite_exec(db, "SELECT COUNT(*) FROM sqlite_master", err) < 0 ||
        sqlite_exec(db, "PRAGMA foreign_keys = ON", err) < 0) {
        ec_err_wrap(err, "opening %s", o->path);
        sqlite3_close(db);
        return NULL;
    }
    return db;
}

static void sqlite_close(void *db) { sqlite3_close(db); }

static sql_stmt *sqlite_prepare(void *db, const char *sql, ec_err *err)
{
    sql_stmt *s = calloc(1, sizeof *s);
    if (!s) {
        ec_err_set(err, EC_ENOMEM, "out of memory");
        return NULL;
    }
    s->db = db;
    int rc = sqlite3_prepare_v2(db, sql, -1, &s->st, NULL);
    if (rc != SQLITE_OK) {
        sqlite_fail(db, rc, err);
        free(s);
        return NULL;
    }
    return s;
}

static void sqlite_finalize(sql_stmt *s)
{
    if (s) {
        sqlite3_finalize(s->st);
        free(s);
    }
}

static void sqlite_reset(sql_stmt *s)
{
    sqlite3_reset(s->st);
    sqlite3_clear_bindings(s->st);
}

static int sqlite_bind_int64(sql_stmt *s, int i, int64_t v)
{
    return sqlite3_bind_int64(s->st, i + 1, v) == SQLITE_OK ? 0 : -1;
}

static int sqlite_bind_double(sql_stmt *s, int i, double v)
{
    return sqlite3_bind_double(s->st, i + 1, v) == SQLITE_OK ? 0 : -1;
}

static int sqlite_bind_text(sql_stmt *s, int i, const char *v)
{
    return sqlite3_bind_text(s->st, i + 1, v, -1, SQLITE_TRANSIENT) == SQLITE_OK ? 0 : -1;
}

static int sqlite_bind_null(sql_stmt *s, int i)
{
    return sqlite3_bind_null(s->st, i + 1) == SQLITE_OK ? 0 : -1;
}

static int sqlite_step(sql_stmt *s, ec_err *err)
{
    int rc = sqlite3_step(s->st);
    if (rc == SQLITE_ROW)
        return 1;
    if (rc == SQLITE_DONE)
        return 0;
    return sqlite_fail(s->db, rc, err);
}

static int sqlite_column_is_null(sql_stmt *s, int i)
{
    return sqlite3_column_type(s->st, i) == SQLITE_NULL;
}

static int64_t sqlite_column_int64(sql_stmt *s, int i) { return sqlite3_column_int64(s->st, i); }

static double sqlite_column_double(sql_stmt *s, int i) { return sqlite3_column_double(s->st, i); }

static int sqlite_column_text(sql_stmt *s, int i, char *buf, size_t size)
{
    const unsigned char *t = sqlite3_column_text(s->st, i);
    size_t n = (size_t)sqlite3_column_bytes(s->st, i);
    if (!t || n >= size) {
        buf[0] = '\0';
        return t ? -1 : 0;
    }
    memcpy(buf, t, n);
    buf[n] = '\0';
    return 0;
}

static int64_t sqlite_last_insert_id(sql_stmt *s) { return sqlite3_last_insert_rowid(s->db); }

const struct sql_driver sql_driver_sqlite = {
    .name = "sqlite",
    .schema = sqlite_schema,
    /* IMMEDIATE takes the write lock up front, so two writers never deadlock on upgrade. */
    .begin_sql = "BEGIN IMMEDIATE",
    /* After the schema check, so a foreign database is never converted. NORMAL is durable
     * across application crashes in WAL mode and much faster than FULL. */
    .ready_sql = "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL",
    .count_tables_sql =
        "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite\\_%' "
        "ESCAPE '\\'",
    .table_exists_sql = "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?",
    .open = sqlite_open,
    .close = sqlite_close,
    .exec = sqlite_exec,
    .prepare = sqlite_prepare,
    .finalize = sqlite_finalize,
    .reset = sqlite_reset,
    .bind_int64 = sqlite_bind_int64,
    .bind_double = sqlite_bind_double,
    .bind_text = sqlite_bind_text,
    .bind_null = sqlite_bind_null,
    .step = sqlite_step,
    .column_is_null = sqlite_column_is_null,
    .column_int64 = sqlite_column_int64,
    .column_double = sqlite_column_double,
    .column_text = sqlite_column_text,
    .last_insert_id = sqlite_last_insert_id,
};
