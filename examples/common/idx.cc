#include "examples/common/idx.h"

#include <zlib.h>

#include <memory>

namespace ofl::examples {
namespace {

struct GzCloser {
  void operator()(gzFile_s* file) const { gzclose(file); }
};

// Reads exactly `size` bytes; false on a short read (truncated file).
bool ReadExactly(gzFile file, void* out, size_t size) {
  auto* bytes = static_cast<unsigned char*>(out);
  while (size > 0) {
    // gzread takes an unsigned count; read in chunks well below its limit.
    const unsigned chunk = static_cast<unsigned>(std::min<size_t>(size, 1u << 30));
    const int got = gzread(file, bytes, chunk);
    if (got <= 0) return false;
    bytes += got;
    size -= static_cast<size_t>(got);
  }
  return true;
}

}  // namespace

int64_t IdxArray::item_size() const {
  int64_t size = 1;
  for (size_t i = 1; i < dims.size(); ++i) size *= dims[i];
  return size;
}

StatusOr<IdxArray> ReadIdx(const std::string& path) {
  std::unique_ptr<gzFile_s, GzCloser> file(gzopen(path.c_str(), "rb"));
  if (file == nullptr) return Status::Error("[idx] cannot open '" + path + "': no such file or not readable");
  unsigned char magic[4];
  if (!ReadExactly(file.get(), magic, 4))
    return Status::Error("[idx] '" + path + "': file is empty or truncated");
  // Magic: two zero bytes, the element type (0x08 = unsigned byte), the rank.
  if (magic[0] != 0 || magic[1] != 0 || magic[2] != 0x08 || magic[3] == 0 || magic[3] > 4) {
    return Status::Error("[idx] '" + path +
                         "': expected the magic 00 00 08 <rank 1..4> of an unsigned-byte IDX file");
  }
  IdxArray array;
  int64_t total = 1;
  for (int axis = 0; axis < magic[3]; ++axis) {
    unsigned char bytes[4];
    if (!ReadExactly(file.get(), bytes, 4)) return Status::Error("[idx] '" + path + "': truncated header");
    // Dimensions are big-endian 32-bit.
    const int64_t dim =
        (int64_t{bytes[0]} << 24) | (int64_t{bytes[1]} << 16) | (int64_t{bytes[2]} << 8) | bytes[3];
    array.dims.push_back(dim);
    total *= dim;
  }
  array.data.resize(static_cast<size_t>(total));
  if (!ReadExactly(file.get(), array.data.data(), array.data.size())) {
    return Status::Error("[idx] '" + path + "': expected " + std::to_string(total) +
                         " data bytes, file is truncated");
  }
  return array;
}

}  // namespace ofl::examples
