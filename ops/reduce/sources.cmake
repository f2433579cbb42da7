# Sources of ops/reduce/, added to ofl_ops.
target_sources(ofl_ops PRIVATE
  ${CMAKE_CURRENT_LIST_DIR}/reduce_kernels.cc
  ${CMAKE_CURRENT_LIST_DIR}/reduce_loop.cc
  ${CMAKE_CURRENT_LIST_DIR}/reduce_ops.cc
)
