/* reel.concat passing reel's own intermediates through as packets: the joined film shows every
 * input picture exactly where it belongs (cuts and crossfades), the transition frames are drawn
 * from both neighbours, and an input that cannot be copied (another frame rate) is decoded in
 * the same join. Pictures are compared decoded, pixel for pixel. */
#include <stdlib.h>
#include <string.h>

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

/* An FFV1 Matroska clip of n pictures at fps written by reel's writer (as a stage would). */
static char *write_clip(const char *name, int seed, int fps, int n)
{
    char *path = mt_path(dir, name);
    reeli_mw_opts o = {.path = path,
                       .format = "matroska",
                       .width = W,
                       .height = H,
                       .fps = {fps, 1},
                       .vcodec = "ffv1"};
    reeli_mw *m = reeli_mw_open(&o);
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
    return path;
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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cut),
        cmocka_unit_test(test_crossfade),
        cmocka_unit_test(test_mixed_rates),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
