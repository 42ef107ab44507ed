/* reel pipeline: private header of the run's event stream and progress display (events.c). */
#ifndef REEL_PIPELINE_EVENTS_IMPL_H
#define REEL_PIPELINE_EVENTS_IMPL_H

#include <jansson.h>

#include "pipeline/graph-impl.h"

typedef struct reeli_events reeli_events;

/* path: file, "-" (stdout) or NULL; progress: 1/0/-1 (auto: stderr is a tty). NULL + error if
 * the file cannot be opened. */
reeli_events *reeli_events_init(const char *path, int progress);
void reeli_events_free(reeli_events *ev);
/* Writes one event line {"event": name, "t": seconds since init, ...fields}; steals fields.
 * Thread-safe. */
void reeli_events_emit(reeli_events *ev, const char *name, json_t *fields);
/* Display hooks (thread-safe): a scheduling pass with `total` nodes begins / a node changes. */
void reeli_events_pass_begin(reeli_events *ev, int total);
void reeli_events_node_state(reeli_events *ev, const reeli_node *n, int state, double fraction);
void reeli_events_pass_end(reeli_events *ev);
/* Batch executors: how many of the run's jobs wait in the queue (shown with the running ones). */
void reeli_events_queued(reeli_events *ev, int queued);
/* Script log line (reel.log): to stderr and as a "log" event. */
void reeli_events_log(reeli_events *ev, const char *where, const char *msg);

enum { REELI_NODE_RUNNING = 1, REELI_NODE_DONE = 2, REELI_NODE_CACHED = 3, REELI_NODE_FAILED = 4 };

#endif
