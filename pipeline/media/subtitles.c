/* The subtitles operation: adds cues to a video as a soft SubRip track, or burns them into
 * the picture. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/alloc.h"
#include "core/error.h"
#include "pipeline/media/ops-impl.h"

#define MAX_CUES 100000

static void srt_time(FILE *f, double t)
{
    int64_t ms = llround(t * 1000);
    fprintf(f, "%02d:%02d:%02d,%03d", (int)(ms / 3600000), (int)(ms / 60000 % 60),
            (int)(ms / 1000 % 60), (int)(ms % 1000));
}

int reeli_media_subtitles(const char *input, const json_t *params, const char *out,
                          reeli_progress_fn progress, void *ctx)
{
    const json_t *jc = json_object_get(params, "cues");
    if (!json_is_array(jc))
        return reel_set_error(REEL_EINVAL, "parameter 'cues': must be an array of "
                                           "{start_s, end_s, text}");
    if (json_array_size(jc) > MAX_CUES)
        return reel_set_error(REEL_EINVAL, "parameter 'cues': more than %d cues", MAX_CUES);
    const json_t *bv = json_object_get(params, "burn");
    if (bv && !json_is_boolean(bv))
        return reel_set_error(REEL_EINVAL, "parameter 'burn': must be true or false");
    reeli_cue *old;
    size_t n_old;
    int ret = reeli_subs_load(input, &old, &n_old);
    if (ret < 0) return ret;
    size_t n = n_old + json_array_size(jc);
    reeli_cue *cues = reel_xcalloc(n ? n : 1, sizeof *cues);
    if (n_old) memcpy(cues, old, n_old * sizeof *cues);
    free(old);
    size_t k = n_old;
    size_t i;
    json_t *c;
    char *srt = NULL;
    json_array_foreach(jc, i, c)
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
    /* keep cues in time order (stable insertion sort: the lists are short) */
    for (size_t a = 1; a < k; a++)
        for (size_t b = a; b > 0 && cues[b].start_s < cues[b - 1].start_s; b--) {
            reeli_cue tmp = cues[b];
            cues[b] = cues[b - 1];
            cues[b - 1] = tmp;
        }
    if (json_is_true(bv)) {
        const char *base = getenv("TMPDIR");
        srt = reel_xasprintf("%s/reel-burn-XXXXXX.srt", base && *base ? base : "/tmp");
        int fd = mkstemps(srt, 4);
        FILE *f = fd >= 0 ? fdopen(fd, "w") : NULL;
        if (!f) {
            if (fd >= 0) close(fd);
            ret = reel_set_error_errno("%s", srt);
            goto done;
        }
        for (size_t q = 0; q < k; q++) {
            fprintf(f, "%zu\n", q + 1);
            srt_time(f, cues[q].start_s);
            fputs(" --> ", f);
            srt_time(f, cues[q].end_s);
            fprintf(f, "\n%s\n\n", cues[q].text);
        }
        if (fclose(f) != 0) {
            ret = reel_set_error_errno("%s", srt);
            goto done;
        }
    }
    ret =
        reeli_remux(input, reeli_has_audio(input) ? input : NULL, cues, k, srt, out, progress, ctx);
done:
    if (srt) unlink(srt);
    free(srt);
    reeli_cues_free(cues, k);
    return ret;
}
