/* Finishing through libavfilter, decoded and measured: every xfade transition style renders
 * with the expected duration and a picture between its two shots, unknown names are refused
 * with the list; fades through black keep the sum of the shots; mixes and films reach their
 * loudness target (measured here by an ebur128 graph of the test's own); ducking lowers the
 * bed under the voice and lets it back. */
#include <math.h>
#include <stdlib.h>
#include <unistd.h>

#include <libavfilter/avfilter.h>
#include <libavfilter/buffersink.h>
#include <libavfilter/buffersrc.h>
#include <libavutil/channel_layout.h>

#include "media_testutil.h"

static char *dir, *shot[2], *quiet, *loud, *voice, *music, *long_shot;

static int setup(void **state)
{
    (void)state;
    dir = tu_tmpdir();
    const char *settings[2] = {"night forest", "sunset desert"};
    for (int i = 0; i < 2; i++) {
        char name[32], params[512];
        snprintf(name, sizeof name, "shot%d.mkv", i);
        shot[i] = mt_path(dir, name);
        snprintf(params, sizeof params,
                 "{\"plugin\":\"card\",\"title\":\"Shot %d\",\"setting\":\"%s\",\"width\":96,"
                 "\"height\":64,\"fps\":24,\"duration_s\":1,\"fade_s\":0}",
                 i + 1, settings[i]);
        if (mt_stage("video", params, NULL, 0, shot[i], NULL) < 0) return -1;
    }
    quiet = mt_path(dir, "quiet.wav");
    loud = mt_path(dir, "loud.wav");
    voice = mt_path(dir, "voice.wav");
    music = mt_path(dir, "music.wav");
    long_shot = mt_path(dir, "long.mkv");
    if (mt_stage("audio",
                 "{\"plugin\":\"tone\",\"frequency\":440,\"amplitude\":0.03,\"duration_s\":4}",
                 NULL, 0, quiet, NULL) < 0 ||
        mt_stage("audio",
                 "{\"plugin\":\"tone\",\"frequency\":330,\"amplitude\":0.9,\"duration_s\":4}", NULL,
                 0, loud, NULL) < 0 ||
        mt_stage("audio",
                 "{\"plugin\":\"tone\",\"frequency\":1000,\"amplitude\":0.3,"
                 "\"duration_s\":0.5,\"fade_s\":0}",
                 NULL, 0, voice, NULL) < 0 ||
        mt_stage("audio",
                 "{\"plugin\":\"tone\",\"frequency\":220,\"amplitude\":0.3,"
                 "\"duration_s\":2,\"fade_s\":0}",
                 NULL, 0, music, NULL) < 0 ||
        mt_stage("video",
                 "{\"plugin\":\"card\",\"title\":\"Long\",\"width\":96,\"height\":64,"
                 "\"fps\":12,\"duration_s\":4}",
                 NULL, 0, long_shot, NULL) < 0)
        return -1;
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    tu_rmtree(dir);
    for (int i = 0; i < 2; i++) free(shot[i]);
    free(quiet);
    free(loud);
    free(voice);
    free(music);
    free(long_shot);
    free(dir);
    return 0;
}

/* Sum of |a - b| over the luma plane. */
static long luma_diff(const AVFrame *a, const AVFrame *b)
{
    long d = 0;
    for (int y = 0; y < a->height; y++)
        for (int x = 0; x < a->width; x++)
            d += abs(a->data[0][y * a->linesize[0] + x] - b->data[0][y * b->linesize[0] + x]);
    return d;
}

/* Frame k of path (decoded; a copy the caller frees). */
static AVFrame *frame_at(const char *path, int k)
{
    reeli_vr *r = reeli_vr_open(path, 0, 0, (AVRational){0, 0});
    assert_non_null(r);
    AVFrame *f = NULL;
    for (int i = 0; i <= k; i++) assert_int_equal(reeli_vr_next(r, &f), 1);
    AVFrame *c = av_frame_clone(f);
    assert_int_equal(av_frame_make_writable(c), 0);
    reeli_vr_free(r);
    return c;
}

