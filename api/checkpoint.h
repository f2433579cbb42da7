// Checkpoints: a Session's variables (parameters and optimizer state: Adam
// m/v, momentum, optimizer.step) saved to and loaded from one file in the
// safetensors layout, so other tools (Python's safetensors, numpy) read it.
//
// File layout (safetensors):
//   8 bytes   N, the header length, unsigned little-endian
//   N bytes   JSON header, padded with spaces to a multiple of 8:
//             {"__metadata__": {string: string},
//              "name": {"dtype": "F32", "shape": [2, 3], "data_offsets": [begin, end]}, ...}
//             __metadata__ first, then the tensors sorted by name; offsets are
//             relative to the data section, contiguous and in that order.
//   data      every tensor's raw row-major little-endian bytes.
// Dtypes: F32 F64 F16 BF16 I64 I32 I8 U8 BOOL (one byte per element).
//
// Contract:
// - SaveCheckpoint writes every variable of the session's plan by its full
//   name plus metadata "format" = kCheckpointFormat, "format_version" =
//   kCheckpointFormatVersion and, when the plan has one, "step" (the value of
//   optimizer.step). The write is atomic: the bytes go to
//   `path` + ".tmp.<pid>", are fsync'ed and renamed over `path`; on any
//   failure the temporary file is removed and `path` is left as it was.
// - LoadCheckpoint reads and checks the whole file before writing any
//   variable, so a failed load leaves the session unchanged. Every variable
//   of the session must be in the file with the same dtype and shape; a
//   tensor the session does not have is an error unless
//   LoadCheckpointOptions::allow_extra_tensors.
// - Errors begin with "[checkpoint] '<path>'" and name the tensor where one
//   is involved: missing file, truncated file, corrupt header (bad JSON,
//   unknown dtype, size not matching the shape), offsets out of range,
//   overlapping or leaving gaps, missing / extra / mismatched tensors.
// - Loading restores training exactly: after LoadCheckpoint a session
//   continues with the same bitwise loss trajectory as the session that
//   saved it, given the same feeds per global step.
#pragma once

#include <map>
#include <string>

#include "api/session.h"
#include "oneflow_like/host_tensor.h"
#include "oneflow_like/status.h"

namespace ofl::api {

/// The "format" metadata value every checkpoint carries.
inline constexpr char kCheckpointFormat[] = "oneflow_like";
/// The "format_version" metadata value this code writes and accepts.
inline constexpr char kCheckpointFormatVersion[] = "1";

/// The contents of a safetensors file: tensors by name and string metadata.
struct SafetensorsContents {
  std::map<std::string, HostTensor> tensors;
  std::map<std::string, std::string> metadata;
};

/// Writes `tensors` and `metadata` to `path` in the safetensors layout,
/// atomically (temporary file, fsync, rename).
Status WriteSafetensors(const std::string& path, const std::map<std::string, HostTensor>& tensors,
                        const std::map<std::string, std::string>& metadata);

/// Reads and validates the safetensors file at `path`.
StatusOr<SafetensorsContents> ReadSafetensors(const std::string& path);

/// Saves every variable of `session` (and the metadata above) to `path`.
Status SaveCheckpoint(const Session& session, const std::string& path);

/// How LoadCheckpoint treats a file that does not match the session exactly.
struct LoadCheckpointOptions {
  /// Ignore tensors the session has no variable for (default: an error).
  bool allow_extra_tensors = false;
};

/// Overwrites every variable of `session` with its tensor in the checkpoint
/// at `path`; on error no variable changes.
Status LoadCheckpoint(Session& session, const std::string& path, const LoadCheckpointOptions& options = {});

}  // namespace ofl::api
