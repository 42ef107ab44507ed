/* reel detokenize: token ids -> text with a model's tokenizer. */
#include "cli/cli.h"
#include "core/core.h"
#include "llm/tokenizer.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int run(int argc, char **argv)
{
    const char *model = NULL;
    uint32_t flags = 0;
    int32_t *ids = reel_xmalloc(sizeof *ids * (size_t)(argc + 1));
    size_t n = 0;
    int rc = REEL_EXIT_OK;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "-m") || !strcmp(argv[i], "--model")) {
            if (++i == argc) {
                rc = reel_cli_usage("detokenize", "%s needs a model path", argv[i - 1]);
                goto done;
            }
            model = argv[i];
        } else if (!strcmp(argv[i], "--skip-special")) {
            flags |= REEL_LLM_TOK_SKIP_SPECIAL;
        } else if (argv[i][0] == '-' && !(argv[i][1] >= '0' && argv[i][1] <= '9')) {
            rc = reel_cli_usage("detokenize", "unknown option '%s'", argv[i]);
            goto done;
        } else {
            char *end;
            errno = 0;
            long v = strtol(argv[i], &end, 10);
            if (!*argv[i] || *end || errno || v < INT32_MIN || v > INT32_MAX) {
                rc = reel_cli_usage("detokenize", "'%s' is not a token id", argv[i]);
                goto done;
            }
            ids[n++] = (int32_t)v;
        }
    }
    if (!model) {
        rc = reel_cli_usage("detokenize", "no model: use -m MODEL");
        goto done;
    }
    reel_llm_tokenizer *tok = reel_llm_tokenizer_load(model, NULL);
    if (!tok) {
        rc = reel_cli_fail("detokenize");
        goto done;
    }
    char *text;
    size_t len;
    if (reel_llm_tokenizer_decode(tok, ids, n, flags, &text, &len) < 0) {
        rc = reel_cli_fail("detokenize");
    } else {
        fwrite(text, 1, len, stdout);
        putchar('\n');
        free(text);
    }
    reel_llm_tokenizer_free(tok);
done:
    free(ids);
    return rc;
}

static const reel_cli_cmd reel_cmd_detokenize = {
    "detokenize",
    "show the text of token ids",
    "Usage: reel detokenize -m MODEL [--skip-special] ID...\n\n"
    "Prints the text the ids stand for (their bytes concatenated, then a newline).\n"
    "An id the model does not have is an error (exit 1).\n\n"
    "  -m, --model MODEL  a GGUF file, a Hugging Face directory, or a tokenizer.json file\n"
    "  --skip-special     leave special tokens (<s>, <|im_end|>, ...) out\n\n"
    "Example:\n"
    "  reel detokenize -m nemotron-h-4b.gguf 1 22177 1044\n",
    run,
};
REEL_CLI_COMMAND(reel_cmd_detokenize)
