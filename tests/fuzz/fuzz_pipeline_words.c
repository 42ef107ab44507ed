/* Fuzz target: the word-timings tag a file carries ("reel-words:" + JSON, media/words.c) ->
 * words -> caption cues -> tidied cues. The first two bytes choose words per cue and the
 * film's length; whatever the tag says, the cues must come out in order, not overlapping,
 * inside the film, and every cue's text non-NULL. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "pipeline/media/media.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2) return 0;
    int per_cue = 1 + data[0] % 20;
    double film_s = data[1] * 0.25;
    char *text = malloc(size - 2 + 1);
    memcpy(text, data + 2, size - 2);
    text[size - 2] = 0;
    json_t *words = reeli_words_parse(text);
    free(text);
    if (!words) return 0;
    reeli_cue *cues;
    size_t n;
    reeli_words_to_cues(words, per_cue, 3.0, data[0] & 0x80, &cues, &n);
    json_decref(words);
    reeli_cues_tidy(cues, &n, film_s);
    for (size_t i = 0; i < n; i++) {
        if (!cues[i].text || cues[i].start_s < 0 || cues[i].end_s > film_s ||
            cues[i].end_s <= cues[i].start_s)
            abort();
        if (i && cues[i].start_s < cues[i - 1].end_s) abort();
    }
    reeli_cues_free(cues, n);
    return 0;
}
