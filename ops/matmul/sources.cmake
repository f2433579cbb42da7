# Sources of ops/matmul/, added to ofl_ops.
target_sources(ofl_ops PRIVATE
  ${CMAKE_CURRENT_LIST_DIR}/matmul_ops.cc
)
