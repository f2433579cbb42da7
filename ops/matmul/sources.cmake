# Sources of ops/matmul/, added to ofl_ops.
target_sources(ofl_ops PRIVATE
  ${CMAKE_CURRENT_LIST_DIR}/dnnl_context.cc
  ${CMAKE_CURRENT_LIST_DIR}/matmul_kernel.cc
  ${CMAKE_CURRENT_LIST_DIR}/matmul_ops.cc
  ${CMAKE_CURRENT_LIST_DIR}/bias_add_op.cc
)
