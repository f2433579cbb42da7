# Sources of ops/norm/, added to ofl_ops.
set(OFL_NORM_SOURCES
  ${CMAKE_CURRENT_LIST_DIR}/norm_ops.cc
  ${CMAKE_CURRENT_LIST_DIR}/layer_norm.cc
  ${CMAKE_CURRENT_LIST_DIR}/layer_norm_loops.cc
  ${CMAKE_CURRENT_LIST_DIR}/dnnl_layer_norm.cc
  ${CMAKE_CURRENT_LIST_DIR}/rms_norm.cc
)
target_sources(ofl_ops PRIVATE ${OFL_NORM_SOURCES})
