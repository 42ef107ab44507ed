/* reel plan: a scene plan for an idea, as JSON valid against the built-in schema. */
#include "cli/cli.h"
#include "core/core.h"
#include "llm/chat.h"
#include "llm/constrain.h"
#include "llm/plan.h"
#include "llm/remote.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    reel_progress *progress;
    uint64_t tokens;
} plan_progress;

static void on_text(void *ctx, const char *text, size_t len)
{
    plan_progress *p = ctx;
    (void)text;
    (void)len;
    reel_progress_update(p->progress, ++p->tokens);
}

static void on_remote_text(void *ctx, const char *text, size_t len)
{
    on_text(ctx, text, len); /* a streamed piece: about one token */
}

/* The plan from a remote model: the same messages, the schema as response_format (the answer
 * is validated by reel_llm_remote_generate and again by the caller). */
static int plan_remote(const char *model, const char *api_key, const char *system, const char *user,
                       const json_t *schema, long n_predict, double temp, long seed,
                       plan_progress *pp, char **text, size_t *len)
{
    reel_llm_remote_params rp = reel_llm_remote_default_params();
    rp.api_key = api_key;
    reel_llm_remote *r = reel_llm_remote_open(model, &rp);
    if (!r) return reel_last_error_code();
    reel_llm_chat_msg msgs[2] = {{"system", system, NULL}, {"user", user, NULL}};
    reel_llm_remote_request q = reel_llm_remote_default_request();
    q.msgs = msgs;
    q.n_msgs = 2;
    q.schema = schema;
    q.schema_name = "scene_plan";
    q.max_tokens = (int)n_predict;
    q.temperature = temp;
    q.has_seed = 1;
    q.seed = (uint64_t)seed;
    q.stream = 1;
    q.on_text = on_remote_text;
    q.ctx = pp;
    reel_llm_remote_result res;
    int rc = reel_llm_remote_generate(r, &q, &res);
    reel_llm_remote_free(r);
    if (rc < 0) return rc;
    *text = res.text;
    *len = res.len;
    return 0;
}

