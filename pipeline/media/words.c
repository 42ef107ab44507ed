/* Word timings through the pipeline: a TTS plugin's {"words": [{word, start_s, end_s}...]}
 * travels inside the intermediate files as a container tag (WAV INFO comment, Matroska tag),
 * so that it survives the cache; mix, with_audio and concat carry it along (shifted to where
 * each input lands) and the subtitles stage turns it into cues of a few words. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <libavformat/avformat.h>

#include "core/alloc.h"
#include "core/error.h"
#include "pipeline/media/ops-impl.h"

#define TAG_PREFIX "reel-words:"
#define MAX_WORDS  200000

int reeli_words_valid(const json_t *words)
{
    if (!json_is_array(words) || json_array_size(words) > MAX_WORDS) return 0;
    size_t i;
    const json_t *w;
    json_array_foreach((json_t *)words, i, w)
    {
        const json_t *s = json_object_get(w, "start_s"), *e = json_object_get(w, "end_s");
        if (!json_is_string(json_object_get(w, "word")) || !json_is_number(s) ||
            !json_is_number(e) || !(json_number_value(s) >= 0) ||
            !(json_number_value(e) >= json_number_value(s)) || json_number_value(e) > 86400)
            return 0;
    }
    return 1;
}

json_t *reeli_words_load(const char *path)
{
    AVFormatContext *fmt = NULL;
    if (reeli_media_open(path, NULL, &fmt) < 0) {
        reel_clear_error();
        return NULL;
    }
    const AVDictionaryEntry *e = av_dict_get(fmt->metadata, REELI_WORDS_TAG, NULL, 0);
    json_t *words = e ? reeli_words_parse(e->value) : NULL;
    avformat_close_input(&fmt);
    return words;
}

json_t *reeli_words_parse(const char *tag)
{
    if (strncmp(tag, TAG_PREFIX, strlen(TAG_PREFIX)) != 0) return NULL; /* someone's comment */
    json_t *words = json_loads(tag + strlen(TAG_PREFIX), 0, NULL);
    if (!reeli_words_valid(words)) {
        json_decref(words);
        return NULL;
    }
    return words;
}

json_t *reeli_words_metadata(const json_t *words)
{
    if (!words || json_array_size(words) == 0) return NULL;
    char *text = json_dumps(words, JSON_COMPACT);
    if (!text) return NULL;
    char *tag = reel_xasprintf("%s%s", TAG_PREFIX, text);
    free(text);
    json_t *m = json_object();
    json_object_set_new(m, REELI_WORDS_TAG, json_string(tag));
    free(tag);
    return m;
}

static int by_start(const void *a, const void *b)
{
    double x = json_number_value(json_object_get(*(json_t *const *)a, "start_s"));
    double y = json_number_value(json_object_get(*(json_t *const *)b, "start_s"));
    return x < y ? -1 : x > y;
}

void reeli_words_add(json_t *dst, const json_t *words, double offset, double limit_s)
{
    size_t i;
    const json_t *w;
    json_array_foreach((json_t *)words, i, w)
    {
        double s = json_number_value(json_object_get(w, "start_s")) + offset;
        double e = json_number_value(json_object_get(w, "end_s")) + offset;
        if (limit_s >= 0 && s >= limit_s) continue; /* cut off with its shot */
        if (limit_s >= 0 && e > limit_s) e = limit_s;
        json_t *c = json_object();
        json_object_set(c, "word", json_object_get(w, "word"));
        json_object_set_new(c, "start_s", json_real(s));
        json_object_set_new(c, "end_s", json_real(e));
        json_array_append_new(dst, c);
    }
    /* keep the array in time order (inputs of a mix may interleave) */
    size_t n = json_array_size(dst);
    if (n < 2) return;
    json_t **items = reel_xmalloc(n * sizeof *items);
    for (size_t k = 0; k < n; k++) items[k] = json_incref(json_array_get(dst, k));
    qsort(items, n, sizeof *items, by_start);
    json_array_clear(dst);
    for (size_t k = 0; k < n; k++) json_array_append_new(dst, items[k]);
    free(items);
}

