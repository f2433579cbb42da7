// The one oneDNN CPU engine of the process and the glue every oneDNN-backed
// kernel needs: streams, plain memory descriptors, and turning oneDNN's
// exceptions into Status. Used by the matmul and conv families; only .cc
// files include it (oneDNN is a private dependency of ofl_ops).
#pragma once

#include <dnnl.hpp>
#include <string>
#include <vector>

#include "oneflow_like/shape.h"
#include "oneflow_like/status.h"

namespace ofl {

/// The process-wide CPU engine. Created on first use; engines are
/// thread-safe, so every kernel on every thread shares it.
dnnl::engine& DnnlCpuEngine();

/// Attributes with a user-owned scratchpad. Every cached primitive uses it
/// and keeps its own scratchpad memory: oneDNN's default scratchpad belongs
/// to the creating thread, and the runtime may call a kernel from another.
inline dnnl::primitive_attr DnnlUserScratchpadAttr() {
  dnnl::primitive_attr attributes;
  attributes.set_scratchpad_mode(dnnl::scratchpad_mode::user);
  return attributes;
}

/// A CPU stream on DnnlCpuEngine() for the calling thread. One per thread
/// rather than one per process because oneDNN does not promise that a
/// stream may be used by several threads at once, and actors of different
/// devices run kernels on different threads.
dnnl::stream& DnnlCpuStream();

/// oneDNN dimensions of `shape`.
dnnl::memory::dims DnnlDims(const Shape& shape);

/// An f32 memory descriptor with explicit strides (in elements).
dnnl::memory::desc DnnlF32Desc(const dnnl::memory::dims& dims, const dnnl::memory::dims& strides);

/// A dense row-major f32 memory descriptor of `dims`.
dnnl::memory::desc DnnlF32PlainDesc(const dnnl::memory::dims& dims);

/// Runs `body` (which may throw dnnl::error) and returns its Status, or an
/// error "[op] onednn: ..." naming the failed oneDNN call.
template <typename Body>
Status DnnlGuard(const std::string& op, Body&& body) {
  try {
    return body();
  } catch (const dnnl::error& error) {
    return Status::Error("[" + op + "] onednn: expected the primitive to run, got status " +
                         std::to_string(static_cast<int>(error.status)) + " (" + error.what() + ")");
  }
}

}  // namespace ofl
