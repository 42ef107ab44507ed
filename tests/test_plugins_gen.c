/* Built-in generator plugins: each one's output decoded and checked (size, rate, frame count,
 * sample rate, duration), plus the exec plugin's grants, process groups and failure handling. */
#include <errno.h>
#include <pthread.h>
#include <math.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "core/grant.h"
#include "core/proc.h"
#include "media_testutil.h"

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

static void test_card(void **state)
{
    (void)state;
    char *out = mt_path(dir, "card.mkv");
    assert_int_equal(mt_stage("video",
                              "{\"plugin\":\"card\",\"title\":\"The Lighthouse\","
                              "\"caption\":\"A keeper climbs the stairs at night while the storm "
                              "rolls in from the sea\",\"setting\":\"stormy night sea\","
                              "\"style\":\"noir\",\"width\":160,\"height\":90,\"fps\":24,"
                              "\"duration_s\":1,\"seed\":7}",
                              NULL, 0, out, NULL),
                     0);
    reeli_probe p = mt_probe(out);
    assert_true(p.has_video);
    assert_false(p.has_audio);
    assert_int_equal(p.width, 160);
    assert_int_equal(p.height, 90);
    assert_int_equal(p.fps.num * 1, 24 * p.fps.den);
    assert_int_equal(p.n_frames, 24);
    assert_true(fabs(p.duration_s - 1.0) < 1.0 / 24 + 1e-6);
    assert_string_equal(p.vcodec, "utvideo");

    /* deterministic: the same parameters give the same frames; another setting does not */
    char *again = mt_path(dir, "card2.mkv"), *other = mt_path(dir, "card3.mkv");
    assert_int_equal(mt_stage("video",
                              "{\"plugin\":\"card\",\"title\":\"The Lighthouse\","
                              "\"caption\":\"A keeper climbs the stairs at night while the storm "
                              "rolls in from the sea\",\"setting\":\"stormy night sea\","
                              "\"style\":\"noir\",\"width\":160,\"height\":90,\"fps\":24,"
                              "\"duration_s\":1,\"seed\":7}",
                              NULL, 0, again, NULL),
                     0);
    assert_int_equal(mt_stage("video",
                              "{\"plugin\":\"card\",\"title\":\"The Lighthouse\","
                              "\"setting\":\"sunny desert\",\"width\":160,\"height\":90,"
                              "\"fps\":24,\"duration_s\":1,\"seed\":7}",
                              NULL, 0, other, NULL),
                     0);
    reeli_vr *a = reeli_vr_open(out, 0, 0, (AVRational){0, 0});
    reeli_vr *b = reeli_vr_open(again, 0, 0, (AVRational){0, 0});
    reeli_vr *c = reeli_vr_open(other, 0, 0, (AVRational){0, 0});
    assert_non_null(a);
    assert_non_null(b);
    assert_non_null(c);
    AVFrame *fa, *fb, *fc;
    int same = 1, differs = 0;
    long luma_first = 0, luma_mid = 0;
    for (int k = 0; k < 24; k++) {
        assert_int_equal(reeli_vr_next(a, &fa), 1);
        assert_int_equal(reeli_vr_next(b, &fb), 1);
        assert_int_equal(reeli_vr_next(c, &fc), 1);
        for (int y = 0; y < 90; y++) {
            if (memcmp(fa->data[0] + y * fa->linesize[0], fb->data[0] + y * fb->linesize[0], 160))
                same = 0;
            if (memcmp(fa->data[0] + y * fa->linesize[0], fc->data[0] + y * fc->linesize[0], 160))
                differs = 1;
            for (int x = 0; x < 160; x++) {
                if (k == 0) luma_first += fa->data[0][y * fa->linesize[0] + x];
                if (k == 12) luma_mid += fa->data[0][y * fa->linesize[0] + x];
            }
        }
    }
    assert_true(same);
    assert_true(differs);
    /* fade in: the first frame is black (luma 16), the middle one is not */
    assert_true(luma_first <= 16L * 160 * 90 + 160 * 90 / 10);
    assert_true(luma_mid > luma_first + 160 * 90);
    reeli_vr_free(a);
    reeli_vr_free(b);
    reeli_vr_free(c);
    free(out);
    free(again);
    free(other);
}

