# core/: errors, pool, files, hashing, JSON, progress, HTTP
reel_test(test_core_error LABELS unit)
reel_test(test_core_pool LABELS unit)
reel_test(test_core_file LABELS unit)
reel_test(test_core_hash LABELS unit)
reel_test(test_core_json LABELS unit)
reel_test(test_core_progress LABELS unit)
reel_test(test_core_http LABELS unit TIMEOUT 120)
reel_fuzz(fuzz_core_json SOURCES fuzz/fuzz_core_json.c CORPUS ${CMAKE_CURRENT_SOURCE_DIR}/fuzz/corpus/json)
