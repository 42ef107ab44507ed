/* reel plugin "card": a procedural animatic of one shot, with no ML. A colour field (two-colour
 * gradient plus soft light blobs) whose palette is derived deterministically from the shot's
 * setting and style text, a slow pan or zoom over it, the title and caption word-wrapped on top
 * (FreeType, font found with fontconfig), and fades in and out. Output: RGB24 frames. */
#include <fontconfig/fontconfig.h>
#include <ft2build.h>
#include FT_FREETYPE_H
#include <jansson.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

/* ---- text --------------------------------------------------------------------------------- */
static pthread_mutex_t fc_lock = PTHREAD_MUTEX_INITIALIZER;

/* Font file for a fontconfig pattern (malloc'ed), or NULL. */
static char *find_font(const char *pattern)
{
    pthread_mutex_lock(&fc_lock);
    char *out = NULL;
    FcPattern *pat = FcNameParse((const FcChar8 *)pattern);
    if (pat) {
        FcConfigSubstitute(NULL, pat, FcMatchPattern);
        FcDefaultSubstitute(pat);
        FcResult res;
        FcPattern *m = FcFontMatch(NULL, pat, &res);
        FcChar8 *file = NULL;
        if (m && FcPatternGetString(m, FC_FILE, 0, &file) == FcResultMatch)
            out = strdup((char *)file);
        if (m) FcPatternDestroy(m);
        FcPatternDestroy(pat);
    }
    pthread_mutex_unlock(&fc_lock);
    return out;
}

/* Next code point of UTF-8 text (invalid bytes become U+FFFD). */
static uint32_t utf8_next(const char **p)
{
    const unsigned char *s = (const unsigned char *)*p;
    uint32_t c = s[0];
    int n = c < 0x80             ? 0
            : (c & 0xe0) == 0xc0 ? 1
            : (c & 0xf0) == 0xe0 ? 2
            : (c & 0xf8) == 0xf0 ? 3
                                 : -1;
    if (n < 0) {
        (*p)++;
        return 0xfffd;
    }
    c &= n == 0 ? 0x7f : (0x3f >> n);
    for (int i = 1; i <= n; i++) {
        if ((s[i] & 0xc0) != 0x80) {
            *p += i;
            return 0xfffd;
        }
        c = (c << 6) | (s[i] & 0x3f);
    }
    *p += n + 1;
    return c;
}

static int advance(FT_Face face, uint32_t cp)
{
    if (FT_Load_Char(face, cp, FT_LOAD_DEFAULT)) return 0;
    return (int)(face->glyph->advance.x >> 6);
}

/* Lays out text wrapped to max_w pixels; returns the number of lines, their byte ranges in
 * starts/ends (at most max_lines). */
static int wrap(FT_Face face, const char *text, int max_w, const char **starts, const char **ends,
                int max_lines)
{
    int n = 0;
    const char *p = text;
    while (*p && n < max_lines) {
        while (*p == ' ') p++;
        if (!*p) break;
        const char *line = p, *last_space = NULL, *q = p;
        int w = 0;
        while (*q && *q != '\n') {
            const char *before = q;
            uint32_t cp = utf8_next(&q);
            if (cp == ' ') last_space = before;
            w += advance(face, cp);
            if (w > max_w && before > line) {
                q = last_space && last_space > line ? last_space : before;
                break;
            }
        }
        starts[n] = line;
        ends[n] = q;
        n++;
        p = *q == '\n' ? q + 1 : q;
    }
    return n;
}

static void draw_line(FT_Face face, const char *s, const char *e, int x, int baseline,
                      uint8_t *mask, int w, int h)
{
    while (s < e) {
        uint32_t cp = utf8_next(&s);
        if (FT_Load_Char(face, cp, FT_LOAD_RENDER)) continue;
        FT_GlyphSlot g = face->glyph;
        const FT_Bitmap *bm = &g->bitmap;
        for (unsigned r = 0; r < bm->rows; r++) {
            int y = baseline - g->bitmap_top + (int)r;
            if (y < 0 || y >= h) continue;
            for (unsigned c = 0; c < bm->width; c++) {
                int xx = x + g->bitmap_left + (int)c;
                if (xx < 0 || xx >= w) continue;
                uint8_t v = bm->buffer[r * bm->pitch + c];
                if (v > mask[y * w + xx]) mask[y * w + xx] = v;
            }
        }
        x += (int)(g->advance.x >> 6);
    }
}

