/* reel template: the chat prompt a model would be given. */
#include "cli/cli.h"
#include "core/core.h"
#include "llm/chat.h"
#include "llm/tokenizer.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int run(int argc, char **argv)
{
    const char *model = NULL, *format = NULL;
    reel_llm_chat_msg *msgs = reel_xcalloc((size_t)argc + 1, sizeof *msgs);
    size_t n = 0;
    reel_llm_chat_params p = reel_llm_chat_default_params();
    int rc = REEL_EXIT_OK;
    char *tpl = NULL, *out = NULL;
    for (int i = 1; i < argc; i++) {
        const char *o = argv[i];
        int takes = !strcmp(o, "-m") || !strcmp(o, "--model") || !strcmp(o, "--format") ||
                    !strcmp(o, "--system") || !strcmp(o, "--user") || !strcmp(o, "--assistant");
        if (takes && i + 1 == argc) {
            rc = reel_cli_usage("template", "%s needs a value", o);
            goto done;
        }
        if (!strcmp(o, "-m") || !strcmp(o, "--model"))
            model = argv[++i];
        else if (!strcmp(o, "--format"))
            format = argv[++i];
        else if (!strcmp(o, "--system"))
            msgs[n++] = (reel_llm_chat_msg){"system", argv[++i], NULL};
        else if (!strcmp(o, "--user"))
            msgs[n++] = (reel_llm_chat_msg){"user", argv[++i], NULL};
        else if (!strcmp(o, "--assistant"))
            msgs[n++] = (reel_llm_chat_msg){"assistant", argv[++i], NULL};
        else if (!strcmp(o, "--no-think"))
            p.enable_thinking = 0;
        else if (!strcmp(o, "--think"))
            p.enable_thinking = 1;
        else if (!strcmp(o, "--keep-history-thinking"))
            p.truncate_history_thinking = 0;
        else if (!strcmp(o, "--no-generation-prompt"))
            p.add_generation_prompt = 0;
        else {
            rc = reel_cli_usage("template", "unknown option or argument '%s'", o);
            goto done;
        }
    }
    if (format) {
        p.format = reel_llm_chat_format_parse(format);
        if (p.format == REEL_LLM_CHAT_UNKNOWN) {
            rc = reel_cli_usage("template", "unknown --format '%s' (nemotron3 or nano-v2)", format);
            goto done;
        }
    }
    if (!model && !format) {
        rc = reel_cli_usage("template", "no model: use -m MODEL or --format FORMAT");
        goto done;
    }
    if (model) {
        reel_llm_tokenizer *tok = reel_llm_tokenizer_load(model, &tpl);
        if (!tok) {
            rc = reel_cli_fail("template");
            goto done;
        }
        if (!format) {
            p.format = reel_llm_chat_detect(tpl);
            /* no template text: the vocabulary's turn tokens still tell the family */
            if (p.format == REEL_LLM_CHAT_UNKNOWN && !tpl) {
                if (reel_llm_tokenizer_find(tok, "<|im_start|>") >= 0)
                    p.format = REEL_LLM_CHAT_NEMOTRON3;
                else if (reel_llm_tokenizer_find(tok, "<SPECIAL_10>") >= 0)
                    p.format = REEL_LLM_CHAT_NANO_V2;
            }
        }
        reel_llm_tokenizer_free(tok);
        if (p.format == REEL_LLM_CHAT_UNKNOWN) {
            reel_cli_error(model, "%s; use --format nemotron3|nano-v2",
                           tpl ? "the chat template is neither Nemotron-3 nor Nano-v2"
                               : "the model has no chat template");
            rc = REEL_EXIT_FAIL;
            goto done;
        }
    }
    size_t len;
    if (reel_llm_chat_render(msgs, n, &p, &out, &len) < 0) {
        rc = reel_cli_fail("template");
        goto done;
    }
    fwrite(out, 1, len, stdout);
done:
    free(out);
    free(tpl);
    free(msgs);
    return rc;
}

static const reel_cli_cmd reel_cmd_template = {
    "template",
    "show the chat prompt for a conversation",
    "Usage: reel template (-m MODEL | --format FORMAT) [--system S] [--user U] [options]\n\n"
    "Prints the prompt text the model is given for the conversation, exactly as its chat\n"
    "template renders it (without the BOS token, which the tokenizer adds). --user and\n"
    "--assistant may repeat to give a multi-turn history, in order.\n\n"
    "  -m, --model MODEL        a GGUF file, a Hugging Face directory or a tokenizer.json;\n"
    "                           the format is detected from its chat template\n"
    "  --format FORMAT          nemotron3 (<|im_start|> + <think>) or nano-v2 (<SPECIAL_1x>);\n"
    "                           overrides the detected format\n"
    "  --system S, --user U, --assistant A   messages, in order\n"
    "  --no-think, --think      force reasoning off/on (default: on, unless the last /think or\n"
    "                           /no_think in a system or user message says otherwise)\n"
    "  --keep-history-thinking  Nemotron-3: keep earlier turns' reasoning\n"
    "  --no-generation-prompt   do not open the assistant turn at the end\n\n"
    "Example:\n"
    "  reel template -m nemotron-h-4b.gguf --system 'You are helpful.' --user Hi --no-think\n",
    run,
};
REEL_CLI_COMMAND(reel_cmd_template)
