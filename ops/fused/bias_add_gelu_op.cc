// bias_add_gelu: y = gelu(x + bias) in one pass; bias_add_gelu_grad: dx =
// gelu'(x + bias) dy, recomputing x + bias instead of reading it saved.
//
// Kernels. f32 runs gelu on oneDNN, the same eltwise algorithm as the gelu
// and gelu_grad ops (so fused and unfused agree), over chunks of
// kChunkElements: the chunk's x + bias is written where oneDNN reads it
// (the output itself for the forward, a stack buffer for the backward) and
// is still in L2 when oneDNN reads it back, so memory sees one read of x
// (and dy) and one write of the result instead of the unfused pair's extra
// write and read of the pre-activation. Chunks are spread over threads and
// each oneDNN call runs single-threaded inside our parallel region (oneDNN
// does not nest OpenMP). Other dtypes run plain loops over the gelu
// functors of ops/elementwise, rounding x + bias to the storage dtype
// first, exactly where bias_add would store it.
#include <algorithm>
#include <atomic>
#include <map>
#include <mutex>
#include <type_traits>
#include <unordered_map>

#include "oneflow_like/parallel.h"
#include "ops/common/infer_helpers.h"
#include "ops/common/kernel_helpers.h"
#include "ops/elementwise/functors.h"
#include "ops/fused/fused.h"
#include "ops/matmul/dnnl_context.h"

