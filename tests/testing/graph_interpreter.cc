#include "tests/testing/graph_interpreter.h"

#include <set>
#include <vector>

namespace ofl::testing {

using compiler::Graph;
using compiler::Node;
using compiler::NodeId;
using compiler::ValueId;

GraphInterpreter::GraphInterpreter()
    : GraphInterpreter(DefaultRegistries().ops, DefaultRegistries().kernels) {}

GraphInterpreter::GraphInterpreter(const OpRegistry& ops, const KernelRegistry& kernels)
    : executor_(ops, kernels) {}

namespace {

double FloatAttr(const AttrMap& attrs, const std::string& name, double fallback) {
  return attrs.Has(name) ? attrs.GetFloat(name) : fallback;
}

}  // namespace

StatusOr<HostTensor> GraphInterpreter::InitialValue(const Node& node, const TensorDesc& desc) const {
  const AttrMap& attrs = node.attrs;
  // api::GraphBuilder writes the kind as "initializer"; "kind" is accepted too.
  std::string kind = "zeros";
  for (const char* key : {"initializer", "kind"}) {
    if (attrs.Has(key) && std::holds_alternative<std::string>(attrs.Get(key))) kind = attrs.GetString(key);
  }
  const int64_t seed = attrs.Has("seed") ? attrs.GetInt("seed") : 0;
  std::string op;
  AttrMap op_attrs{{"shape", desc.shape}, {"dtype", desc.dtype}};
  if (kind == "zeros" || kind == "ones" || kind == "constant") {
    op = "fill";
    op_attrs.Set("value", kind == "zeros" ? 0.0 : kind == "ones" ? 1.0 : FloatAttr(attrs, "value", 0.0));
  } else if (kind == "normal") {
    op = "random_normal";
    op_attrs.Set("mean", FloatAttr(attrs, "mean", 0.0))
        .Set("std", FloatAttr(attrs, "std", 1.0))
        .Set("seed", seed);
  } else if (kind == "uniform") {
    op = "random_uniform";
    op_attrs.Set("low", FloatAttr(attrs, "low", 0.0))
        .Set("high", FloatAttr(attrs, "high", 1.0))
        .Set("seed", seed);
  } else {
    return ErrorBuilder() << "[graph_interpreter] variable " << compiler::Describe(node)
                          << ": initializer: expected zeros|ones|constant|normal|uniform, got '" << kind
                          << "'";
  }
  StatusOr<std::vector<HostTensor>> made = executor_.Run(op, {}, op_attrs);
  if (!made.ok())
    return made.status().WithContext("[graph_interpreter] variable " + compiler::Describe(node));
  return made.value()[0];
}

StatusOr<ValueTensors> GraphInterpreter::Run(const Graph& graph,
                                             const std::map<std::string, HostTensor>& feeds,
                                             std::map<std::string, HostTensor>& variables) const {
  OFL_ASSIGN_OR_RETURN(const std::vector<NodeId> order, graph.TopologicalOrder());
  ValueTensors values;
  std::vector<NodeId> writers;  // nodes that mutate inputs: run after all readers
  auto inputs_of = [&](const Node& node) -> StatusOr<std::vector<HostTensor>> {
    std::vector<HostTensor> tensors;
    for (ValueId input : node.inputs) {
      auto it = values.find(input);
      OFL_CHECK_OR_RETURN(it != values.end()) << "[graph_interpreter] " << compiler::Describe(node)
                                              << ": input value " << input << " was not computed";
      tensors.push_back(it->second);
    }
    return tensors;
  };
  for (NodeId id : order) {
    const Node& node = graph.node(id);
    if (node.IsInput() || node.IsVariable()) {
      const TensorDesc& desc = graph.value(node.outputs.at(0)).desc;
      HostTensor tensor;
      if (node.IsInput()) {
        auto it = feeds.find(node.name);
        OFL_CHECK_OR_RETURN(it != feeds.end())
            << "[graph_interpreter] input '" << node.name << "': expected a feed, got none";
        tensor = it->second.Clone();  // an in-place op must not write the caller's feed
      } else {
        auto it = variables.find(node.name);
        if (it == variables.end()) {
          OFL_ASSIGN_OR_RETURN(HostTensor initial, InitialValue(node, desc));
          it = variables.emplace(node.name, initial).first;
        }
        tensor = it->second;
      }
      OFL_CHECK_OR_RETURN(tensor.desc() == desc)
          << "[graph_interpreter] " << compiler::Describe(node) << ": expected a tensor " << desc.ToString()
          << ", got " << tensor.desc().ToString();
      values[node.outputs[0]] = tensor;
      continue;
    }
    if (node.IsBoxing()) {
      OFL_ASSIGN_OR_RETURN(std::vector<HostTensor> in, inputs_of(node));
      values[node.outputs.at(0)] = in.at(0);
      continue;
    }
    const OpSchema* schema = executor_.ops().Find(node.op);
    OFL_CHECK_OR_RETURN(schema != nullptr)
        << "[graph_interpreter] " << compiler::Describe(node) << ": unknown op '" << node.op << "'";
    if (!schema->mutated_inputs.empty()) {
      writers.push_back(id);
      continue;
    }
    OFL_ASSIGN_OR_RETURN(std::vector<HostTensor> in, inputs_of(node));
    StatusOr<std::vector<HostTensor>> out = executor_.Run(node.op, in, node.attrs);
    if (!out.ok()) return out.status().WithContext("[graph_interpreter] " + compiler::Describe(node));
    OFL_CHECK_OR_RETURN(out.value().size() == node.outputs.size())
        << "[graph_interpreter] " << compiler::Describe(node) << ": expected " << node.outputs.size()
        << " outputs, got " << out.value().size();
    for (size_t o = 0; o < node.outputs.size(); ++o) {
      const TensorDesc& desc = graph.value(node.outputs[o]).desc;
      OFL_CHECK_OR_RETURN(out.value()[o].desc() == desc)
          << "[graph_interpreter] " << compiler::Describe(node) << ": output " << o << ": expected "
          << desc.ToString() << ", got " << out.value()[o].desc().ToString();
      values[node.outputs[o]] = out.value()[o];
    }
  }
  // The result keeps what the step read: writers update shared buffers (the
  // variables and values aliasing them through boxing), so the result gets
  // copies of those buffers first, one copy per buffer.
  std::set<void*> written;
  for (NodeId id : writers) {
    const Node& node = graph.node(id);
    for (int index : executor_.ops().Find(node.op)->mutated_inputs) {
      auto it = values.find(node.inputs.at(index));
      if (it != values.end()) written.insert(it->second.raw());
    }
  }
  ValueTensors result = values;
  std::map<void*, HostTensor> copies;
  for (auto& [id, tensor] : result) {
    if (written.count(tensor.raw()) == 0) continue;
    auto [copy, inserted] = copies.try_emplace(tensor.raw());
    if (inserted) copy->second = tensor.Clone();
    tensor = copy->second;
  }
  for (NodeId id : writers) {
    const Node& node = graph.node(id);
    OFL_ASSIGN_OR_RETURN(std::vector<HostTensor> in, inputs_of(node));
    StatusOr<std::vector<HostTensor>> out = executor_.Run(node.op, in, node.attrs);
    if (!out.ok()) return out.status().WithContext("[graph_interpreter] " + compiler::Describe(node));
  }
  return result;
}

StatusOr<HostTensor> FetchedTensor(const Graph& graph, const ValueTensors& result, const std::string& name) {
  for (const compiler::Fetch& fetch : graph.fetches()) {
    if (fetch.name != name) continue;
    auto it = result.find(fetch.value);
    OFL_CHECK_OR_RETURN(it != result.end())
        << "[graph_interpreter] fetch '" << name << "': value " << fetch.value << " was not computed";
    return it->second;
  }
  return ErrorBuilder() << "[graph_interpreter] fetch '" << name
                        << "': expected a fetch of that name, got none";
}

}  // namespace ofl::testing
