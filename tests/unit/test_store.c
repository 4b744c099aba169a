/* Results store tests, one source for both backends. Default: SQLite files in a temp dir.
 * With EDGECAM_STORE_KIND=mysql (set by tests/integration/mariadb_store_test.sh) the same
 * cases run against a real mariadbd: EDGECAM_MYSQL_HOST/PORT/USER/PASSWORD give the server,
 * each test gets a fresh database edgecam_test_<n>. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include "core/det.h"
#include "core/err.h"
#include "store/store.h"

#include <math.h>
#include <mysql.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* This cmocka has no assert_double_equal. */
#define assert_near(a, b, eps) assert_true(fabs((double)(a) - (double)(b)) <= (eps))

struct fixture {
    int mysql;
    char dir[64];
    char path[128];
    char database[64];
    struct store_opts opts;
};

static int is_mysql(void)
{
    const char *k = getenv("EDGECAM_STORE_KIND");
    return k && strcmp(k, "mysql") == 0;
}

static const char *env_or(const char *name, const char *def)
{
    const char *v = getenv(name);
    return v && v[0] ? v : def;
}

/* ---- raw access, beside the store, to tamper with and inspect databases ---- */

static MYSQL *raw_mysql_connect(const struct fixture *f, int with_db)
{
    MYSQL *m = mysql_init(NULL);
    assert_non_null(m);
    if (!mysql_real_connect(m, f->opts.host, f->opts.user, f->opts.password,
                            with_db ? f->database : NULL, (unsigned)f->opts.port, NULL, 0))
        fail_msg("raw mysql connect: %s", mysql_error(m));
    return m;
}

static void raw_exec(const struct fixture *f, const char *sql)
{
    if (f->mysql) {
        MYSQL *m = raw_mysql_connect(f, 1);
        if (mysql_query(m, sql) != 0)
            fail_msg("raw mysql %s: %s", sql, mysql_error(m));
        mysql_close(m);
    } else {
        sqlite3 *db;
        assert_int_equal(sqlite3_open(f->path, &db), SQLITE_OK);
        char *msg = NULL;
        if (sqlite3_exec(db, sql, NULL, NULL, &msg) != SQLITE_OK)
            fail_msg("raw sqlite %s: %s", sql, msg);
        sqlite3_close(db);
    }
}

static int64_t raw_query_int(const struct fixture *f, const char *sql)
{
    int64_t v = -1;
    if (f->mysql) {
        MYSQL *m = raw_mysql_connect(f, 1);
        if (mysql_query(m, sql) != 0)
            fail_msg("raw mysql %s: %s", sql, mysql_error(m));
        MYSQL_RES *res = mysql_store_result(m);
        MYSQL_ROW row = res ? mysql_fetch_row(res) : NULL;
        if (row && row[0])
            v = strtoll(row[0], NULL, 10);
        mysql_free_result(res);
        mysql_close(m);
    } else {
        sqlite3 *db;
        sqlite3_stmt *st;
        assert_int_equal(sqlite3_open(f->path, &db), SQLITE_OK);
        assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
        if (sqlite3_step(st) == SQLITE_ROW)
            v = sqlite3_column_int64(st, 0);
        sqlite3_finalize(st);
        sqlite3_close(db);
    }
    return v;
}

static int setup(void **state)
{
    static int counter;
    struct fixture *f = calloc(1, sizeof *f);
    assert_non_null(f);
    f->mysql = is_mysql();
    if (f->mysql) {
        snprintf(f->database, sizeof f->database, "edgecam_test_%d", ++counter);
        f->opts = (struct store_opts){
            .kind = "mysql",
            .host = env_or("EDGECAM_MYSQL_HOST", "127.0.0.1"),
            .port = atoi(env_or("EDGECAM_MYSQL_PORT", "3306")),
            .user = env_or("EDGECAM_MYSQL_USER", "edgecam"),
            .password = env_or("EDGECAM_MYSQL_PASSWORD", ""),
            .database = f->database,
        };
        MYSQL *m = raw_mysql_connect(f, 0);
        char sql[128];
        snprintf(sql, sizeof sql, "DROP DATABASE IF EXISTS %s", f->database);
        assert_int_equal(mysql_query(m, sql), 0);
        mysql_close(m);
    } else {
        snprintf(f->dir, sizeof f->dir, "/tmp/edgecam-store-XXXXXX");
        assert_non_null(mkdtemp(f->dir));
        snprintf(f->path, sizeof f->path, "%s/results.db", f->dir);
        f->opts = (struct store_opts){.kind = "sqlite", .path = f->path};
    }
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    if (!f->mysql) {
        char p[160];
        const char *suffixes[] = {"", "-wal", "-shm", "-journal"};
        for (size_t i = 0; i < 4; i++) {
            snprintf(p, sizeof p, "%s%s", f->path, suffixes[i]);
            unlink(p);
        }
        rmdir(f->dir);
    }
    free(f);
    return 0;
}

