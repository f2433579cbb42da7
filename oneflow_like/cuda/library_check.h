// cuBLASLt and cuDNN status codes as ofl::Status (see cuda_check.h).
#pragma once

#include <cublasLt.h>
#include <cudnn.h>

#include <string>

#include "oneflow_like/status.h"

namespace ofl {

inline Status CublasStatus(cublasStatus_t status, const std::string& what) {
  if (status == CUBLAS_STATUS_SUCCESS) return Status::Ok();
  return ErrorBuilder() << what << ": " << cublasLtGetStatusString(status) << " ("
                        << cublasLtGetStatusName(status) << ")";
}

inline Status CudnnStatus(cudnnStatus_t status, const std::string& what) {
  if (status == CUDNN_STATUS_SUCCESS) return Status::Ok();
  return ErrorBuilder() << what << ": " << cudnnGetErrorString(status);
}

}  // namespace ofl

#define OFL_CUBLAS_RETURN_IF_ERROR(expr, what) OFL_RETURN_IF_ERROR(::ofl::CublasStatus((expr), (what)))
#define OFL_CUDNN_RETURN_IF_ERROR(expr, what) OFL_RETURN_IF_ERROR(::ofl::CudnnStatus((expr), (what)))