static void test_every_xfade_style(void **state)
{
    (void)state;
    char *out = mt_path(dir, "x.mkv");
    const char *in[2] = {shot[0], shot[1]};
    AVFrame *a = frame_at(shot[0], 21), *b = frame_at(shot[1], 3);
    const char *const *st = reel_stage_transition_styles();
    int n = 0;
    for (; st[n]; n++) {
        char params[160];
        /* the style as the transition, and as crossfade's style */
        snprintf(params, sizeof params,
                 n % 2 ? "{\"transition\":\"%s\",\"transition_s\":0.25}"
                       : "{\"transition\":\"crossfade\",\"style\":\"%s\",\"transition_s\":0.25}",
                 st[n]);
        assert_int_equal(mt_stage("concat", params, in, 2, out, NULL), 0);
        /* two 24-frame shots overlapping by 6 frames: 42 frames, 1.75 s */
        reeli_probe p = mt_probe(out);
        if (p.n_frames != 42)
            fprintf(stderr, "style %s: %lld frames\n", st[n], (long long)p.n_frames);
        assert_int_equal(p.n_frames, 42);
        assert_true(fabs(p.video_duration_s - 1.75) < 1e-6);
        /* mid-transition (output frame 21 = A[21] over B[3]) the picture is neither shot's */
        AVFrame *m = frame_at(out, 21);
        if (luma_diff(m, a) == 0 || luma_diff(m, b) == 0)
            fprintf(stderr, "style %s: mid frame equals a shot\n", st[n]);
        assert_true(luma_diff(m, a) > 0 && luma_diff(m, b) > 0);
        av_frame_free(&m);
        /* outside the transition the shots are untouched */
        m = frame_at(out, 10);
        AVFrame *a10 = frame_at(shot[0], 10);
        assert_int_equal(luma_diff(m, a10), 0);
        av_frame_free(&m);
        av_frame_free(&a10);
    }
    assert_true(n >= 40);
    /* at an NTSC rate (the reader converts the 24 fps shots: 30 frames each, 9 overlapping) */
    assert_int_equal(mt_stage("concat",
                              "{\"transition\":\"circleopen\",\"transition_s\":0.3,"
                              "\"fps\":\"30000/1001\"}",
                              in, 2, out, NULL),
                     0);
    reeli_probe p = mt_probe(out);
    assert_int_equal(p.n_frames, 30 + 30 - 9);
    /* one shot: nothing to join; a zero-length crossfade is a cut */
    assert_int_equal(mt_stage("concat", "{\"transition\":\"wipeup\"}", in, 1, out, NULL), 0);
    assert_int_equal(mt_probe(out).n_frames, 24);
    assert_int_equal(
        mt_stage("concat", "{\"transition\":\"crossfade\",\"transition_s\":0}", in, 2, out, NULL),
        0);
    assert_int_equal(mt_probe(out).n_frames, 48);
    av_frame_free(&a);
    av_frame_free(&b);
    free(out);
}

static void test_unknown_and_fade(void **state)
{
    (void)state;
    char *out = mt_path(dir, "f.mkv");
    const char *in[2] = {shot[0], shot[1]};
    assert_int_equal(mt_stage("concat", "{\"transition\":\"wipe\"}", in, 2, out, NULL),
                     REEL_EINVAL);
    assert_true(tu_contains(reel_last_error(), "stage concat: parameter 'transition': unknown "
                                               "transition \"wipe\""));
    assert_true(tu_contains(reel_last_error(), "wipeleft, wiperight"));
    assert_false(reel_file_exists(out));
    assert_int_equal(
        mt_stage("concat", "{\"transition\":\"crossfade\",\"style\":\"swirl\"}", in, 2, out, NULL),
        REEL_EINVAL);
    assert_true(tu_contains(reel_last_error(), "parameter 'style': unknown xfade style \"swirl\""));
    assert_int_equal(
        mt_stage("concat", "{\"transition\":\"fade\",\"style\":\"dissolve\"}", in, 2, out, NULL),
        REEL_EINVAL);
    assert_true(tu_contains(reel_last_error(), "parameter 'style'"));

    /* a fade through black: no overlap, 48 frames, black at the join, untouched in the middle */
    assert_int_equal(
        mt_stage("concat", "{\"transition\":\"fade\",\"transition_s\":0.5}", in, 2, out, NULL), 0);
    reeli_probe p = mt_probe(out);
    assert_int_equal(p.n_frames, 48);
    AVFrame *j = frame_at(out, 23), *mid = frame_at(out, 10), *a10 = frame_at(shot[0], 10);
    long y = 0;
    for (int r = 0; r < j->height; r++)
        for (int x = 0; x < j->width; x++) y += j->data[0][r * j->linesize[0] + x];
    assert_true(y / (j->width * j->height) <= 20); /* (limited-range black is 16) */
    assert_int_equal(luma_diff(mid, a10), 0);
    av_frame_free(&j);
    av_frame_free(&mid);
    av_frame_free(&a10);
    free(out);
}