static store *open_ok(const struct fixture *f)
{
    ec_err e = {0};
    store *s = store_open(&f->opts, &e);
    if (!s)
        fail_msg("store_open: %s", e.msg);
    return s;
}

static struct frame_record frame(const char *edge, int64_t index, enum frame_outcome outcome)
{
    return (struct frame_record){
        .edge_id = edge,
        .frame_index = index,
        .start_ms = 1700000000000 + index * 40,
        .end_ms = 1700000000000 + index * 40 + 15 + index % 7,
        .where = "local",
        .bytes_sent = 0,
        .outcome = outcome,
        .ref_index = outcome == OUTCOME_REF ? index - 1 : -1,
        .model_version = 1,
        .latency_ms = 15.0 + (double)(index % 7),
    };
}

static void put_ok(store *s, const struct frame_record *r, int n)
{
    ec_err e = {0};
    if (store_put_frames(s, r, n, &e) != 0)
        fail_msg("store_put_frames: %s", e.msg);
}

static int64_t count(store *s, const char *edge, int outcome)
{
    ec_err e = {0};
    int64_t n = -1;
    if (store_count_frames(s, edge, outcome, &n, &e) != 0)
        fail_msg("store_count_frames: %s", e.msg);
    return n;
}

/* ---- tests ---- */

