// multi_tensor_adam_update: adam_update applied to N parameter tensors by one
// op, so that CUDA updates all of them in one kernel launch (the fused
// multi-tensor Adam/AdamW of PyTorch's foreach/fused optimizers and apex).
//
// Inputs, in this order (the schema's variadic last input):
//   0: learning_rate [] (the params' dtype), 1: step [] i64,
//   2 .. 2+N-1: params, then N grads, N ms, N vs (group g, tensor i at
//   2 + g N + i). Every tensor of index i shares params[i]'s shape; all are
//   of one dtype, f32 or f64. The kernel key's dtype is learning_rate's,
//   which inference ties to the params' dtype.
//
// Constraint: OpSchema::mutated_inputs is a fixed list of indices, and the
// indices this op writes (params, ms, vs) depend on N, so the schema leaves
// it empty. The compiler therefore does not know that this op writes its
// inputs in place; no pass may emit it until OpSchema can state mutated
// inputs as a function of the input count.
#pragma once

#include <cstdint>

#include "oneflow_like/kernel.h"
#include "ops/op_schema.h"

namespace ofl {

/// Positions of the inputs of a multi_tensor_adam_update with N tensors.
struct MultiTensorAdamLayout {
  static constexpr int kLearningRate = 0;
  static constexpr int kStep = 1;
  static constexpr int kFirstTensor = 2;
  static constexpr int kGroups = 4;  // params, grads, ms, vs

  int num_tensors = 0;

  int Param(int i) const { return kFirstTensor + i; }
  int Grad(int i) const { return kFirstTensor + num_tensors + i; }
  int M(int i) const { return kFirstTensor + 2 * num_tensors + i; }
  int V(int i) const { return kFirstTensor + 3 * num_tensors + i; }

  /// The layout of `num_inputs` inputs, or an error naming `op` when the
  /// count is not 2 + 4 N with N >= 1.
  static StatusOr<MultiTensorAdamLayout> For(const std::string& op, int num_inputs);
};

/// Registers multi_tensor_adam_update and its CPU kernel (after adam_update:
/// the CPU kernel runs adam_update's kernel on each tensor).
Status RegisterMultiTensorAdamOp(OpRegistry& ops, KernelRegistry& kernels);

}  // namespace ofl