/* EBU R128 of a file's audio, by a graph built here (abuffer -> ebur128 -> abuffersink), so
 * that the figure does not come from the code under test: integrated loudness and the highest
 * true peak (dBTP). */
static void r128(const char *path, double *lufs, double *tp_db)
{
    float *pcm;
    int64_t n;
    assert_int_equal(reeli_audio_load(path, 48000, 2, &pcm, &n), 0);
    AVFilterGraph *g = avfilter_graph_alloc();
    AVFilterContext *src = NULL, *eb = NULL, *sink = NULL;
    assert_true(avfilter_graph_create_filter(
                    &src, avfilter_get_by_name("abuffer"), "src",
                    "sample_rate=48000:sample_fmt=flt:channel_layout=stereo:time_base=1/48000",
                    NULL, g) >= 0);
    assert_true(avfilter_graph_create_filter(&eb, avfilter_get_by_name("ebur128"), "eb",
                                             "metadata=1:peak=true", NULL, g) >= 0);
    assert_true(avfilter_graph_create_filter(&sink, avfilter_get_by_name("abuffersink"), "sink",
                                             NULL, NULL, g) >= 0);
    assert_true(avfilter_link(src, 0, eb, 0) >= 0 && avfilter_link(eb, 0, sink, 0) >= 0);
    assert_true(avfilter_graph_config(g, NULL) >= 0);
    AVFrame *f = av_frame_alloc();
    *lufs = -99;
    double tp = 0;
    for (int64_t pos = 0; pos <= n; pos += 1024) {
        if (pos < n) {
            f->format = AV_SAMPLE_FMT_FLT;
            f->sample_rate = 48000;
            av_channel_layout_default(&f->ch_layout, 2);
            f->nb_samples = (int)(n - pos < 1024 ? n - pos : 1024);
            f->pts = pos;
            assert_int_equal(av_frame_get_buffer(f, 0), 0);
            memcpy(f->data[0], pcm + pos * 2, (size_t)f->nb_samples * 8);
            assert_true(av_buffersrc_add_frame(src, f) >= 0);
        } else {
            assert_true(av_buffersrc_add_frame(src, NULL) >= 0);
        }
        while (av_buffersink_get_frame(sink, f) >= 0) {
            AVDictionaryEntry *e = av_dict_get(f->metadata, "lavfi.r128.I", NULL, 0);
            if (e) *lufs = atof(e->value);
            for (int c = 0; c < 2; c++) {
                char key[40];
                snprintf(key, sizeof key, "lavfi.r128.true_peaks_ch%d", c);
                if ((e = av_dict_get(f->metadata, key, NULL, 0)) && atof(e->value) > tp)
                    tp = atof(e->value);
            }
            av_frame_unref(f);
        }
    }
    *tp_db = 20 * log10(tp > 0 ? tp : 1e-9);
    av_frame_free(&f);
    avfilter_graph_free(&g);
    free(pcm);
}

