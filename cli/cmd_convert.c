/* reel convert: a Nemotron-H checkpoint (Hugging Face directory or GGUF) to a GGUF v3 file with
 * the metadata and tensor layout llama.cpp's converter writes (docs/model.md §4), weights as
 * F32, F16, BF16 or one quantized type; which tensor gets which type (F32 class, fallbacks for
 * rows that are not whole blocks) is llm/quantize.c's choice, as for reel quantize. */
#include "cli/cli.h"
#include "core/core.h"
#include "llm/gguf.h"
#include "llm/model.h"
#include "llm/quantize.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), k = strlen(suffix);
    return n >= k && strcmp(s + n - k, suffix) == 0;
}

/* Converts tensor t to dst of type out, row by row. */
static int convert(const reel_llm_tensor *t, reel_dtype out, void *dst, float *row)
{
    const int64_t n0 = t->ne[0], rows = reel_llm_tensor_nelements(t) / (n0 ? n0 : 1);
    if (reel_llm_quant_rows(out, dst, t->type, t->data, n0, 0, rows, row) < 0)
        return reel_set_error(REEL_EUNSUPPORTED, "tensor %s: type %s cannot be converted", t->name,
                              reel_dtype_name(t->type));
    return 0;
}

#define CHECK(call)                                                                                \
    do {                                                                                           \
        if ((rc = (call)) < 0) goto fail;                                                          \
    } while (0)

