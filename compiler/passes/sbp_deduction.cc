#include "compiler/passes/sbp_deduction.h"

#include <algorithm>
#include <cmath>
#include <optional>
#include <sstream>
#include <string>
#include <unordered_map>

#include "compiler/boxing/boxing_kind.h"
#include "compiler/passes/boxing_insertion.h"
#include "sbp/cost_model.h"
#include "sbp/slicing.h"

namespace ofl::compiler {
namespace {

// The argument name of input `index` ("param"), for messages; the last
// argument of a variadic op repeats.
std::string InputName(const OpSchema& schema, size_t index) {
  if (schema.inputs.empty()) return "input " + std::to_string(index);
  const ArgDef& arg = schema.inputs[std::min(index, schema.inputs.size() - 1)];
  return "input " + std::to_string(index) + " '" + arg.name + "'";
}

std::string ListSignatures(const std::vector<SbpSignature>& one_d) {
  std::string text;
  for (const SbpSignature& signature : one_d) text += (text.empty() ? "" : "; ") + signature.ToString();
  return text;
}

// Costs are sums of products of byte counts and small ratios; equal layouts
// give bitwise equal costs, but two different candidates may differ only in
// rounding. Within a relative 1e-9 they tie.
bool Less(double a, double b) { return a < b - 1e-9 * std::max(1.0, std::abs(b)); }

// Per input: whether the producer's placement equals the node's (compared
// once per node instead of once per candidate).
std::vector<char> SamePlacements(const Graph& graph, const Node& node) {
  std::vector<char> same(node.inputs.size());
  for (size_t i = 0; i < node.inputs.size(); ++i)
    same[i] = graph.value(node.inputs[i]).placement == node.placement;
  return same;
}

double InputBoxingCostImpl(const Graph& graph, const Node& node, const std::vector<char>& same_placement,
                           const std::vector<NdSbp>& input_sbps, bool* needs_boxing) {
  double cost = 0;
  bool boxing = false;
  for (size_t i = 0; i < node.inputs.size(); ++i) {
    const Value& value = graph.value(node.inputs[i]);
    if (same_placement[i] && value.sbp == input_sbps[i]) continue;
    boxing = true;
    cost += BoxingCost(value.desc, value.placement, value.sbp, node.placement, input_sbps[i]);
  }
  if (needs_boxing != nullptr) *needs_boxing = boxing;
  return cost;
}

// On a mesh axis of extent 1 every layout holds the same piece (a Split
// into one part is the whole, one Partial addend is the value), so all are
// written as B there: otherwise a 1-device job would box S(0) into B.
NdSbp Canonical(NdSbp sbp, const Shape& hierarchy) {
  for (int axis = 0; axis < static_cast<int>(sbp.size()) && axis < hierarchy.rank(); ++axis) {
    if (hierarchy[axis] == 1) sbp[axis] = Sbp::Broadcast();
  }
  return sbp;
}

bool HasPartial(const NdSbp& sbp) {
  return std::any_of(sbp.begin(), sbp.end(), [](const Sbp& s) { return s.IsPartial(); });
}

// A hint without Partial constrains the value, not its producer's
// signature: the producer may run in a cheaper layout when a boxing into
// the hinted one costs less than running in it (e.g. a row-parallel matmul
// gives P and an all-reduce makes the hinted B: Megatron's g operator).
// Hints with Partial stay strict: a Partial layout only makes sense as the
// natural output of a linear op, never as the result of boxing.
bool IsMaterialisedHint(const Value& value) { return value.sbp_hint && !HasPartial(*value.sbp_hint); }

// The boxings chosen so far: per value, the (placement, layout) targets.
// A value has few readers, so a short list per value beats hashing
// placements (a 64-device placement is 64 device ids).
class BoxedSet {
 public:
  bool empty() const { return targets_.empty(); }
  bool Contains(ValueId value, const Placement& placement, const NdSbp& sbp) const {
    auto it = targets_.find(value);
    if (it == targets_.end()) return false;
    for (const auto& [target_placement, target_sbp] : it->second) {
      if (target_sbp == sbp && target_placement == placement) return true;
    }
    return false;
  }
  void Insert(ValueId value, const Placement& placement, const NdSbp& sbp) {
    if (!Contains(value, placement, sbp)) targets_[value].emplace_back(placement, sbp);
  }