namespace ofl {

namespace {

// 64 KiB of f32: the pre-activation of one chunk stays in L2 between its
// write and oneDNN's read, and one oneDNN call (~1 us) is small against the
// ~10 us of gelu math on it.
constexpr int64_t kChunkElements = int64_t{1} << 14;

bool UsesTanh(const AttrMap& attrs) { return attrs.GetString("approximate") == "tanh"; }

// ---- inference --------------------------------------------------------

// Checks x (input `x_index`) and bias (the next input) as bias_add does,
// and the approximate attribute as gelu does.
Status CheckBiasAndGelu(const OpView& op, int x_index) {
  const int bias_index = x_index + 1;
  OFL_RETURN_IF_ERROR(ExpectMinRank(op, x_index, 1));
  OFL_RETURN_IF_ERROR(ExpectFloating(op, x_index));
  OFL_RETURN_IF_ERROR(ExpectSameDType(op, x_index, bias_index));
  OFL_RETURN_IF_ERROR(ExpectRank(op, bias_index, 1));
  const Shape& x = op.in(x_index).shape;
  OFL_ASSIGN_OR_RETURN(int axis,
                       NormalizeAxis(op.Who() + " attribute axis", op.attrs.GetInt("axis"), x.rank()));
  OFL_CHECK_OR_RETURN(op.in(bias_index).shape[0] == x[axis])
      << op.Who(bias_index) << ": expected shape [" << x[axis] << "] (x.shape[" << axis << "] of x "
      << x.ToString() << "), got " << op.in(bias_index).shape.ToString();
  const std::string& form = op.attrs.GetString("approximate");
  OFL_CHECK_OR_RETURN(form == "none" || form == "tanh")
      << op.Who()
      << " attribute approximate: expected \"none\" (erf form) or \"tanh\", "
         "got \""
      << form << "\"";
  return Status::Ok();
}

StatusOr<std::vector<TensorDesc>> InferForward(const OpView& op) {
  OFL_RETURN_IF_ERROR(CheckBiasAndGelu(op, 0));
  return std::vector<TensorDesc>{op.in(0)};
}

StatusOr<std::vector<TensorDesc>> InferBackward(const OpView& op) {
  OFL_RETURN_IF_ERROR(CheckBiasAndGelu(op, 1));
  OFL_RETURN_IF_ERROR(ExpectSameDType(op, 1, 0));
  OFL_RETURN_IF_ERROR(ExpectSameShape(op, 1, 0));
  return std::vector<TensorDesc>{op.in(1)};
}

// ---- SBP --------------------------------------------------------------

// bias_add's signatures without its Partial one (gelu is not linear):
// B, and S(k) for each axis k of x with bias S(0) along the bias axis and B
// elsewhere. `x_index` is x's position; inputs before it (dy) follow x.
std::vector<SbpSignature> BiasGeluSignatures(const OpView& op, int x_index, bool backward) {
  const int num_inputs = op.num_inputs();
  const int rank = op.in(x_index).shape.rank();
  const int axis = NormalizeAxis("", op.attrs.GetInt("axis"), rank).ValueOrThrow();
  const std::string tensors = backward ? "dy, x and dx" : "x and y";
  std::vector<SbpSignature> list;
  AddUnique(list, SignatureBuilder(num_inputs, 1)
                      .Note("B: cpu:0 and cpu:1 both hold every input whole "
                            "and compute the whole result")
                      .Build());
  for (int k = 0; k < rank; ++k) {
    const std::string s = std::to_string(k);
    SignatureBuilder builder(num_inputs, 1);
    for (int i = 0; i <= x_index; ++i) builder.Input(i, Sbp::Split(k));
    builder.Output(0, Sbp::Split(k));
    if (k == axis) {
      builder.Input(x_index + 1, Sbp::Split(0))
          .Note("S(" + s + ") along the bias axis: " + tensors +
                " [N,4] and bias [4]; cpu:0 holds columns 0:2 of " + tensors +
                " and bias[0:2], cpu:1 columns 2:4 and bias[2:4]; each adds "
                "its own bias entries "
                "before the element-wise gelu");
    } else {
      builder.Note("S(" + s + "): cpu:0 holds the first half of axis " + s + " of " + tensors +
                   ", cpu:1 the second; bias (along another axis) is whole on "
                   "both and gelu is element-wise");
    }
    AddUnique(list, builder.Build());
  }
  if (backward) {
    // dx = gelu'(x + bias) dy is linear in dy alone.
    AddUnique(list, SignatureBuilder(num_inputs, 1)
                        .Input(0, Sbp::PartialSum())
                        .Output(0, Sbp::PartialSum())
                        .Note("P, B, B -> P: dy = dy0 + dy1 on cpu:0 and "
                              "cpu:1, x and bias whole on both; "
                              "gelu'(x + bias) dy0 + gelu'(x + bias) dy1 == "
                              "gelu'(x + bias) dy, so dx is P")
                        .Build());
  }
  return list;
}

// ---- gradient -----------------------------------------------------------

// dx = bias_add_gelu_grad(dy, x, bias); dbias = dx summed over every axis
// but `axis` (as bias_add's rule sums dy).
Status BiasAddGeluGrad(GradContext& ctx) {
  if (!ctx.needs_input_grad[0] && !ctx.needs_input_grad[1]) return Status::Ok();
  AttrMap attrs;
  attrs.Set("axis", ctx.attr().GetInt("axis"));
  attrs.Set("approximate", ctx.attr().GetString("approximate"));
  OFL_ASSIGN_OR_RETURN(ValueRef dx, ctx.Emit1("bias_add_gelu_grad",
                                              {ctx.output_grads[0], ctx.inputs[0], ctx.inputs[1]}, attrs));
  if (ctx.needs_input_grad[0]) ctx.input_grads[0] = dx;
  if (!ctx.needs_input_grad[1]) return Status::Ok();
  const int rank = ctx.Desc(ctx.inputs[0]).shape.rank();
  OFL_ASSIGN_OR_RETURN(int axis,
                       NormalizeAxis("[bias_add_gelu] attribute axis", ctx.attr().GetInt("axis"), rank));
  std::vector<int64_t> axes;
  for (int k = 0; k < rank; ++k) {
    if (k != axis) axes.push_back(k);
  }
  // reduce_sum with axes [] means "all axes"; a rank-1 x needs no reduction.
  if (axes.empty()) {
    ctx.input_grads[1] = dx;
    return Status::Ok();
  }
  OFL_ASSIGN_OR_RETURN(ctx.input_grads[1],
                       ctx.Emit1("reduce_sum", {dx}, {{"axes", axes}, {"keepdims", false}}));
  return Status::Ok();
}

// ---- kernels --------------------------------------------------------------

// Calls fn(start, length, channel, per_element) for the runs of elements
// [begin, end) that share one bias step: elements start + i add
// bias[channel + i] when per_element (bias along the last axis), else
// bias[channel]. Runs are long (a row of channels, or a row of inner), so
// the loops inside fn vectorise.
template <typename Fn>
void ForEachBiasRun(const BiasLayout& layout, int64_t begin, int64_t end, Fn&& fn) {
  int64_t e = begin;
  if (layout.inner == 1) {
    while (e < end) {
      const int64_t channel = e % layout.channels;
      const int64_t length = std::min(layout.channels - channel, end - e);
      fn(e, length, channel, true);
      e += length;
    }
    return;
  }
  while (e < end) {
    const int64_t row = e / layout.inner;
    const int64_t length = std::min((row + 1) * layout.inner - e, end - e);
    fn(e, length, row % layout.channels, false);
    e += length;
  }
}

// dst[e - begin] = x[e] + bias, in float (f32 only).
void AddBiasF32(const BiasLayout& layout, const float* x, const float* bias, float* dst, int64_t begin,
                int64_t end) {
  ForEachBiasRun(layout, begin, end, [&](int64_t start, int64_t length, int64_t channel, bool per_element) {
    const float* in = x + start;
    float* out = dst + (start - begin);
    if (per_element) {
      const float* b = bias + channel;
      for (int64_t i = 0; i < length; ++i) out[i] = in[i] + b[i];
    } else {
      const float b = bias[channel];
      for (int64_t i = 0; i < length; ++i) out[i] = in[i] + b;
    }
  });
}

// x + bias rounded to T as bias_add stores it (accumulating as bias_add does),
// then read back in gelu's compute type.
template <typename T>
inline ComputeType<T> PreActivation(T x, T bias) {
  using Acc = std::conditional_t<std::is_same_v<T, double>, double, float>;
  return ToCompute<ComputeType<T>>(FromCompute<T>(static_cast<Acc>(x) + static_cast<Acc>(bias)));
}

// The loop kernels (every dtype but f32). `dy` is null for the forward.
template <typename T, typename Gelu, typename GeluGrad>
void BiasGeluLoop(const BiasLayout& layout, const T* x, const T* bias, const T* dy, T* out) {
  using C = ComputeType<T>;
  ParallelFor(layout.count, kChunkElements, [&](int64_t begin, int64_t end) {
    ForEachBiasRun(layout, begin, end, [&](int64_t start, int64_t length, int64_t channel, bool per_element) {
      for (int64_t i = start; i < start + length; ++i) {
        const C pre = PreActivation<T>(x[i], bias[per_element ? channel + (i - start) : channel]);
        out[i] = dy == nullptr ? FromCompute<T>(Gelu{}(pre))
                               : FromCompute<T>(GeluGrad{}(pre, ToCompute<C>(dy[i])));
      }
    });
  });
}

// One cached oneDNN gelu primitive for chunks of one element count.
struct GeluPrimitive {
  dnnl::primitive primitive;
  dnnl::memory::desc desc;
  dnnl::memory::desc scratchpad;
};

// The kernel of both ops. Inputs: forward (x, bias), backward (dy, x, bias).
class BiasAddGeluKernel final : public Kernel {
 public:
  explicit BiasAddGeluKernel(bool backward) : backward_(backward) {}

