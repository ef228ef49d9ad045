# The CUDA backend of core/nn, included from CMakeLists.txt when SPARK_CUDA is on.
# sparknn_cuda: src/cuda/*.cu on top of sparknn (the CPU model loaders it uploads from),
# linked with the CUDA runtime, cuBLAS, cuBLASLt and cuFFT. Consumers get SPARK_HAVE_CUDA.
enable_language(CUDA)
find_package(CUDAToolkit REQUIRED)
set(SPARK_CUDA_ARCHITECTURES "80;90" CACHE STRING
  "GPU architectures of sparknn_cuda (80: A100, 90: H100/H200)")
file(GLOB _nn_cuda_sources CONFIGURE_DEPENDS ${CMAKE_CURRENT_SOURCE_DIR}/src/cuda/*.cu)
add_library(sparknn_cuda STATIC ${_nn_cuda_sources})
set_target_properties(sparknn_cuda PROPERTIES
  CUDA_STANDARD 17 CUDA_STANDARD_REQUIRED ON
  CUDA_ARCHITECTURES "${SPARK_CUDA_ARCHITECTURES}"
  POSITION_INDEPENDENT_CODE ON
  # the directory's -Wall/-Wextra/-Werror and sanitizer flags are gcc options that nvcc does
  # not take; the CUDA equivalents follow
  COMPILE_OPTIONS "")
target_compile_options(sparknn_cuda PRIVATE
  $<$<COMPILE_LANGUAGE:CUDA>:--Werror=all-warnings -Xcompiler=-Wall,-Wextra,-Werror>)
target_include_directories(sparknn_cuda PUBLIC include PRIVATE src)
target_link_libraries(sparknn_cuda
  PUBLIC sparknn CUDA::cudart CUDA::cublas CUDA::cublasLt CUDA::cufft stdc++)
target_compile_definitions(sparknn_cuda PUBLIC SPARK_HAVE_CUDA=1)
