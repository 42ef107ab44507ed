/* reel plugin "image": a still image file (any format libavcodec decodes: PNG, JPEG, WebP...)
 * as a shot — held still, or with a Ken Burns pan/zoom over it. The picture fills the output
 * (fit "cover": cropped to the output's aspect) or is shown whole (fit "contain": the rest is
 * the background colour the user gave), then a moving window is sampled bilinearly per frame,
 * plane by plane from the picture converted once to YUV 4:2:0: frames go out as the host stores
 * them. */
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

/* The picture as planar YUV 4:2:0 (BT.601, limited range, as the host's intermediates), the
 * planes the frames are sampled from: converted once, not once per frame. */
typedef struct yuv_pic {
    uint8_t *data[3];
    int linesize[3];
    int w[3], h[3];
} yuv_pic;

static int to_yuv(const uint8_t *rgb, int sw, int sh, yuv_pic *y)
{
    memset(y, 0, sizeof *y);
    for (int p = 0; p < 3; p++) {
        y->w[p] = p ? (sw + 1) / 2 : sw;
        y->h[p] = p ? (sh + 1) / 2 : sh;
        y->linesize[p] = y->w[p];
        /* 4 bytes more: the AVX2 sampler reads 4 from any sample's place */
        if (!(y->data[p] = calloc((size_t)y->w[p] * y->h[p] + 4, 1))) return -1;
    }
    struct SwsContext *sws = sws_getContext(sw, sh, AV_PIX_FMT_RGB24, sw, sh, AV_PIX_FMT_YUV420P,
                                            SWS_BICUBIC, NULL, NULL, NULL);
    if (!sws) return -1;
    const uint8_t *src[4] = {rgb};
    int sls[4] = {sw * 3};
    sws_scale(sws, src, sls, 0, sh, y->data, y->linesize);
    sws_freeContext(sws);
    return 0;
}

static void yuv_free(yuv_pic *y)
{
    for (int p = 0; p < 3; p++) free(y->data[p]);
}

/* Source position of output sample i of n over the window [a0, a0 + len) of a plane of size
 * lim: its first neighbour, its second and the second's weight in 1/256 (fixed point, so that
 * every machine gives the same bytes). */
static void taps(double a0, double len, int i, int n, int lim, int *lo, int *hi, int *wt)
{
    double s = a0 + (i + 0.5) * len / n - 0.5;
    s = fmin(fmax(s, 0), lim - 1);
    int k = (int)s;
    int f = (int)lrint((s - k) * 256);
    if (f == 256) k++, f = 0;
    if (k > lim - 1) k = lim - 1;
    *lo = k;
    *hi = k + 1 < lim ? k + 1 : k;
    *wt = f;
}

/* Output samples [x, dw) of one row from source rows r0 (weight 256 - fy) and r1 (fy): the
 * reference, and what the AVX2 row leaves to it. */
static void sample_row(const uint8_t *r0, const uint8_t *r1, int fy, const int *xa, const int *xb,
                       const int *xw, uint8_t *o, int x, int dw)
{
    for (; x < dw; x++) {
        int fx = xw[x];
        int t = r0[xa[x]] * (256 - fx) + r0[xb[x]] * fx;
        int b = r1[xa[x]] * (256 - fx) + r1[xb[x]] * fx;
        o[x] = (uint8_t)((t * (256 - fy) + b * fy + 32768) >> 16);
    }
}

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
/* The same integers 8 samples at a time. One 4-byte gather at r + xa[x] gives both neighbours:
 * xb[x] is xa[x] + 1, or xa[x] at the right edge where the weight fx is 0 (taps), so the byte
 * after it counts for nothing. The planes carry 4 bytes of slack for the last sample's read. */
__attribute__((target("avx2"))) static void sample_row_avx2(const uint8_t *r0, const uint8_t *r1,
                                                            int fy, const int *xa, const int *xb,
                                                            const int *xw, uint8_t *o, int dw)
{
    const __m256i m8 = _mm256_set1_epi32(0xff), k256 = _mm256_set1_epi32(256),
                  wy1 = _mm256_set1_epi32(fy), wy0 = _mm256_set1_epi32(256 - fy),
                  half = _mm256_set1_epi32(32768);
    int x = 0;
    for (; x + 8 <= dw; x += 8) {
        __m256i ia = _mm256_loadu_si256((const __m256i *)(xa + x));
        __m256i fx = _mm256_loadu_si256((const __m256i *)(xw + x));
        __m256i gx = _mm256_sub_epi32(k256, fx);
        __m256i g0 = _mm256_i32gather_epi32((const int *)r0, ia, 1);
        __m256i g1 = _mm256_i32gather_epi32((const int *)r1, ia, 1);
        __m256i t = _mm256_add_epi32(
            _mm256_mullo_epi32(_mm256_and_si256(g0, m8), gx),
            _mm256_mullo_epi32(_mm256_and_si256(_mm256_srli_epi32(g0, 8), m8), fx));
        __m256i b = _mm256_add_epi32(
            _mm256_mullo_epi32(_mm256_and_si256(g1, m8), gx),
            _mm256_mullo_epi32(_mm256_and_si256(_mm256_srli_epi32(g1, 8), m8), fx));
        __m256i v = _mm256_add_epi32(
            _mm256_add_epi32(_mm256_mullo_epi32(t, wy0), _mm256_mullo_epi32(b, wy1)), half);
        v = _mm256_srli_epi32(v, 16);
        __m128i lo = _mm256_castsi256_si128(v), hi = _mm256_extracti128_si256(v, 1);
        __m128i w16 = _mm_packus_epi32(lo, hi);
        _mm_storel_epi64((__m128i *)(o + x), _mm_packus_epi16(w16, w16));
    }
    sample_row(r0, r1, fy, xa, xb, xw, o, x, dw);
}

