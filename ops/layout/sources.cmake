# Sources of ops/layout/, added to ofl_ops.
target_sources(ofl_ops PRIVATE
  ${CMAKE_CURRENT_LIST_DIR}/add_n_op.cc
  ${CMAKE_CURRENT_LIST_DIR}/broadcast_to_op.cc
  ${CMAKE_CURRENT_LIST_DIR}/cast_op.cc
  ${CMAKE_CURRENT_LIST_DIR}/concat_split_ops.cc
  ${CMAKE_CURRENT_LIST_DIR}/layout_ops.cc
  ${CMAKE_CURRENT_LIST_DIR}/reshape_ops.cc
  ${CMAKE_CURRENT_LIST_DIR}/slice_ops.cc
  ${CMAKE_CURRENT_LIST_DIR}/transpose_ops.cc
)
