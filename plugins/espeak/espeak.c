/* reel plugin "espeak": narration through libespeak-ng (voice, rate, pitch) as mono s16 PCM,
 * with word timings returned as result JSON {"words":[{"word","start_s","end_s"}...],
 * "duration_s"} for subtitles. espeak-ng keeps global state, so calls are serialised
 * (max_concurrency 1, plus a lock). Deterministic. */
#include <espeak-ng/speak_lib.h>
#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "plugins/reel_plugin.h"

static const char schema[] =
    "{\"type\":\"object\",\"additionalProperties\":false,\"required\":[\"text\"],"
    "\"properties\":{"
    "\"text\":{\"type\":\"string\",\"minLength\":1,\"maxLength\":20000},"
    "\"voice\":{\"type\":\"string\",\"minLength\":1,\"maxLength\":64},"
    "\"rate\":{\"type\":\"integer\",\"minimum\":80,\"maximum\":450},"
    "\"pitch\":{\"type\":\"integer\",\"minimum\":0,\"maximum\":99},"
    "\"volume\":{\"type\":\"integer\",\"minimum\":0,\"maximum\":200},"
    "\"seed\":{\"type\":\"integer\"}}}";

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static int sample_rate; /* 0 until espeak_Initialize succeeded */

typedef struct word {
    int char_pos, char_len; /* in code points, 0-based */
    int ms;
} word;

typedef struct collect {
    int16_t *pcm;
    size_t n, cap;
    word *words;
    size_t nw, capw;
    int failed;
} collect;

static int on_synth(short *wav, int n, espeak_EVENT *ev)
{
    collect *c = ev ? ev->user_data : NULL;
    if (!c) return 0;
    if (n > 0 && wav) {
        if (c->n + (size_t)n > c->cap) {
            size_t cap = c->cap * 2 + (size_t)n + 22050;
            int16_t *p = realloc(c->pcm, cap * sizeof *p);
            if (!p) {
                c->failed = 1;
                return 1;
            }
            c->pcm = p;
            c->cap = cap;
        }
        memcpy(c->pcm + c->n, wav, (size_t)n * sizeof *wav);
        c->n += (size_t)n;
    }
    for (; ev->type != espeakEVENT_LIST_TERMINATED; ev++) {
        if (ev->type != espeakEVENT_WORD) continue;
        if (c->nw == c->capw) {
            size_t cap = c->capw * 2 + 16;
            word *w = realloc(c->words, cap * sizeof *w);
            if (!w) {
                c->failed = 1;
                return 1;
            }
            c->words = w;
            c->capw = cap;
        }
        c->words[c->nw++] = (word){ev->text_position - 1, ev->length, ev->audio_position};
    }
    return 0;
}

/* Byte offset of code point index cp in UTF-8 text (clamped to the end). */
static size_t utf8_offset(const char *s, int cp)
{
    size_t i = 0;
    for (int k = 0; s[i] && k < cp; k++) {
        i++;
        while ((s[i] & 0xc0) == 0x80) i++;
    }
    return i;
}