 private:
  std::unordered_map<ValueId, std::vector<std::pair<Placement, NdSbp>>> targets_;
};

class SbpDeductionPass final : public Pass {
 public:
  std::string name() const override { return "sbp_deduction"; }

  Status Run(Graph& graph, PassContext& context) override {
    OFL_ASSIGN_OR_RETURN(const std::vector<NodeId> order, graph.TopologicalOrder());
    BoxedSet boxed;
    for (NodeId id : order) {
      const Node& node = graph.node(id);
      if (node.IsInput() || node.IsVariable()) {
        OFL_ASSIGN_OR_RETURN(NdSbp sbp, SourceSbp(graph, node));
        graph.mutable_value(node.outputs[0]).sbp = std::move(sbp);
        graph.mutable_node(id).input_sbps.clear();
      } else if (node.IsBoxing()) {
        OFL_RETURN_IF_ERROR(KeepBoxing(graph, id));
      } else {
        OFL_RETURN_IF_ERROR(DeduceOp(graph, id, context.ops, boxed));
      }
      // Canonical layouts on extent-1 mesh axes (see Canonical).
      Node& deduced = graph.mutable_node(id);
      const Shape& hierarchy = deduced.placement.hierarchy();
      for (NdSbp& read : deduced.input_sbps) read = Canonical(std::move(read), hierarchy);
      for (ValueId output : deduced.outputs) {
        Value& value = graph.mutable_value(output);
        value.sbp = Canonical(std::move(value.sbp), value.placement.hierarchy());
      }
    }
    return Status::Ok();
  }

