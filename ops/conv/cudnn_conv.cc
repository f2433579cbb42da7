#include "ops/conv/cudnn_conv.h"

#include <cudnn.h>

#include <climits>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "oneflow_like/cuda/cuda_check.h"
#include "oneflow_like/cuda/cuda_stream.h"
#include "oneflow_like/cuda/library_check.h"
#include "ops/conv/conv_geometry.h"
#include "ops/matmul/cuda_matmul.h"

namespace ofl {

namespace {

// cuDNN's element type, accumulation type and requested math of one dtype.
struct CudnnTypes {
  cudnnDataType_t data;
  cudnnDataType_t compute;
  cudnnMathType_t math;
};

StatusOr<CudnnTypes> CudnnTypesOf(const std::string& who, DType dtype, bool allow_tf32) {
  switch (dtype) {
    case DType::kF32:
      // CUDNN_DEFAULT_MATH lets cuDNN pick TF32 tensor cores on Ampere and
      // later; CUDNN_FMA_MATH restricts it to true f32 FMA kernels.
      return CudnnTypes{CUDNN_DATA_FLOAT, CUDNN_DATA_FLOAT, allow_tf32 ? CUDNN_DEFAULT_MATH : CUDNN_FMA_MATH};
    case DType::kF64:
      return CudnnTypes{CUDNN_DATA_DOUBLE, CUDNN_DATA_DOUBLE, CUDNN_DEFAULT_MATH};
    case DType::kF16:
      return CudnnTypes{CUDNN_DATA_HALF, CUDNN_DATA_FLOAT, CUDNN_TENSOR_OP_MATH};
    case DType::kBF16:
      return CudnnTypes{CUDNN_DATA_BFLOAT16, CUDNN_DATA_FLOAT, CUDNN_TENSOR_OP_MATH};
    default:
      break;
  }
  return ErrorBuilder() << who << " cuda kernel: expected dtype f32, f64, f16 or bf16, got "
                        << DTypeName(dtype);
}

const char* PassName(ConvPass pass) {
  switch (pass) {
    case ConvPass::kForward:
      return "forward";
    case ConvPass::kBackwardData:
      return "backward data";
    case ConvPass::kBackwardFilter:
      return "backward filter";
  }
  return "?";
}

std::string GeometryText(const ConvGeometry& g, DType dtype) {
  std::ostringstream text;
  text << DTypeName(dtype) << " x [" << g.n << ", " << g.c << ", " << g.h << ", " << g.w << "] w [" << g.o
       << ", " << (g.p.groups > 0 ? g.c / g.p.groups : 0) << ", " << g.kh << ", " << g.kw << "] y [" << g.n
       << ", " << g.o << ", " << g.oh << ", " << g.ow << "] stride " << g.p.stride[0] << "x" << g.p.stride[1]
       << " padding " << g.p.padding[0] << "x" << g.p.padding[1] << " dilation " << g.p.dilation[0] << "x"
       << g.p.dilation[1] << " groups " << g.p.groups;
  return text.str();
}

// cuDNN's legacy API takes int extents and int strides: every extent,
// attribute and tensor element count must fit.
bool FitsCudnnInt(const ConvGeometry& g) {
  const int64_t limit = INT_MAX;
  const std::vector<int64_t> values = {g.n,
                                       g.c,
                                       g.h,
                                       g.w,
                                       g.o,
                                       g.kh,
                                       g.kw,
                                       g.oh,
                                       g.ow,
                                       g.p.stride[0],
                                       g.p.stride[1],
                                       g.p.padding[0],
                                       g.p.padding[1],
                                       g.p.dilation[0],
                                       g.p.dilation[1],
                                       g.p.groups};
  for (int64_t value : values) {
    if (value < 0 || value > limit) return false;
  }
  // Element counts, each factor already <= INT_MAX: divide to avoid overflow.
  const auto fits = [limit](std::vector<int64_t> factors) {
    int64_t product = 1;
    for (int64_t factor : factors) {
      if (factor != 0 && product > limit / factor) return false;
      product *= factor;
    }
    return true;
  };
  return fits({g.n, g.c, g.h, g.w}) && fits({g.n, g.o, g.oh, g.ow}) &&
         fits({g.o, g.p.groups > 0 ? g.c / g.p.groups : 0, g.kh, g.kw});
}

// The first heuristic result that succeeded, fits the workspace and uses an
// allowed math type, or nullptr. True f32 must stay off tensor cores: the
// results of a query under CUDNN_FMA_MATH may report CUDNN_DEFAULT_MATH for
// plain FMA algorithms, so only tensor-op results are refused there (and the
// caller keeps CUDNN_FMA_MATH on the descriptor, which rules out TF32).
template <typename Perf>
const Perf* PickAlgorithm(const Perf* results, int count, size_t workspace_bytes, bool fma_only) {
  for (int i = 0; i < count; ++i) {
    const Perf& perf = results[i];
    if (perf.status != CUDNN_STATUS_SUCCESS || perf.memory > workspace_bytes) continue;
    if (fma_only &&
        (perf.mathType == CUDNN_TENSOR_OP_MATH || perf.mathType == CUDNN_TENSOR_OP_MATH_ALLOW_CONVERSION)) {
      continue;
    }
    return &perf;
  }
  return nullptr;
}

class CudnnConv final : public Kernel {
 public:
  explicit CudnnConv(ConvPass pass) : pass_(pass) {}
  ~CudnnConv() override {
    if (conv_desc_ != nullptr) (void)cudnnDestroyConvolutionDescriptor(conv_desc_);
    if (w_desc_ != nullptr) (void)cudnnDestroyFilterDescriptor(w_desc_);
    if (y_desc_ != nullptr) (void)cudnnDestroyTensorDescriptor(y_desc_);
    if (x_desc_ != nullptr) (void)cudnnDestroyTensorDescriptor(x_desc_);
  }
  CudnnConv(const CudnnConv&) = delete;
  CudnnConv& operator=(const CudnnConv&) = delete;

