/* The language-model binding: reel.model(spec) -> model; m:generate{...}, m:chat{...}
 * and m:_json{...} (grammar-constrained; the prelude's m:json decodes its text).
 *
 * A spec "openai:URL#MODEL" is a remote model (llm/remote.h): the same methods send OpenAI
 * requests instead, cached the same way under a key of the endpoint and the request body.
 *
 * A model is userdata "reel.model", created "closed" (path and identity only) and opened on the
 * first generation that is not in the cache, so an unchanged re-run never loads the weights.
 * Every generation is cached like a stage: key = SHA-256 of the model's identity (path, sizes
 * and modification times of its files), the exact prompt text, the sampling parameters and the
 * seed; the text is stored as KEY.txt in the cache folder. Generation uses only the public
 * llm/ API (llm.h, tokenizer.h, chat.h). */
#include "pipeline/lua-impl.h"

#include "core/store.h"

#include "llm/chat.h"
#include "llm/constrain.h"
#include "llm/generate.h"
#include "llm/llm.h"
#include "llm/remote.h"
#include "llm/tokenizer.h"

#include "core/grant.h"

#include <dirent.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <lauxlib.h>
#include <lua.h>

#define MODEL_MT  "reel.model"
#define MAX_STOPS 16

typedef struct lmodel {
    char *path;              /* real path of the GGUF file or HF folder; a remote model's spec */
    reel_llm_remote *remote; /* a remote model, or NULL */
    char identity[REEL_SHA256_HEX_SIZE];
    reel_llm_model *m; /* NULL until opened */
    reel_llm_tokenizer *tok;
    reel_llm_chat_format chat;
    int32_t stops[MAX_STOPS]; /* end-of-generation ids */
    int n_stops;
    /* Shared-prefix reuse: the state after the last system prompt, so calls that share it
     * (every shot of a film asks with the same system message) prefill it once. */
    int32_t *prefix_ids;
    size_t prefix_n;
    reel_llm_snapshot *prefix_snap;
} lmodel;

/* What the last generate() did with the prompt's system prefix (for the events). */
typedef struct {
    size_t prefix_tokens;
    int prefix_reused;
} prefix_info;

static void model_close(lmodel *lm)
{
    reel_llm_snapshot_free(lm->prefix_snap);
    free(lm->prefix_ids);
    lm->prefix_snap = NULL;
    lm->prefix_ids = NULL;
    lm->prefix_n = 0;
    reel_llm_tokenizer_free(lm->tok);
    reel_llm_model_free(lm->m);
    reel_llm_remote_free(lm->remote);
    lm->remote = NULL;
    free(lm->path);
    lm->tok = NULL;
    lm->m = NULL;
    lm->path = NULL;
}

static int m_gc(lua_State *L)
{
    model_close(luaL_checkudata(L, 1, MODEL_MT));
    return 0;
}

static lmodel *check_model(lua_State *L)
{
    lmodel *lm = luaL_checkudata(L, 1, MODEL_MT);
    if (!lm->path) luaL_argerror(L, 1, "the model was closed");
    return lm;
}

/* Loads weights and tokenizer. Returns 0 or an error. */
static int model_open(lmodel *lm)
{
    if (lm->m) return 0;
    lm->m = reel_llm_model_load(lm->path, NULL);
    if (!lm->m) return reel_last_error_code() < 0 ? reel_last_error_code() : REEL_EINVAL;
    const reel_llm_vocab *vocab = reel_llm_desc_vocab(reel_llm_model_desc(lm->m));
    if (!vocab || vocab->n_tokens <= 0)
        return reel_set_error(REEL_EUNSUPPORTED, "%s: the model carries no tokenizer", lm->path);
    lm->tok = reel_llm_tokenizer_init(vocab);
    if (!lm->tok) return reel_error_prefix("%s", lm->path);
    lm->n_stops = reel_llm_gen_stop_ids(lm->tok, vocab, lm->stops, MAX_STOPS);
    lm->chat = reel_llm_chat_detect(vocab->chat_template);
    return 0;
}