static void test_tone_and_silence(void **state)
{
    (void)state;
    char *out = mt_path(dir, "tone.wav");
    assert_int_equal(mt_stage("audio",
                              "{\"plugin\":\"tone\",\"frequency\":440,\"amplitude\":0.5,"
                              "\"duration_s\":0.5,\"sample_rate\":22050}",
                              NULL, 0, out, NULL),
                     0);
    reeli_probe p = mt_probe(out);
    assert_true(p.has_audio);
    assert_false(p.has_video);
    assert_int_equal(p.sample_rate, 22050);
    assert_int_equal(p.channels, 1);
    assert_int_equal(p.n_samples, 11025);
    /* the tone is there: RMS of a 0.5 sine is ~0.35 */
    float *pcm;
    int64_t n;
    assert_int_equal(reeli_audio_load(out, 22050, 1, &pcm, &n), 0);
    double sum = 0;
    for (int64_t i = 0; i < n; i++) sum += pcm[i] * pcm[i];
    assert_true(fabs(sqrt(sum / n) - 0.3535) < 0.02);
    free(pcm);

    char *sil = mt_path(dir, "silence.wav");
    assert_int_equal(
        mt_stage("audio", "{\"plugin\":\"silence\",\"duration_s\":0.25}", NULL, 0, sil, NULL), 0);
    p = mt_probe(sil);
    assert_int_equal(p.sample_rate, 48000);
    assert_int_equal(p.channels, 2);
    assert_int_equal(p.n_samples, 12000);
    free(out);
    free(sil);
}

static void test_espeak(void **state)
{
    (void)state;
    char *out = mt_path(dir, "speech.wav");
    json_t *res = NULL;
    assert_int_equal(mt_stage("audio",
                              "{\"plugin\":\"espeak\",\"text\":\"Hello brave new world\","
                              "\"voice\":\"en\",\"rate\":180,\"pitch\":40}",
                              NULL, 0, out, &res),
                     0);
    reeli_probe p = mt_probe(out);
    assert_true(p.has_audio);
    assert_int_equal(p.channels, 1);
    assert_true(p.sample_rate > 8000);
    double dur = (double)p.n_samples / p.sample_rate;
    assert_true(dur > 0.5 && dur < 5);
    assert_non_null(res);
    json_t *words = json_object_get(res, "words");
    assert_int_equal(json_array_size(words), 4);
    assert_string_equal(json_string_value(json_object_get(json_array_get(words, 0), "word")),
                        "Hello");
    assert_string_equal(json_string_value(json_object_get(json_array_get(words, 3), "word")),
                        "world");
    double prev = -1;
    for (size_t i = 0; i < 4; i++) {
        double s = json_number_value(json_object_get(json_array_get(words, i), "start_s"));
        double e = json_number_value(json_object_get(json_array_get(words, i), "end_s"));
        assert_true(s > prev && e >= s && e <= dur + 0.01);
        prev = s;
    }
    assert_true(fabs(json_number_value(json_object_get(res, "duration_s")) - dur) < 0.01);
    json_decref(res);
    assert_int_equal(mt_stage("audio",
                              "{\"plugin\":\"espeak\",\"text\":\"hi\",\"voice\":\"xx-nope\"}", NULL,
                              0, out, NULL),
                     REEL_EINVAL);
    assert_true(tu_contains(reel_last_error(), "parameter 'voice'"));
    free(out);
}

/* A 64x48 binary PPM with a horizontal gradient. */
static char *write_ppm(void)
{
    char *path = mt_path(dir, "pic.ppm");
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    fprintf(f, "P6\n64 48\n255\n");
    for (int y = 0; y < 48; y++)
        for (int x = 0; x < 64; x++) {
            unsigned char px[3] = {(unsigned char)(x * 4), (unsigned char)(y * 5), 128};
            fwrite(px, 1, 3, f);
        }
    fclose(f);
    return path;
}

