/* The image plugin's pictures: what it samples, plane by plane, checked against BT.601 (limited
 * range) computed here from the source's RGB, at the source's size, at half of it, and over a
 * zoom, plus the same bytes on a second run, and its AVX2 sampler against its scalar one. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

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

enum { PW = 64, PH = 48 };

/* The source's colour at (x, y); the checks below use the same gradient between pixels. */
static void rgb_at(double x, double y, double *r, double *g, double *b)
{
    *r = x * 4;
    *g = y * 5;
    *b = 128;
}

/* BT.601 limited range from RGB 0..255. */
static double luma(double r, double g, double b)
{
    return 16 + (65.481 * r + 128.553 * g + 24.966 * b) / 255;
}

static double cb(double r, double g, double b)
{
    return 128 + (-37.797 * r - 74.203 * g + 112.0 * b) / 255;
}

static double cr(double r, double g, double b)
{
    return 128 + (112.0 * r - 93.786 * g - 18.214 * b) / 255;
}

/* A PW x PH binary PPM: red grows left to right, green top to bottom, blue fixed. */
static char *write_ppm(void)
{
    char *path = mt_path(dir, "pic.ppm");
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    fprintf(f, "P6\n%d %d\n255\n", PW, PH);
    for (int y = 0; y < PH; y++)
        for (int x = 0; x < PW; x++) {
            double r, g, b;
            rgb_at(x, y, &r, &g, &b);
            unsigned char px[3] = {(unsigned char)r, (unsigned char)g, (unsigned char)b};
            fwrite(px, 1, 3, f);
        }
    fclose(f);
    return path;
}

/* Renders the picture still (motion none) at w x h, 2 frames, and checks each plane of the
 * first frame against the colour the source has at the place each sample stands for, within
 * tol (bilinear sampling of a linear gradient is exact up to rounding and the conversion). */
static void check_still(const char *pic, int w, int h, double tol)
{
    char params[1024], name[64];
    snprintf(name, sizeof name, "still-%dx%d.mkv", w, h);
    char *out = mt_path(dir, name);
    snprintf(params, sizeof params,
             "{\"path\":\"%s\",\"width\":%d,\"height\":%d,\"fps\":10,\"duration_s\":0.2,"
             "\"motion\":\"none\"}",
             pic, w, h);
    assert_int_equal(mt_stage("image", params, NULL, 0, out, NULL), 0);
    reeli_vr *r = reeli_vr_open(out, 0, 0, (AVRational){0, 0});
    assert_non_null(r);
    AVFrame *f;
    assert_int_equal(reeli_vr_next(r, &f), 1);
    assert_int_equal(f->width, w);
    assert_int_equal(f->height, h);
    double sx = (double)PW / w, sy = (double)PH / h, worst = 0;
    for (int y = 1; y < h - 1; y++)
        for (int x = 1; x < w - 1; x++) {
            /* the source position of this output pixel's centre, where the gradient gives */
            double R, G, B;
            rgb_at((x + 0.5) * sx - 0.5, (y + 0.5) * sy - 0.5, &R, &G, &B);
            double d = fabs(f->data[0][y * f->linesize[0] + x] - luma(R, G, B));
            if (d > worst) worst = d;
        }
    assert_true(worst <= tol);
    worst = 0;
    for (int y = 1; y < h / 2 - 1; y++)
        for (int x = 1; x < w / 2 - 1; x++) {
            /* a chroma sample stands for the 2x2 block of luma pixels around its centre */
            double R, G, B;
            rgb_at((2 * x + 1) * sx - 0.5, (2 * y + 1) * sy - 0.5, &R, &G, &B);
            double du = fabs(f->data[1][y * f->linesize[1] + x] - cb(R, G, B));
            double dv = fabs(f->data[2][y * f->linesize[2] + x] - cr(R, G, B));
            if (du > worst) worst = du;
            if (dv > worst) worst = dv;
        }
    assert_true(worst <= tol);
    reeli_vr_free(r);
    free(out);
}

static void test_still_pictures(void **state)
{
    (void)state;
    char *pic = write_ppm();
    check_still(pic, PW, PH, 2.0);         /* the source's own size */
    check_still(pic, PW / 2, PH / 2, 2.0); /* half */
    check_still(pic, PW * 2, PH * 2, 2.0); /* twice */
    free(pic);
}

/* A zoom in keeps the centre where it is and spreads the gradient: the last frame's luma
 * changes less from left to right than the first's, and two runs give the same bytes. */