/* Identity: the real path plus name, size and mtime of the file or of each file in the folder. */
static void model_identity(const char *path, char out[REEL_SHA256_HEX_SIZE])
{
    json_t *id = json_object();
    json_object_set_new(id, "path", json_string(path));
    json_t *files = json_object();
    struct stat st;
    if (stat(path, &st) == 0 && S_ISDIR(st.st_mode)) {
        DIR *d = opendir(path);
        struct dirent *e;
        while (d && (e = readdir(d))) {
            if (e->d_name[0] == '.') continue;
            char *p = reel_xasprintf("%s/%s", path, e->d_name);
            struct stat fs;
            if (stat(p, &fs) == 0 && S_ISREG(fs.st_mode))
                json_object_set_new(files, e->d_name,
                                    json_pack("[I,I,I]", (json_int_t)fs.st_size,
                                              (json_int_t)fs.st_mtim.tv_sec,
                                              (json_int_t)fs.st_mtim.tv_nsec));
            free(p);
        }
        if (d) closedir(d);
    } else {
        json_object_set_new(files, "",
                            json_pack("[I,I,I]", (json_int_t)st.st_size,
                                      (json_int_t)st.st_mtim.tv_sec,
                                      (json_int_t)st.st_mtim.tv_nsec));
    }
    json_object_set_new(id, "files", files);
    uint8_t d[REEL_SHA256_SIZE];
    reel_json_hash(id, d);
    json_decref(id);
    reel_hex(d, sizeof d, out);
}

/* reel.model("openai:URL#MODEL"): the user's --model, or a host the user granted with
 * --allow-host (a script names no host of its own: its prompts would leave the machine). */
static int open_remote(lua_State *L, reeli_run *run, const char *spec)
{
    reel_llm_remote_params rp = reel_llm_remote_default_params();
    rp.api_key = run->params->api_key;
    reel_llm_remote *r = reel_llm_remote_open(spec, &rp);
    if (!r) {
        luaL_pushfail(L);
        lua_pushstring(L, reel_last_error());
        return 2;
    }
    if ((!run->params->model || strcmp(spec, run->params->model) != 0) &&
        !reel_grant_allowed("net", reel_llm_remote_hostport(r))) {
        luaL_pushfail(L);
        lua_pushfstring(L,
                        "%s: the script names a remote model on %s, which it may not reach: run "
                        "with --model %s, or let it with --allow-host %s",
                        spec, reel_llm_remote_hostport(r), spec, reel_llm_remote_hostport(r));
        reel_llm_remote_free(r);
        return 2;
    }
    lmodel *lm = lua_newuserdatauv(L, sizeof *lm, 0);
    memset(lm, 0, sizeof *lm);
    luaL_setmetatable(L, MODEL_MT);
    lm->remote = r;
    lm->path = reel_xstrdup(spec);
    json_t *id =
        json_pack("{s:s,s:s}", "remote", reel_llm_remote_url(r), "model", reel_llm_remote_model(r));
    uint8_t d[REEL_SHA256_SIZE];
    reel_json_hash(id, d);
    json_decref(id);
    reel_hex(d, sizeof d, lm->identity);
    return 1;
}

/* reel.model([spec]) -> model | nil, msg */
static int l_model(lua_State *L)
{
    reeli_run *run = reeli_run_of(L);
    const char *spec = luaL_optstring(L, 1, run->params->model);
    if (!spec) {
        luaL_pushfail(L);
        lua_pushliteral(L, "no model given (use reel run --model M)");
        return 2;
    }
    if (reel_llm_remote_is_spec(spec)) return open_remote(L, run, spec);
    /* --model is the user's choice; a path the script names itself must lie inside the
     * sandbox like any other file it reads, and is then used by the name it was opened by.
     * When no such file is there, OWNER/REPO[:QUANT] names a model pulled into the store, which
     * is the user's own like --model. */
    char real[PATH_MAX];
    reel_model_ref ref;
    int is_ref = reel_model_ref_parse(spec, &ref) == 0;
    reel_model_ref_free(&ref);
    if (!run->params->model || strcmp(spec, run->params->model) != 0) {
        char why[512];
        char *ok = reeli_sandbox_resolve(run, spec, 0, why, sizeof why);
        int there = ok && reel_file_exists(ok);
        char *in_store = NULL;
        if (!there && is_ref) {
            free(ok);
            if (reel_store_resolve(spec, &in_store) < 0) {
                luaL_pushfail(L);
                lua_pushfstring(L, "%s: no file the script may read has that name, and %s", spec,
                                reel_last_error());
                return 2;
            }
            int bad = !realpath(in_store, real);
            free(in_store);
            if (bad) {
                reel_set_error_errno("%s", spec);
                luaL_pushfail(L);
                lua_pushstring(L, reel_last_error());
                return 2;
            }
        } else if (!ok) {
            luaL_pushfail(L);
            lua_pushfstring(L, "%s: %s", spec, why);
            return 2;
        } else {
            snprintf(real, sizeof real, "%s", ok);
            free(ok);
        }
    } else if (!realpath(spec, real)) {
        reel_set_error_errno("%s", spec);
        luaL_pushfail(L);
        lua_pushstring(L, reel_last_error());
        return 2;
    }
    lmodel *lm = lua_newuserdatauv(L, sizeof *lm, 0);
    memset(lm, 0, sizeof *lm);
    luaL_setmetatable(L, MODEL_MT);
    lm->path = reel_xstrdup(real);
    model_identity(real, lm->identity);
    return 1;
}