static void test_image(void **state)
{
    (void)state;
    char *pic = write_ppm(), *out = mt_path(dir, "image.mkv");
    char params[1024];
    snprintf(params, sizeof params,
             "{\"path\":\"%s\",\"width\":160,\"height\":90,\"fps\":25,\"duration_s\":2,"
             "\"motion\":\"kenburns\"}",
             pic);
    /* image stages default to the image plugin */
    assert_int_equal(mt_stage("image", params, NULL, 0, out, NULL), 0);
    reeli_probe p = mt_probe(out);
    assert_int_equal(p.width, 160);
    assert_int_equal(p.height, 90);
    assert_int_equal(p.n_frames, 50);
    assert_true(fabs(p.duration_s - 2.0) < 0.04 + 1e-6);
    /* Ken Burns moves: the first and last frames differ */
    reeli_vr *r = reeli_vr_open(out, 0, 0, (AVRational){0, 0});
    AVFrame *f;
    assert_int_equal(reeli_vr_next(r, &f), 1);
    int first = f->data[0][45 * f->linesize[0] + 10];
    for (int k = 1; k < 50; k++) assert_int_equal(reeli_vr_next(r, &f), 1);
    assert_int_equal(reeli_vr_next(r, &f), 0);
    assert_true(abs(first - f->data[0][45 * f->linesize[0] + 10]) > 2);
    reeli_vr_free(r);
    assert_int_equal(mt_stage("image", "{\"path\":\"/nonexistent/pic.png\"}", NULL, 0, out, NULL),
                     REEL_EINVAL);
    assert_true(tu_contains(reel_last_error(), "parameter 'path'"));
    free(pic);
    free(out);
}

/* Writes an executable shell script and grants it, as `reel run --allow-exec PATH` would. */
static char *write_script(const char *name, const char *body)
{
    char *path = mt_path(dir, name);
    char *text = reel_xasprintf("#!/bin/sh\n%s\n", body);
    tu_write_file(path, text, strlen(text));
    chmod(path, 0755);
    free(text);
    assert_int_equal(reel_grant_add("exec", path), 0);
    return path;
}

static void test_exec_ok(void **state)
{
    (void)state;
    /* a tiny y4m writer: W x H, F frames of mid grey */
    char *gen = write_script(
        "gen.sh",
        "w=$1; h=$2; n=$3; out=$4\n"
        "printf 'YUV4MPEG2 W%s H%s F12:1 Ip A1:1 C420jpeg\\n' $w $h > \"$out\"\n"
        "i=0; while [ $i -lt $n ]; do printf 'FRAME\\n' >> \"$out\";\n"
        "head -c $((w*h*3/2)) /dev/zero | tr '\\000' '\\200' >> \"$out\"; i=$((i+1)); done\n"
        "echo \"made $n frames for: $5\" >&2");
    char *out = mt_path(dir, "exec.mkv");
    char params[1024];
    snprintf(params, sizeof params,
             "{\"plugin\":\"exec\",\"argv\":[\"%s\",\"{width}\",\"{height}\",\"{frames}\","
             "\"{out}\",\"{prompt}\"],\"prompt\":\"a cat; rm -rf / $(whoami)\",\"width\":160,"
             "\"height\":90,\"frames\":18,\"fps\":12,\"out_ext\":\".y4m\",\"timeout_s\":30}",
             gen);
    assert_int_equal(mt_stage("video", params, NULL, 0, out, NULL), 0);
    reeli_probe p = mt_probe(out);
    assert_int_equal(p.width, 160);
    assert_int_equal(p.height, 90);
    assert_int_equal(p.n_frames, 18);
    assert_true(fabs(p.duration_s - 1.5) < 1.0 / 12 + 1e-6);
    free(gen);
    free(out);
}

