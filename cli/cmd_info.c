/* reel info: what a model file holds (GGUF or HF directory) and what it needs in memory, or the
 * compute devices reel can use (--devices). */
#include "cli/cli.h"
#include "core/core.h"
#include "kernels/kernels.h"
#include "llm/model.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

static int show_devices(void)
{
    char cpu[256], mem[32];
    reel_kernels_cpu_describe(cpu, sizeof cpu);
    printf("cpu: %d threads, %s\n", reel_cpu_count(), cpu);
    const char *why = NULL;
    int n = reel_kernels_gpu_count(&why);
    if (n == 0) {
        printf("cuda: none (%s)\n", why ? why : "no device");
        return REEL_EXIT_OK;
    }
    for (int i = 0; i < n; i++) {
        reel_gpu_info g;
        if (reel_kernels_gpu_info(i, &g) < 0) return reel_cli_fail("info");
        printf("cuda:%d: %s, compute %d.%d, %d SMs, %s\n", i, g.name, g.cc_major, g.cc_minor,
               g.multiprocessors, reel_format_bytes((double)g.total_mem, mem, sizeof mem));
    }
    return REEL_EXIT_OK;
}

/* What the model needs in memory. */
typedef struct usage {
    int n_kind[4];
    int64_t type_count[REEL_DTYPE_COUNT];
    uint64_t type_bytes[REEL_DTYPE_COUNT];
    uint64_t weights;       /* bytes of all tensors */
    uint64_t kv, conv, ssm; /* decode state at the context length */
} usage;

static void measure(const reel_llm_desc *d, int64_t ctx, usage *u)
{
    memset(u, 0, sizeof *u);
    const reel_llm_hparams *hp = reel_llm_desc_hparams(d);
    for (int i = 0; i < hp->n_layer; i++) u->n_kind[hp->layer_kind[i]]++;
    for (int i = 0; i < reel_llm_desc_n_tensors(d); i++) {
        const reel_llm_tensor *t = reel_llm_desc_tensor_at(d, i);
        u->type_count[t->type]++;
        u->type_bytes[t->type] += t->nbytes;
        u->weights += t->nbytes;
    }
    uint64_t dc = (uint64_t)hp->ssm_d_inner + 2ull * hp->ssm_n_groups * hp->ssm_d_state;
    u->kv =
        2ull * hp->n_head_kv * hp->head_dim * 2 * (uint64_t)ctx * u->n_kind[REEL_LLM_LAYER_ATTN];
    u->conv = (uint64_t)(hp->ssm_d_conv - 1) * dc * 4 * u->n_kind[REEL_LLM_LAYER_MAMBA];
    u->ssm = (uint64_t)hp->ssm_n_heads * hp->ssm_head_dim * hp->ssm_d_state * 4 *
             u->n_kind[REEL_LLM_LAYER_MAMBA];
    REEL_ASSERT(u->kv + u->conv + u->ssm == reel_llm_hparams_state_bytes(hp, ctx));
}

static void print_text(const reel_llm_desc *d, int64_t ctx, const usage *u)
{
    const reel_llm_hparams *hp = reel_llm_desc_hparams(d);
    const reel_llm_vocab *v = reel_llm_desc_vocab(d);
    char b1[32], b2[32], b3[32], b4[32];
    printf("model:        %s (%s, %s)\n", reel_llm_desc_path(d), reel_llm_desc_format(d),
           reel_format_bytes((double)reel_llm_desc_file_size(d), b1, sizeof b1));
    printf("architecture: %s\n", hp->arch);
    printf("layers:       %d: %d Mamba, %d attention, %d MLP, %d MoE\n", hp->n_layer, u->n_kind[0],
           u->n_kind[1], u->n_kind[2], u->n_kind[3]);
    printf("pattern:      %s\n", hp->pattern);
    printf("hidden:       %d\n", hp->n_embd);
    printf("vocab:        %d\n", hp->n_vocab);
    if (u->n_kind[REEL_LLM_LAYER_MAMBA])
        printf("mamba:        %d heads x %d (inner %d), %d groups, state %d, conv %d\n",
               hp->ssm_n_heads, hp->ssm_head_dim, hp->ssm_d_inner, hp->ssm_n_groups,
               hp->ssm_d_state, hp->ssm_d_conv);
    if (u->n_kind[REEL_LLM_LAYER_ATTN])
        printf("attention:    %d heads, %d KV heads, head dim %d\n", hp->n_head, hp->n_head_kv,
               hp->head_dim);
    if (u->n_kind[REEL_LLM_LAYER_MLP]) printf("mlp:          intermediate %d\n", hp->n_ff);
    if (u->n_kind[REEL_LLM_LAYER_MOE])
        printf("moe:          %d experts, %d used, intermediate %d, shared %d\n", hp->n_expert,
               hp->n_expert_used, hp->n_ff_exp, hp->n_ff_shexp);
    int64_t np = reel_llm_desc_n_params(d);
    if (np >= 1000000000)
        printf("parameters:   %" PRId64 " (%.2f B)\n", np, (double)np / 1e9);
    else
        printf("parameters:   %" PRId64 " (%.2f M)\n", np, (double)np / 1e6);
    printf("tensors:      %d:", reel_llm_desc_n_tensors(d));
    for (int t = 0; t < REEL_DTYPE_COUNT; t++)
        if (u->type_count[t])
            printf(" %s %" PRId64 " (%s)", reel_dtype_name(t), u->type_count[t],
                   reel_format_bytes((double)u->type_bytes[t], b1, sizeof b1));
    printf("\n");
    printf("tokenizer:    %d tokens, %d merges, bos %d, eos %d%s%s\n", v->n_tokens, v->n_merges,
           v->bos_id, v->eos_id, v->add_bos ? ", adds bos" : "",
           v->chat_template ? ", chat template" : "");
    printf("memory:       weights %s + state %s at %" PRId64 " tokens = %s\n",
           reel_format_bytes((double)u->weights, b1, sizeof b1),
           reel_format_bytes((double)(u->kv + u->conv + u->ssm), b2, sizeof b2), ctx,
           reel_format_bytes((double)(u->weights + u->kv + u->conv + u->ssm), b3, sizeof b3));
    printf("state:        KV cache %s (f16), conv %s, SSM %s\n",
           reel_format_bytes((double)u->kv, b1, sizeof b1),
           reel_format_bytes((double)u->conv, b2, sizeof b2),
           reel_format_bytes((double)u->ssm, b4, sizeof b4));
}

