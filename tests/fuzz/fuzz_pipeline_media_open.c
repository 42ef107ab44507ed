/* Fuzz target: container bytes -> the path every stage takes to decode a file from outside
 * reel (pipeline/media/input.c and reader.c): the guarded open (file protocol, format
 * whitelist, declared bounds), full decoding under frame/size/sample bounds, and the video
 * reader at a fixed output size, and the packet count a render verifies its result with. Bounds are
 * tight so each input stays fast; anything may be refused, nothing may crash, leak or run away. */
#include "pipeline/media/media.h"

#include "core/error.h"
#include "plugins/reel_plugin.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char path[256];

static void cleanup(void)
{
    if (*path) unlink(path);
}

static void bound(reeli_media_limits *lim, int kind)
{
    reeli_media_limits_for(lim, kind, NULL, 0, 0, 0);
    lim->max_width = lim->max_height = 256;
    lim->max_duration_s = 2;
    lim->max_frames = 48;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!*path) {
        reeli_media_log_init();
        const char *tmp = getenv("TMPDIR");
        snprintf(path, sizeof path, "%s/reel-fuzz-media-%ld.bin", tmp && *tmp ? tmp : "/tmp",
                 (long)getpid());
        atexit(cleanup);
    }
    FILE *f = fopen(path, "wb");
    if (!f) return 0;
    fwrite(data, 1, size, f);
    fclose(f);
    reeli_media_limits lim;
    bound(&lim, REEL_PLUGIN_KIND_VIDEO);
    if (reeli_media_validate(path, REEL_PLUGIN_KIND_VIDEO, &lim) == 0) {
        reeli_vr *r = reeli_vr_open_bounded(path, 32, 32, (AVRational){12, 1}, &lim);
        AVFrame *frame;
        for (int i = 0; r && i < 24 && reeli_vr_next(r, &frame) > 0; i++) {
        }
        reeli_vr_free(r);
    }
    /* how a render reads its result back: packets counted, the first picture decoded */
    reeli_probe p;
    reeli_media_probe_bounded(path, REELI_PROBE_PACKETS, &p, &lim);
    bound(&lim, REEL_PLUGIN_KIND_AUDIO);
    float *pcm = NULL;
    int64_t n = 0;
    if (reeli_audio_load_bounded(path, 8000, 1, &pcm, &n, &lim) == 0) free(pcm);
    reel_clear_error();
    return 0;
}
