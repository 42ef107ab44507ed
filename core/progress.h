/* reel core: a progress display for long work (downloads, conversion, rendering).
 *
 * On a terminal it redraws one line in place (bar, percent, rate, ETA) at most 10 times a
 * second; otherwise (a pipe, a log file, CI) it prints plain lines at most every 5 seconds and
 * at every 10% step, so logs stay readable. Total 0 means unknown: count and rate only.
 *
 *     reel_progress *p = reel_progress_init("download", bytes_total, "B");
 *     while (...) reel_progress_update(p, bytes_done);
 *     reel_progress_finish(p);
 */
#ifndef REEL_CORE_PROGRESS_H
#define REEL_CORE_PROGRESS_H

#include <stdint.h>
#include <stdio.h>

typedef struct reel_progress reel_progress;

/* Starts a display writing to stderr. unit "B" formats as KiB/MiB/GiB; any other unit is
 * printed after the count ("tok", "frames"). label and unit are copied. */
reel_progress *reel_progress_init(const char *label, uint64_t total, const char *unit);

/* Same, writing to `out`; tty forces the terminal (1) or plain-line (0) mode; -1 detects. */
reel_progress *reel_progress_init_ex(const char *label, uint64_t total, const char *unit, FILE *out,
                                     int tty);

/* Reports done units so far (absolute, not a delta). Cheap to call often. */
void reel_progress_update(reel_progress *p, uint64_t done);

/* Changes the total (e.g. once a server reports a size). */
void reel_progress_set_total(reel_progress *p, uint64_t total);

/* Prints the final line ("done in 1.2 s") and frees p. NULL is a no-op. */
void reel_progress_finish(reel_progress *p);

/* Ends the display without a "done" line (the work failed) and frees p. NULL is a no-op. */
void reel_progress_cancel(reel_progress *p);

/* Formats a byte count ("1.5 MiB") into out (at least 16 bytes); returns out. */
char *reel_format_bytes(double bytes, char *out, size_t size);

/* Monotonic clock in seconds. */
double reel_now(void);

#endif