static int run(int argc, char **argv)
{
    const char *model = NULL, *idea = NULL, *style = NULL, *out_path = NULL, *api_key = NULL;
    long shots = 0, max_text = 0, n_predict = 2048, threads = 0, seed = 0;
    double seconds = 0, temp = 0.7;
    int show_schema = 1, compact = 0, narrated = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        int takes = 1;
        if (!strcmp(a, "-m") || !strcmp(a, "--model")) {
            model = v;
        } else if (!strcmp(a, "--shots")) {
            if (v && reel_cli_parse_int("plan", a, v, 1, 12, &shots) < 0) return REEL_EXIT_USAGE;
        } else if (!strcmp(a, "--seconds")) {
            if (v && reel_cli_parse_double("plan", a, v, 1, 3600, &seconds) < 0)
                return REEL_EXIT_USAGE;
        } else if (!strcmp(a, "--durations")) {
            if (v && strcmp(v, "model") && strcmp(v, "narration"))
                return reel_cli_usage("plan", "--durations: 'model' or 'narration', not '%s'", v);
            narrated = v && !strcmp(v, "narration");
        } else if (!strcmp(a, "--max-text")) {
            if (v && reel_cli_parse_int("plan", a, v, 1, 100000, &max_text) < 0)
                return REEL_EXIT_USAGE;
        } else if (!strcmp(a, "--style")) {
            style = v;
        } else if (!strcmp(a, "-n")) {
            if (v && reel_cli_parse_int("plan", a, v, 16, 1 << 20, &n_predict) < 0)
                return REEL_EXIT_USAGE;
        } else if (!strcmp(a, "--temp")) {
            if (v && reel_cli_parse_double("plan", a, v, 0, 5, &temp) < 0) return REEL_EXIT_USAGE;
        } else if (!strcmp(a, "--seed")) {
            if (v && reel_cli_parse_int("plan", a, v, 0, 0x7fffffffL, &seed) < 0)
                return REEL_EXIT_USAGE;
        } else if (!strcmp(a, "-t") || !strcmp(a, "--threads")) {
            if (v && reel_cli_parse_int("plan", a, v, 1, 1024, &threads) < 0)
                return REEL_EXIT_USAGE;
        } else if (!strcmp(a, "--api-key")) {
            api_key = v;
        } else if (!strcmp(a, "-o") || !strcmp(a, "--output")) {
            out_path = v;
        } else if (!strcmp(a, "--no-schema-prompt")) {
            show_schema = 0;
            takes = 0;
        } else if (!strcmp(a, "--compact")) {
            compact = 1;
            takes = 0;
        } else if (a[0] == '-' && a[1]) {
            return reel_cli_usage("plan", "unknown option '%s'", a);
        } else {
            if (idea) return reel_cli_usage("plan", "one idea please (quote it): '%s'", a);
            idea = a;
            takes = 0;
        }
        if (takes) {
            if (!v) return reel_cli_usage("plan", "%s needs a value", a);
            i++;
        }
    }
    if (!model) return reel_cli_usage("plan", "no model: give -m MODEL (a GGUF file or HF folder)");
    if (!idea || !*idea) return reel_cli_usage("plan", "no idea: reel plan -m MODEL \"an idea\"");

    const double shot_s = narrated ? REEL_LLM_PLAN_NARRATED : seconds > 0 ? seconds : 0;
    int rc = REEL_EXIT_FAIL;
    reel_llm_model *m = NULL;
    reel_llm_tokenizer *tok = NULL;
    reel_llm_session *s = NULL;
    reel_llm_sampler *smp = NULL;
    reel_llm_constraint *c = NULL;
    reel_grammar *g = NULL;
    json_t *schema = NULL, *plan = NULL;
    char *system = NULL, *user = NULL, *prompt = NULL, *text = NULL;
    int32_t *ids = NULL;
    plan_progress pp = {0};
    size_t len = 0;

    if (reel_llm_remote_is_spec(model)) {
        if (threads) return reel_cli_usage("plan", "-t applies to local models only");
        schema = reel_llm_plan_schema((int)shots, shot_s, (int)max_text);
        reel_llm_plan_messages(idea, (int)shots, seconds, style, schema, show_schema, &system,
                               &user);
        pp.progress = reel_progress_init("plan", 0, "tok");
        if (plan_remote(model, api_key, system, user, schema, n_predict, temp, seed, &pp, &text,
                        &len) < 0) {
            rc = reel_cli_fail("plan");
            goto done;
        }
        goto answered;
    }
    if (api_key) return reel_cli_usage("plan", "--api-key is for remote models (openai:URL#MODEL)");

    reel_llm_model_params mp = reel_llm_model_default_params();
    mp.n_threads = (int)threads;
    if (!(m = reel_llm_model_load(model, &mp))) {
        rc = reel_cli_fail(model);
        goto done;
    }
    const reel_llm_vocab *vocab = reel_llm_desc_vocab(reel_llm_model_desc(m));
    if (!vocab || vocab->n_tokens == 0 || !(tok = reel_llm_tokenizer_init(vocab))) {
        reel_cli_error(model, "the model carries no usable tokenizer");
        goto done;
    }
    schema = reel_llm_plan_schema((int)shots, shot_s, (int)max_text);
    if (!(g = reel_grammar_from_json_schema(schema))) {
        rc = reel_cli_fail("plan: schema");
        goto done;
    }
    reel_llm_plan_messages(idea, (int)shots, seconds, style, schema, show_schema, &system, &user);
    reel_llm_chat_params cp = reel_llm_chat_default_params();
    cp.format = reel_llm_chat_detect(vocab->chat_template);
    cp.enable_thinking = 0; /* the answer is the JSON itself */
    if (cp.format == REEL_LLM_CHAT_UNKNOWN) {
        REEL_LOGW("%s: no known chat template; using a plain prompt", model);
        prompt = reel_xasprintf("%s\n\n%s\n\n", system, user);
    } else {
        reel_llm_chat_msg msgs[2] = {{"system", system, NULL}, {"user", user, NULL}};
        if (reel_llm_chat_render(msgs, 2, &cp, &prompt, NULL) < 0) {
            rc = reel_cli_fail("plan: chat template");
            goto done;
        }
    }
    size_t n_ids = 0;
    if (reel_llm_tokenizer_encode(tok, prompt, strlen(prompt), REEL_LLM_TOK_DEFAULT, &ids, &n_ids) <
        0) {
        rc = reel_cli_fail("plan: tokenizer");
        goto done;
    }
    reel_llm_session_params sparams = reel_llm_session_default_params();
    sparams.n_ctx = (int64_t)n_ids + n_predict + 8;
    if (!(s = reel_llm_session_init(m, &sparams))) {
        rc = reel_cli_fail("plan");
        goto done;
    }
    if (reel_llm_session_decode(s, ids, (int64_t)n_ids, 0) < 0) {
        rc = reel_cli_fail("plan");
        goto done;
    }
    reel_llm_sampler_params sp = reel_llm_sampler_default_params();
    sp.temp = (float)temp;
    sp.seed = (uint64_t)seed;
    smp = reel_llm_sampler_init(&sp);
    c = reel_llm_constraint_init(tok, g);
    pp.progress = reel_progress_init("plan", 0, "tok");
    int grc =
        reel_llm_generate_constrained(s, smp, tok, c, (int)n_predict, on_text, &pp, &text, &len);
    if (grc < 0) {
        reel_progress_cancel(pp.progress);
        pp.progress = NULL;
        rc = reel_cli_fail("plan");
        goto done;
    }
