/* reel plugin "image": a still image file (any format libavcodec decodes: PNG, JPEG, WebP...)
 * as a shot — held still, or with a Ken Burns pan/zoom over it. The picture fills the output
 * (fit "cover": cropped to the output's aspect) or is shown whole (fit "contain": the rest is
 * the background colour the user gave), then a moving window is sampled bilinearly per frame.
 * RGB24 frames. */
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <libavcodec/avcodec.h>
#include <libavformat/avformat.h>
#include <libavutil/avstring.h>
#include <libswscale/swscale.h>

#include "plugins/reel_plugin.h"

static const char schema[] =
    "{\"type\":\"object\",\"additionalProperties\":false,\"required\":[\"path\"],"
    "\"properties\":{"
    "\"path\":{\"type\":\"string\",\"minLength\":1,\"maxLength\":4096},"
    "\"width\":{\"type\":\"integer\",\"minimum\":16,\"maximum\":8192},"
    "\"height\":{\"type\":\"integer\",\"minimum\":16,\"maximum\":8192},"
    "\"fps\":{\"type\":\"number\",\"minimum\":1,\"maximum\":120},"
    "\"duration_s\":{\"type\":\"number\",\"minimum\":0.04,\"maximum\":600},"
    "\"motion\":{\"enum\":[\"none\",\"kenburns\",\"zoom_in\",\"zoom_out\",\"pan_left\","
    "\"pan_right\"]},"
    "\"zoom\":{\"type\":\"number\",\"minimum\":1,\"maximum\":4},"
    "\"fit\":{\"enum\":[\"cover\",\"contain\"]},"
    "\"background\":{\"type\":\"string\",\"minLength\":7,\"maxLength\":7},"
    "\"prompt\":{\"type\":\"string\"},\"seed\":{\"type\":\"integer\"}}}";

/* Image demuxers only: never a playlist (hls, concat...) that opens further files, nor image2,
 * whose file name patterns read other files. The same list as the host's for images
 * (pipeline/media/media.h), which this plugin cannot include. */
#define IMAGE_FORMATS                                                                              \
    "png_pipe,jpeg_pipe,webp_pipe,bmp_pipe,tiff_pipe,gif,gif_pipe,qoi_pipe,ppm_pipe,pgm_pipe,"     \
    "pbm_pipe,pam_pipe,jpegxl_pipe"

/* Opens path as an image: a regular file, through the file protocol only ("file:" first, so no
 * part of the name reads as a protocol), with a demuxer from IMAGE_FORMATS. */
static int open_image(const char *path, AVFormatContext **fmt, char *err, size_t n)
{
    struct stat sb;
    if (stat(path, &sb) != 0 || !S_ISREG(sb.st_mode)) {
        snprintf(err, n, "parameter 'path': %s: not a readable file", path);
        return -1;
    }
    char url[4200];
    snprintf(url, sizeof url, "file:%s", path);
    AVDictionary *o = NULL;
    av_dict_set(&o, "protocol_whitelist", "file", 0);
    AVIOContext *pb = NULL;
    const AVInputFormat *ifmt = NULL;
    int ret = avio_open2(&pb, url, AVIO_FLAG_READ, NULL, &o);
    av_dict_free(&o);
    if (ret >= 0) ret = av_probe_input_buffer2(pb, &ifmt, url, NULL, 0, 0);
    avio_closep(&pb);
    if (ret < 0 || !ifmt) {
        snprintf(err, n, "parameter 'path': %s: not an image (no format recognised)", path);
        return -1;
    }
    if (av_match_list(ifmt->name, IMAGE_FORMATS, ',') <= 0) {
        snprintf(err, n,
                 "parameter 'path': %s: is %s (format '%s'), not an image; accepted formats: %s",
                 path, ifmt->long_name ? ifmt->long_name : ifmt->name, ifmt->name, IMAGE_FORMATS);
        return -1;
    }
    av_dict_set(&o, "protocol_whitelist", "file", 0);
    av_dict_set(&o, "format_whitelist", IMAGE_FORMATS, 0);
    ret = avformat_open_input(fmt, url, ifmt, &o);
    av_dict_free(&o);
    if (ret < 0) {
        char e[AV_ERROR_MAX_STRING_SIZE] = "";
        av_strerror(ret, e, sizeof e);
        snprintf(err, n, "parameter 'path': %s: %s", path, e);
        return -1;
    }
    return 0;
}

