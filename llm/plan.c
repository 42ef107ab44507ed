/* The built-in scene-plan schema and prompt (see llm/plan.h). */
#include "llm/plan.h"
#include "core/core.h"

#include <stdlib.h>
#include <string.h>

const char *const reel_llm_plan_cameras[] = {"wide",   "medium", "close-up", "extreme close-up",
                                             "pan",    "tilt",   "dolly",    "tracking",
                                             "aerial", "static", "handheld", NULL};
const char *const reel_llm_plan_transitions[] = {"cut", "fade", "crossfade", NULL};

static json_t *enum_of(const char *const *values)
{
    json_t *a = json_array();
    for (int i = 0; values[i]; i++) json_array_append_new(a, json_string(values[i]));
    return json_pack("{s:o}", "enum", a);
}

static json_t *str(int max_len)
{
    return max_len > 0 ? json_pack("{s:s, s:i, s:i}", "type", "string", "minLength", 1, "maxLength",
                                   max_len)
                       : json_pack("{s:s, s:i}", "type", "string", "minLength", 1);
}

json_t *reel_llm_plan_schema(int shots, double max_shot_s, int max_text)
{
    const int narrated = max_shot_s < 0;
    if (max_shot_s <= 0) max_shot_s = 15;
    if (max_shot_s < 1) max_shot_s = 1;
    json_t *shot = json_pack(
        "{s:s, s:{s:o, s:{s:s, s:i, s:I}, s:o, s:o, s:o, s:{s:s, s:o, s:i}, s:o, s:o, s:o},"
        " s:[s,s,s,s,s,s,s,s,s]}",
        "type", "object", "properties", "id",
        json_pack("{s:s, s:i, s:i}", "type", "integer", "minimum", 1, "maximum", 99), "duration_s",
        "type", "number", "minimum", 1, "maximum", (json_int_t)max_shot_s, "camera",
        enum_of(reel_llm_plan_cameras), "setting", str(max_text), "action", str(max_text),
        "characters", "type", "array", "items", str(24), "maxItems", 6, "narration", str(max_text),
        "prompt", str(max_text), "transition", enum_of(reel_llm_plan_transitions), "required", "id",
        "duration_s", "camera", "setting", "action", "characters", "narration", "prompt",
        "transition");
    if (narrated) { /* the narration sets each shot's length: the model is not asked for one */
        json_object_del(json_object_get(shot, "properties"), "duration_s");
        json_array_remove(json_object_get(shot, "required"), 1);
    }
    json_t *character =
        json_pack("{s:s, s:{s:o, s:o}, s:[s,s]}", "type", "object", "properties", "id", str(24),
                  "description", str(max_text), "required", "id", "description");
    json_t *shots_schema =
        json_pack("{s:s, s:o, s:i, s:i}", "type", "array", "items", shot, "minItems",
                  shots > 0 ? shots : 1, "maxItems", shots > 0 ? shots : 12);
    return json_pack("{s:s, s:{s:o, s:o, s:o, s:{s:s, s:o, s:i, s:i}, s:o}, s:[s,s,s,s,s]}", "type",
                     "object", "properties", "title", str(80), "logline", str(max_text), "style",
                     str(max_text), "characters", "type", "array", "items", character, "minItems",
                     0, "maxItems", 8, "shots", shots_schema, "required", "title", "logline",
                     "style", "characters", "shots");
}

void reel_llm_plan_messages(const char *idea, int shots, double seconds, const char *style,
                            const json_t *schema, int show_schema, char **system, char **user)
{
    char *schema_text = show_schema ? json_dumps(schema, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
    *system = reel_xasprintf(
        "You are a film director's assistant. Turn the user's idea into a shot-by-shot scene "
        "plan for a short film. Every shot gets a concrete setting, a visible action, the ids of "
        "the characters in it, one or two sentences of narration, and a detailed prompt for a "
        "video generator (subject, setting, lighting, lens, mood). Answer with one JSON object "
        "and nothing else.%s%s",
        schema_text ? " It must match this JSON schema: " : "", schema_text ? schema_text : "");
    char shots_text[64] = "", secs_text[64] = "";
    if (shots > 0) snprintf(shots_text, sizeof shots_text, "\nShots: exactly %d.", shots);
    if (seconds > 0)
        snprintf(secs_text, sizeof secs_text, "\nTotal length: about %g seconds.", seconds);
    *user = reel_xasprintf("Idea: %s%s%s%s%s", idea, shots_text, secs_text,
                           style ? "\nStyle: " : "", style ? style : "");
    free(schema_text);
}