  Status Compute(KernelContext& ctx) override {
    const int x_index = backward_ ? 1 : 0;
    OFL_ASSIGN_OR_RETURN(const BiasLayout layout, BiasGeluLayoutOf(ctx, backward_, "cpu"));
    const Blob& x = ctx.in(x_index);
    const Blob& bias = ctx.in(x_index + 1);
    // Empty pieces (uneven splits) never reach oneDNN, which rejects zero dims.
    if (layout.count == 0) return Status::Ok();
    const bool tanh_form = UsesTanh(ctx.attr());
    if (x.dtype() == DType::kF32) return ComputeF32(ctx, layout, x_index, tanh_form);
    return DispatchOr(ctx, FloatTypes{}, x.dtype(), [&](auto tag) {
      using T = decltype(tag);
      const T* dy = backward_ ? ctx.in(0).As<T>() : nullptr;
      if (tanh_form) {
        BiasGeluLoop<T, functors::GeluTanh, functors::GeluTanhGrad>(layout, x.As<T>(), bias.As<T>(), dy,
                                                                    ctx.out(0).As<T>());
      } else {
        BiasGeluLoop<T, functors::GeluErf, functors::GeluErfGrad>(layout, x.As<T>(), bias.As<T>(), dy,
                                                                  ctx.out(0).As<T>());
      }
    });
  }

