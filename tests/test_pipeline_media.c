/* Media stages end to end on tiny inputs: concat with transitions (durations), mix with ducking
 * and normalisation, with_audio, subtitles (soft and burnt in), and the final MP4/WebM checked
 * with libavformat (streams, frame count, duration, metadata). */
#include <math.h>
#include <stdlib.h>
#include <unistd.h>

#include <libavformat/avformat.h>

#include "media_testutil.h"

static char *dir, *shot[3], *music, *voice, *narr;

static int setup(void **state)
{
    (void)state;
    dir = tu_tmpdir();
    const char *settings[3] = {"night forest", "sunset desert", "snow city"};
    for (int i = 0; i < 3; i++) {
        char name[32], params[512];
        snprintf(name, sizeof name, "shot%d.mkv", i);
        shot[i] = mt_path(dir, name);
        snprintf(params, sizeof params,
                 "{\"plugin\":\"card\",\"title\":\"Shot %d\",\"setting\":\"%s\",\"width\":160,"
                 "\"height\":90,\"fps\":24,\"duration_s\":1,\"fade_s\":0}",
                 i + 1, settings[i]);
        if (mt_stage("video", params, NULL, 0, shot[i], NULL) < 0) return -1;
    }
    music = mt_path(dir, "music.wav");
    voice = mt_path(dir, "voice.wav");
    narr = mt_path(dir, "narr.wav");
    if (mt_stage("audio",
                 "{\"plugin\":\"tone\",\"frequency\":220,\"amplitude\":0.3,"
                 "\"duration_s\":2,\"fade_s\":0}",
                 NULL, 0, music, NULL) < 0 ||
        mt_stage("audio",
                 "{\"plugin\":\"tone\",\"frequency\":1000,\"amplitude\":0.3,"
                 "\"duration_s\":0.5,\"fade_s\":0}",
                 NULL, 0, voice, NULL) < 0 ||
        mt_stage("audio", "{\"plugin\":\"espeak\",\"text\":\"Three shots and a song.\"}", NULL, 0,
                 narr, NULL) < 0)
        return -1;
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    tu_rmtree(dir);
    for (int i = 0; i < 3; i++) free(shot[i]);
    free(music);
    free(voice);
    free(narr);
    free(dir);
    return 0;
}

static double rms(const float *pcm, int64_t from, int64_t to)
{
    double s = 0;
    for (int64_t i = from * 2; i < to * 2; i++) s += (double)pcm[i] * pcm[i];
    return sqrt(s / (double)((to - from) * 2));
}

static void test_concat_transitions(void **state)
{
    (void)state;
    char *out = mt_path(dir, "cat.mkv");
    const char *in[3] = {shot[0], shot[1], shot[2]};
    /* crossfade: 3 x 24 frames with two 6-frame overlaps = 60 frames = 2.5 s */
    assert_int_equal(mt_stage("concat", "{\"transition\":\"crossfade\",\"transition_s\":0.25}", in,
                              3, out, NULL),
                     0);
    reeli_probe p = mt_probe(out);
    assert_int_equal(p.n_frames, 3 * 24 - 2 * 6);
    assert_true(fabs(p.duration_s - 2.5) < 1.0 / 24 + 1e-6);
    assert_int_equal(p.width, 160);
    assert_int_equal(p.height, 90);
    /* mid-crossfade frame (index 20 of the output) lies between the two shots' pictures */
    reeli_vr *a = reeli_vr_open(shot[0], 0, 0, (AVRational){0, 0});
    reeli_vr *b = reeli_vr_open(shot[1], 0, 0, (AVRational){0, 0});
    reeli_vr *c = reeli_vr_open(out, 0, 0, (AVRational){0, 0});
    AVFrame *fa = NULL, *fb = NULL, *fc = NULL;
    for (int k = 0; k <= 21; k++) assert_int_equal(reeli_vr_next(a, &fa), 1);
    for (int k = 0; k <= 3; k++) assert_int_equal(reeli_vr_next(b, &fb), 1);
    for (int k = 0; k <= 21; k++) assert_int_equal(reeli_vr_next(c, &fc), 1);
    /* output frame 21 = 0.5*A[21] + 0.5*B[3] within rounding (xfade's "fade" at step 3 of 6) */
    int px = 5 * fa->linesize[0] + 5;
    double expect = fa->data[0][px] * 0.5 + fb->data[0][px] * 0.5;
    assert_true(fabs(fc->data[0][px] - expect) <= 2);
    assert_true(fa->data[0][px] != fb->data[0][px]);
    reeli_vr_free(a);
    reeli_vr_free(b);
    reeli_vr_free(c);

    /* fade through black and cut keep the sum */
    assert_int_equal(
        mt_stage("concat", "{\"transition\":\"fade\",\"transition_s\":0.5}", in, 3, out, NULL), 0);
    p = mt_probe(out);
    assert_int_equal(p.n_frames, 72);
    assert_int_equal(mt_stage("concat", "{\"transition\":\"cut\",\"size\":\"320x180\",\"fps\":12}",
                              in, 3, out, NULL),
                     0);
    p = mt_probe(out);
    assert_int_equal(p.n_frames, 36);
    assert_int_equal(p.width, 320);
    assert_true(fabs(p.duration_s - 3.0) < 1.0 / 12 + 1e-6);
    assert_int_equal(mt_stage("concat", "{\"transition\":\"wipe\"}", in, 3, out, NULL),
                     REEL_EINVAL);
    assert_true(tu_contains(reel_last_error(), "stage concat: parameter 'transition'"));
    free(out);
}

