/* Helpers shared by the plugin and media tests: run a stage from JSON text, probe outputs. */
#ifndef REEL_MEDIA_TESTUTIL_H
#define REEL_MEDIA_TESTUTIL_H

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/error.h"
#include "core/file.h"
#include "pipeline/media/media.h"
#include "pipeline/plugin-impl.h"
#include "pipeline/stage.h"
#include "testutil.h"

/* Runs a stage; params is JSON text. Returns the stage's code; prints the error if any. */
static inline int mt_stage(const char *kind, const char *params, const char *const *inputs,
                           size_t n, const char *out, json_t **result)
{
    json_error_t e;
    json_t *p = json_loads(params, 0, &e);
    if (!p) {
        fprintf(stderr, "bad test JSON: %s: %s\n", params, e.text);
        abort();
    }
    reel_stage_io io = {.kind = kind,
                        .params = p,
                        .inputs = inputs,
                        .n_inputs = n,
                        .out_path = out,
                        .result = result};
    int rc = reel_stage_run(&io);
    if (rc < 0) fprintf(stderr, "stage %s: %s\n", kind, reel_last_error());
    json_decref(p);
    return rc;
}

/* Path dir/name in a new string (free()). */
static inline char *mt_path(const char *dir, const char *name)
{
    return reel_xasprintf("%s/%s", dir, name);
}

/* Probes with full decoding; fails the test if that fails. */
static inline reeli_probe mt_probe(const char *path)
{
    reeli_probe p;
    int rc = reeli_media_probe(path, 1, &p);
    if (rc < 0) fprintf(stderr, "probe: %s\n", reel_last_error());
    assert_int_equal(rc, 0);
    return p;
}

#endif
