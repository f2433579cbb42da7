# Sources of ops/conv/, added to ofl_ops.
target_sources(ofl_ops PRIVATE
  ${CMAKE_CURRENT_LIST_DIR}/conv_params.cc
  ${CMAKE_CURRENT_LIST_DIR}/conv_ops.cc
  ${CMAKE_CURRENT_LIST_DIR}/conv_geometry.cc
  ${CMAKE_CURRENT_LIST_DIR}/conv_kernels.cc
  ${CMAKE_CURRENT_LIST_DIR}/conv_dnnl_kernel.cc
  ${CMAKE_CURRENT_LIST_DIR}/dnnl_operand.cc
  ${CMAKE_CURRENT_LIST_DIR}/pool_ops.cc
  ${CMAKE_CURRENT_LIST_DIR}/pool_kernels.cc
)
