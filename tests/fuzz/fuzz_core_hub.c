/* Fuzz target: the hub's tree listing and model references. Whatever the listing holds, every
 * path kept must be safe to write below the store, and the picker must answer with an index in
 * range or an error; any text must parse as a reference or fail cleanly. */
#include "core/core.h"
#include "core/http.h"
#include "core/hub.h"
#include "core/store.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    reel_hub_file *files;
    size_t n;
    if (reel_hub_parse_tree((const char *)data, size, "fuzz", &files, &n) == 0) {
        const char **names = malloc((n ? n : 1) * sizeof *names);
        for (size_t i = 0; i < n; i++) {
            if (!reel_store_path_ok(files[i].path)) abort();
            if (files[i].sha256[0] && strlen(files[i].sha256) != 64) abort();
            names[i] = files[i].path;
        }
        static const char *const sels[] = {NULL, "Q4_K_M", "q8_0", "model.gguf", "sub/x.gguf"};
        for (size_t s = 0; s < sizeof sels / sizeof *sels; s++) {
            int k = reel_store_pick("o/r", sels[s], names, n);
            if (k >= 0 && (size_t)k >= n) abort();
        }
        size_t *pick, k = reel_hub_safetensors_set(files, n, &pick);
        for (size_t i = 0; i < k; i++)
            if (pick[i] >= n) abort();
        free(pick);
        free(names);
        reel_hub_files_free(files, n);
    }
    char *text = malloc(size + 1);
    memcpy(text, data, size);
    text[size] = '\0';
    /* the same bytes as a Link header and an X-Linked-Etag: a next page stays on the server */
    const char *base = "https://hub.example/api/models/o/r/tree/main";
    char *next = NULL, sha[REEL_SHA256_HEX_SIZE];
    if (reel_http_link_next(text, base, &next) == 0 && next &&
        (strncasecmp(next, "https://hub.example", 19) != 0 || (next[19] && next[19] != '/')))
        abort();
    free(next);
    if (reel_http_linked_sha256(text, sha) == 0 && strlen(sha) != 64) abort();
    reel_model_ref ref;
    if (reel_model_ref_parse(text, &ref) == 0) {
        if (!ref.repo || !ref.owner || !ref.name || strchr(ref.name, '/')) abort();
        if (ref.sel && !reel_store_path_ok(ref.sel)) abort();
        reel_model_ref_free(&ref);
    }
    free(text);
    return 0;
}
