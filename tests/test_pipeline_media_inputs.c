/* The script's own media, decoded and measured: a music bed from a file (trimmed, looped,
 * faded), a video clip (trimmed, scaled, fps-converted), both keyed by their content and not
 * their path; a film's provenance names only the plugins and models that made it. */
#include <math.h>
#include <stdlib.h>
#include <unistd.h>

#include <libavformat/avformat.h>

#include "media_testutil.h"
#include "pipeline/graph-impl.h"
#include "pipeline/pipeline.h"

static char *dir, *tone, *clip;

static int setup(void **state)
{
    (void)state;
    dir = tu_tmpdir();
    tone = mt_path(dir, "tone.wav");
    clip = mt_path(dir, "clip.mkv");
    char *shot = mt_path(dir, "shot.mkv");
    int rc = mt_stage("audio",
                      "{\"plugin\":\"tone\",\"frequency\":440,\"amplitude\":0.5,\"duration_s\":1,"
                      "\"fade_s\":0}",
                      NULL, 0, tone, NULL);
    if (rc == 0)
        rc = mt_stage("video",
                      "{\"plugin\":\"card\",\"title\":\"Clip\",\"width\":160,\"height\":90,"
                      "\"fps\":24,\"duration_s\":2}",
                      NULL, 0, shot, NULL);
    if (rc == 0)
        rc = mt_stage("with_audio", "{\"trim\":true}", (const char *[]){shot, tone}, 2, clip, NULL);
    free(shot);
    return rc;
}

static int teardown(void **state)
{
    (void)state;
    tu_rmtree(dir);
    free(tone);
    free(clip);
    free(dir);
    return 0;
}

static double rms(const float *p, int64_t from, int64_t to)
{
    double s = 0;
    for (int64_t k = from * 2; k < to * 2; k++) s += (double)p[k] * p[k];
    return sqrt(s / (double)((to - from) * 2));
}

static void test_music_bed(void **state)
{
    (void)state;
    char *out = mt_path(dir, "bed.wav"), params[512];
    float *src, *o;
    int64_t ns, no;
    assert_int_equal(reeli_audio_load(tone, 48000, 2, &src, &ns), 0);
    assert_int_equal(ns, 48000);
    /* looped to 3.5 s, faded in over 0.5 s and out over 1 s */
    snprintf(params, sizeof params,
             "{\"path\":\"%s\",\"duration_s\":3.5,\"loop\":true,\"fade_in_s\":0.5,"
             "\"fade_out_s\":1}",
             tone);
    assert_int_equal(mt_stage("audio", params, NULL, 0, out, NULL), 0);
    assert_int_equal(reeli_audio_load(out, 48000, 2, &o, &no), 0);
    assert_int_equal(no, 168000);
    double full = rms(src, 0, 48000);
    assert_true(rms(o, 0, 480) < full / 20);                    /* fading in */
    assert_true(fabs(rms(o, 48000, 96000) / full - 1) < 0.01);  /* the second loop, full */
    assert_true(fabs(rms(o, 96000, 110000) / full - 1) < 0.01); /* the third, before the fade */
    assert_true(rms(o, 167000, 168000) < full / 10);            /* fading out */
    assert_true(fabs(o[48000 * 2 + 200] - src[200]) < 1e-3);    /* a loop starts over */
    free(o);
    /* trimmed from 0.25 s for 0.5 s, no loop: the very samples */
    snprintf(params, sizeof params, "{\"path\":\"%s\",\"start_s\":0.25,\"duration_s\":0.5}", tone);
    assert_int_equal(mt_stage("audio", params, NULL, 0, out, NULL), 0);
    assert_int_equal(reeli_audio_load(out, 48000, 2, &o, &no), 0);
    assert_int_equal(no, 24000);
    for (int64_t k = 0; k < no * 2; k += 997) assert_true(fabs(o[k] - src[12000 * 2 + k]) < 1e-3);
    free(o);
    /* not looped: no longer than the file */
    snprintf(params, sizeof params, "{\"path\":\"%s\",\"duration_s\":5}", tone);
    assert_int_equal(mt_stage("audio", params, NULL, 0, out, NULL), 0);
    assert_int_equal(reeli_audio_load(out, 48000, 2, &o, &no), 0);
    assert_int_equal(no, 48000);
    free(o);
    free(src);
    /* bad parameters name themselves */
    snprintf(params, sizeof params, "{\"path\":\"%s\",\"start_s\":9}", tone);
    assert_int_equal(mt_stage("audio", params, NULL, 0, out, NULL), REEL_EINVAL);
    assert_true(tu_contains(reel_last_error(), "parameter 'start_s'"));
    snprintf(params, sizeof params, "{\"path\":\"%s\",\"speed\":2}", tone);
    assert_int_equal(mt_stage("audio", params, NULL, 0, out, NULL), REEL_EINVAL);
    assert_true(tu_contains(reel_last_error(), "parameter 'speed': unknown"));
    free(out);
}