answered:
    reel_progress_finish(pp.progress);
    pp.progress = NULL;
    /* fail closed: the grammar guarantees this; the validator proves it */
    if (!(plan = reel_json_parse(text, len, "plan")) ||
        reel_json_schema_validate(schema, plan) < 0) {
        reel_cli_error("plan", "internal error: the output does not match the schema: %s",
                       reel_last_error());
        goto done;
    }
    char *dump = json_dumps(plan, JSON_PRESERVE_ORDER | (compact ? JSON_COMPACT : JSON_INDENT(2)));
    if (out_path) {
        size_t dl = strlen(dump);
        dump = reel_xrealloc(dump, dl + 2);
        dump[dl] = '\n';
        dump[dl + 1] = '\0';
        if (reel_file_write_atomic(out_path, dump, dl + 1) < 0) {
            free(dump);
            rc = reel_cli_fail(out_path);
            goto done;
        }
    } else {
        printf("%s\n", dump);
    }
    free(dump);
    rc = REEL_EXIT_OK;
done:
    reel_progress_cancel(pp.progress);
    json_decref(plan);
    json_decref(schema);
    free(text);
    free(ids);
    free(prompt);
    free(system);
    free(user);
    reel_llm_constraint_free(c);
    reel_grammar_free(g);
    reel_llm_sampler_free(smp);
    reel_llm_session_free(s);
    reel_llm_tokenizer_free(tok);
    reel_llm_model_free(m);
    return rc;
}

static const reel_cli_cmd reel_cmd_plan = {
    "plan",
    "write a shot-by-shot scene plan for an idea, as schema-valid JSON",
    "Usage: reel plan -m MODEL [options] \"IDEA\"\n\n"
    "Asks the model for a scene plan and prints it as JSON. Decoding is constrained by the\n"
    "built-in scene-plan schema, so the output always parses and validates: title, logline,\n"
    "style, characters [{id, description}], shots [{id, duration_s, camera, setting, action,\n"
    "characters, narration, prompt, transition}]. If the token budget ends first, reel fails\n"
    "and prints nothing rather than a partial plan.\n\n"
    "Options:\n"
    "  -m, --model M        GGUF file, Hugging Face folder, OWNER/REPO[:QUANT] from the\n"
    "                       store, or openai:URL#MODEL: an OpenAI-compatible server, sent the\n"
    "                       schema as response_format; its answer is validated all the same\n"
    "                       and a server that ignores the schema makes reel fail (required)\n"
    "  --api-key KEY        remote models: the API key (default: $OPENAI_API_KEY)\n"
    "  --shots N            exactly N shots (1-12; default: the model's choice)\n"
    "  --seconds S          about S seconds in all; no shot is longer than S\n"
    "  --durations WHO      who sets each shot's length: model (default: duration_s in\n"
    "                       every shot) or narration (no duration_s: each shot lasts as long\n"
    "                       as its narration when the film is put together)\n"
    "  --style TEXT         visual style to ask for (\"hand-drawn, warm\")\n"
    "  --max-text N         at most N characters in each free-text field (default: no limit\n"
    "                       but the token budget; a limit makes decoding slower on big "
    "vocabularies)\n"
    "  -n N                 token budget (default 2048)\n"
    "  --temp T             sampling temperature (default 0.7; 0 = greedy)\n"
    "  --seed S             sampling seed (default 0): the same seed gives the same plan\n"
    "  -t, --threads N      compute threads (default: one per CPU)\n"
    "  -o, --output FILE    write the plan to FILE (atomically) instead of stdout\n"
    "  --compact            one-line JSON\n"
    "  --no-schema-prompt   do not show the schema to the model (it still constrains decoding)\n\n"
    "Example:\n"
    "  reel plan -m nemotron-3-nano-4b-q4_0.gguf --shots 4 --style \"paper cut-out\" \\\n"
    "      \"a lighthouse keeper befriends a storm\" -o plan.json\n"
    "  reel serve -m nemotron-3-nano-4b-q4_0.gguf --port 8080 &\n"
    "  reel plan -m openai:http://127.0.0.1:8080/v1#nemotron-3-nano-4b-q4_0 \"a storm\"\n",
    run,
};
REEL_CLI_COMMAND(reel_cmd_plan)
