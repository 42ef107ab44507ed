/* The generation loop (llm/generate.c) on the tiny golden model, greedy: it gives the tokens of
 * a hand-written sample/decode loop, does not decode the last token the limit allows, and ends
 * on an end-of-generation id, a stop string (cut from the text), a full context, cancellation
 * or a failing callback, each with the right count and reason. */
#include "testutil.h"
#include "core/core.h"
#include "llm/generate.h"

#include <signal.h>
#include <stdlib.h>
#include <string.h>

static reel_llm_model *model;
static reel_llm_tokenizer *tok;
static const int32_t PROMPT[] = {1, 40, 41, 42};
#define N_PROMPT 4
#define N_REF    12

static int setup(void **state)
{
    (void)state;
    char *path = reel_xasprintf("%s/tests/data/models/tiny-a", tu_source_dir());
    reel_llm_model_params mp = reel_llm_model_default_params();
    mp.n_threads = 1;
    model = reel_llm_model_load(path, &mp);
    if (!model) fail_msg("%s", reel_last_error());
    tok = reel_llm_tokenizer_load(path, NULL);
    if (!tok) fail_msg("%s", reel_last_error());
    free(path);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    reel_llm_tokenizer_free(tok);
    reel_llm_model_free(model);
    return 0;
}

typedef struct {
    int32_t ids[64];
    int n;
    int fail_at; /* return an error at this token (-1: never) */
} seen;

static int record(void *ctx, int32_t id, const char *text, size_t len)
{
    (void)text, (void)len;
    seen *sn = ctx;
    if (sn->n == sn->fail_at) return reel_set_error(REEL_EIO, "callback failed");
    if (sn->n < 64) sn->ids[sn->n] = id;
    sn->n++;
    return 0;
}

/* The greedy tokens of a plain loop: sample, decode, again. */
static void reference(int32_t *ids, int n)
{
    reel_llm_session *s = reel_llm_session_init(model, NULL);
    reel_llm_sampler *smp = reel_llm_sampler_init(NULL);
    assert_int_equal(reel_llm_session_decode(s, PROMPT, N_PROMPT, 0), 0);
    for (int i = 0; i < n; i++) {
        ids[i] = reel_llm_sampler_sample(smp, reel_llm_session_logits(s, -1),
                                         reel_llm_model_n_vocab(model));
        assert_int_equal(reel_llm_session_decode(s, &ids[i], 1, 0), 0);
    }
    reel_llm_sampler_free(smp);
    reel_llm_session_free(s);
}

/* Runs the loop greedily on a fresh session of n_ctx positions (0: default). */
static int run(reel_llm_gen_params *p, int64_t n_ctx, seen *sn, reel_llm_gen_result *r,
               int64_t *pos)
{
    reel_llm_session_params sp = reel_llm_session_default_params();
    sp.n_ctx = n_ctx;
    reel_llm_session *s = reel_llm_session_init(model, &sp);
    reel_llm_sampler *smp = reel_llm_sampler_init(NULL);
    p->prompt = PROMPT;
    p->n_prompt = N_PROMPT;
    p->on_token = record;
    p->ctx = sn;
    int rc = reel_llm_generate(s, smp, p, r);
    if (pos) *pos = reel_llm_session_pos(s);
    reel_llm_sampler_free(smp);
    reel_llm_session_free(s);
    return rc;
}

static void test_generate_limit(void **state)
{
    (void)state;
    int32_t ref[N_REF];
    reference(ref, N_REF);
    reel_llm_gen_params p = reel_llm_gen_default_params();
    p.n_predict = N_REF;
    p.tok = tok;
    seen sn = {.fail_at = -1};
    reel_llm_gen_result r;
    int64_t pos;
    assert_int_equal(run(&p, 0, &sn, &r, &pos), 0);
    assert_int_equal(r.stop, REEL_LLM_GEN_LENGTH);
    assert_int_equal(r.n_tokens, N_REF);
    assert_int_equal(sn.n, N_REF);
    assert_memory_equal(sn.ids, ref, sizeof ref);
    assert_int_equal(pos, N_PROMPT + N_REF - 1); /* the last token is not decoded */
    assert_non_null(r.text);
    assert_int_equal(strlen(r.text), r.len);
    free(r.text);

    /* no limit, no tokens */
    p.n_predict = 0;
    sn.n = 0;
    assert_int_equal(run(&p, 0, &sn, &r, NULL), 0);
    assert_int_equal(r.n_tokens, 0);
    assert_string_equal(r.text, "");
    free(r.text);
}

