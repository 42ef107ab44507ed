/* The language-model binding on the tiny test model: m:generate gives what `reel generate`
 * gives (greedy), generations are cached like stages (a re-run loads no weights), m:chat uses
 * the model's template, m:json is grammar-constrained (always valid; a too-small budget is nil,
 * msg), and missing models or remote ones the user did not grant are operational failures. */
#include "testutil.h"
#include "pipeline_stage_test.h"

#include "core/core.h"

#include <stdlib.h>
#include <string.h>

static const char *SCRIPT =
    "local m = assert(reel.model())\n"
    "local t = assert(m:generate{prompt = 'Once upon a time', max_tokens = 12, temp = 0})\n"
    "-- greedy: the seed does not matter\n"
    "assert(t == m:generate{prompt = 'Once upon a time', max_tokens = 12, temp = 0, seed = 9})\n"
    "local f = assert(io.open(reel.out_dir .. '/gen.txt', 'w')) f:write(t) f:close()\n"
    "local a = assert(m:generate{prompt = 'x', max_tokens = 8, temp = 1, seed = 1})\n"
    "assert(a == m:generate{prompt = 'x', max_tokens = 8, temp = 1, seed = 1})\n"
    "assert(type(assert(m:chat{prompt = 'Hi', max_tokens = 4})) == 'string')\n"
    "-- constrained: a too-small budget fails; a small schema always validates\n"
    "local j, e = m:json{schema = reel.schemas.scene_plan, prompt = 'plan', max_tokens = 8}\n"
    "assert(j == nil and e:find('not complete after 8 tokens'), e)\n"
    "local cat = {type = 'object', required = {'name', 'age'}, properties = {\n"
    "  name = {type = 'string', maxLength = 6}, age = {type = 'integer', minimum = 0, maximum = "
    "9}}}\n"
    "for seed = 1, 3 do\n"
    "  local v = assert(m:json{schema = cat, prompt = 'a cat', seed = seed, temp = 1, max_tokens = "
    "60})\n"
    "  assert(reel.validate(v, cat) and math.type(v.age) == 'integer' and v.age <= 9)\n"
    "end\n"
    "local ok, err = pcall(m.json, m, {prompt = 'x'})\n"
    "assert(not ok and err:find(\"field 'schema'\"), err)\n"
    "local r, re = reel.model('openai:http://127.0.0.1:1/v1#m')\n"
    "assert(r == nil and re:find('--allow-host', 1, true), re) -- not the user's choice\n"
    "r, re = reel.model('/nonexistent.gguf')\n"
    "assert(r == nil and re:find('nonexistent'), re)\n"
    "-- a model file the script names itself is subject to the sandbox\n"
    "r, re = reel.model('/etc/passwd')\n"
    "assert(r == nil and re:find('outside the folders'), re)\n";

static void test_llm(void **state)
{
    (void)state;
    /* the tiny test model of the llm/ tests */
    char *model = reel_xasprintf("%s/tests/data/models/gguf/tiny-b-f16.gguf", tu_source_dir());
    if (!reel_file_exists(model)) fail_msg("test model %s is missing", model);
    char *dir = tu_tmpdir();
    char *script = pst_write(dir, "llm.lua", SCRIPT);
    char *events = reel_xasprintf("%s/ev.jsonl", dir);
    reel_pipeline_params p = reel_pipeline_default_params();
    p.script = script;
    p.out_dir = dir;
    p.events_path = events;
    p.model = model;
    p.progress = 0;
    p.runner = &pst_runner;
    int rc = reel_pipeline_run(&p);
    if (rc < 0) print_error("%s\n", reel_last_error());
    assert_int_equal(rc, 0);
    /* 12-token greedy, 8-token sampled, a chat, three constrained json calls; the repeats were
     * cached; the json call whose budget ran out failed */
    assert_int_equal(pst_count(events, "llm_done", NULL), 6);
    assert_int_equal(pst_count(events, "llm_failed", NULL), 1);
    assert_int_equal(pst_count(events, "llm_cached", NULL), 2);

    /* the same as the reel generate command */
    char *gen = NULL;
    size_t size;
    char *gpath = reel_xasprintf("%s/gen.txt", dir);
    assert_int_equal(reel_file_read(gpath, 0, &gen, &size), 0);
    char *argv[] = {(char *)tu_reel_bin(),
                    "generate",
                    "-m",
                    model,
                    "-p",
                    "Once upon a time",
                    "-n",
                    "12",
                    "--temp",
                    "0",
                    NULL};
    tu_result r = tu_run(argv, NULL);
    assert_int_equal(r.status, 0);
    size_t n = strlen(r.out);
    if (n && r.out[n - 1] == '\n') r.out[n - 1] = '\0';
    assert_string_equal(gen, r.out);
    assert_true(strlen(gen) > 0);
    tu_result_free(&r);

    /* a re-run generates nothing new (a failure is not cached: it is tried again) */
    assert_int_equal(reel_pipeline_run(&p), 0);
    assert_int_equal(pst_count(events, "llm_done", NULL), 0);
    assert_int_equal(pst_count(events, "llm_start", NULL), 1);
    assert_int_equal(pst_count(events, "llm_failed", NULL), 1);
    assert_int_equal(pst_count(events, "llm_cached", NULL), 8);

    /* no --model: reel.model() is nil, msg */
    char *s2 =
        pst_write(dir, "none.lua",
                  "local m, e = reel.model()\nassert(m == nil and e:find('--model', 1, true))\n");
    p.script = s2;
    p.model = NULL;
    assert_int_equal(reel_pipeline_run(&p), 0);
    free(s2);
    free(gen);
    free(gpath);
    free(events);
    free(script);
    free(model);
    tu_rmtree(dir);
    free(dir);
}

