/* MariaDB/MySQL backend of the results store (libmariadb, server-side prepared statements). */
#include "store/sql_driver.h"

#include <mysql.h>
#include <mysqld_error.h>
#include <errmsg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MYSQL_TEXT_MAX 1024 /* VARCHAR(255) in utf8mb4, plus room */

struct mysql_param {
    enum enum_field_types type;
    int64_t i;
    double d;
    char *text;
    unsigned long len;
    my_bool is_null;
};

enum mysql_col_kind { COL_INT, COL_DOUBLE, COL_TEXT };

struct mysql_col {
    enum mysql_col_kind kind;
    int64_t i;
    double d;
    char text[MYSQL_TEXT_MAX];
    unsigned long len;
    my_bool is_null, error;
};

struct sql_stmt {
    MYSQL *db;
    MYSQL_STMT *st;
    int nparam, ncol;
    struct mysql_param *params;
    MYSQL_BIND *param_binds;
    struct mysql_col *cols;
    MYSQL_BIND *col_binds;
    int executed;    /* execute() done and result (if any) buffered */
    int bind_failed; /* a bind ran out of memory: the next step must fail, not reuse a value */
};

static const char *const mysql_schema[] = {
    "CREATE TABLE schema_version (version INT NOT NULL) ENGINE=InnoDB",
    "CREATE TABLE frames ("
    " id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,"
    " edge_id VARCHAR(63) NOT NULL,"
    " frame_index BIGINT NOT NULL,"
    " start_ms BIGINT NOT NULL,"
    " end_ms BIGINT NOT NULL,"
    " processed_at VARCHAR(63) NOT NULL,"
    " bytes_sent BIGINT NOT NULL,"
    " outcome VARCHAR(16) NOT NULL CHECK (outcome IN ('finished', 'ref', 'timeout', 'dropped')),"
    " ref_index BIGINT NULL,"
    " model_version INT NOT NULL,"
    " latency_ms DOUBLE NOT NULL,"
    " UNIQUE KEY frames_edge_index (edge_id, frame_index))"
    " ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin",
    "CREATE TABLE detections ("
    " frame_id BIGINT NOT NULL,"
    " seq INT NOT NULL,"
    " cls INT NOT NULL,"
    " score DOUBLE NOT NULL,"
    " x1 DOUBLE NOT NULL, y1 DOUBLE NOT NULL, x2 DOUBLE NOT NULL, y2 DOUBLE NOT NULL,"
    " PRIMARY KEY (frame_id, seq),"
    " FOREIGN KEY (frame_id) REFERENCES frames (id) ON DELETE CASCADE)"
    " ENGINE=InnoDB",
    "CREATE TABLE model_versions ("
    " name VARCHAR(63) NOT NULL,"
    " version INT NOT NULL,"
    " created_ms BIGINT NOT NULL,"
    " path VARCHAR(255) NOT NULL,"
    " sha256 VARCHAR(64) NOT NULL,"
    " map50 DOUBLE NOT NULL,"
    " PRIMARY KEY (name, version))"
    " ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin",
    "CREATE TABLE retrain_rounds ("
    " edge_id VARCHAR(63) NOT NULL,"
    " round_no INT NOT NULL,"
    " frames_used INT NOT NULL,"
    " map_before DOUBLE NOT NULL,"
    " map_after DOUBLE NOT NULL,"
    " model_version INT NOT NULL,"
    " started_ms BIGINT NOT NULL,"
    " label_ms DOUBLE NOT NULL,"
    " train_ms DOUBLE NOT NULL,"
    " accepted INT NOT NULL,"
    " PRIMARY KEY (edge_id, round_no))"
    " ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin",
    NULL,
};

static int mysql_fail_code(unsigned errnum, const char *msg, ec_err *err)
{
    if (errnum == ER_DUP_ENTRY || errnum == ER_DUP_KEY)
        return ec_err_set(err, EC_EINVAL, "duplicate row: %s", msg);
    if (errnum == 4025 /* ER_CONSTRAINT_FAILED */ || errnum == ER_NO_REFERENCED_ROW_2)
        return ec_err_set(err, EC_EINVAL, "constraint violated: %s", msg);
    if (errnum >= CR_MIN_ERROR && errnum <= CR_MAX_ERROR)
        return ec_err_set(err, EC_ENET, "mysql: %s", msg);
    return ec_err_set(err, EC_EIO, "mysql: %s", msg);
}

