/* reel serve: the OpenAI-compatible HTTP server (serve/serve.h) until SIGINT or SIGTERM. */
#include "cli/cli.h"
#include "core/core.h"
#include "serve/serve.h"

#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The first line of a file, for --api-key-file (a key on the command line shows in ps). */
static char *read_key(const char *path)
{
    char *text = NULL;
    size_t n = 0;
    if (reel_file_read(path, 4096, &text, &n) < 0) return NULL;
    text[strcspn(text, "\r\n")] = '\0';
    if (!*text) {
        free(text);
        reel_set_error(REEL_EINVAL, "%s: the file holds no key", path);
        return NULL;
    }
    return text;
}

static int run(int argc, char **argv)
{
    reel_serve_params p = reel_serve_default_params();
    const char *key_file = NULL;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        long l;
#define NEED_VALUE                                                                                 \
    if (!v) return reel_cli_usage("serve", "%s needs a value", a);                                 \
    i++
        if (!strcmp(a, "-m") || !strcmp(a, "--model")) {
            NEED_VALUE;
            p.model = v;
        } else if (!strcmp(a, "--host")) {
            NEED_VALUE;
            p.host = v;
        } else if (!strcmp(a, "--port")) {
            NEED_VALUE;
            if (reel_cli_parse_int("serve", a, v, 0, 65535, &l) < 0) return REEL_EXIT_USAGE;
            p.port = (int)l;
        } else if (!strcmp(a, "--parallel") || !strcmp(a, "-np")) {
            NEED_VALUE;
            if (reel_cli_parse_int("serve", a, v, 1, 256, &l) < 0) return REEL_EXIT_USAGE;
            p.parallel = (int)l;
        } else if (!strcmp(a, "--api-key")) {
            NEED_VALUE;
            p.api_key = v;
        } else if (!strcmp(a, "--api-key-file")) {
            NEED_VALUE;
            key_file = v;
        } else if (!strcmp(a, "-t") || !strcmp(a, "--threads")) {
            NEED_VALUE;
            if (reel_cli_parse_int("serve", a, v, 0, 1024, &l) < 0) return REEL_EXIT_USAGE;
            p.n_threads = (int)l;
        } else if (!strcmp(a, "--ctx")) {
            NEED_VALUE;
            if (reel_cli_parse_int("serve", a, v, 16, 1 << 24, &l) < 0) return REEL_EXIT_USAGE;
            p.n_ctx = l;
        } else if (!strcmp(a, "--max-queue")) {
            NEED_VALUE;
            if (reel_cli_parse_int("serve", a, v, 1, 4096, &l) < 0) return REEL_EXIT_USAGE;
            p.max_queue = (int)l;
        } else if (!strcmp(a, "--max-body")) {
            NEED_VALUE;
            if (reel_cli_parse_int("serve", a, v, 1024, 1L << 30, &l) < 0) return REEL_EXIT_USAGE;
            p.max_body = (size_t)l;
        } else if (!strcmp(a, "--think")) {
            p.think = 1;
        } else {
            return reel_cli_usage("serve", "unknown option '%s'", a);
        }
#undef NEED_VALUE
    }
    if (!p.model) return reel_cli_usage("serve", "missing -m MODEL");
    if (p.api_key && key_file) return reel_cli_usage("serve", "give --api-key or --api-key-file");
    char *key = NULL;
    if (key_file) {
        if (!(key = read_key(key_file))) return reel_cli_fail("serve");
        p.api_key = key;
    }
    int loop = reel_serve_host_is_loopback(p.host);
    if (loop < 0) {
        free(key);
        return reel_cli_usage("serve", "--host: %s", reel_last_error());
    }
    if (!loop && !(p.api_key && *p.api_key)) {
        free(key);
        return reel_cli_usage("serve",
                              "refusing to listen on %s without --api-key: anyone who can reach "
                              "it could use the model. Give --api-key KEY (clients then send "
                              "'Authorization: Bearer KEY'), or keep the default 127.0.0.1",
                              p.host);
    }

    /* SIGINT and SIGTERM are taken by sigwait() below: blocked here, before any thread starts,
     * so that every thread inherits the mask and none is interrupted by them */
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    signal(SIGPIPE, SIG_IGN);

    reel_server *s = reel_server_start(&p);
    if (!s) {
        free(key);
        return reel_cli_fail("serve");
    }
    const int v6 = strchr(p.host, ':') != NULL && p.host[0] != '[';
    printf("reel serve: listening on http://%s%s%s:%d (model %s, %d session%s); Ctrl-C stops\n",
           v6 ? "[" : "", p.host, v6 ? "]" : "", reel_server_port(s), reel_server_model_id(s),
           p.parallel, p.parallel == 1 ? "" : "s");
    fflush(stdout);
    int sig = 0;
    sigwait(&set, &sig);
    fprintf(stderr, "reel serve: %s: stopping\n", sig == SIGINT ? "SIGINT" : "SIGTERM");
    reel_server_stop(s);
    free(key);
    return REEL_EXIT_OK;
}

