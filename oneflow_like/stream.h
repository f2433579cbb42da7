// Stream: an ordered queue of work on one device.
//
// Contract (designed for asynchronous devices from day one): kernels enqueue
// work on a stream and return before it finishes. Whoever needs the results
// (the runtime releasing downstream actors on other streams) registers a
// completion callback; it runs once all work enqueued before the call has
// finished, possibly on another thread. The CPU stream runs work inline, so
// its callbacks run at once on the caller's thread.
#pragma once

#include <functional>

#include "oneflow_like/device.h"
#include "oneflow_like/status.h"

namespace ofl {

class Stream {
 public:
  virtual ~Stream() = default;
  /// The device this stream's work runs on.
  virtual DeviceId device() const = 0;
  /// Calls `callback(status)` exactly once, after all work enqueued so far
  /// has completed; status reports an asynchronous failure, if any.
  virtual void OnComplete(std::function<void(Status)> callback) = 0;
  /// Blocks until all enqueued work has completed.
  virtual Status Synchronize() = 0;
};

/// Runs work inline on the calling thread.
class CpuStream final : public Stream {
 public:
  explicit CpuStream(DeviceId device = DeviceId{}) : device_(device) {}
  DeviceId device() const override { return device_; }
  void OnComplete(std::function<void(Status)> callback) override { callback(Status::Ok()); }
  Status Synchronize() override { return Status::Ok(); }

 private:
  DeviceId device_;
};

}  // namespace ofl
