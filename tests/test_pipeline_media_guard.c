/* What reel agrees to decode: a playlist disguised as an image (or handed over by a generator)
 * is refused with the path and what it really is, and reads nothing it names; a file that
 * declares or decodes to far more than the node asked for is refused before or while decoding.
 * Through the stage runner, the plugins (image, exec) and the real `reel run`. */
#include "media_testutil.h"

#include "core/grant.h"

#include <libavformat/avformat.h>
#include <poll.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <unistd.h>

static char *dir;

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

/* A w x h FFV1 Matroska file of n grey frames at fps (reel's own intermediate format). */
static void write_clip(const char *path, int w, int h, int fps, int n)
{
    reeli_mw_opts o = {.path = path,
                       .format = "matroska",
                       .width = w,
                       .height = h,
                       .fps = {fps, 1},
                       .vcodec = "ffv1"};
    reeli_mw *m = reeli_mw_open(&o);
    assert_non_null(m);
    AVFrame *f = av_frame_alloc();
    f->format = AV_PIX_FMT_YUV420P;
    f->width = w;
    f->height = h;
    assert_int_equal(av_frame_get_buffer(f, 0), 0);
    for (int p = 0; p < 3; p++) memset(f->data[p], 128, (size_t)f->linesize[p] * (p ? h / 2 : h));
    for (int i = 0; i < n; i++) {
        f->pts = i;
        assert_int_equal(reeli_mw_video(m, f), 0);
    }
    av_frame_free(&f);
    assert_int_equal(reeli_mw_close(m), 0);
}

/* An HLS playlist naming target, under a picture's name. */
static char *write_playlist(const char *name, const char *target)
{
    char *path = mt_path(dir, name);
    char *text = reel_xasprintf("#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:2\n"
                                "#EXTINF:1.0,\n%s\n#EXT-X-ENDLIST\n",
                                target);
    tu_write_file(path, text, strlen(text));
    free(text);
    return path;
}

/* Watches path for opens; returns the inotify descriptor. */
static int watch_opens(const char *path)
{
    int fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
    assert_true(fd >= 0);
    assert_true(inotify_add_watch(fd, path, IN_OPEN | IN_ACCESS) >= 0);
    return fd;
}

static int opened(int fd)
{
    char buf[4096];
    ssize_t n = read(fd, buf, sizeof buf);
    close(fd);
    return n > 0;
}

static void test_playlist_refused(void **state)
{
    (void)state;
    char *outside = tu_tmpdir();
    char *secret = mt_path(outside, "secret.mkv");
    write_clip(secret, 64, 64, 10, 10);
    char *png = write_playlist("innocent.png", secret);

    /* the fixture is a real threat: libav left to itself takes it for a playlist */
    AVFormatContext *raw = NULL;
    assert_int_equal(avformat_open_input(&raw, png, NULL, NULL), 0);
    assert_string_equal(raw->iformat->name, "hls");
    avformat_close_input(&raw);

    int w = watch_opens(secret);
    reeli_media_limits lim;
    reeli_media_limits_for(&lim, REEL_PLUGIN_KIND_IMAGE, NULL, 0, 0, 0);
    assert_int_equal(reeli_media_validate(png, REEL_PLUGIN_KIND_IMAGE, &lim), REEL_EFORMAT);
    assert_true(tu_contains(reel_last_error(), png));
    assert_true(tu_contains(reel_last_error(), "format 'hls'"));
    assert_true(tu_contains(reel_last_error(), "not accepted here"));

    /* the image plugin (reel.image{path=...}) */
    char *out = mt_path(dir, "img.mkv");
    char params[1024];
    snprintf(params, sizeof params, "{\"path\":\"%s\",\"duration_s\":1}", png);
    assert_int_equal(mt_stage("image", params, NULL, 0, out, NULL), REEL_EINVAL);
    assert_true(tu_contains(reel_last_error(), "format 'hls'"));
    assert_true(tu_contains(reel_last_error(), "not an image"));

    /* a generator's answer (exec here; a ComfyUI /view answer takes the same sink->file path) */
    char *gen = mt_path(dir, "gen.sh");
    char *body = reel_xasprintf("#!/bin/sh\ncp '%s' \"$1\"\n", png);
    tu_write_file(gen, body, strlen(body));
    chmod(gen, 0755);
    assert_int_equal(reel_grant_add("exec", gen), 0);
    snprintf(params, sizeof params,
             "{\"plugin\":\"exec\",\"argv\":[\"%s\",\"{out}\"],\"out_ext\":\".mp4\","
             "\"duration_s\":1}",
             gen);
    assert_true(mt_stage("video", params, NULL, 0, out, NULL) < 0);
    assert_true(tu_contains(reel_last_error(), "format 'hls'"));
    assert_false(reel_file_exists(out));
    assert_false(opened(w)); /* nothing it names was even opened */

    /* a stage's own inputs are Matroska or WAV only */
    const char *in[] = {png};
    assert_true(mt_stage("render", "{}", in, 1, out, NULL) < 0);
    assert_true(tu_contains(reel_last_error(), "format 'hls'"));

    /* a name is never a URL or a protocol, and a FIFO is not a file */
    AVFormatContext *fmt = NULL;
    assert_true(reeli_media_open("concat:/etc/passwd|/etc/passwd", &lim, &fmt) < 0);
    char *fifo = mt_path(dir, "fifo.png");
    assert_int_equal(mkfifo(fifo, 0600), 0);
    assert_int_equal(reeli_media_open(fifo, &lim, &fmt), REEL_EFORMAT);
    assert_true(tu_contains(reel_last_error(), "not a regular file"));
    assert_null(fmt);
    free(fifo);
    free(body);
    free(gen);
    free(out);
    free(png);
    free(secret);
    tu_rmtree(outside);
    free(outside);
}

