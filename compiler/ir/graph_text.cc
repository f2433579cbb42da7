#include "compiler/ir/graph_text.h"

#include <cctype>
#include <charconv>
#include <cstdlib>
#include <sstream>
#include <unordered_map>

#include "sbp/slicing.h"

namespace ofl::compiler {
namespace {

// Names are quoted with the escapes \" and \\ so that any user name
// survives the round trip.
std::string Quote(const std::string& text) {
  std::string quoted = "\"";
  for (char c : text) {
    if (c == '\n') {
      quoted += "\\n";
      continue;
    }
    if (c == '"' || c == '\\') quoted += '\\';
    quoted += c;
  }
  return quoted + "\"";
}

std::string TypeText(const Value& value) {
  std::string text = value.desc.ToString();
  if (!value.sbp.empty()) text += " sbp " + NdSbpToString(value.sbp);
  if (value.sbp_hint) text += " hint " + NdSbpToString(*value.sbp_hint);
  return text;
}

// ---------------------------------------------------------------------------
// Parsing: a cursor over one line.

class Cursor {
 public:
  Cursor(const std::string& text, int line) : text_(text), line_(line) {}

  void SkipSpace() {
    while (pos_ < text_.size() && std::isspace(static_cast<unsigned char>(text_[pos_]))) ++pos_;
  }
  bool AtEnd() {
    SkipSpace();
    return pos_ >= text_.size();
  }
  char Peek() {
    SkipSpace();
    return pos_ < text_.size() ? text_[pos_] : '\0';
  }
  bool Consume(char c) {
    if (Peek() != c) return false;
    ++pos_;
    return true;
  }
  Status Expect(char c) {
    if (Consume(c)) return Status::Ok();
    return Error(std::string("expected '") + c + "'");
  }
  /// Letters, digits and _ . + - (words, numbers, dtypes, op names).
  std::string Word() {
    SkipSpace();
    const size_t start = pos_;
    while (pos_ < text_.size()) {
      const char c = text_[pos_];
      if (std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '.' || c == '+' || c == '-') {
        ++pos_;
      } else {
        break;
      }
    }
    return text_.substr(start, pos_ - start);
  }
  bool ConsumeWord(const std::string& word) {
    SkipSpace();
    const size_t save = pos_;
    if (Word() == word) return true;
    pos_ = save;
    return false;
  }
  StatusOr<std::string> QuotedString() {
    if (!Consume('"')) return Error("expected a quoted string");
    std::string out;
    while (pos_ < text_.size() && text_[pos_] != '"') {
      if (text_[pos_] == '\\' && pos_ + 1 < text_.size()) {
        ++pos_;
        out += text_[pos_] == 'n' ? '\n' : text_[pos_];
        ++pos_;
        continue;
      }
      out += text_[pos_++];
    }
    if (pos_ >= text_.size()) return Error("unterminated string");
    ++pos_;
    return out;
  }
  /// The text of a bracketed group starting at `open`, brackets included.
  StatusOr<std::string> Balanced(char open, char close) {
    SkipSpace();
    if (pos_ >= text_.size() || text_[pos_] != open) return Error(std::string("expected '") + open + "'");
    const size_t start = pos_;
    int depth = 0;
    for (; pos_ < text_.size(); ++pos_) {
      if (text_[pos_] == open) ++depth;
      if (text_[pos_] == close && --depth == 0) {
        ++pos_;
        return text_.substr(start, pos_ - start);
      }
    }
    return Error(std::string("unbalanced '") + open + "'");
  }
  StatusOr<int64_t> ValueNumber() {
    if (!Consume('%')) return Error("expected a value '%N'");
    const std::string digits = Word();
    if (digits.empty() || digits.find_first_not_of("0123456789") != std::string::npos) {
      return Error("expected a value number after '%', got '" + digits + "'");
    }
    int64_t number = 0;
    const auto [end, error] = std::from_chars(digits.data(), digits.data() + digits.size(), number);
    if (error != std::errc() || end != digits.data() + digits.size()) {
      return Error("value number '%" + digits + "' is out of range");
    }
    return number;
  }
  /// An NdSbp: "(S(0), B)" or "S(1)" or "P(max)".
  StatusOr<NdSbp> NdSbpText() {
    std::string text;
    if (Peek() == '(') {
      OFL_ASSIGN_OR_RETURN(text, Balanced('(', ')'));
    } else {
      text = Word();
      if (pos_ < text_.size() && text_[pos_] == '(') {
        OFL_ASSIGN_OR_RETURN(std::string suffix, Balanced('(', ')'));
        text += suffix;
      }
    }
    StatusOr<NdSbp> sbp = ParseNdSbp(text);
    if (!sbp.ok()) return Error(sbp.status().message());
    return sbp;
  }
  Status Error(const std::string& what) const {
    return Status::Error("[graph text] line " + std::to_string(line_) + ", column " +
                         std::to_string(pos_ + 1) + ": " + what + " in: " + text_);
  }