static void test_concat_with_audio(void **state)
{
    (void)state;
    char *av0 = mt_path(dir, "av0.mkv"), *av1 = mt_path(dir, "av1.mkv"),
         *out = mt_path(dir, "avcat.mkv");
    const char *i0[2] = {shot[0], music}, *i1[2] = {shot[1], voice};
    /* the music is longer than the shot: trim keeps the shot's length (without it the shot
     * would be held for the audio, see test_pipeline_media_captions) */
    assert_int_equal(mt_stage("with_audio", "{\"trim\":true}", i0, 2, av0, NULL), 0);
    assert_int_equal(mt_stage("with_audio", "{}", i1, 2, av1, NULL), 0);
    reeli_probe p = mt_probe(av0);
    assert_true(p.has_audio && p.has_video);
    assert_int_equal(p.n_frames, 24);
    assert_int_equal(p.n_samples, 48000); /* 2 s of music trimmed to the 1 s video */
    p = mt_probe(av1);
    assert_int_equal(p.n_samples, 48000); /* 0.5 s of voice padded to 1 s */
    const char *in[2] = {av0, av1};
    assert_int_equal(
        mt_stage("concat", "{\"transition\":\"crossfade\",\"transition_s\":0.5}", in, 2, out, NULL),
        0);
    p = mt_probe(out);
    assert_int_equal(p.n_frames, 36);
    assert_true(labs((long)p.n_samples - 72000) <= 1);
    free(av0);
    free(av1);
    free(out);
}

static void test_mix_duck_normalize(void **state)
{
    (void)state;
    char *plain = mt_path(dir, "mix.wav"), *ducked = mt_path(dir, "duck.wav"),
         *norm = mt_path(dir, "norm.wav");
    const char *in[2] = {voice, music};
    assert_int_equal(mt_stage("mix", "{}", in, 2, plain, NULL), 0);
    assert_int_equal(mt_stage("mix", "{\"duck\":{\"voice\":0,\"amount_db\":-20,\"release_s\":0.2}}",
                              in, 2, ducked, NULL),
                     0);
    assert_int_equal(mt_stage("mix", "{\"gains\":[0,1],\"normalize_db\":-20}", in, 2, norm, NULL),
                     0);
    float *a, *b, *c;
    int64_t na, nb, nc;
    assert_int_equal(reeli_audio_load(plain, 48000, 2, &a, &na), 0);
    assert_int_equal(reeli_audio_load(ducked, 48000, 2, &b, &nb), 0);
    assert_int_equal(reeli_audio_load(norm, 48000, 2, &c, &nc), 0);
    assert_int_equal(na, 96000); /* the longest input */
    assert_int_equal(nb, 96000);
    /* while the voice speaks: two 0.3 sines (~0.3 RMS); ducked, the music is lower (how much
     * is measured in test_pipeline_media_finish) */
    assert_true(fabs(rms(a, 4800, 21600) - 0.3) < 0.02);
    assert_true(rms(b, 4800, 21600) < rms(a, 4800, 21600) - 0.03);
    /* after the voice and the release: the music alone, at full level in both */
    assert_true(fabs(rms(b, 72000, 96000) - 0.212) < 0.01);
    assert_true(fabs(rms(a, 72000, 96000) - 0.212) < 0.01);
    /* normalize_db is an EBU R128 target (LUFS, measured in test_pipeline_media_finish): the
     * 0.3 sine (about -10 LUFS) comes down */
    assert_true(rms(c, 0, nc) < 0.2);
    free(a);
    free(b);
    free(c);
    assert_int_equal(mt_stage("mix", "{\"gains\":[1]}", in, 2, plain, NULL), REEL_EINVAL);
    assert_true(tu_contains(reel_last_error(), "stage mix: parameter 'gains'"));
    free(plain);
    free(ducked);
    free(norm);
}

