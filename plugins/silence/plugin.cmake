target_link_libraries(reel_plugin_silence PRIVATE PkgConfig::JANSSON ${MATH_LIB})