static int write_metadata(reel_gguf_writer *w, const reel_llm_hparams *hp, const reel_llm_vocab *v)
{
    int rc = 0;
    char key[128];
    /* the layers decide: transformers 5 writes MoE defaults (num_experts_per_tok, ...) into
     * every NemotronH config, so a dense checkpoint may be described as nemotron_h_moe */
    const char *a = "nemotron_h";
    for (int l = 0; l < hp->n_layer; l++)
        if (hp->layer_kind[l] == REEL_LLM_LAYER_MOE) a = "nemotron_h_moe";
#define K(suffix) (snprintf(key, sizeof key, "%s." suffix, a), key)
    CHECK(reel_gguf_writer_set_str(w, "general.architecture", a));
    CHECK(reel_gguf_writer_set_u32(w, K("block_count"), (uint32_t)hp->n_layer));
    CHECK(reel_gguf_writer_set_u32(w, K("context_length"),
                                   (uint32_t)(hp->context_length > 0 ? hp->context_length : 4096)));
    CHECK(reel_gguf_writer_set_u32(w, K("embedding_length"), (uint32_t)hp->n_embd));
    int32_t *ff = reel_xcalloc((size_t)hp->n_layer, sizeof *ff);
    int32_t *kv = reel_xcalloc((size_t)hp->n_layer, sizeof *kv);
    for (int l = 0; l < hp->n_layer; l++) {
        ff[l] = hp->layer_kind[l] == REEL_LLM_LAYER_MLP   ? hp->n_ff
                : hp->layer_kind[l] == REEL_LLM_LAYER_MOE ? hp->n_ff_exp
                                                          : 0;
        kv[l] = hp->layer_kind[l] == REEL_LLM_LAYER_ATTN ? hp->n_head_kv : 0;
    }
    rc = reel_gguf_writer_set_array(w, K("feed_forward_length"), REEL_GGUF_TYPE_INT32, ff,
                                    (uint64_t)hp->n_layer);
    if (rc == 0)
        rc = reel_gguf_writer_set_array(w, K("attention.head_count_kv"), REEL_GGUF_TYPE_INT32, kv,
                                        (uint64_t)hp->n_layer);
    free(ff);
    free(kv);
    if (rc < 0) goto fail;
    CHECK(reel_gguf_writer_set_u32(w, K("attention.head_count"), (uint32_t)hp->n_head));
    CHECK(reel_gguf_writer_set_u32(w, K("attention.key_length"), (uint32_t)hp->head_dim));
    CHECK(reel_gguf_writer_set_u32(w, K("attention.value_length"), (uint32_t)hp->head_dim));
    CHECK(reel_gguf_writer_set_f32(w, K("attention.layer_norm_rms_epsilon"), hp->norm_eps));
    /* some llama.cpp builds (llama-cpp-python 0.3.36) also read the non-RMS key for nemotron_h */
    CHECK(reel_gguf_writer_set_f32(w, K("attention.layer_norm_epsilon"), hp->norm_eps));
    CHECK(reel_gguf_writer_set_u32(w, K("ssm.conv_kernel"), (uint32_t)hp->ssm_d_conv));
    CHECK(reel_gguf_writer_set_u32(w, K("ssm.state_size"), (uint32_t)hp->ssm_d_state));
    CHECK(reel_gguf_writer_set_u32(w, K("ssm.group_count"), (uint32_t)hp->ssm_n_groups));
    CHECK(reel_gguf_writer_set_u32(w, K("ssm.inner_size"), (uint32_t)hp->ssm_d_inner));
    CHECK(reel_gguf_writer_set_u32(w, K("ssm.time_step_rank"), (uint32_t)hp->ssm_n_heads));
    CHECK(reel_gguf_writer_set_u32(w, K("vocab_size"), (uint32_t)hp->n_vocab));
    if (!strcmp(a, "nemotron_h_moe")) {
        CHECK(reel_gguf_writer_set_u32(w, K("expert_count"), (uint32_t)hp->n_expert));
        CHECK(reel_gguf_writer_set_u32(w, K("expert_used_count"), (uint32_t)hp->n_expert_used));
        CHECK(reel_gguf_writer_set_u32(w, K("expert_feed_forward_length"), (uint32_t)hp->n_ff_exp));
        CHECK(reel_gguf_writer_set_u32(w, K("expert_shared_feed_forward_length"),
                                       (uint32_t)hp->n_ff_shexp));
        CHECK(reel_gguf_writer_set_u32(w, K("expert_shared_count"), hp->n_ff_shexp > 0 ? 1 : 0));
        CHECK(reel_gguf_writer_set_f32(w, K("expert_weights_scale"), hp->expert_weights_scale));
        CHECK(reel_gguf_writer_set_bool(w, K("expert_weights_norm"), hp->expert_weights_norm));
        CHECK(reel_gguf_writer_set_u32(w, K("expert_group_count"), 1));
        CHECK(reel_gguf_writer_set_u32(w, K("expert_group_used_count"), 1));
    }
#undef K
    if (!v || v->n_tokens <= 0) return 0;
    CHECK(reel_gguf_writer_set_str(w, "tokenizer.ggml.model", v->model ? v->model : "gpt2"));
    CHECK(reel_gguf_writer_set_str(w, "tokenizer.ggml.pre", v->pre ? v->pre : "pixtral"));
    /* ids without a token (holes in a tokenizer.json) become unused "[PAD<id>]" entries */
    char **names = reel_xcalloc((size_t)v->n_tokens, sizeof *names);
    int32_t *types = reel_xcalloc((size_t)v->n_tokens, sizeof *types);
    for (int i = 0; i < v->n_tokens; i++) {
        names[i] = v->tokens[i] ? reel_xstrdup(v->tokens[i]) : reel_xasprintf("[PAD%d]", i);
        types[i] = !v->tokens[i] ? 5 : v->token_type ? v->token_type[i] : 1;
    }
    rc = reel_gguf_writer_set_array_str(w, "tokenizer.ggml.tokens", (const char *const *)names,
                                        (uint64_t)v->n_tokens);
    if (rc == 0)
        rc = reel_gguf_writer_set_array(w, "tokenizer.ggml.token_type", REEL_GGUF_TYPE_INT32, types,
                                        (uint64_t)v->n_tokens);
    for (int i = 0; i < v->n_tokens; i++) free(names[i]);
    free(names);
    free(types);
    if (rc < 0) goto fail;
    if (v->n_merges > 0)
        CHECK(reel_gguf_writer_set_array_str(
            w, "tokenizer.ggml.merges", (const char *const *)v->merges, (uint64_t)v->n_merges));
    const struct {
        const char *key;
        int32_t id;
    } ids[] = {{"tokenizer.ggml.bos_token_id", v->bos_id},
               {"tokenizer.ggml.eos_token_id", v->eos_id},
               {"tokenizer.ggml.unknown_token_id", v->unk_id},
               {"tokenizer.ggml.padding_token_id", v->pad_id}};
    for (size_t i = 0; i < sizeof ids / sizeof ids[0]; i++)
        if (ids[i].id >= 0) CHECK(reel_gguf_writer_set_u32(w, ids[i].key, (uint32_t)ids[i].id));
    CHECK(reel_gguf_writer_set_bool(w, "tokenizer.ggml.add_bos_token", v->add_bos));
    CHECK(reel_gguf_writer_set_bool(w, "tokenizer.ggml.add_eos_token", v->add_eos));
    if (v->chat_template)
        CHECK(reel_gguf_writer_set_str(w, "tokenizer.chat_template", v->chat_template));
    return 0;
fail:
    return reel_error_prefix("metadata");
}

