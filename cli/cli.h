/* The reel command: subcommand table and shared helpers (private to cli/). */
#ifndef REEL_CLI_H
#define REEL_CLI_H

#include <stdint.h>

/* Exit codes, the same for every subcommand. */
enum { REEL_EXIT_OK = 0, REEL_EXIT_FAIL = 1, REEL_EXIT_USAGE = 2 };

typedef struct reel_cli_cmd {
    const char *name;
    const char *summary;               /* one line for `reel --help` */
    const char *help;                  /* full text for `reel NAME --help` */
    int (*run)(int argc, char **argv); /* argv[0] is the subcommand name */
} reel_cli_cmd;

/* Prints "reel: where: message" to stderr. */
void reel_cli_error(const char *where, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Usage error: prints the message and a hint to run --help; returns REEL_EXIT_USAGE. */
int reel_cli_usage(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Runtime failure from the library: prints "reel: where: <reel_last_error()>"; returns 1. */
int reel_cli_fail(const char *where);

/* 1 if argv holds -h or --help before a "--". */
int reel_cli_wants_help(int argc, char **argv);

/* Parses a number option value in [min, max]; on error prints a usage message, returns -1. */
int reel_cli_parse_double(const char *cmd, const char *opt, const char *text, double min,
                          double max, double *out);

/* Parses a sampling seed: a decimal integer from 0 to 2^64-1. Prints a usage error naming
 * `opt` and the text and returns -1 otherwise (negative, not a number, out of range). */
int reel_cli_parse_seed(const char *cmd, const char *opt, const char *text, uint64_t *out);

/* Parses an integer option value in [min, max]; on error prints a usage message, returns -1. */
int reel_cli_parse_int(const char *cmd, const char *opt, const char *text, long min, long max,
                       long *out);

/* Adds a subcommand to the table (called before main by REEL_CLI_COMMAND). */
void reel_cli_register(const reel_cli_cmd *cmd);

/* Registers the reel_cli_cmd `var` defined in a cmd_<name>.c file: a new subcommand needs no
 * edit anywhere else. Only subcommands that work are registered. */
#define REEL_CLI_COMMAND(var)                                                                      \
    __attribute__((constructor)) static void register_##var(void)                                  \
    {                                                                                              \
        reel_cli_register(&var);                                                                   \
    }

#endif
