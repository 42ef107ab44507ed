/* reel convert: a Nemotron-H checkpoint (Hugging Face directory or GGUF) to a GGUF v3 file
 * (llm/convert.h does the work; which tensor gets which type is llm/quantize.c's choice). */
#include "cli/cli.h"
#include "core/core.h"
#include "llm/convert.h"

#include <stdio.h>
#include <string.h>

static void type_list(char *buf, size_t size)
{
    size_t o = 0;
    buf[0] = 0;
    for (int i = 0; i < reel_llm_qtype_count() && o < size; i++)
        o += (size_t)snprintf(buf + o, size - o, "%s%s", i ? ", " : "", reel_llm_qtype_at(i)->name);
}

static int run(int argc, char **argv)
{
    const char *src = NULL, *dst = NULL;
    const reel_llm_qtype *q = reel_llm_qtype_find("f16");
    long threads = 0;
    int quiet = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--type") && i + 1 < argc) {
            const char *t = argv[++i];
            q = reel_llm_qtype_find(t);
            if (!q) {
                char list[256];
                type_list(list, sizeof list);
                return reel_cli_usage("convert", "--type must be one of %s; got '%s'", list, t);
            }
        } else if ((!strcmp(argv[i], "-t") || !strcmp(argv[i], "--threads")) && i + 1 < argc) {
            if (reel_cli_parse_int("convert", argv[i], argv[i + 1], 1, 1024, &threads) < 0)
                return REEL_EXIT_USAGE;
            i++;
        } else if (!strcmp(argv[i], "-q") || !strcmp(argv[i], "--quiet")) {
            quiet = 1;
        } else if (argv[i][0] == '-' && argv[i][1]) {
            return reel_cli_usage("convert", "unknown or incomplete option '%s'", argv[i]);
        } else if (!src) {
            src = argv[i];
        } else if (!dst) {
            dst = argv[i];
        } else {
            return reel_cli_usage("convert", "unexpected argument '%s'", argv[i]);
        }
    }
    if (!src || !dst) return reel_cli_usage("convert", "expects a source model and an output file");
    const reel_llm_convert_opts o = {(int)threads, quiet ? NULL : "convert"};
    reel_llm_convert_info info;
    if (reel_llm_convert(src, dst, q, &o, &info) < 0) return reel_cli_fail("convert");
    char counts[512], b[32];
    size_t n = 0;
    counts[0] = 0;
    for (int ty = 0; ty < REEL_DTYPE_COUNT && n < sizeof counts; ty++)
        if (info.per_type[ty])
            n += (size_t)snprintf(counts + n, sizeof counts - n, "%s%s %lld", n ? ", " : "",
                                  reel_dtype_name(ty) ? reel_dtype_name(ty) : "?",
                                  (long long)info.per_type[ty]);
    printf("%s: %s, %d tensors (%s), %s\n", dst, q->name, info.n_tensors, counts,
           reel_format_bytes((double)info.bytes_out, b, sizeof b));
    return REEL_EXIT_OK;
}

static const reel_cli_cmd reel_cmd_convert = {
    "convert",
    "convert a Hugging Face model directory (or a GGUF) to a GGUF file",
    "Usage: reel convert SRC OUT.gguf [--type T] [-t N] [-q]\n\n"
    "Reads a Nemotron-H checkpoint (a Hugging Face directory with config.json, safetensors and\n"
    "tokenizer files, or a GGUF file) and writes a GGUF v3 file with llama.cpp's metadata keys,\n"
    "tensor names and layout, tokenizer and chat template included. Tensors are converted one\n"
    "at a time as the file is written, to a temporary name renamed when complete.\n\n"
    "Options:\n"
    "  --type T        weight type: f16 (default), f32, bf16, one quantized type for every\n"
    "                  matrix (q8_0, q6_k, q5_1, q5_0, q5_k, q4_k, iq4_nl, q4_0), or a\n"
    "                  llama.cpp-like mix (q4_k_m, q5_k_m, q4_k_s, q5_k_s) chosen per tensor\n"
    "                  as reel quantize does (see reel quantize --help for the rules). Norms,\n"
    "                  biases, the conv taps, A and D always stay F32, as llama.cpp's\n"
    "                  converter keeps them.\n"
    "  -t, --threads N threads (default: one per CPU)\n"
    "  -q, --quiet     no progress display\n\n"
    "The summary line counts the tensors written in each type. The same result in one step\n"
    "from the Hugging Face hub: reel pull OWNER/REPO --quantize T.\n\n"
    "Examples:\n"
    "  reel convert ~/models/NVIDIA-Nemotron-3-Nano-4B nano-4b-f16.gguf\n"
    "  reel convert ~/models/NVIDIA-Nemotron-3-Nano-4B nano-4b-q4_k_m.gguf --type q4_k_m\n",
    run,
};
REEL_CLI_COMMAND(reel_cmd_convert)
