/* Narration, captions and stream copy, decoded and measured: a long narration holds its shot
 * (or is cut, and reported, with trim); espeak's word timings become caption cues of a few
 * words, inside the film, never overlapping, within a frame of the TTS timings, in the
 * intermediate, the MP4 (mov_text) and the WebM (WebVTT) read back with libavformat; burnt-in
 * captions leave no subtitle stream; attaching audio and cues copies the video packets. */
#include <math.h>
#include <stdlib.h>
#include <unistd.h>

#include <libavcodec/avcodec.h>
#include <libavformat/avformat.h>
#include <libavutil/sha.h>

#include "media_testutil.h"

#define LONG_TEXT                                                                                  \
    "The lighthouse keeper climbed the stairs every evening, lit the great lamp, and watched "     \
    "the ships pass."

#define SHORT_TEXT "A cat sat by the window. It learned the stars."

static char *dir, *shot[2], *narr[2];
static json_t *words[2];

static int setup(void **state)
{
    (void)state;
    dir = tu_tmpdir();
    const char *texts[2] = {LONG_TEXT, SHORT_TEXT};
    for (int i = 0; i < 2; i++) {
        char name[32], params[512];
        snprintf(name, sizeof name, "shot%d.mkv", i);
        shot[i] = mt_path(dir, name);
        snprintf(params, sizeof params,
                 "{\"plugin\":\"card\",\"title\":\"Shot %d\",\"width\":96,\"height\":64,"
                 "\"fps\":24,\"duration_s\":1}",
                 i + 1);
        if (mt_stage("video", params, NULL, 0, shot[i], NULL) < 0) return -1;
        snprintf(name, sizeof name, "narr%d.wav", i);
        narr[i] = mt_path(dir, name);
        snprintf(params, sizeof params, "{\"plugin\":\"espeak\",\"text\":\"%s\"}", texts[i]);
        json_t *res = NULL;
        if (mt_stage("audio", params, NULL, 0, narr[i], &res) < 0) return -1;
        words[i] = json_incref(json_object_get(res, "words"));
        json_decref(res);
        if (json_array_size(words[i]) < 5) return -1;
    }
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    tu_rmtree(dir);
    for (int i = 0; i < 2; i++) {
        free(shot[i]);
        free(narr[i]);
        json_decref(words[i]);
    }
    free(dir);
    return 0;
}

typedef struct cue {
    double start, end;
} cue;

/* The subtitle packets of path, read back with libavformat (times in seconds); returns how
 * many (0 if there is no subtitle stream; *has_stream tells which). */
static size_t read_cues(const char *path, cue *out, size_t max, int *has_stream)
{
    AVFormatContext *fmt = NULL;
    assert_int_equal(avformat_open_input(&fmt, path, NULL, NULL), 0);
    assert_true(avformat_find_stream_info(fmt, NULL) >= 0);
    int idx = av_find_best_stream(fmt, AVMEDIA_TYPE_SUBTITLE, -1, -1, NULL, 0);
    *has_stream = idx >= 0;
    size_t n = 0;
    AVPacket *p = av_packet_alloc();
    while (idx >= 0 && av_read_frame(fmt, p) >= 0) {
        AVRational tb = fmt->streams[p->stream_index]->time_base;
        /* mov_text fills the gaps between cues with empty samples (2-byte length 0) */
        if (p->stream_index == idx && p->size > 2 && n < max)
            out[n++] = (cue){p->pts * av_q2d(tb), (p->pts + p->duration) * av_q2d(tb)};
        av_packet_unref(p);
    }
    av_packet_free(&p);
    avformat_close_input(&fmt);
    return n;
}

