target_include_directories(reel_plugin_espeak PRIVATE ${ESPEAK_NG_INCLUDE})
target_link_libraries(reel_plugin_espeak PRIVATE ${ESPEAK_NG_LIB} PkgConfig::JANSSON Threads::Threads)