  Status Compute(KernelContext& ctx) override {
    const std::string who = "[" + ctx.op_name + "]";
    CudaStream* stream = CudaStream::From(ctx.stream);
    OFL_CHECK_OR_RETURN(stream != nullptr) << who << " cuda kernel: expected a CUDA stream";
    OFL_RETURN_IF_ERROR(stream->Activate());
    OFL_ASSIGN_OR_RETURN(ConvGeometry g, ConvGeometryOf(ctx, pass_));
    const DType dtype = ctx.in(0).dtype();
    OFL_CHECK_OR_RETURN(ctx.in(1).dtype() == dtype && ctx.out(0).dtype() == dtype)
        << who << " cuda kernel: expected one dtype, got " << DTypeName(dtype) << ", "
        << DTypeName(ctx.in(1).dtype()) << " and " << DTypeName(ctx.out(0).dtype());
    const Blob& out = ctx.out(0);
    if (out.NumElements() == 0) return Status::Ok();
    // An empty input means an empty sum for every output element (no
    // channels, images or in-bounds taps): zeros, as the CPU loops give.
    // cuDNN rejects zero extents, so these never reach it.
    if (ctx.in(0).NumElements() == 0 || ctx.in(1).NumElements() == 0) {
      OFL_CUDA_RETURN_IF_ERROR(cudaMemsetAsync(out.data, 0, out.ByteSize(), stream->native()),
                               who + " cudaMemsetAsync");
      return Status::Ok();
    }
    OFL_CHECK_OR_RETURN(g.p.groups >= 1 && g.c % g.p.groups == 0 && g.o % g.p.groups == 0)
        << who << " cuda kernel: expected channels divisible by groups, got " << GeometryText(g, dtype);
    OFL_CHECK_OR_RETURN(FitsCudnnInt(g))
        << who << " cuda kernel: cuDNN needs extents and element counts below 2^31, got "
        << GeometryText(g, dtype);
    OFL_ASSIGN_OR_RETURN(cudnnHandle_t handle, stream->cudnn());
    std::vector<int64_t> key = g.Key();
    const bool allow_tf32 = dtype == DType::kF32 && CudaAllowTf32();
    key.insert(key.end(), {static_cast<int64_t>(dtype), allow_tf32 ? 1 : 0, stream->device().index,
                           static_cast<int64_t>(stream->workspace_bytes())});
    if (key != key_) {
      key_.clear();  // a failed Build leaves nothing to reuse
      OFL_RETURN_IF_ERROR(Build(who, handle, g, dtype, allow_tf32, stream->workspace_bytes()));
      key_ = std::move(key);
    }
    return Run(who, handle, *stream, ConvBlobsOf(ctx, pass_), dtype);
  }

