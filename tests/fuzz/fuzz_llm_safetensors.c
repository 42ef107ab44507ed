/* Fuzz target: the safetensors header parser. Any input either fails with a message or gives
 * tensors that lie inside the input, without overlapping, with sizes that match their shapes. */
#include "core/core.h"
#include "llm/model-impl.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    reeli_st_file f = {0};
    if (reeli_st_parse(&f, data, size, "fuzz.safetensors") < 0) {
        if (!*reel_last_error()) abort();
    } else {
        for (int i = 0; i < f.n_tensors; i++) {
            const reeli_st_tensor *t = &f.tensors[i];
            const uint8_t *p = t->data;
            if (p < data || p + t->nbytes > data + size) abort();
            if (t->n_dims < 0 || t->n_dims > REELI_ST_MAX_DIMS) abort();
            if (t->nbytes) {
                volatile uint8_t sink = p[0] ^ p[t->nbytes - 1];
                (void)sink;
            }
        }
    }
    reeli_st_close(&f);
    return 0;
}
