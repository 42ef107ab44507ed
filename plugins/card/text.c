/* The card's text block: Pango lays out the title and caption (HarfBuzz shaping, fontconfig
 * font fallback, word wrapping), this file chooses the size that fits and draws the result. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "plugins/card/card-impl.h"

/* Caption size relative to the title's. */
#define CAPTION_SCALE (5.0 / 8.0)
/* Line spacing as a multiple of the font size (Pango's default is the font's own). */
#define LINE_SPACING 1.15

static PangoLayout *new_block(card_text *t, const PangoFontDescription *base, const char *text)
{
    PangoLayout *l = pango_layout_new(t->ctx);
    pango_layout_set_font_description(l, base);
    pango_layout_set_wrap(l, PANGO_WRAP_WORD_CHAR);
    pango_layout_set_alignment(l, PANGO_ALIGN_CENTER);
    pango_layout_set_line_spacing(l, (float)LINE_SPACING);
    pango_layout_set_width(l, t->box_w * PANGO_SCALE);
    pango_layout_set_text(l, text, -1);
    return l;
}

static void set_px(PangoLayout *l, const PangoFontDescription *base, double px)
{
    PangoFontDescription *d = pango_font_description_copy(base);
    pango_font_description_set_absolute_size(d, px * PANGO_SCALE);
    pango_layout_set_font_description(l, d);
    pango_font_description_free(d);
}

static int block_height(PangoLayout *l)
{
    if (!l) return 0;
    PangoRectangle logical;
    pango_layout_get_pixel_extents(l, NULL, &logical);
    return logical.height;
}

/* 1 if some line of l starts inside a word: PANGO_WRAP_WORD_CHAR broke a word that was wider
 * than the box by itself. */
static int breaks_a_word(PangoLayout *l)
{
    if (!l) return 0;
    const PangoLogAttr *attrs;
    int n_attrs;
    attrs = pango_layout_get_log_attrs_readonly(l, &n_attrs);
    const char *text = pango_layout_get_text(l);
    int lines = pango_layout_get_line_count(l);
    for (int i = 1; i < lines; i++) {
        PangoLayoutLine *line = pango_layout_get_line_readonly(l, i);
        long ch = g_utf8_pointer_to_offset(text, text + line->start_index);
        if (ch < n_attrs && !attrs[ch].is_line_break && !attrs[ch].is_mandatory_break) return 1;
    }
    return 0;
}

/* Ends l with an ellipsis where it passes room pixels (at least one line stays). Pango
 * checks the height without the extra line spacing, so the limit comes down until the block
 * really fits. Returns 1 if l was cut. */
static int cut_to(PangoLayout *l, int room)
{
    pango_layout_set_ellipsize(l, PANGO_ELLIPSIZE_END);
    for (int lim = room > 1 ? room : 1; lim > 0;) {
        pango_layout_set_height(l, lim * PANGO_SCALE);
        int over = block_height(l) - room;
        if (over <= 0 || pango_layout_get_line_count(l) <= 1) break;
        lim -= over;
    }
    return pango_layout_is_ellipsized(l);
}

/* Accepts a fontconfig pattern ("DejaVu Sans:bold") as well as a Pango description. */
static PangoFontDescription *font_description(const char *font)
{
    char *s = strdup(font && *font ? font : "DejaVu Sans Bold");
    if (!s) return NULL;
    for (char *p = s; *p; p++)
        if (*p == ':') *p = ' ';
    PangoFontDescription *d = pango_font_description_from_string(s);
    free(s);
    return d;
}

