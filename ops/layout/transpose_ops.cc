// transpose: y axis k is x axis perm[k].
//
// The kernel first simplifies the permutation: extent-1 axes are dropped
// and x axes that stay neighbours in y are merged, so [N, C, H, W] with perm
// [0, 2, 3, 1] becomes [N, C, H*W] -> [N, H*W, C]. Then:
//   - the last axis stays last: copy contiguous rows;
//   - only the last two (merged) axes swap: a batch of 2-D transposes in
//     32x32 tiles, so reads and writes both stay in cache;
//   - otherwise: a strided gather per output row.
#include <algorithm>
#include <cstring>

#include "oneflow_like/parallel.h"
#include "ops/common/infer_helpers.h"
#include "ops/layout/layout_internal.h"

namespace ofl {

namespace {

StatusOr<std::vector<int>> NormalizePerm(const OpView& op) {
  const std::vector<int64_t>& perm = op.attrs.GetInts("perm");
  const int rank = op.in(0).shape.rank();
  OFL_CHECK_OR_RETURN(static_cast<int>(perm.size()) == rank)
      << op.Who() << " attribute perm: expected " << rank << " entries (the rank of x "
      << op.in(0).shape.ToString() << "), got " << perm.size();
  std::vector<int> result;
  std::vector<bool> seen(rank, false);
  for (int64_t axis : perm) {
    OFL_ASSIGN_OR_RETURN(int normalized, NormalizeAxis(op.Who() + " attribute perm", axis, rank));
    OFL_CHECK_OR_RETURN(!seen[normalized])
        << op.Who() << " attribute perm: expected a permutation of the axes, got axis " << axis << " twice";
    seen[normalized] = true;
    result.push_back(normalized);
  }
  return result;
}

}  // namespace

StatusOr<std::vector<int>> PiecePerm(const KernelContext& ctx, const std::string& backend) {
  const Blob& x = ctx.in(0);
  const Blob& y = ctx.out(0);
  const std::vector<int64_t>& given = ctx.attr().GetInts("perm");
  const int rank = x.shape().rank();
  std::vector<int> perm;
  for (int64_t axis : given) perm.push_back(static_cast<int>(axis < 0 ? axis + rank : axis));
  bool valid = static_cast<int>(perm.size()) == rank && y.shape().rank() == rank && x.dtype() == y.dtype();
  // A repeated axis would make SimplifyTranspose's plan read out of bounds.
  std::vector<bool> seen(rank, false);
  for (int k = 0; valid && k < rank; ++k) {
    valid = perm[k] >= 0 && perm[k] < rank && !seen[perm[k]] && y.shape()[k] == x.shape()[perm[k]];
    if (valid) seen[perm[k]] = true;
  }
  OFL_CHECK_OR_RETURN(valid) << "[" << ctx.op_name << "] " << backend
                             << " kernel: expected an output piece of x's piece " << x.shape().ToString()
                             << " permuted, got " << y.shape().ToString();
  return perm;
}

TransposePlan SimplifyTranspose(const Shape& shape, const std::vector<int>& perm) {
  // Drop extent-1 axes (they do not move any element).
  std::vector<int> new_index(shape.rank(), -1);
  std::vector<int64_t> dims;
  for (int axis = 0; axis < shape.rank(); ++axis) {
    if (shape[axis] == 1) continue;
    new_index[axis] = static_cast<int>(dims.size());
    dims.push_back(shape[axis]);
  }
  std::vector<int> kept;
  for (int axis : perm) {
    if (new_index[axis] >= 0) kept.push_back(new_index[axis]);
  }
  // Merge runs of y axes that are consecutive x axes.
  struct Group {
    int first;  // first x axis of the run
    int64_t extent;
  };
  std::vector<Group> groups;  // in y order
  for (size_t k = 0; k < kept.size(); ++k) {
    if (k > 0 && kept[k] == kept[k - 1] + 1) {
      groups.back().extent *= dims[kept[k]];
    } else {
      groups.push_back(Group{kept[k], dims[kept[k]]});
    }
  }
  std::vector<int> by_input(groups.size());
  for (size_t g = 0; g < groups.size(); ++g) by_input[g] = static_cast<int>(g);
  std::sort(by_input.begin(), by_input.end(),
            [&](int a, int b) { return groups[a].first < groups[b].first; });
  TransposePlan plan;
  plan.perm.resize(groups.size());
  for (size_t position = 0; position < by_input.size(); ++position) {
    plan.dims.push_back(groups[by_input[position]].extent);
    plan.perm[by_input[position]] = static_cast<int>(position);
  }
  return plan;
}

namespace {

constexpr int64_t kTile = 32;
constexpr int64_t kGrainElements = int64_t{1} << 15;

// out[b][j][i] = in[b][i][j] for in [batch, rows, cols], tile by tile.
template <typename U>
void BatchedTranspose2d(const U* in, U* out, int64_t batch, int64_t rows, int64_t cols) {
  const int64_t row_tiles = (rows + kTile - 1) / kTile;
  const int64_t col_tiles = (cols + kTile - 1) / kTile;
  const int64_t tasks = batch * row_tiles * col_tiles;
  ParallelFor(tasks, std::max<int64_t>(1, kGrainElements / (kTile * kTile)), [&](int64_t begin, int64_t end) {
    // The tile goes through an L1-resident buffer, so the big tensors are
    // only read and written along rows (power-of-two row strides would
    // otherwise make the tile's rows collide in the same cache sets).
    U tile[kTile * kTile];
    for (int64_t task = begin; task < end; ++task) {
      const int64_t b = task / (row_tiles * col_tiles);
      const int64_t i0 = (task / col_tiles) % row_tiles * kTile;
      const int64_t j0 = task % col_tiles * kTile;
      const int64_t height = std::min(kTile, rows - i0), width = std::min(kTile, cols - j0);
      const U* src = in + b * rows * cols + i0 * cols + j0;
      U* dst = out + b * rows * cols + j0 * rows + i0;
      for (int64_t i = 0; i < height; ++i) {
        for (int64_t j = 0; j < width; ++j) tile[j * kTile + i] = src[i * cols + j];
      }
      for (int64_t j = 0; j < width; ++j) {
        for (int64_t i = 0; i < height; ++i) dst[j * rows + i] = tile[j * kTile + i];
      }
    }
  });
}

template <typename U>
void Transpose(const U* in, U* out, const TransposePlan& plan) {
  const int rank = static_cast<int>(plan.dims.size());
  int64_t count = 1;
  for (int64_t dim : plan.dims) count *= dim;
  if (count == 0) return;
  if (rank <= 1) {
    CopyBytes(out, in, count * sizeof(U));
    return;
  }
  bool batch_identity = true;
  for (int k = 0; k + 2 < rank; ++k) batch_identity &= plan.perm[k] == k;
  if (batch_identity && plan.perm[rank - 2] == rank - 1 && plan.perm[rank - 1] == rank - 2) {
    const int64_t rows = plan.dims[rank - 2], cols = plan.dims[rank - 1];
    BatchedTranspose2d(in, out, count / (rows * cols), rows, cols);
    return;
  }
  const std::vector<int64_t> in_strides = StridesOf(plan.dims);
  std::vector<int64_t> out_dims(rank), strides(rank);  // per y axis: extent and stride in x
  for (int k = 0; k < rank; ++k) {
    out_dims[k] = plan.dims[plan.perm[k]];
    strides[k] = in_strides[plan.perm[k]];
  }
  const int64_t row = out_dims[rank - 1];
  const int64_t step = strides[rank - 1];
  const int64_t rows = count / row;
  ParallelFor(rows, std::max<int64_t>(1, kGrainElements / row), [&](int64_t begin, int64_t end) {
    for (int64_t r = begin; r < end; ++r) {
      int64_t offset = 0, rest = r;
      for (int k = rank - 2; k >= 0; --k) {
        offset += (rest % out_dims[k]) * strides[k];
        rest /= out_dims[k];
      }
      const U* src = in + offset;
      U* dst = out + r * row;
      if (step == 1) {
        std::memcpy(dst, src, row * sizeof(U));
      } else {
        for (int64_t i = 0; i < row; ++i) dst[i] = src[i * step];
      }
    }
  });
}

Status RunTranspose(KernelContext& ctx) {
  const Blob& x = ctx.in(0);
  const Blob& y = ctx.out(0);
  OFL_ASSIGN_OR_RETURN(const std::vector<int> perm, PiecePerm(ctx, "cpu"));
  const TransposePlan plan = SimplifyTranspose(x.shape(), perm);
  return DispatchByElementSize(ctx, x.dtype(), [&](auto tag) {
    using U = decltype(tag);
    Transpose(x.As<U>(), y.As<U>(), plan);
  });
}

OpSchema TransposeSchema() {
  OpSchema schema;
  schema.name = "transpose";
  schema.doc = "y = x with its axes permuted: y.shape[k] = x.shape[perm[k]]";
  schema.inputs = {{"x", "input"}};
  schema.outputs = {{"y", "x permuted"}};
  schema.attrs = {{"perm", std::vector<int64_t>{}, true, "for each axis of y, the axis of x it takes"}};
  schema.infer = [](const OpView& op) -> StatusOr<std::vector<TensorDesc>> {
    OFL_ASSIGN_OR_RETURN(std::vector<int> perm, NormalizePerm(op));
    std::vector<int64_t> dims;
    for (int axis : perm) dims.push_back(op.in(0).shape[axis]);
    return std::vector<TensorDesc>{{Shape(std::move(dims)), op.in(0).dtype}};
  };
  schema.sbp = [](const OpView& op) {
    const std::vector<int> perm = NormalizePerm(op).ValueOrThrow();
    std::vector<SbpSignature> list;
    AddUnique(list, SignatureBuilder(1, 1)
                        .Note("cpu:0 and cpu:1 both hold x whole and both compute the whole y")
                        .Build());
    for (int k = 0; k < static_cast<int>(perm.size()); ++k) {
      const std::string from = std::to_string(perm[k]), to = std::to_string(k);
      AddUnique(list, SignatureBuilder(1, 1)
                          .Input(0, Sbp::Split(perm[k]))
                          .Output(0, Sbp::Split(k))
                          .Note("x axis " + from + " becomes y axis " + to +
                                "; cpu:0 transposes the first half of x along it into the first half of y, "
                                "cpu:1 the second half")
                          .Build());
    }
    AddPartialSignatures(list, 1, 1, op.in(0).dtype, /*with_max=*/true);
    return list;
  };
  schema.grad = [](GradContext& ctx) -> Status {
    if (!ctx.needs_input_grad[0]) return Status::Ok();
    const std::vector<int64_t>& perm = ctx.attr().GetInts("perm");
    const int64_t rank = static_cast<int64_t>(perm.size());
    std::vector<int64_t> inverse(rank);
    for (int64_t k = 0; k < rank; ++k) inverse[perm[k] < 0 ? perm[k] + rank : perm[k]] = k;
    OFL_ASSIGN_OR_RETURN(ctx.input_grads[0],
                         ctx.Emit1("transpose", {ctx.output_grads[0]}, {{"perm", inverse}}));
    return Status::Ok();
  };
  schema.example = {{{Shape{4, 3}, DType::kF32}}, {{"perm", std::vector<int64_t>{1, 0}}}};
  return schema;
}

}  // namespace

Status RegisterTransposeOp(OpRegistry& ops, KernelRegistry& kernels) {
  OFL_RETURN_IF_ERROR(ops.Register(TransposeSchema()));
  return kernels.RegisterForDTypes("transpose", DeviceType::kCPU, AllDTypes(),
                                   MakeFunctionKernel(RunTranspose));
}

}  // namespace ofl