typedef struct gen_opts {
    reel_llm_sampler_params sp;
    int max_tokens;
    const char *stop[8];
    int n_stop;
} gen_opts;

static double opt_num(lua_State *L, int t, const char *k, double def, double lo, double hi)
{
    double v = def;
    int ty = lua_getfield(L, t, k);
    if (ty != LUA_TNIL) {
        if (ty != LUA_TNUMBER || (v = lua_tonumber(L, -1)) < lo || v > hi)
            luaL_argerror(
                L, 2, lua_pushfstring(L, "field '%s' must be a number from %f to %f", k, lo, hi));
    }
    lua_pop(L, 1);
    return v;
}

static void read_opts(lua_State *L, gen_opts *o, int remote)
{
    reeli_run *run = reeli_run_of(L);
    /* the OpenAI API has no such knobs: a remote model refuses them rather than ignore them */
    static const char *const local_only[] = {"top_k", "min_p", "repeat_penalty"};
    for (size_t i = 0; remote && i < sizeof local_only / sizeof *local_only; i++) {
        int ty = lua_getfield(L, 2, local_only[i]);
        lua_pop(L, 1);
        if (ty != LUA_TNIL)
            luaL_argerror(L, 2,
                          lua_pushfstring(L,
                                          "field '%s' applies to local models only (a remote "
                                          "model takes temp, top_p, seed, stop, max_tokens)",
                                          local_only[i]));
    }
    o->sp = reel_llm_sampler_default_params();
    o->sp.temp = (float)opt_num(L, 2, "temp", o->sp.temp, 0, 100);
    o->sp.top_k = (int)opt_num(L, 2, "top_k", o->sp.top_k, 0, 1 << 24);
    o->sp.top_p = (float)opt_num(L, 2, "top_p", o->sp.top_p, 0, 1);
    o->sp.min_p = (float)opt_num(L, 2, "min_p", o->sp.min_p, 0, 1);
    o->sp.repeat_penalty = (float)opt_num(L, 2, "repeat_penalty", o->sp.repeat_penalty, 0.01, 100);
    o->max_tokens = (int)opt_num(L, 2, "max_tokens", 256, 1, 1 << 20);
    int ty = lua_getfield(L, 2, "seed");
    if (ty == LUA_TNIL)
        o->sp.seed = run->params->seed;
    else if (!lua_isinteger(L, -1) || lua_tointeger(L, -1) < 0)
        luaL_argerror(L, 2,
                      "field 'seed' must be a non-negative integer (e.g. reel.seed(\"plan\"))");
    else
        o->sp.seed = (uint64_t)lua_tointeger(L, -1);
    lua_pop(L, 1);
    o->n_stop = 0;
    ty = lua_getfield(L, 2, "stop");
    if (ty == LUA_TTABLE) {
        for (int i = 1; i <= 8; i++) {
            if (lua_rawgeti(L, -1, i) != LUA_TSTRING) {
                lua_pop(L, 1);
                break;
            }
            o->stop[o->n_stop++] = lua_tostring(L, -1); /* anchored in the options table */
            lua_pop(L, 1);
        }
    } else if (ty != LUA_TNIL) {
        luaL_argerror(L, 2, "field 'stop' must be an array of strings");
    }
    lua_pop(L, 1);
}

