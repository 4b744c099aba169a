/* MQTT detection events as the edge process runs them: every Finished key frame's detections
 * go to the publisher from the pipeline's worker (a queue push, never a network wait). */
#include "cli/cmd.h"

#include "core/log.h"
#include "events/events.h"

#include <stdlib.h>

struct cli_mqtt {
    mqtt_publisher *pub;
    char edge_id[CONFIG_ID_SIZE];
};

static void publish_finished(void *ctx, const struct frame *f, const struct edge_infer_result *res)
{
    struct cli_mqtt *q = ctx;
    /* A full queue is counted by the publisher (edgecam_mqtt_dropped_total). */
    mqtt_publisher_publish_detections(q->pub, q->edge_id, f->index, (double)f->capture_ms / 1000.0,
                                      &res->dets, NULL);
}

struct cli_mqtt *cli_mqtt_create(const struct ec_config *cfg, struct edge_node_opts *node_opts,
                                 ec_err *err)
{
    const struct config_mqtt *m = &cfg->mqtt;
    if (!m->enabled)
        return NULL;
    struct cli_mqtt *q = calloc(1, sizeof *q);
    if (!q) {
        ec_err_set(err, EC_ENOMEM, "out of memory");
        return NULL;
    }
    snprintf(q->edge_id, sizeof q->edge_id, "%s", cfg->edge.edge_id);
    struct mqtt_publisher_opts o;
    mqtt_publisher_opts_init(&o);
    o.host = m->host;
    o.port = m->port;
    o.topic_prefix = m->topic_prefix;
    o.qos = m->qos;
    o.username = m->username;
    o.password = m->password;
    o.min_score = (float)m->min_score;
    o.queue_size = m->queue_size;
    o.metrics = node_opts->metrics;
    if (!(q->pub = mqtt_publisher_create(&o, err))) {
        ec_err_wrap(err, "mqtt.enabled is true");
        free(q);
        return NULL;
    }
    node_opts->pipeline.on_finished = publish_finished;
    node_opts->pipeline.on_finished_ctx = q;
    log_info("edge %s: detection events to mqtt://%s:%d/%s/%s/detections (qos %d)",
             q->edge_id, m->host, m->port, m->topic_prefix, q->edge_id, m->qos);
    return q;
}

void cli_mqtt_destroy(struct cli_mqtt *q)
{
    if (!q)
        return;
    struct mqtt_publisher_stats s;
    mqtt_publisher_stats(q->pub, &s);
    mqtt_publisher_destroy(q->pub);
    log_info("edge %s: mqtt: %lld events published, %lld dropped, %lld frames without "
             "detections", q->edge_id, (long long)s.published, (long long)s.dropped,
             (long long)s.filtered);
    free(q);
}
