/* The card plugin's text block (plugins/card/text.c): lines break between words while the
 * words fit, text that does not fit shrinks (and at the floor is ellipsized), and other scripts
 * are shaped with a font that has their glyphs (no boxes). */
#include <stdlib.h>
#include <string.h>

#include "plugins/card/card-impl.h"
#include "testutil.h"

static const char *title = "The Lighthouse Keeper Climbs the Spiral Stairs Before Midnight";

/* Every line after the first starts right after a space, never inside a word. */
static void assert_word_breaks(const card_text *t, int which, const char *text)
{
    int s[64], e[64];
    int n = card_text_lines(t, which, s, e, 64);
    assert_true(n >= 1 && n <= 64);
    assert_int_equal(s[0], 0);
    assert_int_equal(e[n - 1], (int)strlen(text));
    for (int i = 1; i < n; i++) {
        assert_int_equal(s[i], e[i - 1]);
        assert_true(text[s[i] - 1] == ' ');
        assert_true(text[s[i]] != ' ');
    }
}

static void test_wraps_between_words(void **state)
{
    (void)state;
    card_text t;
    assert_int_equal(card_text_layout(&t, "DejaVu Sans Bold", title, NULL, 400, 600, 40, 10), 0);
    int s[64], e[64];
    int n = card_text_lines(&t, CARD_TITLE, s, e, 64);
    assert_true(n >= 3); /* it did wrap, at the size asked (it fits: no shrinking) */
    assert_true(t.px[CARD_TITLE] == 40);
    assert_word_breaks(&t, CARD_TITLE, title);
    assert_int_equal(t.ellipsized, 0);
    assert_int_equal(t.unknown_glyphs, 0);
    assert_int_equal(card_text_lines(&t, CARD_CAPTION, s, e, 64), 0);
    card_text_free(&t);

    /* a word wider than the box at the size asked: shrunk until it fits whole */
    const char *word = "Supercalifragilistic";
    assert_int_equal(card_text_layout(&t, NULL, word, NULL, 200, 400, 60, 4), 0);
    assert_true(t.px[CARD_TITLE] < 60);
    assert_int_equal(card_text_lines(&t, CARD_TITLE, s, e, 64), 1);
    card_text_free(&t);
}

static void test_shrinks_to_fit(void **state)
{
    (void)state;
    const char *caption = "A keeper climbs the stairs at night while the storm rolls in from the "
                          "sea, and the lamp above him flickers as the first wave breaks over "
                          "the rocks below the tower.";
    card_text t;
    assert_int_equal(card_text_layout(&t, "DejaVu Sans:bold", title, caption, 300, 200, 48, 6), 0);
    assert_true(t.px[CARD_TITLE] < 48);
    assert_true(t.px[CARD_TITLE] >= 6);
    assert_true(t.px[CARD_CAPTION] < t.px[CARD_TITLE]);
    assert_true(t.height <= 200);
    assert_int_equal(t.ellipsized, 0);
    assert_word_breaks(&t, CARD_TITLE, title);
    assert_word_breaks(&t, CARD_CAPTION, caption);
    card_text_free(&t);

    /* short text in the same box keeps the size asked */
    assert_int_equal(card_text_layout(&t, NULL, "Dawn", "The harbour", 300, 200, 48, 6), 0);
    assert_true(t.px[CARD_TITLE] == 48);
    card_text_free(&t);

    /* far too much text for the box: the floor, then an ellipsis, and the block fits */
    char *lots = malloc(4001);
    for (int i = 0; i < 4000; i++) lots[i] = "word "[i % 5];
    lots[4000] = 0;
    assert_int_equal(card_text_layout(&t, NULL, "Title", lots, 200, 120, 30, 12), 0);
    assert_true(t.px[CARD_TITLE] == 12);
    assert_int_equal(t.ellipsized, 1);
    assert_true(t.height <= 120);
    card_text_free(&t);
    free(lots);
}