static void test_exec_timeout_kills_group(void **state)
{
    (void)state;
    char *pidfile = mt_path(dir, "child.pid");
    char *body = reel_xasprintf("sleep 30 & echo $! > '%s'\necho working >&2\nsleep 30", pidfile);
    char *slow = write_script("slow.sh", body);
    char *out = mt_path(dir, "slow.mkv");
    char params[1024];
    snprintf(params, sizeof params, "{\"plugin\":\"exec\",\"argv\":[\"%s\"],\"timeout_s\":0.5}",
             slow);
    time_t t0 = time(NULL);
    assert_int_equal(mt_stage("video", params, NULL, 0, out, NULL), REEL_ETIMEDOUT);
    assert_true(time(NULL) - t0 < 10);
    assert_true(tu_contains(reel_last_error(), "timed out after 0.5 s"));
    assert_true(tu_contains(reel_last_error(), "working"));
    assert_false(reel_file_exists(out));
    /* the background child was in the killed process group */
    char *text;
    size_t n;
    assert_int_equal(reel_file_read(pidfile, 0, &text, &n), 0);
    pid_t child = (pid_t)atoi(text);
    free(text);
    assert_true(child > 1);
    int gone = 0;
    for (int i = 0; i < 100 && !gone; i++) {
        gone = kill(child, 0) != 0 && errno == ESRCH;
        if (!gone) usleep(20000);
    }
    assert_true(gone);
    free(pidfile);
    free(body);
    free(slow);
    free(out);
}

static void test_exec_failures(void **state)
{
    (void)state;
    char *out = mt_path(dir, "bad.mkv");
    char params[1024];
    /* exits non-zero: stderr is in the error */
    char *fail = write_script("fail.sh", "echo 'CUDA out of memory' >&2; exit 3");
    snprintf(params, sizeof params, "{\"plugin\":\"exec\",\"argv\":[\"%s\",\"{out}\"]}", fail);
    assert_int_equal(mt_stage("video", params, NULL, 0, out, NULL), REEL_EIO);
    assert_true(tu_contains(reel_last_error(), "exited with status 3"));
    assert_true(tu_contains(reel_last_error(), "CUDA out of memory"));
    /* writes garbage: rejected after decoding */
    char *junk = write_script("junk.sh", "echo 'this is not a video' > \"$1\"");
    snprintf(params, sizeof params, "{\"plugin\":\"exec\",\"argv\":[\"%s\",\"{out}\"]}", junk);
    assert_int_equal(mt_stage("video", params, NULL, 0, out, NULL), REEL_EIO);
    assert_true(tu_contains(reel_last_error(), "output file rejected"));
    /* exits 0 without a file */
    char *lazy = write_script("lazy.sh", "exit 0");
    snprintf(params, sizeof params, "{\"plugin\":\"exec\",\"argv\":[\"%s\"]}", lazy);
    assert_int_equal(mt_stage("video", params, NULL, 0, out, NULL), REEL_EIO);
    assert_true(tu_contains(reel_last_error(), "wrote no {out} file"));
    /* template errors and a missing command name the parameter */
    assert_int_equal(mt_stage("video", "{\"plugin\":\"exec\",\"argv\":[\"gen\",\"{nope}\"]}", NULL,
                              0, out, NULL),
                     REEL_EINVAL);
    assert_true(tu_contains(reel_last_error(), "parameter 'argv[1]': unknown placeholder {nope}"));
    assert_int_equal(mt_stage("video", "{\"plugin\":\"exec\",\"argv\":[\"/no/such/generator\"]}",
                              NULL, 0, out, NULL),
                     REEL_EINVAL);
    assert_true(tu_contains(reel_last_error(), "cannot run '/no/such/generator'"));
    assert_false(reel_file_exists(out));
    free(fail);
    free(junk);
    free(lazy);
    free(out);
}