 private:
  // Chooses the signature of registry-op node `id`. Materialised hints
  // (IsMaterialisedHint) are lifted while the candidates are listed, and
  // each candidate pays for boxing its output into the hint; when the
  // winner's output differs from the hint, a boxing node after the node
  // produces the hinted value and every reader reads that.
  //
  // Boxings already chosen by earlier readers (`boxed`) are free for later
  // ones: boxing insertion makes one node per (value, target), so a second
  // reader of an all-reduced gradient (clipping's sum of squares, then the
  // update) pays nothing and does not count as needing boxing.
  static Status DeduceOp(Graph& graph, NodeId id, const OpRegistry& ops, BoxedSet& boxed) {
    const Node& node = graph.node(id);
    // A copy: materialising a hint adds nodes, which may move the node array.
    const Shape hierarchy = node.placement.hierarchy();
    std::vector<std::optional<NdSbp>> lifted(node.outputs.size());
    for (size_t o = 0; o < node.outputs.size(); ++o) {
      Value& value = graph.mutable_value(node.outputs[o]);
      if (!IsMaterialisedHint(value)) continue;
      OFL_RETURN_IF_ERROR(CheckNdSbp(Describe(node) + " output " + std::to_string(o) + " sbp hint",
                                     *value.sbp_hint, hierarchy, value.desc.shape));
      lifted[o] = Canonical(*value.sbp_hint, hierarchy);
      value.sbp_hint.reset();
    }
    StatusOr<std::vector<SbpCandidate>> listed = LegalSbpCandidates(graph, node, ops);
    for (size_t o = 0; o < node.outputs.size(); ++o) {
      if (lifted[o]) graph.mutable_value(node.outputs[o]).sbp_hint = lifted[o];
    }
    OFL_RETURN_IF_ERROR(listed.status());
    std::vector<SbpCandidate>& candidates = listed.value();
    for (SbpCandidate& candidate : candidates) {
      for (size_t o = 0; o < node.outputs.size(); ++o) {
        if (!lifted[o]) continue;
        const NdSbp produced = Canonical(candidate.signature.outputs[o], hierarchy);
        if (produced == *lifted[o]) continue;
        const Value& value = graph.value(node.outputs[o]);
        // One byte more than the traffic: at equal traffic the op itself
        // produces the hinted layout (one all-reduce rather than a
        // reduce-scatter here plus an all-gather after the op).
        candidate.cost += BoxingCost(value.desc, node.placement, produced, node.placement, *lifted[o]) + 1.0;
        candidate.needs_boxing = true;
      }
    }
    if (!boxed.empty()) {
      for (SbpCandidate& candidate : candidates) {
        bool other_boxing = false;
        for (size_t i = 0; i < node.inputs.size(); ++i) {
          const Value& value = graph.value(node.inputs[i]);
          const NdSbp& read = candidate.signature.inputs[i];
          if (value.placement == node.placement &&
              Canonical(value.sbp, hierarchy) == Canonical(read, hierarchy)) {
            continue;
          }
          if (boxed.Contains(value.id, node.placement, read)) {
            candidate.cost -= BoxingCost(value.desc, value.placement, value.sbp, node.placement, read);
          } else {
            other_boxing = true;
          }
        }
        if (!other_boxing && candidate.needs_boxing) {
          // Only reused boxings, unless a lifted hint needs one (checked below).
          candidate.needs_boxing = false;
          for (size_t o = 0; o < node.outputs.size(); ++o) {
            if (lifted[o] && Canonical(candidate.signature.outputs[o], hierarchy) != *lifted[o]) {
              candidate.needs_boxing = true;
            }
          }
        }
        candidate.cost = std::max(candidate.cost, 0.0);
      }
    }
    SbpCandidate& chosen = candidates[ChooseSbpCandidate(candidates)];
    for (size_t i = 0; i < node.inputs.size(); ++i) {
      const Value& value = graph.value(node.inputs[i]);
      const NdSbp& read = chosen.signature.inputs[i];
      if (value.placement != node.placement ||
          Canonical(value.sbp, hierarchy) != Canonical(read, hierarchy)) {
        boxed.Insert(value.id, node.placement, read);
      }
    }
    graph.mutable_node(id).input_sbps = std::move(chosen.signature.inputs);
    for (size_t o = 0; o < graph.node(id).outputs.size(); ++o) {
      const ValueId output = graph.node(id).outputs[o];
      NdSbp produced = Canonical(std::move(chosen.signature.outputs[o]), hierarchy);
      if (!lifted[o] || produced == *lifted[o]) {
        graph.mutable_value(output).sbp = std::move(produced);
        continue;
      }
      // Materialise: `output` keeps the produced layout (and loses the
      // hint); boxing nodes (a chain of single-axis fast paths where one
      // exists, as boxing insertion makes) give every reader the hinted value.
      Value& value = graph.mutable_value(output);
      value.sbp = produced;
      value.sbp_hint.reset();
      const Placement placement = value.placement;
      const TensorDesc desc = value.desc;
      const NodeRole role = graph.node(id).role;
      const std::string name = graph.node(id).name + ".hint";
      ValueId current = output;
      NdSbp current_sbp = produced;
      const std::vector<NdSbp> steps = BoxingSteps(placement, produced, placement, *lifted[o]);
      std::vector<NodeId> chain;
      for (size_t step = 0; step < steps.size(); ++step) {
        int mesh_axis = -1;
        const BoxingKind kind = ClassifyBoxing(placement, current_sbp, placement, steps[step], &mesh_axis);
        AttrMap attrs{{"kind", BoxingKindName(kind)}};
        if (hierarchy.rank() >= 2 && mesh_axis >= 0) attrs.Set("mesh_axis", static_cast<int64_t>(mesh_axis));
        std::string unique = step == 0 ? name : name + "_" + std::to_string(step);
        for (int suffix = 1; graph.FindNode(unique) >= 0; ++suffix)
          unique = name + "_o" + std::to_string(o) + "_" + std::to_string(suffix);
        const NodeId boxing =
            graph.AddNode(kBoxingOp, unique, {current}, std::move(attrs), {desc}, placement, role);
        graph.mutable_node(boxing).input_sbps = {current_sbp};
        current = graph.node(boxing).outputs[0];
        current_sbp = steps[step];
        graph.mutable_value(current).sbp = current_sbp;
        chain.push_back(boxing);
      }
      graph.mutable_value(current).sbp_hint = *lifted[o];
      graph.ReplaceAllUses(output, current);
      graph.mutable_node(chain.front()).inputs = {output};  // undo the rewrite of the chain's own input
      for (auto& [variable, gradient] : graph.gradients()) {
        if (gradient == output) gradient = current;
      }
    }
    return Status::Ok();
  }