/* Every cue inside [0, film_s], in order and not overlapping (1 ms of rounding). */
static void check_cues(const cue *c, size_t n, double film_s)
{
    for (size_t i = 0; i < n; i++) {
        if (!(c[i].start >= 0 && c[i].end <= film_s + 0.001 && c[i].end > c[i].start))
            fail_msg("cue %zu: %.3f..%.3f outside the film of %.3f s", i, c[i].start, c[i].end,
                     film_s);
        if (i && c[i].start < c[i - 1].end - 0.001)
            fail_msg("cue %zu starts at %.3f before cue %zu ends at %.3f", i, c[i].start, i - 1,
                     c[i - 1].end);
    }
}

static void test_narration_holds_the_shot(void **state)
{
    (void)state;
    char *out = mt_path(dir, "held.mkv");
    const char *in[2] = {shot[0], narr[0]};
    reeli_probe a;
    assert_int_equal(reeli_media_probe(narr[0], 1, &a), 0);
    double narr_s = (double)a.n_samples / a.sample_rate;
    assert_true(narr_s > 5.5); /* the long narration on a 1 s shot */
    assert_int_equal(mt_stage("with_audio", "{}", in, 2, out, NULL), 0);
    reeli_probe p = mt_probe(out);
    fprintf(stderr, "narration %.2f s on a 1 s shot: shot of %.2f s\n", narr_s, p.video_duration_s);
    /* at least the narration plus the 0.5 s pad, to the next frame */
    assert_true(p.video_duration_s >= narr_s + 0.5 - 1e-6);
    assert_true(p.video_duration_s < narr_s + 0.5 + 1.0 / 24 + 1e-6);
    assert_true(p.video_duration_s >= 6.0);
    assert_int_equal(p.n_samples, p.n_frames * 2000); /* 48000 / 24 per frame */
    /* the audio is all there: its last second is not silence */
    float *pcm;
    int64_t n;
    assert_int_equal(reeli_audio_load(out, 48000, 2, &pcm, &n), 0);
    double e = 0;
    for (int64_t k = (int64_t)((narr_s - 1.5) * 48000) * 2; k < (int64_t)(narr_s * 48000) * 2; k++)
        e += pcm[k] * pcm[k];
    assert_true(e > 1);
    free(pcm);

    /* trim: the shot keeps its second, the narration is cut, and the stage says so */
    json_t *res = NULL;
    assert_int_equal(mt_stage("with_audio", "{\"trim\":true}", in, 2, out, &res), 0);
    p = mt_probe(out);
    assert_int_equal(p.n_frames, 24);
    assert_int_equal(p.n_samples, 48000);
    assert_true(tu_contains(json_string_value(json_object_get(res, "notice")), "cut to the shot"));
    json_decref(res);
    assert_int_equal(mt_stage("with_audio", "{\"trim\":1}", in, 2, out, NULL), REEL_EINVAL);
    assert_true(tu_contains(reel_last_error(), "parameter 'trim'"));
    free(out);
}

/* SHA-1 of each video packet of path, in order, into d (20 bytes each); returns the count. */
static int packet_digests(const char *path, uint8_t (*d)[20], int max)
{
    AVFormatContext *fmt = NULL;
    assert_int_equal(avformat_open_input(&fmt, path, NULL, NULL), 0);
    assert_true(avformat_find_stream_info(fmt, NULL) >= 0);
    int idx = av_find_best_stream(fmt, AVMEDIA_TYPE_VIDEO, -1, -1, NULL, 0);
    assert_true(idx >= 0);
    struct AVSHA *sha = av_sha_alloc();
    AVPacket *p = av_packet_alloc();
    int n = 0;
    while (av_read_frame(fmt, p) >= 0) {
        if (p->stream_index == idx && n < max) {
            av_sha_init(sha, 160);
            av_sha_update(sha, p->data, (unsigned)p->size);
            av_sha_final(sha, d[n++]);
        }
        av_packet_unref(p);
    }
    av_packet_free(&p);
    av_free(sha);
    avformat_close_input(&fmt);
    return n;
}

