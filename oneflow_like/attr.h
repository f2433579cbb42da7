// Attribute values of ops: a closed set of plain types, stored by name.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <variant>
#include <vector>

#include "oneflow_like/dtype.h"
#include "oneflow_like/shape.h"
#include "oneflow_like/status.h"

namespace ofl {

/// One attribute value.
using AttrValue = std::variant<bool, int64_t, double, std::string, std::vector<int64_t>,
                               std::vector<double>, DType, Shape>;

/// Name of the alternative held ("int", "float", "ints", ...).
std::string AttrTypeName(const AttrValue& value);
/// Text form as printed in IR and `ofl ops`: 3, 0.5, "tanh", [1, 2], f32.
std::string AttrValueToString(const AttrValue& value);

/// Named attributes of one op instance. Ops validate them against their
/// schema before kernels run, so getters assume presence and type and throw
/// ofl::Error (an internal bug, not user input) when that is violated.
class AttrMap {
 public:
  AttrMap() = default;
  AttrMap(std::initializer_list<std::pair<const std::string, AttrValue>> values) : values_(values) {}

  AttrMap& Set(const std::string& name, AttrValue value) {
    values_[name] = std::move(value);
    return *this;
  }
  bool Has(const std::string& name) const { return values_.count(name) != 0; }
  const AttrValue& Get(const std::string& name) const;
  int64_t GetInt(const std::string& name) const { return GetAs<int64_t>(name); }
  double GetFloat(const std::string& name) const;
  bool GetBool(const std::string& name) const { return GetAs<bool>(name); }
  const std::string& GetString(const std::string& name) const { return GetAs<std::string>(name); }
  const std::vector<int64_t>& GetInts(const std::string& name) const {
    return GetAs<std::vector<int64_t>>(name);
  }
  const std::vector<double>& GetFloats(const std::string& name) const {
    return GetAs<std::vector<double>>(name);
  }
  DType GetDType(const std::string& name) const { return GetAs<DType>(name); }
  const Shape& GetShape(const std::string& name) const { return GetAs<Shape>(name); }
  const std::map<std::string, AttrValue>& values() const { return values_; }
  /// "{axis=1, keepdims=true}".
  std::string ToString() const;
  bool operator==(const AttrMap& other) const { return values_ == other.values_; }

 private:
  template <typename T>
  const T& GetAs(const std::string& name) const {
    const AttrValue& value = Get(name);
    if (!std::holds_alternative<T>(value)) {
      throw Error("[attr] '" + name + "' holds " + AttrTypeName(value) + ", read as another type");
    }
    return std::get<T>(value);
  }

  std::map<std::string, AttrValue> values_;
};

}  // namespace ofl