static json_t *opts_json(const gen_opts *o)
{
    json_t *s = json_array();
    for (int i = 0; i < o->n_stop; i++) json_array_append_new(s, json_string(o->stop[i]));
    return json_pack("{s:f,s:i,s:f,s:f,s:f,s:I,s:i,s:o}", "temp", (double)o->sp.temp, "top_k",
                     o->sp.top_k, "top_p", (double)o->sp.top_p, "min_p", (double)o->sp.min_p,
                     "repeat_penalty", (double)o->sp.repeat_penalty, "seed",
                     /* greedy decoding ignores the seed: keep such calls one cache entry */
                     (json_int_t)(o->sp.temp <= 0 ? 0 : o->sp.seed), "max_tokens", o->max_tokens,
                     "stop", s);
}

/* Prefills ids into s. When the prompt starts with the tokens of `prefix` (the rendered system
 * turn), those are always processed as a batch of their own and the state after them is kept:
 * the next prompt with the same prefix restores it instead of recomputing. Always splitting
 * there keeps the results the same whether or not the prefix was reused. */
static int prefill(lmodel *lm, reel_llm_session *s, const int32_t *ids, size_t n_ids,
                   const char *prefix, prefix_info *pi)
{
    size_t k = 0;
    pi->prefix_tokens = 0;
    pi->prefix_reused = 0;
    if (prefix && *prefix) {
        int32_t *pids = NULL;
        size_t np = 0;
        if (reel_llm_tokenizer_encode(lm->tok, prefix, strlen(prefix), REEL_LLM_TOK_DEFAULT, &pids,
                                      &np) == 0 &&
            np > 0 && np < n_ids && memcmp(pids, ids, np * sizeof *ids) == 0)
            k = np;
        free(pids);
    }
    if (k == 0) return reel_llm_session_decode(s, ids, (int64_t)n_ids, 0);
    pi->prefix_tokens = k;
    if (lm->prefix_snap && lm->prefix_n == k && memcmp(lm->prefix_ids, ids, k * sizeof *ids) == 0 &&
        reel_llm_session_restore(s, lm->prefix_snap) == 0) {
        pi->prefix_reused = 1;
    } else {
        int rc = reel_llm_session_decode(s, ids, (int64_t)k, 0);
        if (rc < 0) return rc;
        reel_llm_snapshot *snap = reel_llm_session_snapshot(s);
        if (snap) { /* no snapshot (out of memory) only costs the reuse */
            reel_llm_snapshot_free(lm->prefix_snap);
            free(lm->prefix_ids);
            lm->prefix_snap = snap;
            lm->prefix_ids = reel_xmalloc(k * sizeof *ids);
            memcpy(lm->prefix_ids, ids, k * sizeof *ids);
            lm->prefix_n = k;
        }
    }
    return reel_llm_session_decode(s, ids + k, (int64_t)(n_ids - k), 0);
}

/* Generates from prompt text (already chat-rendered when it is a chat), under grammar g when
 * it is not NULL; prefix is the rendered system turn or NULL (see prefill()). Returns the text
 * (owned) or NULL with the error set. */
