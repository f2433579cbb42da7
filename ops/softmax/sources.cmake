# Sources of ops/softmax/, added to ofl_ops.
target_sources(ofl_ops PRIVATE
  ${CMAKE_CURRENT_LIST_DIR}/softmax_ops.cc
  ${CMAKE_CURRENT_LIST_DIR}/causal_softmax.cc
)
