# Sources of ops/optimizer/, added to ofl_ops.
target_sources(ofl_ops PRIVATE
  ${CMAKE_CURRENT_LIST_DIR}/optimizer_ops.cc
  ${CMAKE_CURRENT_LIST_DIR}/update_ops.cc
  ${CMAKE_CURRENT_LIST_DIR}/clip_scale_op.cc
  ${CMAKE_CURRENT_LIST_DIR}/clip.cc
  ${CMAKE_CURRENT_LIST_DIR}/multi_tensor_adam_op.cc
)
