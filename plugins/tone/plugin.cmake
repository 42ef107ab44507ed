target_link_libraries(reel_plugin_tone PRIVATE PkgConfig::JANSSON ${MATH_LIB})