static void test_loudness(void **state)
{
    (void)state;
    char *out = mt_path(dir, "n.wav");
    double i, tp;
    /* a quiet and a loud tone both end at the target, within 1 LU, peaks under the ceiling */
    const char *srcs[2] = {quiet, loud};
    const char *targets[3] = {"-14", "-23", "-16"};
    for (int s = 0; s < 2; s++)
        for (int t = 0; t < 3; t++) {
            const char *in[1] = {srcs[s]};
            char params[80];
            snprintf(params, sizeof params, "{\"normalize_db\":%s}", targets[t]);
            assert_int_equal(mt_stage("mix", params, in, 1, out, NULL), 0);
            r128(out, &i, &tp);
            fprintf(stderr, "%s -> %s LUFS: measured %.2f LUFS, %.2f dBTP\n", srcs[s], targets[t],
                    i, tp);
            assert_true(fabs(i - atof(targets[t])) <= 1.0);
            assert_true(tp <= -1.0 + 0.5);
        }
    r128(quiet, &i, &tp);
    assert_true(i < -30); /* the input really was far from the targets */
    assert_int_equal(
        mt_stage("mix", "{\"normalize_db\":-2}", (const char *[]){quiet}, 1, out, NULL),
        REEL_EINVAL);
    assert_true(tu_contains(reel_last_error(), "parameter 'normalize_db'"));

    /* the film: -14 LUFS by default, another target when asked, the mixed level with false */
    char *av = mt_path(dir, "av.mkv"), *mp4 = mt_path(dir, "l.mp4");
    assert_int_equal(mt_stage("with_audio", "{}", (const char *[]){long_shot, quiet}, 2, av, NULL),
                     0);
    assert_int_equal(mt_stage("render", "{}", (const char *[]){av}, 1, mp4, NULL), 0);
    r128(mp4, &i, &tp);
    fprintf(stderr, "film: %.2f LUFS, %.2f dBTP\n", i, tp);
    assert_true(fabs(i + 14) <= 1.0);
    assert_int_equal(mt_stage("render", "{\"loudness\":-20,\"true_peak_db\":-2}",
                              (const char *[]){av}, 1, mp4, NULL),
                     0);
    r128(mp4, &i, &tp);
    assert_true(fabs(i + 20) <= 1.0);
    assert_int_equal(mt_stage("render", "{\"loudness\":false}", (const char *[]){av}, 1, mp4, NULL),
                     0);
    double i0;
    r128(quiet, &i0, &tp);
    r128(mp4, &i, &tp);
    assert_true(fabs(i - i0) <= 1.0);
    assert_int_equal(
        mt_stage("render", "{\"loudness\":\"loud\"}", (const char *[]){av}, 1, mp4, NULL),
        REEL_EINVAL);
    assert_true(tu_contains(reel_last_error(), "parameter 'loudness'"));
    free(av);
    free(mp4);
    free(out);
}

/* pcm (have frames) padded with silence to n frames */
static float *fit_audio(float *pcm, int64_t have, int64_t n)
{
    float *b = realloc(pcm, (size_t)n * 2 * sizeof(float));
    assert_non_null(b);
    if (n > have) memset(b + have * 2, 0, (size_t)(n - have) * 2 * sizeof(float));
    return b;
}

static double rms(const float *a, const float *minus, int64_t from, int64_t to)
{
    double s = 0;
    for (int64_t k = from * 2; k < to * 2; k++) {
        double v = a[k] - (minus ? minus[k] : 0);
        s += v * v;
    }
    return sqrt(s / (double)((to - from) * 2));
}

static void test_ducking(void **state)
{
    (void)state;
    char *out = mt_path(dir, "duck.wav");
    const char *in[2] = {voice, music};
    assert_int_equal(mt_stage("mix", "{\"duck\":{\"voice\":0,\"amount_db\":-20,\"release_s\":0.1}}",
                              in, 2, out, NULL),
                     0);
    float *d, *v, *m;
    int64_t nd, nv, nm;
    assert_int_equal(reeli_audio_load(out, 48000, 2, &d, &nd), 0);
    assert_int_equal(reeli_audio_load(voice, 48000, 2, &v, &nv), 0);
    assert_int_equal(reeli_audio_load(music, 48000, 2, &m, &nm), 0);
    assert_int_equal(nd, 96000);
    assert_int_equal(nd, nm);
    v = fit_audio(v, nv, nd);
    /* the bed (the mix minus the voice) while the voice speaks: lower by 6..20.5 dB */
    double full = rms(m, NULL, 72000, 96000), under = rms(d, v, 9600, 21600);
    double db = 20 * log10(under / full);
    fprintf(stderr, "ducked by %.1f dB\n", db);
    assert_true(db < -6 && db > -20.5);
    /* well after the voice and the release: the music at full level */
    assert_true(fabs(20 * log10(rms(d, v, 72000, 96000) / full)) < 0.5);
    free(d);
    free(v);
    free(m);
    assert_int_equal(mt_stage("mix", "{\"duck\":{\"depth\":3}}", in, 2, out, NULL), REEL_EINVAL);
    assert_true(tu_contains(reel_last_error(), "parameter 'duck.depth': unknown"));
    free(out);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_xfade_style),
        cmocka_unit_test(test_unknown_and_fade),
        cmocka_unit_test(test_loudness),
        cmocka_unit_test(test_ducking),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