 private:
  Status Build(const std::string& who, cudnnHandle_t handle, const ConvGeometry& g, DType dtype,
               bool allow_tf32, size_t workspace_bytes) {
    OFL_ASSIGN_OR_RETURN(CudnnTypes types, CudnnTypesOf(who, dtype, allow_tf32));
    if (x_desc_ == nullptr) {
      OFL_CUDNN_RETURN_IF_ERROR(cudnnCreateTensorDescriptor(&x_desc_), who + " cudnnCreateTensorDescriptor");
    }
    if (y_desc_ == nullptr) {
      OFL_CUDNN_RETURN_IF_ERROR(cudnnCreateTensorDescriptor(&y_desc_), who + " cudnnCreateTensorDescriptor");
    }
    if (w_desc_ == nullptr) {
      OFL_CUDNN_RETURN_IF_ERROR(cudnnCreateFilterDescriptor(&w_desc_), who + " cudnnCreateFilterDescriptor");
    }
    if (conv_desc_ == nullptr) {
      OFL_CUDNN_RETURN_IF_ERROR(cudnnCreateConvolutionDescriptor(&conv_desc_),
                                who + " cudnnCreateConvolutionDescriptor");
    }
    const auto i = [](int64_t value) { return static_cast<int>(value); };  // FitsCudnnInt checked them
    OFL_CUDNN_RETURN_IF_ERROR(
        cudnnSetTensor4dDescriptor(x_desc_, CUDNN_TENSOR_NCHW, types.data, i(g.n), i(g.c), i(g.h), i(g.w)),
        who + " cudnnSetTensor4dDescriptor(x)");
    OFL_CUDNN_RETURN_IF_ERROR(
        cudnnSetTensor4dDescriptor(y_desc_, CUDNN_TENSOR_NCHW, types.data, i(g.n), i(g.o), i(g.oh), i(g.ow)),
        who + " cudnnSetTensor4dDescriptor(y)");
    OFL_CUDNN_RETURN_IF_ERROR(cudnnSetFilter4dDescriptor(w_desc_, types.data, CUDNN_TENSOR_NCHW, i(g.o),
                                                         i(g.c / g.p.groups), i(g.kh), i(g.kw)),
                              who + " cudnnSetFilter4dDescriptor(w)");
    // Cross-correlation, as the CPU kernels compute (no kernel flip).
    OFL_CUDNN_RETURN_IF_ERROR(
        cudnnSetConvolution2dDescriptor(conv_desc_, i(g.p.padding[0]), i(g.p.padding[1]), i(g.p.stride[0]),
                                        i(g.p.stride[1]), i(g.p.dilation[0]), i(g.p.dilation[1]),
                                        CUDNN_CROSS_CORRELATION, types.compute),
        who + " cudnnSetConvolution2dDescriptor");
    OFL_CUDNN_RETURN_IF_ERROR(cudnnSetConvolutionGroupCount(conv_desc_, i(g.p.groups)),
                              who + " cudnnSetConvolutionGroupCount");
    OFL_CUDNN_RETURN_IF_ERROR(cudnnSetConvolutionMathType(conv_desc_, types.math),
                              who + " cudnnSetConvolutionMathType");
    // cuDNN's window arithmetic must agree with ours (both floor mode).
    int n = 0, c = 0, h = 0, w = 0;
    OFL_CUDNN_RETURN_IF_ERROR(
        cudnnGetConvolution2dForwardOutputDim(conv_desc_, x_desc_, w_desc_, &n, &c, &h, &w),
        who + " cudnnGetConvolution2dForwardOutputDim");
    OFL_CHECK_OR_RETURN(n == g.n && c == g.o && h == g.oh && w == g.ow)
        << who << " cuda kernel: cuDNN computes y [" << n << ", " << c << ", " << h << ", " << w << "] for "
        << GeometryText(g, dtype);

    const bool fma_only = types.math == CUDNN_FMA_MATH;
    cudnnMathType_t chosen_math = types.math;
    bool found = false;
    switch (pass_) {
      case ConvPass::kForward: {
        cudnnConvolutionFwdAlgoPerf_t results[CUDNN_CONVOLUTION_FWD_ALGO_COUNT];
        int count = 0;
        OFL_CUDNN_RETURN_IF_ERROR(
            cudnnGetConvolutionForwardAlgorithm_v7(handle, x_desc_, w_desc_, conv_desc_, y_desc_,
                                                   CUDNN_CONVOLUTION_FWD_ALGO_COUNT, &count, results),
            who + " cudnnGetConvolutionForwardAlgorithm_v7");
        if (const auto* perf = PickAlgorithm(results, count, workspace_bytes, fma_only)) {
          forward_algo_ = perf->algo;
          chosen_math = perf->mathType;
          found = true;
        }
        break;
      }
      case ConvPass::kBackwardData: {
        cudnnConvolutionBwdDataAlgoPerf_t results[CUDNN_CONVOLUTION_BWD_DATA_ALGO_COUNT];
        int count = 0;
        OFL_CUDNN_RETURN_IF_ERROR(cudnnGetConvolutionBackwardDataAlgorithm_v7(
                                      handle, w_desc_, y_desc_, conv_desc_, x_desc_,
                                      CUDNN_CONVOLUTION_BWD_DATA_ALGO_COUNT, &count, results),
                                  who + " cudnnGetConvolutionBackwardDataAlgorithm_v7");
        if (const auto* perf = PickAlgorithm(results, count, workspace_bytes, fma_only)) {
          backward_data_algo_ = perf->algo;
          chosen_math = perf->mathType;
          found = true;
        }
        break;
      }
      case ConvPass::kBackwardFilter: {
        cudnnConvolutionBwdFilterAlgoPerf_t results[CUDNN_CONVOLUTION_BWD_FILTER_ALGO_COUNT];
        int count = 0;
        OFL_CUDNN_RETURN_IF_ERROR(cudnnGetConvolutionBackwardFilterAlgorithm_v7(
                                      handle, x_desc_, y_desc_, conv_desc_, w_desc_,
                                      CUDNN_CONVOLUTION_BWD_FILTER_ALGO_COUNT, &count, results),
                                  who + " cudnnGetConvolutionBackwardFilterAlgorithm_v7");
        if (const auto* perf = PickAlgorithm(results, count, workspace_bytes, fma_only)) {
          backward_filter_algo_ = perf->algo;
          chosen_math = perf->mathType;
          found = true;
        }
        break;
      }
    }
    OFL_CHECK_OR_RETURN(found) << who << " cuda kernel: cuDNN has no " << PassName(pass_) << " algorithm for "
                               << GeometryText(g, dtype) << " within " << workspace_bytes
                               << " bytes of workspace" << (fma_only ? " without TF32" : "");
    // cuDNN picks the kernel from the algorithm and the descriptor's math
    // type together: run with the math type the heuristic reported, except
    // that true f32 keeps CUDNN_FMA_MATH (DEFAULT_MATH would allow TF32).
    if (fma_only) chosen_math = CUDNN_FMA_MATH;
    OFL_CUDNN_RETURN_IF_ERROR(cudnnSetConvolutionMathType(conv_desc_, chosen_math),
                              who + " cudnnSetConvolutionMathType");
    switch (pass_) {
      case ConvPass::kForward:
        OFL_CUDNN_RETURN_IF_ERROR(
            cudnnGetConvolutionForwardWorkspaceSize(handle, x_desc_, w_desc_, conv_desc_, y_desc_,
                                                    forward_algo_, &workspace_),
            who + " cudnnGetConvolutionForwardWorkspaceSize");
        break;
      case ConvPass::kBackwardData:
        OFL_CUDNN_RETURN_IF_ERROR(
            cudnnGetConvolutionBackwardDataWorkspaceSize(handle, w_desc_, y_desc_, conv_desc_, x_desc_,
                                                         backward_data_algo_, &workspace_),
            who + " cudnnGetConvolutionBackwardDataWorkspaceSize");
        break;
      case ConvPass::kBackwardFilter:
        OFL_CUDNN_RETURN_IF_ERROR(
            cudnnGetConvolutionBackwardFilterWorkspaceSize(handle, x_desc_, y_desc_, conv_desc_, w_desc_,
                                                           backward_filter_algo_, &workspace_),
            who + " cudnnGetConvolutionBackwardFilterWorkspaceSize");
        break;
    }
    OFL_CHECK_OR_RETURN(workspace_ <= workspace_bytes)
        << who << " cuda kernel: cuDNN " << PassName(pass_) << " needs " << workspace_
        << " bytes of workspace, the stream has " << workspace_bytes << " (" << GeometryText(g, dtype) << ")";
    return Status::Ok();
  }

