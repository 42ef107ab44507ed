# Pango (HarfBuzz shaping, fontconfig fallback) and cairo for the text; GLOBAL so that the
# card's text test (tests/plugins.cmake) links the same.
pkg_check_modules(PANGOCAIRO REQUIRED IMPORTED_TARGET GLOBAL pangocairo)
target_link_libraries(reel_plugin_card PRIVATE PkgConfig::PANGOCAIRO PkgConfig::JANSSON Threads::Threads ${MATH_LIB})
