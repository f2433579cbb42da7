# Sources of ops/random/, added to ofl_ops.
target_sources(ofl_ops PRIVATE
  ${CMAKE_CURRENT_LIST_DIR}/random_ops.cc
  ${CMAKE_CURRENT_LIST_DIR}/initializer_ops.cc
  ${CMAKE_CURRENT_LIST_DIR}/dropout_op.cc
)
