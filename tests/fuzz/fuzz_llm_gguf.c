/* Fuzz target: the GGUF reader and the nemotron_h description built from it. Any input either
 * fails with a message or gives a reader whose every value and tensor lies inside the input. */
#include "core/core.h"
#include "llm/gguf.h"
#include "llm/model-impl.h"

#include <stdlib.h>
#include <string.h>

static void touch(const reel_gguf_value *v, int depth)
{
    if (v->type == REEL_GGUF_TYPE_STRING && strlen(v->str) > v->n) abort();
    if (v->type != REEL_GGUF_TYPE_ARRAY) return;
    if (reel_gguf_type_size(v->arr_type)) {
        for (uint64_t j = 0; j < v->n; j++) {
            double d;
            if (reel_gguf_array_float(v, j, &d) < 0) abort();
        }
        return;
    }
    if (depth > 8) abort();
    for (uint64_t j = 0; j < v->n; j++) touch(&v->items[j], depth + 1);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    reel_gguf *g = reel_gguf_open_memory(data, size, "fuzz.gguf");
    if (!g) {
        if (!*reel_last_error()) abort(); /* every failure says why */
    } else {
        for (int64_t i = 0; i < reel_gguf_n_kv(g); i++) {
            if (!reel_gguf_find(g, reel_gguf_kv_key(g, i))) abort();
            touch(reel_gguf_kv_value(g, i), 0);
        }
        for (int64_t i = 0; i < reel_gguf_n_tensors(g); i++) {
            const reel_gguf_tensor *t = reel_gguf_tensor_at(g, i);
            const uint8_t *p = t->data;
            if (p < data || p + t->nbytes > data + size || t->nbytes == 0) abort();
            if (reel_gguf_tensor_find(g, t->name) != t) abort();
            volatile uint8_t sink = p[0] ^ p[t->nbytes - 1];
            (void)sink;
        }
        reel_gguf_free(g);
    }
    reel_llm_desc *d = reeli_desc_load_gguf_memory(data, size, "fuzz.gguf");
    if (d) {
        const reel_llm_hparams *hp = reel_llm_desc_hparams(d);
        if ((int)strlen(hp->pattern) != hp->n_layer) abort();
        const reel_llm_vocab *v = reel_llm_desc_vocab(d);
        for (int i = 0; i < v->n_tokens; i++)
            if (!v->tokens[i]) abort();
        reel_llm_desc_free(d);
    }
    return 0;
}
