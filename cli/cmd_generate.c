/* reel generate: text from a prompt, streamed to stdout as it is sampled. */
#include "cli/cli.h"
#include "llm/constrain.h"
#include "core/core.h"
#include "llm/chat.h"
#include "llm/generate.h"
#include "llm/llm.h"
#include "llm/remote.h"
#include "llm/tokenizer.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int parse_float(const char *opt, const char *text, double min, double max, float *out)
{
    double v;
    if (reel_cli_parse_double("generate", opt, text, min, max, &v) < 0) return -1;
    *out = (float)v;
    return 0;
}

static int32_t *parse_ids(const char *text, int64_t *n)
{
    int64_t cap = 16, k = 0;
    int32_t *ids = reel_xmalloc((size_t)cap * sizeof *ids);
    for (const char *p = text; *p;) {
        char *end;
        long v = strtol(p, &end, 10);
        if (end == p || v < 0 || v > INT32_MAX || (*end && *end != ',') || (*end && !end[1])) {
            free(ids);
            return NULL;
        }
        if (k == cap) ids = reel_xrealloc(ids, (size_t)(cap *= 2) * sizeof *ids);
        ids[k++] = (int32_t)v;
        p = *end ? end + 1 : end;
    }
    if (!k) {
        free(ids);
        return NULL;
    }
    *n = k;
    return ids;
}

/* Streams generated tokens to stdout: their text, or their ids (--ids, or a model without a
 * tokenizer). */
typedef struct {
    int ids;
    long printed;
} printer;

static int print_token(void *ctx, int32_t id, const char *text, size_t len)
{
    printer *pr = ctx;
    if (pr->ids)
        printf("%s%d", pr->printed ? " " : "", id);
    else if (len)
        fwrite(text, 1, len, stdout);
    pr->printed++;
    fflush(stdout);
    return 0;
}

static void print_text(void *ctx, const char *text, size_t len)
{
    (void)ctx;
    fwrite(text, 1, len, stdout);
    fflush(stdout);
}

/* What `reel generate` asks of a remote model (openai:URL#MODEL). */
typedef struct remote_args {
    const char *model, *api_key, *prompt, *system, *schema_path;
    int chat, think, show_schema, stream, verbose;
    long n_predict;
    const reel_llm_sampler_params *sp;
} remote_args;

/* The prompt goes to the server as it is: a plain completion, or a chat (--chat, and always
 * with --json-schema, which needs the chat endpoint's response_format). */
