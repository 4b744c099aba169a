/* Video sources: FFmpeg (file, RTSP over TCP, V4L2) and a generator callback.
 *
 * Every blocking FFmpeg call runs under an interrupt callback that fails it when
 * source_interrupt was called or when it has run past io_timeout_ms, so a stalled
 * camera or a shutdown never leaves a reader stuck. When an RTSP session ends for
 * any reason, the decoder is drained (its frames are still returned), then the
 * source reconnects with exponential backoff; frame index and pts keep increasing. */
#include "video/video.h"

#include "core/clock.h"
#include "core/log.h"

#include <libavcodec/avcodec.h>
#include <libavdevice/avdevice.h>
#include <libavformat/avformat.h>
#include <libswscale/swscale.h>

#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Consecutive unreadable packets tolerated in a file before giving up on it. */
#define SOURCE_MAX_BAD_PACKETS 100
/* Pacing never sleeps longer than this for one frame: a pts jump re-bases the clock. */
#define SOURCE_MAX_PACE_S 5.0

struct source {
    struct source_opts o;
    char *uri;
    enum source_kind kind;
    atomic_int interrupted;
    uint64_t deadline_ns; /* for the interrupt callback; only the reading thread sets it */

    AVFormatContext *fmt;
    AVCodecContext *dec;
    int stream;
    AVPacket *pkt;
    AVFrame *frm;
    struct SwsContext *sws;
    int draining;      /* flush packet sent: receive until AVERROR_EOF */
    int input_error;   /* AVERROR that ended the input, 0 on a clean end of file */
    int bad_packets;   /* consecutive demuxer errors */
    int ended, end_rc; /* sticky result once the source is finished */
    ec_err end_err;

    int64_t next_index;
    int64_t first_pts; /* of the current session, AV_NOPTS_VALUE until seen */
    double pts_base, last_pts_s, frame_dur;
    int paced;
    double pace_t0, pace_pts0;

    pthread_mutex_t stats_lock;
    struct source_stats st;
};

/* --- FFmpeg logging: its chatter about damaged streams goes to our debug log. --- */

static void av_log_to_ours(void *avcl, int level, const char *fmt, va_list ap)
{
    if (level > AV_LOG_WARNING || (level > AV_LOG_FATAL && log_get_level() < LOG_LEVEL_DEBUG))
        return;
    static _Thread_local int print_prefix = 1;
    char line[1024];
    av_log_format_line2(avcl, level, fmt, ap, line, sizeof line, &print_prefix);
    size_t n = strlen(line);
    while (n && line[n - 1] == '\n')
        line[--n] = '\0';
    if (!n)
        return;
    if (level <= AV_LOG_FATAL)
        log_warn("ffmpeg: %s", line);
    else
        log_debug("ffmpeg: %s", line);
}

static void ffmpeg_init_once(void)
{
    av_log_set_callback(av_log_to_ours);
    avdevice_register_all();
}

/* --- helpers --- */

static int interrupt_cb(void *arg)
{
    source *s = arg;
    if (atomic_load(&s->interrupted))
        return 1;
    return s->deadline_ns && clock_mono_ns() > s->deadline_ns;
}

static void arm_deadline(source *s, int ms)
{
    s->deadline_ns = clock_mono_ns() + (uint64_t)ms * 1000000u;
}

static int closed_error(ec_err *err)
{
    return ec_err_set(err, EC_ECLOSED, "video source interrupted");
}

static enum ec_errcode averr_code(const source *s, int r)
{
    if (r == AVERROR_EXIT)
        return atomic_load(&s->interrupted) ? EC_ECLOSED : EC_ETIMEOUT;
    if (r == AVERROR(ETIMEDOUT))
        return EC_ETIMEOUT;
    if (r == AVERROR(ENOENT))
        return EC_ENOTFOUND;
    if (r == AVERROR_INVALIDDATA)
        return EC_EFORMAT;
    return s->kind == SOURCE_RTSP ? EC_ENET : EC_EIO;
}