static void test_round_trip_frames_and_detections(void **state)
{
    struct fixture *f = *state;
    store *s = open_ok(f);
    assert_string_equal(store_kind(s), f->mysql ? "mysql" : "sqlite");
    /* Values that are not exact in decimal, so a lossy text path would show. */
    struct det dets[3] = {
        {10.25f, 20.5f, 110.75f, 220.125f, 0.912345f, 0},
        {0.1f, 0.2f, 0.3f, 0.4f, 0.333333f, 7},
        {639.9f, 359.9f, 640.0f, 360.0f, 1.0f, 2},
    };
    struct frame_record r[3] = {
        frame("edge-1", 0, OUTCOME_FINISHED),
        frame("edge-1", 1, OUTCOME_REF),
        frame("edge-1", 2, OUTCOME_DROPPED),
    };
    r[0].dets = dets;
    r[0].ndet = 3;
    r[0].where = "peer:edge-2";
    r[0].bytes_sent = 123456789012;
    r[0].model_version = 42;
    r[0].latency_ms = 17.3125;
    r[1].ref_index = 0;
    r[2].where = "none";
    put_ok(s, r, 3);

    struct frame_row row;
    struct det_list got = {0};
    ec_err e = {0};
    assert_int_equal(store_get_frame(s, "edge-1", 0, &row, &got, &e), 0);
    assert_string_equal(row.edge_id, "edge-1");
    assert_int_equal(row.frame_index, 0);
    assert_int_equal(row.start_ms, r[0].start_ms);
    assert_int_equal(row.end_ms, r[0].end_ms);
    assert_string_equal(row.where, "peer:edge-2");
    assert_int_equal(row.bytes_sent, 123456789012);
    assert_int_equal(row.outcome, OUTCOME_FINISHED);
    assert_int_equal(row.ref_index, -1);
    assert_int_equal(row.model_version, 42);
    assert_true(row.latency_ms == 17.3125);
    assert_int_equal(got.n, 3);
    for (int i = 0; i < 3; i++) /* float -> double -> float is exact: compare bits */
        assert_memory_equal(&got.v[i], &dets[i], sizeof dets[i]);

    assert_int_equal(store_get_frame(s, "edge-1", 1, &row, &got, &e), 0);
    assert_int_equal(row.outcome, OUTCOME_REF);
    assert_int_equal(row.ref_index, 0);
    assert_int_equal(got.n, 0); /* replaced, not appended */
    assert_int_equal(store_get_frame(s, "edge-1", 2, &row, NULL, &e), 0);
    assert_int_equal(row.outcome, OUTCOME_DROPPED);
    assert_string_equal(row.where, "none");

    /* Many detections (stored in multi-row chunks plus single rows) keep their order. */
    struct det many[37];
    for (int i = 0; i < 37; i++)
        many[i] = (struct det){(float)i, 2.0f * i, 100.0f + i, 200.5f + i, (float)i / 37.0f, i % 5};
    struct frame_record big = frame("edge-1", 4, OUTCOME_FINISHED);
    big.dets = many;
    big.ndet = 37;
    put_ok(s, &big, 1);
    assert_int_equal(store_get_frame(s, "edge-1", 4, &row, &got, &e), 0);
    assert_int_equal(got.n, 37);
    assert_memory_equal(got.v, many, sizeof many);

    assert_int_equal(store_get_frame(s, "edge-1", 3, &row, &got, &e), -1);
    assert_int_equal(e.code, EC_ENOTFOUND);
    assert_int_equal(store_get_frame(s, "edge-9", 0, &row, &got, &e), -1);
    assert_int_equal(e.code, EC_ENOTFOUND);
    det_list_free(&got);
    store_close(s);
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static void test_counts_and_summary(void **state)
{
    struct fixture *f = *state;
    store *s = open_ok(f);
    const char *edges[2] = {"edge-a", "edge-b"};
    int64_t expect[2][OUTCOME_COUNT] = {{0}}, bytes[2] = {0};
    double lat[2][200];
    int nlat[2] = {0};
    struct frame_record r[200];
    /* A deterministic but uneven mix of outcomes per edge. */
    for (int e = 0; e < 2; e++) {
        int n = e == 0 ? 200 : 77;
        for (int i = 0; i < n; i++) {
            enum frame_outcome o = (enum frame_outcome)((i * (e + 3) / 5) % OUTCOME_COUNT);
            if (i == 0 && o == OUTCOME_REF)
                o = OUTCOME_FINISHED;
            r[i] = frame(edges[e], i, o);
            r[i].bytes_sent = (i * 1031) % 50000;
            r[i].latency_ms = (double)((i * 37) % 101) + 0.5 * e;
            r[i].where = i % 2 ? "cloud" : "local";
            expect[e][o]++;
            bytes[e] += r[i].bytes_sent;
            if (o == OUTCOME_FINISHED)
                lat[e][nlat[e]++] = r[i].latency_ms;
        }
        put_ok(s, r, n);
    }
    int64_t total = 0;
    for (int o = 0; o < OUTCOME_COUNT; o++) {
        assert_int_equal(count(s, "edge-a", o), expect[0][o]);
        assert_int_equal(count(s, "edge-b", o), expect[1][o]);
        assert_int_equal(count(s, NULL, o), expect[0][o] + expect[1][o]);
        total += expect[0][o] + expect[1][o];
    }
    assert_int_equal(count(s, "edge-a", -1), 200);
    assert_int_equal(count(s, "edge-b", -1), 77);
    assert_int_equal(count(s, NULL, -1), total);
    assert_int_equal(count(s, "edge-zzz", -1), 0);

    ec_err e = {0};
    int64_t dummy;
    assert_int_equal(store_count_frames(s, NULL, 4, &dummy, &e), -1);
    assert_int_equal(e.code, EC_EINVAL);

    for (int k = 0; k < 2; k++) {
        struct store_summary sum;
        assert_int_equal(store_summarize(s, edges[k], &sum, &e), 0);
        assert_int_equal(sum.frames, k == 0 ? 200 : 77);
        for (int o = 0; o < OUTCOME_COUNT; o++)
            assert_int_equal(sum.by_outcome[o], expect[k][o]);
        assert_int_equal(sum.bytes_sent, bytes[k]);
        qsort(lat[k], (size_t)nlat[k], sizeof(double), cmp_double);
        double mean = 0;
        for (int i = 0; i < nlat[k]; i++)
            mean += lat[k][i];
        mean /= nlat[k];
        int n = nlat[k];
        assert_true(n > 10);
        assert_near(sum.latency_mean_ms, mean, 1e-9);
        assert_near(sum.latency_p50_ms, lat[k][(int)ceil(0.50 * n) - 1], 0);
        assert_near(sum.latency_p95_ms, lat[k][(int)ceil(0.95 * n) - 1], 0);
        assert_near(sum.latency_p99_ms, lat[k][(int)ceil(0.99 * n) - 1], 0);
        assert_near(sum.latency_max_ms, lat[k][n - 1], 0);
    }
    struct store_summary all;
    assert_int_equal(store_summarize(s, NULL, &all, &e), 0);
    assert_int_equal(all.frames, 277);
    assert_int_equal(all.bytes_sent, bytes[0] + bytes[1]);

    char (*ids)[STORE_NAME_MAX];
    int n;
    assert_int_equal(store_list_edges(s, &ids, &n, &e), 0);
    assert_int_equal(n, 2);
    assert_string_equal(ids[0], "edge-a");
    assert_string_equal(ids[1], "edge-b");
    free(ids);
    store_close(s);
}

static void test_one_outcome_per_frame(void **state)
{
    struct fixture *f = *state;
    store *s = open_ok(f);
    struct frame_record r = frame("edge-1", 10, OUTCOME_TIMEOUT);
    put_ok(s, &r, 1);
    struct frame_record again = frame("edge-1", 10, OUTCOME_FINISHED);
    ec_err e = {0};
    assert_int_equal(store_put_frames(s, &again, 1, &e), -1);
    assert_int_equal(e.code, EC_EINVAL);
    assert_non_null(strstr(e.msg, "already stored"));
    assert_non_null(strstr(e.msg, "edge-1/10"));
    struct frame_row row;
    assert_int_equal(store_get_frame(s, "edge-1", 10, &row, NULL, &e), 0);
    assert_int_equal(row.outcome, OUTCOME_TIMEOUT); /* first outcome kept */
    assert_int_equal(count(s, NULL, -1), 1);
    /* Same index on another edge is another frame; edge ids are case-sensitive. */
    struct frame_record other[2] = {frame("edge-2", 10, OUTCOME_FINISHED),
                                    frame("EDGE-1", 10, OUTCOME_FINISHED)};
    put_ok(s, other, 2);
    assert_int_equal(count(s, NULL, -1), 3);
    /* A duplicate inside one batch fails the batch too. */
    struct frame_record twice[2] = {frame("edge-3", 1, OUTCOME_FINISHED),
                                    frame("edge-3", 1, OUTCOME_DROPPED)};
    assert_int_equal(store_put_frames(s, twice, 2, &e), -1);
    assert_int_equal(count(s, "edge-3", -1), 0);
    store_close(s);
}

static void test_failed_batch_rolls_back_whole(void **state)
{
    struct fixture *f = *state;
    store *s = open_ok(f);
    struct det d = {1, 1, 5, 5, 0.9f, 1};
    struct frame_record first = frame("edge-1", 5, OUTCOME_FINISHED);
    first.dets = &d;
    first.ndet = 1;
    put_ok(s, &first, 1);

    struct frame_record batch[4] = {frame("edge-1", 6, OUTCOME_FINISHED),
                                    frame("edge-1", 7, OUTCOME_REF),
                                    frame("edge-1", 5, OUTCOME_DROPPED),
                                    frame("edge-1", 8, OUTCOME_FINISHED)};
    batch[0].dets = &d;
    batch[0].ndet = 1;
    ec_err e = {0};
    assert_int_equal(store_put_frames(s, batch, 4, &e), -1);
    assert_non_null(strstr(e.msg, "frame 2 of batch of 4"));
    assert_non_null(strstr(e.msg, "rolled back"));
    assert_int_equal(count(s, "edge-1", -1), 1);
    struct frame_row row;
    assert_int_equal(store_get_frame(s, "edge-1", 6, &row, NULL, &e), -1);
    assert_int_equal(e.code, EC_ENOTFOUND);
    int64_t dets_left = raw_query_int(f, "SELECT COUNT(*) FROM detections");
    assert_int_equal(dets_left, 1); /* frame 6's detection went with it */

    /* An invalid record is refused before anything is written. */
    struct det bad = {5, 5, 1, 1, 0.5f, 0}; /* x2 < x1 */
    batch[2] = frame("edge-1", 9, OUTCOME_FINISHED);
    batch[2].dets = &bad;
    batch[2].ndet = 1;
    assert_int_equal(store_put_frames(s, batch, 4, &e), -1);
    assert_int_equal(e.code, EC_EINVAL);
    assert_non_null(strstr(e.msg, "frame 2 of batch"));
    assert_int_equal(count(s, "edge-1", -1), 1);

    /* The store is still usable and the same batch, fixed, goes in. */
    batch[2].ndet = 0;
    put_ok(s, batch, 4);
    assert_int_equal(count(s, "edge-1", -1), 5);
    store_close(s);
}

static void test_reopen_persists(void **state)
{
    struct fixture *f = *state;
    store *s = open_ok(f);
    struct det d = {3, 4, 30, 40, 0.75f, 5};
    struct frame_record r = frame("edge-7", 123, OUTCOME_FINISHED);
    r.dets = &d;
    r.ndet = 1;
    put_ok(s, &r, 1);
    struct model_version m = {.name = "edge-lite", .version = 3, .created_ms = 99, .map50 = 0.5};
    ec_err e = {0};
    assert_int_equal(store_put_model_version(s, &m, &e), 0);
    store_close(s);

    s = open_ok(f);
    struct frame_row row;
    struct det_list got = {0};
    assert_int_equal(store_get_frame(s, "edge-7", 123, &row, &got, &e), 0);
    assert_int_equal(row.end_ms, r.end_ms);
    assert_int_equal(got.n, 1);
    assert_memory_equal(&got.v[0], &d, sizeof d);
    struct model_version mv;
    assert_int_equal(store_get_model_version(s, "edge-lite", -1, &mv, &e), 0);
    assert_int_equal(mv.version, 3);
    det_list_free(&got);
    store_close(s);
    assert_int_equal(raw_query_int(f, "SELECT version FROM schema_version"),
                     STORE_SCHEMA_VERSION);
}

static void test_newer_schema_is_refused_untouched(void **state)
{
    struct fixture *f = *state;
    store *s = open_ok(f);
    struct frame_record r = frame("edge-1", 1, OUTCOME_FINISHED);
    put_ok(s, &r, 1);
    store_close(s);
    raw_exec(f, "UPDATE schema_version SET version = 99");
    ec_err e = {0};
    assert_null(store_open(&f->opts, &e));
    assert_int_equal(e.code, EC_EUNSUPPORTED);
    assert_non_null(strstr(e.msg, "schema version 99"));
    assert_int_equal(raw_query_int(f, "SELECT version FROM schema_version"), 99);
    assert_int_equal(raw_query_int(f, "SELECT COUNT(*) FROM frames"), 1);
}

static void test_foreign_database_is_refused_untouched(void **state)
{
    struct fixture *f = *state;
    if (f->mysql) { /* the store creates the database; make it exist with a foreign table */
        MYSQL *m = raw_mysql_connect(f, 0);
        char sql[128];
        snprintf(sql, sizeof sql, "CREATE DATABASE %s", f->database);
        assert_int_equal(mysql_query(m, sql), 0);
        mysql_close(m);
    }
    raw_exec(f, "CREATE TABLE users (name VARCHAR(20))");
    raw_exec(f, "INSERT INTO users VALUES ('alice')");
    ec_err e = {0};
    assert_null(store_open(&f->opts, &e));
    assert_int_equal(e.code, EC_EFORMAT);
    assert_non_null(strstr(e.msg, "not an edgecam store"));
    assert_int_equal(raw_query_int(f, "SELECT COUNT(*) FROM users"), 1);
    const char *tables =
        f->mysql ? "SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = DATABASE()"
                 : "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table'";
    assert_int_equal(raw_query_int(f, tables), 1);
}

static void test_corrupt_file_is_refused_untouched(void **state)
{
    struct fixture *f = *state;
    if (f->mysql)
        skip();
    unsigned char junk[8192];
    unsigned x = 12345;
    for (size_t i = 0; i < sizeof junk; i++) {
        x = x * 1103515245u + 12345u;
        junk[i] = (unsigned char)(x >> 16);
    }
    FILE *fp = fopen(f->path, "wb");
    assert_non_null(fp);
    assert_int_equal(fwrite(junk, 1, sizeof junk, fp), sizeof junk);
    fclose(fp);
    ec_err e = {0};
    assert_null(store_open(&f->opts, &e));
    assert_int_equal(e.code, EC_EFORMAT);
    assert_non_null(strstr(e.msg, "not a valid SQLite database"));
    unsigned char back[sizeof junk + 1];
    fp = fopen(f->path, "rb");
    assert_non_null(fp);
    assert_int_equal(fread(back, 1, sizeof back, fp), sizeof junk);
    fclose(fp);
    assert_memory_equal(back, junk, sizeof junk);
    char wal[160];
    snprintf(wal, sizeof wal, "%s-wal", f->path);
    assert_int_not_equal(access(wal, F_OK), 0);
}

static void test_bad_options_and_inputs(void **state)
{
    struct fixture *f = *state;
    ec_err e = {0};
    struct store_opts o = f->opts;
    o.kind = "oracle";
    assert_null(store_open(&o, &e));
    assert_int_equal(e.code, EC_EINVAL);
    if (f->mysql) {
        o = f->opts;
        o.password = "definitely-wrong";
        assert_null(store_open(&o, &e));
        assert_non_null(strstr(e.msg, "Access denied"));
        o = f->opts;
        o.database = "x`; DROP DATABASE mysql; --";
        assert_null(store_open(&o, &e));
        assert_int_equal(e.code, EC_EINVAL);
    } else {
        o = f->opts;
        o.path = "/nonexistent-dir/results.db";
        assert_null(store_open(&o, &e));
    }

    store *s = open_ok(f);
    struct frame_record r = frame("e'; DROP TABLE frames; --", 1, OUTCOME_FINISHED);
    assert_int_equal(store_put_frames(s, &r, 1, &e), -1);
    assert_int_equal(e.code, EC_EINVAL);
    r = frame("edge-1", 1, OUTCOME_FINISHED);
    r.where = "peer:";
    assert_int_equal(store_put_frames(s, &r, 1, &e), -1);
    r.where = "mars";
    assert_int_equal(store_put_frames(s, &r, 1, &e), -1);
    r = frame("edge-1", 1, OUTCOME_FINISHED);
    r.ref_index = 0; /* only Ref frames have a reference */
    assert_int_equal(store_put_frames(s, &r, 1, &e), -1);
    r = frame("edge-1", 1, OUTCOME_FINISHED);
    struct det nan_score = {0, 0, 1, 1, NAN, 0};
    r.dets = &nan_score;
    r.ndet = 1;
    assert_int_equal(store_put_frames(s, &r, 1, &e), -1);
    r.ndet = STORE_MAX_DETS + 1;
    assert_int_equal(store_put_frames(s, &r, 1, &e), -1);
    r = frame("edge-1", 1, (enum frame_outcome)7);
    assert_int_equal(store_put_frames(s, &r, 1, &e), -1);
    assert_int_equal(store_put_frames(s, NULL, 3, &e), -1);
    assert_int_equal(count(s, NULL, -1), 0);

    /* Values reach the database as bound parameters, never as SQL text. */
    struct model_version m = {.name = "m", .version = 1, .map50 = -1};
    snprintf(m.path, sizeof m.path, "it's \"quoted\"'); DROP TABLE frames; --");
    assert_int_equal(store_put_model_version(s, &m, &e), 0);
    struct model_version got;
    assert_int_equal(store_get_model_version(s, "m", 1, &got, &e), 0);
    assert_string_equal(got.path, m.path);
    assert_int_equal(count(s, NULL, -1), 0); /* frames table still there */
    store_close(s);
}

static void test_models_and_retrain_rounds(void **state)
{
    struct fixture *f = *state;
    store *s = open_ok(f);
    ec_err e = {0};
    struct model_version v1 = {.name = "edge-lite", .version = 1, .created_ms = 1000,
                               .path = "models/edge-lite-1.safetensors", .map50 = 0.41};
    struct model_version v2 = v1;
    v2.version = 2;
    v2.created_ms = 2000;
    v2.map50 = 0.47;
    memset(v2.sha256, 'a', STORE_SHA256_HEX);
    struct model_version golden = {.name = "golden", .version = 7, .map50 = 0.8};
    assert_int_equal(store_put_model_version(s, &v2, &e), 0);
    assert_int_equal(store_put_model_version(s, &v1, &e), 0);
    assert_int_equal(store_put_model_version(s, &golden, &e), 0);
    assert_int_equal(store_put_model_version(s, &v1, &e), -1);
    assert_non_null(strstr(e.msg, "edge-lite version 1"));
    strcpy(v1.sha256, "XYZ");
    assert_int_equal(store_put_model_version(s, &v1, &e), -1);
    assert_int_equal(e.code, EC_EINVAL);

    struct model_version got;
    assert_int_equal(store_get_model_version(s, "edge-lite", -1, &got, &e), 0);
    assert_int_equal(got.version, 2);
    assert_int_equal(got.created_ms, 2000);
    assert_string_equal(got.sha256, v2.sha256);
    assert_true(got.map50 == 0.47);
    assert_int_equal(store_get_model_version(s, "edge-lite", 1, &got, &e), 0);
    assert_int_equal(got.version, 1);
    assert_string_equal(got.path, "models/edge-lite-1.safetensors");
    assert_string_equal(got.sha256, "");
    assert_int_equal(store_get_model_version(s, "edge-lite", 3, &got, &e), -1);
    assert_int_equal(e.code, EC_ENOTFOUND);

    struct retrain_round rounds[3] = {
        {.edge_id = "edge-2", .round = 0, .frames_used = 15, .map_before = 0.3,
         .map_after = 0.45, .model_version = 2, .started_ms = 5000, .label_ms = 120.5,
         .train_ms = 3400.25, .accepted = 1},
        {.edge_id = "edge-1", .round = 1, .frames_used = 14, .map_before = 0.5,
         .map_after = 0.48, .model_version = 3, .started_ms = 9000, .label_ms = 99,
         .train_ms = 3000, .accepted = 0},
        {.edge_id = "edge-1", .round = 0, .frames_used = 15, .map_before = 0.2,
         .map_after = 0.5, .model_version = 2, .started_ms = 4000, .label_ms = 101,
         .train_ms = 3100, .accepted = 1},
    };
    for (int i = 0; i < 3; i++)
        assert_int_equal(store_put_retrain_round(s, &rounds[i], &e), 0);
    assert_int_equal(store_put_retrain_round(s, &rounds[1], &e), -1);
    assert_non_null(strstr(e.msg, "edge-1/1"));
    struct retrain_round bad = rounds[0];
    bad.round = 5;
    bad.accepted = 2;
    assert_int_equal(store_put_retrain_round(s, &bad, &e), -1);

    struct retrain_round *rows;
    int n;
    assert_int_equal(store_list_retrain_rounds(s, "edge-1", &rows, &n, &e), 0);
    assert_int_equal(n, 2);
    assert_memory_equal(&rows[0], &rounds[2], sizeof rows[0]); /* ordered by round */
    assert_memory_equal(&rows[1], &rounds[1], sizeof rows[1]);
    free(rows);
    assert_int_equal(store_list_retrain_rounds(s, NULL, &rows, &n, &e), 0);
    assert_int_equal(n, 3);
    assert_string_equal(rows[2].edge_id, "edge-2");
    assert_true(rows[2].train_ms == 3400.25);
    free(rows);
    assert_int_equal(store_list_retrain_rounds(s, "edge-9", &rows, &n, &e), 0);
    assert_int_equal(n, 0);
    assert_null(rows);
    store_close(s);
}

/* ---- concurrency ---- */

#define WRITERS 4
#define BATCHES 25
#define BATCH 8

struct writer_arg {
    store *s;
    char edge[16];
    int racing; /* all racing writers insert the same frames of edge "race" */
    int stored_batches;
    int failures;
    int counted_wrong;
};

static void *writer_main(void *p)
{
    struct writer_arg *a = p;
    struct det d = {1, 2, 3, 4, 0.5f, 1};
    for (int b = 0; b < BATCHES; b++) {
        struct frame_record r[BATCH];
        for (int i = 0; i < BATCH; i++) {
            r[i] = frame(a->racing ? "race" : a->edge, b * BATCH + i, OUTCOME_FINISHED);
            r[i].dets = &d;
            r[i].ndet = 1;
        }
        ec_err e = {0};
        if (store_put_frames(a->s, r, BATCH, &e) == 0)
            a->stored_batches++;
        else if (!a->racing || e.code != EC_EINVAL)
            a->failures++;
        int64_t n = -1;
        /* Own frames are visible right after the commit. */
        if (!a->racing &&
            (store_count_frames(a->s, a->edge, -1, &n, &e) != 0 || n != (b + 1) * BATCH))
            a->counted_wrong++;
    }
    return NULL;
}

static void test_concurrent_writers(void **state)
{
    struct fixture *f = *state;
    store *s = open_ok(f);
    pthread_t t[2 * WRITERS];
    struct writer_arg args[2 * WRITERS];
    memset(args, 0, sizeof args);
    for (int i = 0; i < 2 * WRITERS; i++) {
        args[i].s = s;
        args[i].racing = i >= WRITERS;
        snprintf(args[i].edge, sizeof args[i].edge, "edge-%d", i);
        assert_int_equal(pthread_create(&t[i], NULL, writer_main, &args[i]), 0);
    }
    int race_batches = 0;
    for (int i = 0; i < 2 * WRITERS; i++) {
        assert_int_equal(pthread_join(t[i], NULL), 0);
        assert_int_equal(args[i].failures, 0);
        assert_int_equal(args[i].counted_wrong, 0);
        if (args[i].racing)
            race_batches += args[i].stored_batches;
        else
            assert_int_equal(args[i].stored_batches, BATCHES);
    }
    /* Each racing batch went in exactly once, whoever won it. */
    assert_int_equal(race_batches, BATCHES);
    assert_int_equal(count(s, "race", -1), BATCHES * BATCH);
    assert_int_equal(count(s, NULL, -1), (WRITERS + 1) * BATCHES * BATCH);
    assert_int_equal(raw_query_int(f, "SELECT COUNT(*) FROM detections"),
                     (WRITERS + 1) * BATCHES * BATCH);
    store_close(s);
}

/* Two stores on one SQLite file (two processes in production) see each other's rows. */
static void test_two_connections_share_file(void **state)
{
    struct fixture *f = *state;
    store *a = open_ok(f), *b = open_ok(f);
    struct frame_record r = frame("edge-1", 1, OUTCOME_FINISHED);
    put_ok(a, &r, 1);
    assert_int_equal(count(b, "edge-1", -1), 1);
    ec_err e = {0};
    assert_int_equal(store_put_frames(b, &r, 1, &e), -1);
    assert_int_equal(e.code, EC_EINVAL);
    store_close(a);
    store_close(b);
    if (!f->mysql) { /* the file was switched to write-ahead logging */
        sqlite3 *db;
        sqlite3_stmt *st;
        assert_int_equal(sqlite3_open(f->path, &db), SQLITE_OK);
        assert_int_equal(sqlite3_prepare_v2(db, "PRAGMA journal_mode", -1, &st, NULL), SQLITE_OK);
        assert_int_equal(sqlite3_step(st), SQLITE_ROW);
        assert_string_equal((const char *)sqlite3_column_text(st, 0), "wal");
        sqlite3_finalize(st);
        sqlite3_close(db);
    }
}

/* Several processes starting at once on a new database: the schema is created once. */
struct opener_arg {
    const struct store_opts *opts;
    store *s;
    ec_err e;
};

static void *opener_main(void *p)
{
    struct opener_arg *a = p;
    a->s = store_open(a->opts, &a->e);
    return NULL;
}

static void test_concurrent_first_open(void **state)
{
    struct fixture *f = *state;
    enum { OPENERS = 4 };
    pthread_t t[OPENERS];
    struct opener_arg args[OPENERS];
    for (int i = 0; i < OPENERS; i++) {
        args[i] = (struct opener_arg){.opts = &f->opts};
        assert_int_equal(pthread_create(&t[i], NULL, opener_main, &args[i]), 0);
    }
    for (int i = 0; i < OPENERS; i++) {
        assert_int_equal(pthread_join(t[i], NULL), 0);
        if (!args[i].s)
            fail_msg("opener %d: %s", i, args[i].e.msg);
    }
    struct frame_record r = frame("edge-1", 1, OUTCOME_FINISHED);
    put_ok(args[0].s, &r, 1);
    for (int i = 0; i < OPENERS; i++) {
        assert_int_equal(count(args[i].s, NULL, -1), 1);
        store_close(args[i].s);
    }
    assert_int_equal(raw_query_int(f, "SELECT COUNT(*) FROM schema_version"), 1);
}

/* Kills the store's server connection, as a server restart or idle timeout would. */
static void kill_store_connection(const struct fixture *f)
{
    int64_t id = raw_query_int(f, "SELECT id FROM information_schema.processlist "
                                  "WHERE user = 'edgecam' AND id <> CONNECTION_ID()");
    assert_true(id > 0);
    char sql[64];
    snprintf(sql, sizeof sql, "KILL %lld", (long long)id);
    raw_exec(f, sql);
}

/* A lost MySQL connection costs one reconnect, for reads and for writes. */
static void test_reconnect_after_lost_connection(void **state)
{
    struct fixture *f = *state;
    if (!f->mysql)
        skip();
    store *s = open_ok(f);
    struct frame_record r[3] = {frame("edge-1", 1, OUTCOME_FINISHED),
                                frame("edge-1", 2, OUTCOME_FINISHED),
                                frame("edge-1", 3, OUTCOME_DROPPED)};
    put_ok(s, &r[0], 1);
    kill_store_connection(f);
    assert_int_equal(count(s, "edge-1", -1), 1);
    kill_store_connection(f);
    put_ok(s, &r[1], 2);
    assert_int_equal(count(s, "edge-1", -1), 3);
    store_close(s);
}


/* The edge's recorder keeps and retries a batch the store could not write, and gives up only
 * on rows the store refuses: so a failing store must not answer EC_EINVAL, a duplicate must,
 * and the same store must write again once the fault is gone. The fault is a trigger that
 * fails at run time (not a constraint). */
static void test_failure_kinds_and_recovery(void **state)
{
    struct fixture *f = *state;
    store *s = open_ok(f);
    struct frame_record r[3] = {frame("edge-1", 1, OUTCOME_FINISHED),
                                frame("edge-1", 2, OUTCOME_REF),
                                frame("edge-1", 3, OUTCOME_DROPPED)};
    put_ok(s, &r[0], 1);
    raw_exec(f, f->mysql ? "CREATE TRIGGER inject_fault BEFORE INSERT ON frames FOR EACH ROW "
                           "SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = 'injected fault'"
                         : "CREATE TRIGGER inject_fault BEFORE INSERT ON frames BEGIN "
                           "SELECT abs(-9223372036854775808); END");
    ec_err e = {0};
    assert_int_equal(store_put_frames(s, &r[1], 2, &e), -1);
    assert_true(e.code != EC_EINVAL && e.code != EC_OK);
    assert_int_equal(count(s, "edge-1", -1), 1); /* nothing of the batch stayed */
    raw_exec(f, "DROP TRIGGER inject_fault");
    put_ok(s, &r[1], 2);
    assert_int_equal(count(s, "edge-1", -1), 3);
    assert_int_equal(store_put_frames(s, &r[2], 1, &e), -1);
    assert_int_equal(e.code, EC_EINVAL);
    store_close(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_round_trip_frames_and_detections, setup, teardown),
        cmocka_unit_test_setup_teardown(test_counts_and_summary, setup, teardown),
        cmocka_unit_test_setup_teardown(test_one_outcome_per_frame, setup, teardown),
        cmocka_unit_test_setup_teardown(test_failed_batch_rolls_back_whole, setup, teardown),
        cmocka_unit_test_setup_teardown(test_reopen_persists, setup, teardown),
        cmocka_unit_test_setup_teardown(test_newer_schema_is_refused_untouched, setup, teardown),
        cmocka_unit_test_setup_teardown(test_foreign_database_is_refused_untouched, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_corrupt_file_is_refused_untouched, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_options_and_inputs, setup, teardown),
        cmocka_unit_test_setup_teardown(test_models_and_retrain_rounds, setup, teardown),
        cmocka_unit_test_setup_teardown(test_concurrent_writers, setup, teardown),
        cmocka_unit_test_setup_teardown(test_two_connections_share_file, setup, teardown),
        cmocka_unit_test_setup_teardown(test_concurrent_first_open, setup, teardown),
        cmocka_unit_test_setup_teardown(test_reconnect_after_lost_connection, setup, teardown),
        cmocka_unit_test_setup_teardown(test_failure_kinds_and_recovery, setup, teardown),
    };
    return cmocka_run_group_tests_name(is_mysql() ? "store (mysql)" : "store (sqlite)", tests,
                                       NULL, NULL);
}
