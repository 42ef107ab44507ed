# plugins/: the plugin host's contract (ABI checks) and each built-in plugin
reel_test(test_plugins_host LABELS unit TIMEOUT 120)
reel_test(test_plugins_gen LABELS unit TIMEOUT 300)
reel_test(test_plugins_comfyui LABELS unit TIMEOUT 120)
reel_test(test_plugins_image LABELS unit TIMEOUT 120)
reel_uses_plugins(test_plugins_host test_plugins_gen test_plugins_comfyui test_plugins_image)
if(NOT REEL_X86_64 AND NOT REEL_FUZZ)
    # the sampler's SIMD version is x86 only: elsewhere its test is an entry of its own, Skipped
    set_property(TEST test_plugins_image APPEND PROPERTY ENVIRONMENT
                 "REEL_TEST_EXCLUDE=test_image_simd_exact")
    reel_test_env(test_plugins_image_x86 test_plugins_image "unit"
                  "REEL_TEST_FILTER=test_image_simd_exact")
endif()
reel_fuzz(fuzz_exec_template SOURCES fuzz/fuzz_exec_template.c ../plugins/exec/template.c
          CORPUS ${CMAKE_CURRENT_SOURCE_DIR}/fuzz/corpus/exec_template)
reel_fuzz(fuzz_plugin_params SOURCES fuzz/fuzz_plugin_params.c
          CORPUS ${CMAKE_CURRENT_SOURCE_DIR}/fuzz/corpus/plugin_params)
# the card's text block: word wrapping, shrinking to fit, other scripts (Pango, fontconfig)
if(TARGET PkgConfig::PANGOCAIRO)
    reel_test(test_plugins_cardtext LABELS unit TIMEOUT 120 SOURCES ../plugins/card/text.c
              LIBS PkgConfig::PANGOCAIRO)
    if(TARGET test_plugins_cardtext)
        set_property(TEST test_plugins_cardtext APPEND PROPERTY ENVIRONMENT
            "LSAN_OPTIONS=suppressions=${CMAKE_CURRENT_SOURCE_DIR}/lsan-media.supp")
    endif()
endif()