static int generate_remote(const remote_args *a)
{
    int rc = REEL_EXIT_FAIL;
    json_t *schema = NULL;
    char *user = NULL, *sys = NULL;
    reel_llm_remote_params rp = reel_llm_remote_default_params();
    rp.api_key = a->api_key;
    reel_llm_remote *r = reel_llm_remote_open(a->model, &rp);
    if (!r) return reel_cli_fail("generate");
    reel_llm_remote_request q = reel_llm_remote_default_request();
    q.max_tokens = (int)(a->n_predict > 0 ? a->n_predict : 1);
    q.temperature = a->sp->temp;
    q.top_p = a->sp->top_p;
    q.has_seed = 1;
    q.seed = a->sp->seed;
    q.think = a->think;
    q.stream = a->stream;
    reel_llm_chat_msg msgs[2];
    size_t n = 0;
    const char *prompt = a->prompt, *system = a->system;
    if (a->schema_path) {
        /* compiled only to check that reel's validator knows every keyword of it */
        reel_grammar *g = NULL;
        if (!(schema = reel_json_load_file(a->schema_path, 0)) ||
            !(g = reel_grammar_from_json_schema(schema))) {
            if (schema) reel_error_prefix("%s", a->schema_path);
            rc = reel_cli_fail("generate");
            goto done;
        }
        reel_grammar_free(g);
        q.schema = schema;
        if (a->show_schema) {
            char *st = json_dumps(schema, JSON_COMPACT | JSON_PRESERVE_ORDER);
            const char *ask = "Answer with one JSON value that matches this JSON schema: ";
            if (a->chat)
                system = sys =
                    reel_xasprintf("%s%s%s%s", system ? system : "", system ? "\n\n" : "", ask, st);
            else
                prompt = user = reel_xasprintf("%s\n%s%s\n", prompt, ask, st);
            free(st);
        }
    } else {
        q.on_text = print_text; /* streamed as it arrives */
    }
    if (a->chat || schema) {
        if (system) msgs[n++] = (reel_llm_chat_msg){"system", system, NULL};
        msgs[n++] = (reel_llm_chat_msg){"user", prompt, NULL};
        q.msgs = msgs;
        q.n_msgs = n;
    } else {
        q.prompt = prompt;
    }
    double t0 = reel_now();
    reel_llm_remote_result res;
    if (reel_llm_remote_generate(r, &q, &res) < 0) {
        if (!schema) printf("\n");
        rc = reel_cli_fail("generate");
        goto done;
    }
    if (schema) fwrite(res.text, 1, res.len, stdout); /* only a complete, valid answer */
    printf("\n");
    fflush(stdout);
    if (a->verbose)
        fprintf(stderr, "reel: generate: %s: %d tokens in %.3f s, finish_reason %s\n", a->model,
                res.n_tokens, reel_now() - t0, res.finish_reason[0] ? res.finish_reason : "-");
    free(res.text);
    rc = REEL_EXIT_OK;
done:
    json_decref(schema);
    free(user);
    free(sys);
    reel_llm_remote_free(r);
    return rc;
}

