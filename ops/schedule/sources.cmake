# Sources of ops/schedule/, added to ofl_ops.
target_sources(ofl_ops PRIVATE
  ${CMAKE_CURRENT_LIST_DIR}/schedule_ops.cc
)