static void test_zoom(void **state)
{
    (void)state;
    char *pic = write_ppm();
    uint8_t *frames[2] = {NULL, NULL};
    size_t size = 0;
    for (int run = 0; run < 2; run++) {
        char params[1024], name[64];
        snprintf(name, sizeof name, "zoom%d.mkv", run);
        char *out = mt_path(dir, name);
        snprintf(params, sizeof params,
                 "{\"path\":\"%s\",\"width\":128,\"height\":96,\"fps\":10,\"duration_s\":1,"
                 "\"motion\":\"zoom_in\",\"zoom\":2}",
                 pic);
        assert_int_equal(mt_stage("image", params, NULL, 0, out, NULL), 0);
        reeli_vr *r = reeli_vr_open(out, 0, 0, (AVRational){0, 0});
        assert_non_null(r);
        AVFrame *f;
        int first_span = 0, centre = 0;
        size = 0;
        for (int k = 0; reeli_vr_next(r, &f) > 0; k++) {
            const uint8_t *row = f->data[0] + 48 * f->linesize[0];
            if (k == 0) {
                first_span = row[120] - row[7];
                centre = row[64];
            }
            frames[run] = realloc(frames[run], size + 128 * 96);
            for (int y = 0; y < 96; y++)
                memcpy(frames[run] + size + (size_t)y * 128, f->data[0] + y * f->linesize[0], 128);
            size += 128 * 96;
            if (k == 9) {
                int span = row[120] - row[7];
                assert_true(span > 0 && first_span > 0);
                assert_true(span * 10 < first_span * 7); /* about half: zoom 2 */
                assert_true(abs(row[64] - centre) <= 3);
            }
        }
        assert_int_equal(size, 10 * 128 * 96);
        reeli_vr_free(r);
        free(out);
    }
    assert_memory_equal(frames[0], frames[1], size);
    free(frames[0]);
    free(frames[1]);
    free(pic);
}

/* Every sample of every plane of two decoded clips equal. */
static void assert_same_frames(const char *a, const char *b, int n)
{
    reeli_vr *ra = reeli_vr_open(a, 0, 0, (AVRational){0, 0}),
             *rb = reeli_vr_open(b, 0, 0, (AVRational){0, 0});
    assert_non_null(ra);
    assert_non_null(rb);
    AVFrame *fa, *fb;
    for (int k = 0; k < n; k++) {
        assert_int_equal(reeli_vr_next(ra, &fa), 1);
        assert_int_equal(reeli_vr_next(rb, &fb), 1);
        for (int p = 0; p < 3; p++) {
            int w = p ? (fa->width + 1) / 2 : fa->width, h = p ? (fa->height + 1) / 2 : fa->height;
            for (int y = 0; y < h; y++)
                if (memcmp(fa->data[p] + (size_t)y * fa->linesize[p],
                           fb->data[p] + (size_t)y * fb->linesize[p], (size_t)w))
                    fail_msg("frame %d plane %d row %d differs", k, p, y);
        }
    }
    assert_int_equal(reeli_vr_next(ra, &fa), 0);
    reeli_vr_free(ra);
    reeli_vr_free(rb);
}

/* The image plugin's AVX2 sampler gives the scalar reference's samples exactly: a noisy
 * picture (every sample counts), widths that leave a tail of 1..7 samples after the 8-wide
 * steps, zoom, pans, contain with a background and a window past the picture's edges. */
static void test_image_simd_exact(void **state)
{
    (void)state;
#if defined(__x86_64__) && defined(__GNUC__)
    if (!__builtin_cpu_supports("avx2")) tu_skip("needs AVX2: this CPU lacks it");
#else
    tu_skip("x86-64 only: the image plugin has no SIMD sampler for this CPU");
#endif
    char *pic = mt_path(dir, "noise.ppm");
    FILE *fp = fopen(pic, "wb");
    assert_non_null(fp);
    fprintf(fp, "P6\n97 61\n255\n");
    uint32_t x = 12345;
    for (int i = 0; i < 97 * 61 * 3; i++) {
        x = x * 1664525u + 1013904223u;
        fputc((int)(x >> 24), fp);
    }
    fclose(fp);
    const char *cases[] = {
        "\"width\":158,\"height\":90,\"motion\":\"kenburns\",\"zoom\":1.7",
        "\"width\":62,\"height\":34,\"motion\":\"zoom_out\",\"zoom\":1.1",
        "\"width\":200,\"height\":200,\"motion\":\"pan_left\",\"zoom\":1.3",
        "\"width\":30,\"height\":120,\"motion\":\"zoom_in\",\"fit\":\"contain\","
        "\"background\":\"#204060\"",
    };
    char *ref = mt_path(dir, "ref.mkv"), *simd = mt_path(dir, "simd.mkv");
    for (size_t c = 0; c < sizeof cases / sizeof *cases; c++) {
        char params[512];
        snprintf(params, sizeof params, "{\"path\":\"%s\",\"fps\":24,\"duration_s\":0.5,%s}", pic,
                 cases[c]);
        setenv("REEL_CPU", "scalar", 1);
        assert_int_equal(mt_stage("image", params, NULL, 0, ref, NULL), 0);
        unsetenv("REEL_CPU");
        assert_int_equal(mt_stage("image", params, NULL, 0, simd, NULL), 0);
        assert_same_frames(ref, simd, 12);
    }
    free(ref);
    free(simd);
    free(pic);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_still_pictures),
        cmocka_unit_test(test_zoom),
        cmocka_unit_test(test_image_simd_exact),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
