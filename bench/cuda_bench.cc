// CUDA kernel benchmark (issue 7), side by side in one run on one GPU:
//   - matmul bf16 (our registry kernel, cuBLASLt) against cuBLAS's own
//     cublasGemmEx on the same operands, and the device's dense bf16 peak;
//   - memory-bound kernels (softmax, layer_norm, rms_norm, bias_add_gelu,
//     add_layer_norm) in GB/s against a device-to-device copy's bandwidth
//     (bytes read + bytes written, each tensor counted once);
//   - fused causal attention forward and backward (bf16, head dim 64 and
//     128): time and TFLOP/s; bench/attention_vs_torch.py puts PyTorch's
//     scaled_dot_product_attention beside it from the JSON.
// Method (../shared device notes): random non-zero inputs, outputs poisoned,
// warm-up, CUDA events around repeated launches, median of 7 batches.
//
//   cuda_bench [--json FILE] [--quick]
// Exits 0 with a message where no GPU is usable.
#include <cublas_v2.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <functional>
#include <random>
#include <string>
#include <vector>

#include "oneflow_like/cuda/cuda_check.h"
#include "oneflow_like/cuda/cuda_stream.h"
#include "oneflow_like/half.h"
#include "oneflow_like/host_tensor.h"
#include "ops/registry.h"
#include "runtime/cuda/cuda_memory.h"

namespace ofl {
namespace {

void Check(const Status& status, const char* what) {
  if (!status.ok()) {
    std::fprintf(stderr, "cuda_bench: %s: %s\n", what, status.message().c_str());
    std::exit(1);
  }
}

class Bench {
 public:
  Bench() {
    stream_ = CudaStream::Create(DeviceId{DeviceType::kCUDA, 0, 0}).ValueOrThrow();
    memory_ = MakeCudaDeviceAllocator(0);
  }

  CudaStream& stream() { return *stream_; }

  /// Random contents in [low, high): never zeros, which hide unwritten
  /// outputs and can run faster than real data.
  Blob Random(const TensorDesc& desc, uint64_t seed, double low = -1.0, double high = 1.0) {
    Blob blob = Empty(desc);
    HostTensor host(desc);
    std::mt19937_64 rng(seed);
    std::uniform_real_distribution<double> uniform(low, high);
    for (int64_t i = 0; i < host.NumElements(); ++i) host.SetFromDouble(i, uniform(rng));
    Check(CopyBlobAsync(*stream_, blob, host.AsBlob()), "upload");
    Check(stream_->Synchronize(), "upload");
    return blob;
  }

  Blob Empty(const TensorDesc& desc) {
    Blob blob{memory_->Allocate(desc.ByteSize()).ValueOrThrow(), desc, stream_->device()};
    // Poisoned: an element the kernel forgets stays NaN.
    Check(CudaStatus(cudaMemset(blob.data, 0xff, desc.ByteSize()), "poison"), "poison");
    return blob;
  }

  /// The op's kernel bound to `inputs` with freshly allocated outputs;
  /// calling the result launches it once.
  std::function<void()> Bind(const std::string& op, std::vector<Blob> inputs, const AttrMap& attrs,
                             std::vector<Blob>* outputs_out = nullptr) {
    const Registries& registries = DefaultRegistries();
    std::vector<TensorDesc> descs;
    for (const Blob& b : inputs) descs.push_back(b.desc);
    InferredOp inferred = registries.ops.Infer(op, descs, attrs).ValueOrThrow();
    auto bound = std::make_shared<Bound>();
    bound->attrs = inferred.attrs;
    bound->kernel =
        registries.kernels.Find(KernelKey{op, DeviceType::kCUDA, descs.at(0).dtype}).ValueOrThrow()();
    bound->ctx.op_name = op;
    bound->ctx.attrs = &bound->attrs;
    bound->ctx.stream = stream_.get();
    for (const Blob& b : inputs) bound->ctx.inputs.push_back(TensorArg::Whole(b));
    for (const TensorDesc& desc : inferred.outputs)
      bound->ctx.outputs.push_back(TensorArg::Whole(Empty(desc)));
    if (outputs_out != nullptr) {
      for (const TensorArg& o : bound->ctx.outputs) outputs_out->push_back(o.blob);
    }
    return [bound, op] { Check(bound->kernel->Compute(bound->ctx), op.c_str()); };
  }