static const char *kind_name(enum source_kind k)
{
    switch (k) {
    case SOURCE_FILE: return "file";
    case SOURCE_RTSP: return "rtsp";
    case SOURCE_V4L2: return "v4l2 device";
    case SOURCE_GENERATOR: return "generator";
    default: return "source";
    }
}

static int av_fail(const source *s, ec_err *err, int r, const char *what)
{
    if (r == AVERROR_EXIT && !atomic_load(&s->interrupted))
        return ec_err_set(err, EC_ETIMEOUT, "%s %s: %s: no data for %d ms", kind_name(s->kind),
                          s->uri, what, s->o.io_timeout_ms);
    return ec_err_set(err, averr_code(s, r), "%s %s: %s: %s", kind_name(s->kind), s->uri, what,
                      av_err2str(r));
}

/* Sleeps up to `ms`, waking early on interrupt. Returns -1 if interrupted. */
static int sleep_interruptible(source *s, double ms)
{
    double end = clock_mono_s() + ms / 1000.0;
    for (;;) {
        if (atomic_load(&s->interrupted))
            return -1;
        double left = end - clock_mono_s();
        if (left <= 0)
            return 0;
        clock_sleep_ns((uint64_t)((left < 0.01 ? left : 0.01) * 1e9));
    }
}

static enum source_kind detect_kind(const struct source_opts *o)
{
    if (o->kind != SOURCE_AUTO)
        return o->kind;
    if (o->gen_next)
        return SOURCE_GENERATOR;
    if (!o->uri)
        return SOURCE_FILE;
    if (!strncmp(o->uri, "rtsp://", 7) || !strncmp(o->uri, "rtsps://", 8))
        return SOURCE_RTSP;
    if (!strncmp(o->uri, "/dev/video", 10) || !strncmp(o->uri, "v4l2://", 7))
        return SOURCE_V4L2;
    return SOURCE_FILE;
}

static void stats_set_stream(source *s, int w, int h, double fps)
{
    pthread_mutex_lock(&s->stats_lock);
    s->st.width = w;
    s->st.height = h;
    s->st.fps = fps;
    pthread_mutex_unlock(&s->stats_lock);
}

static void stats_add(source *s, uint64_t *field, uint64_t n)
{
    pthread_mutex_lock(&s->stats_lock);
    *field += n;
    pthread_mutex_unlock(&s->stats_lock);
}

/* --- FFmpeg session: one opened input + decoder --- */

static void session_close(source *s)
{
    avcodec_free_context(&s->dec);
    if (s->fmt) {
        /* RTSP sends TEARDOWN here: bound it, the server may be the thing that stalled. */
        arm_deadline(s, s->o.io_timeout_ms < 500 ? s->o.io_timeout_ms : 500);
        avformat_close_input(&s->fmt);
    }
}

static void session_input_options(const source *s, AVDictionary **opts)
{
    if (s->kind == SOURCE_RTSP) {
        av_dict_set(opts, "rtsp_transport", "tcp", 0);
        /* FFmpeg 5.1: socket I/O timeout in microseconds. */
        av_dict_set_int(opts, "timeout", (int64_t)s->o.io_timeout_ms * 1000, 0);
    } else if (s->kind == SOURCE_V4L2) {
        char v[64];
        if (s->o.v4l2_width > 0 && s->o.v4l2_height > 0) {
            snprintf(v, sizeof v, "%dx%d", s->o.v4l2_width, s->o.v4l2_height);
            av_dict_set(opts, "video_size", v, 0);
        }
        if (s->o.v4l2_fps > 0)
            av_dict_set_int(opts, "framerate", s->o.v4l2_fps, 0);
    } else if (!strstr(s->uri, "://")) {
        /* A local file may not pull in other protocols (playlists naming URLs). */
        av_dict_set(opts, "protocol_whitelist", "file", 0);
    }
}