static void test_generate_stops(void **state)
{
    (void)state;
    int32_t ref[N_REF];
    reference(ref, N_REF);
    /* the first token that did not come before ends the generation before it */
    int k = 1;
    while (k < N_REF) {
        int before = 0;
        for (int i = 0; i < k; i++) before |= ref[i] == ref[k];
        if (!before) break;
        k++;
    }
    assert_true(k < N_REF);
    reel_llm_gen_params p = reel_llm_gen_default_params();
    p.n_predict = N_REF;
    p.tok = tok;
    p.stop_ids = &ref[k];
    p.n_stop_ids = 1;
    seen sn = {.fail_at = -1};
    reel_llm_gen_result r;
    assert_int_equal(run(&p, 0, &sn, &r, NULL), 0);
    assert_int_equal(r.stop, REEL_LLM_GEN_EOG);
    assert_int_equal(r.n_tokens, k);
    assert_int_equal(sn.n, k);
    free(r.text);

    /* a stop string: the text is cut where it first occurs */
    p.stop_ids = NULL;
    p.n_stop_ids = 0;
    sn.n = 0;
    assert_int_equal(run(&p, 0, &sn, &r, NULL), 0);
    char *full = r.text;
    assert_true(r.len > 2);
    const char stop[2] = {full[r.len / 2], 0};
    const char *const stops[] = {stop};
    p.stop = stops;
    p.n_stop = 1;
    sn.n = 0;
    assert_int_equal(run(&p, 0, &sn, &r, NULL), 0);
    assert_int_equal(r.stop, REEL_LLM_GEN_STOP_STRING);
    assert_int_equal(r.len, (size_t)(strchr(full, stop[0]) - full));
    assert_memory_equal(r.text, full, r.len);
    assert_true(r.n_tokens <= N_REF);
    free(r.text);
    free(full);

    /* the model's own end-of-generation ids include its EOS */
    int32_t ids[16];
    const int n =
        reel_llm_gen_stop_ids(tok, reel_llm_desc_vocab(reel_llm_model_desc(model)), ids, 16);
    int has_eos = 0;
    for (int i = 0; i < n; i++) has_eos |= ids[i] == reel_llm_tokenizer_eos(tok);
    assert_true(reel_llm_tokenizer_eos(tok) < 0 || has_eos);
}

static void test_generate_ends(void **state)
{
    (void)state;
    int32_t ref[N_REF];
    reference(ref, N_REF);
    reel_llm_gen_params p = reel_llm_gen_default_params();
    p.n_predict = N_REF;
    seen sn = {.fail_at = -1};
    reel_llm_gen_result r;
    /* room for 3 tokens after the prompt: the 4th cannot be decoded, and ends the text */
    assert_int_equal(run(&p, N_PROMPT + 3, &sn, &r, NULL), 0);
    assert_int_equal(r.stop, REEL_LLM_GEN_CONTEXT_FULL);
    assert_int_equal(r.n_tokens, 4);
    assert_memory_equal(sn.ids, ref, 4 * sizeof *ref);
    assert_string_equal(r.text, ""); /* no tokenizer: ids only */
    free(r.text);

    /* cancelled before the first token */
    volatile sig_atomic_t cancel = 1;
    p.cancel = &cancel;
    sn.n = 0;
    assert_int_equal(run(&p, 0, &sn, &r, NULL), REEL_ECANCELED);
    assert_null(r.text);
    assert_int_equal(sn.n, 0);
    p.cancel = NULL;

    /* a failing callback ends it with its error */
    sn = (seen){.fail_at = 2};
    assert_int_equal(run(&p, 0, &sn, &r, NULL), REEL_EIO);
    assert_null(r.text);
    assert_true(tu_contains(reel_last_error(), "callback failed"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_generate_limit),
        cmocka_unit_test(test_generate_stops),
        cmocka_unit_test(test_generate_ends),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