static void test_clip(void **state)
{
    (void)state;
    char *out = mt_path(dir, "c.mkv"), params[512];
    snprintf(params, sizeof params,
             "{\"path\":\"%s\",\"start_s\":0.5,\"duration_s\":1,\"width\":96,\"height\":96,"
             "\"fps\":12}",
             clip);
    assert_int_equal(mt_stage("video", params, NULL, 0, out, NULL), 0);
    reeli_probe p = mt_probe(out);
    assert_int_equal(p.n_frames, 12);
    assert_int_equal(p.width, 96);
    assert_int_equal(p.height, 96);
    assert_int_equal(p.fps.num / p.fps.den, 12);
    assert_true(p.has_audio);
    assert_int_equal(p.n_samples, 48000);
    /* its sound is the clip's from 0.5 s on */
    float *a, *b;
    int64_t na, nb;
    assert_int_equal(reeli_audio_load(clip, 48000, 2, &a, &na), 0);
    assert_int_equal(reeli_audio_load(out, 48000, 2, &b, &nb), 0);
    for (int64_t k = 0; k < 24000 * 2; k += 1009) assert_true(fabs(b[k] - a[24000 * 2 + k]) < 1e-3);
    free(a);
    free(b);
    /* a corrupt clip is refused with its name */
    char *bad = mt_path(dir, "bad.mp4");
    tu_write_file(bad, "not a video", 11);
    snprintf(params, sizeof params, "{\"path\":\"%s\"}", bad);
    assert_true(mt_stage("video", params, NULL, 0, out, NULL) < 0);
    assert_true(tu_contains(reel_last_error(), "bad.mp4"));
    assert_false(reel_file_exists(out));
    free(bad);
    free(out);
}

/* Nodes reading a file are keyed by its content: another name, the same key. */
static void test_keyed_by_content(void **state)
{
    (void)state;
    reeli_graph g;
    reeli_graph_init(&g);
    const char *digests[3] = {"aa", "aa", "bb"};
    const char *paths[3] = {"/x/song.wav", "/y/other-name.wav", "/x/song.wav"};
    for (int i = 0; i < 3; i++) {
        json_t *p = json_pack("{s:s, s:f}", "path", paths[i], "duration_s", 3.0);
        int id = reeli_graph_add(&g, "audio", p, NULL, 0, NULL, "t.lua:1");
        reeli_graph_node(&g, id)->file_digest = reel_xstrdup(digests[i]);
        assert_int_equal(reeli_graph_key(&g, id, reel_pipeline_default_runner()), 0);
    }
    assert_string_equal(reeli_graph_node(&g, 1)->key, reeli_graph_node(&g, 2)->key);
    assert_string_not_equal(reeli_graph_node(&g, 1)->key, reeli_graph_node(&g, 3)->key);
    reeli_graph_free(&g);
}

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

/* reel run: a film from a clip and a music bed; the same song under two names is one node;
 * the tags name the plugins used and no model (none gave text, though --model was given). */
static void test_run_and_provenance(void **state)
{
    (void)state;
    char *script = mt_path(dir, "inputs.lua"), *events = mt_path(dir, "ev.jsonl");
    char *copy = mt_path(dir, "same-song.wav");
    char *data;
    size_t n;
    assert_int_equal(reel_file_read(tone, 0, &data, &n), 0);
    tu_write_file(copy, data, n);
    free(data);
    const char *lua =
        "local c = reel.video{path='clip.mkv', duration_s=1.5, width=96, height=64, fps=12}\n"
        "local a = reel.audio{path='tone.wav', duration_s=1.5, loop=true, fade_out_s=0.5}\n"
        "local b = reel.audio{path='same-song.wav', duration_s=1.5, loop=true, fade_out_s=0.5}\n"
        "local card = reel.video{plugin='card', title='t', width=96, height=64, fps=12, "
        "duration_s=1}\n"
        "local film = reel.concat{c:with_audio(reel.mix{a, b}, {trim=true}), card, "
        "transition='wipeleft'}\n"
        "assert(reel.render(film, 'in.mp4'))\n";
    tu_write_file(script, lua, strlen(lua));
    char *argv[] = {
        (char *)tu_reel_bin(), "run", script, "--out", dir, "--events", events, "--model",
        "not-opened.gguf",     NULL};
    tu_result r = tu_run(argv, NULL);
    if (r.status != 0) fprintf(stderr, "%s\n", r.err);
    assert_int_equal(r.status, 0);
    tu_result_free(&r);
    char *mp4 = mt_path(dir, "in.mp4");
    reeli_probe p = mt_probe(mp4);
    assert_int_equal(p.n_frames, 18 + 12 - 6); /* 1.5 s + 1 s, a 0.5 s wipe */
    assert_string_equal(tag(mp4, "plugins"), "card");
    assert_string_equal(tag(mp4, "model"), "");
    assert_false(tu_contains(tag(mp4, "comment"), "not-opened"));
    assert_string_equal(tag(mp4, "ai_generated"), "true");
    /* the two names of one song are one key (what the cache stores it under) */
    assert_int_equal(reel_file_read(events, 0, &data, &n), 0);
    char keys[2][80] = {"", ""};
    int audio_done = 0;
    for (char *l = strtok(data, "\n"); l; l = strtok(NULL, "\n")) {
        const char *k = strstr(l, "\"key\":\"");
        if (strstr(l, "\"event\":\"node_done\"") && strstr(l, "\"kind\":\"audio\"") && k &&
            audio_done < 2)
            snprintf(keys[audio_done++], sizeof keys[0], "%.64s", k + 7);
    }
    free(data);
    assert_int_equal(audio_done, 2);
    assert_string_equal(keys[0], keys[1]);
    free(mp4);
    free(copy);
    free(script);
    free(events);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_music_bed),
        cmocka_unit_test(test_clip),
        cmocka_unit_test(test_keyed_by_content),
        cmocka_unit_test(test_run_and_provenance),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
