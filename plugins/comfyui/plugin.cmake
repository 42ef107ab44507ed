target_link_libraries(reel_plugin_comfyui PRIVATE PkgConfig::CURL PkgConfig::JANSSON ${MATH_LIB})