 private:
  const std::string& text_;
  int line_;
  size_t pos_ = 0;
};

bool LooksFloat(const std::string& word) { return word.find_first_of(".eEnN") != std::string::npos; }

StatusOr<int64_t> ToInt(Cursor& cursor, const std::string& word) {
  int64_t value = 0;
  const char* first = word.data() + (!word.empty() && word[0] == '+' ? 1 : 0);
  const auto [end, error] = std::from_chars(first, word.data() + word.size(), value);
  if (word.empty() || error != std::errc() || end != word.data() + word.size()) {
    return cursor.Error("expected a 64-bit integer, got '" + word + "'");
  }
  return value;
}

StatusOr<double> ToFloat(Cursor& cursor, const std::string& word) {
  char* end = nullptr;
  const double value = std::strtod(word.c_str(), &end);
  if (word.empty() || *end != '\0') return cursor.Error("expected a number, got '" + word + "'");
  return value;
}

StatusOr<std::vector<int64_t>> IntList(Cursor& cursor, const std::string& bracketed) {
  std::vector<int64_t> values;
  std::string inner = bracketed.substr(1, bracketed.size() - 2);
  std::stringstream stream(inner);
  std::string item;
  while (std::getline(stream, item, ',')) {
    const size_t a = item.find_first_not_of(' '), b = item.find_last_not_of(' ');
    if (a == std::string::npos) return cursor.Error("empty list element in " + bracketed);
    OFL_ASSIGN_OR_RETURN(int64_t value, ToInt(cursor, item.substr(a, b - a + 1)));
    values.push_back(value);
  }
  return values;
}

// Parses one attribute value. `expected` (from the op schema's default)
// decides between look-alike types: 1 vs 1.0, [] of ints vs of floats.
StatusOr<AttrValue> AttrValueText(Cursor& cursor, const AttrValue* expected) {
  const char first = cursor.Peek();
  if (first == '"') {
    OFL_ASSIGN_OR_RETURN(std::string text, cursor.QuotedString());
    return AttrValue(text);
  }
  if (first == '[') {
    OFL_ASSIGN_OR_RETURN(std::string list, cursor.Balanced('[', ']'));
    const bool want_floats = expected != nullptr && std::holds_alternative<std::vector<double>>(*expected);
    if (want_floats || LooksFloat(list)) {
      std::vector<double> values;
      std::stringstream stream(list.substr(1, list.size() - 2));
      std::string item;
      while (std::getline(stream, item, ',')) {
        const size_t a = item.find_first_not_of(' '), b = item.find_last_not_of(' ');
        if (a == std::string::npos) return cursor.Error("empty list element in " + list);
        OFL_ASSIGN_OR_RETURN(double value, ToFloat(cursor, item.substr(a, b - a + 1)));
        values.push_back(value);
      }
      return AttrValue(values);
    }
    OFL_ASSIGN_OR_RETURN(std::vector<int64_t> values, IntList(cursor, list));
    return AttrValue(values);
  }
  const std::string word = cursor.Word();
  if (word.empty()) return cursor.Error("expected an attribute value");
  if (word == "true" || word == "false") return AttrValue(word == "true");
  if (word == "shape") {
    OFL_ASSIGN_OR_RETURN(std::string list, cursor.Balanced('[', ']'));
    OFL_ASSIGN_OR_RETURN(std::vector<int64_t> dims, IntList(cursor, list));
    return AttrValue(Shape(dims));
  }
  if (std::isalpha(static_cast<unsigned char>(word[0])) && word != "nan" && word != "inf") {
    StatusOr<DType> dtype = ParseDType(word);
    if (!dtype.ok()) return cursor.Error("expected an attribute value, got '" + word + "'");
    return AttrValue(dtype.value());
  }
  const bool want_float = expected != nullptr && std::holds_alternative<double>(*expected);
  if (want_float || LooksFloat(word)) {
    OFL_ASSIGN_OR_RETURN(double value, ToFloat(cursor, word));
    return AttrValue(value);
  }
  OFL_ASSIGN_OR_RETURN(int64_t value, ToInt(cursor, word));
  return AttrValue(value);
}

StatusOr<AttrMap> AttrMapText(Cursor& cursor, const OpSchema* schema) {
  AttrMap attrs;
  OFL_RETURN_IF_ERROR(cursor.Expect('{'));
  if (cursor.Consume('}')) return attrs;
  do {
    const std::string name = cursor.Word();
    if (name.empty()) return cursor.Error("expected an attribute name");
    OFL_RETURN_IF_ERROR(cursor.Expect('='));
    const AttrValue* expected = nullptr;
    if (schema != nullptr) {
      for (const AttrDef& def : schema->attrs) {
        if (def.name == name) expected = &def.default_value;
      }
    }
    OFL_ASSIGN_OR_RETURN(AttrValue value, AttrValueText(cursor, expected));
    attrs.Set(name, std::move(value));
  } while (cursor.Consume(','));
  OFL_RETURN_IF_ERROR(cursor.Expect('}'));
  return attrs;
}

struct OutputText {
  TensorDesc desc;
  NdSbp sbp;
  std::optional<NdSbp> hint;
};

StatusOr<OutputText> OutputTypeText(Cursor& cursor) {
  OutputText output;
  const std::string dtype = cursor.Word();
  StatusOr<DType> parsed = ParseDType(dtype);
  if (!parsed.ok()) return cursor.Error("expected a dtype, got '" + dtype + "'");
  output.desc.dtype = parsed.value();
  OFL_ASSIGN_OR_RETURN(std::string dims, cursor.Balanced('[', ']'));
  OFL_ASSIGN_OR_RETURN(std::vector<int64_t> extents, IntList(cursor, dims));
  for (int64_t extent : extents) {
    if (extent < 0) return cursor.Error("expected non-negative extents, got " + dims);
  }
  output.desc.shape = Shape(extents);
  if (cursor.ConsumeWord("sbp")) {
    OFL_ASSIGN_OR_RETURN(output.sbp, cursor.NdSbpText());
  }
  if (cursor.ConsumeWord("hint")) {
    OFL_ASSIGN_OR_RETURN(NdSbp hint, cursor.NdSbpText());
    output.hint = std::move(hint);
  }
  return output;
}

StatusOr<Placement> PlacementText(Cursor& cursor) {
  const std::string type_name = cursor.Word();
  OFL_RETURN_IF_ERROR(cursor.Expect(':'));
  OFL_ASSIGN_OR_RETURN(std::string device_list, cursor.Balanced('[', ']'));
  if (!cursor.ConsumeWord("mesh")) return cursor.Error("expected 'mesh' after the device list");
  OFL_ASSIGN_OR_RETURN(std::string mesh, cursor.Balanced('[', ']'));
  StatusOr<DeviceType> type = ParseDeviceType(type_name);
  if (!type.ok()) return cursor.Error(type.status().message());
  std::vector<DeviceId> devices;
  std::stringstream stream(device_list.substr(1, device_list.size() - 2));
  std::string item;
  while (std::getline(stream, item, ',')) {
    const size_t a = item.find_first_not_of(' '), b = item.find_last_not_of(' ');
    if (a == std::string::npos) return cursor.Error("empty device in " + device_list);
    item = item.substr(a, b - a + 1);
    DeviceId device{type.value(), 0, 0};
    if (item[0] == 'r') {
      const size_t slash = item.find('/');
      if (slash == std::string::npos) return cursor.Error("expected rN/index, got '" + item + "'");
      OFL_ASSIGN_OR_RETURN(int64_t rank, ToInt(cursor, item.substr(1, slash - 1)));
      device.rank = static_cast<int>(rank);
      item = item.substr(slash + 1);
    }
    OFL_ASSIGN_OR_RETURN(int64_t index, ToInt(cursor, item));
    device.index = static_cast<int>(index);
    devices.push_back(device);
  }
  OFL_ASSIGN_OR_RETURN(std::vector<int64_t> hierarchy, IntList(cursor, mesh));
  StatusOr<Placement> placement = Placement::Create(type.value(), devices, Shape(hierarchy));
  if (!placement.ok()) return cursor.Error(placement.status().message());
  return placement;
}

class GraphParser {
 public:
  explicit GraphParser(const OpRegistry& ops) : ops_(ops) {}

