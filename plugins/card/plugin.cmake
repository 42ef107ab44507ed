target_link_libraries(reel_plugin_card PRIVATE PkgConfig::FREETYPE PkgConfig::JANSSON Threads::Threads ${MATH_LIB})
