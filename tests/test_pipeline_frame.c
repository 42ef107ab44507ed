/* Frame sizes and filling the frame: the size parser (presets and "WxH", pipeline/size.c), the
 * image plugin's fit (cover fills, contain pads with the colour asked), a 9:16 film of a 16:9
 * picture and a card rendered with no black bars, and the render's fit for shots of another
 * aspect. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "media_testutil.h"
#include "pipeline/size-impl.h"

static char *dir, *wide;

/* A 16:9 picture with no dark pixel anywhere: a gradient from orange to teal (PPM, which the
 * image plugin reads). */
static char *write_wide(const char *name, int w, int h)
{
    size_t n = (size_t)w * h * 3;
    char head[32];
    int hl = snprintf(head, sizeof head, "P6\n%d %d\n255\n", w, h);
    unsigned char *buf = malloc(hl + n);
    memcpy(buf, head, hl);
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) {
            unsigned char *p = buf + hl + ((size_t)y * w + x) * 3;
            p[0] = (unsigned char)(230 - 150 * x / w);
            p[1] = (unsigned char)(140 + 60 * y / h);
            p[2] = (unsigned char)(80 + 120 * x / w);
        }
    char *path = mt_path(dir, name);
    tu_write_file(path, buf, hl + n);
    free(buf);
    return path;
}

static int setup(void **state)
{
    (void)state;
    dir = tu_tmpdir();
    wide = write_wide("wide.ppm", 320, 180);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    tu_rmtree(dir);
    free(dir);
    free(wide);
    return 0;
}

static void test_parse(void **state)
{
    (void)state;
    static const struct {
        const char *s;
        int w, h;
    } good[] = {{"16:9", 1920, 1080}, {"9:16", 1080, 1920},    {"1:1", 1080, 1080},
                {"4:5", 1080, 1350},  {"1280x720", 1280, 720}, {"16x8192", 16, 8192}};
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        int w = 0, h = 0;
        char err[256] = "";
        assert_int_equal(reeli_size_parse(good[i].s, &w, &h, err, sizeof err), 0);
        assert_int_equal(w, good[i].w);
        assert_int_equal(h, good[i].h);
    }
    static const char *const bad[] = {"",          "9:17",      "16:10",      "1281x720",
                                      "14x720",    "1280x720x", " 1280x720",  "-1280x720",
                                      "1280x9000", "wide",      "1280 x 720", "1280x"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        int w = 7, h = 7;
        char err[256] = "";
        assert_int_equal(reeli_size_parse(bad[i], &w, &h, err, sizeof err), -1);
        assert_true(err[0]);
        assert_int_equal(w, 7); /* untouched on error */
    }
    char err[256];
    int w, h;
    reeli_size_parse("9:17", &w, &h, err, sizeof err);
    assert_true(tu_contains(err, "'9:17' is not a size"));
    assert_true(tu_contains(err, "\"9:16\" (1080x1920)"));
    reeli_size_parse("1281x720", &w, &h, err, sizeof err);
    assert_true(tu_contains(err, "even"));
}

static void test_field(void **state)
{
    (void)state;
    char err[300];
    /* a generator's size becomes width and height */
    json_t *p = json_pack("{s:s, s:s}", "plugin", "card", "size", "4:5");
    assert_int_equal(reeli_size_field(p, 1, err, sizeof err), 0);
    assert_null(json_object_get(p, "size"));
    assert_int_equal(json_integer_value(json_object_get(p, "width")), 1080);
    assert_int_equal(json_integer_value(json_object_get(p, "height")), 1350);
    json_decref(p);
    /* ... and may not come with them */
    p = json_pack("{s:s, s:i}", "size", "9:16", "width", 640);
    assert_int_equal(reeli_size_field(p, 1, err, sizeof err), -1);
    assert_true(tu_contains(err, "not both"));
    json_decref(p);
    /* a concat's is normalised to "WxH", from a preset or a pair */
    p = json_pack("{s:s}", "size", "1:1");
    assert_int_equal(reeli_size_field(p, 0, err, sizeof err), 0);
    assert_string_equal(json_string_value(json_object_get(p, "size")), "1080x1080");
    json_decref(p);
    p = json_pack("{s:[i,i]}", "size", 640, 360);
    assert_int_equal(reeli_size_field(p, 0, err, sizeof err), 0);
    assert_string_equal(json_string_value(json_object_get(p, "size")), "640x360");
    json_decref(p);
    p = json_pack("{s:b}", "size", 1);
    assert_int_equal(reeli_size_field(p, 0, err, sizeof err), -1);
    assert_true(tu_contains(err, "field 'size'"));
    json_decref(p);
    /* nothing to do */
    p = json_object();
    assert_int_equal(reeli_size_field(p, 1, err, sizeof err), 0);
    assert_int_equal(json_object_size(p), 0);
    json_decref(p);
    /* the stages take presets too */
    int w, h;
    json_t *v = json_string("9:16");
    assert_int_equal(reeli_parse_size(v, &w, &h), 0);
    assert_int_equal(w * 10000 + h, 1080 * 10000 + 1920);
    json_decref(v);
    v = json_string("3:2");
    assert_int_equal(reeli_parse_size(v, &w, &h), REEL_EINVAL);
    assert_true(tu_contains(reel_last_error(), "parameter 'size': '3:2' is not a size"));
    json_decref(v);
}

