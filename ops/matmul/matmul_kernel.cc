#include "ops/matmul/matmul_kernel.h"

#include <algorithm>
#include <cstring>
#include <type_traits>
#include <unordered_map>
#include <vector>

#include "oneflow_like/parallel.h"
#include "ops/common/kernel_helpers.h"
#include "ops/matmul/dnnl_context.h"

namespace ofl {

namespace {

// One (batched) product (MatmulExtents) with what the oneDNN primitive also
// depends on.
struct MatmulProblem {
  int64_t batch = 1;
  int64_t m = 0;
  int64_t n = 0;
  int64_t k = 0;
  bool transpose_a = false;
  bool transpose_b = false;
  double alpha = 1.0;
  bool batched = false;  ///< the inputs have batch axes (3-D oneDNN descriptors)

  bool operator==(const MatmulProblem& other) const {
    return batch == other.batch && m == other.m && n == other.n && k == other.k &&
           transpose_a == other.transpose_a && transpose_b == other.transpose_b && alpha == other.alpha &&
           batched == other.batched;
  }
};

StatusOr<MatmulProblem> ProblemOf(const KernelContext& ctx) {
  OFL_ASSIGN_OR_RETURN(const MatmulExtents extents, MatmulExtentsOf(ctx, "cpu"));
  MatmulProblem problem;
  problem.batch = extents.batch;
  problem.m = extents.m;
  problem.n = extents.n;
  problem.k = extents.k;
  problem.transpose_a = extents.transpose_a;
  problem.transpose_b = extents.transpose_b;
  problem.alpha = ctx.attr().GetFloat("alpha");
  problem.batched = ctx.in(0).shape().rank() > 2;
  return problem;
}

// Zero-sized problems never reach oneDNN: an empty y needs nothing, and an
// empty contraction (K = 0, e.g. a 0-wide piece of a split K) gives zeros.
bool HandledWithoutCompute(const MatmulProblem& problem, const Blob& y) {
  if (y.NumElements() == 0) return true;
  if (problem.k == 0) {
    std::memset(y.data, 0, y.ByteSize());
    return true;
  }
  return false;
}

class DnnlMatmul final : public Kernel {
 public:
  Status Compute(KernelContext& ctx) override {
    OFL_ASSIGN_OR_RETURN(MatmulProblem problem, ProblemOf(ctx));
    if (HandledWithoutCompute(problem, ctx.out(0))) return Status::Ok();
    return DnnlGuard(ctx.op_name, [&]() -> Status {
      if (!cached_ || !(problem_ == problem)) Build(problem);
      a_memory_.set_data_handle(ctx.in(0).data);
      b_memory_.set_data_handle(ctx.in(1).data);
      y_memory_.set_data_handle(ctx.out(0).data);
      dnnl::stream& stream = DnnlCpuStream();
      primitive_.execute(stream, arguments_);
      stream.wait();
      return Status::Ok();
    });
  }

 private:
  // Descriptors of the operands as they lie in memory: a transposed operand
  // is described by swapped strides, never copied.
  void Build(const MatmulProblem& p) {
    using dnnl::memory;
    cached_ = false;  // a Build that throws leaves nothing half-cached
    const memory::dim m = p.m, n = p.n, k = p.k, batch = p.batch;
    memory::desc a_desc, b_desc, y_desc;
    if (p.batched) {
      a_desc =
          DnnlF32Desc({batch, m, k}, p.transpose_a ? memory::dims{m * k, 1, m} : memory::dims{m * k, k, 1});
      b_desc =
          DnnlF32Desc({batch, k, n}, p.transpose_b ? memory::dims{k * n, 1, k} : memory::dims{k * n, n, 1});
      y_desc = DnnlF32Desc({batch, m, n}, {m * n, n, 1});
    } else {
      a_desc = DnnlF32Desc({m, k}, p.transpose_a ? memory::dims{1, m} : memory::dims{k, 1});
      b_desc = DnnlF32Desc({k, n}, p.transpose_b ? memory::dims{1, k} : memory::dims{n, 1});
      y_desc = DnnlF32Desc({m, n}, {n, 1});
    }
    dnnl::primitive_attr attributes;
    // alpha as an output scale is applied inside the GEMM's store, no extra pass.
    if (p.alpha != 1.0) attributes.set_output_scales(0, {static_cast<float>(p.alpha)});
    // The kernel owns its scratchpad: oneDNN's default one is per creating
    // thread, and the runtime may call a kernel from another thread.
    attributes.set_scratchpad_mode(dnnl::scratchpad_mode::user);
    const dnnl::engine& engine = DnnlCpuEngine();
    const dnnl::matmul::primitive_desc descriptor(dnnl::matmul::desc(a_desc, b_desc, y_desc), attributes,
                                                  engine);
    primitive_ = dnnl::matmul(descriptor);
    a_memory_ = memory(a_desc, engine, DNNL_MEMORY_NONE);
    b_memory_ = memory(b_desc, engine, DNNL_MEMORY_NONE);
    y_memory_ = memory(y_desc, engine, DNNL_MEMORY_NONE);
    scratchpad_ = memory(descriptor.scratchpad_desc(), engine);
    arguments_ = {{DNNL_ARG_SRC, a_memory_},
                  {DNNL_ARG_WEIGHTS, b_memory_},
                  {DNNL_ARG_DST, y_memory_},
                  {DNNL_ARG_SCRATCHPAD, scratchpad_}};
    problem_ = p;
    cached_ = true;
  }

