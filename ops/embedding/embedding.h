// Embedding ops: embedding, embedding_grad.
#pragma once

#include "oneflow_like/kernel.h"
#include "ops/op_schema.h"

namespace ofl {

/// Registers embedding, embedding_grad.
Status RegisterEmbeddingOps(OpRegistry& ops, KernelRegistry& kernels);

}  // namespace ofl