  StatusOr<Graph> Parse(const std::string& text) {
    std::stringstream stream(text);
    std::string line;
    int number = 0;
    bool opened = false, closed = false;
    while (std::getline(stream, line)) {
      ++number;
      Cursor cursor(line, number);
      if (cursor.AtEnd() || cursor.Peek() == '#') continue;
      if (closed) return cursor.Error("text after the closing '}'");
      if (!opened) {
        if (!cursor.ConsumeWord("graph") || !cursor.Consume('{') || !cursor.AtEnd()) {
          return cursor.Error("expected 'graph {'");
        }
        opened = true;
        continue;
      }
      if (cursor.Consume('}')) {
        closed = true;
        continue;
      }
      OFL_RETURN_IF_ERROR(ParseLine(cursor));
    }
    if (!opened || !closed) {
      return Status::Error("[graph text] expected 'graph {' ... '}', got " +
                           std::string(opened ? "no closing '}'" : "no 'graph {'"));
    }
    return std::move(graph_);
  }

 private:
  StatusOr<ValueId> Lookup(Cursor& cursor) {
    OFL_ASSIGN_OR_RETURN(int64_t number, cursor.ValueNumber());
    auto it = values_.find(number);
    if (it == values_.end())
      return cursor.Error("value %" + std::to_string(number) + " is not defined above");
    return it->second;
  }

