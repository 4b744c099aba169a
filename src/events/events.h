/* Detection events for home automation: each finished frame's detections published as JSON
 * to an MQTT broker (libmosquitto) on <topic_prefix>/<edge_id>/detections:
 *
 *   {"edge":"cam-1","frame":42,"t":1733490000.125,
 *    "detections":[{"class":0,"score":0.91,"box":[x,y,w,h]}]}
 *
 * t is the capture time (seconds since the epoch); box is in frame pixels. Publishing never
 * blocks the caller: events go to a bounded queue (full -> dropped and counted) that one
 * background thread sends, reconnecting with exponential backoff while the broker is away.
 * Without libmosquitto at build time, create fails with EC_EUNSUPPORTED ("built without
 * MQTT"). Documented in docs/observability.md. */
#ifndef EDGECAM_EVENTS_EVENTS_H
#define EDGECAM_EVENTS_EVENTS_H

#include "core/det.h"
#include "core/err.h"
#include "net/net.h"

#include <stdint.h>

#define MQTT_MAX_CLASS_FILTER 64

struct mqtt_publisher_opts {
    const char *host;          /* NULL -> 127.0.0.1 */
    int port;                  /* 0 -> 1883 */
    const char *topic_prefix;  /* NULL -> "edgecam"; no '+' or '#' */
    int qos;                   /* 0 or 1 */
    const char *username;      /* NULL or "" -> anonymous */
    const char *password;
    const char *client_id;     /* NULL -> "edgecam-<pid>-<n>" */
    float min_score;           /* detections below are left out */
    int classes[MQTT_MAX_CLASS_FILTER]; /* only these classes, when nclasses > 0 */
    int nclasses;
    int publish_empty;         /* 1: also publish frames left with no detection */
    int queue_size;            /* events waiting; 0 -> 256 */
    int keepalive_s;           /* 0 -> 30 */
    int backoff_min_ms, backoff_max_ms; /* reconnect waits; 0 -> 100, 5000 */
    metrics *metrics;          /* optional: edgecam_mqtt_* series */
};

struct mqtt_publisher_stats {
    int64_t queued;     /* events accepted into the queue */
    int64_t published;  /* sent (QoS 0) or acknowledged by the broker (QoS 1) */
    int64_t dropped;    /* refused by the full queue, or still queued at destroy */
    int64_t filtered;   /* frames not published: no detection left after the filters */
    int64_t failed;     /* publish calls libmosquitto refused (connection lost) */
    int64_t connects;   /* successful (re)connections */
    int queue_len;
    int connected;
};

typedef struct mqtt_publisher mqtt_publisher;

void mqtt_publisher_opts_init(struct mqtt_publisher_opts *o);
/* Starts the background thread, which connects (and keeps reconnecting) on its own: a broker
 * that is down at create time is not an error. */
mqtt_publisher *mqtt_publisher_create(const struct mqtt_publisher_opts *o, ec_err *err);
/* Thread-safe, never blocks on the network. t: capture time in seconds since the epoch.
 * 0 when queued (or filtered out), -1 when dropped (queue full) or edge_id is not
 * [A-Za-z0-9._-]{1,63} (err says which). */
int mqtt_publisher_publish_detections(mqtt_publisher *p, const char *edge_id, int64_t frame_index,
                                      double t, const struct det_list *dets, ec_err *err);
void mqtt_publisher_stats(mqtt_publisher *p, struct mqtt_publisher_stats *out);
/* Waits up to timeout_ms for the queue to empty and every QoS 1 event to be acknowledged;
 * 0 when it did, -1 otherwise. */
int mqtt_publisher_flush(mqtt_publisher *p, int timeout_ms);
/* Sends what is queued while connected (for at most a second), then disconnects; what is
 * left counts as dropped. NULL is fine. */
void mqtt_publisher_destroy(mqtt_publisher *p);

#endif
