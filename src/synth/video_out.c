/* Writes a synthetic run as H.264 (libx264, yuv420p, BT.601 limited range)
 * in the container the file name asks for, plus its ground truth. */
#include "synth/synth.h"

#include <errno.h>
#include <libavcodec/avcodec.h>
#include <libavformat/avformat.h>
#include <libavutil/opt.h>
#include <libswscale/swscale.h>
#include <math.h>
#include <string.h>

struct writer {
    AVFormatContext *fmt;
    AVCodecContext *enc;
    AVStream *st;
    struct SwsContext *sws;
    AVFrame *yuv;
    AVPacket *pkt;
    int header_written;
};

static int av_fail(ec_err *err, int code, const char *what)
{
    char buf[AV_ERROR_MAX_STRING_SIZE] = {0};
    av_strerror(code, buf, sizeof buf);
    return ec_err_set(err, EC_EIO, "%s: %s", what, buf);
}

static int writer_open(struct writer *w, const struct synth_opts *o, const char *path, ec_err *err)
{
    int r = avformat_alloc_output_context2(&w->fmt, NULL, NULL, path);
    if (r < 0 || !w->fmt)
        return ec_err_set(err, EC_EINVAL, "%s: no container format for this file name", path);
    const AVCodec *codec = avcodec_find_encoder_by_name("libx264");
    if (!codec)
        return ec_err_set(err, EC_EUNSUPPORTED, "libavcodec has no libx264 encoder");
    w->enc = avcodec_alloc_context3(codec);
    w->pkt = av_packet_alloc();
    w->yuv = av_frame_alloc();
    if (!w->enc || !w->pkt || !w->yuv)
        return ec_err_set(err, EC_ENOMEM, "out of memory");
    AVRational rate = av_d2q(o->fps, 100000);
    w->enc->width = o->width;
    w->enc->height = o->height;
    w->enc->pix_fmt = AV_PIX_FMT_YUV420P;
    w->enc->time_base = av_inv_q(rate);
    w->enc->framerate = rate;
    w->enc->gop_size = (int)fmax(1, lround(o->fps * 2));
    w->enc->color_range = AVCOL_RANGE_MPEG;
    w->enc->colorspace = AVCOL_SPC_SMPTE170M;
    w->enc->color_primaries = AVCOL_PRI_SMPTE170M;
    w->enc->color_trc = AVCOL_TRC_SMPTE170M;
    av_opt_set(w->enc->priv_data, "preset", "veryfast", 0);
    av_opt_set(w->enc->priv_data, "crf", "20", 0);
    if (w->fmt->oformat->flags & AVFMT_GLOBALHEADER)
        w->enc->flags |= AV_CODEC_FLAG_GLOBAL_HEADER;
    if ((r = avcodec_open2(w->enc, codec, NULL)) < 0)
        return av_fail(err, r, "opening libx264");
    w->st = avformat_new_stream(w->fmt, NULL);
    if (!w->st)
        return ec_err_set(err, EC_ENOMEM, "out of memory");
    w->st->time_base = w->enc->time_base;
    w->st->avg_frame_rate = rate;
    if ((r = avcodec_parameters_from_context(w->st->codecpar, w->enc)) < 0)
        return av_fail(err, r, "stream parameters");
    if (!(w->fmt->oformat->flags & AVFMT_NOFILE) && (r = avio_open(&w->fmt->pb, path, AVIO_FLAG_WRITE)) < 0)
        return av_fail(err, r, path);
    if ((r = avformat_write_header(w->fmt, NULL)) < 0)
        return av_fail(err, r, "writing container header");
    w->header_written = 1;
    w->yuv->format = AV_PIX_FMT_YUV420P;
    w->yuv->width = o->width;
    w->yuv->height = o->height;
    if ((r = av_frame_get_buffer(w->yuv, 0)) < 0)
        return av_fail(err, r, "frame buffer");
    w->sws = sws_getContext(o->width, o->height, AV_PIX_FMT_RGB24, o->width, o->height, AV_PIX_FMT_YUV420P,
                            SWS_BILINEAR, NULL, NULL, NULL);
    if (!w->sws)
        return ec_err_set(err, EC_ENOMEM, "no RGB to YUV converter");
    return 0;
}

