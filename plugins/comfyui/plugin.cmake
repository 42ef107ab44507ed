target_link_libraries(reel_plugin_comfyui PRIVATE PkgConfig::JANSSON ${MATH_LIB})
