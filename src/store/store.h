/* Results store: one row per processed frame (with its detections), model versions and
 * retrain rounds. Two backends behind one interface: SQLite (default, WAL) and MariaDB/MySQL.
 *
 * Every function is thread-safe: a store serialises its calls on one connection.
 * A frame is identified by (edge_id, frame_index) and has exactly one outcome: storing the
 * same frame twice fails (EC_EINVAL, "already stored") and never overwrites the first row.
 * Functions return 0 on success, -1 on failure with `err` filled. */
#ifndef EDGECAM_STORE_STORE_H
#define EDGECAM_STORE_STORE_H

#include "core/det.h"
#include "core/err.h"

#include <stdint.h>

#define STORE_NAME_MAX 64     /* edge ids, "where", model names: up to 63 bytes */
#define STORE_PATH_MAX 256    /* model paths: up to 255 bytes */
#define STORE_SHA256_HEX 64   /* model digest: 64 hex digits, or empty */
#define STORE_MAX_DETS 10000  /* detections per frame */
#define STORE_SCHEMA_VERSION 1

typedef struct store store;

enum frame_outcome { OUTCOME_FINISHED, OUTCOME_REF, OUTCOME_TIMEOUT, OUTCOME_DROPPED };
#define OUTCOME_COUNT 4

/* "finished", "ref", "timeout", "dropped" (the names stored in the database). */
const char *frame_outcome_name(enum frame_outcome o);
int frame_outcome_parse(const char *name, enum frame_outcome *out);

/* A frame to store; the store copies everything, the caller keeps ownership. */
struct frame_record {
    const char *edge_id;      /* 1..63 bytes of [A-Za-z0-9_.-] */
    int64_t frame_index;      /* >= 0 */
    int64_t start_ms, end_ms; /* ms since the epoch, end >= start */
    const char *where;        /* "local", "local+cloud" (assisted), "peer:<id>", "cloud" or "none" */
    int64_t bytes_sent;       /* >= 0 */
    enum frame_outcome outcome;
    int64_t ref_index;        /* OUTCOME_REF: key frame answering this one (>= 0); else -1 */
    int model_version;        /* model that produced the result; 0 when none */
    double latency_ms;        /* >= 0 */
    const struct det *dets;   /* may be NULL when ndet == 0 */
    int ndet;                 /* 0..STORE_MAX_DETS */
};

/* A stored frame, with copies of its strings. */
struct frame_row {
    char edge_id[STORE_NAME_MAX];
    int64_t frame_index, start_ms, end_ms;
    char where[STORE_NAME_MAX];
    int64_t bytes_sent;
    enum frame_outcome outcome;
    int64_t ref_index; /* -1 unless OUTCOME_REF */
    int model_version;
    double latency_ms;
};

struct model_version {
    char name[STORE_NAME_MAX];     /* 1..63 bytes, e.g. "edge-lite" */
    int version;                   /* >= 0; (name, version) is unique */
    int64_t created_ms;
    char path[STORE_PATH_MAX];
    char sha256[STORE_SHA256_HEX + 1]; /* lower-case hex, or "" */
    double map50;                  /* mAP@0.5 in [0,1], or -1 when unknown */
};

struct retrain_round {
    char edge_id[STORE_NAME_MAX];
    int round;                     /* >= 0; (edge_id, round) is unique */
    int frames_used;
    double map_before, map_after;  /* mAP@0.5 of old and new model on the round's frames */
    int model_version;             /* version produced by the round */
    int64_t started_ms;
    double label_ms, train_ms;     /* cloud labelling and fine-tuning durations */
    int accepted;                  /* 1 if the new model replaced the old one */
};

/* Per-edge (or whole store) figures for reports. Latency statistics cover Finished frames
 * only (Ref frames reuse a result, Timeout/Dropped frames have none); 0 when there are none. */
struct store_summary {
    int64_t frames;
    int64_t by_outcome[OUTCOME_COUNT];
    int64_t bytes_sent;
    double latency_mean_ms, latency_p50_ms, latency_p95_ms, latency_p99_ms, latency_max_ms;
};

struct store_opts {
    const char *kind;     /* "sqlite" (default when NULL) | "mysql" */
    const char *path;     /* sqlite: database file (created if missing), or ":memory:" */
    const char *host;     /* mysql: default 127.0.0.1 */
    int port;             /* mysql: default 3306 */
    const char *user, *password, *database;
    int timeout_s;        /* mysql: connect/read/write timeout, default 10 */
};

/* Opens the store, creating the schema in an empty database. A database holding anything
 * else (other tables, an unknown schema version, a file that is not SQLite) is an error
 * and is left untouched. */
store *store_open(const struct store_opts *o, ec_err *err);
void store_close(store *s);
const char *store_kind(const store *s);

/* Stores `n` frames in one transaction: all or none. */
int store_put_frames(store *s, const struct frame_record *recs, int n, ec_err *err);
/* edge_id NULL = all edges; outcome -1 = all outcomes. */
int store_count_frames(store *s, const char *edge_id, int outcome, int64_t *out, ec_err *err);
/* Fills `out` and replaces the contents of `dets` (may be NULL); EC_ENOTFOUND if absent. */
int store_get_frame(store *s, const char *edge_id, int64_t frame_index, struct frame_row *out,
                    struct det_list *dets, ec_err *err);
/* edge_id NULL = every frame in the store. */
int store_summarize(store *s, const char *edge_id, struct store_summary *out, ec_err *err);
/* Distinct edge ids, sorted; *ids is malloc'ed (free() it), NULL when *n == 0. */
int store_list_edges(store *s, char (**ids)[STORE_NAME_MAX], int *n, ec_err *err);

int store_put_model_version(store *s, const struct model_version *m, ec_err *err);
/* version -1 = the highest version of `name`; EC_ENOTFOUND if absent. */
int store_get_model_version(store *s, const char *name, int version, struct model_version *out,
                            ec_err *err);

int store_put_retrain_round(store *s, const struct retrain_round *r, ec_err *err);
/* Rounds of one edge (NULL = all) ordered by edge, round; *rows is malloc'ed (free() it). */
int store_list_retrain_rounds(store *s, const char *edge_id, struct retrain_round **rows, int *n,
                              ec_err *err);

#endif