/* n frames of a moving gradient, 96x64 at 24 fps, as FFV1 with options reel's writer does not
 * use (version 1, Golomb-Rice coder, every frame a keyframe): a copy keeps these packets,
 * a decode and re-encode could not give them back. */
static void write_foreign_ffv1(const char *path, int n)
{
    AVFormatContext *fmt = NULL;
    assert_true(avformat_alloc_output_context2(&fmt, NULL, "matroska", path) >= 0);
    const AVCodec *codec = avcodec_find_encoder(AV_CODEC_ID_FFV1);
    AVCodecContext *c = avcodec_alloc_context3(codec);
    AVStream *st = avformat_new_stream(fmt, NULL);
    c->width = 96;
    c->height = 64;
    c->pix_fmt = AV_PIX_FMT_YUV420P;
    c->time_base = (AVRational){1, 24};
    c->framerate = (AVRational){24, 1};
    c->gop_size = 1;
    AVDictionary *o = NULL;
    av_dict_set(&o, "level", "1", 0);
    av_dict_set(&o, "coder", "0", 0);
    assert_true(avcodec_open2(c, codec, &o) >= 0);
    av_dict_free(&o);
    assert_true(avcodec_parameters_from_context(st->codecpar, c) >= 0);
    st->time_base = c->time_base;
    assert_true(avio_open(&fmt->pb, path, AVIO_FLAG_WRITE) >= 0);
    assert_true(avformat_write_header(fmt, NULL) >= 0);
    AVFrame *f = av_frame_alloc();
    AVPacket *p = av_packet_alloc();
    f->format = AV_PIX_FMT_YUV420P;
    f->width = 96;
    f->height = 64;
    assert_int_equal(av_frame_get_buffer(f, 0), 0);
    for (int k = 0; k <= n; k++) {
        if (k < n) {
            assert_int_equal(av_frame_make_writable(f), 0);
            for (int pl = 0; pl < 3; pl++)
                for (int y = 0; y < (pl ? 32 : 64); y++)
                    for (int x = 0; x < (pl ? 48 : 96); x++)
                        f->data[pl][y * f->linesize[pl] + x] =
                            (uint8_t)(x * 2 + y + k * 5 + pl * 40);
            f->pts = k;
        }
        assert_true(avcodec_send_frame(c, k < n ? f : NULL) >= 0);
        while (avcodec_receive_packet(c, p) == 0) {
            av_packet_rescale_ts(p, c->time_base, st->time_base);
            p->stream_index = 0;
            assert_true(av_interleaved_write_frame(fmt, p) >= 0);
        }
    }
    assert_true(av_write_trailer(fmt) >= 0);
    avio_closep(&fmt->pb);
    avformat_free_context(fmt);
    av_frame_free(&f);
    av_packet_free(&p);
    avcodec_free_context(&c);
}

static void test_stream_copy(void **state)
{
    (void)state;
    char *av = mt_path(dir, "copy.mkv"), *sub = mt_path(dir, "copy-sub.mkv"),
         *src = mt_path(dir, "foreign.mkv");
    write_foreign_ffv1(src, 24);
    const char *in[2] = {src, narr[1]};
    assert_int_equal(mt_stage("with_audio", "{}", in, 2, av, NULL), 0);
    assert_int_equal(mt_stage("subtitles",
                              "{\"cues\":[{\"start_s\":0,\"end_s\":1,\"text\":\"x\"}]}",
                              (const char *[]){av}, 1, sub, NULL),
                     0);
    static uint8_t a[512][20], b[512][20], c[512][20];
    int na = packet_digests(src, a, 512), nb = packet_digests(av, b, 512),
        nc = packet_digests(sub, c, 512);
    assert_int_equal(na, 24);
    assert_true(nb > na); /* held for its narration: the last picture's packet again */
    assert_int_equal(nc, nb);
    for (int i = 0; i < nb; i++) {
        assert_memory_equal(b[i], a[i < na ? i : na - 1], 20);
        assert_memory_equal(c[i], b[i], 20);
    }
    /* and it still decodes: every frame, the held ones too */
    reeli_probe p = mt_probe(sub);
    assert_int_equal(p.n_frames, nb);
    free(src);
    free(av);
    free(sub);
}