  // A boxing node placed by an earlier pass (or read from text) keeps its
  // layouts: it reads its producer's and gives the one it was built for.
  static Status KeepBoxing(Graph& graph, NodeId id) {
    Node& node = graph.mutable_node(id);
    OFL_CHECK_OR_RETURN(node.inputs.size() == 1 && node.outputs.size() == 1)
        << Describe(node) << ": expected a boxing node with one input and one output, got "
        << node.inputs.size() << " and " << node.outputs.size();
    const Value& output = graph.value(node.outputs[0]);
    OFL_CHECK_OR_RETURN(!output.sbp.empty())
        << Describe(node) << ": expected its output to carry the layout it boxes to, got none";
    node.input_sbps = {graph.value(node.inputs[0]).sbp};
    return Status::Ok();
  }
};

}  // namespace

std::unique_ptr<Pass> MakeSbpDeductionPass() { return std::make_unique<SbpDeductionPass>(); }

StatusOr<NdSbp> SourceSbp(const Graph& graph, const Node& node) {
  const Value& value = graph.value(node.outputs.at(0));
  const Shape& hierarchy = node.placement.hierarchy();
  const NdSbp* given = value.sbp_hint ? &*value.sbp_hint : (!value.sbp.empty() ? &value.sbp : nullptr);
  if (given != nullptr) {
    OFL_RETURN_IF_ERROR(CheckNdSbp(Describe(node) + " sbp hint " + NdSbpToString(*given), *given, hierarchy,
                                   value.desc.shape));
    // A Partial variable would be updated addend by addend with the whole
    // gradient; its value is only defined as Split or Broadcast pieces.
    OFL_CHECK_OR_RETURN(!node.IsVariable() || !HasPartial(*given))
        << Describe(node) << ": sbp hint " << NdSbpToString(*given)
        << ": expected Split or Broadcast on every mesh axis for a variable, got a Partial layout";
    return *given;
  }
  // Inputs: data parallel over every mesh axis (each device reads its share
  // of the batch); variables and scalars: whole on every device.
  const bool split = node.IsInput() && value.desc.shape.rank() >= 1;
  return NdSbp(hierarchy.rank(), split ? Sbp::Split(0) : Sbp::Broadcast());
}

double InputBoxingCost(const Graph& graph, const Node& node, const std::vector<NdSbp>& input_sbps,
                       bool* needs_boxing) {
  return InputBoxingCostImpl(graph, node, SamePlacements(graph, node), input_sbps, needs_boxing);
}

StatusOr<std::vector<SbpCandidate>> LegalSbpCandidates(const Graph& graph, const Node& node,
                                                       const OpRegistry& ops) {
  OFL_ASSIGN_OR_RETURN(const OpSchema* schema, ops.Get(node.op));
  std::vector<TensorDesc> descs;
  descs.reserve(node.inputs.size());
  for (size_t i = 0; i < node.inputs.size(); ++i) {
    const Value& value = graph.value(node.inputs[i]);
    OFL_CHECK_OR_RETURN(!value.sbp.empty())
        << Describe(node) << ": " << InputName(*schema, i) << " comes from "
        << Describe(graph.producer(value.id))
        << ", which has no layout yet (expected producers to be deduced first)";
    descs.push_back(value.desc);
  }
  const Shape& hierarchy = node.placement.hierarchy();
  // The 1-D lists by piece count (0 = valid for any count), each asked once.
  // An op whose list depends on the count (reshape) gets, on mesh axis d,
  // the list for hierarchy[d] pieces; other ops get the count-free list.
  const bool by_count = schema->signatures_depend_on_split_parts;
  std::map<int64_t, std::vector<SbpSignature>> lists_by_count;
  auto list_for = [&](int64_t parts) -> StatusOr<const std::vector<SbpSignature>*> {
    const int64_t key = by_count ? parts : 0;
    auto it = lists_by_count.find(key);
    if (it == lists_by_count.end()) {
      StatusOr<std::vector<SbpSignature>> listed = ops.Signatures(node.op, descs, node.attrs, key);
      if (!listed.ok()) return listed.status().WithContext(Describe(node));
      OFL_CHECK_OR_RETURN(!listed.value().empty())
          << Describe(node) << ": expected the op to list SBP signatures, got none";
      it = lists_by_count.emplace(key, std::move(listed).value()).first;
    }
    return &it->second;
  };
  std::vector<std::vector<SbpSignature>> per_axis;
  for (int d = 0; d < hierarchy.rank(); ++d) {
    OFL_ASSIGN_OR_RETURN(const std::vector<SbpSignature>* list, list_for(hierarchy[d]));
    per_axis.push_back(*list);
  }
  // A tensor axis split by several mesh axes is cut into the product of
  // their extents (nested), a count no per-axis list checked: on a [2, 2]
  // mesh, S(0) of [B, T, D] -> [B*T, D] on both axes needs B % 4 == 0, not
  // B % 2 == 0. Such a candidate stays when every 1-D signature on those
  // mesh axes is valid for any count (they nest freely, as before), or when
  // they all have one layout that the op lists for the product count (the
  // split extents then divide, so the nested pieces are that count's
  // balanced pieces). Otherwise it is dropped.
  auto nested_splits_hold = [&](const NdSbpSignature& signature) -> StatusOr<bool> {
    std::vector<const NdSbp*> tensors;
    for (const NdSbp& sbp : signature.inputs) tensors.push_back(&sbp);
    for (const NdSbp& sbp : signature.outputs) tensors.push_back(&sbp);
    for (const NdSbp* sbp : tensors) {
      for (int first = 0; first < static_cast<int>(sbp->size()); ++first) {
        const Sbp& split = (*sbp)[first];
        if (!split.IsSplit() || std::find(sbp->begin(), sbp->begin() + first, split) != sbp->begin() + first)
          continue;  // not a split, or its tensor axis was checked from an earlier mesh axis
        std::vector<int> mesh_axes;
        int64_t parts = 1;
        for (int d = first; d < static_cast<int>(sbp->size()); ++d) {
          if ((*sbp)[d] != split) continue;
          mesh_axes.push_back(d);
          parts *= hierarchy[d];
        }
        if (mesh_axes.size() < 2) continue;
        OFL_ASSIGN_OR_RETURN(const std::vector<SbpSignature>* any_count, list_for(0));
        const SbpSignature layout = SignatureOnMeshAxis(signature, mesh_axes[0]);
        bool count_free = true, one_layout = true;
        for (int d : mesh_axes) {
          const SbpSignature on_axis = SignatureOnMeshAxis(signature, d);
          count_free &= std::any_of(any_count->begin(), any_count->end(),
                                    [&](const SbpSignature& s) { return s.SameLayout(on_axis); });
          one_layout &= on_axis.SameLayout(layout);
        }
        if (count_free) continue;
        if (!one_layout) return false;
        OFL_ASSIGN_OR_RETURN(const std::vector<SbpSignature>* nested, list_for(parts));
        if (std::none_of(nested->begin(), nested->end(),
                         [&](const SbpSignature& s) { return s.SameLayout(layout); }))
          return false;
      }
    }
    return true;
  };

  // Output hints, checked before they filter anything.
  std::vector<const NdSbp*> hints(node.outputs.size(), nullptr);
  for (size_t o = 0; o < node.outputs.size(); ++o) {
    const Value& value = graph.value(node.outputs[o]);
    if (!value.sbp_hint) continue;
    OFL_RETURN_IF_ERROR(CheckNdSbp(Describe(node) + " output " + std::to_string(o) + " sbp hint",
                                   *value.sbp_hint, hierarchy, value.desc.shape));
    hints[o] = &*value.sbp_hint;
  }
  // Inputs written in place must be read exactly as they lie.
  const std::vector<char> same_placement = SamePlacements(graph, node);
  for (int m : schema->mutated_inputs) {
    if (m < 0 || m >= static_cast<int>(node.inputs.size())) continue;
    const Value& value = graph.value(node.inputs[m]);
    OFL_CHECK_OR_RETURN(same_placement[m])
        << Describe(node) << ": " << InputName(*schema, m)
        << " is updated in place, so the node must run where " << Describe(graph.producer(value.id))
        << " keeps it (" << value.placement.ToString() << "), got " << node.placement.ToString();
  }

  std::vector<NdSbpSignature> expanded = ExpandToNd(per_axis);
  std::vector<SbpCandidate> candidates;
  candidates.reserve(expanded.size());
  for (size_t index = 0; index < expanded.size(); ++index) {
    NdSbpSignature& signature = expanded[index];
    OFL_CHECK_OR_RETURN(signature.inputs.size() == node.inputs.size() &&
                        signature.outputs.size() == node.outputs.size())
        << Describe(node) << ": expected signatures of " << node.inputs.size() << " inputs and "
        << node.outputs.size() << " outputs, got " << signature.ToString();
    bool legal = true;
    for (size_t o = 0; o < hints.size() && legal; ++o)
      legal = hints[o] == nullptr || signature.outputs[o] == *hints[o];
    for (size_t k = 0; k < schema->mutated_inputs.size() && legal; ++k) {
      const int m = schema->mutated_inputs[k];
      legal = m < 0 || m >= static_cast<int>(node.inputs.size()) ||
              signature.inputs[m] == graph.value(node.inputs[m]).sbp;
    }
    if (legal && by_count && hierarchy.rank() >= 2) {
      OFL_ASSIGN_OR_RETURN(legal, nested_splits_hold(signature));
    }
    if (!legal) continue;
    SbpCandidate candidate;
    candidate.cost =
        InputBoxingCostImpl(graph, node, same_placement, signature.inputs, &candidate.needs_boxing);
    for (const NdSbp& output : signature.outputs) {
      candidate.partial_outputs +=
          std::any_of(output.begin(), output.end(), [](const Sbp& s) { return s.IsPartial(); });
    }
    candidate.list_index = static_cast<int>(index);
    candidate.signature = std::move(signature);
    candidates.push_back(std::move(candidate));
  }
  if (!candidates.empty()) return candidates;

  std::ostringstream why;
  why << Describe(node) << ": no signature satisfies";
  const char* separator = " ";
  for (size_t o = 0; o < hints.size(); ++o) {
    if (hints[o] == nullptr) continue;
    why << separator << "the hint " << NdSbpToString(*hints[o]) << " on output " << o;
    separator = " and ";
  }
  for (int m : schema->mutated_inputs) {
    if (m < 0 || m >= static_cast<int>(node.inputs.size())) continue;
    why << separator << "reading " << InputName(*schema, m) << " (updated in place) as "
        << NdSbpToString(graph.value(node.inputs[m]).sbp);
    separator = " and ";
  }
  why << " on " << node.placement.ToString() << "; the op's signatures per mesh axis are: ";
  const bool same_lists =
      std::all_of(per_axis.begin(), per_axis.end(), [&](const std::vector<SbpSignature>& list) {
        return ListSignatures(list) == ListSignatures(per_axis.front());
      });
  if (per_axis.empty()) {
    why << "none (the placement has no mesh axis)";
  } else if (same_lists) {
    why << ListSignatures(per_axis.front());
  } else {
    for (size_t d = 0; d < per_axis.size(); ++d) {
      why << (d ? " | " : "") << "mesh axis " << d << " (" << hierarchy[static_cast<int>(d)]
          << " pieces): " << ListSignatures(per_axis[d]);
    }
  }
  return Status::Error(why.str());
}

size_t ChooseSbpCandidate(const std::vector<SbpCandidate>& candidates) {
  size_t best = 0;
  for (size_t i = 1; i < candidates.size(); ++i) {
    const SbpCandidate& a = candidates[i];
    const SbpCandidate& b = candidates[best];
    if (Less(a.cost, b.cost)) {
      best = i;
      continue;
    }
    if (Less(b.cost, a.cost)) continue;
    if (a.needs_boxing != b.needs_boxing) {
      if (!a.needs_boxing) best = i;
      continue;
    }
    if (a.partial_outputs != b.partial_outputs) {
      if (a.partial_outputs < b.partial_outputs) best = i;
      continue;
    }
    if (a.list_index < b.list_index) best = i;
  }
  return best;
}

}  // namespace ofl::compiler