/* Writes blk.L.ffn_WHICH_exps.weight {n_in, n_out, E} from the E per-expert tensors, converted
 * to out (the type of expert 0); *buf receives the memory the writer borrows. */
static int stack_experts(reel_gguf_writer *w, const reel_llm_desc *d, int layer, const char *which,
                         reel_dtype out, void **buf, float *row)
{
    const int E = reel_llm_desc_hparams(d)->n_expert;
    char name[96];
    snprintf(name, sizeof name, "blk.%d.ffn_%s_exps.0.weight", layer, which);
    const reel_llm_tensor *t0 = reel_llm_desc_tensor(d, name);
    if (!t0 || E < 1) return reel_set_error(REEL_EFORMAT, "%s: no experts", name);
    const size_t slab = reel_dtype_row_bytes(out, reel_llm_tensor_nelements(t0));
    uint8_t *b = malloc(slab * (size_t)E);
    *buf = b;
    if (!b) return reel_set_error(REEL_ENOMEM, "%s: no memory to stack %d experts", name, E);
    for (int j = 0; j < E; j++) {
        snprintf(name, sizeof name, "blk.%d.ffn_%s_exps.%d.weight", layer, which, j);
        const reel_llm_tensor *t = reel_llm_desc_tensor(d, name);
        if (!t || t->ne[0] != t0->ne[0] || t->ne[1] != t0->ne[1])
            return reel_set_error(REEL_EFORMAT, "%s: missing, or shaped unlike expert 0", name);
        int rc = convert(t, out, b + (size_t)j * slab, row);
        if (rc < 0) return rc;
    }
    snprintf(name, sizeof name, "blk.%d.ffn_%s_exps.weight", layer, which);
    const int64_t ne[3] = {t0->ne[0], t0->ne[1], E};
    return reel_gguf_writer_add_tensor(w, name, out, 3, ne, b, slab * (size_t)E);
}

