# pipeline/: Lua runtime, graph, cache, scheduler, the reel run command, media and the plugin
# host. The stage runner used by the graph, cache and scheduler tests is
# tests/pipeline_stage_test.c, compiled into those test executables only (never into libreel), so
# they run real stages without the media side.
set(REEL_PST_SOURCES pipeline_stage_test.c)
reel_test(test_pipeline_lua LABELS unit SOURCES ${REEL_PST_SOURCES} TIMEOUT 120)
reel_test(test_pipeline_cache LABELS unit SOURCES ${REEL_PST_SOURCES} TIMEOUT 120)
reel_test(test_pipeline_sched LABELS unit SOURCES ${REEL_PST_SOURCES} TIMEOUT 120)
reel_test(test_pipeline_llm LABELS unit SOURCES ${REEL_PST_SOURCES} TIMEOUT 120)
reel_test(test_pipeline_path LABELS unit)
reel_test(test_pipeline_cli LABELS unit e2e TIMEOUT 120)
reel_fuzz(fuzz_pipeline_lua_json SOURCES fuzz/fuzz_pipeline_lua_json.c
          CORPUS ${CMAKE_CURRENT_SOURCE_DIR}/fuzz/corpus/lua_json)

# media and the plugin host, with the built-in plugins
reel_test(test_pipeline_media LABELS unit e2e TIMEOUT 600)
reel_uses_plugins(test_pipeline_media)
# finishing through libavfilter: transitions, fades, loudness, ducking (decode and measure)
reel_test(test_pipeline_media_finish LABELS unit e2e TIMEOUT 600)
reel_uses_plugins(test_pipeline_media_finish)
# narration holds its shot, word-timed captions, stream copy (decode and measure)
reel_test(test_pipeline_media_captions LABELS unit e2e TIMEOUT 600)
reel_uses_plugins(test_pipeline_media_captions)
# the script's own media: music beds and clips, keyed by content; provenance tags
reel_test(test_pipeline_media_inputs LABELS unit e2e TIMEOUT 600)
reel_uses_plugins(test_pipeline_media_inputs)
reel_fuzz(fuzz_pipeline_words SOURCES fuzz/fuzz_pipeline_words.c
          CORPUS ${CMAKE_CURRENT_SOURCE_DIR}/fuzz/corpus/words)
# what media reel agrees to decode: format/protocol whitelists and bounds (unit and reel run)
reel_test(test_pipeline_media_guard LABELS unit e2e TIMEOUT 300)
reel_uses_plugins(test_pipeline_media_guard)
reel_fuzz(fuzz_pipeline_media_open SOURCES fuzz/fuzz_pipeline_media_open.c
          CORPUS ${CMAKE_CURRENT_SOURCE_DIR}/fuzz/corpus/media_open)
reel_test(test_pipeline_film LABELS e2e TIMEOUT 600)
reel_fuzz(fuzz_pipeline_lua_script SOURCES fuzz/fuzz_pipeline_lua_script.c
          CORPUS ${CMAKE_CURRENT_SOURCE_DIR}/fuzz/corpus/lua_script)
