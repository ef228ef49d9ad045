# Test helpers shared by tests/ and the plugins' own tests/ folders.
# Labels: abi unit graph plugins golden integration fuzz gpu. CI runs all but gpu.
include_guard(GLOBAL)

add_library(spark_test_support INTERFACE)
target_include_directories(spark_test_support INTERFACE ${CMAKE_SOURCE_DIR}/tests/support)

# The stand-in engine that plugin tests dlopen a plugin against (tests/support/fake_host.h).
add_library(spark_test_fake_host STATIC ${CMAKE_SOURCE_DIR}/tests/support/fake_host.c)
target_link_libraries(spark_test_fake_host
  PUBLIC spark_test_support SparkSDK::headers Threads::Threads ${CMAKE_DL_LIBS}
  PRIVATE m)

set(SPARK_TEST_ENVIRONMENT
  "SPARK_SOURCE_DIR=${CMAKE_SOURCE_DIR}"
  "SPARK_BUILD_DIR=${CMAKE_BINARY_DIR}"
  "SPARK_PLUGIN_PATH=${SPARK_PLUGIN_OUTPUT_DIRECTORY}"
  "SPARK_TEST_PLUGIN_DIR=${CMAKE_BINARY_DIR}/test-plugins"
  "SPARK_PYTHON=${CMAKE_SOURCE_DIR}/.venv/bin/python")

# spark_add_test(<name> LABELS <labels...> SOURCES <files...> [LIBRARIES <libs...>] [ARGS ...])
function(spark_add_test name)
  cmake_parse_arguments(ARG "" "" "LABELS;SOURCES;LIBRARIES;ARGS" ${ARGN})
  add_executable(${name} ${ARG_SOURCES})
  target_link_libraries(${name} PRIVATE spark_test_support ${ARG_LIBRARIES} m)
  set_target_properties(${name} PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR}/tests)
  add_test(NAME ${name} COMMAND ${name} ${ARG_ARGS})
  set_tests_properties(${name} PROPERTIES LABELS "${ARG_LABELS}" TIMEOUT 300
    ENVIRONMENT "${SPARK_TEST_ENVIRONMENT}")
endfunction()

# spark_add_script_test(<name> LABELS <labels...> COMMAND <cmd...>): a shell-level test.
function(spark_add_script_test name)
  cmake_parse_arguments(ARG "" "" "LABELS;COMMAND" ${ARGN})
  add_test(NAME ${name} COMMAND ${ARG_COMMAND})
  set_tests_properties(${name} PROPERTIES LABELS "${ARG_LABELS}" TIMEOUT 600
    ENVIRONMENT "${SPARK_TEST_ENVIRONMENT};SPARKHOST=$<TARGET_FILE:sparkhost>")
endfunction()
