/* The subtitles operation: adds cues (given, or made from the narration's word timings) to a
 * video as a soft SubRip track, or burns them into the picture in a style (libass; karaoke
 * for word cues) and then writes no track. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/alloc.h"
#include "core/error.h"
#include "pipeline/media/ops-impl.h"

#define MAX_CUES 100000

int reeli_media_subtitles(const char *input, const char *words_from, const json_t *params,
                          const char *out, reeli_progress_fn progress, void *ctx)
{
    const json_t *jc = json_object_get(params, "cues");
    if (jc && !json_is_array(jc))
        return reel_set_error(REEL_EINVAL, "parameter 'cues': must be an array of "
                                           "{start_s, end_s, text}");
    if (json_array_size(jc) > MAX_CUES)
        return reel_set_error(REEL_EINVAL, "parameter 'cues': more than %d cues", MAX_CUES);
    const json_t *bv = json_object_get(params, "burn"), *wv = json_object_get(params, "words");
    if (bv && !json_is_boolean(bv))
        return reel_set_error(REEL_EINVAL, "parameter 'burn': must be true or false");
    if (wv && !json_is_boolean(wv))
        return reel_set_error(REEL_EINVAL, "parameter 'words': must be true or false");
    double per_cue, max_s;
    if (reeli_num_param(params, "words_per_cue", 4, 1, 20, "", &per_cue) < 0 ||
        reeli_num_param(params, "max_cue_s", 3, 0.5, 10, "", &max_s) < 0)
        return REEL_EINVAL;
    reeli_vr *r = reeli_vr_open(input, 0, 0, (AVRational){0, 0});
    if (!r) return reel_last_error_code();
    int W, H;
    AVRational fps;
    reeli_vr_geometry(r, &W, &H, &fps);
    double film_s = (double)reeli_vr_frames(r) * fps.den / fps.num;
    reeli_vr_free(r);
    const json_t *sv = json_object_get(params, "style");
    if (sv && !json_is_true(bv))
        return reel_set_error(REEL_EINVAL, "parameter 'style': only with burn = true (a soft "
                                           "track is styled by the player)");
    reeli_caption_style_t st;
    if (reeli_caption_style(sv, W, H, &st) < 0) return REEL_EINVAL;

    /* the narration's own word timings, when asked for and present, replace the given cues
     * (which the script computed from its durations, as a fallback) */
    reeli_cue *wcues = NULL;
    size_t n_w = 0;
    json_t *words = json_is_true(wv) ? reeli_words_load(words_from ? words_from : input) : NULL;
    if (json_array_size(words) > 0)
        reeli_words_to_cues(words, (int)per_cue, max_s, st.karaoke, &wcues, &n_w);
    json_decref(words);
    if (json_is_true(wv) && n_w == 0 && json_array_size(jc) == 0)
        return reel_set_error(REEL_EINVAL, "parameter 'words': the narration carries no word "
                                           "timings (its TTS plugin reports none) and no cues "
                                           "were given");
    reeli_cue *old;
    size_t n_old;
    int ret = reeli_subs_load(input, &old, &n_old);
    if (ret < 0) {
        reeli_cues_free(wcues, n_w);
        return ret;
    }
    size_t n = n_old + (n_w ? n_w : json_array_size(jc));
    reeli_cue *cues = reel_xcalloc(n ? n : 1, sizeof *cues);
    if (n_old) memcpy(cues, old, n_old * sizeof *cues);
    free(old);
    size_t k = n_old;
    if (n_w) memcpy(cues + k, wcues, n_w * sizeof *cues);
    k += n_w;
    free(wcues);
    size_t i;
    json_t *c;
    char *srt = NULL;
    json_array_foreach(n_w ? NULL : jc, i, c)
    {
        const json_t *s = json_object_get(c, "start_s"), *e = json_object_get(c, "end_s"),
                     *t = json_object_get(c, "text");
        if (!json_is_object(c) || !json_is_number(s) || !json_is_number(e) || !json_is_string(t) ||
            json_number_value(s) < 0 || json_number_value(e) <= json_number_value(s) ||
            json_number_value(e) > 86400) {
            ret = reel_set_error(REEL_EINVAL,
                                 "parameter 'cues[%zu]': needs numbers start_s < end_s "
                                 "(0..86400) and a string text",
                                 i);
            goto done;
        }
        cues[k++] = (reeli_cue){json_number_value(s), json_number_value(e),
                                reel_xstrdup(json_string_value(t))};
    }
    /* in time order, one at a time, inside the film */
    reeli_cues_tidy(cues, &k, film_s);
    if (json_is_true(bv)) {
        /* an ASS script in the asked style, drawn by libass */
        const char *base = getenv("TMPDIR");
        srt = reel_xasprintf("%s/reel-burn-XXXXXX.ass", base && *base ? base : "/tmp");
        int fd = mkstemps(srt, 4);
        FILE *f = fd >= 0 ? fdopen(fd, "w") : NULL;
        if (!f) {
            if (fd >= 0) close(fd);
            ret = reel_set_error_errno("%s", srt);
            goto done;
        }
        ret = reeli_ass_write(f, cues, k, &st);
        if (fclose(f) != 0 && ret >= 0) ret = reel_set_error_errno("%s", srt);
        if (ret < 0) goto done;
    }
    /* burnt in, the cues are in the picture: no soft track to show them twice */
    json_t *iw = reeli_words_load(input), *meta = reeli_words_metadata(iw);
    reeli_remux_opts o = {.video = input,
                          .audio_src = reeli_has_audio(input) ? input : NULL,
                          .cues = cues,
                          .n_cues = srt ? 0 : k,
                          .burn_srt = srt,
                          .metadata = meta};
    ret = reeli_remux(&o, out, progress, ctx);
    json_decref(iw);
    json_decref(meta);
done:
    if (srt) unlink(srt);
    free(srt);
    reeli_cues_free(cues, k);
    return ret;
}