static int run(int argc, char **argv)
{
    const char *model = NULL, *prompt = NULL, *system = NULL, *tokens = NULL;
    const char *schema_path = NULL, *grammar_path = NULL, *api_key = NULL;
    const char *local_only = NULL; /* an option a remote model cannot honour */
    int show_schema = 1, stream = 1;
    long n_predict = 128, threads = 0, ctx = 0;
    int chat = 0, verbose = 0, print_ids = 0, think = -1;
    reel_dtype kv = REEL_DTYPE_F16;
    reel_llm_sampler_params sp = reel_llm_sampler_default_params();
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        long l;
#define NEED_VALUE                                                                                 \
    if (!v) return reel_cli_usage("generate", "%s needs a value", a);                              \
    i++
        if (!strcmp(a, "-m") || !strcmp(a, "--model")) {
            NEED_VALUE;
            model = v;
        } else if (!strcmp(a, "-p") || !strcmp(a, "--prompt")) {
            NEED_VALUE;
            prompt = v;
        } else if (!strcmp(a, "--tokens")) {
            NEED_VALUE;
            tokens = v;
            local_only = a;
        } else if (!strcmp(a, "--api-key")) {
            NEED_VALUE;
            api_key = v;
        } else if (!strcmp(a, "--no-stream")) {
            stream = 0;
        } else if (!strcmp(a, "--system")) {
            NEED_VALUE;
            system = v;
        } else if (!strcmp(a, "-n") || !strcmp(a, "--n-predict")) {
            NEED_VALUE;
            if (reel_cli_parse_int("generate", a, v, 0, 1 << 24, &n_predict) < 0)
                return REEL_EXIT_USAGE;
        } else if (!strcmp(a, "-t") || !strcmp(a, "--threads")) {
            NEED_VALUE;
            local_only = a;
            if (reel_cli_parse_int("generate", a, v, 0, 1024, &threads) < 0) return REEL_EXIT_USAGE;
        } else if (!strcmp(a, "--ctx")) {
            NEED_VALUE;
            local_only = a;
            if (reel_cli_parse_int("generate", a, v, 1, 1 << 24, &ctx) < 0) return REEL_EXIT_USAGE;
        } else if (!strcmp(a, "--temp")) {
            NEED_VALUE;
            if (parse_float(a, v, 0, 100, &sp.temp) < 0) return REEL_EXIT_USAGE;
        } else if (!strcmp(a, "--top-k")) {
            NEED_VALUE;
            local_only = a;
            if (reel_cli_parse_int("generate", a, v, 0, 1 << 24, &l) < 0) return REEL_EXIT_USAGE;
            sp.top_k = (int)l;
        } else if (!strcmp(a, "--top-p")) {
            NEED_VALUE;
            if (parse_float(a, v, 0, 1, &sp.top_p) < 0) return REEL_EXIT_USAGE;
        } else if (!strcmp(a, "--min-p")) {
            NEED_VALUE;
            local_only = a;
            if (parse_float(a, v, 0, 1, &sp.min_p) < 0) return REEL_EXIT_USAGE;
        } else if (!strcmp(a, "--repeat-penalty")) {
            NEED_VALUE;
            local_only = a;
            if (parse_float(a, v, 0.01, 100, &sp.repeat_penalty) < 0) return REEL_EXIT_USAGE;
        } else if (!strcmp(a, "--seed")) {
            NEED_VALUE;
            uint64_t seed;
            if (reel_cli_parse_seed("generate", a, v, &seed) < 0) return REEL_EXIT_USAGE;
            sp.seed = seed;
        } else if (!strcmp(a, "--kv")) {
            NEED_VALUE;
            local_only = a;
            if (!strcmp(v, "f16"))
                kv = REEL_DTYPE_F16;
            else if (!strcmp(v, "f32"))
                kv = REEL_DTYPE_F32;
            else
                return reel_cli_usage("generate", "--kv expects f16 or f32, got '%s'", v);
        } else if (!strcmp(a, "--json-schema")) {
            NEED_VALUE;
            schema_path = v;
        } else if (!strcmp(a, "--grammar")) {
            NEED_VALUE;
            local_only = a;
            grammar_path = v;
        } else if (!strcmp(a, "--no-schema-prompt")) {
            show_schema = 0;
        } else if (!strcmp(a, "--chat")) {
            chat = 1;
        } else if (!strcmp(a, "--no-think")) {
            think = 0;
        } else if (!strcmp(a, "--think")) {
            think = 1;
        } else if (!strcmp(a, "--ids")) {
            print_ids = 1;
            local_only = a;
        } else if (!strcmp(a, "--verbose") || !strcmp(a, "-v")) {
            verbose = 1;
        } else {
            return reel_cli_usage("generate", "unknown option '%s'", a);
        }
#undef NEED_VALUE
    }
    if (!model) return reel_cli_usage("generate", "missing -m MODEL");
    if (!prompt == !tokens)
        return reel_cli_usage("generate", "give exactly one of -p TEXT or --tokens IDS");
    if (tokens && chat) return reel_cli_usage("generate", "--chat needs -p TEXT, not --tokens");
    if (system && !chat) return reel_cli_usage("generate", "--system needs --chat");
    if (schema_path && grammar_path)
        return reel_cli_usage("generate", "give --json-schema or --grammar, not both");
    int constrained = schema_path || grammar_path;
    if (constrained && tokens)
        return reel_cli_usage("generate", "--json-schema/--grammar need -p TEXT, not --tokens");
    if (constrained && print_ids)
        return reel_cli_usage("generate", "--ids cannot be used with --json-schema/--grammar");
    if (reel_llm_remote_is_spec(model)) {
        if (local_only)
            return reel_cli_usage("generate", "%s applies to local models only, not to %s",
                                  local_only, model);
        remote_args ra = {model, api_key,     prompt, system,  schema_path, chat,
                          think, show_schema, stream, verbose, n_predict,   &sp};
        return generate_remote(&ra);
    }
    if (api_key || !stream)
        return reel_cli_usage("generate", "%s is for remote models (openai:URL#MODEL)",
                              api_key ? "--api-key" : "--no-stream");
    if (constrained && think < 0) think = 0; /* the constrained answer starts at once */

    int rc = REEL_EXIT_FAIL;
    reel_llm_model *m = NULL;
    reel_llm_session *s = NULL;
    reel_llm_tokenizer *tok = NULL;
    reel_llm_sampler *smp = NULL;
    int32_t *ids = NULL;
    char *rendered = NULL, *with_schema = NULL, *system_full = NULL, *out_text = NULL;
    json_t *schema = NULL;
    reel_grammar *grammar = NULL;
    reel_llm_constraint *constraint = NULL;
    int64_t n_ids = 0;
    if (tokens && !(ids = parse_ids(tokens, &n_ids)))
        return reel_cli_usage("generate", "--tokens expects comma-separated token ids, got '%s'",
                              tokens);

    if (schema_path) {
        if (!(schema = reel_json_load_file(schema_path, 0)) ||
            !(grammar = reel_grammar_from_json_schema(schema))) {
            if (schema) reel_error_prefix("%s", schema_path);
            rc = reel_cli_fail("generate");
            goto done;
        }
        if (show_schema) {
            char *st = json_dumps(schema, JSON_COMPACT | JSON_PRESERVE_ORDER);
            const char *ask = "Answer with one JSON value that matches this JSON schema: ";
            if (chat) {
                system_full =
                    reel_xasprintf("%s%s%s%s", system ? system : "", system ? "\n\n" : "", ask, st);
                system = system_full;
            } else {
                with_schema = reel_xasprintf("%s\n%s%s\n", prompt, ask, st);
                prompt = with_schema;
            }
            free(st);
        }
    } else if (grammar_path) {
        char *text = NULL;
        if (reel_file_read(grammar_path, 16u << 20, &text, NULL) < 0 ||
            !(grammar = reel_grammar_compile(text, grammar_path))) {
            free(text);
            rc = reel_cli_fail("generate");
            goto done;
        }
        free(text);
    }

    double t0 = reel_now();
    reel_llm_model_params mp = reel_llm_model_default_params();
    mp.n_threads = (int)threads;
    if (!(m = reel_llm_model_load(model, &mp))) {
        rc = reel_cli_fail(model);
        goto done;
    }
    const reel_llm_vocab *vocab = reel_llm_desc_vocab(reel_llm_model_desc(m));
    int32_t stops[16];
    int n_stops = 0;
    if (vocab && vocab->n_tokens > 0) {
        if (!(tok = reel_llm_tokenizer_init(vocab))) {
            rc = reel_cli_fail(model);
            goto done;
        }
        n_stops = reel_llm_gen_stop_ids(tok, vocab, stops, 16);
    } else if (prompt) {
        reel_cli_error(model, "the model carries no tokenizer: use --tokens IDS");
        goto done;
    }
    if (prompt) {
        const char *text = prompt;
        uint32_t flags = REEL_LLM_TOK_DEFAULT;
        if (chat) {
            reel_llm_chat_params cp = reel_llm_chat_default_params();
            cp.format = reel_llm_chat_detect(vocab->chat_template);
            cp.enable_thinking = think;
            if (cp.format == REEL_LLM_CHAT_UNKNOWN) {
                reel_cli_error(model, "--chat: the model has no chat template reel knows "
                                      "(Nemotron-3 or Nano-v2)");
                goto done;
            }
            reel_llm_chat_msg msgs[2] = {{"system", system ? system : "", NULL},
                                         {"user", prompt, NULL}};
            if (reel_llm_chat_render(msgs, 2, &cp, &rendered, NULL) < 0) {
                rc = reel_cli_fail("generate: chat template");
                goto done;
            }
            text = rendered;
        }
        size_t n = 0;
        if (reel_llm_tokenizer_encode(tok, text, strlen(text), flags, &ids, &n) < 0) {
            rc = reel_cli_fail("generate: tokenizer");
            goto done;
        }
        n_ids = (int64_t)n;
        if (n_ids == 0) {
            reel_cli_error("generate", "the prompt encodes to no tokens");
            goto done;
        }
    }
    reel_llm_session_params sparams = reel_llm_session_default_params();
    sparams.kv_type = kv;
    sparams.n_ctx = ctx ? ctx : (n_ids + n_predict > 4096 ? n_ids + n_predict : 4096);
    if (!(s = reel_llm_session_init(m, &sparams))) {
        rc = reel_cli_fail("generate");
        goto done;
    }
    smp = reel_llm_sampler_init(&sp);
    printer pr = {print_ids || !tok, 0};
    reel_llm_gen_params gp = reel_llm_gen_default_params();
    gp.prompt = ids;
    gp.n_prompt = n_ids;
    gp.n_predict = (int)n_predict;
    gp.stop_ids = stops;
    gp.n_stop_ids = n_stops;
    if (constrained) {
        /* Buffered, not streamed: only a complete, valid answer reaches stdout. */
        constraint = reel_llm_constraint_init(tok, grammar);
        gp.tok = tok;
        gp.constraint = constraint;
    } else {
        /* streamed as sampled: the text of each token, or the ids */
        gp.tok = print_ids ? NULL : tok;
        gp.on_token = print_token;
        gp.ctx = &pr;
    }
    reel_llm_gen_result res = {0};
    const double t1 = reel_now();
    if (reel_llm_generate(s, smp, &gp, &res) < 0) {
        rc = reel_cli_fail("generate");
        goto done;
    }
    out_text = res.text;
    const double t2 = t1 + res.prefill_s;
    if (constrained) {
        if (schema) {
            json_t *v = reel_json_parse(out_text, res.len, "output");
            int bad = !v || reel_json_schema_validate(schema, v) < 0;
            json_decref(v);
            if (bad) {
                reel_cli_error("generate",
                               "internal error: the output does not match the schema: %s",
                               reel_last_error());
                goto done;
            }
        }
        fwrite(out_text, 1, res.len, stdout);
        printf("\n");
        if (verbose)
            fprintf(stderr,
                    "reel: generate: prompt %lld tokens in %.3f s, constrained answer: %d tokens "
                    "in %.3f s (%.2f tok/s)\n",
                    (long long)n_ids, t2 - t1, res.n_tokens, reel_now() - t2,
                    res.n_tokens / (reel_now() - t2 + 1e-9));
        rc = REEL_EXIT_OK;
        goto done;
    }
    printf("\n");
    fflush(stdout);
    static const char *const why[] = {
        [REEL_LLM_GEN_LENGTH] = "length",
        [REEL_LLM_GEN_EOG] = "end of generation token",
        [REEL_LLM_GEN_STOP_STRING] = "stop string",
        [REEL_LLM_GEN_CONTEXT_FULL] = "context full",
        [REEL_LLM_GEN_GRAMMAR_DONE] = "grammar complete",
    };
    double t3 = reel_now();
    if (verbose)
        fprintf(stderr,
                "reel: generate: load %.2f s, prompt %lld tokens in %.3f s (%.1f tok/s), "
                "%d tokens in %.3f s (%.1f tok/s), stopped: %s\n",
                t1 - t0, (long long)n_ids, t2 - t1, n_ids / (t2 - t1 + 1e-9), res.n_tokens, t3 - t2,
                res.n_tokens / (t3 - t2 + 1e-9), why[res.stop]);
    rc = REEL_EXIT_OK;