static int generate(void *state, const char *params_json, const reel_plugin_sink *s)
{
    (void)state;
    json_t *p = json_loads(params_json, 0, NULL);
    if (!p) {
        s->error(s->host, "parameters are not JSON");
        return REEL_PLUGIN_EINVAL;
    }
    const char *text = json_string_value(json_object_get(p, "text"));
    const char *voice = json_is_string(json_object_get(p, "voice"))
                            ? json_string_value(json_object_get(p, "voice"))
                            : "en";
    int rate =
        json_object_get(p, "rate") ? (int)json_integer_value(json_object_get(p, "rate")) : 165;
    int pitch =
        json_object_get(p, "pitch") ? (int)json_integer_value(json_object_get(p, "pitch")) : 50;
    int vol =
        json_object_get(p, "volume") ? (int)json_integer_value(json_object_get(p, "volume")) : 100;
    collect c = {0};
    int rc = REEL_PLUGIN_OK;
    char msg[256];
    pthread_mutex_lock(&lock);
    if (!sample_rate) {
        int r = espeak_Initialize(AUDIO_OUTPUT_SYNCHRONOUS, 200, NULL, espeakINITIALIZE_DONT_EXIT);
        if (r <= 0) {
            pthread_mutex_unlock(&lock);
            s->error(s->host, "espeak-ng failed to start (is espeak-ng-data installed?)");
            json_decref(p);
            return REEL_PLUGIN_EFATAL;
        }
        sample_rate = r;
        espeak_SetSynthCallback(on_synth);
    }
    if (espeak_SetVoiceByName(voice) != EE_OK) {
        snprintf(msg, sizeof msg, "parameter 'voice': espeak-ng has no voice '%s'", voice);
        s->error(s->host, msg);
        rc = REEL_PLUGIN_EINVAL;
    } else {
        espeak_SetParameter(espeakRATE, rate, 0);
        espeak_SetParameter(espeakPITCH, pitch, 0);
        espeak_SetParameter(espeakVOLUME, vol, 0);
        if (espeak_Synth(text, strlen(text) + 1, 0, POS_CHARACTER, 0, espeakCHARS_UTF8, NULL, &c) !=
                EE_OK ||
            espeak_Synchronize() != EE_OK || c.failed) {
            s->error(s->host, c.failed ? "out of memory for audio" : "espeak-ng synthesis failed");
            rc = REEL_PLUGIN_EFATAL;
        }
    }
    int rate_hz = sample_rate;
    pthread_mutex_unlock(&lock);
    if (rc == 0 && c.n == 0) {
        s->error(s->host, "parameter 'text': nothing to say (no audio produced)");
        rc = REEL_PLUGIN_EINVAL;
    }
    if (rc == 0) rc = s->audio_begin(s->host, rate_hz, 1, REEL_PLUGIN_SAMPLE_S16);
    if (rc == 0) rc = s->audio_samples(s->host, c.pcm, (int64_t)c.n);
    if (rc == 0) {
        double total = (double)c.n / rate_hz;
        json_t *res = json_object(), *words = json_array();
        /* espeak-ng reports no event for some words ("of the" is one) and none for
         * punctuation, and may end with an empty event: each reported word takes the text up
         * to the next one, so that captions lose no word and keep the punctuation that ends a
         * phrase. */
        size_t nw = 0;
        for (size_t i = 0; i < c.nw; i++)
            if (c.words[i].char_len > 0 &&
                (nw == 0 || c.words[i].char_pos > c.words[nw - 1].char_pos))
                c.words[nw++] = c.words[i];
        size_t len = strlen(text);
        for (size_t i = 0; i < nw; i++) {
            size_t a = i ? utf8_offset(text, c.words[i].char_pos) : 0;
            size_t b = i + 1 < nw ? utf8_offset(text, c.words[i + 1].char_pos) : len;
            while (a < b && (text[a] == ' ' || text[a] == '\n' || text[a] == '\t')) a++;
            while (b > a && (text[b - 1] == ' ' || text[b - 1] == '\n' || text[b - 1] == '\t' ||
                             text[b - 1] == '\r'))
                b--;
            double start = c.words[i].ms / 1000.0;
            double end = i + 1 < nw ? c.words[i + 1].ms / 1000.0 : total;
            if (end < start) end = start;
            json_t *w = json_object();
            json_object_set_new(w, "word", json_stringn(text + a, b - a));
            json_object_set_new(w, "start_s", json_real(start));
            json_object_set_new(w, "end_s", json_real(end));
            json_array_append_new(words, w);
        }
        json_object_set_new(res, "words", words);
        json_object_set_new(res, "duration_s", json_real(total));
        char *out = json_dumps(res, JSON_COMPACT);
        json_decref(res);
        rc = out ? s->result(s->host, out) : REEL_PLUGIN_EFATAL;
        free(out);
    }
    free(c.pcm);
    free(c.words);
    json_decref(p);
    return rc;
}

static const reel_plugin_caps caps = {
    .struct_size = sizeof(reel_plugin_caps),
    .kind = REEL_PLUGIN_KIND_AUDIO,
    .name = "espeak",
    .version = "1.1",
    .description = "narration with espeak-ng (voice, rate, pitch), word timings in the result",
    .params_schema = schema,
    .max_duration_s = 3600,
    .deterministic = 1,
    .max_concurrency = 1,
    .job_cpus = 1,
    .job_mem = "512M",
};

static const reel_plugin table = {
    .api_version = REEL_PLUGIN_API_VERSION,
    .struct_size = sizeof(reel_plugin),
    .caps = &caps,
    .generate = generate,
};

REEL_PLUGIN_EXPORT const reel_plugin *reel_plugin_entry(const reel_plugin_host *host)
{
    (void)host;
    return &table;
}