  Status ParseLine(Cursor& cursor) {
    if (cursor.ConsumeWord("fetch")) {
      OFL_ASSIGN_OR_RETURN(std::string name, cursor.QuotedString());
      OFL_RETURN_IF_ERROR(cursor.Expect('='));
      OFL_ASSIGN_OR_RETURN(ValueId value, Lookup(cursor));
      graph_.fetches().push_back(Fetch{name, value});
      return ExpectEnd(cursor);
    }
    if (cursor.ConsumeWord("minimize")) {
      OFL_ASSIGN_OR_RETURN(ValueId loss, Lookup(cursor));
      OFL_ASSIGN_OR_RETURN(AttrMap optimizer, AttrMapText(cursor, nullptr));
      graph_.SetMinimize(loss, std::move(optimizer));
      return ExpectEnd(cursor);
    }
    if (cursor.ConsumeWord("gradient")) {
      OFL_ASSIGN_OR_RETURN(ValueId variable, Lookup(cursor));
      OFL_RETURN_IF_ERROR(cursor.Expect('='));
      OFL_ASSIGN_OR_RETURN(ValueId gradient, Lookup(cursor));
      graph_.gradients()[variable] = gradient;
      return ExpectEnd(cursor);
    }
    return ParseNode(cursor);
  }

  Status ExpectEnd(Cursor& cursor) {
    if (!cursor.AtEnd()) return cursor.Error("unexpected text at the end of the line");
    return Status::Ok();
  }

