# spark_add_plugin(<target> SOURCES <files...> [LIBRARIES <libs...>] [OUTPUT_NAME <name>]
#                  [OUTPUT_DIRECTORY <dir>] [NO_INSTALL])
#
# Builds a sparkhost plugin: a MODULE library with hidden visibility that exports only the
# entry symbol `spark_plugin_entry`, installed under ${SPARK_PLUGIN_INSTALL_DIR}.
include_guard(GLOBAL)

# Cached so that the function sees them from any directory scope.
set(SPARK_PLUGIN_MAP_FILE "${CMAKE_CURRENT_LIST_DIR}/spark_plugin.map" CACHE INTERNAL "")
set(SPARK_PLUGIN_INSTALL_DIR "lib/sparkhost/plugins" CACHE STRING
    "Where spark_add_plugin() installs plugins, relative to the install prefix")

function(spark_add_plugin target)
  cmake_parse_arguments(ARG "NO_INSTALL" "OUTPUT_NAME;OUTPUT_DIRECTORY" "SOURCES;LIBRARIES" ${ARGN})
  if(NOT ARG_SOURCES)
    message(FATAL_ERROR "spark_add_plugin(${target}): SOURCES is required")
  endif()
  add_library(${target} MODULE ${ARG_SOURCES})
  target_link_libraries(${target} PRIVATE SparkSDK::headers ${ARG_LIBRARIES})
  if(NOT ARG_OUTPUT_NAME)
    set(ARG_OUTPUT_NAME ${target})
  endif()
  set_target_properties(${target} PROPERTIES
    PREFIX ""
    OUTPUT_NAME ${ARG_OUTPUT_NAME}
    C_VISIBILITY_PRESET hidden
    CXX_VISIBILITY_PRESET hidden
    VISIBILITY_INLINES_HIDDEN ON)
  if(ARG_OUTPUT_DIRECTORY)
    set_target_properties(${target} PROPERTIES LIBRARY_OUTPUT_DIRECTORY ${ARG_OUTPUT_DIRECTORY})
  elseif(DEFINED SPARK_PLUGIN_OUTPUT_DIRECTORY)
    set_target_properties(${target} PROPERTIES LIBRARY_OUTPUT_DIRECTORY ${SPARK_PLUGIN_OUTPUT_DIRECTORY})
  endif()
  if(CMAKE_SYSTEM_NAME STREQUAL "Linux")
    target_link_options(${target} PRIVATE "LINKER:--version-script=${SPARK_PLUGIN_MAP_FILE}")
    # Sanitizer runtimes come with the executable (clang links them only there), so a
    # sanitized plugin has undefined symbols by design.
    if(NOT SPARK_SANITIZE AND NOT SPARK_FUZZ)
      target_link_options(${target} PRIVATE "LINKER:--no-undefined")
    endif()
  endif()
  if(NOT ARG_NO_INSTALL)
    install(TARGETS ${target} LIBRARY DESTINATION ${SPARK_PLUGIN_INSTALL_DIR})
  endif()
endfunction()