static void test_bounds(void **state)
{
    (void)state;
    char *clip = mt_path(dir, "long.mkv");
    write_clip(clip, 64, 48, 10, 100); /* 10 s */
    json_t *asked = json_pack("{s:f,s:i}", "duration_s", 1.0, "fps", 10);
    reeli_media_limits lim;
    reeli_media_limits_for(&lim, REEL_PLUGIN_KIND_VIDEO, asked, 0, 0, 0);
    /* refused on its declared duration, before decoding */
    assert_int_equal(reeli_media_validate(clip, REEL_PLUGIN_KIND_VIDEO, &lim), REEL_ERANGE);
    assert_true(tu_contains(reel_last_error(), "lasts 10.00 s, longer than the 1.75 s allowed"));
    assert_true(tu_contains(reel_last_error(), "the node asked for 1 s at 10 fps"));
    /* and on what it decodes to, whatever it declares */
    reeli_media_limits_for(&lim, REEL_PLUGIN_KIND_VIDEO, NULL, 0, 0, 0);
    lim.max_frames = 5;
    assert_int_equal(reeli_media_validate(clip, REEL_PLUGIN_KIND_VIDEO, &lim), REEL_ERANGE);
    assert_true(tu_contains(reel_last_error(), "decodes to more than 5 frames"));
    reeli_vr *r = reeli_vr_open_bounded(clip, 0, 0, (AVRational){10, 1}, &lim);
    assert_non_null(r);
    AVFrame *f;
    int rc, n = 0;
    while ((rc = reeli_vr_next(r, &f)) > 0) n++;
    assert_int_equal(rc, REEL_ERANGE);
    assert_true(n <= 5);
    reeli_vr_free(r);
    /* a picture larger than asked (with its slack) */
    json_decref(asked);
    asked = json_pack("{s:i,s:i}", "width", 16, "height", 16);
    reeli_media_limits_for(&lim, REEL_PLUGIN_KIND_VIDEO, asked, 0, 0, 0);
    assert_int_equal(reeli_media_validate(clip, REEL_PLUGIN_KIND_VIDEO, &lim), REEL_ERANGE);
    assert_true(tu_contains(reel_last_error(), "the picture is 64x48, larger than the 32x32"));
    /* within bounds it is fine */
    json_decref(asked);
    asked = json_pack("{s:f}", "duration_s", 10.0);
    reeli_media_limits_for(&lim, REEL_PLUGIN_KIND_VIDEO, asked, 0, 0, 0);
    assert_int_equal(reeli_media_validate(clip, REEL_PLUGIN_KIND_VIDEO, &lim), 0);
    json_decref(asked);

    /* audio: 10 s of sound for a 1 s ask */
    char *wav = mt_path(dir, "long.wav");
    float *pcm = calloc((size_t)48000 * 10 * 2, sizeof(float));
    reeli_mw_opts o = {
        .path = wav, .format = "wav", .sample_rate = 48000, .channels = 2, .acodec = "pcm_s16le"};
    reeli_mw *m = reeli_mw_open(&o);
    assert_non_null(m);
    reeli_mw_set_audio(m, pcm, 48000 * 10);
    assert_int_equal(reeli_mw_close(m), 0);
    free(pcm);
    asked = json_pack("{s:f}", "duration_s", 1.0);
    reeli_media_limits_for(&lim, REEL_PLUGIN_KIND_AUDIO, asked, 0, 0, 0);
    assert_int_equal(reeli_media_validate(wav, REEL_PLUGIN_KIND_AUDIO, &lim), REEL_ERANGE);
    assert_true(tu_contains(reel_last_error(), "lasts 10.00 s"));
    float *got;
    int64_t ng;
    assert_int_equal(reeli_audio_load_bounded(wav, 8000, 1, &got, &ng, &lim), REEL_ERANGE);
    json_decref(asked);
    free(wav);
    free(clip);
}

