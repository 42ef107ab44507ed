/* What one node's Slurm job asks for: each value checked whatever its source, and merged with
 * the most specific source first (the node's Lua resources, its plugin's descriptor, the run's
 * options), then turned into sbatch options. No Slurm needed (test_pipeline_slurm.sh checks
 * that a plugin's declared resources reach a real job). */
#include "testutil.h"
#include "pipeline/lua-impl.h"
#include "pipeline/resources-impl.h"

#include <lauxlib.h>
#include <lualib.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

static void test_check_values(void **state)
{
    (void)state;
    const char *good[][2] = {
        {"mem", "16G"},         {"mem", "512"},
        {"mem", "512m"},        {"mem", "0"},
        {"time", "30"},         {"time", "10:00"},
        {"time", "00:30:00"},   {"time", "1-12"},
        {"time", "2-00:30"},    {"time", "2-00:30:15"},
        {"time", "UNLIMITED"},  {"gres", "gpu:1"},
        {"gres", "gpu:a100:2"}, {"gres", "gpu:1,shard:2"},
        {"partition", "gpu"},   {"account", "film-7"},
    };
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        const char *why = reeli_res_check(good[i][0], good[i][1]);
        if (why) fprintf(stderr, "%s=%s: %s\n", good[i][0], good[i][1], why);
        assert_null(why);
    }
    const char *bad[][3] = {
        {"mem", "lots", "must be a size such as"},
        {"mem", "16GB", "must be a size"},
        {"mem", "", "must be a size"},
        {"mem", "-1G", "must be a size"},
        {"mem", "12345678901G", "must be a size"},
        {"time", "1:2:3:4", "must be a time limit"},
        {"time", "1-", "must be a time limit"},
        {"time", ":30", "must be a time limit"},
        {"time", "30min", "must be a time limit"},
        {"time", "1-2-3", "must be a time limit"},
        {"gres", "gpu 1", "must be generic resources"},
        {"gres", ":1", "must be generic resources"},
        {"gres", "gpu;rm", "must be generic resources"},
        {"partition", "a b", "without spaces"},
        {"account", "", "non-empty"},
        {"memory", "1G", "is not one of partition, gres, account, cpus, mem, time"},
        {"cpus", "1", "is not one of"}, /* a number, not a string: checked by its caller */
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        const char *why = reeli_res_check(bad[i][0], bad[i][1]);
        if (!why || !strstr(why, bad[i][2]))
            fprintf(stderr, "%s=%s: %s\n", bad[i][0], bad[i][1], why ? why : "(accepted)");
        assert_non_null(why);
        assert_true(tu_contains(why, bad[i][2]));
    }
    char longp[120];
    memset(longp, 'p', sizeof longp - 1);
    longp[sizeof longp - 1] = '\0';
    assert_non_null(reeli_res_check("partition", longp));
    assert_string_equal(reeli_res_check("mem", NULL), "must be a string");
}

static reel_plugin_caps caps_with(int32_t cpus, const char *mem, const char *gres, const char *time)
{
    reel_plugin_caps c = {.struct_size = sizeof c, .kind = REEL_PLUGIN_KIND_VIDEO};
    c.job_cpus = cpus;
    c.job_mem = mem;
    c.job_gres = gres;
    c.job_time = time;
    return c;
}

static void test_check_caps(void **state)
{
    (void)state;
    reel_plugin_caps c = caps_with(1, "2G", "gpu:1", "01:00:00");
    assert_int_equal(reeli_res_check_caps(&c), 0);
    c = caps_with(0, NULL, NULL, NULL);
    assert_int_equal(reeli_res_check_caps(&c), 0);
    c = caps_with(-1, NULL, NULL, NULL);
    assert_int_equal(reeli_res_check_caps(&c), REEL_EFORMAT);
    assert_true(tu_contains(reel_last_error(), "'job_cpus' -1 must be 0 to 4096"));
    c = caps_with(5000, NULL, NULL, NULL);
    assert_int_equal(reeli_res_check_caps(&c), REEL_EFORMAT);
    c = caps_with(1, NULL, "gpu 1", NULL);
    assert_int_equal(reeli_res_check_caps(&c), REEL_EFORMAT);
    assert_true(tu_contains(reel_last_error(), "job resources: 'job_gres' \"gpu 1\" must be"));
    c = caps_with(1, NULL, NULL, "an hour\x1b[2J");
    assert_int_equal(reeli_res_check_caps(&c), REEL_EFORMAT);
    assert_true(tu_contains(reel_last_error(), "'job_time' \"an hour?[2J\" must be a time limit"));
    /* a descriptor of ABI 1.2 ends before the job resources: what follows is not read */
    c = caps_with(-7, "junk", "junk junk", "junk");
    c.struct_size = offsetof(reel_plugin_caps, job_cpus);
    assert_int_equal(reeli_res_check_caps(&c), 0);
    json_t *j = reeli_res_caps_json(&c);
    assert_int_equal(json_object_size(j), 0);
    json_decref(j);
    /* one that ends after job_mem has cpus and mem, not gres or time */
    c = caps_with(2, "3G", "junk junk", "junk");
    c.struct_size = offsetof(reel_plugin_caps, job_gres);
    assert_int_equal(reeli_res_check_caps(&c), 0);
    j = reeli_res_caps_json(&c);
    assert_int_equal(json_object_size(j), 2);
    assert_int_equal(json_integer_value(json_object_get(j, "cpus")), 2);
    assert_string_equal(json_string_value(json_object_get(j, "mem")), "3G");
    json_decref(j);
}