/* A program runs only when the user granted it; the script cannot grant it. */
static void test_exec_needs_grant(void **state)
{
    (void)state;
    char *out = mt_path(dir, "pwned.mkv"), *marker = mt_path(dir, "pwned");
    char params[1024];
    snprintf(params, sizeof params, "{\"plugin\":\"exec\",\"argv\":[\"sh\",\"-c\",\"touch '%s'\"]}",
             marker);
    reel_grant_clear();
    assert_int_equal(mt_stage("video", params, NULL, 0, out, NULL), REEL_EINVAL);
    assert_true(tu_contains(reel_last_error(),
                            "program 'sh' is not allowed (reel run --allow-exec sh allows it)"));
    /* granting another program, or naming the program in the parameters, is not enough */
    assert_int_equal(reel_grant_add("exec", "true"), 0);
    assert_int_equal(mt_stage("video", params, NULL, 0, out, NULL), REEL_EINVAL);
    snprintf(params, sizeof params,
             "{\"plugin\":\"exec\",\"argv\":[\"sh\",\"-c\",\"touch '%s'\"],"
             "\"allow_exec\":[\"sh\"]}",
             marker);
    assert_int_equal(mt_stage("video", params, NULL, 0, out, NULL), REEL_EINVAL);
    assert_true(tu_contains(reel_last_error(), "parameter 'allow_exec'"));
    assert_false(reel_file_exists(marker));
    /* a bare name is granted by what PATH resolves it to; a path by its file */
    assert_true(reel_grant_allowed("exec", "true"));
    char *t = reel_grant_resolve_program("true");
    assert_non_null(t);
    assert_true(t[0] == '/');
    assert_true(reel_grant_allowed("exec", t));
    free(t);
    assert_false(reel_grant_allowed("exec", "false"));
    assert_false(reel_grant_allowed("net", "true"));
    assert_int_equal(reel_grant_add("exec", "no-such-program-anywhere"), REEL_ENOTFOUND);
    assert_true(tu_contains(reel_last_error(), "'no-such-program-anywhere': no such executable "
                                               "program in PATH"));
    /* hosts: HOST allows every port, HOST:PORT that port, names are compared without DNS */
    assert_int_equal(reel_grant_add("net", "GPU1.lan:8188"), 0);
    assert_int_equal(reel_grant_add("net", "[::1]"), 0);
    assert_true(reel_grant_allowed("net", "gpu1.lan:8188"));
    assert_false(reel_grant_allowed("net", "gpu1.lan:8189"));
    assert_true(reel_grant_allowed("net", "[::1]:9"));
    assert_false(reel_grant_allowed("net", "127.0.0.1:8188"));
    assert_int_equal(reel_grant_add("net", "a b"), REEL_EINVAL);
    assert_int_equal(reel_grant_add("net", "host:99999"), REEL_EINVAL);
    /* a relative path runs the file that was checked, though the child starts elsewhere */
    char cwd[4096];
    assert_non_null(getcwd(cwd, sizeof cwd));
    assert_int_equal(chdir(dir), 0);
    free(write_script("rel.sh", "exit 0"));
    int rc = mt_stage("video", "{\"plugin\":\"exec\",\"argv\":[\"./rel.sh\"]}", NULL, 0, out, NULL);
    assert_int_equal(chdir(cwd), 0);
    assert_int_equal(rc, REEL_EIO);
    assert_true(tu_contains(reel_last_error(), "'./rel.sh' exited 0 but wrote no {out} file"));
    reel_grant_clear();
    free(out);
    free(marker);
}

/* Cancel kills the child's whole process group (SIGTERM, then SIGKILL), and the host's record
 * of running groups is empty afterwards. */
static int cancel_when_file(void *ctx, double fraction)
{
    (void)fraction;
    return reel_file_exists(ctx);
}

static void test_exec_cancel_kills_group(void **state)
{
    (void)state;
    char *pidfile = mt_path(dir, "group.pid");
    /* the leader ignores SIGTERM, so only SIGKILL after the grace period stops it */
    char *body = reel_xasprintf("trap '' TERM\nsleep 30 & echo $$ $! > '%s.tmp'\n"
                                "mv '%s.tmp' '%s'\nwhile :; do sleep 1; done",
                                pidfile, pidfile, pidfile);
    char *slow = write_script("stubborn.sh", body);
    char *out = mt_path(dir, "cancel.mkv"), params[1024];
    snprintf(params, sizeof params, "{\"plugin\":\"exec\",\"argv\":[\"%s\"]}", slow);
    json_t *p = json_loads(params, 0, NULL);
    reel_stage_io io = {.kind = "video",
                        .params = p,
                        .out_path = out,
                        .progress = cancel_when_file,
                        .progress_ctx = pidfile};
    assert_int_equal(reel_stage_run(&io), REEL_ECANCELED);
    char *text;
    size_t n;
    assert_int_equal(reel_file_read(pidfile, 0, &text, &n), 0);
    int leader = 0, child = 0;
    assert_int_equal(sscanf(text, "%d %d", &leader, &child), 2);
    free(text);
    assert_true(leader > 1 && child > 1);
    /* no process of the group remains (the leader was reaped, the child killed) */
    int gone = 0;
    for (int i = 0; i < 100 && !gone; i++) {
        gone = kill(-leader, 0) != 0 && errno == ESRCH;
        if (!gone) usleep(20000);
    }
    assert_true(gone);
    assert_false(reel_file_exists(out));
    json_decref(p);
    free(pidfile);
    free(body);
    free(slow);
    free(out);
}

