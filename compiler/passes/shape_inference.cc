#include "compiler/passes/shape_inference.h"

namespace ofl::compiler {
namespace {

// The reserved kinds have fixed arity; the user never builds them wrong
// through GraphBuilder, but parsed text and rewrites can.
// Reads a numeric attribute of a variable's initializer; absent = `fallback`.
StatusOr<double> InitializerNumber(const Node& node, const std::string& key, double fallback) {
  if (!node.attrs.Has(key)) return fallback;
  const AttrValue& value = node.attrs.Get(key);
  if (std::holds_alternative<double>(value)) return std::get<double>(value);
  if (std::holds_alternative<int64_t>(value)) return static_cast<double>(std::get<int64_t>(value));
  return Status::Error(Describe(node) + ": initializer " + key + ": expected a number, found " +
                       AttrTypeName(value) + " " + AttrValueToString(value));
}

// The attributes the runtime reads to initialise a variable (graph.h): they
// must be checked here, where a wrong one can still name the variable.
Status CheckVariableAttrs(const Node& node) {
  std::string kind = "zeros";
  if (node.attrs.Has("initializer")) {
    const AttrValue& value = node.attrs.Get("initializer");
    OFL_CHECK_OR_RETURN(std::holds_alternative<std::string>(value))
        << Describe(node) << ": initializer: expected a string, found " << AttrValueToString(value);
    kind = std::get<std::string>(value);
  }
  OFL_CHECK_OR_RETURN(kind == "zeros" || kind == "ones" || kind == "constant" || kind == "normal" ||
                      kind == "uniform")
      << Describe(node) << ": initializer: expected zeros, ones, constant, normal or uniform, found '" << kind
      << "'";
  for (const char* key : {"value", "mean", "std", "low", "high"}) {
    OFL_RETURN_IF_ERROR(InitializerNumber(node, key, 0).status());
  }
  OFL_ASSIGN_OR_RETURN(const double std, InitializerNumber(node, "std", 1));
  OFL_CHECK_OR_RETURN(std >= 0) << Describe(node) << ": initializer std: expected >= 0, found " << std;
  if (kind == "uniform") {
    OFL_ASSIGN_OR_RETURN(const double low, InitializerNumber(node, "low", 0));
    OFL_ASSIGN_OR_RETURN(const double high, InitializerNumber(node, "high", 1));
    OFL_CHECK_OR_RETURN(high > low) << Describe(node)
                                    << ": initializer uniform: expected high > low, found low=" << low
                                    << " high=" << high;
  }
  if (node.attrs.Has("seed")) {
    OFL_CHECK_OR_RETURN(std::holds_alternative<int64_t>(node.attrs.Get("seed")))
        << Describe(node) << ": initializer seed: expected an int, found "
        << AttrValueToString(node.attrs.Get("seed"));
  }
  if (node.attrs.Has("trainable")) {
    OFL_CHECK_OR_RETURN(std::holds_alternative<bool>(node.attrs.Get("trainable")))
        << Describe(node) << ": trainable: expected a bool, found "
        << AttrValueToString(node.attrs.Get("trainable"));
  }
  return Status::Ok();
}

Status CheckReservedNode(const Graph& graph, const Node& node) {
  const size_t expected_inputs = node.IsBoxing() ? 1 : 0;
  OFL_CHECK_OR_RETURN(node.inputs.size() == expected_inputs)
      << Describe(node) << ": inputs: expected " << expected_inputs << ", found " << node.inputs.size();
  OFL_CHECK_OR_RETURN(node.outputs.size() == 1)
      << Describe(node) << ": outputs: expected 1, found " << node.outputs.size();
  const Shape& shape = graph.value(node.outputs[0]).desc.shape;
  for (int axis = 0; axis < shape.rank(); ++axis) {
    OFL_CHECK_OR_RETURN(shape[axis] >= 0)
        << Describe(node) << ": expected non-negative extents, found shape " << shape.ToString();
  }
  if (node.IsVariable()) OFL_RETURN_IF_ERROR(CheckVariableAttrs(node));
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
