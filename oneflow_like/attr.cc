#include "oneflow_like/attr.h"

#include <charconv>
#include <sstream>

namespace ofl {

std::string AttrTypeName(const AttrValue& value) {
  static const char* const kNames[] = {"bool", "int", "float", "string", "ints", "floats", "dtype", "shape"};
  return kNames[value.index()];
}

namespace {

// Shortest text that reads back to the same double, with a decimal point
// (or exponent, or nan/inf) so that it never looks like an integer.
std::string FloatToString(double value) {
  char buffer[64];
  const auto result = std::to_chars(buffer, buffer + sizeof(buffer), value);
  std::string text(buffer, result.ptr);
  if (text.find_first_of(".eEn") == std::string::npos) text += ".0";
  return text;
}

}  // namespace

std::string AttrValueToString(const AttrValue& value) {
  std::ostringstream out;
  std::visit(
      [&](const auto& v) {
        using T = std::decay_t<decltype(v)>;
        if constexpr (std::is_same_v<T, bool>) {
          out << (v ? "true" : "false");
        } else if constexpr (std::is_same_v<T, int64_t>) {
          out << v;
        } else if constexpr (std::is_same_v<T, double>) {
          out << FloatToString(v);
        } else if constexpr (std::is_same_v<T, std::string>) {
          out << '"' << v << '"';
        } else if constexpr (std::is_same_v<T, std::vector<int64_t>>) {
          out << "[";
          for (size_t i = 0; i < v.size(); ++i) out << (i ? ", " : "") << v[i];
          out << "]";
        } else if constexpr (std::is_same_v<T, std::vector<double>>) {
          // Every element keeps a decimal point so that the text form tells
          // a float list from an int list ([1.0, 2.0] vs [1, 2]).
          out << "[";
          for (size_t i = 0; i < v.size(); ++i) out << (i ? ", " : "") << FloatToString(v[i]);
          out << "]";
        } else if constexpr (std::is_same_v<T, DType>) {
          out << DTypeName(v);
        } else {
          out << "shape" << v.ToString();
        }
      },
      value);
  return out.str();
}

const AttrValue& AttrMap::Get(const std::string& name) const {
  auto it = values_.find(name);
  if (it == values_.end()) throw Error("[attr] missing attribute '" + name + "'");
  return it->second;
}

double AttrMap::GetFloat(const std::string& name) const {
  const AttrValue& value = Get(name);
  if (std::holds_alternative<int64_t>(value)) return static_cast<double>(std::get<int64_t>(value));
  return GetAs<double>(name);
}

std::string AttrMap::ToString() const {
  std::ostringstream out;
  out << "{";
  bool first = true;
  for (const auto& [name, value] : values_) {
    out << (first ? "" : ", ") << name << "=" << AttrValueToString(value);
    first = false;
  }
  out << "}";
  return out.str();
}

}  // namespace ofl
