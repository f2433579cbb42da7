# Sources of ops/norm/, added to ofl_ops.
target_sources(ofl_ops PRIVATE
  ${CMAKE_CURRENT_LIST_DIR}/norm_ops.cc
  ${CMAKE_CURRENT_LIST_DIR}/layer_norm.cc
  ${CMAKE_CURRENT_LIST_DIR}/rms_norm.cc
)
