/* reel — turn a one-line idea into a finished video, offline.
 * Subcommand dispatch, --help and --version. Each subcommand lives in cmd_<name>.c. */
#include "cli/cli.h"
#include "core/core.h"
#include "core/store.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_COMMANDS 64

/* Filled by REEL_CLI_COMMAND constructors, sorted by name in main(). */
static const reel_cli_cmd *commands[MAX_COMMANDS];
static size_t N_COMMANDS;

void reel_cli_register(const reel_cli_cmd *cmd)
{
    REEL_ASSERT(N_COMMANDS < MAX_COMMANDS);
    commands[N_COMMANDS++] = cmd;
}

static int cmp_cmd(const void *a, const void *b)
{
    return strcmp((*(const reel_cli_cmd *const *)a)->name, (*(const reel_cli_cmd *const *)b)->name);
}

/* Writes "reel: where: message" to stderr with control bytes escaped (the message may quote a
 * server, a file or an argument); where is left out when the message already starts with it. */
static void say(const char *where, const char *fmt, va_list ap)
{
    char raw[4096], msg[4096];
    vsnprintf(raw, sizeof raw, fmt, ap);
    reel_text_printable(msg, sizeof msg, raw);
    size_t n = strlen(where);
    if (strncmp(msg, where, n) == 0 && msg[n] == ':' && msg[n + 1] == ' ')
        fprintf(stderr, "reel: %s\n", msg);
    else
        fprintf(stderr, "reel: %s: %s\n", where, msg);
}

void reel_cli_error(const char *where, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    say(where, fmt, ap);
    va_end(ap);
}

int reel_cli_usage(const char *cmd, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    say(cmd, fmt, ap);
    fprintf(stderr, "Try 'reel %s --help'.\n", cmd);
    va_end(ap);
    return REEL_EXIT_USAGE;
}

int reel_cli_fail(const char *where)
{
    const char *msg = reel_last_error();
    reel_cli_error(where, "%s", *msg ? msg : reel_strerror(reel_last_error_code()));
    return REEL_EXIT_FAIL;
}

int reel_cli_wants_help(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--") == 0) break;
        if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) return 1;
    }
    return 0;
}

int reel_cli_parse_int(const char *cmd, const char *opt, const char *text, long min, long max,
                       long *out)
{
    char *end;
    errno = 0;
    long v = strtol(text, &end, 10);
    if (!*text || *end || errno || v < min || v > max) {
        reel_cli_usage(cmd, "%s expects an integer from %ld to %ld, got '%s'", opt, min, max, text);
        return -1;
    }
    *out = v;
    return 0;
}

int reel_cli_parse_seed(const char *cmd, const char *opt, const char *text, uint64_t *out)
{
    char *end;
    errno = 0;
    unsigned long long v = strtoull(text, &end, 10);
    if (!*text || *end || errno || text[0] == '-' || text[0] == '+') {
        reel_cli_usage(cmd, "%s expects an integer from 0 to 18446744073709551615, got '%s'", opt,
                       text);
        return -1;
    }
    *out = (uint64_t)v;
    return 0;
}

int reel_cli_parse_double(const char *cmd, const char *opt, const char *text, double min,
                          double max, double *out)
{
    char *end;
    double v = strtod(text, &end);
    if (!*text || *end || !(v >= min && v <= max)) {
        reel_cli_usage(cmd, "%s expects a number from %g to %g, got '%s'", opt, min, max, text);
        return -1;
    }
    *out = v;
    return 0;
}

/* -m/--model OWNER/REPO[:QUANT] names a model pulled into the store when no file or folder has
 * that name: each subcommand then sees the model's path, as if it had been given. The paths
 * stay reachable from here until exit. */
static char *model_paths[8];

static int resolve_model_args(const char *cmd, int argc, char **argv)
{
    size_t k = 0;
    for (int i = 1; i + 1 < argc; i++) {
        if (strcmp(argv[i], "--") == 0) break;
        if (strcmp(argv[i], "-m") != 0 && strcmp(argv[i], "--model") != 0) continue;
        char *path;
        if (reel_store_model_arg(argv[++i], &path) < 0) {
            reel_cli_fail(cmd);
            return -1;
        }
        if (path && k < sizeof model_paths / sizeof *model_paths)
            argv[i] = model_paths[k++] = path;
        else
            free(path);
    }
    return 0;
}

static void print_help(FILE *f)
{
    fprintf(f, "reel — turn a one-line idea into a finished video, offline.\n\n"
               "Usage: reel <command> [options]\n\n"
               "Commands:\n");
    for (size_t i = 0; i < N_COMMANDS; i++)
        fprintf(f, "  %-12s %s\n", commands[i]->name, commands[i]->summary);
    fprintf(f, "\nOptions:\n"
               "  -h, --help     show this help (or 'reel <command> --help')\n"
               "  -V, --version  show the version and build options\n\n"
               "Environment:\n"
               "  REEL_LOG=debug|info|warn|error   how much reel logs to stderr (default warn)\n\n"
               "Exit status: 0 success, 1 runtime failure, 2 usage error.\n");
}

int main(int argc, char **argv)
{
    qsort(commands, N_COMMANDS, sizeof commands[0], cmp_cmd);
    if (argc < 2) {
        print_help(stderr);
        return REEL_EXIT_USAGE;
    }
    const char *name = argv[1];
    if (strcmp(name, "-h") == 0 || strcmp(name, "--help") == 0 || strcmp(name, "help") == 0) {
        if (argc > 2 && strcmp(name, "help") == 0) {
            for (size_t i = 0; i < N_COMMANDS; i++)
                if (strcmp(argv[2], commands[i]->name) == 0) {
                    fputs(commands[i]->help, stdout);
                    return REEL_EXIT_OK;
                }
            return reel_cli_usage("help", "unknown command '%s'", argv[2]);
        }
        print_help(stdout);
        return REEL_EXIT_OK;
    }
    if (strcmp(name, "-V") == 0 || strcmp(name, "--version") == 0) name = "version";
    for (size_t i = 0; i < N_COMMANDS; i++) {
        if (strcmp(name, commands[i]->name) != 0) continue;
        if (reel_cli_wants_help(argc - 1, argv + 1)) {
            fputs(commands[i]->help, stdout);
            return REEL_EXIT_OK;
        }
        if (resolve_model_args(name, argc - 1, argv + 1) < 0) return REEL_EXIT_FAIL;
        return commands[i]->run(argc - 1, argv + 1);
    }
    fprintf(stderr, "reel: unknown command '%s'\nTry 'reel --help' for the list of commands.\n",
            name);
    return REEL_EXIT_USAGE;
}
