#include "api/checkpoint.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <bit>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <limits>
#include <sstream>
#include <utility>
#include <vector>

namespace ofl::api {
namespace {

// The data section is copied as raw bytes, which is the little-endian
// layout safetensors requires only on a little-endian host.
static_assert(std::endian::native == std::endian::little, "checkpoints assume a little-endian host");

// Headers larger than this are refused as corrupt (safetensors uses 100 MB).
constexpr uint64_t kMaxHeaderBytes = 100ull << 20;

std::string Where(const std::string& path) { return "[checkpoint] '" + path + "'"; }

// ---- dtypes ---------------------------------------------------------------

const std::pair<DType, const char*> kDTypeNames[] = {
    {DType::kF32, "F32"},   {DType::kF64, "F64"}, {DType::kF16, "F16"},
    {DType::kBF16, "BF16"}, {DType::kI64, "I64"}, {DType::kI32, "I32"},
    {DType::kI8, "I8"},     {DType::kU8, "U8"},   {DType::kBool, "BOOL"},
};

std::string SafetensorsDType(DType dtype) {
  for (const auto& [candidate, name] : kDTypeNames)
    if (candidate == dtype) return name;
  return "?";
}

bool ParseSafetensorsDType(const std::string& name, DType* dtype) {
  for (const auto& [candidate, text] : kDTypeNames) {
    if (name == text) {
      *dtype = candidate;
      return true;
    }
  }
  return false;
}

// ---- a JSON subset: objects, arrays, strings, integers, true/false/null --

struct Json {
  enum class Kind { kNull, kBool, kInteger, kString, kArray, kObject };
  Kind kind = Kind::kNull;
  bool boolean = false;
  int64_t integer = 0;
  std::string string;
  std::vector<Json> array;
  std::vector<std::pair<std::string, Json>> object;  // in file order
};

void WriteJsonString(std::ostringstream& out, const std::string& text) {
  out << '"';
  for (unsigned char c : text) {
    if (c == '"' || c == '\\') {
      out << '\\' << c;
    } else if (c < 0x20) {
      static const char kHex[] = "0123456789abcdef";
      out << "\\u00" << kHex[c >> 4] << kHex[c & 15];
    } else {
      out << c;
    }
  }
  out << '"';
}

class JsonParser {
 public:
  explicit JsonParser(const std::string& text) : text_(text) {}

  // Parses the whole text as one value; `error` says what and where.
  bool Parse(Json* value, std::string* error) {
    if (!ParseValue(value, 0) || (SkipSpace(), position_ != text_.size() && Fail("trailing characters"))) {
      *error = error_;
      return false;
    }
    return true;
  }