static void test_word_captions(void **state)
{
    (void)state;
    char *av[2], *cat = mt_path(dir, "cat.mkv"), *sub = mt_path(dir, "sub.mkv"),
                 *mp4 = mt_path(dir, "cap.mp4"), *webm = mt_path(dir, "cap.webm"),
                 *burn = mt_path(dir, "burn.mkv"), *bmp4 = mt_path(dir, "burn.mp4");
    for (int i = 0; i < 2; i++) {
        av[i] = mt_path(dir, i ? "av1.mkv" : "av0.mkv");
        assert_int_equal(
            mt_stage("with_audio", "{}", (const char *[]){shot[i], narr[i]}, 2, av[i], NULL), 0);
    }
    assert_int_equal(mt_stage("concat", "{\"transition\":\"dissolve\",\"transition_s\":0.5}",
                              (const char *[]){av[0], av[1]}, 2, cat, NULL),
                     0);
    reeli_probe p0 = mt_probe(av[0]), pc = mt_probe(cat);
    double film_s = pc.video_duration_s, t1 = p0.video_duration_s - 0.5; /* shot 2 starts */
    /* the script's per-shot cues are only the fallback: the words win */
    assert_int_equal(mt_stage("subtitles",
                              "{\"words\":true,\"words_per_cue\":3,\"cues\":[{\"start_s\":0,"
                              "\"end_s\":1,\"text\":\"fallback\"}]}",
                              (const char *[]){cat}, 1, sub, NULL),
                     0);
    reeli_cue *cl;
    size_t ncl;
    assert_int_equal(reeli_subs_load(sub, &cl, &ncl), 0);
    size_t nw = json_array_size(words[0]) + json_array_size(words[1]);
    assert_true(ncl >= (nw + 2) / 3 && ncl < nw); /* at most 3 words a cue, several a cue */
    /* no word is lost (espeak reports no event for some) and punctuation stays */
    char all[1024] = "";
    for (size_t i = 0; i < ncl; i++)
        snprintf(all + strlen(all), sizeof all - strlen(all), "%s%s", i ? " " : "", cl[i].text);
    assert_string_equal(all, LONG_TEXT " " SHORT_TEXT);
    for (size_t i = 0; i < ncl; i++) {
        assert_false(tu_contains(cl[i].text, "fallback"));
    }
    /* the first cue of each shot starts within a frame of espeak's first word, shifted to
     * where the shot lands */
    double w0 = json_number_value(json_object_get(json_array_get(words[0], 0), "start_s"));
    double w1 = json_number_value(json_object_get(json_array_get(words[1], 0), "start_s"));
    assert_true(fabs(cl[0].start_s - w0) <= 1.0 / 24);
    int found = 0;
    for (size_t i = 0; i < ncl; i++) found |= fabs(cl[i].start_s - (t1 + w1)) <= 1.0 / 24;
    assert_true(found);
    reeli_cues_free(cl, ncl);
    cue c[512];
    int has;
    size_t n = read_cues(sub, c, 512, &has);
    assert_true(has && n >= nw / 3);
    check_cues(c, n, film_s);

    /* the films: mov_text in MP4, WebVTT in WebM, each cue inside, none overlapping */
    assert_int_equal(mt_stage("render", "{}", (const char *[]){sub}, 1, mp4, NULL), 0);
    reeli_probe pm = mt_probe(mp4);
    assert_string_equal(pm.scodec, "mov_text");
    size_t nm = read_cues(mp4, c, 512, &has);
    assert_true(has && nm == n);
    check_cues(c, nm, pm.video_duration_s);
    assert_int_equal(
        mt_stage("render", "{\"format\":\"webm\"}", (const char *[]){sub}, 1, webm, NULL), 0);
    reeli_probe pw = mt_probe(webm);
    assert_string_equal(pw.scodec, "webvtt");
    size_t nv = read_cues(webm, c, 512, &has);
    assert_true(has && nv == n);
    check_cues(c, nv, pw.video_duration_s);

    /* cues past the end are clipped or dropped; overlapping ones end where the next starts */
    assert_int_equal(mt_stage("subtitles",
                              "{\"cues\":[{\"start_s\":0.5,\"end_s\":3,\"text\":\"a\"},"
                              "{\"start_s\":2,\"end_s\":99,\"text\":\"b\"},"
                              "{\"start_s\":500,\"end_s\":501,\"text\":\"c\"}]}",
                              (const char *[]){cat}, 1, sub, NULL),
                     0);
    assert_int_equal(mt_stage("render", "{}", (const char *[]){sub}, 1, mp4, NULL), 0);
    nm = read_cues(mp4, c, 512, &has);
    assert_int_equal(nm, 2);
    check_cues(c, nm, film_s);
    assert_true(fabs(c[0].end - 2) < 0.002 && fabs(c[1].end - film_s) < 0.05);

    /* burnt in: no subtitle stream, in the intermediate or the film */
    assert_int_equal(mt_stage("subtitles", "{\"words\":true,\"burn\":true}", (const char *[]){cat},
                              1, burn, NULL),
                     0);
    reeli_probe pb = mt_probe(burn);
    assert_false(pb.has_subs);
    assert_int_equal(mt_stage("render", "{}", (const char *[]){burn}, 1, bmp4, NULL), 0);
    pb = mt_probe(bmp4);
    assert_false(pb.has_subs);
    assert_int_equal(read_cues(bmp4, c, 512, &has), 0);
    assert_false(has);

    /* words asked for where there are none, and no fallback cues */
    assert_int_equal(
        mt_stage("subtitles", "{\"words\":true}", (const char *[]){shot[0]}, 1, sub, NULL),
        REEL_EINVAL);
    assert_true(tu_contains(reel_last_error(), "no word timings"));
    for (int i = 0; i < 2; i++) free(av[i]);
    free(cat);
    free(sub);
    free(mp4);
    free(webm);
    free(burn);
    free(bmp4);
}