/* 1 if the font Pango picks for lang has a glyph for c. */
static int font_covers(const char *lang, gunichar c)
{
    PangoFontMap *fm = pango_cairo_font_map_new();
    PangoContext *ctx = pango_font_map_create_context(fm);
    PangoFontDescription *d = pango_font_description_from_string("DejaVu Sans 12");
    PangoFontset *fs = pango_font_map_load_fontset(fm, ctx, d, pango_language_from_string(lang));
    int ok = 0;
    if (fs) {
        PangoFont *f = pango_fontset_get_font(fs, c);
        ok = f && pango_font_has_char(f, c);
        if (f) g_object_unref(f);
        g_object_unref(fs);
    }
    pango_font_description_free(d);
    g_object_unref(ctx);
    g_object_unref(fm);
    return ok;
}

static void test_other_scripts(void **state)
{
    (void)state;
    /* Arabic (right to left, joined letters) and Cyrillic: DejaVu Sans (fonts-dejavu-core,
     * which reel's setup installs) has both */
    if (!font_covers("ar", 0x0645)) {
        tu_skip("no installed font has Arabic letters (install fonts-dejavu-core)");
        return;
    }
    const char *arabic = "منارة على الشاطئ في ليلة عاصفة";
    const char *russian = "Смотритель маяка поднимается по лестнице";
    card_text t;
    assert_int_equal(card_text_layout(&t, NULL, arabic, russian, 240, 400, 36, 8), 0);
    assert_int_equal(t.unknown_glyphs, 0);
    assert_word_breaks(&t, CARD_TITLE, arabic);
    assert_word_breaks(&t, CARD_CAPTION, russian);
    card_text_free(&t);
}

static void test_japanese(void **state)
{
    (void)state;
    if (!font_covers("ja", 0x65E5)) {
        tu_skip("no installed font has Japanese (e.g. fonts-noto-cjk); Arabic and Cyrillic are "
                "tested with DejaVu");
        return;
    }
    const char *ja = "灯台守は嵐の夜に螺旋階段を上る";
    card_text t;
    assert_int_equal(card_text_layout(&t, NULL, ja, NULL, 200, 400, 40, 8), 0);
    assert_int_equal(t.unknown_glyphs, 0);
    int s[64], e[64];
    assert_true(card_text_lines(&t, CARD_TITLE, s, e, 64) >= 2);
    card_text_free(&t);
}

/* A character no font has is counted, so that the plugin can say so. */
static void test_counts_missing_glyphs(void **state)
{
    (void)state;
    card_text t;
    /* U+E000 is private use: no installed font should draw it */
    assert_int_equal(card_text_layout(&t, NULL, "Lamp \xee\x80\x80", NULL, 300, 200, 20, 8), 0);
    assert_true(t.unknown_glyphs >= 1);
    card_text_free(&t);
}

/* Drawing puts ink on the surface inside the box. */
static void test_draws(void **state)
{
    (void)state;
    card_text t;
    assert_int_equal(card_text_layout(&t, NULL, "Dawn", NULL, 100, 60, 30, 8), 0);
    cairo_surface_t *s = cairo_image_surface_create(CAIRO_FORMAT_ARGB32, 120, 80);
    cairo_t *cr = cairo_create(s);
    const double white[3] = {1, 1, 1}, black[3] = {0, 0, 0};
    card_text_draw(&t, cr, 10, 10, white, black, 0.6);
    cairo_destroy(cr);
    cairo_surface_flush(s);
    const uint8_t *px = cairo_image_surface_get_data(s);
    int stride = cairo_image_surface_get_stride(s), inked = 0, outside = 0;
    for (int y = 0; y < 80; y++)
        for (int x = 0; x < 120; x++) {
            int a = px[y * stride + x * 4 + 3];
            if (a && (x < 10 || y < 10 || x > 112 || y > 72)) outside++;
            inked += a > 0;
        }
    assert_true(inked > 50);
    assert_int_equal(outside, 0);
    cairo_surface_destroy(s);
    card_text_free(&t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_wraps_between_words),   cmocka_unit_test(test_shrinks_to_fit),
        cmocka_unit_test(test_other_scripts),         cmocka_unit_test(test_japanese),
        cmocka_unit_test(test_counts_missing_glyphs), cmocka_unit_test(test_draws),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