/* Stages run in parallel (the scheduler does this): plugins with global state (espeak,
 * fontconfig) must serialise themselves, and every output must still be right. */
typedef struct job {
    const char *kind, *params;
    char *out;
    int rc;
} job;

static void *run_job(void *arg)
{
    job *j = arg;
    j->rc = mt_stage(j->kind, j->params, NULL, 0, j->out, NULL);
    return NULL;
}

static void test_parallel_stages(void **state)
{
    (void)state;
    job jobs[6] = {
        {"audio", "{\"plugin\":\"espeak\",\"text\":\"one two three\"}", NULL, 0},
        {"audio", "{\"plugin\":\"espeak\",\"text\":\"four five\"}", NULL, 0},
        {"video",
         "{\"plugin\":\"card\",\"title\":\"A\",\"width\":96,\"height\":64,"
         "\"fps\":10,\"duration_s\":0.5}",
         NULL, 0},
        {"video",
         "{\"plugin\":\"card\",\"title\":\"B\",\"width\":96,\"height\":64,"
         "\"fps\":10,\"duration_s\":0.5}",
         NULL, 0},
        {"audio", "{\"plugin\":\"tone\",\"duration_s\":0.3}", NULL, 0},
        {"audio", "{\"plugin\":\"silence\",\"duration_s\":0.3}", NULL, 0},
    };
    pthread_t th[6];
    for (int i = 0; i < 6; i++) {
        char name[32];
        snprintf(name, sizeof name, "par%d.%s", i, jobs[i].kind[0] == 'v' ? "mkv" : "wav");
        jobs[i].out = mt_path(dir, name);
        assert_int_equal(pthread_create(&th[i], NULL, run_job, &jobs[i]), 0);
    }
    for (int i = 0; i < 6; i++) pthread_join(th[i], NULL);
    for (int i = 0; i < 6; i++) {
        assert_int_equal(jobs[i].rc, 0);
        reeli_probe p = mt_probe(jobs[i].out);
        if (jobs[i].kind[0] == 'v')
            assert_int_equal(p.n_frames, 5);
        else
            assert_true(p.n_samples > 0);
        free(jobs[i].out);
    }
}

/* An odd frame size from a plugin is padded to even (yuv420p) rather than refused. */
static void test_odd_size(void **state)
{
    (void)state;
    char *out = mt_path(dir, "odd.mkv");
    assert_int_equal(mt_stage("video",
                              "{\"plugin\":\"card\",\"width\":33,\"height\":17,"
                              "\"fps\":5,\"duration_s\":0.4}",
                              NULL, 0, out, NULL),
                     0);
    reeli_probe p = mt_probe(out);
    assert_int_equal(p.width, 34);
    assert_int_equal(p.height, 18);
    assert_int_equal(p.n_frames, 2);
    free(out);
}

int main(void)
{
    setenv("REEL_PLUGIN_PATH", REEL_TEST_PLUGIN_DIR, 1);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_card),
        cmocka_unit_test(test_tone_and_silence),
        cmocka_unit_test(test_espeak),
        cmocka_unit_test(test_image),
        cmocka_unit_test(test_exec_ok),
        cmocka_unit_test(test_exec_timeout_kills_group),
        cmocka_unit_test(test_exec_failures),
        cmocka_unit_test(test_exec_needs_grant),
        cmocka_unit_test(test_exec_cancel_kills_group),
        cmocka_unit_test(test_parallel_stages),
        cmocka_unit_test(test_odd_size),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
