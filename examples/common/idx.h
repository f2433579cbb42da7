// IDX files (the MNIST / Fashion-MNIST format), plain or gzip-compressed.
//
// Contract: ReadIdx returns the dimensions and the raw bytes of an unsigned
// byte (type 0x08) IDX file; zlib reads .gz and uncompressed files alike.
// Errors are Status beginning with "[idx]" and naming the file, what was
// expected and what was found (missing file, bad magic, truncated data).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "oneflow_like/status.h"

namespace ofl::examples {

/// An IDX array of unsigned bytes: dims (e.g. {60000, 28, 28}) and data, row-major.
struct IdxArray {
  std::vector<int64_t> dims;
  std::vector<uint8_t> data;

  /// Number of items (dims[0]; 0 when there are no dims).
  int64_t count() const { return dims.empty() ? 0 : dims[0]; }
  /// Bytes per item (product of dims[1:]).
  int64_t item_size() const;
};

/// Reads the unsigned-byte IDX file at `path` (gzip or plain).
StatusOr<IdxArray> ReadIdx(const std::string& path);

}  // namespace ofl::examples