  bool cached_ = false;
  MatmulProblem problem_;
  dnnl::matmul primitive_;
  dnnl::memory a_memory_, b_memory_, y_memory_, scratchpad_;
  std::unordered_map<int, dnnl::memory> arguments_;
};

// y[i, :] = alpha * sum_k a(i, k) b(k, :), one output row per task.
template <typename T>
void MatmulLoops(const MatmulProblem& p, const T* a, const T* b, T* y) {
  using Acc = std::conditional_t<std::is_same_v<T, double>, double, float>;
  const int64_t m = p.m, n = p.n, k = p.k;
  const Acc alpha = static_cast<Acc>(p.alpha);
  // Strides of a(i, kk) and b(kk, j) inside one batch element.
  const int64_t a_row = p.transpose_a ? 1 : k, a_col = p.transpose_a ? m : 1;
  const int64_t b_row = p.transpose_b ? 1 : n, b_col = p.transpose_b ? k : 1;
  const int64_t rows = p.batch * m;
  ParallelFor(rows, std::max<int64_t>(1, 4096 / std::max<int64_t>(1, n * k)),
              [&](int64_t begin, int64_t end) {
                std::vector<Acc> accumulator(n);
                for (int64_t row = begin; row < end; ++row) {
                  const int64_t batch = row / m, i = row % m;
                  const T* a_batch = a + batch * m * k;
                  const T* b_batch = b + batch * k * n;
                  T* y_row = y + batch * m * n + i * n;
                  if (p.transpose_b) {
                    // b(kk, j) = b[j * k + kk]: a dot product along contiguous memory.
                    for (int64_t j = 0; j < n; ++j) {
                      Acc sum = 0;
                      for (int64_t kk = 0; kk < k; ++kk) {
                        sum += static_cast<Acc>(a_batch[i * a_row + kk * a_col]) *
                               static_cast<Acc>(b_batch[j * b_col + kk]);
                      }
                      accumulator[j] = sum;
                    }
                  } else {
                    std::fill(accumulator.begin(), accumulator.end(), Acc(0));
                    for (int64_t kk = 0; kk < k; ++kk) {
                      const Acc a_value = static_cast<Acc>(a_batch[i * a_row + kk * a_col]);
                      const T* b_row_ptr = b_batch + kk * b_row;
                      for (int64_t j = 0; j < n; ++j)
                        accumulator[j] += a_value * static_cast<Acc>(b_row_ptr[j]);
                    }
                  }
                  for (int64_t j = 0; j < n; ++j) y_row[j] = FromCompute<T>(alpha * accumulator[j]);
                }
              });
}

}  // namespace

StatusOr<MatmulExtents> MatmulExtentsOf(const KernelContext& ctx, const char* device) {
  const Shape& a = ctx.in(0).shape();
  const Shape& b = ctx.in(1).shape();
  const Shape& y = ctx.out(0).shape();
  OFL_CHECK_OR_RETURN(a.rank() >= 2 && b.rank() == a.rank() && y.rank() == a.rank())
      << "[" << ctx.op_name << "] " << device << " kernel: expected a, b and y of one rank >= 2, got "
      << a.ToString() << ", " << b.ToString() << " and " << y.ToString();
  MatmulExtents extents;
  extents.transpose_a = ctx.attr().GetBool("transpose_a");
  extents.transpose_b = ctx.attr().GetBool("transpose_b");
  const int rank = a.rank();
  for (int axis = 0; axis < rank - 2; ++axis) extents.batch *= a[axis];
  extents.m = extents.transpose_a ? a[rank - 1] : a[rank - 2];
  extents.k = extents.transpose_a ? a[rank - 2] : a[rank - 1];
  extents.n = extents.transpose_b ? b[rank - 2] : b[rank - 1];
  const int64_t b_k = extents.transpose_b ? b[rank - 1] : b[rank - 2];
  OFL_CHECK_OR_RETURN(b_k == extents.k && y[rank - 2] == extents.m && y[rank - 1] == extents.n &&
                      b.NumElements() == extents.batch * extents.k * extents.n &&
                      y.NumElements() == extents.batch * extents.m * extents.n)
      << "[" << ctx.op_name << "] " << device << " kernel: expected pieces of one product, got a "
      << a.ToString() << ", b " << b.ToString() << ", y " << y.ToString();
  return extents;
}

KernelFactory DnnlMatmulKernel() {
  return []() -> std::unique_ptr<Kernel> { return std::make_unique<DnnlMatmul>(); };
}

KernelFactory LoopMatmulKernel() {
  return MakeFunctionKernel([](KernelContext& ctx) -> Status {
    OFL_ASSIGN_OR_RETURN(MatmulProblem problem, ProblemOf(ctx));
    if (HandledWithoutCompute(problem, ctx.out(0))) return Status::Ok();
    return DispatchOr(ctx, TypeList<double, Float16, BFloat16>{}, ctx.in(0).dtype(), [&](auto tag) {
      using T = decltype(tag);
      MatmulLoops<T>(problem, ctx.in(0).As<T>(), ctx.in(1).As<T>(), ctx.out(0).As<T>());
    });
  });
}

}  // namespace ofl
