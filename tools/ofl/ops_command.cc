#include <iostream>

#include "ops/registry.h"
#include "tools/ofl/commands.h"
#include "tools/ofl/json_writer.h"

namespace ofl::cli {

namespace {

std::string DevicesText(const KernelRegistry& kernels, const std::string& op, DeviceType device) {
  std::string text;
  for (DType dtype : kernels.DTypesFor(op, device)) text += (text.empty() ? "" : " ") + DTypeName(dtype);
  return text;
}

std::string ExampleText(const OpExample& example) {
  std::string text;
  for (size_t i = 0; i < example.inputs.size(); ++i) text += (i ? ", " : "") + example.inputs[i].ToString();
  if (!example.attrs.values().empty()) text += (text.empty() ? "" : " ") + example.attrs.ToString();
  return text.empty() ? "(no inputs)" : text;
}

std::vector<std::string> ArgNames(const std::vector<ArgDef>& args) {
  std::vector<std::string> names;
  for (const ArgDef& arg : args) names.push_back(arg.name);
  return names;
}

std::string Join(const std::vector<std::string>& names) {
  std::string text;
  for (size_t i = 0; i < names.size(); ++i) text += (i ? ", " : "") + names[i];
  return text;
}

// The notes are worked two-device examples, so the listing is the one for
// 2 pieces (reshape adds count-dependent signatures that hold for 2).
constexpr int64_t kExampleDevices = 2;

// Signatures of the op's example on two devices, or the reason there are none.
StatusOr<std::vector<SbpSignature>> ExampleSignatures(const OpRegistry& ops, const OpSchema& schema) {
  OFL_ASSIGN_OR_RETURN(InferredOp inferred,
                       ops.Infer(schema.name, schema.example.inputs, schema.example.attrs));
  return ops.Signatures(schema.name, schema.example.inputs, inferred.attrs, kExampleDevices);
}

void WriteJson(const Registries& registries) {
  JsonWriter json;
  json.BeginArray();
  for (const std::string& name : registries.ops.Names()) {
    const OpSchema& schema = *registries.ops.Find(name);
    json.BeginObject().Key("name").String(name).Key("doc").String(schema.doc);
    for (const auto& [key, args] : {std::pair{"inputs", &schema.inputs}, std::pair{"outputs", &schema.outputs}}) {
      json.Key(key).BeginArray();
      for (const ArgDef& arg : *args) json.BeginObject().Key("name").String(arg.name).Key("doc").String(arg.doc).EndObject();
      json.EndArray();
    }
    json.Key("variadic_inputs").Bool(schema.variadic_inputs).Key("variadic_outputs").Bool(schema.variadic_outputs);
    json.Key("mutated_inputs").BeginArray();
    for (int index : schema.mutated_inputs) json.Number(index);
    json.EndArray();
    json.Key("attrs").BeginArray();
    for (const AttrDef& attr : schema.attrs) {
      json.BeginObject().Key("name").String(attr.name).Key("type").String(AttrTypeName(attr.default_value));
      json.Key("required").Bool(attr.required);
      if (!attr.required) json.Key("default").String(AttrValueToString(attr.default_value));
      json.Key("doc").String(attr.doc).EndObject();
    }
    json.EndArray();
    json.Key("has_gradient").Bool(schema.grad != nullptr);
    json.Key("kernels").BeginObject();
    for (DeviceType device : {DeviceType::kCPU, DeviceType::kCUDA}) {
      std::vector<std::string> dtypes;
      for (DType dtype : registries.kernels.DTypesFor(name, device)) dtypes.push_back(DTypeName(dtype));
      json.Key(DeviceTypeName(device)).StringArray(dtypes);
    }
    json.EndObject();
    json.Key("example").String(ExampleText(schema.example));
    json.Key("sbp_signatures").BeginArray();
    auto signatures = ExampleSignatures(registries.ops, schema);
    if (signatures.ok()) {
      for (const SbpSignature& s : signatures.value()) {
        json.BeginObject().Key("signature").String(s.ToString()).Key("note").String(s.note).EndObject();
      }
    }
    json.EndArray().EndObject();
  }
  json.EndArray();
  std::cout << json.str() << "\n";
}

void WriteText(const Registries& registries) {
  for (const std::string& name : registries.ops.Names()) {
    const OpSchema& schema = *registries.ops.Find(name);
    std::cout << name << "(" << Join(ArgNames(schema.inputs)) << (schema.variadic_inputs ? "..." : "") << ") -> ("
              << Join(ArgNames(schema.outputs)) << (schema.variadic_outputs ? "..." : "") << ")"
              << (schema.mutated_inputs.empty() ? "" : "  [updates inputs in place]") << "\n";
    std::cout << "    " << schema.doc << "\n";
    for (const AttrDef& attr : schema.attrs) {
      std::cout << "    attr " << attr.name << ": " << AttrTypeName(attr.default_value)
                << (attr.required ? " (required)" : " = " + AttrValueToString(attr.default_value)) << "  "
                << attr.doc << "\n";
    }
    std::cout << "    gradient: " << (schema.grad ? "yes" : "no");
    for (DeviceType device : {DeviceType::kCPU, DeviceType::kCUDA}) {
      const std::string dtypes = DevicesText(registries.kernels, name, device);
      std::cout << "  " << DeviceTypeName(device) << ": " << (dtypes.empty() ? "-" : dtypes);
    }
    std::cout << "\n    sbp for " << ExampleText(schema.example) << " on " << kExampleDevices
              << " devices:\n";
    auto signatures = ExampleSignatures(registries.ops, schema);
    if (!signatures.ok()) {
      std::cout << "      (example does not infer: " << signatures.status().message() << ")\n";
      continue;
    }
    for (const SbpSignature& s : signatures.value()) {
      std::cout << "      " << s.ToString() << "    " << s.note << "\n";
    }
  }
  std::cout << registries.ops.size() << " ops\n";
}

}  // namespace

int RunOpsCommand(const std::vector<std::string>& args) {
  bool json = false;
  for (const std::string& arg : args) {
    if (arg == "--json") {
      json = true;
    } else {
      std::cerr << "ofl ops: unknown option '" << arg << "' (expected --json)\n";
      return 2;
    }
  }
  const Registries& registries = DefaultRegistries();
  json ? WriteJson(registries) : WriteText(registries);
  return 0;
}

}  // namespace ofl::cli
