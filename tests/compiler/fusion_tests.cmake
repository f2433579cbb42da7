# The fused ops against their unfused chains, and the fusion pass: structure
# on IR text, the chains it must leave alone, layouts after fusion, and
# whole training steps with and without fusion (GraphInterpreter).
ofl_test(fusion_test compiler/fusion_test.cc)
target_link_libraries(fusion_test PRIVATE ofl_compiler)