/* Reads a format-level tag of path with libavformat ("" if absent; static buffer). */
static const char *tag(const char *path, const char *key)
{
    static char buf[512];
    AVFormatContext *fmt = NULL;
    buf[0] = 0;
    if (avformat_open_input(&fmt, path, NULL, NULL) < 0) return buf;
    AVDictionaryEntry *e = av_dict_get(fmt->metadata, key, NULL, 0);
    if (e) snprintf(buf, sizeof buf, "%s", e->value);
    avformat_close_input(&fmt);
    return buf;
}

static void test_film_mp4_and_webm(void **state)
{
    (void)state;
    char *cat = mt_path(dir, "film-cat.mkv"), *av = mt_path(dir, "film-av.mkv"),
         *sub = mt_path(dir, "film-sub.mkv"), *burn = mt_path(dir, "film-burn.mkv"),
         *mp4 = mt_path(dir, "film.mp4"), *webm = mt_path(dir, "film.webm");
    const char *in[3] = {shot[0], shot[1], shot[2]};
    assert_int_equal(mt_stage("concat", "{\"transition\":\"crossfade\",\"transition_s\":0.25}", in,
                              3, cat, NULL),
                     0);
    const char *pair[2] = {cat, narr};
    assert_int_equal(mt_stage("with_audio", "{}", pair, 2, av, NULL), 0);
    const char *one[1] = {av};
    const char *cues = "{\"cues\":[{\"start_s\":0.1,\"end_s\":1.2,\"text\":\"Three shots\"},"
                       "{\"start_s\":1.3,\"end_s\":2.4,\"text\":\"and a song.\\nThe end\"}]}";
    assert_int_equal(mt_stage("subtitles", cues, one, 1, sub, NULL), 0);
    reeli_probe p = mt_probe(sub);
    assert_true(p.has_subs && p.has_audio && p.has_video);
    reeli_cue *cl;
    size_t ncl;
    assert_int_equal(reeli_subs_load(sub, &cl, &ncl), 0);
    assert_int_equal(ncl, 2);
    assert_string_equal(cl[1].text, "and a song.\nThe end");
    assert_true(fabs(cl[0].start_s - 0.1) < 0.002 && fabs(cl[0].end_s - 1.2) < 0.002);
    reeli_cues_free(cl, ncl);

    const char *sone[1] = {sub};
    assert_int_equal(mt_stage("render",
                              "{\"fps\":24,\"size\":\"160x90\",\"crf\":23,\"format\":\"mp4\","
                              "\"metadata\":{\"title\":\"Tiny film\",\"pipeline_hash\":\"abc123\","
                              "\"model\":\"nemotron-tiny\",\"seeds\":[1,2,3]}}",
                              sone, 1, mp4, NULL),
                     0);
    p = mt_probe(mp4);
    assert_true(p.has_video && p.has_audio && p.has_subs);
    assert_string_equal(p.vcodec, "h264");
    assert_string_equal(p.acodec, "aac");
    assert_string_equal(p.scodec, "mov_text");
    assert_int_equal(p.width, 160);
    assert_int_equal(p.height, 90);
    assert_int_equal(p.n_frames, 60);
    assert_true(fabs(p.video_duration_s - 2.5) < 1.0 / 24 + 1e-6);
    assert_true(fabs(p.duration_s - 2.5) < 0.05);
    assert_int_equal(p.sample_rate, 48000);
    assert_string_equal(tag(mp4, "title"), "Tiny film");
    assert_string_equal(tag(mp4, "ai_generated"), "true");
    assert_string_equal(tag(mp4, "pipeline_hash"), "abc123");
    assert_string_equal(tag(mp4, "model"), "nemotron-tiny");
    assert_string_equal(tag(mp4, "seeds"), "[1,2,3]");
    assert_true(tu_contains(tag(mp4, "comment"), "AI-generated"));

    assert_int_equal(mt_stage("render",
                              "{\"format\":\"webm\",\"size\":[192,108],\"fps\":12,"
                              "\"metadata\":{\"title\":\"Tiny\"}}",
                              sone, 1, webm, NULL),
                     0);
    p = mt_probe(webm);
    assert_string_equal(p.vcodec, "vp9");
    assert_string_equal(p.acodec, "opus");
    assert_string_equal(p.scodec, "webvtt");
    assert_int_equal(p.width, 192);
    assert_int_equal(p.n_frames, 30);
    assert_string_equal(tag(webm, "ai_generated"), "true");

    /* burnt-in subtitles change the picture where the text is */
    assert_int_equal(mt_stage("subtitles",
                              "{\"cues\":[{\"start_s\":0,\"end_s\":2,\"text\":"
                              "\"HELLO HELLO\"}],\"burn\":true}",
                              one, 1, burn, NULL),
                     0);
    reeli_vr *x = reeli_vr_open(av, 0, 0, (AVRational){0, 0});
    reeli_vr *y = reeli_vr_open(burn, 0, 0, (AVRational){0, 0});
    AVFrame *fx, *fy;
    for (int k = 0; k < 12; k++) {
        assert_int_equal(reeli_vr_next(x, &fx), 1);
        assert_int_equal(reeli_vr_next(y, &fy), 1);
    }
    long diff = 0;
    for (int r = 0; r < 90; r++)
        for (int q = 0; q < 160; q++)
            diff +=
                abs(fx->data[0][r * fx->linesize[0] + q] - fy->data[0][r * fy->linesize[0] + q]);
    assert_true(diff > 160 * 90 / 4);
    reeli_vr_free(x);
    reeli_vr_free(y);

    /* bad parameters name the parameter */
    assert_int_equal(mt_stage("render", "{\"size\":\"161x90\"}", sone, 1, mp4, NULL), REEL_EINVAL);
    assert_true(tu_contains(reel_last_error(), "stage render: parameter 'size'"));
    assert_false(reel_file_exists(mp4));
    assert_int_equal(mt_stage("render", "{\"format\":\"avi\"}", sone, 1, mp4, NULL), REEL_EINVAL);
    assert_int_equal(mt_stage("subtitles",
                              "{\"cues\":[{\"start_s\":2,\"end_s\":1,\"text\":\"x\"}]}", one, 1,
                              burn, NULL),
                     REEL_EINVAL);
    assert_true(tu_contains(reel_last_error(), "parameter 'cues[0]'"));
    free(cat);
    free(av);
    free(sub);
    free(burn);
    free(mp4);
    free(webm);
}

static void test_corrupt_input(void **state)
{
    (void)state;
    char *bad = mt_path(dir, "corrupt.mkv"), *out = mt_path(dir, "out.mkv");
    /* the first 2 KB of a real file, then garbage */
    char *data;
    size_t n;
    assert_int_equal(reel_file_read(shot[0], 0, &data, &n), 0);
    for (size_t i = 600; i < n; i++) data[i] = (char)(i * 7919);
    tu_write_file(bad, data, n);
    free(data);
    const char *in[2] = {shot[0], bad};
    int rc = mt_stage("concat", "{}", in, 2, out, NULL);
    assert_true(rc < 0);
    assert_true(tu_contains(reel_last_error(), "stage concat"));
    assert_false(reel_file_exists(out));
    tu_write_file(bad, "not media at all", 16);
    assert_true(mt_stage("render", "{}", (const char *[]){bad}, 1, out, NULL) < 0);
    assert_true(tu_contains(reel_last_error(), "corrupt.mkv"));
    free(bad);
    free(out);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_concat_transitions), cmocka_unit_test(test_concat_with_audio),
        cmocka_unit_test(test_mix_duck_normalize), cmocka_unit_test(test_film_mp4_and_webm),
        cmocka_unit_test(test_corrupt_input),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
