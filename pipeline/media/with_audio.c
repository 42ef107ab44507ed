/* The with_audio operation: a video with the audio of another input, fitted to its length. */
#include "pipeline/media/ops-impl.h"

int reeli_media_with_audio(const char *video, const char *audio, const char *out,
                           reeli_progress_fn progress, void *ctx)
{
    reeli_cue *cues;
    size_t nc;
    int ret = reeli_subs_load(video, &cues, &nc);
    if (ret < 0) return ret;
    ret = reeli_remux(video, audio, cues, nc, NULL, out, progress, ctx);
    reeli_cues_free(cues, nc);
    return ret;
}
