# Sources of ops/embedding/, added to ofl_ops.
target_sources(ofl_ops PRIVATE
  ${CMAKE_CURRENT_LIST_DIR}/embedding_ops.cc
)