static char *generate(lmodel *lm, const char *prompt, const char *prefix, const gen_opts *o,
                      const reel_grammar *g, int *n_out, prefix_info *pi)
{
    int32_t *ids = NULL;
    size_t n_ids = 0;
    reel_llm_session *s = NULL;
    reel_llm_sampler *smp = NULL;
    reel_llm_constraint *c = NULL;
    if (reel_llm_tokenizer_encode(lm->tok, prompt, strlen(prompt), REEL_LLM_TOK_DEFAULT, &ids,
                                  &n_ids) < 0)
        goto fail;
    if (n_ids == 0) {
        reel_set_error(REEL_EINVAL, "the prompt encodes to no tokens");
        goto fail;
    }
    reel_llm_session_params sp = reel_llm_session_default_params();
    sp.n_ctx = (int64_t)n_ids + o->max_tokens;
    if (!(s = reel_llm_session_init(lm->m, &sp))) goto fail;
    smp = reel_llm_sampler_init(&o->sp);
    if (prefill(lm, s, ids, n_ids, prefix, pi) < 0) goto fail;
    reel_llm_gen_params gp = reel_llm_gen_default_params();
    gp.prompt = ids;
    gp.n_prompt = (int64_t)n_ids;
    gp.prefilled = 1;
    gp.n_predict = o->max_tokens;
    gp.tok = lm->tok;
    gp.stop_ids = lm->stops;
    gp.n_stop_ids = lm->n_stops;
    gp.stop = o->stop;
    gp.n_stop = o->n_stop;
    gp.cancel = &reeli_cancel_flag;
    if (g) gp.constraint = c = reel_llm_constraint_init(lm->tok, g);
    reel_llm_gen_result r;
    if (reel_llm_generate(s, smp, &gp, &r) < 0) goto fail;
    /* with a grammar, an upper bound; the text is what matters */
    *n_out = g ? o->max_tokens : r.n_tokens;
    reel_llm_constraint_free(c);
    reel_llm_sampler_free(smp);
    reel_llm_session_free(s);
    free(ids);
    return r.text;
fail:
    reel_llm_constraint_free(c);
    reel_llm_sampler_free(smp);
    reel_llm_session_free(s);
    free(ids);
    return NULL;
}

/* The OpenAI request for a remote model: the chat msgs, or prompt as a plain completion. */
static reel_llm_remote_request remote_request(lua_State *L, const gen_opts *o, const char *prompt,
                                              const reel_llm_chat_msg *msgs, size_t n_msgs,
                                              const json_t *schema)
{
    reel_llm_remote_request q = reel_llm_remote_default_request();
    q.msgs = msgs;
    q.n_msgs = n_msgs;
    q.prompt = msgs ? NULL : prompt;
    q.schema = schema;
    q.max_tokens = o->max_tokens;
    q.temperature = o->sp.temp;
    q.top_p = o->sp.top_p;
    q.has_seed = 1;
    q.seed = o->sp.temp <= 0 ? 0 : o->sp.seed; /* as in opts_json: greedy ignores the seed */
    q.stop = o->stop;
    q.n_stop = o->n_stop;
    int ty = lua_getfield(L, 2, "think");
    q.think = ty == LUA_TNIL ? -1 : lua_toboolean(L, -1);
    lua_pop(L, 1);
    q.stream = 1; /* pieces keep arriving, so a Ctrl-C is seen between them */
    q.cancel = (volatile int *)&reeli_cancel_flag;
    return q;
}

/* Cached generation of prompt with the options at stack index 2; pushes text or nil, msg.
 * With a schema, decoding is constrained by its grammar g and the schema is part of the key.
 * A remote model is sent msgs (a chat, when not NULL) or prompt, and keyed by its endpoint
 * and the request body. */