static const reel_cli_cmd reel_cmd_serve = {
    "serve",
    "serve the model over an OpenAI-compatible HTTP API",
    "Usage: reel serve -m MODEL [--host ADDR] [--port N] [--parallel N] [--api-key KEY]\n\n"
    "Runs an HTTP server that answers OpenAI's API with the in-process model, so that any\n"
    "OpenAI client (the openai Python package, curl, editors) can use it:\n"
    "  POST /v1/chat/completions   messages in the model's chat template\n"
    "  POST /v1/completions        a raw prompt\n"
    "  GET  /v1/models             the model's id\n"
    "  GET  /health                liveness and load (no key needed)\n"
    "\"stream\": true answers with server-sent events (data: {chunk} ... data: [DONE]).\n"
    "Request fields: messages, prompt, max_tokens (max_completion_tokens), temperature,\n"
    "top_p, seed (same seed, same answer), stop, stream, stream_options.include_usage,\n"
    "response_format {\"type\": \"json_object\"} or {\"type\": \"json_schema\", \"json_schema\":\n"
    "{\"name\": ..., \"schema\": {...}}}: the answer is then constrained by reel's grammar\n"
    "engine to JSON valid against the schema, and chat_template_kwargs.enable_thinking.\n"
    "Unsupported fields (n > 1, tools, logprobs, ...) are refused with a 400 error.\n\n"
    "Requests wait in one first-come, first-served queue for a session; the sessions take\n"
    "turns on the model token by token. A client that disconnects cancels its request.\n\n"
    "Options:\n"
    "  -m, --model M        GGUF file or Hugging Face model directory\n"
    "  --host ADDR          address to listen on (default 127.0.0.1); any other than a\n"
    "                       loopback address needs --api-key\n"
    "  --port N             port (default 8080); 0 picks a free one (printed at start)\n"
    "  --parallel N         decoding sessions, each its own context (default 1)\n"
    "  --api-key KEY        require 'Authorization: Bearer KEY' on /v1/ requests\n"
    "  --api-key-file FILE  the same, the key read from the first line of FILE\n"
    "  --ctx N              positions per session, prompt and answer (default 4096);\n"
    "                       max_tokens is capped to what is left after the prompt\n"
    "  -t, --threads N      compute threads (default: one per CPU)\n"
    "  --max-queue N        requests waiting for a session before answering 503 (default 64)\n"
    "  --max-body BYTES     request body limit, 413 beyond (default 1048576)\n"
    "  --think              chat answers reason first (enable_thinking's default; the\n"
    "                       reasoning comes back as reasoning_content)\n\n"
    "Stops cleanly on Ctrl-C or SIGTERM (requests in flight get an error).\n\n"
    "Example:\n"
    "  reel serve -m model.gguf --port 8080 &\n"
    "  curl http://127.0.0.1:8080/v1/chat/completions -H 'Content-Type: application/json' \\\n"
    "    -d '{\"model\": \"model\", \"messages\": [{\"role\": \"user\", \"content\": \"Name a "
    "colour.\"}],\n"
    "         \"max_tokens\": 32, \"temperature\": 0}'\n"
    "  # the same, streamed:  add \"stream\": true and curl -N\n"
    "  # from Python:  openai.OpenAI(base_url=\"http://127.0.0.1:8080/v1\", api_key=\"none\")\n",
    run,
};
REEL_CLI_COMMAND(reel_cmd_serve)