/* Sends one frame (NULL flushes) and writes every packet that comes out. */
static int writer_encode(struct writer *w, AVFrame *frame, ec_err *err)
{
    int r = avcodec_send_frame(w->enc, frame);
    if (r < 0)
        return av_fail(err, r, "encoding");
    for (;;) {
        r = avcodec_receive_packet(w->enc, w->pkt);
        if (r == AVERROR(EAGAIN) || r == AVERROR_EOF)
            return 0;
        if (r < 0)
            return av_fail(err, r, "encoding");
        av_packet_rescale_ts(w->pkt, w->enc->time_base, w->st->time_base);
        w->pkt->stream_index = w->st->index;
        r = av_interleaved_write_frame(w->fmt, w->pkt);
        if (r < 0)
            return av_fail(err, r, "writing packet");
    }
}

static int writer_frame(struct writer *w, const image *rgb, int64_t pts, ec_err *err)
{
    int r = av_frame_make_writable(w->yuv);
    if (r < 0)
        return av_fail(err, r, "frame buffer");
    const uint8_t *src[1] = {rgb->data};
    const int stride[1] = {rgb->stride};
    sws_scale(w->sws, src, stride, 0, rgb->h, w->yuv->data, w->yuv->linesize);
    w->yuv->pts = pts;
    return writer_encode(w, w->yuv, err);
}

static int writer_finish(struct writer *w, ec_err *err)
{
    if (writer_encode(w, NULL, err))
        return -1;
    int r = av_write_trailer(w->fmt);
    return r < 0 ? av_fail(err, r, "writing trailer") : 0;
}

static void writer_close(struct writer *w)
{
    if (w->fmt && w->fmt->pb && !(w->fmt->oformat->flags & AVFMT_NOFILE))
        avio_closep(&w->fmt->pb);
    avformat_free_context(w->fmt);
    avcodec_free_context(&w->enc);
    sws_freeContext(w->sws);
    av_frame_free(&w->yuv);
    av_packet_free(&w->pkt);
}

int synth_write_video(const struct synth_opts *o, const char *video_path, const char *gt_path,
                      synth_progress_fn progress, void *user, ec_err *err)
{
    if (o->frames <= 0)
        return ec_err_set(err, EC_EINVAL, "synth: a video needs a frame count > 0");
    synth *s = synth_create(o, err);
    if (!s)
        return -1;
    struct writer w = {0};
    FILE *gt = NULL;
    struct det_list boxes = {0};
    int rc = -1;
    if (gt_path && !(gt = fopen(gt_path, "w"))) {
        ec_err_set(err, EC_EIO, "%s: %s", gt_path, strerror(errno));
        goto out;
    }
    if (writer_open(&w, o, video_path, err))
        goto out;
    image *frame;
    int r;
    while ((r = synth_next(s, &frame, &boxes, err)) == 1) {
        int64_t i = synth_frame_index(s) - 1;
        if (writer_frame(&w, frame, i, err) || (gt && gt_write_frame(gt, i, &boxes, err)))
            goto out;
        if (progress && progress(user, i + 1, o->frames)) {
            ec_err_set(err, EC_ECLOSED, "synth: stopped at frame %lld", (long long)i + 1);
            goto out;
        }
    }
    if (r < 0 || writer_finish(&w, err))
        goto out;
    rc = 0;
out:
    if (gt && fclose(gt) != 0 && rc == 0)
        rc = ec_err_set(err, EC_EIO, "%s: %s", gt_path, strerror(errno));
    writer_close(&w);
    det_list_free(&boxes);
    synth_destroy(s);
    return rc;
}