  Status Run(const std::string& who, cudnnHandle_t handle, CudaStream& stream, const ConvBlobs& blobs,
             DType dtype) const {
    // Scaling factors are double for f64 data and float otherwise; beta = 0
    // means the output is overwritten and never read.
    const double alpha64 = 1.0, beta64 = 0.0;
    const float alpha32 = 1.0f, beta32 = 0.0f;
    const bool is_f64 = dtype == DType::kF64;
    const void* alpha = is_f64 ? static_cast<const void*>(&alpha64) : static_cast<const void*>(&alpha32);
    const void* beta = is_f64 ? static_cast<const void*>(&beta64) : static_cast<const void*>(&beta32);
    void* workspace = workspace_ > 0 ? stream.workspace() : nullptr;
    switch (pass_) {
      case ConvPass::kForward:
        OFL_CUDNN_RETURN_IF_ERROR(
            cudnnConvolutionForward(handle, alpha, x_desc_, blobs.x->data, w_desc_, blobs.w->data, conv_desc_,
                                    forward_algo_, workspace, workspace_, beta, y_desc_, blobs.y->data),
            who + " cudnnConvolutionForward");
        break;
      case ConvPass::kBackwardData:
        OFL_CUDNN_RETURN_IF_ERROR(
            cudnnConvolutionBackwardData(handle, alpha, w_desc_, blobs.w->data, y_desc_, blobs.y->data,
                                         conv_desc_, backward_data_algo_, workspace, workspace_, beta,
                                         x_desc_, blobs.x->data),
            who + " cudnnConvolutionBackwardData");
        break;
      case ConvPass::kBackwardFilter:
        OFL_CUDNN_RETURN_IF_ERROR(
            cudnnConvolutionBackwardFilter(handle, alpha, x_desc_, blobs.x->data, y_desc_, blobs.y->data,
                                           conv_desc_, backward_filter_algo_, workspace, workspace_, beta,
                                           w_desc_, blobs.w->data),
            who + " cudnnConvolutionBackwardFilter");
        break;
    }
    return Status::Ok();
  }

  const ConvPass pass_;
  std::vector<int64_t> key_;
  cudnnTensorDescriptor_t x_desc_ = nullptr;
  cudnnTensorDescriptor_t y_desc_ = nullptr;
  cudnnFilterDescriptor_t w_desc_ = nullptr;
  cudnnConvolutionDescriptor_t conv_desc_ = nullptr;
  cudnnConvolutionFwdAlgo_t forward_algo_ = CUDNN_CONVOLUTION_FWD_ALGO_IMPLICIT_GEMM;
  cudnnConvolutionBwdDataAlgo_t backward_data_algo_ = CUDNN_CONVOLUTION_BWD_DATA_ALGO_1;
  cudnnConvolutionBwdFilterAlgo_t backward_filter_algo_ = CUDNN_CONVOLUTION_BWD_FILTER_ALGO_1;
  size_t workspace_ = 0;  ///< bytes the chosen algorithm needs
};

}  // namespace

KernelFactory CudnnConvKernel(ConvPass pass) {
  return [pass]() -> std::unique_ptr<Kernel> { return std::make_unique<CudnnConv>(pass); };
}

}  // namespace ofl
