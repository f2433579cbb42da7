# Sources of ops/softmax/, added to ofl_ops.
set(OFL_SOFTMAX_SOURCES
  ${CMAKE_CURRENT_LIST_DIR}/softmax_ops.cc
  ${CMAKE_CURRENT_LIST_DIR}/softmax_loops.cc
  ${CMAKE_CURRENT_LIST_DIR}/dnnl_softmax.cc
  ${CMAKE_CURRENT_LIST_DIR}/causal_softmax.cc
)
target_sources(ofl_ops PRIVATE ${OFL_SOFTMAX_SOURCES})