/* Pixels of frame k of path whose Cr is strongly red, in rows [y0, y1). */
static int red_pixels(const char *path, int k, int y0, int y1)
{
    reeli_vr *r = reeli_vr_open(path, 0, 0, (AVRational){0, 0});
    assert_non_null(r);
    AVFrame *f = NULL;
    for (int i = 0; i <= k; i++) assert_int_equal(reeli_vr_next(r, &f), 1);
    int n = 0;
    for (int y = y0 / 2; y < y1 / 2; y++)
        for (int x = 0; x < f->width / 2; x++) n += f->data[2][y * f->linesize[2] + x] > 200;
    reeli_vr_free(r);
    return n;
}

static void test_caption_styles(void **state)
{
    (void)state;
    char *big = mt_path(dir, "big.mkv"), *av = mt_path(dir, "big-av.mkv"),
         *out = mt_path(dir, "styled.mkv");
    assert_int_equal(mt_stage("video",
                              "{\"plugin\":\"card\",\"title\":\" \",\"setting\":\"snow\","
                              "\"width\":320,\"height\":180,\"fps\":24,\"duration_s\":1}",
                              NULL, 0, big, NULL),
                     0);
    assert_int_equal(mt_stage("with_audio", "{}", (const char *[]){big, narr[1]}, 2, av, NULL), 0);
    int before_top = red_pixels(av, 12, 0, 60), before_bottom = red_pixels(av, 12, 120, 180);
    /* red captions at the top: red appears there, not at the bottom */
    assert_int_equal(mt_stage("subtitles",
                              "{\"words\":true,\"burn\":true,\"style\":{\"position\":\"top\","
                              "\"colour\":\"#FF0000\",\"size\":28,\"margin\":8}}",
                              (const char *[]){av}, 1, out, NULL),
                     0);
    assert_true(red_pixels(out, 12, 0, 60) > before_top + 40);
    assert_int_equal(red_pixels(out, 12, 120, 180), before_bottom);
    assert_false(mt_probe(out).has_subs);
    /* karaoke: white words that turn red as they are spoken, so a cue gains red over time */
    assert_int_equal(mt_stage("subtitles",
                              "{\"words\":true,\"burn\":true,\"words_per_cue\":4,"
                              "\"style\":{\"karaoke\":true,\"highlight\":\"#FF0000\","
                              "\"size\":28}}",
                              (const char *[]){av}, 1, out, NULL),
                     0);
    double w1 = json_number_value(json_object_get(json_array_get(words[1], 1), "start_s"));
    double w3 = json_number_value(json_object_get(json_array_get(words[1], 3), "start_s"));
    int early = red_pixels(out, (int)(w1 * 24) + 1, 90, 180);
    int late = red_pixels(out, (int)(w3 * 24) + 1, 90, 180);
    fprintf(stderr, "karaoke: %d red pixels at word 2, %d at word 4\n", early, late);
    assert_true(late > early + 20);
    /* bad styles name the member */
    assert_int_equal(mt_stage("subtitles",
                              "{\"words\":true,\"burn\":true,\"style\":{\"colour\":\"red\"}}",
                              (const char *[]){av}, 1, out, NULL),
                     REEL_EINVAL);
    assert_true(tu_contains(reel_last_error(), "parameter 'style.colour'"));
    assert_int_equal(mt_stage("subtitles", "{\"words\":true,\"style\":{\"size\":20}}",
                              (const char *[]){av}, 1, out, NULL),
                     REEL_EINVAL);
    assert_true(tu_contains(reel_last_error(), "only with burn = true"));
    free(big);
    free(av);
    free(out);
}

