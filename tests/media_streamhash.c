/* Test tool: prints one line per stream of a media file, "INDEX TYPE CODEC PACKETS SHA256", the
 * hash over every packet's data, pts and dts in file order. Two files with equal lines carry
 * the same streams even when their containers differ in what muxers make up (Matroska writes a
 * random segment UID), which is how test_pipeline_slurm.sh compares renders. */
#include "core/core.h"

#include <libavformat/avformat.h>
#include <stdio.h>

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: media_streamhash FILE\n");
        return 2;
    }
    AVFormatContext *fc = NULL;
    if (avformat_open_input(&fc, argv[1], NULL, NULL) < 0 ||
        avformat_find_stream_info(fc, NULL) < 0) {
        fprintf(stderr, "media_streamhash: %s: cannot be read\n", argv[1]);
        return 1;
    }
    unsigned n = fc->nb_streams;
    reel_sha256 **h = reel_xcalloc(n, sizeof *h);
    long *count = reel_xcalloc(n, sizeof *count);
    for (unsigned i = 0; i < n; i++) h[i] = reel_sha256_init();
    AVPacket *pkt = av_packet_alloc();
    while (av_read_frame(fc, pkt) >= 0) {
        unsigned s = (unsigned)pkt->stream_index;
        if (s < n) {
            reel_sha256_update(h[s], pkt->data, (size_t)pkt->size);
            reel_sha256_update(h[s], &pkt->pts, sizeof pkt->pts);
            reel_sha256_update(h[s], &pkt->dts, sizeof pkt->dts);
            count[s]++;
        }
        av_packet_unref(pkt);
    }
    for (unsigned i = 0; i < n; i++) {
        uint8_t d[REEL_SHA256_SIZE];
        char hex[REEL_SHA256_HEX_SIZE];
        reel_sha256_final(h[i], d);
        const AVCodecParameters *p = fc->streams[i]->codecpar;
        printf("%u %s %s %ld %s\n", i, av_get_media_type_string(p->codec_type),
               avcodec_get_name(p->codec_id), count[i], reel_hex(d, sizeof d, hex));
    }
    av_packet_free(&pkt);
    avformat_close_input(&fc);
    free(h);
    free(count);
    return 0;
}
