# The logical IR: building, topological order, text round trip, parse errors.
ofl_test(graph_test compiler/graph_test.cc)
target_link_libraries(graph_test PRIVATE ofl_compiler)
# Whole compilations: where communication lands for DP, TP and DP x TP.
ofl_test(structure_test compiler/structure_test.cc)
target_link_libraries(structure_test PRIVATE ofl_compiler)
