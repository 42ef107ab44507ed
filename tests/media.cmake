# Plugins and media (pipeline/stage.c, pipeline/plugin_host.c, pipeline/media/, plugins/*).
# Test-only plugins (a wrong ABI major version, a missing entry symbol) live in
# <build>/test-plugins; the tests point REEL_PLUGIN_PATH there.
foreach(bad badabi noentry)
    add_library(reel_testplugin_${bad} MODULE plugins/${bad}.c)
    set_target_properties(reel_testplugin_${bad} PROPERTIES PREFIX "" OUTPUT_NAME reel-${bad}
        LIBRARY_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR}/test-plugins C_VISIBILITY_PRESET hidden)
    target_include_directories(reel_testplugin_${bad} PRIVATE ${CMAKE_SOURCE_DIR})
endforeach()
set(REEL_MEDIA_TEST_DEPS reel_testplugin_badabi reel_testplugin_noentry)
foreach(p card tone silence espeak image exec comfyui)
    if(TARGET reel_plugin_${p})
        list(APPEND REEL_MEDIA_TEST_DEPS reel_plugin_${p})
    endif()
endforeach()

reel_test(test_plugins_host LABELS unit TIMEOUT 120)
reel_test(test_plugins_gen LABELS unit TIMEOUT 300)
reel_test(test_plugins_comfyui LABELS unit TIMEOUT 120)
reel_test(test_pipeline_media LABELS unit e2e TIMEOUT 600)
foreach(t test_plugins_host test_plugins_gen test_plugins_comfyui test_pipeline_media)
    if(TARGET ${t})
        add_dependencies(${t} ${REEL_MEDIA_TEST_DEPS})
        target_compile_definitions(${t} PRIVATE
            REEL_TEST_PLUGIN_DIR="${CMAKE_BINARY_DIR}/test-plugins")
        set_property(TEST ${t} APPEND PROPERTY ENVIRONMENT
            "LSAN_OPTIONS=suppressions=${CMAKE_CURRENT_SOURCE_DIR}/lsan-media.supp")
    endif()
endforeach()
reel_fuzz(fuzz_exec_template SOURCES fuzz/fuzz_exec_template.c ../plugins/exec/template.c
          CORPUS ${CMAKE_CURRENT_SOURCE_DIR}/fuzz/corpus/exec_template)
reel_fuzz(fuzz_plugin_params SOURCES fuzz/fuzz_plugin_params.c
          CORPUS ${CMAKE_CURRENT_SOURCE_DIR}/fuzz/corpus/plugin_params)
