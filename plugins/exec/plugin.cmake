target_link_libraries(reel_plugin_exec PRIVATE PkgConfig::JANSSON ${MATH_LIB})