/* reel run: a trimmed narration is reported as an event and in the log. */
static void test_trim_reported(void **state)
{
    (void)state;
    char *script = mt_path(dir, "trim.lua"), *events = mt_path(dir, "ev.jsonl");
    const char *lua = "local v = reel.video{plugin='card', title='x', width=96, height=64, fps=12, "
                      "duration_s=1}\n"
                      "local a = reel.audio{plugin='espeak', text='" LONG_TEXT "'}\n"
                      "local held = v:with_audio(a)\n"
                      "local cut = v:with_audio(a, {trim=true})\n"
                      "assert(reel.render(reel.concat{held, cut}, 'trim.mp4'))\n";
    tu_write_file(script, lua, strlen(lua));
    char *argv[] = {(char *)tu_reel_bin(),
                    "run",
                    script,
                    "--out",
                    dir,
                    "--events",
                    events,
                    "--jobs",
                    "1",
                    NULL};
    tu_result r = tu_run(argv, NULL);
    if (r.status != 0) fprintf(stderr, "%s\n", r.err);
    assert_int_equal(r.status, 0);
    assert_true(tu_contains(r.err, "cut to the shot's 1.00 s (trim = true)"));
    tu_result_free(&r);
    char *data;
    size_t size;
    assert_int_equal(reel_file_read(events, 0, &data, &size), 0);
    assert_true(tu_contains(data, "\"event\":\"node_notice\""));
    free(data);
    char *mp4 = mt_path(dir, "trim.mp4");
    reeli_probe p = mt_probe(mp4);
    assert_true(p.video_duration_s > 7); /* the held shot (>= 6.5 s) and the cut one (1 s) */
    free(mp4);
    free(script);
    free(events);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_narration_holds_the_shot),
        cmocka_unit_test(test_stream_copy),
        cmocka_unit_test(test_word_captions),
        cmocka_unit_test(test_caption_styles),
        cmocka_unit_test(test_trim_reported),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
