/* What a render reads: a render of a concat joins the clips itself, and a clip given its
 * narration by with_audio gets it there too, so that no concat or with_audio file (every
 * picture copied or written again) is made only to be read once by this render. A concat that
 * sets its own size, rate or fit stays a node: those apply before the render's. */
#include <string.h>

#include "core/alloc.h"
#include "pipeline/graph-impl.h"

int *reeli_render_inputs(const reeli_graph *g, const reeli_node *in, json_t *params, size_t *n)
{
    int *inputs = reel_xcalloc(in->n_inputs ? 2 * in->n_inputs : 1, sizeof *inputs);
    if (strcmp(in->kind, "concat") || json_object_get(in->params, "size") ||
        json_object_get(in->params, "fps") || json_object_get(in->params, "fit")) {
        inputs[0] = in->id;
        *n = 1;
        return inputs;
    }
    json_t *join = in->params ? json_deep_copy(in->params) : json_object(), *parts = json_array();
    size_t k = 0;
    int narrated = 0;
    for (size_t i = 0; i < in->n_inputs; i++) {
        const reeli_node *c = reeli_graph_node(g, in->inputs[i]);
        json_t *part = json_object();
        if (!strcmp(c->kind, "with_audio") && c->n_inputs == 2) {
            json_object_set_new(part, "with_audio",
                                c->params ? json_deep_copy(c->params) : json_object());
            inputs[k++] = c->inputs[0];
            inputs[k++] = c->inputs[1];
            narrated = 1;
        } else {
            inputs[k++] = c->id;
        }
        json_array_append_new(parts, part);
    }
    if (narrated)
        json_object_set_new(join, "parts", parts);
    else
        json_decref(parts);
    json_object_set_new(params, "join", join);
    *n = k;
    return inputs;
}
