/* reel.concat passing reel's own intermediates through as packets: the joined film shows every
 * input picture exactly where it belongs (cuts and crossfades), the transition frames are drawn
 * from both neighbours, and an input that cannot be copied (another frame rate, FFV1 from an
 * older cache) is decoded in the same join. Pictures are compared decoded, pixel for pixel.
 * A render given the concat's inputs and params.join (what reel.render(reel.concat(...)) runs)
 * encodes the very pictures the concat file would have given it. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <libavformat/avformat.h>

#include "core/hash.h"
#include "media_testutil.h"

static char *dir;

enum { W = 96, H = 64 };

static int setup(void **state)
{
    (void)state;
    dir = tu_tmpdir();
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    tu_rmtree(dir);
    free(dir);
    return 0;
}

/* The luma of picture k of clip `seed` at (x, y): different in every picture and clip. */
static int luma(int seed, int k, int x, int y)
{
    return (x * 3 + y * 2 + k * 7 + seed * 61) & 255;
}

/* A Matroska clip of n pictures at fps in vcodec (NULL: reel's intermediate) written by reel's
 * writer, as a stage would; with a tone of its own when sound is set. */
static char *write_clip_as(const char *name, int seed, int fps, int n, const char *vcodec,
                           int sound)
{
    char *path = mt_path(dir, name);
    int64_t ns = (int64_t)n * REELI_RATE / fps;
    float *pcm = sound ? malloc((size_t)ns * 2 * sizeof *pcm) : NULL;
    for (int64_t i = 0; sound && i < ns; i++)
        pcm[2 * i] = pcm[2 * i + 1] = 0.25f * (float)sin(i * (0.05 + 0.02 * seed));
    reeli_mw_opts o = {.path = path,
                       .format = "matroska",
                       .width = W,
                       .height = H,
                       .fps = {fps, 1},
                       .vcodec = vcodec,
                       .sample_rate = sound ? REELI_RATE : 0,
                       .channels = 2};
    reeli_mw *m = reeli_mw_open(&o);
    if (sound) reeli_mw_set_audio(m, pcm, ns);
    assert_non_null(m);
    AVFrame *f = av_frame_alloc();
    f->format = AV_PIX_FMT_YUV420P;
    f->width = W;
    f->height = H;
    assert_int_equal(av_frame_get_buffer(f, 0), 0);
    for (int k = 0; k < n; k++) {
        assert_int_equal(av_frame_make_writable(f), 0);
        for (int y = 0; y < H; y++)
            for (int x = 0; x < W; x++)
                f->data[0][y * f->linesize[0] + x] = (uint8_t)luma(seed, k, x, y);
        for (int p = 1; p < 3; p++)
            memset(f->data[p], 100 + 20 * seed + p, (size_t)f->linesize[p] * H / 2);
        f->pts = k;
        assert_int_equal(reeli_mw_video(m, f), 0);
    }
    av_frame_free(&f);
    assert_int_equal(reeli_mw_close(m), 0);
    free(pcm);
    return path;
}

static char *write_clip(const char *name, int seed, int fps, int n)
{
    return write_clip_as(name, seed, fps, n, NULL, 0);
}

/* 1 if f is picture k of clip seed, every sample. */
static int is_picture(const AVFrame *f, int seed, int k)
{
    for (int y = 0; y < H; y++)
        for (int x = 0; x < W; x++)
            if (f->data[0][y * f->linesize[0] + x] != luma(seed, k, x, y)) return 0;
    for (int p = 1; p < 3; p++)
        for (int y = 0; y < H / 2; y++)
            for (int x = 0; x < W / 2; x++)
                if (f->data[p][y * f->linesize[p] + x] != 100 + 20 * seed + p) return 0;
    return 1;
}

/* Decodes path and checks that frame j is picture want[j].k of clip want[j].seed; where seed
 * is -1 - s, frame k of the 4 of a crossfade from clip s to s + 1, whose middle frame (k = 2)
 * must be neither clip's picture there. */
typedef struct want {
    int seed, k;
} want;