/* The case: a generator answers a 1 s shot with a much longer clip. */
static void test_generator_answer_bounded(void **state)
{
    (void)state;
    char *clip = mt_path(dir, "answer.mkv");
    write_clip(clip, 64, 48, 24, 240); /* 10 s at 24 fps */
    char *gen = mt_path(dir, "long.sh");
    char *body = reel_xasprintf("#!/bin/sh\ncp '%s' \"$1\"\n", clip);
    tu_write_file(gen, body, strlen(body));
    chmod(gen, 0755);
    assert_int_equal(reel_grant_add("exec", gen), 0);
    char params[1024];
    snprintf(params, sizeof params,
             "{\"plugin\":\"exec\",\"argv\":[\"%s\",\"{out}\"],\"out_ext\":\".mkv\","
             "\"duration_s\":1,\"fps\":24}",
             gen);
    char *out = mt_path(dir, "shot.mkv");
    assert_true(mt_stage("video", params, NULL, 0, out, NULL) < 0);
    assert_true(tu_contains(reel_last_error(), "output file rejected"));
    assert_true(tu_contains(reel_last_error(), "lasts 10.00 s, longer than the 1.75 s allowed"));
    assert_false(reel_file_exists(out));
    /* asked for 10 s, the same answer is accepted */
    snprintf(params, sizeof params,
             "{\"plugin\":\"exec\",\"argv\":[\"%s\",\"{out}\"],\"out_ext\":\".mkv\","
             "\"duration_s\":10,\"fps\":24}",
             gen);
    assert_int_equal(mt_stage("video", params, NULL, 0, out, NULL), 0);
    free(out);
    free(body);
    free(gen);
    free(clip);
}

/* Through the real binary, as a user meets it. */
static void test_reel_run_refuses_playlist(void **state)
{
    (void)state;
    char *outside = tu_tmpdir();
    char *secret = mt_path(outside, "secret.mkv");
    write_clip(secret, 64, 64, 10, 10);
    char *png = write_playlist("innocent.png", secret);
    char *script = mt_path(dir, "img.lua");
    const char *text = "local i = reel.image{path='innocent.png', duration_s=1}\n"
                       "assert(reel.render(i, 'film.mp4'))\n";
    tu_write_file(script, text, strlen(text));
    int w = watch_opens(secret);
    char *const argv[] = {(char *)tu_reel_bin(), "run", script, "--out", dir, NULL};
    tu_result r = tu_run(argv, NULL);
    assert_int_equal(r.status, 1);
    assert_true(tu_contains(r.err, "reel: run: "));
    assert_true(tu_contains(r.err, "innocent.png: is Apple HTTP Live Streaming (format 'hls'), "
                                   "not an image"));
    assert_false(opened(w));
    char *film = mt_path(dir, "film.mp4");
    assert_false(reel_file_exists(film));
    tu_result_free(&r);
    free(film);
    free(script);
    free(png);
    free(secret);
    tu_rmtree(outside);
    free(outside);
}

int main(void)
{
    reeli_media_log_init();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_playlist_refused),
        cmocka_unit_test(test_bounds),
        cmocka_unit_test(test_generator_answer_bounded),
        cmocka_unit_test(test_reel_run_refuses_playlist),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
