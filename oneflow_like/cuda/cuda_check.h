// Turning CUDA, cuBLAS and cuDNN status codes into ofl::Status. Every error
// names the call that failed and the library's own description, so a user
// sees "cudaMalloc(268435456 bytes) on cuda:0: out of memory", not a code.
#pragma once

#include <cuda_runtime.h>

#include <string>

#include "oneflow_like/status.h"

namespace ofl {

/// Ok, or an error "<what>: <CUDA's description> (<error name>)".
inline Status CudaStatus(cudaError_t error, const std::string& what) {
  if (error == cudaSuccess) return Status::Ok();
  return ErrorBuilder() << what << ": " << cudaGetErrorString(error) << " (" << cudaGetErrorName(error)
                        << ")";
}

/// Why this process cannot run CUDA work ("" when it can): no driver, no
/// device, or a driver too old for this build. Tests skip with this text.
inline std::string MissingCudaDeviceReason() {
  int count = 0;
  const cudaError_t error = cudaGetDeviceCount(&count);
  if (error != cudaSuccess) {
    return std::string("no usable CUDA driver/device: ") + cudaGetErrorString(error);
  }
  if (count == 0) return "no CUDA device";
  return "";
}

}  // namespace ofl

/// Returns an error Status naming `what` if the CUDA call `expr` fails.
#define OFL_CUDA_RETURN_IF_ERROR(expr, what) OFL_RETURN_IF_ERROR(::ofl::CudaStatus((expr), (what)))
