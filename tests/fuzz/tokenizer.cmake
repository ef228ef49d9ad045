# The Qwen2 tokenizer core (plugins/tokenizer-qwen2): encode and decode of arbitrary input.
spark_add_fuzz_target(tokenizer
  SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/fuzz_tokenizer.c
  LIBRARIES qwen2_tokenizer_core PkgConfig::CJSON
  INCLUDES ${CMAKE_SOURCE_DIR}/plugins/tokenizer-qwen2/tests)