static int stmt_fail(sql_stmt *s, ec_err *err)
{
    return mysql_fail_code(mysql_stmt_errno(s->st), mysql_stmt_error(s->st), err);
}

static int mysql_exec(void *db, const char *sql, ec_err *err)
{
    if (mysql_query(db, sql) != 0)
        return mysql_fail_code(mysql_errno(db), mysql_error(db), err);
    MYSQL_RES *res = mysql_store_result(db); /* drain a result the caller does not need */
    mysql_free_result(res);
    return 0;
}

/* Database names become identifiers (they cannot be bound), so only a safe alphabet. */
static int database_name_ok(const char *name)
{
    size_t n = strlen(name);
    if (n == 0 || n > 63)
        return 0;
    for (size_t i = 0; i < n; i++) {
        char c = name[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_'))
            return 0;
    }
    return 1;
}

static void *mysql_open(const struct store_opts *o, ec_err *err)
{
    const char *database = o->database ? o->database : "edgecam";
    if (!database_name_ok(database)) {
        ec_err_set(err, EC_EINVAL, "store.database: \"%s\" must be 1..63 of [A-Za-z0-9_]",
                   database);
        return NULL;
    }
    MYSQL *db = mysql_init(NULL);
    if (!db) {
        ec_err_set(err, EC_ENOMEM, "mysql_init failed");
        return NULL;
    }
    unsigned timeout = o->timeout_s > 0 ? (unsigned)o->timeout_s : 10;
    my_bool off = 0;
    mysql_optionsv(db, MYSQL_OPT_CONNECT_TIMEOUT, &timeout);
    mysql_optionsv(db, MYSQL_OPT_READ_TIMEOUT, &timeout);
    mysql_optionsv(db, MYSQL_OPT_WRITE_TIMEOUT, &timeout);
    mysql_optionsv(db, MYSQL_SET_CHARSET_NAME, "utf8mb4");
    /* A silent reconnect would lose the prepared statements and the open transaction. */
    mysql_optionsv(db, MYSQL_OPT_RECONNECT, &off);
    const char *host = o->host && o->host[0] ? o->host : "127.0.0.1";
    unsigned port = o->port > 0 ? (unsigned)o->port : 3306;
    if (!mysql_real_connect(db, host, o->user, o->password, NULL, port, NULL, 0)) {
        mysql_fail_code(mysql_errno(db), mysql_error(db), err);
        ec_err_wrap(err, "connecting to mysql://%s@%s:%u", o->user ? o->user : "", host, port);
        mysql_close(db);
        return NULL;
    }
    char sql[160];
    snprintf(sql, sizeof sql, "CREATE DATABASE IF NOT EXISTS `%s`", database);
    if (mysql_exec(db, sql, err) < 0 || (mysql_select_db(db, database) != 0 &&
                                         mysql_fail_code(mysql_errno(db), mysql_error(db), err)) ||
        mysql_exec(db, "SET SESSION sql_mode = 'STRICT_ALL_TABLES,NO_ENGINE_SUBSTITUTION'",
                   err) < 0) {
        ec_err_wrap(err, "using database %s", database);
        mysql_close(db);
        return NULL;
    }
    return db;
}

static void mysql_close_db(void *db) { mysql_close(db); }

static void mysql_finalize(sql_stmt *s)
{
    if (!s)
        return;
    if (s->st)
        mysql_stmt_close(s->st);
    for (int i = 0; i < s->nparam; i++)
        free(s->params[i].text);
    free(s->params);
    free(s->param_binds);
    free(s->cols);
    free(s->col_binds);
    free(s);
}

/* Result columns are bound once, by the type the server reports. */
static int bind_columns(sql_stmt *s, ec_err *err)
{
    MYSQL_RES *meta = mysql_stmt_result_metadata(s->st);
    if (!meta)
        return 0; /* no result set (INSERT, ...) */
    s->ncol = (int)mysql_num_fields(meta);
    s->cols = calloc((size_t)s->ncol, sizeof *s->cols);
    s->col_binds = calloc((size_t)s->ncol, sizeof *s->col_binds);
    if (!s->cols || !s->col_binds) {
        mysql_free_result(meta);
        return ec_err_set(err, EC_ENOMEM, "out of memory");
    }
    MYSQL_FIELD *fields = mysql_fetch_fields(meta);
    for (int i = 0; i < s->ncol; i++) {
        struct mysql_col *c = &s->cols[i];
        MYSQL_BIND *b = &s->col_binds[i];
        switch (fields[i].type) {
        case MYSQL_TYPE_TINY: case MYSQL_TYPE_SHORT: case MYSQL_TYPE_LONG:
        case MYSQL_TYPE_INT24: case MYSQL_TYPE_LONGLONG:
            c->kind = COL_INT;
            b->buffer_type = MYSQL_TYPE_LONGLONG;
            b->buffer = &c->i;
            break;
        case MYSQL_TYPE_FLOAT: case MYSQL_TYPE_DOUBLE:
            c->kind = COL_DOUBLE;
            b->buffer_type = MYSQL_TYPE_DOUBLE;
            b->buffer = &c->d;
            break;
        default: /* text, and DECIMAL from SUM(): converted on read */
            c->kind = COL_TEXT;
            b->buffer_type = MYSQL_TYPE_STRING;
            b->buffer = c->text;
            b->buffer_length = sizeof c->text - 1;
            b->length = &c->len;
            break;
        }
        b->is_null = &c->is_null;
        b->error = &c->error;
    }
    mysql_free_result(meta);
    return 0;
}

static sql_stmt *mysql_prepare(void *db, const char *sql, ec_err *err)
{
    sql_stmt *s = calloc(1, sizeof *s);
    if (!s || !(s->st = mysql_stmt_init(db))) {
        free(s);
        ec_err_set(err, EC_ENOMEM, "out of memory");
        return NULL;
    }
    s->db = db;
    if (mysql_stmt_prepare(s->st, sql, strlen(sql)) != 0) {
        stmt_fail(s, err);
        mysql_finalize(s);
        return NULL;
    }
    s->nparam = (int)mysql_stmt_param_count(s->st);
    if (s->nparam > 0) {
        s->params = calloc((size_t)s->nparam, sizeof *s->params);
        s->param_binds = calloc((size_t)s->nparam, sizeof *s->param_binds);
        if (!s->params || !s->param_binds) {
            ec_err_set(err, EC_ENOMEM, "out of memory");
            mysql_finalize(s);
            return NULL;
        }
    }
    if (bind_columns(s, err) < 0) {
        mysql_finalize(s);
        return NULL;
    }
    return s;
}

static void mysql_reset(sql_stmt *s)
{
    if (s->executed)
        mysql_stmt_free_result(s->st);
    s->executed = 0;
}

static struct mysql_param *param_at(sql_stmt *s, int i)
{
    return (i >= 0 && i < s->nparam) ? &s->params[i] : NULL;
}

static int mysql_bind_int64(sql_stmt *s, int i, int64_t v)
{
    struct mysql_param *p = param_at(s, i);
    if (!p)
        return -1;
    p->type = MYSQL_TYPE_LONGLONG;
    p->i = v;
    return 0;
}

static int mysql_bind_double(sql_stmt *s, int i, double v)
{
    struct mysql_param *p = param_at(s, i);
    if (!p)
        return -1;
    p->type = MYSQL_TYPE_DOUBLE;
    p->d = v;
    return 0;
}

static int mysql_bind_text(sql_stmt *s, int i, const char *v)
{
    struct mysql_param *p = param_at(s, i);
    char *copy = p ? strdup(v) : NULL;
    if (!copy) {
        s->bind_failed = 1;
        return -1;
    }
    free(p->text);
    p->text = copy;
    p->len = (unsigned long)strlen(copy);
    p->type = MYSQL_TYPE_STRING;
    return 0;
}

static int mysql_bind_null(sql_stmt *s, int i)
{
    struct mysql_param *p = param_at(s, i);
    if (!p)
        return -1;
    p->type = MYSQL_TYPE_NULL;
    return 0;
}

static int execute(sql_stmt *s, ec_err *err)
{
    for (int i = 0; i < s->nparam; i++) {
        struct mysql_param *p = &s->params[i];
        MYSQL_BIND *b = &s->param_binds[i];
        memset(b, 0, sizeof *b);
        p->is_null = p->type == MYSQL_TYPE_NULL;
        b->buffer_type = p->type;
        b->is_null = &p->is_null;
        if (p->type == MYSQL_TYPE_LONGLONG) {
            b->buffer = &p->i;
        } else if (p->type == MYSQL_TYPE_DOUBLE) {
            b->buffer = &p->d;
        } else if (p->type == MYSQL_TYPE_STRING) {
            b->buffer = p->text;
            b->buffer_length = p->len;
            b->length = &p->len;
        }
    }
    if ((s->nparam > 0 && mysql_stmt_bind_param(s->st, s->param_binds) != 0) ||
        mysql_stmt_execute(s->st) != 0)
        return stmt_fail(s, err);
    /* Buffering the whole result lets the next statement run while rows are read. */
    if (s->ncol > 0 && (mysql_stmt_bind_result(s->st, s->col_binds) != 0 ||
                        mysql_stmt_store_result(s->st) != 0))
        return stmt_fail(s, err);
    s->executed = 1;
    return 0;
}

static int mysql_step(sql_stmt *s, ec_err *err)
{
    if (s->bind_failed) {
        s->bind_failed = 0;
        return ec_err_set(err, EC_ENOMEM, "out of memory binding a parameter");
    }
    if (!s->executed && execute(s, err) < 0)
        return -1;
    if (s->ncol == 0)
        return 0;
    int rc = mysql_stmt_fetch(s->st);
    if (rc == 0)
        return 1;
    if (rc == MYSQL_NO_DATA)
        return 0;
    if (rc == MYSQL_DATA_TRUNCATED)
        return ec_err_set(err, EC_EFORMAT, "mysql: a stored value is longer than expected");
    return stmt_fail(s, err);
}

static int mysql_column_is_null(sql_stmt *s, int i)
{
    return i < 0 || i >= s->ncol || s->cols[i].is_null;
}

static int64_t mysql_column_int64(sql_stmt *s, int i)
{
    if (mysql_column_is_null(s, i))
        return 0;
    struct mysql_col *c = &s->cols[i];
    if (c->kind == COL_INT)
        return c->i;
    if (c->kind == COL_DOUBLE)
        return (int64_t)c->d;
    c->text[c->len < sizeof c->text ? c->len : sizeof c->text - 1] = '\0';
    return strtoll(c->text, NULL, 10);
}

static double mysql_column_double(sql_stmt *s, int i)
{
    if (mysql_column_is_null(s, i))
        return 0;
    struct mysql_col *c = &s->cols[i];
    if (c->kind == COL_INT)
        return (double)c->i;
    if (c->kind == COL_DOUBLE)
        return c->d;
    c->text[c->len < sizeof c->text ? c->len : sizeof c->text - 1] = '\0';
    return strtod(c->text, NULL);
}

static int mysql_column_text(sql_stmt *s, int i, char *buf, size_t size)
{
    buf[0] = '\0';
    if (mysql_column_is_null(s, i))
        return 0;
    struct mysql_col *c = &s->cols[i];
    if (c->kind != COL_TEXT || c->len >= size)
        return -1;
    memcpy(buf, c->text, c->len);
    buf[c->len] = '\0';
    return 0;
}

static int64_t mysql_last_insert_id(sql_stmt *s) { return (int64_t)mysql_stmt_insert_id(s->st); }

const struct sql_driver sql_driver_mysql = {
    .name = "mysql",
    .schema = mysql_schema,
    .begin_sql = "START TRANSACTION",
    .schema_lock_sql = "SELECT GET_LOCK('edgecam_schema', 30)",
    .schema_unlock_sql = "SELECT RELEASE_LOCK('edgecam_schema')",
    .ready_sql = NULL,
    .reconnects = 1,
    .count_tables_sql =
        "SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = DATABASE()",
    .table_exists_sql = "SELECT 1 FROM information_schema.tables "
                        "WHERE table_schema = DATABASE() AND table_name = ?",
    .open = mysql_open,
    .close = mysql_close_db,
    .exec = mysql_exec,
    .prepare = mysql_prepare,
    .finalize = mysql_finalize,
    .reset = mysql_reset,
    .bind_int64 = mysql_bind_int64,
    .bind_double = mysql_bind_double,
    .bind_text = mysql_bind_text,
    .bind_null = mysql_bind_null,
    .step = mysql_step,
    .column_is_null = mysql_column_is_null,
    .column_int64 = mysql_column_int64,
    .column_double = mysql_column_double,
    .column_text = mysql_column_text,
    .last_insert_id = mysql_last_insert_id,
};
