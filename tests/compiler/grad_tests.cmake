# The training passes (shape inference, autograd, optimizer insertion,
# dead-node elimination), the schedule ops in graphs, and the graph
# interpreter they are checked with.
foreach(name autograd_test optimizer_insertion_test dead_node_elimination_test shape_inference_grad_test
             graph_interpreter_grad_test)
  ofl_test(${name} compiler/${name}.cc)
  target_link_libraries(${name} PRIVATE ofl_compiler)
endforeach()