  Status ParseNode(Cursor& cursor) {
    std::vector<int64_t> results;
    if (cursor.Peek() == '%') {
      do {
        OFL_ASSIGN_OR_RETURN(int64_t number, cursor.ValueNumber());
        results.push_back(number);
      } while (cursor.Consume(','));
      OFL_RETURN_IF_ERROR(cursor.Expect('='));
    }
    const std::string op = cursor.Word();
    if (op.empty()) return cursor.Error("expected an op name");
    const bool reserved = op == kInputOp || op == kVariableOp || op == kBoxingOp;
    const OpSchema* schema = reserved ? nullptr : ops_.Find(op);
    if (!reserved && schema == nullptr) return cursor.Error("unknown op '" + op + "'");
    OFL_RETURN_IF_ERROR(cursor.Expect('('));
    std::vector<ValueId> inputs;
    if (!cursor.Consume(')')) {
      do {
        OFL_ASSIGN_OR_RETURN(ValueId input, Lookup(cursor));
        inputs.push_back(input);
      } while (cursor.Consume(','));
      OFL_RETURN_IF_ERROR(cursor.Expect(')'));
    }
    AttrMap attrs;
    if (cursor.Peek() == '{') {
      OFL_ASSIGN_OR_RETURN(attrs, AttrMapText(cursor, schema));
    }
    OFL_RETURN_IF_ERROR(cursor.Expect(':'));
    OFL_RETURN_IF_ERROR(cursor.Expect('('));
    std::vector<OutputText> outputs;
    if (!cursor.Consume(')')) {
      do {
        OFL_ASSIGN_OR_RETURN(OutputText output, OutputTypeText(cursor));
        outputs.push_back(std::move(output));
      } while (cursor.Consume(','));
      OFL_RETURN_IF_ERROR(cursor.Expect(')'));
    }
    if (outputs.size() != results.size()) {
      return cursor.Error("expected " + std::to_string(results.size()) + " output types, got " +
                          std::to_string(outputs.size()));
    }
    if (!cursor.ConsumeWord("on")) return cursor.Error("expected 'on PLACEMENT'");
    OFL_ASSIGN_OR_RETURN(Placement placement, PlacementText(cursor));
    std::vector<NdSbp> reads;
    if (cursor.ConsumeWord("reads")) {
      OFL_RETURN_IF_ERROR(cursor.Expect('('));
      if (!cursor.Consume(')')) {
        do {
          OFL_ASSIGN_OR_RETURN(NdSbp sbp, cursor.NdSbpText());
          reads.push_back(std::move(sbp));
        } while (cursor.Consume(','));
        OFL_RETURN_IF_ERROR(cursor.Expect(')'));
      }
      if (reads.size() != inputs.size()) {
        return cursor.Error("'reads' lists " + std::to_string(reads.size()) + " layouts for " +
                            std::to_string(inputs.size()) + " inputs");
      }
    }
    NodeRole role = NodeRole::kForward;
    if (cursor.ConsumeWord("role")) {
      StatusOr<NodeRole> parsed = ParseNodeRole(cursor.Word());
      if (!parsed.ok()) return cursor.Error(parsed.status().message());
      role = parsed.value();
    }
    int stage = -1;
    if (cursor.ConsumeWord("stage")) {
      OFL_ASSIGN_OR_RETURN(const int64_t parsed, ToInt(cursor, cursor.Word()));
      if (parsed < 0) return cursor.Error("stage: expected an index >= 0, got " + std::to_string(parsed));
      stage = static_cast<int>(parsed);
    }
    std::string name;
    if (cursor.ConsumeWord("name")) {
      OFL_ASSIGN_OR_RETURN(name, cursor.QuotedString());
    }
    OFL_RETURN_IF_ERROR(ExpectEnd(cursor));

    if (!name.empty() && graph_.FindNode(name) >= 0)
      return cursor.Error("node name \"" + name + "\" is used twice");
    NodeId id = -1;
    if (reserved) {
      std::vector<TensorDesc> descs;
      for (const OutputText& output : outputs) descs.push_back(output.desc);
      id = graph_.AddNode(op, name, inputs, attrs, descs, placement, role);
    } else {
      StatusOr<NodeId> added = graph_.AddOp(ops_, op, name, inputs, attrs, placement, role);
      if (!added.ok()) return cursor.Error(added.status().message());
      id = added.value();
      const Node& node = graph_.node(id);
      if (node.outputs.size() != outputs.size()) {
        return cursor.Error("[" + op + "] infers " + std::to_string(node.outputs.size()) +
                            " outputs, the text lists " + std::to_string(outputs.size()));
      }
      for (size_t i = 0; i < outputs.size(); ++i) {
        const TensorDesc& inferred = graph_.value(node.outputs[i]).desc;
        if (inferred != outputs[i].desc) {
          return cursor.Error("[" + op + "] output " + std::to_string(i) + " infers " + inferred.ToString() +
                              ", the text says " + outputs[i].desc.ToString());
        }
      }
    }
    Node& node = graph_.mutable_node(id);
    node.input_sbps = std::move(reads);
    node.stage = stage;
    for (size_t i = 0; i < outputs.size(); ++i) {
      Value& value = graph_.mutable_value(node.outputs[i]);
      value.sbp = outputs[i].sbp;
      value.sbp_hint = outputs[i].hint;
      if (!values_.emplace(results[i], value.id).second) {
        return cursor.Error("value %" + std::to_string(results[i]) + " is defined twice");
      }
    }
    return Status::Ok();
  }