static int session_open_decoder(source *s, ec_err *err)
{
    const AVCodec *codec = NULL;
    int idx = av_find_best_stream(s->fmt, AVMEDIA_TYPE_VIDEO, -1, -1, &codec, 0);
    if (idx < 0)
        return ec_err_set(err, EC_EFORMAT, "%s %s: no video stream", kind_name(s->kind), s->uri);
    if (!codec)
        return ec_err_set(err, EC_EUNSUPPORTED, "%s %s: no decoder for its video codec",
                          kind_name(s->kind), s->uri);
    AVStream *st = s->fmt->streams[idx];
    for (unsigned i = 0; i < s->fmt->nb_streams; i++)
        if ((int)i != idx)
            s->fmt->streams[i]->discard = AVDISCARD_ALL;
    if (st->codecpar->width > IMAGE_MAX_DIM || st->codecpar->height > IMAGE_MAX_DIM)
        return ec_err_set(err, EC_EFORMAT, "%s %s: %dx%d exceeds limit %d", kind_name(s->kind),
                          s->uri, st->codecpar->width, st->codecpar->height, IMAGE_MAX_DIM);

    s->dec = avcodec_alloc_context3(codec);
    if (!s->dec)
        return ec_err_set(err, EC_ENOMEM, "decoder: out of memory");
    int r = avcodec_parameters_to_context(s->dec, st->codecpar);
    if (r < 0)
        return av_fail(s, err, r, "decoder parameters");
    s->dec->thread_count = s->o.decode_threads;
    /* Untrusted streams may switch to absurd sizes mid-stream: the decoder refuses them. */
    s->dec->max_pixels = (int64_t)IMAGE_MAX_DIM * IMAGE_MAX_DIM;
    s->dec->pkt_timebase = st->time_base;
    r = avcodec_open2(s->dec, codec, NULL);
    if (r < 0)
        return av_fail(s, err, r, "opening decoder");

    s->stream = idx;
    AVRational fr = av_guess_frame_rate(s->fmt, st, NULL);
    double fps = fr.num > 0 && fr.den > 0 ? av_q2d(fr) : 0.0;
    s->frame_dur = fps > 0 && fps < 1000 ? 1.0 / fps : 1.0 / 30;
    stats_set_stream(s, s->dec->width, s->dec->height, fps);
    return 0;
}

static int session_open(source *s, ec_err *err)
{
    const AVInputFormat *ifmt = NULL;
    const char *url = s->uri;
    if (s->kind == SOURCE_V4L2) {
        ifmt = av_find_input_format("video4linux2");
        if (!ifmt)
            return ec_err_set(err, EC_EUNSUPPORTED, "v4l2: FFmpeg lacks the video4linux2 device");
        if (!strncmp(url, "v4l2://", 7))
            url += 7;
    }
    s->fmt = avformat_alloc_context();
    if (!s->fmt)
        return ec_err_set(err, EC_ENOMEM, "demuxer: out of memory");
    s->fmt->interrupt_callback.callback = interrupt_cb;
    s->fmt->interrupt_callback.opaque = s;

    AVDictionary *opts = NULL;
    session_input_options(s, &opts);
    arm_deadline(s, s->o.io_timeout_ms);
    int r = avformat_open_input(&s->fmt, url, ifmt, &opts); /* frees fmt on failure */
    av_dict_free(&opts);
    if (r < 0)
        return av_fail(s, err, r, "cannot open");
    arm_deadline(s, s->o.io_timeout_ms);
    r = avformat_find_stream_info(s->fmt, NULL);
    if (r < 0) {
        av_fail(s, err, r, "cannot read stream info");
        session_close(s);
        return -1;
    }
    if (session_open_decoder(s, err) < 0) {
        session_close(s);
        return -1;
    }
    s->draining = 0;
    s->input_error = 0;
    s->bad_packets = 0;
    s->first_pts = AV_NOPTS_VALUE;
    return 0;
}

