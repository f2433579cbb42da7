# The C++ graph-building API (api/): builder, typed ops and their coverage
# of the op registry, nn layers, optimizers, and the mistakes caught when a
# graph is built or compiled.
ofl_test(api_test
  api/graph_builder_test.cc
  api/nn_test.cc
  api/optimizer_test.cc
  api/op_coverage_test.cc
  api/compile_test.cc
)
target_link_libraries(api_test PRIVATE ofl_api GTest::gmock)
# Checkpoints (api/checkpoint.h): safetensors layout, save/load round trip,
# bitwise resume and the errors naming the file and tensor.
ofl_test(checkpoint_test api/checkpoint_test.cc)
target_link_libraries(checkpoint_test PRIVATE ofl_api)
