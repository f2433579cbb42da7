// The CUDA kernels of every op family (DESIGN.md section 7). RegisterAllOps
// calls these when the build has OFL_WITH_CUDA; each lives in the family's
// folder as <family>_cuda.cu and registers (op, cuda, dtype) keys for every
// dtype the CPU kernel supports, plus f16/bf16 where the CPU lacks them for
// compute-heavy ops (conv, pool).
#pragma once

#include "oneflow_like/kernel.h"

namespace ofl {

Status RegisterElementwiseCudaKernels(KernelRegistry& kernels);  // binary, unary, scalar ops
Status RegisterLayoutCudaKernels(KernelRegistry& kernels);
Status RegisterPipelineCudaKernels(KernelRegistry& kernels);
Status RegisterScheduleCudaKernels(KernelRegistry& kernels);
Status RegisterReduceCudaKernels(KernelRegistry& kernels);
Status RegisterSoftmaxCudaKernels(KernelRegistry& kernels);
Status RegisterNormCudaKernels(KernelRegistry& kernels);
Status RegisterLossCudaKernels(KernelRegistry& kernels);
Status RegisterEmbeddingCudaKernels(KernelRegistry& kernels);
Status RegisterMatmulCudaKernels(KernelRegistry& kernels);  // cuBLASLt
Status RegisterConvCudaKernels(KernelRegistry& kernels);    // cuDNN
Status RegisterRandomCudaKernels(KernelRegistry& kernels);
Status RegisterOptimizerCudaKernels(KernelRegistry& kernels);
Status RegisterFusedCudaKernels(KernelRegistry& kernels);
Status RegisterAttentionCudaKernels(KernelRegistry& kernels);  // flash-style causal attention

}  // namespace ofl