static int use_avx2(void)
{
    const char *force = getenv("REEL_CPU"); /* REEL_CPU=scalar: the reference, for tests */
    return !(force && !strcmp(force, "scalar")) && __builtin_cpu_supports("avx2");
}
#else
static int use_avx2(void)
{
    return 0;
}
#endif

/* One plane of the window (x0, y0, ww, wh in the picture's luma pixels) sampled bilinearly onto
 * dw x dh; sub = 1 halves the window for a chroma plane. xa, xb, xw: dw entries of scratch. */
static void sample_plane(const yuv_pic *src, int p, double x0, double y0, double ww, double wh,
                         uint8_t *dst, int dls, int dw, int dh, int *xa, int *xb, int *xw, int avx2)
{
    double d = p ? 0.5 : 1;
    const uint8_t *s = src->data[p];
    int sls = src->linesize[p];
    for (int x = 0; x < dw; x++) taps(x0 * d, ww * d, x, dw, src->w[p], &xa[x], &xb[x], &xw[x]);
    for (int y = 0; y < dh; y++) {
        int ya, yb, fy;
        taps(y0 * d, wh * d, y, dh, src->h[p], &ya, &yb, &fy);
        const uint8_t *r0 = s + (size_t)ya * sls, *r1 = s + (size_t)yb * sls;
        uint8_t *o = dst + (size_t)y * dls;
#if defined(__x86_64__) && defined(__GNUC__)
        if (avx2) {
            sample_row_avx2(r0, r1, fy, xa, xb, xw, o, dw);
            continue;
        }
#endif
        (void)avx2;
        sample_row(r0, r1, fy, xa, xb, xw, o, 0, dw);
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
    /* the frame's planes, then scratch for one row of column taps (3 ints a sample) */
    int cwid = (w + 1) / 2, chei = (h + 1) / 2;
    /* (rounded up so that the int scratch after the planes is aligned) */
    size_t npix = ((size_t)w * h + 2 * (size_t)cwid * chei + 15) & ~(size_t)15;
    yuv_pic pic;
    int yok = to_yuv(src, sw, sh, &pic) == 0;
    free(src);
    out = yok ? malloc(npix + 3 * sizeof(int) * (size_t)w) : NULL;
    if (!out) {
        s->error(s->host, "out of memory for frames");
        yuv_free(&pic);
        json_decref(p);
        return REEL_PLUGIN_EFATAL;
    }
    uint8_t *plane[3] = {out, out + (size_t)w * h, out + (size_t)w * h + (size_t)cwid * chei};
    int pw[3] = {w, cwid, cwid}, ph[3] = {h, chei, chei};
    int *xa = (int *)(out + npix), *xb = xa + w, *xw = xb + w;
    /* the background in YUV (BT.601, limited range: what swscale made of the picture) */
    const double br = pad[0], bg = pad[1], bb = pad[2];
    const uint8_t bgyuv[3] = {
        (uint8_t)lround(16 + (65.481 * br + 128.553 * bg + 24.966 * bb) / 255),
        (uint8_t)lround(128 + (-37.797 * br - 74.203 * bg + 112.0 * bb) / 255),
        (uint8_t)lround(128 + (112.0 * br - 93.786 * bg - 18.214 * bb) / 255)};
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
    const int avx2 = use_avx2();
    rc = s->video_begin(s->host, w, h, REEL_PLUGIN_PIX_YUV420P, fn, fd);
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
        for (int pl = 0; pl < 3; pl++) {
            sample_plane(&pic, pl, x0, y0, ww, wh, plane[pl], pw[pl], pw[pl], ph[pl], xa, xb, xw,
                         avx2);
            if (!contain) continue; /* cover's window is inside the picture */
            /* what falls outside the picture (the sampler clamped it to the edge) is background */
            for (int y = 0; y < ph[pl]; y++) {
                double sy = y0 + (y + 0.5) * wh / ph[pl];
                uint8_t *o = plane[pl] + (size_t)y * pw[pl];
                if (sy < 0 || sy > sh) {
                    memset(o, bgyuv[pl], (size_t)pw[pl]);
                    continue;
                }
                for (int x = 0; x < pw[pl]; x++) {
                    double sx = x0 + (x + 0.5) * ww / pw[pl];
                    if (sx < 0 || sx > sw) o[x] = bgyuv[pl];
                }
            }
        }
        reel_plugin_frame f = {.width = w,
                               .height = h,
                               .pix_fmt = REEL_PLUGIN_PIX_YUV420P,
                               .data = {plane[0], plane[1], plane[2]},
                               .linesize = {w, cwid, cwid},
                               .pts = k};
        rc = s->video_frame(s->host, &f);
        if (rc == 0) rc = s->progress(s->host, (double)(k + 1) / nframes);
    }
    yuv_free(&pic);
    free(out);
    json_decref(p); /* motion points into p */
    return rc;
}

static const reel_plugin_caps caps = {
    .struct_size = sizeof(reel_plugin_caps),
    .kind = REEL_PLUGIN_KIND_IMAGE,
    .name = "image",
    .version = "1.1",
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
