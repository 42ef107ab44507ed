/* Fuzz target: a GGUF model through the forward pass. Any input either fails to load with a
 * message, or builds a model whose sessions decode a few tokens (prompt and single steps, ids at
 * both ends of the vocabulary) without crashing, then refuse what is past the context. */
#include "core/core.h"
#include "llm/llm.h"
#include "llm/model-impl.h"

#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    reel_llm_desc *d = reeli_desc_load_gguf_memory(data, size, "fuzz.gguf");
    if (!d) return 0;
    reel_llm_model_params mp = reel_llm_model_default_params();
    mp.n_threads = 1;
    reel_llm_model *m = reel_llm_model_init(d, &mp); /* takes d */
    if (!m) {
        if (!*reel_last_error()) abort(); /* every failure says why */
        return 0;
    }
    const int V = reel_llm_model_n_vocab(m);
    reel_llm_session_params sp = reel_llm_session_default_params();
    sp.n_ctx = 8;
    sp.max_batch = 3;
    sp.ssd_chunk = 2;
    reel_llm_session *s = reel_llm_session_init(m, &sp);
    if (s) {
        const int32_t toks[5] = {0, V - 1, 1 % V, (V / 2), 0};
        if (reel_llm_session_decode(s, toks, 5, 1) == 0) {
            for (int i = 0; i < 5; i++)
                if (!reel_llm_session_logits(s, i)) abort();
            reel_llm_sampler *smp = reel_llm_sampler_init(NULL);
            for (int i = 0; i < 3; i++) {
                int32_t t = reel_llm_sampler_sample(smp, reel_llm_session_logits(s, -1), V);
                if (t < 0 || t >= V) abort();
                if (reel_llm_session_decode(s, &t, 1, 0) < 0) abort();
            }
            if (reel_llm_session_decode(s, toks, 1, 0) != REEL_ERANGE) abort();
            reel_llm_sampler_free(smp);
        }
        reel_llm_session_free(s);
    }
    reel_llm_model_free(m);
    return 0;
}
