/* Hugging Face directories: config.json, tokenizer files and safetensors shards. */
#include "llm/model-impl.h"

int reeli_hf_load(reel_llm_desc *d, const char *dir)
{
    d->format = "safetensors";
    return reel_set_error(REEL_EUNSUPPORTED, "%s: Hugging Face directories are not read yet", dir);
}