 private:
  bool Fail(const std::string& what) {
    if (error_.empty()) error_ = what + " at header byte " + std::to_string(position_);
    return false;
  }
  void SkipSpace() {
    while (position_ < text_.size() && std::strchr(" \t\r\n", text_[position_]) != nullptr &&
           text_[position_] != '\0')
      ++position_;
  }
  bool Consume(char c) {
    SkipSpace();
    if (position_ < text_.size() && text_[position_] == c) {
      ++position_;
      return true;
    }
    return false;
  }
  bool ParseLiteral(const char* literal) {
    const size_t length = std::strlen(literal);
    if (text_.compare(position_, length, literal) != 0) return Fail("invalid value");
    position_ += length;
    return true;
  }
  bool ParseValue(Json* value, int depth) {
    if (depth > 64) return Fail("nesting too deep");
    SkipSpace();
    if (position_ >= text_.size()) return Fail("unexpected end");
    const char c = text_[position_];
    if (c == '{') return ParseObject(value, depth);
    if (c == '[') return ParseArray(value, depth);
    if (c == '"') {
      value->kind = Json::Kind::kString;
      return ParseString(&value->string);
    }
    if (c == '-' || (c >= '0' && c <= '9')) return ParseInteger(value);
    if (c == 't') {
      value->kind = Json::Kind::kBool;
      value->boolean = true;
      return ParseLiteral("true");
    }
    if (c == 'f') {
      value->kind = Json::Kind::kBool;
      return ParseLiteral("false");
    }
    if (c == 'n') return ParseLiteral("null");
    return Fail(std::string("unexpected character '") + c + "'");
  }
  bool ParseInteger(Json* value) {
    value->kind = Json::Kind::kInteger;
    const bool negative = text_[position_] == '-';
    if (negative) ++position_;
    if (position_ >= text_.size() || text_[position_] < '0' || text_[position_] > '9')
      return Fail("invalid number");
    uint64_t magnitude = 0;
    while (position_ < text_.size() && text_[position_] >= '0' && text_[position_] <= '9') {
      const uint64_t digit = static_cast<uint64_t>(text_[position_] - '0');
      if (magnitude > (static_cast<uint64_t>(std::numeric_limits<int64_t>::max()) - digit) / 10)
        return Fail("integer out of range");
      magnitude = magnitude * 10 + digit;
      ++position_;
    }
    if (position_ < text_.size() && std::strchr(".eE", text_[position_]) != nullptr &&
        text_[position_] != '\0')
      return Fail("non-integer number");
    value->integer = negative ? -static_cast<int64_t>(magnitude) : static_cast<int64_t>(magnitude);
    return true;
  }
  bool ParseString(std::string* out) {
    ++position_;  // the opening quote
    while (position_ < text_.size()) {
      const char c = text_[position_++];
      if (c == '"') return true;
      if (static_cast<unsigned char>(c) < 0x20) return Fail("control character in string");
      if (c != '\\') {
        out->push_back(c);
        continue;
      }
      if (position_ >= text_.size()) break;
      const char escape = text_[position_++];
      switch (escape) {
        case '"':
        case '\\':
        case '/':
          out->push_back(escape);
          break;
        case 'b':
          out->push_back('\b');
          break;
        case 'f':
          out->push_back('\f');
          break;
        case 'n':
          out->push_back('\n');
          break;
        case 'r':
          out->push_back('\r');
          break;
        case 't':
          out->push_back('\t');
          break;
        case 'u': {
          if (position_ + 4 > text_.size()) return Fail("bad \\u escape");
          uint32_t code = 0;
          for (int i = 0; i < 4; ++i) {
            const char h = text_[position_++];
            code <<= 4;
            if (h >= '0' && h <= '9')
              code |= h - '0';
            else if (h >= 'a' && h <= 'f')
              code |= h - 'a' + 10;
            else if (h >= 'A' && h <= 'F')
              code |= h - 'A' + 10;
            else
              return Fail("bad \\u escape");
          }
          // UTF-8 encode (surrogate pairs are kept as two 3-byte sequences:
          // names here are ASCII in practice).
          if (code < 0x80) {
            out->push_back(static_cast<char>(code));
          } else if (code < 0x800) {
            out->push_back(static_cast<char>(0xC0 | (code >> 6)));
            out->push_back(static_cast<char>(0x80 | (code & 0x3F)));
          } else {
            out->push_back(static_cast<char>(0xE0 | (code >> 12)));
            out->push_back(static_cast<char>(0x80 | ((code >> 6) & 0x3F)));
            out->push_back(static_cast<char>(0x80 | (code & 0x3F)));
          }
          break;
        }
        default:
          return Fail("bad escape");
      }
    }
    return Fail("unterminated string");
  }
  bool ParseArray(Json* value, int depth) {
    value->kind = Json::Kind::kArray;
    ++position_;
    if (Consume(']')) return true;
    while (true) {
      value->array.emplace_back();
      if (!ParseValue(&value->array.back(), depth + 1)) return false;
      if (Consume(']')) return true;
      if (!Consume(',')) return Fail("expected ',' or ']'");
    }
  }
  bool ParseObject(Json* value, int depth) {
    value->kind = Json::Kind::kObject;
    ++position_;
    if (Consume('}')) return true;
    while (true) {
      SkipSpace();
      if (position_ >= text_.size() || text_[position_] != '"') return Fail("expected a key string");
      std::string key;
      if (!ParseString(&key)) return false;
      if (!Consume(':')) return Fail("expected ':'");
      value->object.emplace_back(std::move(key), Json{});
      if (!ParseValue(&value->object.back().second, depth + 1)) return false;
      if (Consume('}')) return true;
      if (!Consume(',')) return Fail("expected ',' or '}'");
    }
  }

