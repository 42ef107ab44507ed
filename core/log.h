/* reel core: leveled logging to stderr.
 *
 * The level comes from REEL_LOG (debug|info|warn|error|quiet) on first use, default "warn";
 * reel_log_set_level() overrides it. Messages go to stderr as "reel: [level] message".
 * Thread-safe: each message is written with one call.
 */
#ifndef REEL_CORE_LOG_H
#define REEL_CORE_LOG_H

enum reel_log_level {
    REEL_LOG_DEBUG = 0,
    REEL_LOG_INFO = 1,
    REEL_LOG_WARN = 2,
    REEL_LOG_ERROR = 3,
    REEL_LOG_QUIET = 4,
};

/* Writes a message if level >= the current level. */
void reel_log(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Current level (reads REEL_LOG the first time). */
int reel_log_level(void);

/* Sets the level; returns the previous one. */
int reel_log_set_level(int level);

/* Parses "debug", "info", "warn", "error", "quiet" (case-insensitive); -1 if unknown. */
int reel_log_level_parse(const char *name);

/* Where messages go (default stderr); for tests. NULL restores stderr. */
void reel_log_set_stream(void *file);

#define REEL_LOGD(...) reel_log(REEL_LOG_DEBUG, __VA_ARGS__)
#define REEL_LOGI(...) reel_log(REEL_LOG_INFO, __VA_ARGS__)
#define REEL_LOGW(...) reel_log(REEL_LOG_WARN, __VA_ARGS__)
#define REEL_LOGE(...) reel_log(REEL_LOG_ERROR, __VA_ARGS__)

#endif