/* After a finished RTSP session: reconnect with exponential backoff. */
static int reconnect(source *s, ec_err *err)
{
    session_close(s);
    double delay = s->o.backoff_initial_ms;
    ec_err last;
    ec_err_clear(&last);
    for (int attempt = 1;; attempt++) {
        if (s->o.reconnect_max >= 0 && attempt > s->o.reconnect_max)
            return ec_err_set(err, EC_ENET, "rtsp %s: gave up after %d reconnect attempts: %s",
                              s->uri, s->o.reconnect_max, last.msg[0] ? last.msg : "no attempt");
        if (sleep_interruptible(s, delay) < 0)
            return closed_error(err);
        if (session_open(s, &last) == 0) {
            stats_add(s, &s->st.reconnects, 1);
            log_info("rtsp %s: reconnected after %d attempt(s)", s->uri, attempt);
            return 0;
        }
        if (atomic_load(&s->interrupted))
            return closed_error(err);
        log_warn("rtsp %s: reconnect attempt %d failed: %s", s->uri, attempt, last.msg);
        delay = delay * 2 > s->o.backoff_max_ms ? s->o.backoff_max_ms : delay * 2;
    }
}

/* --- frames --- */

static enum AVPixelFormat full_range_alias(enum AVPixelFormat f, int *full)
{
    *full = 1;
    switch (f) {
    case AV_PIX_FMT_YUVJ420P: return AV_PIX_FMT_YUV420P;
    case AV_PIX_FMT_YUVJ422P: return AV_PIX_FMT_YUV422P;
    case AV_PIX_FMT_YUVJ444P: return AV_PIX_FMT_YUV444P;
    case AV_PIX_FMT_YUVJ440P: return AV_PIX_FMT_YUV440P;
    default: *full = 0; return f;
    }
}

/* Colour conversion of one decoded frame to a new RGB24 image (NULL on failure). */
static image *frame_to_rgb(source *s, const AVFrame *f)
{
    int full;
    enum AVPixelFormat fmt = full_range_alias(f->format, &full);
    full |= f->color_range == AVCOL_RANGE_JPEG;
    s->sws = sws_getCachedContext(s->sws, f->width, f->height, fmt, f->width, f->height,
                                  AV_PIX_FMT_RGB24, SWS_BILINEAR, NULL, NULL, NULL);
    if (!s->sws)
        return NULL;
    const int *coef = sws_getCoefficients(f->colorspace == AVCOL_SPC_BT709 ? SWS_CS_ITU709
                                                                           : SWS_CS_DEFAULT);
    sws_setColorspaceDetails(s->sws, coef, full, sws_getCoefficients(SWS_CS_DEFAULT), 1, 0,
                             1 << 16, 1 << 16);
    image *img = image_create_uninit(f->width, f->height, 3);
    if (!img)
        return NULL;
    uint8_t *dst[4] = {img->data, NULL, NULL, NULL};
    int dst_stride[4] = {img->stride, 0, 0, 0};
    if (sws_scale(s->sws, (const uint8_t *const *)f->data, f->linesize, 0, f->height, dst,
                  dst_stride) != f->height) {
        image_destroy(img);
        return NULL;
    }
    return img;
}

/* Sleeps so that frames come out at their pts, like a live camera. */
static int pace(source *s, double pts_s)
{
    double now = clock_mono_s();
    if (!s->paced) {
        s->paced = 1;
        s->pace_t0 = now;
        s->pace_pts0 = pts_s;
        return 0;
    }
    double wait = s->pace_t0 + (pts_s - s->pace_pts0) - now;
    if (wait > SOURCE_MAX_PACE_S || pts_s < s->pace_pts0) {
        s->pace_t0 = now;
        s->pace_pts0 = pts_s;
        return 0;
    }
    return wait > 0 ? sleep_interruptible(s, wait * 1000.0) : 0;
}

