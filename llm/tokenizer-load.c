/* reel_llm_tokenizer_load: the tokenizer of a model path. Models (GGUF files, HF directories
 * with a config.json) go through the model loader; a bare tokenizer.json, or a directory that
 * holds only tokenizer files, is read directly. */
#include "llm/model.h"
#include "llm/tokenizer.h"
#include "llm/tokenizer-vocab.h"

#include "core/core.h"

#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define MAX_TOKENIZER_FILE (256u << 20)

/* Looks a token string up ("<s>" or {"content": "<s>"}) in the tokenizer.json added tokens. */
static int32_t token_id(json_t *tokjson, json_t *spec)
{
    const char *name = json_is_string(spec) ? json_string_value(spec)
                                            : json_string_value(json_object_get(spec, "content"));
    if (!name) return -1;
    json_t *added = json_object_get(tokjson, "added_tokens");
    for (size_t i = 0; i < json_array_size(added); i++) {
        json_t *a = json_array_get(added, i);
        const char *c = json_string_value(json_object_get(a, "content"));
        if (c && strcmp(c, name) == 0) return (int32_t)json_integer_value(json_object_get(a, "id"));
    }
    json_t *id = json_object_get(json_object_get(json_object_get(tokjson, "model"), "vocab"), name);
    return json_is_integer(id) ? (int32_t)json_integer_value(id) : -1;
}

/* chat_template of tokenizer_config.json: a string, or a list of {name, template} ("default"
 * or the first). */
static char *config_template(json_t *cfg)
{
    json_t *t = json_object_get(cfg, "chat_template");
    if (json_is_string(t)) return reel_xstrdup(json_string_value(t));
    const char *first = NULL;
    for (size_t i = 0; i < json_array_size(t); i++) {
        json_t *e = json_array_get(t, i);
        const char *name = json_string_value(json_object_get(e, "name"));
        const char *tpl = json_string_value(json_object_get(e, "template"));
        if (!tpl) continue;
        if (name && strcmp(name, "default") == 0) return reel_xstrdup(tpl);
        if (!first) first = tpl;
    }
    return first ? reel_xstrdup(first) : NULL;
}

static reel_llm_tokenizer *load_json(const char *json_path, const char *cfg_path,
                                     char **chat_template)
{
    char *text = NULL;
    size_t len;
    json_t *tj = NULL, *cfg = NULL;
    reel_llm_tokenizer *tok = NULL;
    if (reel_file_read(json_path, MAX_TOKENIZER_FILE, &text, &len) < 0) return NULL;
    if (reel_file_exists(cfg_path)) {
        cfg = reel_json_load_file(cfg_path, 16u << 20);
        if (!cfg) goto done;
    }
    tj = json_loadb(text, len, 0, NULL); /* errors are reported by the tokenizer parse below */
    reel_llm_vocab v;
    memset(&v, 0, sizeof v);
    v.bos_id = v.eos_id = v.unk_id = v.pad_id = -1;
    v.tokenizer_json = text;
    if (cfg) {
        v.add_bos = reel_json_bool(cfg, "add_bos_token", 0);
        v.add_eos = reel_json_bool(cfg, "add_eos_token", 0);
        if (tj) {
            v.bos_id = token_id(tj, json_object_get(cfg, "bos_token"));
            v.eos_id = token_id(tj, json_object_get(cfg, "eos_token"));
        }
    }
    if (memchr(text, 0, len)) {
        reel_set_error(REEL_EFORMAT, "%s: NUL byte in the file", json_path);
        goto done;
    }
    tok = reeli_tokenizer_init_named(&v, json_path);
    if (!tok) goto done;
    if (chat_template) {
        *chat_template = cfg ? config_template(cfg) : NULL;
        if (!*chat_template) { /* newer checkpoints keep it in chat_template.jinja */
            const char *slash = strrchr(json_path, '/');
            char *jp = slash ? reel_xasprintf("%.*s/chat_template.jinja", (int)(slash - json_path),
                                              json_path)
                             : reel_xstrdup("chat_template.jinja");
            char *t;
            size_t tl;
            if (reel_file_exists(jp) && reel_file_read(jp, 16u << 20, &t, &tl) == 0)
                *chat_template = t;
            free(jp);
        }
    }
done:
    json_decref(tj);
    json_decref(cfg);
    free(text);
    return tok;
}

reel_llm_tokenizer *reel_llm_tokenizer_load(const char *path, char **chat_template)
{
    if (chat_template) *chat_template = NULL;
    struct stat st;
    if (stat(path, &st) != 0) {
        reel_set_error_errno("%s", path);
        return NULL;
    }
    char *cfg_json = S_ISDIR(st.st_mode) ? reel_xasprintf("%s/config.json", path) : NULL;
    int full_model = cfg_json && reel_file_exists(cfg_json);
    free(cfg_json);
    if (S_ISDIR(st.st_mode) && !full_model) {
        char *j = reel_xasprintf("%s/tokenizer.json", path);
        char *c = reel_xasprintf("%s/tokenizer_config.json", path);
        reel_llm_tokenizer *tok = NULL;
        if (!reel_file_exists(j))
            reel_set_error(REEL_ENOTFOUND, "%s: no tokenizer.json in this directory", path);
        else
            tok = load_json(j, c, chat_template);
        free(j);
        free(c);
        return tok;
    }
    size_t n = strlen(path);
    if (n >= 5 && strcmp(path + n - 5, ".json") == 0) {
        const char *slash = strrchr(path, '/');
        char *c = slash ? reel_xasprintf("%.*s/tokenizer_config.json", (int)(slash - path), path)
                        : reel_xstrdup("tokenizer_config.json");
        reel_llm_tokenizer *tok = load_json(path, c, chat_template);
        free(c);
        return tok;
    }
    reel_llm_desc *d = reel_llm_desc_load(path);
    if (!d) return NULL;
    const reel_llm_vocab *v = reel_llm_desc_vocab(d);
    reel_llm_tokenizer *tok = reel_llm_tokenizer_init(v);
    if (!tok)
        reel_error_prefix("%s", path);
    else if (chat_template && v->chat_template)
        *chat_template = reel_xstrdup(v->chat_template);
    reel_llm_desc_free(d);
    return tok;
}