 private:
  Status ComputeF32(KernelContext& ctx, const BiasLayout& layout, int x_index, bool tanh_form) {
    const dnnl::algorithm algorithm =
        tanh_form ? dnnl::algorithm::eltwise_gelu_tanh : dnnl::algorithm::eltwise_gelu_erf;
    const int64_t chunks = (layout.count + kChunkElements - 1) / kChunkElements;
    const int64_t tail = layout.count - (chunks - 1) * kChunkElements;
    // An actor calls its kernel on one piece size every step; anything else
    // (the eager executor's varied sizes) must not grow the cache forever.
    if (cache_.size() > 8) cache_.clear();
    const GeluPrimitive* full = nullptr;
    const GeluPrimitive* last = nullptr;
    // Build (or find) the primitives before the parallel region: the cache
    // is not shared between threads, primitives are (oneDNN executes one
    // primitive from several threads at once).
    OFL_RETURN_IF_ERROR(DnnlGuard(ctx.op_name, [&]() -> Status {
      if (chunks > 1) full = &Primitive(kChunkElements, algorithm);
      last = &Primitive(tail, algorithm);
      return Status::Ok();
    }));
    const float* x = ctx.in(x_index).As<float>();
    const float* bias = ctx.in(x_index + 1).As<float>();
    const float* dy = backward_ ? ctx.in(0).As<float>() : nullptr;
    float* out = ctx.out(0).As<float>();
    std::atomic<bool> failed{false};
    std::mutex error_mutex;
    std::string error;
    ParallelFor(chunks, 1, [&](int64_t first_chunk, int64_t end_chunk) {
      for (int64_t c = first_chunk; c < end_chunk && !failed.load(std::memory_order_relaxed); ++c) {
        const int64_t begin = c * kChunkElements;
        const int64_t end = std::min(begin + kChunkElements, layout.count);
        const GeluPrimitive& chosen = c + 1 == chunks ? *last : *full;
        // oneDNN's exceptions must not leave an OpenMP region: catch here.
        try {
          RunChunk(chosen, layout, x, bias, dy, out, begin, end);
        } catch (const dnnl::error& e) {
          std::lock_guard<std::mutex> lock(error_mutex);
          if (!failed.exchange(true)) error = e.what();
        }
      }
    });
    OFL_CHECK_OR_RETURN(!failed.load())
        << "[" << ctx.op_name << "] onednn: expected the gelu primitive to run, got " << error;
    return Status::Ok();
  }