static int print_json(const reel_llm_desc *d, int64_t ctx, const usage *u)
{
    const reel_llm_hparams *hp = reel_llm_desc_hparams(d);
    const reel_llm_vocab *v = reel_llm_desc_vocab(d);
    json_t *types = json_object();
    for (int t = 0; t < REEL_DTYPE_COUNT; t++)
        if (u->type_count[t])
            json_object_set_new(types, reel_dtype_name(t),
                                json_pack("{s:I,s:I}", "count", (json_int_t)u->type_count[t],
                                          "bytes", (json_int_t)u->type_bytes[t]));
    json_t *o = json_pack("{s:s,s:s,s:I,s:s,s:s,s:i,s:i,s:i,s:{s:i,s:i,s:i,s:i}}", "path",
                          reel_llm_desc_path(d), "format", reel_llm_desc_format(d), "file_size",
                          (json_int_t)reel_llm_desc_file_size(d), "architecture", hp->arch,
                          "pattern", hp->pattern, "n_layer", hp->n_layer, "n_embd", hp->n_embd,
                          "n_vocab", hp->n_vocab, "layers", "mamba", u->n_kind[0], "attention",
                          u->n_kind[1], "mlp", u->n_kind[2], "moe", u->n_kind[3]);
    json_object_set_new(o, "mamba",
                        json_pack("{s:i,s:i,s:i,s:i,s:i,s:i,s:i}", "heads", hp->ssm_n_heads,
                                  "head_dim", hp->ssm_head_dim, "inner", hp->ssm_d_inner, "groups",
                                  hp->ssm_n_groups, "state", hp->ssm_d_state, "conv",
                                  hp->ssm_d_conv, "chunk", hp->ssm_chunk_size));
    json_object_set_new(o, "attention",
                        json_pack("{s:i,s:i,s:i}", "heads", hp->n_head, "kv_heads", hp->n_head_kv,
                                  "head_dim", hp->head_dim));
    json_object_set_new(o, "n_ff", json_integer(hp->n_ff));
    json_object_set_new(o, "norm_eps", json_real(hp->norm_eps));
    json_object_set_new(o, "context_length", json_integer(hp->context_length));
    if (hp->n_expert)
        json_object_set_new(o, "moe",
                            json_pack("{s:i,s:i,s:i,s:i,s:f,s:b}", "experts", hp->n_expert, "used",
                                      hp->n_expert_used, "n_ff", hp->n_ff_exp, "n_ff_shared",
                                      hp->n_ff_shexp, "scale", (double)hp->expert_weights_scale,
                                      "norm", hp->expert_weights_norm));
    json_object_set_new(o, "parameters", json_integer(reel_llm_desc_n_params(d)));
    json_object_set_new(o, "n_tensors", json_integer(reel_llm_desc_n_tensors(d)));
    json_object_set_new(o, "tensor_types", types);
    json_t *eog = json_array();
    for (int i = 0; i < v->n_eog; i++) json_array_append_new(eog, json_integer(v->eog_ids[i]));
    json_object_set_new(o, "tokenizer",
                        json_pack("{s:i,s:i,s:i,s:i,s:b,s:o,s:b}", "tokens", v->n_tokens, "merges",
                                  v->n_merges, "bos", v->bos_id, "eos", v->eos_id, "add_bos",
                                  v->add_bos, "eog", eog, "chat_template",
                                  v->chat_template != NULL));
    json_object_set_new(o, "memory",
                        json_pack("{s:I,s:I,s:I,s:I,s:I,s:I,s:I}", "ctx", (json_int_t)ctx,
                                  "weights", (json_int_t)u->weights, "kv_cache", (json_int_t)u->kv,
                                  "conv_state", (json_int_t)u->conv, "ssm_state",
                                  (json_int_t)u->ssm, "state",
                                  (json_int_t)(u->kv + u->conv + u->ssm), "total",
                                  (json_int_t)(u->weights + u->kv + u->conv + u->ssm)));
    char *text = json_dumps(o, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    json_decref(o);
    if (!text) return reel_set_error(REEL_ENOMEM, "cannot format JSON");
    puts(text);
    free(text);
    return 0;
}

static int show_model(const char *path, int64_t ctx, int as_json)
{
    reel_llm_desc *d = reel_llm_desc_load(path);
    if (!d) {
        /* loader messages start with the path already: "reel: bad.gguf: what, at offset N" */
        const char *msg = reel_last_error();
        if (strncmp(msg, path, strlen(path)) == 0)
            fprintf(stderr, "reel: %s\n", msg);
        else
            reel_cli_error(path, "%s", *msg ? msg : reel_strerror(reel_last_error_code()));
        return REEL_EXIT_FAIL;
    }
    usage u;
    measure(d, ctx, &u);
    int rc = 0;
    if (as_json)
        rc = print_json(d, ctx, &u);
    else
        print_text(d, ctx, &u);
    reel_llm_desc_free(d);
    return rc < 0 ? reel_cli_fail("info") : REEL_EXIT_OK;
}

static int run(int argc, char **argv)
{
    int devices = 0, as_json = 0;
    long ctx = 8192;
    const char *model = NULL;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--devices") == 0) {
            devices = 1;
        } else if (strcmp(argv[i], "--json") == 0) {
            as_json = 1;
        } else if (strcmp(argv[i], "--ctx") == 0 || strncmp(argv[i], "--ctx=", 6) == 0) {
            const char *val = argv[i][5] == '=' ? argv[i] + 6 : (i + 1 < argc ? argv[++i] : NULL);
            if (!val) return reel_cli_usage("info", "--ctx needs a number of tokens");
            if (reel_cli_parse_int("info", "--ctx", val, 1, 1L << 30, &ctx) < 0)
                return REEL_EXIT_USAGE;
        } else if (strcmp(argv[i], "--") == 0 && i + 1 < argc && !model) {
            model = argv[++i];
        } else if (argv[i][0] == '-') {
            return reel_cli_usage("info", "unknown option '%s'", argv[i]);
        } else if (model) {
            return reel_cli_usage("info", "one model at a time ('%s' and '%s')", model, argv[i]);
        } else {
            model = argv[i];
        }
    }
    if (!devices && !model)
        return reel_cli_usage("info", "nothing to show: give a model (GGUF file or HF folder) or "
                                      "--devices");
    if (devices) {
        int rc = show_devices();
        if (rc != REEL_EXIT_OK || !model) return rc;
        if (!as_json) printf("\n");
    }
    return show_model(model, ctx, as_json);
}

