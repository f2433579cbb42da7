// Kernels: the code that computes one op on one device, and the registry
// that finds it by (op, device type, dtype).
//
// A kernel sees physical pieces only: for each input and output a Blob with
// the piece's shape, plus the logical shape it belongs to and the offset of
// the piece in it. Ops whose math depends on the logical extent (mean over a
// split axis, seeded initialisers and dropout that must give the same value
// per logical element on any device count, a vocab-parallel embedding) read
// those; all others ignore them. A kernel never sees SBP or placements.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <tuple>
#include <vector>

#include "oneflow_like/attr.h"
#include "oneflow_like/blob.h"
#include "oneflow_like/device.h"
#include "oneflow_like/dtype.h"
#include "oneflow_like/status.h"
#include "oneflow_like/stream.h"

namespace ofl {

/// One input or output as a kernel sees it.
struct TensorArg {
  Blob blob;                    ///< the physical piece
  Shape logical_shape;          ///< shape of the whole logical tensor
  std::vector<int64_t> offset;  ///< where the piece starts in the logical tensor

  /// A whole (unsliced) tensor.
  static TensorArg Whole(const Blob& blob) {
    return TensorArg{blob, blob.shape(), std::vector<int64_t>(blob.shape().rank(), 0)};
  }
};

/// Everything one kernel invocation reads and writes.
struct KernelContext {
  std::string op_name;  ///< for error messages
  const AttrMap* attrs = nullptr;
  std::vector<TensorArg> inputs;
  std::vector<TensorArg> outputs;
  Stream* stream = nullptr;
  /// Micro-batching (gradient accumulation, pipelines): an actor inside the
  /// micro-batch region acts `micro_batches` times per step; this is the
  /// index of the current act in [0, micro_batches). Kernels outside that
  /// region (and every kernel of a job without micro-batches) see 0 and 1.
  /// unpack reads slice micro_batch of its input, pack writes it, acc copies
  /// on micro_batch 0 and adds afterwards.
  int64_t micro_batch = 0;
  int64_t micro_batches = 1;

  const Blob& in(int i) const { return inputs[i].blob; }
  const Blob& out(int i) const { return outputs[i].blob; }
  const AttrMap& attr() const { return *attrs; }
};

/// Computes one op on one device. A kernel object may cache state between
/// calls (e.g. a oneDNN primitive) but Compute is called by one thread at a
/// time per object.
class Kernel {
 public:
  virtual ~Kernel() = default;
  /// Enqueues the computation on ctx.stream (CPU: computes it now).
  virtual Status Compute(KernelContext& ctx) = 0;
};

using KernelFactory = std::function<std::unique_ptr<Kernel>()>;

/// Wraps a stateless function as a Kernel factory.
KernelFactory MakeFunctionKernel(std::function<Status(KernelContext&)> compute);

/// Key of a kernel. `dtype` is the dtype of the op's first input, or of its
/// first output when it has no inputs (initialisers).
struct KernelKey {
  std::string op;
  DeviceType device = DeviceType::kCPU;
  DType dtype = DType::kF32;
  bool operator<(const KernelKey& other) const {
    return std::tie(op, device, dtype) < std::tie(other.op, other.device, other.dtype);
  }
};

/// All kernels of a process. Filled by explicit registration calls, then
/// only read (safe to share between threads once filled).
class KernelRegistry {
 public:
  /// Adds a kernel; registering the same key twice is an error.
  Status Register(const KernelKey& key, KernelFactory factory);
  /// Registers `factory` for each dtype in `dtypes`.
  Status RegisterForDTypes(const std::string& op, DeviceType device, const std::vector<DType>& dtypes,
                           const KernelFactory& factory);
  /// The factory for `key`, or an error naming the op, device and dtype and
  /// listing the dtypes that do have kernels.
  StatusOr<KernelFactory> Find(const KernelKey& key) const;
  /// The dtypes with a kernel for (op, device), in enum order.
  std::vector<DType> DTypesFor(const std::string& op, DeviceType device) const;
  /// The device types with at least one kernel for `op`.
  std::vector<DeviceType> DevicesFor(const std::string& op) const;

 private:
  std::map<KernelKey, KernelFactory> kernels_;
};

}  // namespace ofl
