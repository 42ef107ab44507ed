/* The test-only stage runner (tests/pipeline_stage_test.c); see there for its parameters. */
#ifndef REEL_TESTS_PIPELINE_STAGE_TEST_H
#define REEL_TESTS_PIPELINE_STAGE_TEST_H
#include "pipeline/pipeline.h"

extern const reel_stage_runner pst_runner;
/* Observations since pst_reset(): most stages at once, most "serial" stages at once, calls. */
/* pst_cancelled: runs that stopped in the middle of their sleep because the run was cancelled */
extern int pst_max_running, pst_max_serial, pst_calls, pst_cancelled;
void pst_reset(void);

#include <stddef.h>
/* Runs a script with the test runner (no progress display, 10 ms retry backoff). */
int pst_run_ex(const char *script, const char *out_dir, const char *events, int jobs,
               const char *const *args, size_t n_args);
/* Writes dir/name (returns the path, owned). */
char *pst_write(const char *dir, const char *name, const char *text);
/* Number of events of that type in a JSON-lines file whose line contains needle (if any). */
int pst_count(const char *events_path, const char *event, const char *needle);
#endif
