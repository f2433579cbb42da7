# Sources of ops/attention/ (composites, no ops of their own), added to ofl_ops.
target_sources(ofl_ops PRIVATE
  ${CMAKE_CURRENT_LIST_DIR}/attention.cc
  ${CMAKE_CURRENT_LIST_DIR}/fused_attention_op.cc
)