/* Fills *out for the frame in s->frm (or a generator image) and updates stats. */
static int emit(source *s, struct frame *out, double pts_s, image *img, ec_err *err)
{
    s->last_pts_s = pts_s;
    out->index = s->next_index++;
    out->pts_s = pts_s;
    out->sampled = out->index % s->o.sample_interval == 0;
    out->img = NULL;
    out->decoded = NULL;
    uint64_t bad_frame = 0;
    if (out->sampled && !img && s->o.defer_rgb && (out->decoded = av_frame_clone(s->frm))) {
        /* converted later by source_frame_rgb */
    } else if (out->sampled) {
        out->img = img ? img : frame_to_rgb(s, s->frm);
        if (!out->img) {
            out->sampled = 0; /* counted, the frame still goes out so it gets an outcome */
            bad_frame = 1;
        }
    } else {
        image_destroy(img);
    }
    if (s->kind != SOURCE_GENERATOR)
        av_frame_unref(s->frm);
    pthread_mutex_lock(&s->stats_lock);
    s->st.decoded++;
    s->st.sampled += out->sampled;
    s->st.decode_errors += bad_frame;
    pthread_mutex_unlock(&s->stats_lock);
    if (s->o.realtime && (s->kind == SOURCE_FILE || s->kind == SOURCE_GENERATOR) &&
        pace(s, pts_s) < 0) {
        frame_release(out);
        return closed_error(err);
    }
    out->capture_ms = clock_wall_ms();
    return 1;
}

static int emit_decoded(source *s, struct frame *out, ec_err *err)
{
    AVFrame *f = s->frm;
    if (f->decode_error_flags || (f->flags & AV_FRAME_FLAG_CORRUPT))
        stats_add(s, &s->st.decode_errors, 1);
    if ((f->width != s->st.width || f->height != s->st.height) && f->width > 0)
        stats_set_stream(s, f->width, f->height, s->st.fps);

    int64_t pts = f->best_effort_timestamp;
    double pts_s;
    double after_last = s->next_index ? s->last_pts_s + s->frame_dur : 0.0;
    if (pts != AV_NOPTS_VALUE) {
        /* A new session (or one whose first frames had no pts) continues the timeline. */
        if (s->first_pts == AV_NOPTS_VALUE) {
            s->first_pts = pts;
            s->pts_base = after_last;
        }
        AVRational tb = s->fmt->streams[s->stream]->time_base;
        pts_s = s->pts_base + (double)(pts - s->first_pts) * av_q2d(tb);
    } else {
        pts_s = after_last;
    }
    return emit(s, out, pts_s, NULL, err);
}

static int finish(source *s, int rc, const ec_err *why, ec_err *err)
{
    s->ended = 1;
    s->end_rc = rc;
    if (why)
        s->end_err = *why;
    if (rc < 0 && err)
        *err = s->end_err;
    return rc;
}

/* The decoder is fully drained: reconnect (RTSP) or end the source. */
static int session_finished(source *s, ec_err *err)
{
    if (s->kind == SOURCE_RTSP) {
        ec_err e;
        ec_err_clear(&e);
        if (reconnect(s, &e) == 0)
            return 0;
        return finish(s, -1, &e, err);
    }
    if (s->input_error) {
        ec_err e;
        av_fail(s, &e, s->input_error, "read failed");
        return finish(s, -1, &e, err);
    }
    return finish(s, 0, NULL, err);
}

/* Reads the next packet of the video stream into s->pkt. 0, or an AVERROR. */
static int read_packet(source *s)
{
    for (;;) {
        arm_deadline(s, s->o.io_timeout_ms);
        int r = av_read_frame(s->fmt, s->pkt);
        if (r < 0)
            return r;
        if (s->pkt->stream_index == s->stream)
            return 0;
        av_packet_unref(s->pkt);
    }
}