/* Decodes the first picture of path into packed RGB24 (malloc'ed). */
static uint8_t *load_rgb(const char *path, int *w, int *h, char *err, size_t n)
{
    AVFormatContext *fmt = NULL;
    AVCodecContext *dec = NULL;
    AVPacket *pkt = av_packet_alloc();
    AVFrame *f = av_frame_alloc();
    uint8_t *rgb = NULL;
    int ret = open_image(path, &fmt, err, n);
    if (ret < 0) goto done;
    const AVCodec *codec = NULL;
    if (avformat_find_stream_info(fmt, NULL) < 0 ||
        (ret = av_find_best_stream(fmt, AVMEDIA_TYPE_VIDEO, -1, -1, &codec, 0)) < 0 || !codec) {
        snprintf(err, n, "parameter 'path': %s: not an image", path);
        goto done;
    }
    int idx = ret;
    dec = avcodec_alloc_context3(codec);
    if (dec) dec->max_pixels = (int64_t)16384 * 16384; /* the limit checked below */
    if (!dec || avcodec_parameters_to_context(dec, fmt->streams[idx]->codecpar) < 0 ||
        avcodec_open2(dec, codec, NULL) < 0) {
        snprintf(err, n, "parameter 'path': %s: cannot open a decoder", path);
        goto done;
    }
    int got = 0;
    while (!got && av_read_frame(fmt, pkt) >= 0) {
        if (pkt->stream_index == idx && avcodec_send_packet(dec, pkt) >= 0)
            got = avcodec_receive_frame(dec, f) >= 0;
        av_packet_unref(pkt);
    }
    if (!got) {
        avcodec_send_packet(dec, NULL);
        got = avcodec_receive_frame(dec, f) >= 0;
    }
    if (!got || f->width <= 0 || f->height <= 0 || f->width > 16384 || f->height > 16384) {
        snprintf(err, n, "parameter 'path': %s: no decodable picture", path);
        goto done;
    }
    struct SwsContext *sws = sws_getContext(f->width, f->height, f->format, f->width, f->height,
                                            AV_PIX_FMT_RGB24, SWS_BICUBIC, NULL, NULL, NULL);
    rgb = sws ? malloc((size_t)f->width * f->height * 3) : NULL;
    if (!rgb) {
        snprintf(err, n, "parameter 'path': %s: cannot convert the picture", path);
        sws_freeContext(sws);
        goto done;
    }
    uint8_t *dst[4] = {rgb};
    int ls[4] = {f->width * 3};
    sws_scale(sws, (const uint8_t *const *)f->data, f->linesize, 0, f->height, dst, ls);
    sws_freeContext(sws);
    *w = f->width;
    *h = f->height;
done:
    av_frame_free(&f);
    av_packet_free(&pkt);
    avcodec_free_context(&dec);
    avformat_close_input(&fmt);
    return rgb;
}

static void sample(const uint8_t *src, int sw, int sh, double x, double y, uint8_t *out)
{
    x = fmin(fmax(x, 0), sw - 1.001);
    y = fmin(fmax(y, 0), sh - 1.001);
    int x0 = (int)x, y0 = (int)y;
    double fx = x - x0, fy = y - y0;
    int x1 = x0 + 1 < sw ? x0 + 1 : x0, y1 = y0 + 1 < sh ? y0 + 1 : y0;
    for (int c = 0; c < 3; c++) {
        double a = src[((size_t)y0 * sw + x0) * 3 + c], b = src[((size_t)y0 * sw + x1) * 3 + c];
        double d = src[((size_t)y1 * sw + x0) * 3 + c], e = src[((size_t)y1 * sw + x1) * 3 + c];
        out[c] = (uint8_t)lrint((a * (1 - fx) + b * fx) * (1 - fy) + (d * (1 - fx) + e * fx) * fy);
    }
}