static int run(int argc, char **argv)
{
    const char *src = NULL, *dst = NULL;
    const reel_llm_qtype *q = reel_llm_qtype_find("f16");
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--type") && i + 1 < argc) {
            const char *t = argv[++i];
            q = reel_llm_qtype_find(t);
            if (!q || q->mix != REEL_LLM_MIX_PURE)
                return reel_cli_usage("convert",
                                      "--type expects f32, f16, bf16, q8_0, q6_k, q5_1, q5_0, "
                                      "q5_k, q4_k, iq4_nl or q4_0, got '%s' (for mixes like "
                                      "q4_k_m, convert to f16 and use reel quantize)",
                                      t);
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

    int rc = REEL_EXIT_FAIL;
    reel_gguf_writer *w = NULL;
    void **bufs = NULL;
    float *row = NULL;
    reel_llm_qtensor *qts = NULL;
    int n_bufs = 0, n_written = 0;
    reel_llm_desc *d = reel_llm_desc_load(src);
    if (!d) return reel_cli_fail(src);
    const reel_llm_hparams *hp = reel_llm_desc_hparams(d);
    int has_mlp = 0, has_moe = 0;
    for (int l = 0; l < hp->n_layer; l++) {
        has_mlp |= hp->layer_kind[l] == REEL_LLM_LAYER_MLP;
        has_moe |= hp->layer_kind[l] == REEL_LLM_LAYER_MOE;
    }
    if (has_mlp && has_moe) {
        /* GGUF marks both by feed_forward_length > 0 and tells them apart by the architecture */
        reel_cli_error(src, "a model with both MLP and MoE layers cannot be written as GGUF");
        goto done;
    }
    w = reel_gguf_writer_init();
    if (write_metadata(w, hp, reel_llm_desc_vocab(d)) < 0) {
        rc = reel_cli_fail(dst);
        goto done;
    }
    const int nt = reel_llm_desc_n_tensors(d);
    bufs = reel_xcalloc((size_t)nt + 1, sizeof *bufs);
    int64_t widest = 1;
    for (int i = 0; i < nt; i++)
        if (reel_llm_desc_tensor_at(d, i)->ne[0] > widest)
            widest = reel_llm_desc_tensor_at(d, i)->ne[0];
    row = reel_xmalloc((size_t)widest * sizeof(float));
    qts = reel_xcalloc((size_t)nt + 1, sizeof *qts);
    for (int i = 0; i < nt; i++) {
        const reel_llm_tensor *t = reel_llm_desc_tensor_at(d, i);
        qts[i] = (reel_llm_qtensor){t->name, t->type, t->n_dims, t->ne[0]};
    }
    const reel_llm_qmodel qm = {qts, nt, hp->n_layer, has_moe ? hp->n_expert : 0};
    for (int i = 0; i < nt; i++) {
        const reel_llm_tensor *t = reel_llm_desc_tensor_at(d, i);
        const reel_dtype out = reel_llm_quant_type(&qm, i, q);
        int layer, expert;
        char which[8];
        if (sscanf(t->name, "blk.%d.ffn_%4[a-z]_exps.%d.weight", &layer, which, &expert) == 3) {
            /* HF keeps one tensor per expert; GGUF stacks them as {n_in, n_out, E} */
            if (expert != 0) continue;
            if (stack_experts(w, d, layer, which, out, &bufs[n_bufs++], row) < 0) {
                rc = reel_cli_fail(src);
                goto done;
            }
            n_written++;
            continue;
        }
        int64_t ne[4] = {t->ne[0], t->ne[1], t->ne[2], t->ne[3]};
        int n_dims = t->n_dims;
        /* HF's flat [Di] gated-norm weight is {Di/G, G} in GGUF (same element order) */
        if (n_dims == 1 && ends_with(t->name, "ssm_norm.weight") && hp->ssm_n_groups > 1 &&
            ne[0] % hp->ssm_n_groups == 0) {
            ne[1] = hp->ssm_n_groups;
            ne[0] /= hp->ssm_n_groups;
            n_dims = 2;
        }
        const void *data = t->data;
        size_t nbytes = t->nbytes;
        if (out != t->type) {
            nbytes = reel_dtype_row_bytes(out, reel_llm_tensor_nelements(t));
            void *buf = malloc(nbytes ? nbytes : 1);
            if (!buf) {
                reel_cli_error(dst, "no memory to convert tensor %s (%zu bytes)", t->name, nbytes);
                goto done;
            }
            bufs[n_bufs++] = buf;
            if (convert(t, out, buf, row) < 0) {
                rc = reel_cli_fail(src);
                goto done;
            }
            data = buf;
        }
        if (reel_gguf_writer_add_tensor(w, t->name, out, n_dims, ne, data, nbytes) < 0) {
            rc = reel_cli_fail(dst);
            goto done;
        }
        n_written++;
    }
    if (reel_gguf_writer_write(w, dst) < 0) {
        rc = reel_cli_fail(dst);
        goto done;
    }
    printf("%s: %d tensors, weights %s\n", dst, n_written, reel_dtype_name(q->base));
    rc = REEL_EXIT_OK;
done:
    for (int i = 0; i < n_bufs; i++) free(bufs[i]);
    free(bufs);
    free(row);
    free(qts);
    reel_gguf_writer_free(w);
    reel_llm_desc_free(d);
    return rc;
}

static const reel_cli_cmd reel_cmd_convert = {
    "convert",
    "convert a Hugging Face model directory (or a GGUF) to a GGUF file",
    "Usage: reel convert SRC OUT.gguf [--type T]\n\n"
    "Reads a Nemotron-H checkpoint (a Hugging Face directory with config.json, safetensors and\n"
    "tokenizer files, or a GGUF file) and writes a GGUF v3 file with llama.cpp's metadata keys,\n"
    "tensor names and layout, tokenizer and chat template included. The file is written to a\n"
    "temporary name and renamed when complete.\n\n"
    "Options:\n"
    "  --type T   weight type of the matrices: f32, f16 (default), bf16, q8_0, q6_k, q5_1,\n"
    "             q5_0, q5_k, q4_k, iq4_nl or q4_0, one type for all (mixes such as q4_k_m:\n"
    "             convert to f16, then reel quantize). Rows that are not whole blocks fall\n"
    "             back as llama-quantize does: q4_k -> q5_0, q5_k -> q5_1, q6_k -> q8_0, and\n"
    "             f16 where a row is not whole 32-element blocks. Norms, biases, the conv\n"
    "             taps, A and D always stay F32, as llama.cpp's converter keeps them.\n"
    "             Converted tensors are held in memory until the file is written.\n\n"
    "Example:\n"
    "  reel convert ~/models/NVIDIA-Nemotron-3-Nano-4B nano-4b-f16.gguf --type f16\n",
    run,
};
REEL_CLI_COMMAND(reel_cmd_convert)