static const reel_cli_cmd reel_cmd_info = {
    "info",
    "describe a model (GGUF file or HF folder) and its memory needs, or the devices",
    "Usage: reel info MODEL [--ctx N] [--json]\n"
    "       reel info --devices\n\n"
    "Describes a Nemotron-H model without running it: architecture, layer pattern (M Mamba-2,\n"
    "* attention, - MLP, E MoE), sizes, parameter count, tensor types, tokenizer, file size, and\n"
    "the memory it needs: the weights plus the decode state for one sequence of N tokens (KV\n"
    "cache in f16 for the attention layers, conv and SSM state for the Mamba layers).\n\n"
    "  MODEL       a GGUF file, or a Hugging Face folder (config.json, *.safetensors,\n"
    "              tokenizer.json, tokenizer_config.json)\n"
    "  --ctx N     context length for the memory estimate (default 8192)\n"
    "  --json      print one JSON object instead of text\n"
    "  --devices   list the CPU (threads, SIMD extensions) and the CUDA GPUs reel can use,\n"
    "              or why none can be used (no CUDA in this build, no driver, no GPU)\n\n"
    "A damaged or unsupported file is reported with what is wrong and where, exit status 1.\n\n"
    "Examples:\n"
    "  reel info models/nemotron-3-nano-4b-q8_0.gguf\n"
    "  reel info ~/hf/NVIDIA-Nemotron-3-Nano-4B --ctx 32768 --json\n",
    run,
};
REEL_CLI_COMMAND(reel_cmd_info)