static int generate(void *state, const char *params_json, const reel_plugin_sink *s)
{
    (void)state;
    json_t *p = json_loads(params_json, 0, NULL);
    if (!p) {
        s->error(s->host, "parameters are not JSON");
        return REEL_PLUGIN_EINVAL;
    }
    const char *path = json_string_value(json_object_get(p, "path"));
    const char *motion = json_is_string(json_object_get(p, "motion"))
                             ? json_string_value(json_object_get(p, "motion"))
                             : "kenburns";
    double fps = json_object_get(p, "fps") ? json_number_value(json_object_get(p, "fps")) : 24;
    double dur =
        json_object_get(p, "duration_s") ? json_number_value(json_object_get(p, "duration_s")) : 3;
    double zoom = json_object_get(p, "zoom") ? json_number_value(json_object_get(p, "zoom")) : 1.2;
    const char *fit = json_is_string(json_object_get(p, "fit"))
                          ? json_string_value(json_object_get(p, "fit"))
                          : "cover";
    int contain = !strcmp(fit, "contain");
    const char *bgs = json_is_string(json_object_get(p, "background"))
                          ? json_string_value(json_object_get(p, "background"))
                          : NULL;
    unsigned bgr = 0, bgg = 0, bgb = 0;
    char extra;
    if (bgs && (sscanf(bgs, "#%2x%2x%2x%c", &bgr, &bgg, &bgb, &extra) != 3 || strlen(bgs) != 7)) {
        s->error(s->host, "parameter 'background': must be a colour \"#RRGGBB\"");
        json_decref(p);
        return REEL_PLUGIN_EINVAL;
    }
    if (bgs && !contain) {
        s->error(s->host, "parameter 'background': only with fit = \"contain\" (cover fills "
                          "the frame with the picture)");
        json_decref(p);
        return REEL_PLUGIN_EINVAL;
    }
    const uint8_t pad[3] = {(uint8_t)bgr, (uint8_t)bgg, (uint8_t)bgb};
    char err[1024];
    int sw, sh, rc = 0;
    uint8_t *src = load_rgb(path, &sw, &sh, err, sizeof err), *out = NULL;
    if (!src) {
        s->error(s->host, err);
        json_decref(p);
        return REEL_PLUGIN_EINVAL;
    }
    int w = json_object_get(p, "width") ? (int)json_integer_value(json_object_get(p, "width"))
                                        : (sw + 1) & ~1;
    int h = json_object_get(p, "height") ? (int)json_integer_value(json_object_get(p, "height"))
                                         : (sh + 1) & ~1;
    out = malloc((size_t)w * h * 3);
    if (!out) {
        s->error(s->host, "out of memory for frames");
        free(src);
        json_decref(p);
        return REEL_PLUGIN_EFATAL;
    }
    /* cover: the largest window of the output's aspect inside the picture; contain: the
     * smallest one around it. */
    double cw = sw, ch = (double)sw * h / w;
    if (contain ? ch < sh : ch > sh) {
        ch = sh;
        cw = (double)sh * w / h;
    }
    int32_t fn = (int32_t)llround(fps * 1000), fd = 1000;
    if (fabs(fps - round(fps)) < 1e-9) fn = (int32_t)llround(fps), fd = 1;
    int64_t nframes = llround(dur * fps);
    if (nframes < 1) nframes = 1;
    rc = s->video_begin(s->host, w, h, REEL_PLUGIN_PIX_RGB24, fn, fd);
    for (int64_t k = 0; k < nframes && rc == 0; k++) {
        double t = nframes > 1 ? (double)k / (nframes - 1) : 0;
        t = t * t * (3 - 2 * t);
        double z = 1, px = 0.5, py = 0.5; /* zoom factor and window centre (0..1 of the slack) */
        if (!strcmp(motion, "kenburns")) {
            z = 1 + (zoom - 1) * t;
            px = 0.35 + 0.3 * t;
            py = 0.45 + 0.1 * t;
        } else if (!strcmp(motion, "zoom_in")) {
            z = 1 + (zoom - 1) * t;
        } else if (!strcmp(motion, "zoom_out")) {
            z = zoom - (zoom - 1) * t;
        } else if (!strcmp(motion, "pan_left") || !strcmp(motion, "pan_right")) {
            z = zoom;
            px = !strcmp(motion, "pan_left") ? 1 - t : t;
        }
        double ww = cw / z, wh = ch / z;
        /* a window wider (taller) than the picture, with contain, stays centred on it */
        double x0 = (sw - ww) * (ww > sw ? 0.5 : px), y0 = (sh - wh) * (wh > sh ? 0.5 : py);
        for (int y = 0; y < h; y++) {
            double sy = y0 + (y + 0.5) * wh / h;
            for (int x = 0; x < w; x++) {
                double sx = x0 + (x + 0.5) * ww / w;
                uint8_t *o = out + ((size_t)y * w + x) * 3;
                if (sx < 0 || sy < 0 || sx > sw || sy > sh)
                    memcpy(o, pad, 3); /* only with contain: cover's window is inside */
                else
                    sample(src, sw, sh, sx - 0.5, sy - 0.5, o);
            }
        }
        reel_plugin_frame f = {.width = w,
                               .height = h,
                               .pix_fmt = REEL_PLUGIN_PIX_RGB24,
                               .data = {out},
                               .linesize = {w * 3},
                               .pts = k};
        rc = s->video_frame(s->host, &f);
        if (rc == 0) rc = s->progress(s->host, (double)(k + 1) / nframes);
    }
    free(src);
    free(out);
    json_decref(p); /* motion points into p */
    return rc;
}

static const reel_plugin_caps caps = {
    .struct_size = sizeof(reel_plugin_caps),
    .kind = REEL_PLUGIN_KIND_IMAGE,
    .name = "image",
    .version = "1.0",
    .description = "a still image, held or with a Ken Burns pan/zoom",
    .params_schema = schema,
    .max_width = 8192,
    .max_height = 8192,
    .fps_max = 120,
    .max_duration_s = 600,
    .deterministic = 1,
    /* one decoded still and the frames scaled from it, up to 8192x8192 */
    .job_cpus = 1,
    .job_mem = "1G",
};

static const reel_plugin table = {
    .api_version = REEL_PLUGIN_API_VERSION,
    .struct_size = sizeof(reel_plugin),
    .caps = &caps,
    .generate = generate,
};

REEL_PLUGIN_EXPORT const reel_plugin *reel_plugin_entry(const reel_plugin_host *host)
{
    (void)host;
    return &table;
}