/* Chats sharing a system message prefill it once: the second call restores the state after
 * the system turn. The answers are the same whichever call came first (the system turn is
 * always its own batch), so the reuse never changes results. */
static const char *PREFIX_SCRIPT =
    "local m = assert(reel.model())\n"
    "local sys = string.rep('You are a careful film director who plans shots. ', 12)\n"
    "local order = reel.args[1] == 'reverse' and {'two', 'one'} or {'one', 'two'}\n"
    "for _, p in ipairs(order) do\n"
    "  local t = assert(m:chat{system = sys, prompt = p, max_tokens = 12, temp = 0})\n"
    "  local f = assert(io.open(reel.out_dir .. '/' .. p .. '.txt', 'w')) f:write(t) f:close()\n"
    "end\n";

static char *slurp(const char *dir, const char *name)
{
    char *path = reel_xasprintf("%s/%s", dir, name), *text = NULL;
    assert_int_equal(reel_file_read(path, 0, &text, NULL), 0);
    free(path);
    return text;
}

static void test_prefix_reuse(void **state)
{
    (void)state;
    char *model = reel_xasprintf("%s/tests/data/models/gguf/tiny-b-f16.gguf", tu_source_dir());
    char *dirs[2] = {tu_tmpdir(), tu_tmpdir()};
    const char *orders[2] = {"forward", "reverse"};
    for (int i = 0; i < 2; i++) {
        char *script = pst_write(dirs[i], "prefix.lua", PREFIX_SCRIPT);
        char *events = reel_xasprintf("%s/ev.jsonl", dirs[i]);
        const char *args[] = {orders[i]};
        reel_pipeline_params p = reel_pipeline_default_params();
        p.script = script;
        p.out_dir = dirs[i];
        p.events_path = events;
        p.model = model;
        p.progress = 0;
        p.runner = &pst_runner;
        p.args = args;
        p.n_args = 1;
        int rc = reel_pipeline_run(&p);
        if (rc < 0) print_error("%s\n", reel_last_error());
        assert_int_equal(rc, 0);
        /* two generations; the second restored the system turn's state */
        assert_int_equal(pst_count(events, "llm_done", NULL), 2);
        assert_int_equal(pst_count(events, "llm_done", "\"prefix_reused\":false"), 1);
        assert_int_equal(pst_count(events, "llm_done", "\"prefix_reused\":true"), 1);
        free(script);
        free(events);
    }
    for (int k = 0; k < 2; k++) {
        const char *name = k ? "two.txt" : "one.txt";
        char *a = slurp(dirs[0], name), *b = slurp(dirs[1], name);
        assert_string_equal(a, b);
        free(a);
        free(b);
    }
    for (int i = 0; i < 2; i++) {
        tu_rmtree(dirs[i]);
        free(dirs[i]);
    }
    free(model);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_llm),
        cmocka_unit_test(test_prefix_reuse),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