static void check_film(const char *path, const want *w, int n)
{
    reeli_probe p = mt_probe(path);
    assert_int_equal(p.n_frames, n);
    reeli_vr *r = reeli_vr_open(path, 0, 0, (AVRational){0, 0});
    assert_non_null(r);
    AVFrame *f;
    for (int j = 0; j < n; j++) {
        assert_int_equal(reeli_vr_next(r, &f), 1);
        if (w[j].seed >= 0) {
            if (!is_picture(f, w[j].seed, w[j].k))
                fail_msg("frame %d: not picture %d of clip %d", j, w[j].k, w[j].seed);
        } else if (w[j].k == 2) {
            int from = -w[j].seed - 1;
            assert_false(is_picture(f, from, 8 + w[j].k));
            assert_false(is_picture(f, from + 1, w[j].k));
        }
    }
    assert_int_equal(reeli_vr_next(r, &f), 0);
    reeli_vr_free(r);
}

static void test_cut(void **state)
{
    (void)state;
    char *a = write_clip("a.mkv", 0, 24, 10), *b = write_clip("b.mkv", 1, 24, 7),
         *c = write_clip("c.mkv", 2, 24, 5), *out = mt_path(dir, "cut.mkv");
    const char *in[] = {a, b, c};
    assert_int_equal(mt_stage("concat", "{}", in, 3, out, NULL), 0);
    want w[22];
    int n = 0;
    for (int k = 0; k < 10; k++) w[n++] = (want){0, k};
    for (int k = 0; k < 7; k++) w[n++] = (want){1, k};
    for (int k = 0; k < 5; k++) w[n++] = (want){2, k};
    check_film(out, w, n);
    free(a), free(b), free(c), free(out);
}

/* 12 frames a clip, 4 shared at each join (transition_s = 4/24): 12 + 8 + 8 frames. */
static void test_crossfade(void **state)
{
    (void)state;
    char *a = write_clip("xa.mkv", 0, 24, 12), *b = write_clip("xb.mkv", 1, 24, 12),
         *c = write_clip("xc.mkv", 2, 24, 12), *out = mt_path(dir, "xfade.mkv");
    const char *in[] = {a, b, c};
    assert_int_equal(mt_stage("concat", "{\"transition\":\"crossfade\",\"transition_s\":0.1666667}",
                              in, 3, out, NULL),
                     0);
    want w[28];
    int n = 0;
    for (int k = 0; k < 8; k++) w[n++] = (want){0, k};
    for (int k = 0; k < 4; k++) w[n++] = (want){-1, k}; /* clip 0 fading into clip 1 */
    for (int k = 4; k < 8; k++) w[n++] = (want){1, k};
    for (int k = 0; k < 4; k++) w[n++] = (want){-2, k}; /* clip 1 into clip 2 */
    for (int k = 4; k < 12; k++) w[n++] = (want){2, k};
    check_film(out, w, n);
    free(a), free(b), free(c), free(out);
}

/* The middle clip at 12 fps in a 24 fps join is decoded (each picture shown twice) between two
 * copied ones. */
static void test_mixed_rates(void **state)
{
    (void)state;
    char *a = write_clip("ma.mkv", 0, 24, 6), *b = write_clip("mb.mkv", 1, 12, 3),
         *c = write_clip("mc.mkv", 2, 24, 6), *out = mt_path(dir, "mixed.mkv");
    const char *in[] = {a, b, c};
    assert_int_equal(mt_stage("concat", "{}", in, 3, out, NULL), 0);
    want w[18];
    int n = 0;
    for (int k = 0; k < 6; k++) w[n++] = (want){0, k};
    for (int k = 0; k < 6; k++) w[n++] = (want){1, k / 2};
    for (int k = 0; k < 6; k++) w[n++] = (want){2, k};
    check_film(out, w, n);
    free(a), free(b), free(c), free(out);
}

/* Reel's clips from an older cache (FFV1) cannot be copied into the intermediate's stream:
 * decoded, the same pictures. */
static void test_ffv1_inputs(void **state)
{
    (void)state;
    char *a = write_clip_as("fa.mkv", 0, 24, 5, "ffv1", 0), *b = write_clip("fb.mkv", 1, 24, 4),
         *out = mt_path(dir, "ffv1.mkv");
    const char *in[] = {a, b};
    assert_int_equal(mt_stage("concat", "{}", in, 2, out, NULL), 0);
    assert_string_equal(mt_probe(out).vcodec, "utvideo");
    want w[9];
    int n = 0;
    for (int k = 0; k < 5; k++) w[n++] = (want){0, k};
    for (int k = 0; k < 4; k++) w[n++] = (want){1, k};
    check_film(out, w, n);
    free(a), free(b), free(out);
}