  void RunChunk(const GeluPrimitive& gelu, const BiasLayout& layout, const float* x, const float* bias,
                const float* dy, float* out, int64_t begin, int64_t end) const {
    const dnnl::engine& engine = DnnlCpuEngine();
    std::unordered_map<int, dnnl::memory> arguments;
    dnnl::memory scratchpad;
    if (gelu.scratchpad.get_size() > 0) {
      // Each concurrent execution needs its own scratchpad (none for the
      // eltwise primitives of oneDNN 2.6, so this branch is a safeguard).
      scratchpad = dnnl::memory(gelu.scratchpad, engine);
      arguments[DNNL_ARG_SCRATCHPAD] = scratchpad;
    }
    if (!backward_) {
      // y = x + bias, then gelu in place (oneDNN supports src == dst).
      AddBiasF32(layout, x, bias, out + begin, begin, end);
      dnnl::memory y(gelu.desc, engine, out + begin);
      arguments[DNNL_ARG_SRC] = y;
      arguments[DNNL_ARG_DST] = y;
      gelu.primitive.execute(DnnlCpuStream(), arguments);
      DnnlCpuStream().wait();
      return;
    }
    alignas(64) float pre[kChunkElements];
    AddBiasF32(layout, x, bias, pre, begin, end);
    arguments[DNNL_ARG_SRC] = dnnl::memory(gelu.desc, engine, pre);
    arguments[DNNL_ARG_DIFF_DST] = dnnl::memory(gelu.desc, engine, const_cast<float*>(dy + begin));
    arguments[DNNL_ARG_DIFF_SRC] = dnnl::memory(gelu.desc, engine, out + begin);
    gelu.primitive.execute(DnnlCpuStream(), arguments);
    DnnlCpuStream().wait();
  }

  // The primitive for `count` elements, built on first use.
  const GeluPrimitive& Primitive(int64_t count, dnnl::algorithm algorithm) {
    const auto key = std::make_pair(count, static_cast<int>(algorithm));
    auto it = cache_.find(key);
    if (it != cache_.end()) return it->second;
    const dnnl::engine& engine = DnnlCpuEngine();
    GeluPrimitive built;
    built.desc = DnnlF32PlainDesc({count});
    const dnnl::primitive_attr attributes = DnnlUserScratchpadAttr();
    if (backward_) {
      // The forward descriptor is only the hint oneDNN requires for backward.
      const dnnl::eltwise_forward::primitive_desc hint(
          dnnl::eltwise_forward::desc(dnnl::prop_kind::forward_training, algorithm, built.desc, 0.0f, 0.0f),
          engine);
      const dnnl::eltwise_backward::primitive_desc descriptor(
          dnnl::eltwise_backward::desc(algorithm, built.desc, built.desc, 0.0f, 0.0f), attributes, engine,
          hint);
      built.primitive = dnnl::eltwise_backward(descriptor);
      built.scratchpad = descriptor.scratchpad_desc();
    } else {
      const dnnl::eltwise_forward::primitive_desc descriptor(
          dnnl::eltwise_forward::desc(dnnl::prop_kind::forward_inference, algorithm, built.desc, 0.0f, 0.0f),
          attributes, engine);
      built.primitive = dnnl::eltwise_forward(descriptor);
      built.scratchpad = descriptor.scratchpad_desc();
    }
    return cache_.emplace(key, std::move(built)).first->second;
  }

