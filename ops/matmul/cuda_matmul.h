// Row-major matrix products on CUDA through cuBLASLt, shared by the CUDA
// kernels of matmul and batch_matmul and by bench/.
//
// cuBLASLt is column-major. A row-major [R, C] buffer is, read column-major,
// its transpose [C, R] with the same leading dimension, so the row-major
// y = op(a) op(b) is computed as the column-major y^T = op(b)^T op(a)^T:
// cuBLASLt's "A" is our b and its "B" is our a, with the transpose flags
// carried over unchanged. No data moves.
//
// Precision: f16 and bf16 multiply with f32 accumulation and an f32 alpha;
// f32 uses CUBLAS_COMPUTE_32F (true f32, no TF32) unless CudaAllowTf32();
// f64 uses CUBLAS_COMPUTE_64F with a double alpha.
#pragma once

#include <cublasLt.h>

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "oneflow_like/cuda/cuda_stream.h"
#include "oneflow_like/dtype.h"
#include "oneflow_like/status.h"

namespace ofl {

/// Lets f32 products (cuBLASLt) and convolutions (cuDNN) use TF32 tensor
/// cores (inputs rounded to a 10-bit mantissa). Process-wide, default false;
/// read when a plan is looked up, so a change applies to the next call.
void SetCudaAllowTf32(bool allow);
/// Whether f32 products and convolutions may use TF32 (see SetCudaAllowTf32).
bool CudaAllowTf32();

/// The extents of one row-major product y[batch, m, n] = alpha op(a) op(b),
/// with a [batch, m, k] ([batch, k, m] when transpose_a) and b [batch, k, n]
/// ([batch, n, k] when transpose_b), each batch element contiguous.
struct CudaMatmulShape {
  DType dtype = DType::kF32;
  bool transpose_a = false;
  bool transpose_b = false;
  int64_t batch = 1;
  int64_t m = 0;
  int64_t n = 0;
  int64_t k = 0;
};

/// cuBLASLt descriptors and the heuristic's algorithm for one product on one
/// device, built once and run many times. Built for pointers aligned to at
/// least `alignment_bytes` (cuBLASLt's fastest kernels need 16 or more);
/// Run checks the pointers it is given.
class CudaMatmulPlan {
 public:
  /// Everything a plan depends on: two products with equal keys share a plan.
  struct Key {
    CudaMatmulShape shape;
    int device = 0;
    int alignment_bytes = 0;
    bool allow_tf32 = false;
    size_t workspace_bytes = 0;
    std::vector<int64_t> Values() const;
  };

  /// The key of a product of `shape` on `stream` with these operands.
  static Key KeyFor(const CudaStream& stream, const CudaMatmulShape& shape, const void* a, const void* b,
                    const void* y);
  /// Builds the descriptors and asks cuBLASLt's heuristic for an algorithm
  /// fitting the stream's workspace. Needs m, n, k, batch >= 1. Errors begin
  /// with `who` ("[matmul]").
  static StatusOr<std::unique_ptr<CudaMatmulPlan>> Create(const std::string& who, CudaStream& stream,
                                                          const Key& key);
  ~CudaMatmulPlan();
  CudaMatmulPlan(const CudaMatmulPlan&) = delete;
  CudaMatmulPlan& operator=(const CudaMatmulPlan&) = delete;

  /// Enqueues y = alpha op(a) op(b) on `stream` (alpha is rounded to f32
  /// except for f64). y is overwritten, never read.
  Status Run(const std::string& who, CudaStream& stream, double alpha, const void* a, const void* b,
             void* y) const;

 private:
  CudaMatmulPlan() = default;

  Key key_;
  cublasLtMatmulDesc_t operation_ = nullptr;
  cublasLtMatrixLayout_t a_layout_ = nullptr;  ///< cuBLASLt's A: our b
  cublasLtMatrixLayout_t b_layout_ = nullptr;  ///< cuBLASLt's B: our a
  cublasLtMatrixLayout_t y_layout_ = nullptr;  ///< C and D: our y
  cublasLtMatmulAlgo_t algorithm_{};
};

/// Plans by key, for one kernel object or one thread. Holds at most
/// kMaxPlans plans and starts afresh when full (a kernel sees one or two
/// shapes; a benchmark a handful).
class CudaMatmulPlanCache {
 public:
  static constexpr size_t kMaxPlans = 32;
  /// The plan for `key`, built on first use.
  StatusOr<const CudaMatmulPlan*> Get(const std::string& who, CudaStream& stream,
                                      const CudaMatmulPlan::Key& key);

 private:
  std::map<std::vector<int64_t>, std::unique_ptr<CudaMatmulPlan>> plans_;
};

/// Enqueues the product `shape` on `stream` (made current here) without
/// synchronising: y = alpha op(a) op(b). An empty y is left alone and an
/// empty contraction (k == 0) zeroes y, as the CPU kernels do. Errors begin
/// with `who`.
Status CudaBatchedMatmul(const std::string& who, CudaStream& stream, CudaMatmulPlanCache& cache,
                         const CudaMatmulShape& shape, double alpha, const void* a, const void* b, void* y);

/// y[m, n] = alpha op(a) op(b), all row-major on `stream`'s device, enqueued
/// without synchronising; plans cached per calling thread. For bench/ and
/// code outside the kernels.
Status CudaMatmul(CudaStream& stream, DType dtype, bool transpose_a, bool transpose_b, int64_t m, int64_t n,
                  int64_t k, float alpha, const void* a, const void* b, void* y);

}  // namespace ofl