static int cached_generate(lua_State *L, lmodel *lm, const char *prompt, const char *prefix,
                           const char *what, const json_t *schema, const reel_grammar *g,
                           const reel_llm_chat_msg *msgs, size_t n_msgs)
{
    reeli_run *run = reeli_run_of(L);
    gen_opts o;
    read_opts(L, &o, lm->remote != NULL);
    reel_llm_remote_request rq = {0};
    json_t *k;
    if (lm->remote) {
        rq = remote_request(L, &o, prompt, msgs, n_msgs, schema);
        k = json_pack("{s:s,s:o}", "remote", reel_llm_remote_url(lm->remote), "request",
                      reel_llm_remote_body(lm->remote, &rq));
    } else {
        k = json_object();
        json_object_set_new(k, "model", json_string(lm->identity));
        json_object_set_new(k, "prompt", json_string(prompt));
        json_object_set_new(k, "sampling", opts_json(&o));
        if (schema) json_object_set(k, "schema", (json_t *)schema);
    }
    uint8_t d[REEL_SHA256_SIZE];
    reel_json_hash(k, d);
    json_decref(k);
    char key[REEL_SHA256_HEX_SIZE];
    reel_hex(d, sizeof d, key);
    char *path = reeli_cache_path(&run->cache, key, ".txt");
    char *text = NULL;
    size_t size;
    json_t *f = json_pack("{s:s,s:s}", "key", key, "call", what);
    if (reeli_cache_has(&run->cache, key, ".txt") && reel_file_read(path, 0, &text, &size) == 0) {
        reeli_events_emit(run->events, "llm_cached", f);
    } else {
        if (lm->remote) json_object_set_new(f, "remote", json_string(lm->path));
        reeli_events_emit(run->events, "llm_start", json_deep_copy(f));
        double t0 = reel_now();
        int n = 0, rc = 0;
        prefix_info pi = {0, 0};
        if (lm->remote) {
            reel_llm_remote_result res;
            if (reel_llm_remote_generate(lm->remote, &rq, &res) == 0) {
                text = res.text;
                n = res.n_tokens;
            }
        } else if ((rc = model_open(lm)) == 0) {
            text = generate(lm, prompt, prefix, &o, g, &n, &pi);
        }
        if (!text) {
            json_object_set_new(f, "error", json_string(reel_last_error()));
            reeli_events_emit(run->events, "llm_failed", f);
            free(path);
            luaL_pushfail(L);
            lua_pushstring(L, reel_last_error());
            return 2;
        }
        if (n >= 0) json_object_set_new(f, "tokens", json_integer(n));
        if (pi.prefix_tokens) {
            json_object_set_new(f, "prefix_tokens", json_integer((json_int_t)pi.prefix_tokens));
            json_object_set_new(f, "prefix_reused", json_boolean(pi.prefix_reused));
        }
        json_object_set_new(f, "duration_s", json_real(reel_now() - t0));
        reeli_events_emit(run->events, "llm_done", f);
        if (reeli_cache_put(&run->cache, key, ".txt", text, strlen(text)) < 0)
            REEL_LOGW("cache: %s", reel_last_error()); /* the text is still good */
    }
    free(path);
    /* the model took part in the film: it may be named in the provenance tags */
    const char *base = strrchr(lm->path, '/') ? strrchr(lm->path, '/') + 1 : lm->path;
    if (!run->models_used) run->models_used = json_array();
    size_t i;
    json_t *v;
    int known = 0;
    json_array_foreach(run->models_used, i, v) known |= !strcmp(json_string_value(v), base);
    if (!known) json_array_append_new(run->models_used, json_string(base));
    lua_pushstring(L, text);
    free(text);
    return 1;
}

/* m:generate{prompt=, max_tokens=, temp=, top_k=, top_p=, min_p=, repeat_penalty=, seed=,
 * stop={...}} -> text | nil, msg */
static int m_generate(lua_State *L)
{
    lmodel *lm = check_model(L);
    luaL_checktype(L, 2, LUA_TTABLE);
    if (lua_getfield(L, 2, "prompt") != LUA_TSTRING)
        return luaL_argerror(L, 2, "field 'prompt' must be a string");
    const char *prompt = lua_tostring(L, -1);
    lua_pop(L, 1);
    return cached_generate(L, lm, prompt, NULL, "generate", NULL, NULL, NULL, 0);
}

/* Collects the chat of the options table at index 2 into msgs (up to 65; system_extra is
 * appended to the system message). The strings stay anchored in the table or on the stack (the
 * system text with system_extra is pushed and stays there); returns the number of messages. */