  const std::string& text_;
  size_t position_ = 0;
  std::string error_;
};

const Json* Member(const Json& object, const std::string& key) {
  for (const auto& [name, value] : object.object)
    if (name == key) return &value;
  return nullptr;
}

// ---- files ------------------------------------------------------------------

std::string ErrnoText() { return std::strerror(errno); }

// Writes all of `bytes` to `fd`, retrying short writes.
bool WriteAll(int fd, const char* bytes, size_t size) {
  while (size > 0) {
    const ssize_t written = ::write(fd, bytes, size);
    if (written < 0) {
      if (errno == EINTR) continue;
      return false;
    }
    bytes += written;
    size -= static_cast<size_t>(written);
  }
  return true;
}

// One tensor's header entry as read, before its bytes are copied.
struct Entry {
  std::string name;
  TensorDesc desc;
  uint64_t begin = 0;
  uint64_t end = 0;
};

}  // namespace

Status WriteSafetensors(const std::string& path, const std::map<std::string, HostTensor>& tensors,
                        const std::map<std::string, std::string>& metadata) {
  std::ostringstream header;
  header << '{';
  bool first_entry = true;  // of the top-level object
  if (!metadata.empty()) {
    header << "\"__metadata__\":{";
    first_entry = false;
    bool first_key = true;
    for (const auto& [key, value] : metadata) {
      if (!first_key) header << ',';
      first_key = false;
      WriteJsonString(header, key);
      header << ':';
      WriteJsonString(header, value);
    }
    header << '}';
  }
  uint64_t offset = 0;
  for (const auto& [name, tensor] : tensors) {
    OFL_CHECK_OR_RETURN(name != "__metadata__")
        << Where(path) << ": a tensor may not be named '__metadata__'";
    if (!first_entry) header << ',';
    first_entry = false;
    WriteJsonString(header, name);
    header << ":{\"dtype\":\"" << SafetensorsDType(tensor.dtype()) << "\",\"shape\":[";
    for (int axis = 0; axis < tensor.shape().rank(); ++axis)
      header << (axis > 0 ? "," : "") << tensor.shape()[axis];
    const uint64_t end = offset + tensor.ByteSize();
    header << "],\"data_offsets\":[" << offset << ',' << end << "]}";
    offset = end;
  }
  header << '}';
  std::string header_text = header.str();
  // Pad so the data section starts 8-byte aligned (as safetensors writes it).
  header_text.append((8 - header_text.size() % 8) % 8, ' ');

  const std::string temporary = path + ".tmp." + std::to_string(::getpid());
  const int fd = ::open(temporary.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  OFL_CHECK_OR_RETURN(fd >= 0) << Where(path) << ": cannot create temporary file '" << temporary
                               << "': " << ErrnoText();
  auto fail = [&](const std::string& what) {
    const std::string reason = ErrnoText();
    ::close(fd);
    ::unlink(temporary.c_str());
    return Status::Error(Where(path) + ": " + what + ": " + reason);
  };
  uint8_t length[8];
  for (int i = 0; i < 8; ++i)
    length[i] = static_cast<uint8_t>(static_cast<uint64_t>(header_text.size()) >> (8 * i));
  if (!WriteAll(fd, reinterpret_cast<const char*>(length), 8) ||
      !WriteAll(fd, header_text.data(), header_text.size()))
    return fail("cannot write the header");
  for (const auto& [name, tensor] : tensors) {
    if (!WriteAll(fd, static_cast<const char*>(tensor.raw()), tensor.ByteSize()))
      return fail("cannot write tensor '" + name + "'");
  }
  if (::fsync(fd) != 0) return fail("cannot fsync");
  if (::close(fd) != 0) {
    const std::string reason = ErrnoText();
    ::unlink(temporary.c_str());
    return Status::Error(Where(path) + ": cannot close: " + reason);
  }
  if (::rename(temporary.c_str(), path.c_str()) != 0) {
    const std::string reason = ErrnoText();
    ::unlink(temporary.c_str());
    return Status::Error(Where(path) + ": cannot rename '" + temporary + "' over it: " + reason);
  }
  // Make the rename itself durable (best effort: some file systems refuse).
  const size_t slash = path.rfind('/');
  const std::string directory = slash == std::string::npos ? "." : slash == 0 ? "/" : path.substr(0, slash);
  const int directory_fd = ::open(directory.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (directory_fd >= 0) {
    (void)::fsync(directory_fd);
    ::close(directory_fd);
  }
  return Status::Ok();
}

StatusOr<SafetensorsContents> ReadSafetensors(const std::string& path) {
  std::ifstream file(path, std::ios::binary);
  OFL_CHECK_OR_RETURN(file.is_open()) << Where(path) << ": cannot open: " << ErrnoText();
  file.seekg(0, std::ios::end);
  const std::streamoff end = file.tellg();
  // A directory opens but has no size.
  OFL_CHECK_OR_RETURN(end >= 0) << Where(path) << ": cannot read: not a regular file";
  const uint64_t file_size = static_cast<uint64_t>(end);
  file.seekg(0, std::ios::beg);
  OFL_CHECK_OR_RETURN(file_size >= 8)
      << Where(path) << ": truncated: " << file_size << " bytes, expected at least the 8-byte header length";
  uint8_t length_bytes[8];
  file.read(reinterpret_cast<char*>(length_bytes), 8);
  uint64_t header_size = 0;
  for (int i = 0; i < 8; ++i) header_size |= static_cast<uint64_t>(length_bytes[i]) << (8 * i);
  OFL_CHECK_OR_RETURN(header_size <= kMaxHeaderBytes)
      << Where(path) << ": corrupt header: header length " << header_size << " exceeds the limit of "
      << kMaxHeaderBytes << " bytes (not a safetensors file?)";
  OFL_CHECK_OR_RETURN(header_size <= file_size - 8)
      << Where(path) << ": truncated: header length " << header_size << " but only " << file_size - 8
      << " bytes follow";
  std::string header_text(header_size, '\0');
  file.read(header_text.data(), static_cast<std::streamsize>(header_size));
  OFL_CHECK_OR_RETURN(file.good()) << Where(path) << ": cannot read the header: " << ErrnoText();

  Json header;
  std::string parse_error;
  OFL_CHECK_OR_RETURN(JsonParser(header_text).Parse(&header, &parse_error))
      << Where(path) << ": corrupt header: " << parse_error;
  OFL_CHECK_OR_RETURN(header.kind == Json::Kind::kObject)
      << Where(path) << ": corrupt header: not a JSON object";

  SafetensorsContents contents;
  std::vector<Entry> entries;
  std::map<std::string, int> seen;
  for (const auto& [name, value] : header.object) {
    OFL_CHECK_OR_RETURN(seen[name]++ == 0)
        << Where(path) << ": corrupt header: key '" << name << "' appears twice";
    if (name == "__metadata__") {
      OFL_CHECK_OR_RETURN(value.kind == Json::Kind::kObject)
          << Where(path) << ": corrupt header: __metadata__ must be an object of strings";
      for (const auto& [key, text] : value.object) {
        OFL_CHECK_OR_RETURN(text.kind == Json::Kind::kString)
            << Where(path) << ": corrupt header: __metadata__ value '" << key << "' must be a string";
        contents.metadata[key] = text.string;
      }
      continue;
    }
    const std::string tensor = Where(path) + ": corrupt header: tensor '" + name + "'";
    OFL_CHECK_OR_RETURN(value.kind == Json::Kind::kObject) << tensor << " must be an object";
    const Json* dtype = Member(value, "dtype");
    const Json* shape = Member(value, "shape");
    const Json* offsets = Member(value, "data_offsets");
    OFL_CHECK_OR_RETURN(dtype != nullptr && dtype->kind == Json::Kind::kString)
        << tensor << ": expected a \"dtype\" string";
    OFL_CHECK_OR_RETURN(shape != nullptr && shape->kind == Json::Kind::kArray)
        << tensor << ": expected a \"shape\" array";
    OFL_CHECK_OR_RETURN(offsets != nullptr && offsets->kind == Json::Kind::kArray &&
                        offsets->array.size() == 2)
        << tensor << ": expected \"data_offsets\" [begin, end]";
    Entry entry;
    entry.name = name;
    OFL_CHECK_OR_RETURN(ParseSafetensorsDType(dtype->string, &entry.desc.dtype))
        << tensor << ": unsupported dtype '" << dtype->string << "'";
    std::vector<int64_t> dims;
    uint64_t elements = 1;
    for (const Json& dim : shape->array) {
      OFL_CHECK_OR_RETURN(dim.kind == Json::Kind::kInteger && dim.integer >= 0)
          << tensor << ": shape extents must be non-negative integers";
      dims.push_back(dim.integer);
      OFL_CHECK_OR_RETURN(dim.integer == 0 ||
                          elements <= (uint64_t{1} << 56) / static_cast<uint64_t>(dim.integer))
          << tensor << ": shape is too large";
      elements *= static_cast<uint64_t>(dim.integer);
    }
    entry.desc.shape = Shape(std::move(dims));
    for (const Json& offset : offsets->array) {
      OFL_CHECK_OR_RETURN(offset.kind == Json::Kind::kInteger && offset.integer >= 0)
          << tensor << ": data_offsets must be non-negative integers";
    }
    entry.begin = static_cast<uint64_t>(offsets->array[0].integer);
    entry.end = static_cast<uint64_t>(offsets->array[1].integer);
    OFL_CHECK_OR_RETURN(entry.begin <= entry.end)
        << tensor << ": data_offsets [" << entry.begin << ", " << entry.end << "] are reversed";
    const uint64_t expected_bytes = elements * SizeOf(entry.desc.dtype);
    OFL_CHECK_OR_RETURN(entry.end - entry.begin == expected_bytes)
        << tensor << ": data_offsets [" << entry.begin << ", " << entry.end << "] hold "
        << entry.end - entry.begin << " bytes but " << entry.desc.ToString() << " needs " << expected_bytes;
    entries.push_back(std::move(entry));
  }

  // Offsets must tile the data section exactly: no overlap, no gap, nothing
  // beyond the end of the file.
  std::sort(entries.begin(), entries.end(), [](const Entry& a, const Entry& b) {
    return a.begin != b.begin ? a.begin < b.begin : a.end < b.end;
  });
  const uint64_t data_size = file_size - 8 - header_size;
  uint64_t expected_begin = 0;
  for (size_t i = 0; i < entries.size(); ++i) {
    const Entry& entry = entries[i];
    OFL_CHECK_OR_RETURN(entry.begin >= expected_begin)
        << Where(path) << ": corrupt header: tensor '" << entry.name << "' data_offsets [" << entry.begin
        << ", " << entry.end << "] overlap tensor '" << entries[i - 1].name << "'";
    OFL_CHECK_OR_RETURN(entry.begin == expected_begin)
        << Where(path) << ": corrupt header: gap of " << entry.begin - expected_begin
        << " bytes in the data section before tensor '" << entry.name << "'";
    OFL_CHECK_OR_RETURN(entry.end <= data_size)
        << Where(path) << ": truncated: tensor '" << entry.name << "' needs data bytes [" << entry.begin
        << ", " << entry.end << ") but the data section has only " << data_size << " bytes";
    expected_begin = entry.end;
  }
  OFL_CHECK_OR_RETURN(expected_begin == data_size)
      << Where(path) << ": corrupt: " << data_size - expected_begin
      << " bytes after the last tensor's data (file longer than its header says)";

  const uint64_t data_start = 8 + header_size;
  for (const Entry& entry : entries) {
    HostTensor tensor(entry.desc);
    file.seekg(static_cast<std::streamoff>(data_start + entry.begin), std::ios::beg);
    file.read(static_cast<char*>(tensor.raw()), static_cast<std::streamsize>(entry.end - entry.begin));
    OFL_CHECK_OR_RETURN(file.good()) << Where(path) << ": cannot read tensor '" << entry.name
                                     << "': " << ErrnoText();
    contents.tensors.emplace(entry.name, std::move(tensor));
  }
  return contents;
}

Status SaveCheckpoint(const Session& session, const std::string& path) {
  std::map<std::string, HostTensor> tensors;
  std::map<std::string, std::string> metadata{{"format", kCheckpointFormat},
                                              {"format_version", kCheckpointFormatVersion}};
  for (const VariableDesc& variable : session.compiled().plan.variables) {
    StatusOr<HostTensor> value = session.ReadVariable(variable.name);
    OFL_CHECK_OR_RETURN(value.ok()) << Where(path) << ": cannot read variable '" << variable.name
                                    << "': " << value.status().message();
    if (variable.name == "optimizer.step" && value.value().NumElements() == 1)
      metadata["step"] = std::to_string(static_cast<int64_t>(value.value().GetAsDouble(0)));
    tensors.emplace(variable.name, std::move(value).value());
  }
  return WriteSafetensors(path, tensors, metadata);
}

Status LoadCheckpoint(Session& session, const std::string& path, const LoadCheckpointOptions& options) {
  OFL_ASSIGN_OR_RETURN(SafetensorsContents contents, ReadSafetensors(path));
  const auto format = contents.metadata.find("format");
  OFL_CHECK_OR_RETURN(format != contents.metadata.end() && format->second == kCheckpointFormat)
      << Where(path) << ": not a " << kCheckpointFormat << " checkpoint: __metadata__ \"format\" is "
      << (format == contents.metadata.end() ? std::string("missing") : "'" + format->second + "'");
  const auto version = contents.metadata.find("format_version");
  OFL_CHECK_OR_RETURN(version != contents.metadata.end() && version->second == kCheckpointFormatVersion)
      << Where(path) << ": unsupported format_version "
      << (version == contents.metadata.end() ? std::string("(missing)") : "'" + version->second + "'")
      << ", expected '" << kCheckpointFormatVersion << "'";

  // Check everything before writing anything, so a bad file changes nothing.
  const std::vector<VariableDesc>& variables = session.compiled().plan.variables;
  std::map<std::string, const VariableDesc*> by_name;
  for (const VariableDesc& variable : variables) {
    by_name[variable.name] = &variable;
    const auto found = contents.tensors.find(variable.name);
    OFL_CHECK_OR_RETURN(found != contents.tensors.end())
        << Where(path) << ": missing tensor '" << variable.name << "' (expected " << variable.desc.ToString()
        << ")";
    OFL_CHECK_OR_RETURN(found->second.desc() == variable.desc)
        << Where(path) << ": tensor '" << variable.name << "': expected " << variable.desc.ToString()
        << ", found " << found->second.desc().ToString();
  }
  if (!options.allow_extra_tensors) {
    for (const auto& [name, tensor] : contents.tensors) {
      OFL_CHECK_OR_RETURN(by_name.count(name) > 0)
          << Where(path) << ": tensor '" << name << "' (" << tensor.desc().ToString()
          << ") is not a variable of the session";
    }
  }
  for (const VariableDesc& variable : variables) {
    OFL_RETURN_IF_ERROR(session.WriteVariable(variable.name, contents.tensors.at(variable.name))
                            .WithContext(Where(path) + ": tensor '" + variable.name + "'"));
  }
  return Status::Ok();
}

}  // namespace ofl::api
