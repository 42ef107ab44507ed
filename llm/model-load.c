/* Loading a model description: a GGUF file or a Hugging Face directory, picked by what the path
 * is, then the checks common to every source. */
#include "llm/model-impl.h"

#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

reel_llm_desc *reel_llm_desc_load(const char *path)
{
    reel_llm_desc *d = reel_xcalloc(1, sizeof *d);
    d->path = reel_xstrdup(path);
    size_t n = strlen(d->path);
    while (n > 1 && d->path[n - 1] == '/') d->path[--n] = 0;
    d->vocab.bos_id = d->vocab.eos_id = d->vocab.unk_id = d->vocab.pad_id = -1;
    struct stat st;
    int rc;
    if (stat(d->path, &st) != 0)
        rc = reel_set_error_errno("%s", d->path);
    else if (S_ISDIR(st.st_mode))
        rc = reeli_hf_load(d, d->path);
    else if ((d->gguf = reel_gguf_open(d->path)) != NULL)
        rc = reeli_desc_load_gguf(d);
    else
        rc = reel_last_error_code();
    if (rc == 0) rc = reeli_desc_finish(d);
    if (rc < 0) {
        reel_llm_desc_free(d);
        return NULL;
    }
    return d;
}

reel_llm_desc *reeli_desc_load_gguf_memory(const void *data, size_t size, const char *name)
{
    reel_llm_desc *d = reel_xcalloc(1, sizeof *d);
    d->path = reel_xstrdup(name);
    d->vocab.bos_id = d->vocab.eos_id = d->vocab.unk_id = d->vocab.pad_id = -1;
    d->gguf = reel_gguf_open_memory(data, size, name);
    int rc = d->gguf ? reeli_desc_load_gguf(d) : reel_last_error_code();
    if (rc == 0) rc = reeli_desc_finish(d);
    if (rc < 0) {
        reel_llm_desc_free(d);
        return NULL;
    }
    return d;
}
