#include "ops/matmul/cuda_matmul.h"

#include <atomic>
#include <climits>
#include <cstdint>
#include <sstream>

#include "oneflow_like/cuda/cuda_check.h"
#include "oneflow_like/cuda/library_check.h"

namespace ofl {

namespace {

std::atomic<bool> allow_tf32_flag{false};

// The cuBLASLt types of one dtype: element type, accumulation, alpha/beta.
struct LtTypes {
  cudaDataType_t data;
  cublasComputeType_t compute;
  cudaDataType_t scale;
};

StatusOr<LtTypes> LtTypesOf(const std::string& who, DType dtype, bool allow_tf32) {
  switch (dtype) {
    case DType::kF32:
      return LtTypes{CUDA_R_32F, allow_tf32 ? CUBLAS_COMPUTE_32F_FAST_TF32 : CUBLAS_COMPUTE_32F, CUDA_R_32F};
    case DType::kF64:
      return LtTypes{CUDA_R_64F, CUBLAS_COMPUTE_64F, CUDA_R_64F};
    case DType::kF16:
      return LtTypes{CUDA_R_16F, CUBLAS_COMPUTE_32F, CUDA_R_32F};
    case DType::kBF16:
      return LtTypes{CUDA_R_16BF, CUBLAS_COMPUTE_32F, CUDA_R_32F};
    default:
      break;
  }
  return ErrorBuilder() << who << " cuda kernel: expected dtype f32, f64, f16 or bf16, got "
                        << DTypeName(dtype);
}

std::string ShapeText(const CudaMatmulShape& s) {
  std::ostringstream text;
  text << DTypeName(s.dtype) << " batch " << s.batch << " m " << s.m << " n " << s.n << " k " << s.k
       << (s.transpose_a ? " transpose_a" : "") << (s.transpose_b ? " transpose_b" : "");
  return text.str();
}

// The largest power of two (at most 256, cuBLASLt's default assumption)
// dividing every operand address and, when batched, every batch stride in
// bytes: each batch element's pointer must be as aligned as the first.
int AlignmentOf(const CudaMatmulShape& s, const void* a, const void* b, const void* y) {
  uint64_t bits = 256;
  bits |= reinterpret_cast<uintptr_t>(a) | reinterpret_cast<uintptr_t>(b) | reinterpret_cast<uintptr_t>(y);
  if (s.batch > 1) {
    const uint64_t element = SizeOf(s.dtype);
    bits |= static_cast<uint64_t>(s.m * s.k) * element | static_cast<uint64_t>(s.k * s.n) * element |
            static_cast<uint64_t>(s.m * s.n) * element;
  }
  return static_cast<int>(bits & (~bits + 1));
}

// A column-major layout of `rows` x `cols` with leading dimension `ld`,
// repeated `batch` times `stride` elements apart.
Status MakeLayout(const std::string& who, cublasLtMatrixLayout_t* layout, cudaDataType_t type, int64_t rows,
                  int64_t cols, int64_t ld, int64_t batch, int64_t stride) {
  OFL_CUBLAS_RETURN_IF_ERROR(
      cublasLtMatrixLayoutCreate(layout, type, static_cast<uint64_t>(rows), static_cast<uint64_t>(cols), ld),
      who + " cublasLtMatrixLayoutCreate");
  if (batch > 1) {
    const int32_t count = static_cast<int32_t>(batch);
    OFL_CUBLAS_RETURN_IF_ERROR(
        cublasLtMatrixLayoutSetAttribute(*layout, CUBLASLT_MATRIX_LAYOUT_BATCH_COUNT, &count, sizeof(count)),
        who + " cublasLt batch count");
    OFL_CUBLAS_RETURN_IF_ERROR(
        cublasLtMatrixLayoutSetAttribute(*layout, CUBLASLT_MATRIX_LAYOUT_STRIDED_BATCH_OFFSET, &stride,
                                         sizeof(stride)),
        who + " cublasLt batch stride");
  }
  return Status::Ok();
}

// Owns a matmul preference for the duration of one heuristic query.
struct PreferenceHolder {
  cublasLtMatmulPreference_t preference = nullptr;
  ~PreferenceHolder() {
    if (preference != nullptr) (void)cublasLtMatmulPreferenceDestroy(preference);
  }
};

}  // namespace

void SetCudaAllowTf32(bool allow) { allow_tf32_flag.store(allow, std::memory_order_relaxed); }

bool CudaAllowTf32() { return allow_tf32_flag.load(std::memory_order_relaxed); }

std::vector<int64_t> CudaMatmulPlan::Key::Values() const {
  return {static_cast<int64_t>(shape.dtype),
          shape.transpose_a ? 1 : 0,
          shape.transpose_b ? 1 : 0,
          shape.batch,
          shape.m,
          shape.n,
          shape.k,
          device,
          alignment_bytes,
          allow_tf32 ? 1 : 0,
          static_cast<int64_t>(workspace_bytes)};
}

CudaMatmulPlan::Key CudaMatmulPlan::KeyFor(const CudaStream& stream, const CudaMatmulShape& shape,
                                           const void* a, const void* b, const void* y) {
  Key key;
  key.shape = shape;
  key.device = stream.device().index;
  key.alignment_bytes = AlignmentOf(shape, a, b, y);
  key.allow_tf32 = shape.dtype == DType::kF32 && CudaAllowTf32();
  key.workspace_bytes = stream.workspace_bytes();
  return key;
}

StatusOr<std::unique_ptr<CudaMatmulPlan>> CudaMatmulPlan::Create(const std::string& who, CudaStream& stream,
                                                                 const Key& key) {
  const CudaMatmulShape& s = key.shape;
  OFL_CHECK_OR_RETURN(s.batch >= 1 && s.m >= 1 && s.n >= 1 && s.k >= 1 && s.batch <= INT32_MAX)
      << who << " cuda kernel: expected a non-empty product with at most " << INT32_MAX
      << " batch elements, got " << ShapeText(s);
  OFL_ASSIGN_OR_RETURN(LtTypes types, LtTypesOf(who, s.dtype, key.allow_tf32));
  // Private constructor: no make_unique. Members are released by the
  // destructor even when a step below fails.
  std::unique_ptr<CudaMatmulPlan> plan(new CudaMatmulPlan());
  plan->key_ = key;

  OFL_CUBLAS_RETURN_IF_ERROR(cublasLtMatmulDescCreate(&plan->operation_, types.compute, types.scale),
                             who + " cublasLtMatmulDescCreate");
  // Column-major y^T = op(b)^T op(a)^T (header comment): cuBLASLt's A is b,
  // its B is a, each transposed exactly when the row-major operand is.
  const int32_t transpose_lt_a = s.transpose_b ? CUBLAS_OP_T : CUBLAS_OP_N;
  const int32_t transpose_lt_b = s.transpose_a ? CUBLAS_OP_T : CUBLAS_OP_N;
  OFL_CUBLAS_RETURN_IF_ERROR(cublasLtMatmulDescSetAttribute(plan->operation_, CUBLASLT_MATMUL_DESC_TRANSA,
                                                            &transpose_lt_a, sizeof(transpose_lt_a)),
                             who + " cublasLt transa");
  OFL_CUBLAS_RETURN_IF_ERROR(cublasLtMatmulDescSetAttribute(plan->operation_, CUBLASLT_MATMUL_DESC_TRANSB,
                                                            &transpose_lt_b, sizeof(transpose_lt_b)),
                             who + " cublasLt transb");

  // The stored matrices, read column-major (rows x cols, leading dimension):
  //   b row-major [k, n]          -> [n, k], ld n   (op N gives n x k)
  //   b row-major [n, k] (tb)     -> [k, n], ld k   (op T gives n x k)
  //   a row-major [m, k]          -> [k, m], ld k   (op N gives k x m)
  //   a row-major [k, m] (ta)     -> [m, k], ld m   (op T gives k x m)
  //   y row-major [m, n]          -> [n, m], ld n   (= (n x k)(k x m))
  if (s.transpose_b) {
    OFL_RETURN_IF_ERROR(MakeLayout(who, &plan->a_layout_, types.data, s.k, s.n, s.k, s.batch, s.k * s.n));
  } else {
    OFL_RETURN_IF_ERROR(MakeLayout(who, &plan->a_layout_, types.data, s.n, s.k, s.n, s.batch, s.k * s.n));
  }
  if (s.transpose_a) {
    OFL_RETURN_IF_ERROR(MakeLayout(who, &plan->b_layout_, types.data, s.m, s.k, s.m, s.batch, s.m * s.k));
  } else {
    OFL_RETURN_IF_ERROR(MakeLayout(who, &plan->b_layout_, types.data, s.k, s.m, s.k, s.batch, s.m * s.k));
  }
  OFL_RETURN_IF_ERROR(MakeLayout(who, &plan->y_layout_, types.data, s.n, s.m, s.n, s.batch, s.m * s.n));

  PreferenceHolder holder;
  OFL_CUBLAS_RETURN_IF_ERROR(cublasLtMatmulPreferenceCreate(&holder.preference),
                             who + " cublasLtMatmulPreferenceCreate");
  const uint64_t workspace = key.workspace_bytes;
  OFL_CUBLAS_RETURN_IF_ERROR(
      cublasLtMatmulPreferenceSetAttribute(holder.preference, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES,
                                           &workspace, sizeof(workspace)),
      who + " cublasLt workspace preference");
  // Only algorithms that accept operands this aligned (cuBLASLt assumes 256
  // bytes unless told): pieces may start inside a larger buffer.
  const uint32_t alignment = static_cast<uint32_t>(key.alignment_bytes);
  for (cublasLtMatmulPreferenceAttributes_t attribute :
       {CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_A_BYTES, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_B_BYTES,
        CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_C_BYTES, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_D_BYTES}) {
    OFL_CUBLAS_RETURN_IF_ERROR(
        cublasLtMatmulPreferenceSetAttribute(holder.preference, attribute, &alignment, sizeof(alignment)),
        who + " cublasLt alignment preference");
  }
  cublasLtMatmulHeuristicResult_t result{};
  int returned = 0;
  const cublasStatus_t status = cublasLtMatmulAlgoGetHeuristic(
      stream.blas_lt(), plan->operation_, plan->a_layout_, plan->b_layout_, plan->y_layout_, plan->y_layout_,
      holder.preference, 1, &result, &returned);
  // NOT_SUPPORTED means "no algorithm", reported below with the problem.
  if (status != CUBLAS_STATUS_NOT_SUPPORTED) {
    OFL_CUBLAS_RETURN_IF_ERROR(status, who + " cublasLtMatmulAlgoGetHeuristic (" + ShapeText(s) + ")");
  }
  OFL_CHECK_OR_RETURN(status == CUBLAS_STATUS_SUCCESS && returned > 0 &&
                      result.state == CUBLAS_STATUS_SUCCESS)
      << who << " cuda kernel: cuBLASLt has no algorithm for " << ShapeText(s) << " with operands aligned to "
      << key.alignment_bytes << " bytes and " << key.workspace_bytes << " bytes of workspace";
  plan->algorithm_ = result.algo;
  return plan;
}

CudaMatmulPlan::~CudaMatmulPlan() {
  if (y_layout_ != nullptr) (void)cublasLtMatrixLayoutDestroy(y_layout_);
  if (b_layout_ != nullptr) (void)cublasLtMatrixLayoutDestroy(b_layout_);
  if (a_layout_ != nullptr) (void)cublasLtMatrixLayoutDestroy(a_layout_);
  if (operation_ != nullptr) (void)cublasLtMatmulDescDestroy(operation_);
}

Status CudaMatmulPlan::Run(const std::string& who, CudaStream& stream, double alpha, const void* a,
                           const void* b, void* y) const {
  OFL_CHECK_OR_RETURN(AlignmentOf(key_.shape, a, b, y) >= key_.alignment_bytes &&
                      stream.workspace_bytes() >= key_.workspace_bytes)
      << who << " cuda kernel: operands or workspace do not fit the cuBLASLt plan built for "
      << ShapeText(key_.shape);
  // alpha and beta have the scale type: double for f64, float otherwise.
  // beta = 0: y is written, never read (NaN in the old y does not leak).
  const double alpha64 = alpha, beta64 = 0.0;
  const float alpha32 = static_cast<float>(alpha), beta32 = 0.0f;
  const bool is_f64 = key_.shape.dtype == DType::kF64;
  const void* alpha_ptr = is_f64 ? static_cast<const void*>(&alpha64) : static_cast<const void*>(&alpha32);
  const void* beta_ptr = is_f64 ? static_cast<const void*>(&beta64) : static_cast<const void*>(&beta32);
  OFL_CUBLAS_RETURN_IF_ERROR(cublasLtMatmul(stream.blas_lt(), operation_, alpha_ptr, b, a_layout_, a,
                                            b_layout_, beta_ptr, y, y_layout_, y, y_layout_, &algorithm_,
                                            stream.workspace(), stream.workspace_bytes(), stream.native()),
                             who + " cublasLtMatmul (" + ShapeText(key_.shape) + ")");
  return Status::Ok();
}

StatusOr<const CudaMatmulPlan*> CudaMatmulPlanCache::Get(const std::string& who, CudaStream& stream,
                                                         const CudaMatmulPlan::Key& key) {
  std::vector<int64_t> values = key.Values();
  auto found = plans_.find(values);
  if (found != plans_.end()) return found->second.get();
  OFL_ASSIGN_OR_RETURN(std::unique_ptr<CudaMatmulPlan> plan, CudaMatmulPlan::Create(who, stream, key));
  if (plans_.size() >= kMaxPlans) plans_.clear();
  const CudaMatmulPlan* raw = plan.get();
  plans_.emplace(std::move(values), std::move(plan));
  return raw;
}

Status CudaBatchedMatmul(const std::string& who, CudaStream& stream, CudaMatmulPlanCache& cache,
                         const CudaMatmulShape& shape, double alpha, const void* a, const void* b, void* y) {
  OFL_CHECK_OR_RETURN(shape.batch >= 0 && shape.m >= 0 && shape.n >= 0 && shape.k >= 0)
      << who << " cuda kernel: expected non-negative extents, got " << ShapeText(shape);
  const int64_t y_elements = shape.batch * shape.m * shape.n;
  if (y_elements == 0) return Status::Ok();
  OFL_RETURN_IF_ERROR(stream.Activate());
  if (shape.k == 0) {
    // An empty sum: zeros, as on the CPU (e.g. a 0-wide piece of a split K).
    OFL_CUDA_RETURN_IF_ERROR(
        cudaMemsetAsync(y, 0, static_cast<size_t>(y_elements) * SizeOf(shape.dtype), stream.native()),
        who + " cudaMemsetAsync");
    return Status::Ok();
  }
  const CudaMatmulPlan::Key key = CudaMatmulPlan::KeyFor(stream, shape, a, b, y);
  OFL_ASSIGN_OR_RETURN(const CudaMatmulPlan* plan, cache.Get(who, stream, key));
  return plan->Run(who, stream, alpha, a, b, y);
}

Status CudaMatmul(CudaStream& stream, DType dtype, bool transpose_a, bool transpose_b, int64_t m, int64_t n,
                  int64_t k, float alpha, const void* a, const void* b, void* y) {
  // One cache per thread: plans hold no device memory, only host-side
  // descriptors, so they may outlive a stream of the same device.
  thread_local CudaMatmulPlanCache cache;
  CudaMatmulShape shape;
  shape.dtype = dtype;
  shape.transpose_a = transpose_a;
  shape.transpose_b = transpose_b;
  shape.m = m;
  shape.n = n;
  shape.k = k;
  return CudaBatchedMatmul("[matmul]", stream, cache, shape, alpha, a, b, y);
}

}  // namespace ofl
