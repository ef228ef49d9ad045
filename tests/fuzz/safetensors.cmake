# The safetensors reader (core/nn), and through a round trip the writer.
spark_add_fuzz_target(safetensors
  SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/fuzz_safetensors.c
  LIBRARIES sparknn
  INCLUDES ${CMAKE_SOURCE_DIR}/core/nn/src)
