#include "ops/op_schema.h"

#include <set>

namespace ofl {

std::string OpView::Who(int i) const {
  const std::string name =
      i < static_cast<int>(input_names.size()) ? input_names[i] : "input" + std::to_string(i);
  return "[" + op + "] " + name;
}

StatusOr<ValueRef> OpEmitter::Emit1(const std::string& op, const std::vector<ValueRef>& inputs,
                                    const AttrMap& attrs) {
  OFL_ASSIGN_OR_RETURN(std::vector<ValueRef> outputs, Emit(op, inputs, attrs));
  OFL_CHECK_OR_RETURN(outputs.size() == 1)
      << "[" << op << "] expected exactly one output from Emit1, got " << outputs.size();
  return outputs[0];
}

Status OpRegistry::Register(OpSchema schema) {
  OFL_CHECK_OR_RETURN(!schema.name.empty()) << "[op_registry] op without a name";
  OFL_CHECK_OR_RETURN(schema.infer != nullptr) << "[op_registry] op '" << schema.name << "' has no inference";
  OFL_CHECK_OR_RETURN(schema.sbp != nullptr) << "[op_registry] op '" << schema.name << "' has no SBP function";
  const std::string name = schema.name;
  OFL_CHECK_OR_RETURN(schemas_.emplace(name, std::move(schema)).second)
      << "[op_registry] op '" << name << "' registered twice";
  return Status::Ok();
}

StatusOr<const OpSchema*> OpRegistry::Get(const std::string& name) const {
  const OpSchema* schema = Find(name);
  OFL_CHECK_OR_RETURN(schema != nullptr) << "[" << name << "] unknown op; `ofl ops` lists the registered ops";
  return schema;
}

const OpSchema* OpRegistry::Find(const std::string& name) const {
  auto it = schemas_.find(name);
  return it == schemas_.end() ? nullptr : &it->second;
}

std::vector<std::string> OpRegistry::Names() const {
  std::vector<std::string> names;
  for (const auto& [name, schema] : schemas_) names.push_back(name);
  return names;
}

namespace {

std::vector<std::string> InputNames(const OpSchema& schema, size_t count) {
  std::vector<std::string> names;
  for (size_t i = 0; i < count; ++i) {
    if (i < schema.inputs.size() && !(schema.variadic_inputs && i + 1 >= schema.inputs.size())) {
      names.push_back(schema.inputs[i].name);
    } else {
      const size_t first_variadic = schema.inputs.size() - 1;
      names.push_back(schema.inputs.back().name + "[" + std::to_string(i - first_variadic) + "]");
    }
  }
  return names;
}

Status CheckAttrs(const OpSchema& schema, const AttrMap& given, AttrMap* filled) {
  std::set<std::string> known;
  for (const AttrDef& def : schema.attrs) {
    known.insert(def.name);
    if (given.Has(def.name)) {
      const AttrValue& value = given.Get(def.name);
      const bool int_for_float =
          std::holds_alternative<double>(def.default_value) && std::holds_alternative<int64_t>(value);
      OFL_CHECK_OR_RETURN(value.index() == def.default_value.index() || int_for_float)
          << "[" << schema.name << "] attribute " << def.name << ": expected "
          << AttrTypeName(def.default_value) << ", got " << AttrTypeName(value) << " "
          << AttrValueToString(value);
      filled->Set(def.name, int_for_float ? AttrValue(static_cast<double>(std::get<int64_t>(value))) : value);
    } else {
      OFL_CHECK_OR_RETURN(!def.required)
          << "[" << schema.name << "] attribute " << def.name << ": expected a value ("
          << def.doc << "), got none";
      filled->Set(def.name, def.default_value);
    }
  }
  for (const auto& [name, value] : given.values()) {
    OFL_CHECK_OR_RETURN(known.count(name)) << "[" << schema.name << "] attribute " << name
                                           << ": expected one of the op's attributes, got unknown '"
                                           << name << "'";
  }
  return Status::Ok();
}

// An output must have non-negative extents and a byte size that fits in
// int64: a wrapped element count would allocate a tiny buffer that kernels
// then index far past.
Status CheckSize(const std::string& op, size_t index, const TensorDesc& desc) {
  int64_t bytes = static_cast<int64_t>(SizeOf(desc.dtype));
  for (int64_t extent : desc.shape.dims()) {
    OFL_CHECK_OR_RETURN(extent >= 0) << "[" << op << "] output " << index << ": expected non-negative extents, got "
                                     << desc.shape.ToString();
    OFL_CHECK_OR_RETURN(!__builtin_mul_overflow(bytes, extent, &bytes))
        << "[" << op << "] output " << index << ": expected a size that fits in 64 bits, got shape "
        << desc.shape.ToString() << " of " << DTypeName(desc.dtype);
  }
  return Status::Ok();
}

}  // namespace

StatusOr<InferredOp> OpRegistry::Infer(const std::string& op, const std::vector<TensorDesc>& inputs,
                                       const AttrMap& attrs) const {
  OFL_ASSIGN_OR_RETURN(const OpSchema* schema, Get(op));
  const size_t declared = schema->inputs.size();
  if (schema->variadic_inputs) {
    OFL_CHECK_OR_RETURN(inputs.size() >= declared)
        << "[" << op << "] inputs: expected at least " << declared << ", got " << inputs.size();
  } else {
    OFL_CHECK_OR_RETURN(inputs.size() == declared)
        << "[" << op << "] inputs: expected " << declared << ", got " << inputs.size();
  }
  InferredOp result;
  OFL_RETURN_IF_ERROR(CheckAttrs(*schema, attrs, &result.attrs));
  OpView view{schema->name, inputs, result.attrs, InputNames(*schema, inputs.size())};
  OFL_ASSIGN_OR_RETURN(result.outputs, schema->infer(view));
  for (size_t o = 0; o < result.outputs.size(); ++o) OFL_RETURN_IF_ERROR(CheckSize(op, o, result.outputs[o]));
  return result;
}

StatusOr<std::vector<SbpSignature>> OpRegistry::Signatures(const std::string& op,
                                                           const std::vector<TensorDesc>& inputs,
                                                           const AttrMap& attrs, int64_t split_parts) const {
  OFL_ASSIGN_OR_RETURN(const OpSchema* schema, Get(op));
  OFL_CHECK_OR_RETURN(split_parts >= 0)
      << "[" << op << "] signatures: expected a piece count >= 0 (0 = any), got " << split_parts;
  OpView view{schema->name, inputs, attrs, InputNames(*schema, inputs.size()), split_parts};
  return schema->sbp(view);
}

}  // namespace ofl