/* SHA-256 over the video stream's packets (data and pts) and their count. */
static void video_packets(const char *path, char hex[REEL_SHA256_HEX_SIZE], int *count)
{
    AVFormatContext *fc = NULL;
    assert_int_equal(avformat_open_input(&fc, path, NULL, NULL), 0);
    assert_true(avformat_find_stream_info(fc, NULL) >= 0);
    int v = av_find_best_stream(fc, AVMEDIA_TYPE_VIDEO, -1, -1, NULL, 0);
    assert_true(v >= 0);
    reel_sha256 *h = reel_sha256_init();
    AVPacket *pkt = av_packet_alloc();
    *count = 0;
    while (av_read_frame(fc, pkt) >= 0) {
        if (pkt->stream_index == v) {
            reel_sha256_update(h, pkt->data, (size_t)pkt->size);
            reel_sha256_update(h, &pkt->pts, sizeof pkt->pts);
            (*count)++;
        }
        av_packet_unref(pkt);
    }
    av_packet_free(&pkt);
    avformat_close_input(&fc);
    uint8_t d[REEL_SHA256_SIZE];
    reel_sha256_final(h, d);
    reel_hex(d, REEL_SHA256_SIZE, hex);
}

/* render{join} of three sounding clips (crossfades, then fades) against concat then render: the
 * same H.264 packets (x264 is deterministic and given the same pictures), the same length of
 * sound; a render without join takes one input only. */
static void test_render_join(void **state)
{
    (void)state;
    char *a = write_clip_as("ja.mkv", 0, 24, 12, NULL, 1),
         *b = write_clip_as("jb.mkv", 1, 24, 9, NULL, 1),
         *c = write_clip_as("jc.mkv", 2, 24, 12, NULL, 1);
    const char *in[] = {a, b, c};
    const char *joins[] = {"{\"transition\":\"crossfade\",\"transition_s\":0.1666667}",
                           "{\"transition\":\"wipeleft\",\"transition_s\":0.125}",
                           "{\"transition\":\"fade\",\"transition_s\":0.25}"};
    for (int t = 0; t < 3; t++) {
        char *joined = mt_path(dir, "joined.mkv"), *film1 = mt_path(dir, "film1.mp4"),
             *film2 = mt_path(dir, "film2.mp4");
        assert_int_equal(mt_stage("concat", joins[t], in, 3, joined, NULL), 0);
        const char *one[] = {joined};
        assert_int_equal(mt_stage("render", "{\"loudness\":false}", one, 1, film1, NULL), 0);
        char *params = reel_xasprintf("{\"loudness\":false,\"join\":%s}", joins[t]);
        assert_int_equal(mt_stage("render", params, in, 3, film2, NULL), 0);
        char h1[REEL_SHA256_HEX_SIZE], h2[REEL_SHA256_HEX_SIZE];
        int n1, n2;
        video_packets(film1, h1, &n1);
        video_packets(film2, h2, &n2);
        assert_int_equal(n1, mt_probe(joined).n_frames);
        assert_int_equal(n1, n2);
        assert_string_equal(h1, h2);
        reeli_probe p1 = mt_probe(film1), p2 = mt_probe(film2);
        assert_true(p1.has_audio && p2.has_audio);
        assert_int_equal(p1.n_samples, p2.n_samples);
        free(params), free(joined), free(film1), free(film2);
    }
    /* several inputs need a join; a join must be an object */
    char *bad = mt_path(dir, "bad.mp4");
    assert_int_equal(mt_stage("render", "{}", in, 2, bad, NULL), REEL_EINVAL);
    assert_true(strstr(reel_last_error(), "without 'join'") != NULL);
    assert_int_equal(mt_stage("render", "{\"join\":\"crossfade\"}", in, 2, bad, NULL), REEL_EINVAL);
    assert_int_equal(mt_stage("render", "{\"join\":{\"transition\":\"swirl\"}}", in, 2, bad, NULL),
                     REEL_EINVAL);
    assert_true(strstr(reel_last_error(), "parameter 'join': parameter 'transition'") != NULL);
    assert_false(reel_file_exists(bad));
    free(bad), free(a), free(b), free(c);
}