  /// Median milliseconds of one call of `launch` (7 batches of `repeats`
  /// after a warm-up), timed with events on the stream.
  double TimeMs(const std::function<void()>& launch, int repeats) {
    for (int i = 0; i < 3; ++i) launch();
    Check(stream_->Synchronize(), "warm-up");
    cudaEvent_t start, stop;
    cudaEventCreate(&start);
    cudaEventCreate(&stop);
    std::vector<double> batches;
    for (int batch = 0; batch < 7; ++batch) {
      cudaEventRecord(start, stream_->native());
      for (int i = 0; i < repeats; ++i) launch();
      cudaEventRecord(stop, stream_->native());
      Check(CudaStatus(cudaEventSynchronize(stop), "timing"), "timing");
      float ms = 0;
      cudaEventElapsedTime(&ms, start, stop);
      batches.push_back(ms / repeats);
    }
    cudaEventDestroy(start);
    cudaEventDestroy(stop);
    std::sort(batches.begin(), batches.end());
    return batches[batches.size() / 2];
  }

  /// Relative L2 distance of two device tensors of one dtype.
  double RelativeError(const Blob& actual, const Blob& reference) {
    HostTensor a(actual.desc), r(reference.desc);
    Check(CopyBlobAsync(*stream_, a.AsBlob(), actual), "download");
    Check(CopyBlobAsync(*stream_, r.AsBlob(), reference), "download");
    Check(stream_->Synchronize(), "download");
    double diff = 0, norm = 0;
    for (int64_t i = 0; i < a.NumElements(); ++i) {
      const double d = a.GetAsDouble(i) - r.GetAsDouble(i);
      diff += d * d;
      norm += r.GetAsDouble(i) * r.GetAsDouble(i);
    }
    return std::sqrt(diff / std::max(norm, 1e-300));
  }

  void FreeAll(const std::vector<Blob>& blobs) {
    for (const Blob& b : blobs) (void)memory_->Free(b.data);
  }

 private:
  struct Bound {
    AttrMap attrs;
    std::unique_ptr<Kernel> kernel;
    KernelContext ctx;
  };
  std::unique_ptr<CudaStream> stream_;
  std::unique_ptr<CachingAllocator> memory_;
};

struct Row {
  std::string kernel, shape, unit;
  double ours = 0, reference = 0, ratio = 0, goal = 0, extra = 0;
  std::string reference_name, extra_name;
};

std::string JsonRow(const Row& r) {
  char buffer[512];
  std::snprintf(
      buffer, sizeof(buffer),
      "{\"kernel\": \"%s\", \"shape\": \"%s\", \"unit\": \"%s\", \"ours\": %.4f, \"reference\": %.4f, "
      "\"reference_name\": \"%s\", \"ratio\": %.4f, \"goal\": %.2f, \"%s\": %.6g}",
      r.kernel.c_str(), r.shape.c_str(), r.unit.c_str(), r.ours, r.reference, r.reference_name.c_str(),
      r.ratio, r.goal, r.extra_name.empty() ? "extra" : r.extra_name.c_str(), r.extra);
  return buffer;
}

int Main(int argc, char** argv) {
  std::string json_path;
  bool quick = false;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--json" && i + 1 < argc) {
      json_path = argv[++i];
    } else if (arg == "--quick") {
      quick = true;
    } else {
      std::fprintf(stderr, "usage: cuda_bench [--json FILE] [--quick]\n");
      return 2;
    }
  }
  const std::string reason = MissingCudaDeviceReason();
  if (!reason.empty()) {
    std::printf("cuda_bench: skipped: %s\n", reason.c_str());
    return 0;
  }
  Bench bench;
  cudaDeviceProp prop;
  cudaGetDeviceProperties(&prop, 0);
  int clock_khz = 0;
  cudaDeviceGetAttribute(&clock_khz, cudaDevAttrClockRate, 0);
  // Hopper's tensor cores: 4096 dense bf16 FLOPs per clock per SM (989
  // TFLOP/s on an H100 SXM at 1.83 GHz); other architectures: not printed.
  const double peak_bf16 = prop.major == 9 ? prop.multiProcessorCount * (clock_khz * 1e3) * 4096 / 1e12 : 0;
  std::printf("device: %s, %d SMs, %.0f MHz, dense bf16 peak %.0f TFLOP/s\n", prop.name,
              prop.multiProcessorCount, clock_khz / 1e3, peak_bf16);
  std::vector<Row> rows;

