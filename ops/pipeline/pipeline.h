// Ops of gradient accumulation and pipeline parallelism (DESIGN.md section
// 5, "Micro-batches"). A step's mini-batch of B samples runs as M
// micro-batches; actors between unpack/repeat and acc/pack act M times per
// step and see the index of the current micro-batch in
// KernelContext::micro_batch (0 outside a micro-batched plan).
//
// Micro-batch i holds the rows of axis 0 whose index is i modulo M (strided,
// not contiguous): a batch split S(0) over n devices then gives every device
// the same rows of micro-batch i that it holds of the mini-batch, so unpack
// and pack need no communication. Which samples form a micro-batch does not
// change a mean loss or a summed gradient.
//
//   unpack(x [B, ...]; micro_batches M) -> [B/M, ...]
//       rows i, i+M, i+2M, ... of x for micro-batch i. Gradient: pack.
//   pack(x [b, ...]; M) -> [M b, ...]
//       writes x of micro-batch i into rows i, i+M, ...; micro-batch 0 first
//       zeroes the output (a lone act, as in the op harness, leaves zeros in
//       the other rows). Gradient: unpack.
//   repeat(x; M) -> x
//       a value computed once per step read by every micro-batch (variables,
//       anything outside the micro-batch region). The compiler lowers it to
//       no actor: consumers read x's register for all M acts. Gradient: acc.
//   acc(x; M) -> x summed over the micro-batches of the step
//       copies on micro-batch 0, adds afterwards. Gradient: repeat.
//   delay(x; microseconds, grad_microseconds) -> x
//       a copy after sleeping `microseconds` (a test op: pipeline benchmarks
//       make stages take time without competing for cores). Its gradient is a
//       delay of grad_microseconds (-1: the same as forward).
#pragma once

#include "oneflow_like/kernel.h"
#include "ops/op_schema.h"

namespace ofl {

/// Registers unpack, pack, repeat, acc and delay.
Status RegisterPipelineOps(OpRegistry& ops, KernelRegistry& kernels);

}  // namespace ofl
