/* Frame sizes as scripts and stages give them (pipeline/size.c): one parser for reel.render,
 * the concat and render stages and the generators' size= field. */
#ifndef REEL_PIPELINE_SIZE_IMPL_H
#define REEL_PIPELINE_SIZE_IMPL_H

#include <jansson.h>
#include <stddef.h>

/* The presets by aspect, one line for messages and documentation. */
#define REELI_SIZE_PRESETS                                                                         \
    "\"16:9\" (1920x1080), \"9:16\" (1080x1920), \"1:1\" (1080x1080), \"4:5\" (1080x1350)"

/* Parses "WxH" (both even, 16..8192) or an aspect preset (REELI_SIZE_PRESETS) into *w, *h.
 * Returns 0, or -1 with what is wrong and the accepted forms in err (n bytes). */
int reeli_size_parse(const char *s, int *w, int *h, char *err, size_t n);
/* A node's size= field in params, checked and normalised so that a preset and the size it
 * names make the same cache key: with as_dims (generators, clips) it is replaced by the width
 * and height fields they take (and may not come with them), else rewritten as "WxH". Returns
 * 0 (also when there is no size field), or -1 with why in err. */
int reeli_size_field(json_t *params, int as_dims, char *err, size_t n);

#endif