  // 1. Matmul bf16 against cublasGemmEx.
  cublasHandle_t blas;
  if (cublasCreate(&blas) != CUBLAS_STATUS_SUCCESS) {
    std::fprintf(stderr, "cuda_bench: cublasCreate failed\n");
    return 1;
  }
  cublasSetStream(blas, bench.stream().native());
  cublasSetWorkspace(blas, bench.stream().workspace(), bench.stream().workspace_bytes());
  const std::vector<int64_t> sizes =
      quick ? std::vector<int64_t>{1024, 2048} : std::vector<int64_t>{1024, 2048, 4096, 8192};
  for (int64_t n : sizes) {
    const TensorDesc desc{Shape({n, n}), DType::kBF16};
    Blob a = bench.Random(desc, 1), b = bench.Random(desc, 2), reference = bench.Empty(desc);
    std::vector<Blob> outputs;
    auto ours = bench.Bind("matmul", {a, b}, AttrMap{}, &outputs);
    const float one = 1.0f, zero = 0.0f;
    // Row-major y = a b is column-major y^T = b^T a^T.
    auto theirs = [&] {
      cublasGemmEx(blas, CUBLAS_OP_N, CUBLAS_OP_N, n, n, n, &one, b.data, CUDA_R_16BF, n, a.data, CUDA_R_16BF,
                   n, &zero, reference.data, CUDA_R_16BF, n, CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT);
    };
    const int repeats = n >= 4096 ? 5 : 20;
    const double flops = 2.0 * n * n * n;
    const double ours_tflops = flops / (bench.TimeMs(ours, repeats) * 1e-3) / 1e12;
    const double theirs_tflops = flops / (bench.TimeMs(theirs, repeats) * 1e-3) / 1e12;
    Check(CudaStatus(cudaGetLastError(), "cublasGemmEx"), "matmul");
    Row row{
        "matmul bf16",  std::to_string(n) + "^3",    "TFLOP/s", ours_tflops,
        theirs_tflops,  ours_tflops / theirs_tflops, 0.95,      peak_bf16 > 0 ? ours_tflops / peak_bf16 : 0,
        "cublasGemmEx", "fraction_of_peak"};
    rows.push_back(row);
    std::printf("  matmul %ld: relative error against cuBLAS %.2e\n", static_cast<long>(n),
                bench.RelativeError(outputs[0], reference));
    bench.FreeAll({a, b, reference});
    bench.FreeAll(outputs);
  }
  cublasDestroy(blas);

  // 2. Memory-bound kernels against a device-to-device copy.
  const int64_t tokens = quick ? 4096 : 16384, width = 4096;
  const TensorDesc copy_desc{Shape({tokens, width}), DType::kF32};
  Blob copy_src = bench.Random(copy_desc, 3), copy_dst = bench.Empty(copy_desc);
  auto copy = [&] {
    cudaMemcpyAsync(copy_dst.data, copy_src.data, copy_desc.ByteSize(), cudaMemcpyDeviceToDevice,
                    bench.stream().native());
  };
  const double copy_gbs = 2.0 * copy_desc.ByteSize() / (bench.TimeMs(copy, 20) * 1e-3) / 1e9;
  bench.FreeAll({copy_src, copy_dst});
  std::printf("device-to-device copy: %.0f GB/s (read + write)\n", copy_gbs);
  struct MemoryCase {
    std::string op;
    DType dtype;
    std::vector<Shape> inputs;
    AttrMap attrs;
  };
  const Shape x_shape({tokens, width}), row_shape({width});
  std::vector<MemoryCase> memory_cases;
  for (DType dtype : {DType::kF32, DType::kBF16}) {
    memory_cases.push_back({"softmax", dtype, {x_shape}, {}});
    memory_cases.push_back({"layer_norm", dtype, {x_shape, row_shape, row_shape}, {}});
    memory_cases.push_back({"rms_norm", dtype, {x_shape, row_shape}, {}});
    memory_cases.push_back({"bias_add_gelu", dtype, {x_shape, row_shape}, {}});
    memory_cases.push_back({"add_layer_norm", dtype, {x_shape, x_shape, row_shape, row_shape}, {}});
  }
  for (const MemoryCase& mc : memory_cases) {
    std::vector<Blob> inputs, outputs;
    size_t bytes = 0;
    for (size_t i = 0; i < mc.inputs.size(); ++i) {
      inputs.push_back(bench.Random(TensorDesc{mc.inputs[i], mc.dtype}, 10 + i));
      bytes += inputs.back().ByteSize();
    }
    auto launch = bench.Bind(mc.op, inputs, mc.attrs, &outputs);
    for (const Blob& o : outputs) bytes += o.ByteSize();
    const double gbs = bytes / (bench.TimeMs(launch, 20) * 1e-3) / 1e9;
    rows.push_back(Row{mc.op + " " + DTypeName(mc.dtype), x_shape.ToString(), "GB/s", gbs, copy_gbs,
                       gbs / copy_gbs, 0.80, 0, "d2d copy", ""});
    bench.FreeAll(inputs);
    bench.FreeAll(outputs);
  }