/* n seconds of a tone as a WAV file, as an audio stage would write it. */
static char *write_tone(const char *name, double seconds, double step)
{
    char *path = mt_path(dir, name);
    int64_t ns = llround(seconds * REELI_RATE);
    float *pcm = malloc((size_t)ns * 2 * sizeof *pcm);
    for (int64_t i = 0; i < ns; i++) pcm[2 * i] = pcm[2 * i + 1] = 0.3f * (float)sin(i * step);
    reeli_mw_opts o = {.path = path, .format = "wav", .sample_rate = REELI_RATE, .channels = 2};
    reeli_mw *m = reeli_mw_open(&o);
    assert_non_null(m);
    reeli_mw_set_audio(m, pcm, ns);
    assert_int_equal(reeli_mw_close(m), 0);
    free(pcm);
    return path;
}

/* render{join with parts} narrates the clips as with_audio nodes then a concat would: a 0.5 s
 * shot held for its 1.2 s narration (+ 0.5 s pad), one kept at 0.5 s with its 1 s narration
 * cut (trim, said in the result), one without narration. The same H.264 packets as with_audio
 * -> concat -> render, the same length of sound. */
static void test_render_join_narrated(void **state)
{
    (void)state;
    char *a = write_clip("na.mkv", 0, 24, 12), *b = write_clip("nb.mkv", 1, 24, 12),
         *c = write_clip("nc.mkv", 2, 24, 12), *ta = write_tone("ta.wav", 1.2, 0.03),
         *tb = write_tone("tb.wav", 1.0, 0.05), *wa = mt_path(dir, "wa.mkv"),
         *wb = mt_path(dir, "wb.mkv"), *joined = mt_path(dir, "njoined.mkv"),
         *film1 = mt_path(dir, "nfilm1.mp4"), *film2 = mt_path(dir, "nfilm2.mp4");
    assert_int_equal(mt_stage("with_audio", "{}", (const char *[]){a, ta}, 2, wa, NULL), 0);
    assert_int_equal(
        mt_stage("with_audio", "{\"trim\":true}", (const char *[]){b, tb}, 2, wb, NULL), 0);
    const char *tr = "\"transition\":\"crossfade\",\"transition_s\":0.125";
    char *cp = reel_xasprintf("{%s}", tr);
    assert_int_equal(mt_stage("concat", cp, (const char *[]){wa, wb, c}, 3, joined, NULL), 0);
    assert_int_equal(
        mt_stage("render", "{\"loudness\":false}", (const char *[]){joined}, 1, film1, NULL), 0);
    char *rp = reel_xasprintf("{\"loudness\":false,\"join\":{%s,\"parts\":[{\"with_audio\":{}},"
                              "{\"with_audio\":{\"trim\":true}},{}]}}",
                              tr);
    json_t *res = NULL;
    assert_int_equal(mt_stage("render", rp, (const char *[]){a, ta, b, tb, c}, 5, film2, &res), 0);
    assert_non_null(res);
    assert_true(tu_contains(json_string_value(json_object_get(res, "notice")),
                            "clip 2: narration of 1.00 s cut to the shot's 0.50 s (trim = true)"));
    json_decref(res);
    char h1[REEL_SHA256_HEX_SIZE], h2[REEL_SHA256_HEX_SIZE];
    int n1, n2;
    video_packets(film1, h1, &n1);
    video_packets(film2, h2, &n2);
    assert_int_equal(n1, 41 + 12 + 12 - 3 - 3); /* 1.7 s held, 0.5 s, 0.5 s; two 3-frame overlaps */
    assert_int_equal(n1, n2);
    assert_string_equal(h1, h2);
    reeli_probe p1 = mt_probe(film1), p2 = mt_probe(film2);
    assert_true(p2.has_audio);
    assert_int_equal(p1.n_samples, p2.n_samples);
    /* parts must account for every input */
    assert_int_equal(mt_stage("render", rp, (const char *[]){a, ta, b, tb}, 4, film2, NULL),
                     REEL_EINVAL);
    assert_true(strstr(reel_last_error(), "the clips take 5 inputs, given 4") != NULL);
    free(cp), free(rp), free(a), free(b), free(c), free(ta), free(tb), free(wa), free(wb);
    free(joined), free(film1), free(film2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cut),         cmocka_unit_test(test_crossfade),
        cmocka_unit_test(test_mixed_rates), cmocka_unit_test(test_ffv1_inputs),
        cmocka_unit_test(test_render_join), cmocka_unit_test(test_render_join_narrated),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