static size_t collect_chat(lua_State *L, const char *system_extra, reel_llm_chat_msg *msgs)
{
    size_t n = 0;
    int sys = 0;
    if (system_extra) {
        int has = lua_getfield(L, 2, "system") == LUA_TSTRING;
        lua_pushfstring(L, "%s%s%s", has ? lua_tostring(L, -1) : "", has ? "\n\n" : "",
                        system_extra);
        lua_remove(L, -2);
        sys = lua_gettop(L);
    }
    if (lua_getfield(L, 2, "messages") == LUA_TTABLE) {
        if (sys) msgs[n++] = (reel_llm_chat_msg){"system", lua_tostring(L, sys), NULL};
        for (int i = 1; i <= 64; i++) {
            if (lua_rawgeti(L, -1, i) != LUA_TTABLE) {
                lua_pop(L, 1);
                break;
            }
            lua_getfield(L, -1, "role");
            lua_getfield(L, -2, "content");
            if (!lua_isstring(L, -2) || !lua_isstring(L, -1))
                return (size_t)luaL_argerror(L, 2,
                                             lua_pushfstring(L,
                                                             "messages[%d] needs role and "
                                                             "content strings",
                                                             i));
            msgs[n].role = lua_tostring(L, -2);
            msgs[n].content = lua_tostring(L, -1);
            msgs[n].reasoning_content = NULL;
            n++;
            lua_pop(L, 2); /* the strings stay anchored in the message table */
            lua_pop(L, 1);
        }
    } else {
        if (sys)
            msgs[n++] = (reel_llm_chat_msg){"system", lua_tostring(L, sys), NULL};
        else if (lua_getfield(L, 2, "system") == LUA_TSTRING)
            msgs[n++] = (reel_llm_chat_msg){"system", lua_tostring(L, -1), NULL};
        if (!sys) lua_pop(L, 1); /* the string stays anchored in the options table */
        if (lua_getfield(L, 2, "prompt") != LUA_TSTRING)
            return (size_t)luaL_argerror(L, 2, "field 'prompt' (or 'messages') must be given");
        msgs[n++] = (reel_llm_chat_msg){"user", lua_tostring(L, -1), NULL};
        lua_pop(L, 1);
    }
    lua_pop(L, 1);
    if (n == 0) luaL_argerror(L, 2, "no messages");
    return n;
}

/* Renders the chat of the options table at index 2 (system_extra is appended to the system
 * message) and pushes the prompt text; returns 1, or pushes nil, msg and returns 2. */
static int render_chat(lua_State *L, lmodel *lm, const char *system_extra)
{
    /* the chat template needs the model's vocabulary: open it (a cached call pays this once) */
    int rc = model_open(lm);
    if (rc < 0) {
        luaL_pushfail(L);
        lua_pushfstring(L, "%s", reel_last_error());
        return 2;
    }
    if (lm->chat == REEL_LLM_CHAT_UNKNOWN) {
        luaL_pushfail(L);
        lua_pushfstring(L,
                        "%s: the model has no chat template reel knows (Nemotron-3 or "
                        "Nano-v2); use m:generate",
                        lm->path);
        return 2;
    }
    reel_llm_chat_msg msgs[65];
    size_t n = collect_chat(L, system_extra, msgs);
    reel_llm_chat_params cp = reel_llm_chat_default_params();
    cp.format = lm->chat;
    lua_getfield(L, 2, "think");
    cp.enable_thinking = lua_isnil(L, -1) ? 0 : lua_toboolean(L, -1);
    lua_pop(L, 1);
    char *prompt = NULL;
    if (reel_llm_chat_render(msgs, n, &cp, &prompt, NULL) < 0) {
        luaL_pushfail(L);
        lua_pushstring(L, reel_last_error());
        return 2;
    }
    lua_pushstring(L, prompt); /* anchored copy; free the C one before anything can raise */
    free(prompt);
    /* the system turn alone: the prefix that calls sharing this system message reuse */
    char *prefix = NULL;
    reel_llm_chat_params pp = cp;
    pp.add_generation_prompt = 0;
    if (n > 1 && strcmp(msgs[0].role, "system") == 0 &&
        reel_llm_chat_render(msgs, 1, &pp, &prefix, NULL) == 0 &&
        strncmp(prefix, lua_tostring(L, -1), strlen(prefix)) == 0)
        lua_pushstring(L, prefix);
    else
        lua_pushnil(L);
    free(prefix);
    lua_insert(L, -2); /* [prefix|nil prompt] */
    return 1;
}

/* m:chat{messages={{role=, content=}...} | system=, prompt=, think=false, ...sampling} */
static int m_chat(lua_State *L)
{
    lmodel *lm = check_model(L);
    luaL_checktype(L, 2, LUA_TTABLE);
    if (lm->remote) {
        reel_llm_chat_msg msgs[65];
        size_t n = collect_chat(L, NULL, msgs);
        return cached_generate(L, lm, NULL, NULL, "chat", NULL, NULL, msgs, n);
    }
    if (render_chat(L, lm, NULL) != 1) return 2;
    return cached_generate(L, lm, lua_tostring(L, -1), lua_tostring(L, -2), "chat", NULL, NULL,
                           NULL, 0);
}

