/* reel core: process hygiene. Child process groups are tracked so that everything reel
 * started is killed when it stops (cancel, timeout, exit, SIGTERM/SIGINT); temporary folders
 * carry the owning process id so that those left by a killed reel are swept by the next one.
 */
#ifndef REEL_CORE_PROC_H
#define REEL_CORE_PROC_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Seconds between SIGTERM and SIGKILL when a process group is stopped. */
#define REEL_PROC_GRACE_S 1.0

/* Records a running child process group (its leader's pid) / forgets it once reaped. At most
 * 1024 groups are tracked at once. Thread-safe and async-signal-safe; the signatures are the
 * plugin ABI's reel_plugin_host.child_started / child_ended. */
void reel_proc_track(int32_t pgid);
void reel_proc_untrack(int32_t pgid);

/* Sends SIGTERM to every tracked group, waits up to REEL_PROC_GRACE_S for them to go, then
 * sends SIGKILL to what is left. Async-signal-safe (for signal handlers and atexit). */
void reel_proc_kill_all(void);

/* Creates $TMPDIR/<prefix>-<pid>-XXXXXX (or under /tmp) and returns its path (free()); NULL
 * with the error set on failure. The first call in a process also sweeps the folders of the
 * same prefix whose owner process is gone. */
char *reel_proc_tmpdir(const char *prefix);

/* Removes $TMPDIR/<prefix>-<pid>-* folders whose process no longer exists; returns how many. */
int reel_proc_sweep_tmpdirs(const char *prefix);

/* Removes a folder and everything under it (symlinks are removed, never followed). */
void reel_proc_rmtree(const char *path);

#ifdef __cplusplus
}
#endif

#endif
