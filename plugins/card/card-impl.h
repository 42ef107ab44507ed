/* The card plugin's text block (plugins/card/text.c), shared with its test: title and caption
 * shaped by HarfBuzz through Pango (kerning, bidi, fontconfig fallback for other scripts),
 * wrapped at word boundaries and shrunk until the block fits a box. */
#ifndef REEL_PLUGIN_CARD_IMPL_H
#define REEL_PLUGIN_CARD_IMPL_H

#include <pango/pangocairo.h>

enum { CARD_TITLE = 0, CARD_CAPTION = 1 };

typedef struct card_text {
    PangoFontMap *fontmap;
    PangoContext *ctx;
    PangoLayout *block[2]; /* CARD_TITLE, CARD_CAPTION; NULL when that text is absent */
    double px[2];          /* chosen font sizes in pixels */
    int box_w;             /* the width lines are wrapped to, pixels */
    int gap;               /* pixels between title and caption */
    int height;            /* the whole block's height, pixels */
    int ellipsized;        /* 1 if the text did not fit at floor_px and was cut with an ellipsis */
    int unknown_glyphs;    /* characters that no installed font can show (drawn as boxes) */
} card_text;

/* Lays out title and caption (UTF-8, either may be NULL) centred in lines at most box_w pixels
 * wide. The title starts at title_px (the caption at 5/8 of it) and both shrink together until
 * the block fits box_h and no word is broken, never below floor_px for the title; what still
 * does not fit is ellipsized. font is a Pango font description ("DejaVu Sans Bold"); a
 * fontconfig-style "Family:style" is accepted too. Returns 0, or -1 when Pango cannot start
 * (out of memory). Free with card_text_free. */
int card_text_layout(card_text *t, const char *font, const char *title, const char *caption,
                     int box_w, int box_h, double title_px, double floor_px);
/* The lines of one block as byte ranges [start[i], end[i]) of its text; returns the number of
 * lines (at most max are written). */
int card_text_lines(const card_text *t, int which, int *start, int *end, int max);
/* Draws the block with its top-left corner at (x, y): each glyph in rgb over a drop shadow in
 * shadow_rgb at shadow_alpha, offset down-right by a distance that grows with the font. */
void card_text_draw(const card_text *t, cairo_t *cr, double x, double y, const double rgb[3],
                    const double shadow_rgb[3], double shadow_alpha);
void card_text_free(card_text *t);

#endif
