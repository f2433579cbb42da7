// The runtime calls a kernel object from whichever thread runs its actor,
// one call at a time. Every oneDNN-backed kernel must give the same result
// when its cached primitive was built on another thread.
#include <gtest/gtest.h>

#include <cstring>
#include <thread>

#include "oneflow_like/host_tensor.h"
#include "ops/registry.h"

namespace ofl {
namespace {

HostTensor Filled(const Shape& shape, double scale) {
  HostTensor t(TensorDesc{shape, DType::kF32});
  for (int64_t i = 0; i < t.NumElements(); ++i) t.SetFromDouble(i, scale * ((i * 37) % 11 - 5) / 7.0);
  return t;
}

struct Case {
  std::string op;
  std::vector<HostTensor> inputs;
  AttrMap attrs;
};


TEST(KernelThreads, SameResultFromAnotherThread) {
  const Registries& registries = DefaultRegistries();
  const std::vector<Case> cases = {
      {"matmul", {Filled({64, 48}, 1), Filled({48, 32}, 1)}, {}},
      {"conv2d", {Filled({2, 16, 12, 12}, 1), Filled({16, 16, 3, 3}, 1)}, {{"padding", std::vector<int64_t>{1, 1}}}},
      {"gelu", {Filled({4096}, 3)}, {}},
      {"softmax_grad", {Filled({32, 64}, 0.1), Filled({32, 64}, 1)}, {}},
      {"layer_norm", {Filled({32, 64}, 1), Filled({64}, 1), Filled({64}, 1)}, {}},
      {"max_pool2d", {Filled({2, 16, 12, 12}, 1)}, {{"kernel", std::vector<int64_t>{2, 2}}}},
  };
  for (const Case& c : cases) {
    std::vector<TensorDesc> descs;
    for (const HostTensor& t : c.inputs) descs.push_back(t.desc());
    auto inferred = registries.ops.Infer(c.op, descs, c.attrs);
    ASSERT_TRUE(inferred.ok()) << inferred.status().message();
    auto factory = registries.kernels.Find(KernelKey{c.op, DeviceType::kCPU, DType::kF32});
    ASSERT_TRUE(factory.ok());
    std::unique_ptr<Kernel> kernel = factory.value()();
    auto run = [&](std::vector<HostTensor>& outputs) {
      outputs.clear();
      for (const TensorDesc& desc : inferred.value().outputs) outputs.emplace_back(desc);
      CpuStream stream;
      KernelContext ctx;
      ctx.op_name = c.op;
      ctx.attrs = &inferred.value().attrs;
      ctx.stream = &stream;
      for (const HostTensor& t : c.inputs) ctx.inputs.push_back(TensorArg::Whole(t.AsBlob()));
      for (const HostTensor& t : outputs) ctx.outputs.push_back(TensorArg::Whole(t.AsBlob()));
      return kernel->Compute(ctx);
    };
    std::vector<HostTensor> first, second, third;
    Status first_status, second_status;
    std::thread builder([&] { first_status = run(first); });  // builds and caches the primitive
    builder.join();
    ASSERT_TRUE(first_status.ok()) << c.op << ": " << first_status.message();
    std::thread other([&] { second_status = run(second); });
    other.join();
    ASSERT_TRUE(second_status.ok()) << c.op << ": " << second_status.message();
    ASSERT_TRUE(run(third).ok()) << c.op;
    for (size_t o = 0; o < first.size(); ++o) {
      EXPECT_EQ(std::memcmp(first[o].raw(), second[o].raw(), first[o].ByteSize()), 0) << c.op << " output " << o;
      EXPECT_EQ(std::memcmp(first[o].raw(), third[o].raw(), first[o].ByteSize()), 0) << c.op << " output " << o;
    }
  }
}

}  // namespace
}  // namespace ofl
