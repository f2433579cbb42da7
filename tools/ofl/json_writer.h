// A minimal streaming JSON writer for the command-line tool's --json output.
#pragma once

#include <sstream>
#include <string>
#include <vector>

namespace ofl::cli {

/// Quotes and escapes `text` as a JSON string.
std::string JsonString(const std::string& text);

/// Writes nested objects and arrays; the caller pairs Begin/End calls.
class JsonWriter {
 public:
  JsonWriter& BeginObject();
  JsonWriter& EndObject();
  JsonWriter& BeginArray();
  JsonWriter& EndArray();
  /// The key of the next value inside an object.
  JsonWriter& Key(const std::string& key);
  JsonWriter& String(const std::string& value);
  JsonWriter& Bool(bool value);
  JsonWriter& Number(double value);
  JsonWriter& StringArray(const std::vector<std::string>& values);
  std::string str() const { return out_.str(); }

 private:
  void Separate();
  std::ostringstream out_;
  std::vector<bool> first_in_level_;
  bool after_key_ = false;
};

}  // namespace ofl::cli