static int line_width(FT_Face face, const char *s, const char *e)
{
    int w = 0;
    while (s < e) w += advance(face, utf8_next(&s));
    return w;
}

/* Renders title (large) and caption (smaller) centred into an alpha mask of w x h. Shrinks the
 * font until everything fits. Returns 0 or -1 (message in err). */
static int render_text(const char *font_file, const char *title, const char *caption, int w, int h,
                       uint8_t *mask, char *err, size_t err_size)
{
    FT_Library lib;
    FT_Face face;
    if (FT_Init_FreeType(&lib)) {
        snprintf(err, err_size, "FreeType failed to start");
        return -1;
    }
    if (FT_New_Face(lib, font_file, 0, &face)) {
        snprintf(err, err_size, "parameter 'font': cannot load %s", font_file);
        FT_Done_FreeType(lib);
        return -1;
    }
    enum { MAXL = 64 };
    const char *ts[MAXL], *te[MAXL], *cs[MAXL], *ce[MAXL];
    int max_w = w * 86 / 100;
    for (int size = h / 7 > 8 ? h / 7 : 8;; size = size * 7 / 8) {
        int csize = size * 5 / 8 > 6 ? size * 5 / 8 : 6;
        FT_Set_Pixel_Sizes(face, 0, (FT_UInt)size);
        int nt = title ? wrap(face, title, max_w, ts, te, MAXL) : 0;
        int th = nt * size * 6 / 5;
        FT_Set_Pixel_Sizes(face, 0, (FT_UInt)csize);
        int nc = caption ? wrap(face, caption, max_w, cs, ce, MAXL) : 0;
        int ch = nc * csize * 6 / 5;
        int gap = nt && nc ? csize : 0;
        int total = th + gap + ch;
        if (total <= h * 88 / 100 || size <= 6) {
            memset(mask, 0, (size_t)w * h);
            int y = (h - total) / 2;
            FT_Set_Pixel_Sizes(face, 0, (FT_UInt)size);
            for (int i = 0; i < nt; i++) {
                int lw = line_width(face, ts[i], te[i]);
                draw_line(face, ts[i], te[i], (w - lw) / 2, y + size * 19 / 20, mask, w, h);
                y += size * 6 / 5;
            }
            y += gap;
            FT_Set_Pixel_Sizes(face, 0, (FT_UInt)csize);
            for (int i = 0; i < nc; i++) {
                int lw = line_width(face, cs[i], ce[i]);
                draw_line(face, cs[i], ce[i], (w - lw) / 2, y + csize * 19 / 20, mask, w, h);
                y += csize * 6 / 5;
            }
            break;
        }
    }
    FT_Done_Face(face);
    FT_Done_FreeType(lib);
    return 0;
}

/* ---- frames ------------------------------------------------------------------------------- */
#define BG_STEP 4 /* pixels per background grid cell */