/* the sbatch options of r, joined by spaces (owned) */
static char *args_of(const reeli_job_res *r)
{
    char *a[REELI_RES_MAX_ARGS];
    int n = reeli_res_sbatch_args(r, a);
    assert_true(n >= 0 && n <= REELI_RES_MAX_ARGS);
    char *s = reel_xstrdup("");
    for (int i = 0; i < n; i++) {
        char *t = reel_xasprintf("%s%s%s", s, i ? " " : "", a[i]);
        free(s);
        free(a[i]);
        s = t;
    }
    return s;
}

static void test_merge(void **state)
{
    (void)state;
    reel_slurm_params run = {.partition = "batch", .gres = "gpu:4", .account = "lab"};
    reel_plugin_caps plugin = caps_with(2, "8G", "gpu:1", "02:00:00");
    json_t *node = json_pack("{s:s, s:i, s:s}", "mem", "24G", "cpus", 6, "partition", "gpu");
    reeli_job_res r;

    /* nothing anywhere: the cluster's defaults, no options */
    reeli_res_merge(NULL, NULL, NULL, &r);
    char *s = args_of(&r);
    assert_string_equal(s, "");
    free(s);

    /* the run's options alone */
    reeli_res_merge(NULL, NULL, &run, &r);
    s = args_of(&r);
    assert_string_equal(s, "--partition=batch --gres=gpu:4 --account=lab");
    free(s);

    /* the plugin's win over the run's gres; partition and account stay the run's */
    reeli_res_merge(NULL, &plugin, &run, &r);
    s = args_of(&r);
    assert_string_equal(s, "--partition=batch --gres=gpu:1 --account=lab --mem=8G --time=02:00:00 "
                           "--cpus-per-task=2");
    free(s);

    /* the node's win over both; what it does not give comes from the plugin, then the run */
    reeli_res_merge(node, &plugin, &run, &r);
    s = args_of(&r);
    assert_string_equal(s, "--partition=gpu --gres=gpu:1 --account=lab --mem=24G --time=02:00:00 "
                           "--cpus-per-task=6");
    free(s);
    json_t *j = reeli_res_json(&r);
    char *text = json_dumps(j, JSON_COMPACT);
    assert_string_equal(text,
                        "{\"cpus\":6,\"mem\":\"24G\",\"gres\":\"gpu:1\",\"time\":\"02:00:00\","
                        "\"partition\":\"gpu\",\"account\":\"lab\"}");
    free(text);
    json_decref(j);

    /* a plugin declaring nothing (0 / NULL) leaves the run's gres and the cluster's cpus */
    reel_plugin_caps quiet = caps_with(0, NULL, NULL, NULL);
    reeli_res_merge(NULL, &quiet, &run, &r);
    assert_string_equal(r.gres, "gpu:4");
    assert_int_equal(r.cpus, 0);
    assert_null(r.mem);

    /* an ABI 1.2 plugin: nothing read past its descriptor */
    reel_plugin_caps old = caps_with(3, "9G", "gpu:9", "9");
    old.struct_size = offsetof(reel_plugin_caps, job_cpus);
    reeli_res_merge(NULL, &old, NULL, &r);
    s = args_of(&r);
    assert_string_equal(s, "");
    free(s);
    json_decref(node);
}

/* A script's resources table (reel.video{resources = ...}): the same checks, named by key. */
static void test_lua_table(void **state)
{
    (void)state;
    const char *cases[][2] = {
        {"{gres = 'gpu:1', cpus = 4, mem = '24G', time = '00:30:00', partition = 'gpu', "
         "account = 'film'}",
         NULL},
        {"{mem = 'lots'}", "'mem' must be a size such as \"16G\""},
        {"{time = '30 minutes'}", "'time' must be a time limit"},
        {"{gres = 'gpu 1'}", "'gres' must be generic resources"},
        {"{cpus = 0}", "'cpus' must be an integer from 1 to 4096"},
        {"{cpus = 2.5}", "'cpus' must be an integer"},
        {"{mem = 16}", "'mem' must be a string"},
        {"{memory = '1G'}", "'memory' is not one of partition, gres, account, cpus, mem, time"},
        {"{'gpu:1'}", "has an item without a name"},
        {"'gpu:1'", "must be a table such as"},
    };
    lua_State *L = luaL_newstate();
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *code = reel_xasprintf("return %s", cases[i][0]);
        assert_int_equal(luaL_dostring(L, code), 0);
        free(code);
        char err[256] = "";
        json_t *out = NULL;
        int rc = reeli_lua_resources(L, -1, &out, err, sizeof err);
        lua_settop(L, 0);
        if (!cases[i][1]) {
            assert_int_equal(rc, 0);
            assert_int_equal(json_object_size(out), 6);
            assert_string_equal(json_string_value(json_object_get(out, "mem")), "24G");
            assert_int_equal(json_integer_value(json_object_get(out, "cpus")), 4);
        } else {
            if (rc == 0 || !strstr(err, cases[i][1])) fprintf(stderr, "%s: %s\n", cases[i][0], err);
            assert_int_equal(rc, -1);
            assert_null(out);
            assert_true(tu_contains(err, cases[i][1]));
        }
        json_decref(out);
    }
    lua_close(L);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_check_values),
        cmocka_unit_test(test_check_caps),
        cmocka_unit_test(test_merge),
        cmocka_unit_test(test_lua_table),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
