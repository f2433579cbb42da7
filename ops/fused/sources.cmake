# Sources of ops/fused/, added to ofl_ops.
target_sources(ofl_ops PRIVATE
  ${CMAKE_CURRENT_LIST_DIR}/fused_ops.cc
  ${CMAKE_CURRENT_LIST_DIR}/bias_add_gelu_op.cc
  ${CMAKE_CURRENT_LIST_DIR}/adam_update_scaled_op.cc
  ${CMAKE_CURRENT_LIST_DIR}/add_layer_norm_op.cc
)
# adam_update_scaled rounds grad * grad_scale to the parameter dtype, as the
# unfused mul stores it; with contraction GCC would fold that product into
# the next add as an FMA (unrounded) for f64.
set_source_files_properties(${CMAKE_CURRENT_LIST_DIR}/adam_update_scaled_op.cc PROPERTIES COMPILE_OPTIONS
  -ffp-contract=off)
# CUDA builds: add_layer_norm's kernel (fused_cuda.cu is listed in
# ops/CMakeLists.txt with the other families).
if(OFL_WITH_CUDA)
  target_sources(ofl_ops PRIVATE ${CMAKE_CURRENT_LIST_DIR}/add_layer_norm_cuda.cu)
endif()