  bool backward_;
  std::map<std::pair<int64_t, int>, GeluPrimitive> cache_;
};

KernelFactory BiasAddGeluKernelFactory(bool backward) {
  return [backward]() -> std::unique_ptr<Kernel> { return std::make_unique<BiasAddGeluKernel>(backward); };
}

std::vector<AttrDef> Attrs() {
  return {{"axis", int64_t{-1}, false, "the axis of x that bias runs along (negative counts from the end)"},
          {"approximate", std::string("none"), false, "gelu's form: \"none\" (exact, erf) or \"tanh\""}};
}

}  // namespace

StatusOr<BiasLayout> BiasGeluLayoutOf(const KernelContext& ctx, bool backward, const char* device) {
  const int x_index = backward ? 1 : 0;
  const int expected_inputs = backward ? 3 : 2;
  OFL_CHECK_OR_RETURN(static_cast<int>(ctx.inputs.size()) == expected_inputs && ctx.outputs.size() == 1)
      << "[" << ctx.op_name << "] " << device << " kernel: expected " << expected_inputs
      << " inputs and 1 output, got " << ctx.inputs.size() << " and " << ctx.outputs.size();
  const Blob& x = ctx.in(x_index);
  const Blob& bias = ctx.in(x_index + 1);
  const Shape& shape = x.shape();
  OFL_ASSIGN_OR_RETURN(int axis, NormalizeAxis("[" + ctx.op_name + "] attribute axis",
                                               ctx.attr().GetInt("axis"), shape.rank()));
  // Works on physical pieces: the bias piece spans the x piece's extent
  // along `axis` (whole bias, or the matching S(0) slice of it).
  OFL_CHECK_OR_RETURN(bias.NumElements() == shape[axis])
      << "[" << ctx.op_name << "] " << device << " kernel: expected a bias piece of " << shape[axis]
      << " elements (x piece " << shape.ToString() << ", axis " << axis << "), got "
      << bias.shape().ToString();
  OFL_CHECK_OR_RETURN(!backward || ctx.in(0).NumElements() == x.NumElements())
      << "[" << ctx.op_name << "] " << device << " kernel: expected a dy piece of " << x.NumElements()
      << " elements, got " << ctx.in(0).shape().ToString();
  BiasLayout layout;
  layout.channels = shape[axis];
  for (int k = axis + 1; k < shape.rank(); ++k) layout.inner *= shape[k];
  layout.count = x.NumElements();
  return layout;
}

Status RegisterBiasAddGeluOps(OpRegistry& ops, KernelRegistry& kernels) {
  const std::vector<DType> floats = DTypesOf(FloatTypes{});
  OpSchema forward;
  forward.name = "bias_add_gelu";
  forward.doc =
      "y = gelu(x + bias), bias broadcast along every axis of x but "
      "`axis`, in one pass over memory; equals "
      "gelu(bias_add(x, bias)) (made by the fusion pass)";
  forward.inputs = {{"x", "input of any rank >= 1"}, {"bias", "[x.shape[axis]]"}};
  forward.outputs = {{"y", "shaped like x"}};
  forward.attrs = Attrs();
  forward.infer = InferForward;
  forward.sbp = [](const OpView& op) { return BiasGeluSignatures(op, 0, false); };
  forward.grad = BiasAddGeluGrad;
  forward.example = {{{Shape{4, 3}, DType::kF32}, {Shape{3}, DType::kF32}}, {}};
  OFL_RETURN_IF_ERROR(ops.Register(std::move(forward)));
  OFL_RETURN_IF_ERROR(
      kernels.RegisterForDTypes("bias_add_gelu", DeviceType::kCPU, floats, BiasAddGeluKernelFactory(false)));

  OpSchema backward;
  backward.name = "bias_add_gelu_grad";
  backward.doc =
      "dx = gelu'(x + bias) dy, recomputing the pre-activation x + "
      "bias rather than reading it saved; equals "
      "gelu_grad(bias_add(x, bias), dy). dx is also the gradient of "
      "the pre-activation, so bias_add_gelu's "
      "rule sums it for the bias";
  backward.inputs = {{"dy", "gradient of y, shaped like x"},
                     {"x", "the forward input (any rank >= 1)"},
                     {"bias", "the forward bias, [x.shape[axis]]"}};
  backward.outputs = {{"dx", "gradient of x (and of x + bias), shaped like x"}};
  backward.attrs = Attrs();
  backward.infer = InferBackward;
  backward.sbp = [](const OpView& op) { return BiasGeluSignatures(op, 1, true); };
  backward.example = {{{Shape{4, 3}, DType::kF32}, {Shape{4, 3}, DType::kF32}, {Shape{3}, DType::kF32}}, {}};
  OFL_RETURN_IF_ERROR(ops.Register(std::move(backward)));
  return kernels.RegisterForDTypes("bias_add_gelu_grad", DeviceType::kCPU, floats,
                                   BiasAddGeluKernelFactory(true));
}

}  // namespace ofl
