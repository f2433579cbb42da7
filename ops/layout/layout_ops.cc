// The layout family: the one registration entry point and the helpers its
// files share.
#include <algorithm>
#include <cstring>

#include "oneflow_like/parallel.h"
#include "ops/layout/layout.h"
#include "ops/layout/layout_internal.h"

namespace ofl {

void AddPartialSignatures(std::vector<SbpSignature>& list, int num_inputs, int num_outputs, DType dtype,
                          bool with_max) {
  if (dtype == DType::kBool) return;
  AddUnique(list, SignatureBuilder(num_inputs, num_outputs)
                      .AllInputs(Sbp::PartialSum())
                      .AllOutputs(Sbp::PartialSum())
                      .Note("each input is x0 + x1 with x0 on cpu:0 and x1 on cpu:1; the op is linear, "
                            "so its results on cpu:0 and cpu:1 add up to the result on x")
                      .Build());
  if (!with_max) return;
  AddUnique(list,
            SignatureBuilder(num_inputs, num_outputs)
                .AllInputs(Sbp::PartialMax())
                .AllOutputs(Sbp::PartialMax())
                .Note("each input is max(x0, x1) element-wise with x0 on cpu:0 and x1 on "
                      "cpu:1; the op only moves elements, so the element-wise max of the two results is "
                      "the result on x")
                .Build());
}

std::vector<SbpSignature> SameAxesSignatures(int num_inputs, int num_outputs, int rank) {
  std::vector<SbpSignature> list;
  AddUnique(list, SignatureBuilder(num_inputs, num_outputs)
                      .Note("cpu:0 and cpu:1 both hold every input whole and compute the whole output")
                      .Build());
  for (int axis = 0; axis < rank; ++axis) {
    const std::string k = std::to_string(axis);
    AddUnique(list,
              SignatureBuilder(num_inputs, num_outputs)
                  .AllInputs(Sbp::Split(axis))
                  .AllOutputs(Sbp::Split(axis))
                  .Note("cpu:0 holds the first half of axis " + k +
                        " of every input and computes the first half of the output, cpu:1 the second half")
                  .Build());
  }
  return list;
}

void CopyBytes(void* dst, const void* src, size_t bytes) {
  if (bytes == 0 || dst == src) return;
  constexpr int64_t kChunk = int64_t{1} << 20;
  const int64_t chunks = (static_cast<int64_t>(bytes) + kChunk - 1) / kChunk;
  ParallelFor(chunks, 1, [&](int64_t begin, int64_t end) {
    const int64_t first = begin * kChunk;
    const int64_t last = std::min<int64_t>(end * kChunk, static_cast<int64_t>(bytes));
    std::memcpy(static_cast<char*>(dst) + first, static_cast<const char*>(src) + first, last - first);
  });
}

std::vector<int64_t> StridesOf(const std::vector<int64_t>& dims) {
  std::vector<int64_t> strides(dims.size(), 1);
  for (int axis = static_cast<int>(dims.size()) - 2; axis >= 0; --axis) {
    strides[axis] = strides[axis + 1] * dims[axis + 1];
  }
  return strides;
}

Status RegisterLayoutOps(OpRegistry& ops, KernelRegistry& kernels) {
  OFL_RETURN_IF_ERROR(RegisterReshapeOps(ops, kernels));
  OFL_RETURN_IF_ERROR(RegisterTransposeOp(ops, kernels));
  OFL_RETURN_IF_ERROR(RegisterSliceOps(ops, kernels));
  OFL_RETURN_IF_ERROR(RegisterConcatSplitOps(ops, kernels));
  OFL_RETURN_IF_ERROR(RegisterBroadcastToOp(ops, kernels));
  OFL_RETURN_IF_ERROR(RegisterCastOp(ops, kernels));
  OFL_RETURN_IF_ERROR(RegisterAddNOp(ops, kernels));
  return Status::Ok();
}

}  // namespace ofl
