/* reel plugin "card": a procedural animatic of one shot, with no ML. A colour field (two-colour
 * gradient plus soft light blobs) whose palette is derived deterministically from the shot's
 * setting and style text, a slow pan or zoom over it, the title and caption on top (shaped,
 * wrapped and fitted by Pango in text.c), and fades in and out. Frames are drawn with cairo and
 * handed over as RGBA. */
#include <jansson.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "plugins/card/card-impl.h"
#include "plugins/reel_plugin.h"

static const reel_plugin_host *host;

static const char schema[] =
    "{\"type\":\"object\",\"additionalProperties\":false,\"required\":[\"duration_s\"],"
    "\"properties\":{"
    "\"title\":{\"type\":\"string\",\"maxLength\":300},"
    "\"caption\":{\"type\":\"string\",\"maxLength\":4000},"
    "\"setting\":{\"type\":\"string\",\"maxLength\":4000},"
    "\"style\":{\"type\":\"string\",\"maxLength\":1000},"
    "\"prompt\":{\"type\":\"string\",\"maxLength\":8000},"
    "\"width\":{\"type\":\"integer\",\"minimum\":16,\"maximum\":4096},"
    "\"height\":{\"type\":\"integer\",\"minimum\":16,\"maximum\":4096},"
    "\"fps\":{\"type\":\"number\",\"minimum\":1,\"maximum\":120},"
    "\"duration_s\":{\"type\":\"number\",\"minimum\":0.04,\"maximum\":600},"
    "\"seed\":{\"type\":\"integer\"},"
    "\"motion\":{\"enum\":[\"auto\",\"none\",\"pan\",\"zoom\"]},"
    "\"fade_s\":{\"type\":\"number\",\"minimum\":0,\"maximum\":10},"
    "\"font\":{\"type\":\"string\",\"maxLength\":200}}}";

/* ---- palette ------------------------------------------------------------------------------ */
static uint64_t fnv1a(uint64_t h, const char *s)
{
    for (; s && *s; s++) h = (h ^ (unsigned char)*s) * 0x100000001b3ull;
    return h;
}