/* A word ends a sentence or a clause: a good place to end a cue. */
static int ends_phrase(const char *w)
{
    size_t l = strlen(w);
    while (l && (w[l - 1] == '"' || w[l - 1] == '\'' || w[l - 1] == ')')) l--;
    return l && strchr(".,;:!?", w[l - 1]);
}

int reeli_words_to_cues(const json_t *words, int max_words, double max_s, int karaoke,
                        reeli_cue **cues, size_t *n)
{
    size_t nw = json_array_size(words), cap = nw ? nw : 1;
    *cues = reel_xcalloc(cap, sizeof **cues);
    *n = 0;
    for (size_t i = 0; i < nw;) {
        const json_t *w0 = json_array_get(words, i);
        double start = json_number_value(json_object_get(w0, "start_s")), end = start;
        size_t len = 0;
        char *text = reel_xstrdup("");
        size_t k = i;
        for (; k < nw && (int)(k - i) < max_words; k++) {
            const json_t *w = json_array_get(words, k);
            double we = json_number_value(json_object_get(w, "end_s"));
            if (k > i && we - start > max_s) break;
            const char *word = json_string_value(json_object_get(w, "word"));
            char *t;
            if (karaoke) {
                /* ASS karaoke: {\kN} gives the word N centiseconds, from the cue's start */
                double ws = json_number_value(json_object_get(w, "start_s"));
                double next = k + 1 < nw ? json_number_value(json_object_get(
                                               json_array_get(words, k + 1), "start_s"))
                                         : we;
                long cs = lround(fmax(0, fmax(we, next) - ws) * 100);
                char *safe = reel_xstrdup(word);
                for (char *c = safe; *c; c++)
                    if (*c == '{' || *c == '}') *c = *c == '{' ? '(' : ')';
                t = reel_xasprintf("%s%s{\\k%ld}%s", text, len ? " " : "", cs, safe);
                free(safe);
            } else {
                t = reel_xasprintf("%s%s%s", text, len ? " " : "", word);
            }
            free(text);
            text = t;
            len = strlen(text);
            end = we;
            if (ends_phrase(word)) {
                k++;
                break;
            }
        }
        i = k;
        if (end <= start) end = start + 0.2; /* a word the TTS gave no length */
        (*cues)[(*n)++] = (reeli_cue){start, end, text};
    }
    return 0;
}

static int cue_order(const void *a, const void *b)
{
    const reeli_cue *x = a, *y = b;
    return x->start_s < y->start_s ? -1 : x->start_s > y->start_s;
}

void reeli_cues_tidy(reeli_cue *cues, size_t *n, double film_s)
{
    /* a stable order: qsort is not, and equal starts keep the order they were given in */
    for (size_t a = 1; a < *n; a++)
        for (size_t b = a; b > 0 && cue_order(&cues[b], &cues[b - 1]) < 0; b--) {
            reeli_cue t = cues[b];
            cues[b] = cues[b - 1];
            cues[b - 1] = t;
        }
    size_t k = 0;
    for (size_t i = 0; i < *n; i++) {
        reeli_cue c = cues[i];
        if (c.start_s < 0) c.start_s = 0;
        if (film_s >= 0 && c.end_s > film_s) c.end_s = film_s;
        /* a cue ends where the next one starts: players show one at a time, and mov_text
         * cannot hold overlapping samples (the muxer would push the next one later) */
        if (i + 1 < *n && c.end_s > cues[i + 1].start_s) c.end_s = cues[i + 1].start_s;
        /* what is left must be readable: at least a millisecond, on the film's clock */
        if (c.end_s - c.start_s < 0.001) {
            free(c.text);
            continue;
        }
        cues[k++] = c;
    }
    *n = k;
}