static double smooth(double t)
{
    return t * t * (3 - 2 * t);
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
    char *font_file = find_font(STR("font", "DejaVu Sans:bold"));
    uint8_t *mask = malloc((size_t)w * h), *rgb = malloc((size_t)w * h * 3);
    int gw = w / BG_STEP + 2, gh = h / BG_STEP + 2;
    float *bg = malloc((size_t)gw * gh * 3 * sizeof(float));
    int rc = REEL_PLUGIN_OK;
    char err[512];
    if (!mask || !rgb || !bg) {
        s->error(s->host, "out of memory for frames");
        rc = REEL_PLUGIN_EFATAL;
        goto done;
    }
    if (!font_file) {
        s->error(s->host, "parameter 'font': no font matches (is fontconfig set up?)");
        rc = REEL_PLUGIN_EINVAL;
        goto done;
    }
    if ((title || caption) &&
        render_text(font_file, title, caption, w, h, mask, err, sizeof err) < 0) {
        s->error(s->host, err);
        rc = REEL_PLUGIN_EINVAL;
        goto done;
    }
    if (!title && !caption) memset(mask, 0, (size_t)w * h);

    palette pal;
    make_palette(setting, style, seed, &pal);
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
    if ((rc = s->video_begin(s->host, w, h, REEL_PLUGIN_PIX_RGB24, fn, fd)) != 0) goto done;
    double aspect = (double)w / h;
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
        /* The colour field is smooth: evaluate it on a grid of one point per BG_STEP pixels
         * and interpolate; the text is composited at full resolution. */
        for (int gy = 0; gy < gh; gy++) {
            double v = ((double)gy * BG_STEP / h - 0.5) / zoom + 0.5 + oy;
            for (int gx = 0; gx < gw; gx++) {
                double u = ((double)gx * BG_STEP / w - 0.5) / zoom + 0.5 + ox;
                double m = fmin(1, fmax(0, v * 0.85 + u * 0.15));
                float *c = bg + ((size_t)gy * gw + gx) * 3;
                for (int i = 0; i < 3; i++)
                    c[i] = (float)(pal.top[i] * (1 - m) + pal.bottom[i] * m);
                for (int b = 0; b < 6; b++) {
                    const struct blob *bl = &pal.blobs[b];
                    double dx = (u - bl->x) * aspect, dy = v - bl->y;
                    double d2 = (dx * dx + dy * dy) / (bl->r * bl->r);
                    if (d2 < 1) {
                        double a = bl->a * (1 - d2) * (1 - d2);
                        for (int i = 0; i < 3; i++) c[i] = (float)(c[i] * (1 - a) + bl->rgb[i] * a);
                    }
                }
            }
        }
        for (int y = 0; y < h; y++) {
            int gy = y / BG_STEP;
            float fy = (float)(y % BG_STEP) / BG_STEP;
            for (int x = 0; x < w; x++) {
                int gx = x / BG_STEP;
                float fx = (float)(x % BG_STEP) / BG_STEP;
                const float *c00 = bg + ((size_t)gy * gw + gx) * 3, *c01 = c00 + 3,
                            *c10 = c00 + (size_t)gw * 3, *c11 = c10 + 3;
                /* text with a one-pixel shadow down-right */
                float ta = mask[y * w + x] / 255.0f;
                float sa = (x > 0 && y > 0) ? mask[(y - 1) * w + x - 1] / 255.0f * 0.6f : 0;
                uint8_t *px = rgb + ((size_t)y * w + x) * 3;
                for (int i = 0; i < 3; i++) {
                    float c = (c00[i] * (1 - fx) + c01[i] * fx) * (1 - fy) +
                              (c10[i] * (1 - fx) + c11[i] * fx) * fy;
                    float val = c * (1 - sa) + (float)pal.shadow[i] * sa;
                    val = val * (1 - ta) + (float)pal.text[i] * ta;
                    val = val * (float)g * 255.0f + 0.5f;
                    px[i] = (uint8_t)(val < 0 ? 0 : val > 255 ? 255 : val);
                }
            }
        }
        reel_plugin_frame f = {.width = w,
                               .height = h,
                               .pix_fmt = REEL_PLUGIN_PIX_RGB24,
                               .data = {rgb},
                               .linesize = {w * 3},
                               .pts = k};
        rc = s->video_frame(s->host, &f);
        if (rc == 0) rc = s->progress(s->host, (double)(k + 1) / nframes);
    }
done:
    free(font_file);
    free(mask);
    free(rgb);
    free(bg);
    json_decref(p);
    return rc;
}

static int init(const reel_plugin_host *h, void **state)
{
    host = h;
    *state = NULL;
    return FcInit() ? 0 : -1;
}

static const reel_plugin_caps caps = {
    .struct_size = sizeof(reel_plugin_caps),
    .kind = REEL_PLUGIN_KIND_VIDEO,
    .name = "card",
    .version = "1.1",
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
