#include "ops/registry.h"

#include "ops/elementwise/elementwise.h"
#include "ops/reduce/reduce.h"
#include "ops/layout/layout.h"
#include "ops/matmul/matmul.h"
#include "ops/conv/conv.h"
#include "ops/softmax/softmax.h"
#include "ops/norm/norm.h"
#include "ops/loss/loss.h"
#include "ops/embedding/embedding.h"
#include "ops/random/random.h"
#include "ops/optimizer/optimizer.h"
#include "ops/schedule/schedule.h"
#include "ops/fused/fused.h"
#include "ops/pipeline/pipeline.h"
#include "ops/attention/attention.h"
#ifdef OFL_WITH_CUDA
#include "ops/cuda_kernels.h"
#endif

namespace ofl {

Status RegisterAllOps(OpRegistry& ops, KernelRegistry& kernels) {
  // The one list of op families. Adding a family adds a line here.
  OFL_RETURN_IF_ERROR(RegisterBinaryOps(ops, kernels));
  OFL_RETURN_IF_ERROR(RegisterUnaryOps(ops, kernels));
  OFL_RETURN_IF_ERROR(RegisterScalarOps(ops, kernels));
  OFL_RETURN_IF_ERROR(RegisterReduceOps(ops, kernels));
  OFL_RETURN_IF_ERROR(RegisterLayoutOps(ops, kernels));
  OFL_RETURN_IF_ERROR(RegisterMatmulOps(ops, kernels));
  OFL_RETURN_IF_ERROR(RegisterConvOps(ops, kernels));
  OFL_RETURN_IF_ERROR(RegisterSoftmaxOps(ops, kernels));
  OFL_RETURN_IF_ERROR(RegisterNormOps(ops, kernels));
  OFL_RETURN_IF_ERROR(RegisterLossOps(ops, kernels));
  OFL_RETURN_IF_ERROR(RegisterEmbeddingOps(ops, kernels));
  OFL_RETURN_IF_ERROR(RegisterRandomOps(ops, kernels));
  OFL_RETURN_IF_ERROR(RegisterOptimizerOps(ops, kernels));
  OFL_RETURN_IF_ERROR(RegisterScheduleOps(ops, kernels));
  OFL_RETURN_IF_ERROR(RegisterFusedOps(ops, kernels));
  OFL_RETURN_IF_ERROR(RegisterPipelineOps(ops, kernels));
  OFL_RETURN_IF_ERROR(RegisterAttentionOps(ops, kernels));
#ifdef OFL_WITH_CUDA
  // The CUDA kernels of the same ops, one call per family.
  for (auto family : {RegisterElementwiseCudaKernels, RegisterLayoutCudaKernels, RegisterPipelineCudaKernels,
                      RegisterScheduleCudaKernels, RegisterReduceCudaKernels, RegisterSoftmaxCudaKernels,
                      RegisterNormCudaKernels, RegisterLossCudaKernels, RegisterEmbeddingCudaKernels,
                      RegisterMatmulCudaKernels, RegisterConvCudaKernels, RegisterRandomCudaKernels,
                      RegisterOptimizerCudaKernels, RegisterFusedCudaKernels, RegisterAttentionCudaKernels}) {
    OFL_RETURN_IF_ERROR(family(kernels));
  }
#endif
  return Status::Ok();
}

const Registries& DefaultRegistries() {
  static const Registries* const registries = [] {
    auto* filled = new Registries();
    ThrowIfError(RegisterAllOps(filled->ops, filled->kernels));
    return filled;
  }();
  return *registries;
}

}  // namespace ofl
