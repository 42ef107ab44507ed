target_link_libraries(reel_plugin_image PRIVATE PkgConfig::LIBAV PkgConfig::JANSSON ${MATH_LIB})