int card_text_layout(card_text *t, const char *font, const char *title, const char *caption,
                     int box_w, int box_h, double title_px, double floor_px)
{
    memset(t, 0, sizeof *t);
    if (title && !*title) title = NULL;
    if (caption && !*caption) caption = NULL;
    t->box_w = box_w > 1 ? box_w : 1;
    /* A font map of our own, not the per-thread default: freed with the layout, so nothing
     * outlives a card but fontconfig's own caches. */
    t->fontmap = pango_cairo_font_map_new();
    if (!t->fontmap) return -1;
    t->ctx = pango_font_map_create_context(t->fontmap);
    if (!t->ctx) return -1;
    /* Grey antialiasing and unhinted metrics: the same picture at every size and on every
     * machine with the same fonts, and a layout that shrinks smoothly. */
    cairo_font_options_t *fo = cairo_font_options_create();
    cairo_font_options_set_antialias(fo, CAIRO_ANTIALIAS_GRAY);
    cairo_font_options_set_hint_style(fo, CAIRO_HINT_STYLE_NONE);
    cairo_font_options_set_hint_metrics(fo, CAIRO_HINT_METRICS_OFF);
    pango_cairo_context_set_font_options(t->ctx, fo);
    cairo_font_options_destroy(fo);
    PangoFontDescription *base = font_description(font);
    if (!base) return -1;
    if (title) t->block[CARD_TITLE] = new_block(t, base, title);
    if (caption) t->block[CARD_CAPTION] = new_block(t, base, caption);
    if (floor_px < 1) floor_px = 1;
    if (title_px < floor_px) title_px = floor_px;

    /* Shrink by eighths until the block fits without breaking a word; the floor is the last
     * size tried. */
    for (double px = title_px;; px = fmax(floor_px, px * 7 / 8)) {
        t->px[CARD_TITLE] = px;
        t->px[CARD_CAPTION] = fmax(1, px * CAPTION_SCALE);
        for (int b = 0; b < 2; b++)
            if (t->block[b]) set_px(t->block[b], base, t->px[b]);
        t->gap = title && caption ? (int)lround(t->px[CARD_CAPTION] * 0.6) : 0;
        t->height =
            block_height(t->block[CARD_TITLE]) + t->gap + block_height(t->block[CARD_CAPTION]);
        int fits = t->height <= box_h && !breaks_a_word(t->block[CARD_TITLE]) &&
                   !breaks_a_word(t->block[CARD_CAPTION]);
        if (fits || px <= floor_px) break;
    }
    if (t->height > box_h) {
        /* Still too tall at the floor: the caption gives way first, then the title. A positive
         * height makes Pango end the last line that fits with an ellipsis. */
        int th = block_height(t->block[CARD_TITLE]);
        if (t->block[CARD_CAPTION])
            t->ellipsized |= cut_to(t->block[CARD_CAPTION], box_h - th - t->gap);
        if (t->block[CARD_TITLE] && th > box_h)
            t->ellipsized |= cut_to(t->block[CARD_TITLE], box_h);
        t->height =
            block_height(t->block[CARD_TITLE]) + t->gap + block_height(t->block[CARD_CAPTION]);
    }
    for (int b = 0; b < 2; b++)
        if (t->block[b]) t->unknown_glyphs += pango_layout_get_unknown_glyphs_count(t->block[b]);
    pango_font_description_free(base);
    return 0;
}

int card_text_lines(const card_text *t, int which, int *start, int *end, int max)
{
    PangoLayout *l = which == CARD_TITLE || which == CARD_CAPTION ? t->block[which] : NULL;
    if (!l) return 0;
    int n = pango_layout_get_line_count(l);
    for (int i = 0; i < n && i < max; i++) {
        PangoLayoutLine *line = pango_layout_get_line_readonly(l, i);
        start[i] = line->start_index;
        end[i] = line->start_index + line->length;
    }
    return n;
}

void card_text_draw(const card_text *t, cairo_t *cr, double x, double y, const double rgb[3],
                    const double shadow_rgb[3], double shadow_alpha)
{
    double off = fmax(1, round(t->px[CARD_TITLE] / 30));
    for (int pass = 0; pass < 2; pass++) {
        double yy = y, d = pass == 0 ? off : 0;
        if (pass == 0)
            cairo_set_source_rgba(cr, shadow_rgb[0], shadow_rgb[1], shadow_rgb[2], shadow_alpha);
        else
            cairo_set_source_rgb(cr, rgb[0], rgb[1], rgb[2]);
        for (int b = 0; b < 2; b++) {
            if (!t->block[b]) continue;
            cairo_move_to(cr, x + d, yy + d);
            pango_cairo_show_layout(cr, t->block[b]);
            yy += block_height(t->block[b]) + t->gap;
        }
    }
}

void card_text_free(card_text *t)
{
    for (int b = 0; b < 2; b++)
        if (t->block[b]) g_object_unref(t->block[b]);
    if (t->ctx) g_object_unref(t->ctx);
    if (t->fontmap) g_object_unref(t->fontmap);
    memset(t, 0, sizeof *t);
}
