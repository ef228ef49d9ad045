# Fuzz targets of the torch checkpoint reader: the zip container with the whole reader
# behind it, and the restricted unpickler on its own. The parser sources are compiled into
# the targets (not only linked from sparknn) so libFuzzer's coverage instrumentation sees
# them.
find_package(ZLIB REQUIRED)
set(_nn_src ${CMAKE_SOURCE_DIR}/core/nn/src)
spark_add_fuzz_target(torch_zip
  SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/fuzz_torch_zip.c
          ${_nn_src}/zip_read.c ${_nn_src}/unpickle.c ${_nn_src}/torch_read.c
  LIBRARIES sparknn ZLIB::ZLIB
  INCLUDES ${_nn_src})
spark_add_fuzz_target(unpickle
  SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/fuzz_unpickle.c ${_nn_src}/unpickle.c
  LIBRARIES sparknn
  INCLUDES ${_nn_src})