/* m:_json{schema=, system=, prompt=, show_schema=true, ...sampling} -> JSON text | nil, msg.
 * Decoding is constrained by the schema's grammar, so a returned text always parses and
 * validates; running out of max_tokens is an operational failure (nil, msg). The prelude's
 * m:json decodes the text into a table. A remote model is sent the schema as its
 * response_format, and its answer is validated before it is returned or cached. */
static int m_json(lua_State *L)
{
    lmodel *lm = check_model(L);
    luaL_checktype(L, 2, LUA_TTABLE);
    if (lua_getfield(L, 2, "schema") != LUA_TTABLE)
        return luaL_argerror(L, 2, "field 'schema' must be a table, e.g. reel.schemas.scene_plan");
    json_t *schema = reeli_lua_to_json(L, -1, "schema");
    lua_pop(L, 1);
    /* compiled for a remote model too: reel's validator must understand every keyword */
    reel_grammar *g = reel_grammar_from_json_schema(schema);
    if (!g) {
        lua_pushfstring(L, "field 'schema': %s", reel_last_error());
        json_decref(schema);
        return luaL_argerror(L, 2, lua_tostring(L, -1));
    }
    lua_getfield(L, 2, "show_schema");
    int show = lua_isnil(L, -1) || lua_toboolean(L, -1);
    lua_pop(L, 1);
    char *extra = NULL;
    if (show) {
        char *st = json_dumps(schema, JSON_COMPACT | JSON_SORT_KEYS);
        extra = reel_xasprintf(
            "Answer with one JSON value only. It must match this JSON schema: %s", st);
        free(st);
    }
    int n;
    if (lm->remote) {
        reel_llm_chat_msg msgs[65];
        lua_pushstring(L, extra ? extra : ""); /* anchored: collect_chat may raise */
        free(extra);
        size_t nm = collect_chat(L, show ? lua_tostring(L, -1) : NULL, msgs);
        n = cached_generate(L, lm, NULL, NULL, "json", schema, g, msgs, nm);
    } else {
        int rc = model_open(lm);
        if (rc < 0 || render_chat(L, lm, extra) != 1) {
            free(extra);
            reel_grammar_free(g);
            json_decref(schema);
            if (rc < 0) {
                luaL_pushfail(L);
                lua_pushstring(L, reel_last_error());
            }
            return 2;
        }
        free(extra);
        n = cached_generate(L, lm, lua_tostring(L, -1), lua_tostring(L, -2), "json", schema, g,
                            NULL, 0);
    }
    /* belt and braces: the grammar guarantees it, the validator proves it (cached text too) */
    if (n == 1) {
        size_t len;
        const char *text = lua_tolstring(L, -1, &len);
        json_t *v = reel_json_parse(text, len, "model answer");
        if (!v || reel_json_schema_validate(schema, v) < 0) {
            json_decref(v);
            reel_grammar_free(g);
            json_decref(schema);
            return luaL_error(L, "m:json: internal error: the answer does not match the schema: %s",
                              reel_last_error());
        }
        json_decref(v);
    }
    reel_grammar_free(g);
    json_decref(schema);
    return n;
}

static int m_tostring(lua_State *L)
{
    lmodel *lm = luaL_checkudata(L, 1, MODEL_MT);
    lua_pushfstring(L, "reel.model (%s)", lm->path ? lm->path : "closed");
    return 1;
}

void reeli_model_register(lua_State *L)
{
    static const luaL_Reg methods[] = {
        {"generate", m_generate},
        {"chat", m_chat},
        {"_json", m_json},
        {NULL, NULL},
    };
    static const luaL_Reg meta[] = {
        {"__gc", m_gc},
        {"__close", m_gc},
        {"__tostring", m_tostring},
        {NULL, NULL},
    };
    /* [reel] */
    luaL_newmetatable(L, MODEL_MT); /* [reel mt] */
    luaL_setfuncs(L, meta, 0);
    luaL_newlib(L, methods); /* [reel mt methods] */
    lua_pushvalue(L, -1);
    lua_setfield(L, -4, "_model_methods"); /* the prelude adds m:json */
    lua_setfield(L, -2, "__index");
    lua_pop(L, 1); /* [reel] */
    lua_pushcfunction(L, l_model);
    lua_setfield(L, -2, "model");
}
