# Fuzz targets of the engine: pipeline files and job requests.
spark_add_fuzz_target(pipeline_yaml
  SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/fuzz_pipeline_yaml.c
  LIBRARIES sparkcore)
spark_add_fuzz_target(job_request
  SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/fuzz_job_request.c
  LIBRARIES sparkcore
  INCLUDES ${CMAKE_SOURCE_DIR}/core/src)