/* Mean luma of a rectangle of a yuv420p frame. */
static double mean_luma(const AVFrame *f, int x0, int y0, int w, int h)
{
    double sum = 0;
    for (int y = y0; y < y0 + h; y++)
        for (int x = x0; x < x0 + w; x++) sum += f->data[0][(size_t)y * f->linesize[0] + x];
    return sum / ((double)w * h);
}

/* The darkest of the four 8-pixel edge strips of f. */
static double darkest_edge(const AVFrame *f)
{
    double e[4] = {mean_luma(f, 0, 0, 8, f->height), mean_luma(f, f->width - 8, 0, 8, f->height),
                   mean_luma(f, 0, 0, f->width, 8), mean_luma(f, 0, f->height - 8, f->width, 8)};
    double m = e[0];
    for (int i = 1; i < 4; i++) m = fmin(m, e[i]);
    return m;
}

static void test_image_fit(void **state)
{
    (void)state;
    char *cover = mt_path(dir, "cover.mkv"), *contain = mt_path(dir, "contain.mkv");
    char params[1024];
    snprintf(params, sizeof params,
             "{\"path\":\"%s\",\"width\":90,\"height\":160,\"fps\":4,\"duration_s\":0.5,"
             "\"motion\":\"none\"}",
             wide);
    assert_int_equal(mt_stage("image", params, NULL, 0, cover, NULL), 0);
    snprintf(params, sizeof params,
             "{\"path\":\"%s\",\"width\":90,\"height\":160,\"fps\":4,\"duration_s\":0.5,"
             "\"motion\":\"kenburns\",\"fit\":\"contain\",\"background\":\"#3366cc\"}",
             wide);
    assert_int_equal(mt_stage("image", params, NULL, 0, contain, NULL), 0);
    reeli_vr *a = reeli_vr_open(cover, 0, 0, (AVRational){0, 0});
    reeli_vr *b = reeli_vr_open(contain, 0, 0, (AVRational){0, 0});
    assert_non_null(a);
    assert_non_null(b);
    AVFrame *f;
    assert_int_equal(reeli_vr_next(a, &f), 1);
    assert_true(darkest_edge(f) > 100); /* cover: the picture to every edge */
    assert_int_equal(reeli_vr_next(b, &f), 1);
    /* contain: the picture whole in the middle, the colour asked above and below it
     * (#3366cc is luma 98 of 255, 100 in limited range) */
    double top = mean_luma(f, 0, 0, 90, 8), bottom = mean_luma(f, 0, 152, 90, 8);
    assert_true(fabs(top - 100) < 6);
    assert_true(fabs(bottom - 100) < 6);
    assert_true(mean_luma(f, 0, 76, 90, 8) > 120);
    reeli_vr_free(a);
    reeli_vr_free(b);

    /* a background only means something with contain, and must be a colour */
    snprintf(params, sizeof params,
             "{\"path\":\"%s\",\"duration_s\":0.5,\"background\":\"#000000\"}", wide);
    assert_int_equal(mt_stage("image", params, NULL, 0, cover, NULL), REEL_EINVAL);
    assert_true(tu_contains(reel_last_error(), "parameter 'background': only with fit"));
    snprintf(params, sizeof params,
             "{\"path\":\"%s\",\"duration_s\":0.5,\"fit\":\"contain\",\"background\":\"blue!!\"}",
             wide);
    assert_int_equal(mt_stage("image", params, NULL, 0, cover, NULL), REEL_EINVAL);
    assert_true(tu_contains(reel_last_error(), "parameter 'background'"));
    free(cover);
    free(contain);
}

static tu_result run_script(const char *name, const char *lua)
{
    char *script = mt_path(dir, name);
    tu_write_file(script, lua, strlen(lua));
    char *argv[] = {(char *)tu_reel_bin(), "run", script, "--out", dir, "--model",
                    "not-opened.gguf",     NULL};
    tu_result r = tu_run(argv, NULL);
    free(script);
    return r;
}

/* A shorts-shaped film: the 16:9 picture and a card, both sized by the preset, rendered at
 * 9:16. Every frame reaches every edge: no bars, left, right, top or bottom. */
