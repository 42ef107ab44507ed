/* Burnt-in caption styles: cues written as an ASS script for libass (through libavfilter's
 * `subtitles` filter) with one style made from the script's choices — font, size, colours,
 * outline, position, margins — at the film's own resolution, and for karaoke cues the words
 * turning to the highlight colour as they are spoken. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "core/json.h"
#include "pipeline/media/ops-impl.h"

/* "#RRGGBB" -> ASS "&H00BBGGRR" (alpha 0 = opaque). */
static int ass_colour(const json_t *v, const char *key, const char *def, char out[16])
{
    const char *s = v ? json_string_value(v) : def;
    unsigned r, g, b;
    char tail;
    if (!s || strlen(s) != 7 || sscanf(s, "#%2x%2x%2x%c", &r, &g, &b, &tail) != 3)
        return reel_set_error(REEL_EINVAL, "parameter 'style.%s': must be a colour \"#RRGGBB\"",
                              key);
    snprintf(out, 16, "&H00%02X%02X%02X", b, g, r);
    return 0;
}

int reeli_caption_style(const json_t *style, int W, int H, reeli_caption_style_t *st)
{
    memset(st, 0, sizeof *st);
    if (style && !json_is_object(style))
        return reel_set_error(REEL_EINVAL, "parameter 'style': must be an object");
    static const char *const known[] = {"font",     "size",   "colour",  "highlight", "outline",
                                        "position", "margin", "karaoke", NULL};
    const char *key;
    json_t *v;
    json_object_foreach((json_t *)style, key, v)
    {
        int ok = 0;
        for (int i = 0; known[i]; i++) ok |= !strcmp(known[i], key);
        if (!ok) return reel_set_error(REEL_EINVAL, "parameter 'style.%s': unknown", key);
    }
    const json_t *font = json_object_get(style, "font");
    if (font && (!json_is_string(font) || !*json_string_value(font) ||
                 strlen(json_string_value(font)) > 60 || strpbrk(json_string_value(font), ",\r\n")))
        return reel_set_error(REEL_EINVAL, "parameter 'style.font': must be a font family name");
    snprintf(st->font, sizeof st->font, "%s", font ? json_string_value(font) : "DejaVu Sans");
    /* sizes in the film's pixels: the script's PlayRes is the film's size */
    if (reeli_num_param(style, "size", round(H / 16.0), 6, H, "style.", &st->size) < 0 ||
        reeli_num_param(style, "outline", fmax(1, round(H / 300.0)), 0, 20, "style.",
                        &st->outline) < 0 ||
        reeli_num_param(style, "margin", round(H / 18.0), 0, H / 2, "style.", &st->margin) < 0)
        return REEL_EINVAL;
    if (ass_colour(json_object_get(style, "colour"), "colour", "#FFFFFF", st->colour) < 0 ||
        ass_colour(json_object_get(style, "highlight"), "highlight", "#FFD700", st->highlight) < 0)
        return REEL_EINVAL;
    const char *pos = reel_json_str(style, "position", "bottom");
    st->alignment = !strcmp(pos, "bottom")   ? 2
                    : !strcmp(pos, "middle") ? 5
                    : !strcmp(pos, "top")    ? 8
                                             : 0;
    if (!st->alignment ||
        (json_object_get(style, "position") && !json_is_string(json_object_get(style, "position"))))
        return reel_set_error(REEL_EINVAL,
                              "parameter 'style.position': must be \"bottom\", \"middle\" or "
                              "\"top\"");
    const json_t *k = json_object_get(style, "karaoke");
    if (k && !json_is_boolean(k))
        return reel_set_error(REEL_EINVAL, "parameter 'style.karaoke': must be true or false");
    st->karaoke = json_is_true(k);
    st->W = W;
    st->H = H;
    return 0;
}

static void ass_time(FILE *f, double t)
{
    int64_t cs = llround(t * 100);
    fprintf(f, "%d:%02d:%02d.%02d", (int)(cs / 360000), (int)(cs / 6000 % 60), (int)(cs / 100 % 60),
            (int)(cs % 100));
}

int reeli_ass_write(FILE *f, const reeli_cue *cues, size_t n, const reeli_caption_style_t *st)
{
    /* karaoke: the words are drawn in the colour (SecondaryColour) and fill with the highlight
     * (PrimaryColour) as their \k time passes */
    fprintf(f,
            "[Script Info]\nScriptType: v4.00+\nPlayResX: %d\nPlayResY: %d\n"
            "ScaledBorderAndShadow: yes\nWrapStyle: 0\n\n[V4+ Styles]\n"
            "Format: Name, Fontname, Fontsize, PrimaryColour, SecondaryColour, OutlineColour, "
            "BackColour, Bold, Italic, Underline, StrikeOut, ScaleX, ScaleY, Spacing, Angle, "
            "BorderStyle, Outline, Shadow, Alignment, MarginL, MarginR, MarginV, Encoding\n"
            "Style: Default,%s,%.0f,%s,%s,&H00000000,&H80000000,0,0,0,0,100,100,0,0,1,%.1f,0,"
            "%d,%.0f,%.0f,%.0f,1\n\n[Events]\n"
            "Format: Layer, Start, End, Style, Name, MarginL, MarginR, MarginV, Effect, Text\n",
            st->W, st->H, st->font, st->size, st->karaoke ? st->highlight : st->colour,
            st->karaoke ? st->colour : st->highlight, st->outline, st->alignment, st->margin,
            st->margin, st->margin);
    for (size_t i = 0; i < n; i++) {
        fputs("Dialogue: 0,", f);
        ass_time(f, cues[i].start_s);
        fputc(',', f);
        ass_time(f, cues[i].end_s);
        fputs(",Default,,0,0,0,,", f);
        for (const char *c = cues[i].text; *c; c++) {
            if (*c == '\n')
                fputs("\\N", f);
            else if (*c == '\r')
                continue;
            else if (!st->karaoke && (*c == '{' || *c == '}'))
                fputc(*c == '{' ? '(' : ')', f); /* text, never an override block */
            else
                fputc(*c, f);
        }
        fputc('\n', f);
    }
    return ferror(f) ? reel_set_error(REEL_EIO, "writing the caption script") : 0;
}