/* Feeds one packet to the decoder, or starts draining at the end of input. */
static void feed_decoder(source *s)
{
    int r = read_packet(s);
    if (r == 0) {
        s->bad_packets = 0;
        int sr = avcodec_send_packet(s->dec, s->pkt);
        av_packet_unref(s->pkt);
        if (sr < 0)
            stats_add(s, &s->st.decode_errors, 1);
        return;
    }
    if (r == AVERROR(EAGAIN)) { /* a device with nothing ready yet */
        clock_sleep_ns(1000000);
        return;
    }
    /* A damaged packet in a file is skipped and counted, up to a limit. */
    if (r == AVERROR_INVALIDDATA && s->kind != SOURCE_RTSP &&
        ++s->bad_packets <= SOURCE_MAX_BAD_PACKETS) {
        stats_add(s, &s->st.decode_errors, 1);
        return;
    }
    s->input_error = r == AVERROR_EOF ? 0 : r;
    avcodec_send_packet(s->dec, NULL);
    s->draining = 1;
}

static int read_decoded(source *s, struct frame *out, ec_err *err)
{
    int errors_in_row = 0;
    for (;;) {
        if (atomic_load(&s->interrupted))
            return closed_error(err);
        int r = avcodec_receive_frame(s->dec, s->frm);
        if (r == 0)
            return emit_decoded(s, out, err);
        if (r == AVERROR_EOF || (s->draining && ++errors_in_row > 64)) {
            if (session_finished(s, err) < 0 || s->ended)
                return s->ended ? s->end_rc : -1;
            errors_in_row = 0;
            continue;
        }
        if (r != AVERROR(EAGAIN)) {
            stats_add(s, &s->st.decode_errors, 1);
            if (s->draining)
                continue;
        }
        if (!s->draining)
            feed_decoder(s);
    }
}

static int read_generated(source *s, struct frame *out, ec_err *err)
{
    image *img = NULL;
    double pts_s = -1.0;
    ec_err_clear(err);
    int r = s->o.gen_next(s->o.gen_ctx, &img, &pts_s, err);
    if (r == 0) {
        image_destroy(img);
        return finish(s, 0, NULL, err);
    }
    if (r < 0) {
        image_destroy(img);
        if (err && err->code == EC_OK)
            ec_err_set(err, EC_EIO, "generator failed");
        return -1;
    }
    if (!img || img->c != 3 || img->w <= 0 || img->h <= 0) {
        image_destroy(img);
        return ec_err_set(err, EC_EINVAL, "generator returned no RGB image");
    }
    if (img->w != s->st.width || img->h != s->st.height)
        stats_set_stream(s, img->w, img->h, 0.0);
    if (pts_s < 0)
        pts_s = (double)s->next_index / 30.0;
    return emit(s, out, pts_s, img, err);
}

/* --- public API --- */

void source_opts_init(struct source_opts *o)
{
    memset(o, 0, sizeof *o);
    o->kind = SOURCE_AUTO;
    o->sample_interval = 1;
    o->io_timeout_ms = 5000;
    o->reconnect_max = -1;
    o->backoff_initial_ms = 200;
    o->backoff_max_ms = 5000;
}

static int check_opts(const struct source_opts *o, enum source_kind kind, ec_err *err)
{
    if (o->sample_interval < 0)
        return ec_err_set(err, EC_EINVAL, "source: sample_interval %d < 1", o->sample_interval);
    if (o->io_timeout_ms < 0 || o->backoff_initial_ms < 0 || o->backoff_max_ms < 0)
        return ec_err_set(err, EC_EINVAL, "source: negative timeout or backoff");
    if (kind == SOURCE_GENERATOR && !o->gen_next)
        return ec_err_set(err, EC_EINVAL, "source: generator without gen_next");
    if (kind != SOURCE_GENERATOR && (!o->uri || !o->uri[0]))
        return ec_err_set(err, EC_EINVAL, "source: no uri");
    if ((int)kind < (int)SOURCE_AUTO || (int)kind > (int)SOURCE_GENERATOR)
        return ec_err_set(err, EC_EINVAL, "source: unknown kind %d", (int)kind);
    return 0;
}

