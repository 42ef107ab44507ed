/* reel llm: scene plans — the built-in JSON schema a film plan must satisfy, and the prompt that
 * asks a model for one. `reel plan`, and `reel.schemas.scene_plan` in Lua, use these.
 *
 * A plan: {title, logline, style, characters: [{id, description}], shots: [{id, duration_s,
 * camera, setting, action, characters: [ids], narration, prompt, transition}]} (duration_s left
 * out when the narration is to time the shots). `prompt` is a
 * detailed prompt for a video generator; `narration` is spoken over the shot.
 */
#ifndef REEL_LLM_PLAN_H
#define REEL_LLM_PLAN_H

#include <jansson.h>

/* Camera moves and transitions a plan may use (NULL-terminated lists, static). */
extern const char *const reel_llm_plan_cameras[];
extern const char *const reel_llm_plan_transitions[];

/* The scene-plan schema: shots == 0 allows 1..12 shots, otherwise exactly that many; each
 * shot lasts 1..max_shot_s seconds (max_shot_s == 0: 15; REEL_LLM_PLAN_NARRATED: shots carry no
 * duration_s, their narration sets their length when the film is put together). Short fields
 * (title, ids) carry maxLength; long free text (logline, setting, action, narration, prompt,
 * descriptions) is limited to max_text characters, or only by the token budget when max_text <= 0 —
 * which keeps grammar masks cheap on large vocabularies (each bounded position is a new parser
 * state). New reference (json_decref). */
json_t *reel_llm_plan_schema(int shots, double max_shot_s, int max_text);
#define REEL_LLM_PLAN_NARRATED (-1.0)

/* System and user messages asking for a plan of `idea` (malloc'ed strings; free()). With
 * show_schema the schema's JSON is included in the system message (small models need to see
 * it). seconds <= 0 and style NULL leave those choices to the model. */
void reel_llm_plan_messages(const char *idea, int shots, double seconds, const char *style,
                            const json_t *schema, int show_schema, char **system, char **user);

#endif
