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
reel_test(test_pipeline_media_concat_copy LABELS unit TIMEOUT 300)
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
# frame sizes (presets, one parser), the image plugin's fit, a 9:16 film with no black bars
reel_test(test_pipeline_frame LABELS unit e2e TIMEOUT 600)
reel_uses_plugins(test_pipeline_frame)
reel_fuzz(fuzz_pipeline_size SOURCES fuzz/fuzz_pipeline_size.c
          CORPUS ${CMAKE_CURRENT_SOURCE_DIR}/fuzz/corpus/size)
reel_test(test_pipeline_film LABELS e2e TIMEOUT 600)
reel_fuzz(fuzz_pipeline_lua_script SOURCES fuzz/fuzz_pipeline_lua_script.c
          CORPUS ${CMAKE_CURRENT_SOURCE_DIR}/fuzz/corpus/lua_script)
# the slurm executor: its parsers and command runner (no Slurm needed), and a real one-node
# Slurm cluster started by the test script (skipped, with the reason, if it cannot start)
reel_test(test_pipeline_slurm_parse LABELS unit)
reel_test(test_pipeline_slurm_res LABELS unit)
reel_fuzz(fuzz_pipeline_slurm SOURCES fuzz/fuzz_pipeline_slurm.c
          CORPUS ${CMAKE_CURRENT_SOURCE_DIR}/fuzz/corpus/slurm_squeue)
if(NOT REEL_FUZZ)
    # compares renders by their packets (containers may differ in what the muxer makes up)
    add_executable(media_streamhash media_streamhash.c)
    target_link_libraries(media_streamhash PRIVATE libreel)
    reel_host_runnable(media_streamhash REEL_TEST_STREAMHASH)
    add_test(NAME test_pipeline_slurm COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/test_pipeline_slurm.sh)
    set_tests_properties(test_pipeline_slurm PROPERTIES LABELS e2e TIMEOUT 300 SKIP_RETURN_CODE 77
        ENVIRONMENT "REEL_SKIP_LOG=${REEL_SKIP_LOG};REEL_SOURCE_DIR=${CMAKE_SOURCE_DIR};REEL_BIN=${REEL_TEST_BIN};REEL_STREAMHASH=${REEL_TEST_STREAMHASH};LSAN_OPTIONS=suppressions=${CMAKE_CURRENT_SOURCE_DIR}/lsan-media.supp")
endif()
