# Sources of ops/pipeline/, added to ofl_ops.
target_sources(ofl_ops PRIVATE
  ${CMAKE_CURRENT_LIST_DIR}/micro_batch_ops.cc
)
