/* reel tokenize: text -> token ids with a model's tokenizer. */
#include "cli/cli.h"
#include "core/core.h"
#include "llm/tokenizer.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Prints bytes as a quoted C-style string: printable UTF-8 as is, the rest escaped. */
static void print_piece(const char *s, size_t n)
{
    char *clean = reel_llm_utf8_sanitize(s, n, NULL);
    int valid = clean && strlen(clean) == n && memcmp(clean, s, n) == 0;
    free(clean);
    putchar('\'');
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '\n')
            fputs("\\n", stdout);
        else if (c == '\t')
            fputs("\\t", stdout);
        else if (c == '\r')
            fputs("\\r", stdout);
        else if (c == '\\' || c == '\'')
            printf("\\%c", c);
        else if (c < 0x20 || c == 0x7f || (c >= 0x80 && !valid))
            printf("\\x%02x", c);
        else
            putchar(c);
    }
    putchar('\'');
}

static int run(int argc, char **argv)
{
    const char *model = NULL;
    int pieces = 0;
    uint32_t flags = REEL_LLM_TOK_DEFAULT;
    int first_text = argc;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "-m") || !strcmp(argv[i], "--model")) {
            if (++i == argc)
                return reel_cli_usage("tokenize", "%s needs a model path", argv[i - 1]);
            model = argv[i];
        } else if (!strcmp(argv[i], "--pieces")) {
            pieces = 1;
        } else if (!strcmp(argv[i], "--no-bos")) {
            flags &= ~(uint32_t)REEL_LLM_TOK_ADD_SPECIAL;
        } else if (!strcmp(argv[i], "--no-special")) {
            flags &= ~(uint32_t)REEL_LLM_TOK_PARSE_SPECIAL;
        } else if (!strcmp(argv[i], "--")) {
            first_text = i + 1;
            break;
        } else if (argv[i][0] == '-' && argv[i][1]) {
            return reel_cli_usage("tokenize", "unknown option '%s'", argv[i]);
        } else {
            first_text = i;
            break;
        }
    }
    if (!model) return reel_cli_usage("tokenize", "no model: use -m MODEL");
    /* the text: the remaining arguments joined by spaces, or standard input */
    char *text = NULL;
    size_t len = 0;
    if (first_text < argc) {
        for (int i = first_text; i < argc; i++) len += strlen(argv[i]) + 1;
        text = reel_xmalloc(len + 1);
        len = 0;
        for (int i = first_text; i < argc; i++) {
            if (i > first_text) text[len++] = ' ';
            memcpy(text + len, argv[i], strlen(argv[i]));
            len += strlen(argv[i]);
        }
    } else {
        size_t cap = 4096;
        text = reel_xmalloc(cap);
        size_t got;
        while ((got = fread(text + len, 1, cap - len, stdin)) > 0) {
            len += got;
            if (len == cap) text = reel_xrealloc(text, cap *= 2);
        }
    }
    reel_llm_tokenizer *tok = reel_llm_tokenizer_load(model, NULL);
    if (!tok) {
        free(text);
        return reel_cli_fail("tokenize");
    }
    int32_t *ids;
    size_t n;
    int rc = reel_llm_tokenizer_encode(tok, text, len, flags, &ids, &n);
    free(text);
    if (rc < 0) {
        reel_llm_tokenizer_free(tok);
        return reel_cli_fail("tokenize");
    }
    for (size_t i = 0; i < n; i++) {
        if (!pieces) {
            printf("%d\n", (int)ids[i]);
            continue;
        }
        const char *b;
        size_t bl;
        reel_llm_tokenizer_token_bytes(tok, ids[i], &b, &bl);
        printf("%d\t", (int)ids[i]);
        print_piece(b, bl);
        putchar('\n');
    }
    free(ids);
    reel_llm_tokenizer_free(tok);
    return REEL_EXIT_OK;
}

static const reel_cli_cmd reel_cmd_tokenize = {
    "tokenize",
    "show the token ids of a text",
    "Usage: reel tokenize -m MODEL [options] [TEXT...]\n\n"
    "Prints the ids of TEXT (the arguments joined by single spaces, or standard input when\n"
    "there are none), one per line, as the model's tokenizer gives them (identical to Hugging\n"
    "Face tokenizers). Special tokens written in the text (<|im_start|>) are recognised.\n\n"
    "  -m, --model MODEL  a GGUF file, a Hugging Face directory, or a tokenizer.json file\n"
    "  --pieces           print 'ID<TAB>'BYTES'' (the text each token stands for, escaped)\n"
    "  --no-bos           do not add the BOS (and any other post-processor) tokens\n"
    "  --no-special       treat special token names in the text as plain text\n\n"
    "Example:\n"
    "  reel tokenize -m nemotron-h-4b.gguf --pieces 'Hello world'\n",
    run,
};
REEL_CLI_COMMAND(reel_cmd_tokenize)
