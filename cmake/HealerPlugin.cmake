# healer_add_plugin(NAME src...) — builds a plugin the way the ABI expects: a MODULE named
# NAME.so (no "lib" prefix) in build/plugins, hidden visibility so only the entry point is
# exported, undefined symbols refused at link time (a missing library fails here, not at load).
function(healer_add_plugin name)
  add_library(${name} MODULE ${ARGN})
  set_target_properties(${name} PROPERTIES
    PREFIX ""
    C_VISIBILITY_PRESET hidden
    LIBRARY_OUTPUT_DIRECTORY ${HEALER_PLUGIN_OUTPUT_DIR})
  target_include_directories(${name} PRIVATE ${PROJECT_SOURCE_DIR}/sdk/include)
  if(NOT HEALER_SANITIZE)
    target_link_options(${name} PRIVATE -Wl,--no-undefined)
  endif()
  install(TARGETS ${name} LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR}/healerd/plugins)
endfunction()
