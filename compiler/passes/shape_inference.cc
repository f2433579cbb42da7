#include "compiler/passes/shape_inference.h"

namespace ofl::compiler {
namespace {

// The reserved kinds have fixed arity; the user never builds them wrong
// through GraphBuilder, but parsed text and rewrites can.
Status CheckReservedNode(const Graph& graph, const Node& node) {
  const size_t expected_inputs = node.IsBoxing() ? 1 : 0;
  OFL_CHECK_OR_RETURN(node.inputs.size() == expected_inputs)
      << Describe(node) << ": inputs: expected " << expected_inputs << ", found " << node.inputs.size();
  OFL_CHECK_OR_RETURN(node.outputs.size() == 1)
      << Describe(node) << ": outputs: expected 1, found " << node.outputs.size();
  if (node.IsBoxing()) {
    const TensorDesc& in = graph.value(node.inputs[0]).desc;
    const TensorDesc& out = graph.value(node.outputs[0]).desc;
    OFL_CHECK_OR_RETURN(in == out)
        << Describe(node) << ": output: expected " << in.ToString()
        << " (the input's description; boxing moves data, never changes it), found " << out.ToString();
  }
  return Status::Ok();
}

Status CheckRegistryNode(const OpRegistry& ops, Graph& graph, Node& node) {
  std::vector<TensorDesc> input_descs;
  input_descs.reserve(node.inputs.size());
  for (ValueId input : node.inputs) input_descs.push_back(graph.value(input).desc);
  StatusOr<InferredOp> inferred = ops.Infer(node.op, input_descs, node.attrs);
  if (!inferred.ok()) return inferred.status().WithContext(Describe(node));
  const std::vector<TensorDesc>& outputs = inferred.value().outputs;
  OFL_CHECK_OR_RETURN(outputs.size() == node.outputs.size())
      << Describe(node) << ": outputs: expected " << outputs.size() << " (inferred), found "
      << node.outputs.size();
  for (size_t o = 0; o < outputs.size(); ++o) {
    const TensorDesc& stored = graph.value(node.outputs[o]).desc;
    OFL_CHECK_OR_RETURN(outputs[o] == stored)
        << Describe(node) << ": output " << o << ": expected " << outputs[o].ToString()
        << " (inferred), found " << stored.ToString();
  }
  node.attrs = std::move(inferred.value().attrs);
  return Status::Ok();
}

class ShapeInferencePass final : public Pass {
 public:
  std::string name() const override { return "shape_inference"; }

  Status Run(Graph& graph, PassContext& context) override {
    OFL_ASSIGN_OR_RETURN(std::vector<NodeId> order, graph.TopologicalOrder());
    for (NodeId id : order) {
      Node& node = graph.mutable_node(id);
      if (node.IsInput() || node.IsVariable() || node.IsBoxing()) {
        OFL_RETURN_IF_ERROR(CheckReservedNode(graph, node));
      } else {
        OFL_RETURN_IF_ERROR(CheckRegistryNode(context.ops, graph, node));
      }
    }
    return Status::Ok();
  }
};

}  // namespace

std::unique_ptr<Pass> MakeShapeInferencePass() { return std::make_unique<ShapeInferencePass>(); }

}  // namespace ofl::compiler