done:
    reel_llm_constraint_free(constraint);
    reel_grammar_free(grammar);
    json_decref(schema);
    free(with_schema);
    free(system_full);
    free(out_text);
    reel_llm_sampler_free(smp);
    reel_llm_session_free(s);
    reel_llm_tokenizer_free(tok);
    reel_llm_model_free(m);
    free(ids);
    free(rendered);
    return rc;
}

static const reel_cli_cmd reel_cmd_generate = {
    "generate",
    "generate text from a prompt with the in-process model (streams to stdout)",
    "Usage: reel generate -m MODEL (-p TEXT | --tokens IDS) [options]\n\n"
    "Encodes the prompt (with BOS when the model's tokenizer adds one), runs it through the\n"
    "model and streams sampled text to stdout until -n tokens, an end-of-generation token\n"
    "(EOS, <|im_end|>, the chat turn end) or the end of the context.\n\n"
    "A remote model, openai:URL#MODEL, is any OpenAI-compatible server (vLLM, TensorRT-LLM,\n"
    "NIM, llama-server, reel serve): the prompt goes to URL/completions, or with --chat to\n"
    "URL/chat/completions, and the answer is streamed as it arrives. --json-schema goes to\n"
    "the chat endpoint as response_format (json_schema, strict), and the answer is still\n"
    "validated here: a server that ignores the schema makes reel fail. Connection errors,\n"
    "429 and 5xx are retried with backoff (honouring Retry-After); a request may take 600 s\n"
    "at most. With REEL_OFFLINE=1 only this machine is reached.\n\n"
    "Options:\n"
    "  -m, --model M       GGUF file, Hugging Face model directory, a model pulled into the\n"
    "                      store (OWNER/REPO[:QUANT]), or openai:URL#MODEL\n"
    "  -p, --prompt TEXT   the prompt text\n"
    "  --tokens IDS        the prompt as comma-separated token ids (no tokenizer needed)\n"
    "  -n N                tokens to generate at most (default 128)\n"
    "  --temp T            temperature; 0 = greedy (default 0.8)\n"
    "  --top-k K           keep the K most likely tokens; 0 = off (default 40)\n"
    "  --top-p P           nucleus: smallest set with probability >= P; 1 = off (default 0.95)\n"
    "  --min-p P           drop tokens below P x the best one's probability (default 0.05)\n"
    "  --repeat-penalty R  penalise the last 64 tokens; 1 = off (default 1)\n"
    "  --seed S            sampling seed (default 0); the same seed gives the same text\n"
    "                      whatever the thread count\n"
    "  --chat              wrap the prompt in the model's chat template as a user turn\n"
    "  --system TEXT       system message (with --chat)\n"
    "  --think, --no-think reasoning on / off in the chat template (default: the template's)\n"
    "  -t, --threads N     compute threads (default: one per CPU)\n"
    "  --ctx N             context size (default max(4096, prompt + n))\n"
    "  --kv f16|f32        KV cache type (default f16)\n"
    "  --ids               print the generated token ids instead of text\n"
    "  --json-schema FILE  constrain the answer to JSON valid against FILE (JSON Schema:\n"
    "                      types, enum, anyOf/oneOf/allOf, $ref, bounds, pattern, format...;\n"
    "                      an unsupported keyword fails naming it, see README). The answer\n"
    "                      is printed only once complete and valid;\n"
    "                      if -n runs out first, reel fails and prints nothing\n"
    "  --grammar FILE      constrain the answer to a GBNF grammar (llama.cpp syntax)\n"
    "  --no-schema-prompt  do not show the schema to the model (it still constrains decoding)\n"
    "  -v, --verbose       timings and the stop reason on stderr\n"
    "  --api-key KEY       remote models: the API key (default: $OPENAI_API_KEY)\n"
    "  --no-stream         remote models: ask for the whole answer at once, not as events\n"
    "  (--tokens, --ids, --grammar, --top-k, --min-p, --repeat-penalty, -t, --ctx and --kv\n"
    "  apply to local models only)\n\n"
    "Examples:\n"
    "  reel generate -m model.gguf -p \"Once upon a time\" -n 64 --seed 7\n"
    "  reel generate -m model.gguf --chat --system \"You are terse.\" -p \"Name a colour.\" "
    "--temp 0\n"
    "  reel generate -m model.gguf --chat -p \"A cat's name and age\" --json-schema cat.json -n "
    "256\n"
    "  reel serve -m model.gguf --port 8080 &   # or any OpenAI-compatible server\n"
    "  reel generate -m openai:http://127.0.0.1:8080/v1#model --chat -p \"Name a colour.\"\n",
    run,
};
REEL_CLI_COMMAND(reel_cmd_generate)