source *source_open(const struct source_opts *o, ec_err *err)
{
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    if (!o)
        return ec_err_set(err, EC_EINVAL, "source: no options"), NULL;
    enum source_kind kind = detect_kind(o);
    if (check_opts(o, kind, err) < 0)
        return NULL;
    pthread_once(&once, ffmpeg_init_once);

    source *s = calloc(1, sizeof *s);
    if (!s)
        return ec_err_set(err, EC_ENOMEM, "source: out of memory"), NULL;
    pthread_mutex_init(&s->stats_lock, NULL);
    s->o = *o;
    s->kind = kind;
    s->uri = strdup(o->uri ? o->uri : "generator");
    s->o.uri = s->uri;
    if (s->o.sample_interval == 0)
        s->o.sample_interval = 1;
    if (s->o.io_timeout_ms == 0)
        s->o.io_timeout_ms = 5000;
    if (s->o.backoff_initial_ms == 0)
        s->o.backoff_initial_ms = 200;
    if (s->o.backoff_max_ms < s->o.backoff_initial_ms)
        s->o.backoff_max_ms = s->o.backoff_initial_ms > 5000 ? s->o.backoff_initial_ms : 5000;
    s->first_pts = AV_NOPTS_VALUE;
    s->frame_dur = 1.0 / 30;
    if (!s->uri)
        goto oom;
    if (kind == SOURCE_GENERATOR)
        return s;
    s->pkt = av_packet_alloc();
    s->frm = av_frame_alloc();
    if (!s->pkt || !s->frm)
        goto oom;
    if (session_open(s, err) < 0) {
        source_destroy(s);
        return NULL;
    }
    return s;
oom:
    ec_err_set(err, EC_ENOMEM, "source: out of memory");
    source_destroy(s);
    return NULL;
}

int source_read(source *s, struct frame *out, ec_err *err)
{
    if (!s || !out)
        return ec_err_set(err, EC_EINVAL, "source_read: missing argument");
    memset(out, 0, sizeof *out);
    if (atomic_load(&s->interrupted))
        return closed_error(err);
    if (s->ended) {
        if (s->end_rc < 0 && err)
            *err = s->end_err;
        return s->end_rc;
    }
    if (s->kind == SOURCE_GENERATOR)
        return read_generated(s, out, err);
    return read_decoded(s, out, err);
}

void source_interrupt(source *s)
{
    if (s)
        atomic_store(&s->interrupted, 1);
}

void source_stats(source *s, struct source_stats *out)
{
    if (!s) {
        memset(out, 0, sizeof *out);
        return;
    }
    pthread_mutex_lock(&s->stats_lock);
    *out = s->st;
    pthread_mutex_unlock(&s->stats_lock);
}

void source_destroy(source *s)
{
    if (!s)
        return;
    session_close(s);
    sws_freeContext(s->sws);
    av_packet_free(&s->pkt);
    av_frame_free(&s->frm);
    pthread_mutex_destroy(&s->stats_lock);
    free(s->uri);
    free(s);
}

void frame_release(struct frame *f)
{
    if (!f)
        return;
    image_destroy(f->img);
    f->img = NULL;
    AVFrame *decoded = f->decoded;
    av_frame_free(&decoded);
    f->decoded = NULL;
}

int source_frame_rgb(source *s, struct frame *f, ec_err *err)
{
    if (f->img || !f->sampled)
        return 0;
    AVFrame *decoded = f->decoded;
    f->img = decoded ? frame_to_rgb(s, decoded) : NULL;
    av_frame_free(&decoded);
    f->decoded = NULL;
    if (f->img)
        return 0;
    f->sampled = 0;
    pthread_mutex_lock(&s->stats_lock);
    s->st.sampled--;
    s->st.decode_errors++;
    pthread_mutex_unlock(&s->stats_lock);
    return ec_err_set(err, EC_EFORMAT, "frame %lld: colour conversion failed", (long long)f->index);
}