static void test_portrait_film_has_no_bars(void **state)
{
    (void)state;
    const char *lua =
        "local size = '9:16'\n"
        "local img = reel.image{path='wide.ppm', size=size, fps=4, duration_s=1, motion='none'}\n"
        "local card = reel.video{plugin='card', size=size, fps=4, duration_s=1, fade_s=0,\n"
        "  title='The Harbour at Dawn', caption='Boats come home with the tide',\n"
        "  setting='sunny desert'}\n"
        "assert(reel.render(reel.concat{img, card}, 'short.mp4', {size=size}))\n";
    tu_result r = run_script("short.lua", lua);
    if (r.status != 0) fprintf(stderr, "%s\n", r.err);
    assert_int_equal(r.status, 0);
    tu_result_free(&r);
    char *mp4 = mt_path(dir, "short.mp4");
    reeli_probe p = mt_probe(mp4);
    assert_int_equal(p.width, 1080);
    assert_int_equal(p.height, 1920);
    reeli_vr *v = reeli_vr_open(mp4, 0, 0, (AVRational){0, 0});
    assert_non_null(v);
    AVFrame *f;
    int frames = 0;
    while (reeli_vr_next(v, &f) == 1) {
        double edge = darkest_edge(f);
        if (edge < 40) fprintf(stderr, "frame %d: an edge of mean luma %.1f\n", frames, edge);
        assert_true(edge >= 40); /* a black bar is 16 */
        frames++;
    }
    assert_int_equal(frames, 8);
    reeli_vr_free(v);
    free(mp4);
}

/* A 16:9 card rendered at 9:16: fit="cover" crops it to fill the frame, fit="contain" keeps
 * it whole between bars; with neither, the bars come with a warning saying how to avoid them. */
static void test_render_fit(void **state)
{
    (void)state;
    const char *head = "local card = reel.video{plugin='card', width=160, height=90, fps=2, "
                       "duration_s=1, fade_s=0, title='x', setting='sunny desert'}\n";
    static const struct {
        const char *fit, *file;
        int bars, warns;
    } cases[] = {{"'cover'", "cover.mp4", 0, 0},
                 {"'contain'", "contain.mp4", 1, 0},
                 {"nil", "unset.mp4", 1, 1}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char lua[1024];
        snprintf(lua, sizeof lua, "%sassert(reel.render(card, '%s', {size='90x160', fit=%s}))\n",
                 head, cases[i].file, cases[i].fit);
        tu_result r = run_script("fit.lua", lua);
        if (r.status != 0) fprintf(stderr, "%s\n", r.err);
        assert_int_equal(r.status, 0);
        assert_int_equal(tu_contains(r.err, "letterboxed into a 90x160 frame"), cases[i].warns);
        tu_result_free(&r);
        char *mp4 = mt_path(dir, cases[i].file);
        reeli_vr *v = reeli_vr_open(mp4, 0, 0, (AVRational){0, 0});
        assert_non_null(v);
        AVFrame *f;
        assert_int_equal(reeli_vr_next(v, &f), 1);
        assert_int_equal(f->width, 90);
        assert_int_equal(f->height, 160);
        double top = mean_luma(f, 0, 0, 90, 8), middle = mean_luma(f, 0, 76, 90, 8);
        assert_true(middle > 60);
        if (cases[i].bars)
            assert_true(top < 20); /* black: 16 */
        else
            assert_true(darkest_edge(f) > 60);
        reeli_vr_free(v);
        free(mp4);
    }
    tu_result r = run_script("fit.lua", "local card = reel.video{plugin='card', duration_s=1}\n"
                                        "reel.render(card, 'x.mp4', {fit='stretch'})\n");
    assert_int_not_equal(r.status, 0);
    assert_true(tu_contains(r.err, "field 'fit' must be \"cover\" or \"contain\""));
    tu_result_free(&r);
}

/* Bad sizes are refused where the script names them, saying what is accepted. */
static void test_script_errors(void **state)
{
    (void)state;
    static const struct {
        const char *lua, *want;
    } cases[] = {
        {"reel.render(reel.video{plugin='card', duration_s=1}, 'x.mp4', {size='9:17'})",
         "field 'size': '9:17' is not a size"},
        {"reel.video{plugin='card', duration_s=1, size='portrait'}", "one of \"16:9\""},
        {"reel.video{plugin='card', duration_s=1, size='9:16', width=640}", "not both"},
        {"reel.image{path='wide.ppm', size='1081x1920'}", "must be even"},
        {"reel.concat{reel.video{plugin='card', duration_s=1}, size=true}", "field 'size'"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        tu_result r = run_script("bad.lua", cases[i].lua);
        if (!tu_contains(r.err, cases[i].want)) fprintf(stderr, "case %zu: %s\n", i, r.err);
        assert_int_not_equal(r.status, 0);
        assert_true(tu_contains(r.err, cases[i].want));
        assert_true(tu_contains(r.err, "bad.lua:1:"));
        tu_result_free(&r);
    }
}

int main(void)
{
    setenv("REEL_PLUGIN_PATH", REEL_TEST_PLUGIN_DIR, 1);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse),      cmocka_unit_test(test_field),
        cmocka_unit_test(test_image_fit),  cmocka_unit_test(test_portrait_film_has_no_bars),
        cmocka_unit_test(test_render_fit), cmocka_unit_test(test_script_errors),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
