#include "ops/embedding/embedding.h"

namespace ofl {

Status RegisterEmbeddingOps(OpRegistry& ops, KernelRegistry& kernels) { return Status::Ok(); }

}  // namespace ofl