static uint64_t splitmix(uint64_t *x)
{
    uint64_t z = (*x += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static double unit(uint64_t *x)
{
    return (double)(splitmix(x) >> 11) / 9007199254740992.0;
}

static void hsl_to_rgb(double h, double s, double l, double rgb[3])
{
    h = fmod(fmod(h, 360) + 360, 360);
    double c = (1 - fabs(2 * l - 1)) * s, x = c * (1 - fabs(fmod(h / 60, 2) - 1)), m = l - c / 2;
    double r = 0, g = 0, b = 0;
    if (h < 60)
        r = c, g = x;
    else if (h < 120)
        r = x, g = c;
    else if (h < 180)
        g = c, b = x;
    else if (h < 240)
        g = x, b = c;
    else if (h < 300)
        r = x, b = c;
    else
        r = c, b = x;
    rgb[0] = r + m;
    rgb[1] = g + m;
    rgb[2] = b + m;
}

/* Words in the setting/style that pull the palette toward a mood: hue, saturation, lightness. */
static const struct mood {
    const char *word;
    double hue, sat, light;
} moods[] = {
    {"night", 230, 0.5, 0.14},  {"dark", 250, 0.3, 0.12},       {"noir", 0, 0.0, 0.15},
    {"sunset", 20, 0.8, 0.45},  {"dawn", 35, 0.6, 0.55},        {"fire", 10, 0.9, 0.40},
    {"forest", 120, 0.5, 0.28}, {"jungle", 105, 0.6, 0.30},     {"ocean", 200, 0.7, 0.38},
    {"sea", 195, 0.6, 0.40},    {"sky", 205, 0.6, 0.60},        {"snow", 200, 0.2, 0.85},
    {"winter", 210, 0.3, 0.75}, {"desert", 40, 0.6, 0.60},      {"space", 260, 0.6, 0.10},
    {"city", 220, 0.2, 0.35},   {"neon", 300, 0.9, 0.45},       {"rain", 210, 0.2, 0.40},
    {"autumn", 30, 0.7, 0.40},  {"spring", 90, 0.5, 0.60},      {"pastel", 330, 0.4, 0.80},
    {"mars", 15, 0.7, 0.40},    {"underwater", 185, 0.7, 0.30}, {"gold", 45, 0.8, 0.50},
};

typedef struct palette {
    double top[3], bottom[3];
    struct blob {
        double x, y, r, a, rgb[3];
    } blobs[6];
    double text[3], shadow[3];
} palette;

static int has_word(const char *text, const char *word)
{
    size_t n = strlen(word);
    for (const char *p = text; p && *p; p++) {
        size_t i = 0;
        while (i < n && p[i] && (p[i] | 0x20) == word[i]) i++;
        if (i == n) return 1;
    }
    return 0;
}

static void make_palette(const char *setting, const char *style, int64_t seed, palette *pal)
{
    uint64_t h = fnv1a(0xcbf29ce484222325ull, setting);
    h = fnv1a(h ^ 0x7c, style);
    h ^= (uint64_t)seed * 0x9e3779b97f4a7c15ull;
    uint64_t rng = h;
    double hue = unit(&rng) * 360, sat = 0.35 + 0.4 * unit(&rng), light = 0.25 + 0.35 * unit(&rng);
    int hits = 0;
    double hx = 0, hy = 0, hs = 0, hl = 0;
    for (size_t i = 0; i < sizeof moods / sizeof moods[0]; i++) {
        if (has_word(setting, moods[i].word) || has_word(style, moods[i].word)) {
            hx += cos(moods[i].hue * M_PI / 180);
            hy += sin(moods[i].hue * M_PI / 180);
            hs += moods[i].sat;
            hl += moods[i].light;
            hits++;
        }
    }
    if (hits) {
        /* mood words decide; the hash only jitters */
        hue = atan2(hy, hx) * 180 / M_PI + (unit(&rng) - 0.5) * 20;
        sat = hs / hits;
        light = hl / hits;
    }
    double shift = 25 + 40 * unit(&rng);
    hsl_to_rgb(hue, sat, fmin(0.9, light + 0.12), pal->top);
    hsl_to_rgb(hue + shift, sat, fmax(0.04, light - 0.15), pal->bottom);
    for (int i = 0; i < 6; i++) {
        struct blob *b = &pal->blobs[i];
        b->x = unit(&rng);
        b->y = unit(&rng);
        b->r = 0.15 + 0.3 * unit(&rng);
        b->a = 0.10 + 0.2 * unit(&rng);
        hsl_to_rgb(hue + (unit(&rng) - 0.5) * 90, fmin(1, sat + 0.2), fmin(0.95, light + 0.3),
                   b->rgb);
    }
    double lum = 0.5 * (light + 0.12) + 0.5 * (light - 0.15);
    double tl = lum > 0.55 ? 0.08 : 0.97;
    for (int c = 0; c < 3; c++) {
        pal->text[c] = tl;
        pal->shadow[c] = 1 - tl;
    }
}

/* ---- frames ------------------------------------------------------------------------------- */
#define BG_STEP 4 /* pixels per background grid cell */

/* cairo keeps a pixel as a native-endian 32-bit word, A R G B from the top byte down: on a
 * little-endian machine its bytes are B, G, R, A. Every colour goes to cairo with red and blue
 * swapped, so that a finished frame's bytes read R, G, B, A and go to the host as they are
 * (REEL_PLUGIN_PIX_RGBA), with no conversion pass over each frame. */
_Static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__,
               "the card plugin hands cairo's pixels over as RGBA bytes");

static void swap_rb(const double in[3], double out[3])
{
    out[0] = in[2];
    out[1] = in[1];
    out[2] = in[0];
}

static double smooth(double t)
{
    return t * t * (3 - 2 * t);
}

/* Pango and fontconfig keep process-wide state; one card lays out its text at a time. */
static pthread_mutex_t text_lock = PTHREAD_MUTEX_INITIALIZER;

static void warn(const char *msg)
{
    if (host && host->log) host->log(REEL_PLUGIN_LOG_WARN, "card", msg);
}

/* Draws title and caption, fitted to the safe area of a w x h frame, into a transparent
 * surface (returned), so that each frame only composites it. */
static cairo_surface_t *text_layer(const char *font, const char *title, const char *caption, int w,
                                   int h, const palette *pal)
{
    cairo_surface_t *surf = cairo_image_surface_create(CAIRO_FORMAT_ARGB32, w, h);
    if (cairo_surface_status(surf) != CAIRO_STATUS_SUCCESS) return surf;
    int box_w = w * 86 / 100, box_h = h * 88 / 100, side = w < h ? w : h;
    double title_px = fmax(8, side / 7.0), floor_px = fmax(6, side / 30.0);
    pthread_mutex_lock(&text_lock);
    card_text t;
    if (card_text_layout(&t, font, title, caption, box_w, box_h, title_px, floor_px) == 0) {
        cairo_t *cr = cairo_create(surf);
        double text[3], shadow[3];
        swap_rb(pal->text, text);
        swap_rb(pal->shadow, shadow);
        card_text_draw(&t, cr, (w - box_w) / 2.0, floor((h - t.height) / 2.0), text, shadow, 0.6);
        cairo_destroy(cr);
        char msg[300];
        if (t.ellipsized) {
            snprintf(msg, sizeof msg,
                     "title and caption do not fit a %dx%d card even at %.0f px: cut short "
                     "with an ellipsis",
                     w, h, t.px[CARD_TITLE]);
            warn(msg);
        }
        if (t.unknown_glyphs) {
            snprintf(msg, sizeof msg,
                     "%d character%s no glyph in any installed font and show%s as boxes "
                     "(install a font for that script, e.g. fonts-noto-core or fonts-noto-cjk)",
                     t.unknown_glyphs, t.unknown_glyphs == 1 ? " has" : "s have",
                     t.unknown_glyphs == 1 ? "s" : "");
            warn(msg);
        }
    } else {
        cairo_surface_destroy(surf);
        surf = NULL;
    }
    card_text_free(&t);
    pthread_mutex_unlock(&text_lock);
    if (surf) cairo_surface_flush(surf);
    return surf;
}

static int generate(void *state, const char *params_json, const reel_plugin_sink *s)
{
    (void)state;
    json_t *p = json_loads(params_json, 0, NULL);
    if (!p) {
        s->error(s->host, "parameters are not JSON");
        return REEL_PLUGIN_EINVAL;
    }
#define STR(k, d)                                                                                  \
    (json_is_string(json_object_get(p, k)) ? json_string_value(json_object_get(p, k)) : (d))
#define NUM(k, d) (json_object_get(p, k) ? json_number_value(json_object_get(p, k)) : (d))
    const char *title = STR("title", NULL), *caption = STR("caption", NULL);
    const char *setting = STR("setting", STR("prompt", "")), *style = STR("style", "");
    const char *motion = STR("motion", "auto");
    int w = (int)NUM("width", 640), h = (int)NUM("height", 360);
    double fps = NUM("fps", 24), dur = NUM("duration_s", 3), fade = NUM("fade_s", 0.5);
    int64_t seed = (int64_t)NUM("seed", 0);
    palette pal;
    make_palette(setting, style, seed, &pal);

    /* The colour field is smooth: it is evaluated on a grid of one point per BG_STEP pixels
     * (at the pixel where cairo puts the grid cell's centre) and cairo scales the grid up with
     * bilinear filtering. */
    int gw = w / BG_STEP + 2, gh = h / BG_STEP + 2;
    cairo_surface_t *grid = cairo_image_surface_create(CAIRO_FORMAT_RGB24, gw, gh);
    cairo_surface_t *frame = cairo_image_surface_create(CAIRO_FORMAT_ARGB32, w, h);
    cairo_surface_t *text = NULL;
    int rc = REEL_PLUGIN_OK;
    if (cairo_surface_status(grid) != CAIRO_STATUS_SUCCESS ||
        cairo_surface_status(frame) != CAIRO_STATUS_SUCCESS) {
        s->error(s->host, "out of memory for frames");
        rc = REEL_PLUGIN_EFATAL;
        goto done;
    }
    if (title || caption) {
        text = text_layer(STR("font", "DejaVu Sans Bold"), title, caption, w, h, &pal);
        if (!text || cairo_surface_status(text) != CAIRO_STATUS_SUCCESS) {
            s->error(s->host, "cannot lay out the text (out of memory, or Pango failed)");
            rc = REEL_PLUGIN_EFATAL;
            goto done;
        }
    }

    uint64_t mh = fnv1a(0x84222325ull, setting) ^ (uint64_t)seed;
    int mode = !strcmp(motion, "none")   ? 0
               : !strcmp(motion, "pan")  ? 1
               : !strcmp(motion, "zoom") ? 2
                                         : 1 + (int)(mh % 2);
    double dir = mh & 4 ? 1 : -1;
    /* fps as a fraction: whole numbers exactly, others in 1/1000ths */
    int32_t fn = (int32_t)llround(fps * 1000), fd = 1000;
    if (fabs(fps - round(fps)) < 1e-9) fn = (int32_t)llround(fps), fd = 1;
    int64_t nframes = llround(dur * fps);
    if (nframes < 1) nframes = 1;
    if ((rc = s->video_begin(s->host, w, h, REEL_PLUGIN_PIX_RGBA, fn, fd)) != 0) goto done;
    double aspect = (double)w / h;
    uint32_t *gpx = (uint32_t *)cairo_image_surface_get_data(grid);
    int gstride = cairo_image_surface_get_stride(grid) / 4;
    for (int64_t k = 0; k < nframes && rc == 0; k++) {
        double t = nframes > 1 ? (double)k / (nframes - 1) : 0, tm = smooth(t);
        double zoom = 1.0, ox = 0, oy = 0;
        if (mode == 1) ox = dir * (tm - 0.5) * 0.12;
        if (mode == 2) zoom = 1.0 + 0.12 * (dir > 0 ? tm : 1 - tm);
        double secs = (double)k / fps, g = 1;
        if (fade > 0) {
            if (secs < fade) g = secs / fade;
            if (dur - secs - 1.0 / fps < fade)
                g = fmin(g, fmax(0, (dur - secs - 1.0 / fps) / fade));
        }
        cairo_surface_flush(grid);
        for (int gy = 0; gy < gh; gy++) {
            double v = (((gy + 0.5) * BG_STEP) / h - 0.5) / zoom + 0.5 + oy;
            for (int gx = 0; gx < gw; gx++) {
                double u = (((gx + 0.5) * BG_STEP) / w - 0.5) / zoom + 0.5 + ox;
                double m = fmin(1, fmax(0, v * 0.85 + u * 0.15)), c[3];
                for (int i = 0; i < 3; i++) c[i] = pal.top[i] * (1 - m) + pal.bottom[i] * m;
                for (int b = 0; b < 6; b++) {
                    const struct blob *bl = &pal.blobs[b];
                    double dx = (u - bl->x) * aspect, dy = v - bl->y;
                    double d2 = (dx * dx + dy * dy) / (bl->r * bl->r);
                    if (d2 < 1) {
                        double a = bl->a * (1 - d2) * (1 - d2);
                        for (int i = 0; i < 3; i++) c[i] = c[i] * (1 - a) + bl->rgb[i] * a;
                    }
                }
                uint32_t byte[3];
                for (int i = 0; i < 3; i++) byte[i] = (uint32_t)lrint(fmin(1, fmax(0, c[i])) * 255);
                /* red in cairo's blue byte: see swap_rb */
                gpx[(size_t)gy * gstride + gx] = byte[2] << 16 | byte[1] << 8 | byte[0];
            }
        }
        cairo_surface_mark_dirty(grid);
        cairo_t *cr = cairo_create(frame);
        cairo_save(cr);
        cairo_scale(cr, BG_STEP, BG_STEP);
        cairo_set_source_surface(cr, grid, 0, 0);
        cairo_pattern_set_filter(cairo_get_source(cr), CAIRO_FILTER_BILINEAR);
        cairo_pattern_set_extend(cairo_get_source(cr), CAIRO_EXTEND_PAD);
        cairo_set_operator(cr, CAIRO_OPERATOR_SOURCE);
        cairo_paint(cr);
        cairo_restore(cr);
        if (text) {
            cairo_set_source_surface(cr, text, 0, 0);
            cairo_paint(cr);
        }
        if (g < 1) { /* the fade: black over everything */
            cairo_set_source_rgba(cr, 0, 0, 0, 1 - g);
            cairo_paint(cr);
        }
        cairo_destroy(cr);
        cairo_surface_flush(frame);
        reel_plugin_frame f = {.width = w,
                               .height = h,
                               .pix_fmt = REEL_PLUGIN_PIX_RGBA,
                               .data = {cairo_image_surface_get_data(frame)},
                               .linesize = {cairo_image_surface_get_stride(frame)},
                               .pts = k};
        rc = s->video_frame(s->host, &f);
        if (rc == 0) rc = s->progress(s->host, (double)(k + 1) / nframes);
    }
done:
    if (text) cairo_surface_destroy(text);
    cairo_surface_destroy(grid);
    cairo_surface_destroy(frame);
    json_decref(p);
    return rc;
}

static int init(const reel_plugin_host *h, void **state)
{
    host = h;
    *state = NULL;
    return 0;
}

static const reel_plugin_caps caps = {
    .struct_size = sizeof(reel_plugin_caps),
    .kind = REEL_PLUGIN_KIND_VIDEO,
    .name = "card",
    .version = "1.2",
    .description = "animatic card: palette from the setting/style, pan/zoom, title and caption",
    .params_schema = schema,
    .max_width = 4096,
    .max_height = 4096,
    .fps_max = 120,
    .max_duration_s = 600,
    .deterministic = 1,
    /* one encoder thread's worth of frames (FFV1 intermediates), up to 4096x4096 */
    .job_cpus = 1,
    .job_mem = "1G",
};

static const reel_plugin table = {
    .api_version = REEL_PLUGIN_API_VERSION,
    .struct_size = sizeof(reel_plugin),
    .caps = &caps,
    .init = init,
    .generate = generate,
};

REEL_PLUGIN_EXPORT const reel_plugin *reel_plugin_entry(const reel_plugin_host *h)
{
    (void)h;
    return &table;
}
