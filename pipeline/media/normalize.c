/* The normalize operation: re-encodes a plugin's output into the intermediate format of its
 * kind (video -> FFV1 in Matroska with PCM audio, audio -> PCM WAV). */
#include <stdlib.h>

#include "core/error.h"
#include "pipeline/media/ops-impl.h"
#include "plugins/reel_plugin.h"

int reeli_media_normalize(const char *in, int kind, const char *out, const reeli_media_limits *lim)
{
    if (kind == REEL_PLUGIN_KIND_AUDIO) {
        reeli_probe p;
        int ret = reeli_media_probe_bounded(in, 0, &p, lim);
        if (ret < 0) return ret;
        int ch = p.channels >= 1 && p.channels <= 8 ? p.channels : 2;
        int rate = p.sample_rate >= 4000 && p.sample_rate <= 192000 ? p.sample_rate : REELI_RATE;
        float *pcm;
        int64_t n;
        if ((ret = reeli_audio_load_bounded(in, rate, ch, &pcm, &n, lim)) < 0) return ret;
        reeli_mw_opts o = {.path = out,
                           .format = "wav",
                           .sample_rate = rate,
                           .channels = ch,
                           .acodec = "pcm_s16le"};
        reeli_mw *w = reeli_mw_open(&o);
        if (!w) {
            free(pcm);
            return reel_last_error_code();
        }
        reeli_mw_set_audio(w, pcm, n);
        ret = reeli_mw_close(w);
        free(pcm);
        return ret;
    }
    reeli_vr *r = reeli_vr_open_bounded(in, 0, 0, (AVRational){0, 0}, lim);
    if (!r) return reel_last_error_code();
    int w0, h0;
    AVRational fps;
    reeli_vr_geometry(r, &w0, &h0, &fps);
    reeli_vr_free(r);
    /* yuv420p needs even sizes: pad odd ones by one pixel */
    r = reeli_vr_open_bounded(in, (w0 + 1) & ~1, (h0 + 1) & ~1, fps, lim);
    if (!r) return reel_last_error_code();
    float *pcm = NULL;
    int64_t n = 0;
    reeli_probe pr;
    int ret = reeli_media_probe_bounded(in, 0, &pr, lim);
    if (ret < 0) goto done;
    int audio = pr.has_audio;
    if (audio) {
        if ((ret = reeli_audio_load_bounded(in, REELI_RATE, REELI_CHANNELS, &pcm, &n, lim)) < 0)
            goto done;
        int64_t want = reeli_frames_to_samples(reeli_vr_frames(r), fps);
        if (!(pcm = reeli_fit_audio(pcm, n, want))) {
            ret = reel_set_error(REEL_ENOMEM, "out of memory for audio");
            goto done;
        }
        n = want;
    }
    reeli_mw_opts o = {.path = out,
                       .format = "matroska",
                       .width = (w0 + 1) & ~1,
                       .height = (h0 + 1) & ~1,
                       .fps = fps,
                       .vcodec = REELI_VCODEC,
                       .sample_rate = audio ? REELI_RATE : 0,
                       .channels = REELI_CHANNELS,
                       .acodec = "pcm_s16le"};
    reeli_mw *w = reeli_mw_open(&o);
    if (!w) {
        ret = reel_last_error_code();
        goto done;
    }
    if (audio) reeli_mw_set_audio(w, pcm, n);
    AVFrame *f;
    while ((ret = reeli_vr_next(r, &f)) > 0)
        if ((ret = reeli_mw_video(w, f)) < 0) break;
    if (ret < 0)
        reeli_mw_free(w);
    else
        ret = reeli_mw_close(w);
done:
    reeli_vr_free(r);
    free(pcm);
    return ret < 0 ? ret : 0;
}