  const OpRegistry& ops_;
  Graph graph_;
  std::unordered_map<int64_t, ValueId> values_;
};

}  // namespace

std::string PrintGraph(const Graph& graph) {
  std::ostringstream out;
  out << "graph {\n";
  StatusOr<std::vector<NodeId>> order = graph.TopologicalOrder();
  if (!order.ok()) {
    out << "  # " << order.status().message() << "\n}\n";
    return out.str();
  }
  std::vector<int64_t> number(graph.num_value_slots(), -1);
  int64_t next = 0;
  auto ref = [&](ValueId id) {
    return id >= 0 && number[id] >= 0 ? "%" + std::to_string(number[id]) : std::string("%?");
  };
  for (NodeId id : order.value()) {
    const Node& node = graph.node(id);
    out << "  ";
    for (size_t i = 0; i < node.outputs.size(); ++i) {
      number[node.outputs[i]] = next++;
      out << (i ? ", " : "") << ref(node.outputs[i]);
    }
    if (!node.outputs.empty()) out << " = ";
    out << node.op << "(";
    for (size_t i = 0; i < node.inputs.size(); ++i) out << (i ? ", " : "") << ref(node.inputs[i]);
    out << ")";
    if (!node.attrs.values().empty()) out << " " << node.attrs.ToString();
    out << " : (";
    for (size_t i = 0; i < node.outputs.size(); ++i)
      out << (i ? ", " : "") << TypeText(graph.value(node.outputs[i]));
    out << ") on " << node.placement.ToString();
    if (!node.input_sbps.empty()) {
      out << " reads (";
      for (size_t i = 0; i < node.input_sbps.size(); ++i)
        out << (i ? ", " : "") << NdSbpToString(node.input_sbps[i]);
      out << ")";
    }
    out << " role " << NodeRoleName(node.role);
    if (node.stage >= 0) out << " stage " << node.stage;
    if (!node.name.empty()) out << " name " << Quote(node.name);
    out << "\n";
  }
  for (const Fetch& fetch : graph.fetches())
    out << "  fetch " << Quote(fetch.name) << " = " << ref(fetch.value) << "\n";
  if (graph.loss() >= 0)
    out << "  minimize " << ref(graph.loss()) << " " << graph.optimizer().ToString() << "\n";
  for (const auto& [variable, gradient] : graph.gradients()) {
    out << "  gradient " << ref(variable) << " = " << ref(gradient) << "\n";
  }
  out << "}\n";
  return out.str();
}

StatusOr<Graph> ParseGraph(const std::string& text, const OpRegistry& ops) {
  return GraphParser(ops).Parse(text);
}

StatusOr<Placement> ParsePlacement(const std::string& text) {
  Cursor cursor(text, 1);
  OFL_ASSIGN_OR_RETURN(Placement placement, PlacementText(cursor));
  if (!cursor.AtEnd()) return cursor.Error("unexpected text after the placement");
  return placement;
}

}  // namespace ofl::compiler