  // 3. Fused causal attention, bf16.
  const int64_t batch = 4, heads = 16, seq = quick ? 1024 : 2048;
  for (int64_t head_dim : {64, 128}) {
    const TensorDesc qkv{Shape({batch, heads, seq, head_dim}), DType::kBF16};
    Blob q = bench.Random(qkv, 20), k = bench.Random(qkv, 21), v = bench.Random(qkv, 22);
    std::vector<Blob> forward_outputs, backward_outputs;
    auto forward = bench.Bind("fused_causal_attention", {q, k, v}, AttrMap{}, &forward_outputs);
    forward();
    Blob dy = bench.Random(qkv, 23);
    auto backward =
        bench.Bind("fused_causal_attention_grad", {q, k, v, forward_outputs[0], forward_outputs[1], dy},
                   AttrMap{}, &backward_outputs);
    // Causal: half of the T x T score matrix. Forward 2 matmuls, backward 5.
    const double forward_flops = 4.0 * batch * heads * seq * seq * head_dim / 2;
    const double forward_ms = bench.TimeMs(forward, 10), backward_ms = bench.TimeMs(backward, 5);
    const std::string shape = "B" + std::to_string(batch) + " H" + std::to_string(heads) + " T" +
                              std::to_string(seq) + " D" + std::to_string(head_dim);
    rows.push_back(Row{"attention fwd bf16", shape, "TFLOP/s", forward_flops / (forward_ms * 1e-3) / 1e12, 0,
                       0, 0.9, forward_ms, "torch sdpa (attention_vs_torch.py)", "ms"});
    rows.push_back(Row{"attention bwd bf16", shape, "TFLOP/s",
                       2.5 * forward_flops / (backward_ms * 1e-3) / 1e12, 0, 0, 0.9, backward_ms,
                       "torch sdpa (attention_vs_torch.py)", "ms"});
    bench.FreeAll({q, k, v, dy});
    bench.FreeAll(forward_outputs);
    bench.FreeAll(backward_outputs);
  }

  std::printf("\n%-24s %-22s %-8s %10s %10s %-14s %7s %6s\n", "kernel", "shape", "unit", "ours", "reference",
              "reference is", "ratio", "goal");
  for (const Row& r : rows) {
    std::printf("%-24s %-22s %-8s %10.1f %10.1f %-14s %7.3f %6.2f", r.kernel.c_str(), r.shape.c_str(),
                r.unit.c_str(), r.ours, r.reference, r.reference_name.substr(0, 14).c_str(), r.ratio, r.goal);
    if (!r.extra_name.empty()) std::printf("  %s %.3f", r.extra_name.c_str(), r.extra);
    std::printf("\n");
  }
  if (!json_path.empty()) {
    std::ofstream out(json_path);
    out << "{\"device\": \"" << prop.name << "\", \"peak_bf16_tflops\": " << peak_bf16
        << ", \"copy_gbs\": " << copy_gbs << ", \"rows\": [";
    for (size_t i = 0; i < rows.size(); ++i) out << (i ? ", " : "") << JsonRow(rows[i]);
    out << "]}\n";
  }
  return 0;
}

}  // namespace
}  // namespace ofl

int main(int argc, char** argv) { return ofl::Main(argc, argv); }
