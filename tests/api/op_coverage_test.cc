// Every registered op is reachable through a typed wrapper of api/ops.h
// (or is listed in InternalOpNames with a reason), and the wrapper table
// does not lie: each wrapped op is called here through its typed function
// on the schema's own example and must emit exactly that op.
#include <gtest/gtest.h>

#include <functional>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "api/api.h"
#include "ops/registry.h"

namespace ofl::api {
namespace {

using Call = std::function<std::vector<Tensor>(GraphBuilder&, const std::vector<Tensor>&, const AttrMap&)>;

int64_t IntOr(const AttrMap& attrs, const std::string& name, int64_t fallback) {
  return attrs.Has(name) ? attrs.GetInt(name) : fallback;
}
double FloatOr(const AttrMap& attrs, const std::string& name, double fallback) {
  return attrs.Has(name) ? attrs.GetFloat(name) : fallback;
}
std::vector<int64_t> IntsOr(const AttrMap& attrs, const std::string& name, std::vector<int64_t> fallback) {
  return attrs.Has(name) ? attrs.GetInts(name) : fallback;
}
Pool2dOptions Pool(const AttrMap& a) {
  return Pool2dOptions{.kernel = a.GetInts("kernel"),
                       .stride = IntsOr(a, "stride", {}),
                       .padding = IntsOr(a, "padding", {0, 0})};
}
Conv2dOptions Conv(const AttrMap& a) {
  return Conv2dOptions{.stride = IntsOr(a, "stride", {1, 1}),
                       .padding = IntsOr(a, "padding", {0, 0}),
                       .dilation = IntsOr(a, "dilation", {1, 1}),
                       .groups = IntOr(a, "groups", 1)};
}
std::vector<Tensor> One(const Tensor& t) { return {t}; }
std::vector<Tensor> Two(const Tensor& a, const Tensor& b) { return {a, b}; }

// One entry per wrapped op: calls the typed wrapper.
std::map<std::string, Call> TypedCalls() {
  using B = GraphBuilder;
  using V = std::vector<Tensor>;
  using A = AttrMap;
  std::map<std::string, Call> c;
  c["add"] = [](B&, const V& i, const A&) { return One(Add(i[0], i[1])); };
  c["sub"] = [](B&, const V& i, const A&) { return One(Sub(i[0], i[1])); };
  c["mul"] = [](B&, const V& i, const A&) { return One(Mul(i[0], i[1])); };
  c["div"] = [](B&, const V& i, const A&) { return One(Div(i[0], i[1])); };
  c["maximum"] = [](B&, const V& i, const A&) { return One(Maximum(i[0], i[1])); };
  c["minimum"] = [](B&, const V& i, const A&) { return One(Minimum(i[0], i[1])); };
  c["pow"] = [](B&, const V& i, const A&) { return One(Pow(i[0], i[1])); };
  c["maximum_grad"] = [](B&, const V& i, const A&) {
    BinaryGrads g = MaximumGrad(i[0], i[1], i[2]);
    return Two(g.da, g.db);
  };
  c["minimum_grad"] = [](B&, const V& i, const A&) {
    BinaryGrads g = MinimumGrad(i[0], i[1], i[2]);
    return Two(g.da, g.db);
  };
  c["pow_grad"] = [](B&, const V& i, const A&) {
    BinaryGrads g = PowGrad(i[0], i[1], i[2], i[3]);
    return Two(g.da, g.db);
  };
  c["neg"] = [](B&, const V& i, const A&) { return One(Neg(i[0])); };
  c["abs"] = [](B&, const V& i, const A&) { return One(Abs(i[0])); };
  c["sign"] = [](B&, const V& i, const A&) { return One(Sign(i[0])); };
  c["exp"] = [](B&, const V& i, const A&) { return One(Exp(i[0])); };
  c["log"] = [](B&, const V& i, const A&) { return One(Log(i[0])); };
  c["sqrt"] = [](B&, const V& i, const A&) { return One(Sqrt(i[0])); };
  c["rsqrt"] = [](B&, const V& i, const A&) { return One(Rsqrt(i[0])); };
  c["tanh"] = [](B&, const V& i, const A&) { return One(Tanh(i[0])); };
  c["sigmoid"] = [](B&, const V& i, const A&) { return One(Sigmoid(i[0])); };
  c["relu"] = [](B&, const V& i, const A&) { return One(Relu(i[0])); };
  c["silu"] = [](B&, const V& i, const A&) { return One(Silu(i[0])); };
  c["gelu"] = [](B&, const V& i, const A&) { return One(Gelu(i[0], "tanh")); };
  c["relu_grad"] = [](B&, const V& i, const A&) { return One(ReluGrad(i[0], i[1])); };
  c["tanh_grad"] = [](B&, const V& i, const A&) { return One(TanhGrad(i[0], i[1])); };
  c["sigmoid_grad"] = [](B&, const V& i, const A&) { return One(SigmoidGrad(i[0], i[1])); };
  c["silu_grad"] = [](B&, const V& i, const A&) { return One(SiluGrad(i[0], i[1])); };
  c["gelu_grad"] = [](B&, const V& i, const A&) { return One(GeluGrad(i[0], i[1])); };
  c["scalar_add"] = [](B&, const V& i, const A& a) { return One(ScalarAdd(i[0], a.GetFloat("scalar"))); };
  c["scalar_sub"] = [](B&, const V& i, const A& a) { return One(ScalarSub(i[0], a.GetFloat("scalar"))); };
  c["scalar_mul"] = [](B&, const V& i, const A& a) { return One(ScalarMul(i[0], a.GetFloat("scalar"))); };
  c["scalar_div"] = [](B&, const V& i, const A& a) { return One(ScalarDiv(i[0], a.GetFloat("scalar"))); };
  c["scalar_pow"] = [](B&, const V& i, const A& a) { return One(ScalarPow(i[0], a.GetFloat("scalar"))); };
  c["reduce_sum"] = [](B&, const V& i, const A& a) { return One(ReduceSum(i[0], IntsOr(a, "axes", {}))); };
  c["reduce_mean"] = [](B&, const V& i, const A& a) { return One(ReduceMean(i[0], IntsOr(a, "axes", {}))); };
  c["reduce_max"] = [](B&, const V& i, const A& a) { return One(ReduceMax(i[0], IntsOr(a, "axes", {}))); };
  c["reduce_max_grad"] = [](B&, const V& i, const A& a) {
    return One(ReduceMaxGrad(i[0], i[1], i[2], IntsOr(a, "axes", {})));
  };
  c["reshape"] = [](B&, const V& i, const A& a) { return One(Reshape(i[0], a.GetShape("shape"))); };
  c["transpose"] = [](B&, const V& i, const A& a) { return One(Transpose(i[0], a.GetInts("perm"))); };
  c["slice"] = [](B&, const V& i, const A& a) {
    return One(Slice(i[0], a.GetInts("start"), a.GetInts("stop"), IntsOr(a, "step", {})));
  };
  c["slice_grad"] = [](B&, const V& i, const A& a) {
    return One(
        SliceGrad(i[0], a.GetShape("shape"), a.GetInts("start"), a.GetInts("stop"), IntsOr(a, "step", {})));
  };
  c["concat"] = [](B&, const V& i, const A& a) { return One(Concat(i, IntOr(a, "axis", 0))); };
  c["split"] = [](B&, const V& i, const A& a) {
    return Split(i[0], a.GetInts("sizes"), IntOr(a, "axis", 0));
  };
  c["broadcast_to"] = [](B&, const V& i, const A& a) { return One(BroadcastTo(i[0], a.GetShape("shape"))); };
  c["cast"] = [](B&, const V& i, const A& a) { return One(Cast(i[0], a.GetDType("dtype"))); };
  c["identity"] = [](B&, const V& i, const A&) { return One(Identity(i[0])); };
  c["add_n"] = [](B&, const V& i, const A&) { return One(AddN(i)); };
  c["matmul"] = [](B&, const V& i, const A&) { return One(Matmul(i[0], i[1])); };
  c["batch_matmul"] = [](B&, const V& i, const A&) { return One(BatchMatmul(i[0], i[1])); };
  c["bias_add"] = [](B&, const V& i, const A&) { return One(BiasAdd(i[0], i[1])); };
  c["conv2d"] = [](B&, const V& i, const A& a) { return One(Conv2d(i[0], i[1], Conv(a))); };
  c["conv2d_grad_data"] = [](B&, const V& i, const A& a) {
    return One(Conv2dGradData(i[0], i[1], a.GetShape("input_shape"), Conv(a)));
  };
  c["conv2d_grad_filter"] = [](B&, const V& i, const A& a) {
    return One(Conv2dGradFilter(i[0], i[1], a.GetShape("filter_shape"), Conv(a)));
  };
  c["max_pool2d"] = [](B&, const V& i, const A& a) { return One(MaxPool2d(i[0], Pool(a))); };
  c["max_pool2d_grad"] = [](B&, const V& i, const A& a) {
    return One(MaxPool2dGrad(i[0], i[1], i[2], Pool(a)));
  };
  c["avg_pool2d"] = [](B&, const V& i, const A& a) { return One(AvgPool2d(i[0], Pool(a))); };
  c["avg_pool2d_grad"] = [](B&, const V& i, const A& a) {
    return One(AvgPool2dGrad(i[0], a.GetShape("input_shape"), Pool(a)));
  };
  c["softmax"] = [](B&, const V& i, const A& a) { return One(Softmax(i[0], IntOr(a, "axis", -1))); };
  c["log_softmax"] = [](B&, const V& i, const A& a) { return One(LogSoftmax(i[0], IntOr(a, "axis", -1))); };
  c["softmax_grad"] = [](B&, const V& i, const A& a) {
    return One(SoftmaxGrad(i[0], i[1], IntOr(a, "axis", -1)));
  };
  c["log_softmax_grad"] = [](B&, const V& i, const A& a) {
    return One(LogSoftmaxGrad(i[0], i[1], IntOr(a, "axis", -1)));
  };
  c["causal_softmax"] = [](B&, const V& i, const A& a) {
    return One(CausalSoftmax(i[0], FloatOr(a, "scale", 1)));
  };
  c["causal_softmax_grad"] = [](B&, const V& i, const A& a) {
    return One(CausalSoftmaxGrad(i[0], i[1], FloatOr(a, "scale", 1)));
  };
  c["layer_norm"] = [](B&, const V& i, const A&) {
    LayerNormOutputs o = LayerNorm(i[0], i[1], i[2]);
    return V{o.y, o.mean, o.inv_std};
  };
  c["layer_norm_grad"] = [](B&, const V& i, const A&) {
    return One(LayerNormGrad(i[0], i[1], i[2], i[3], i[4]));
  };
  c["layer_norm_param_grad"] = [](B&, const V& i, const A&) {
    LayerNormParamGrads g = LayerNormParamGrad(i[0], i[1], i[2], i[3]);
    return Two(g.dgamma, g.dbeta);
  };
  c["rms_norm"] = [](B&, const V& i, const A&) {
    RmsNormOutputs o = RmsNorm(i[0], i[1]);
    return Two(o.y, o.inv_rms);
  };
  c["rms_norm_grad"] = [](B&, const V& i, const A&) { return One(RmsNormGrad(i[0], i[1], i[2], i[3])); };
  c["rms_norm_param_grad"] = [](B&, const V& i, const A&) { return One(RmsNormParamGrad(i[0], i[1], i[2])); };
  c["sparse_softmax_cross_entropy"] = [](B&, const V& i, const A&) {
    CrossEntropyOutputs o = SparseSoftmaxCrossEntropy(i[0], i[1]);
    return Two(o.loss, o.prob);
  };
  c["sparse_softmax_cross_entropy_grad"] = [](B&, const V& i, const A&) {
    return One(SparseSoftmaxCrossEntropyGrad(i[0], i[1], i[2]));
  };
  c["mse_loss"] = [](B&, const V& i, const A&) { return One(MseLoss(i[0], i[1])); };
  c["embedding"] = [](B&, const V& i, const A&) { return One(Embedding(i[0], i[1])); };
  c["embedding_grad"] = [](B&, const V& i, const A& a) {
    return One(EmbeddingGrad(i[0], i[1], a.GetInt("num_embeddings")));
  };
  c["fill"] = [](B& b, const V&, const A& a) {
    return One(Fill(b, a.GetShape("shape"), FloatOr(a, "value", 0)));
  };
  c["random_uniform"] = [](B& b, const V&, const A& a) {
    return One(RandomUniform(b, a.GetShape("shape"), a.GetInt("seed")));
  };
  c["random_normal"] = [](B& b, const V&, const A& a) {
    return One(RandomNormal(b, a.GetShape("shape"), a.GetInt("seed")));
  };
  c["dropout"] = [](B&, const V& i, const A& a) {
    return One(Dropout(i[0], a.GetFloat("rate"), a.GetInt("seed")));
  };
  c["clip_scale"] = [](B&, const V& i, const A& a) { return One(ClipScale(i[0], a.GetFloat("max_norm"))); };
  c["learning_rate_schedule"] = [](B&, const V& i, const A& a) {
    const LearningRateSchedule schedule{IntOr(a, "warmup_steps", 0), IntOr(a, "decay_steps", 0),
                                        FloatOr(a, "min_learning_rate", 0)};
    return One(ScheduleLearningRate(i[0], a.GetFloat("learning_rate"), schedule));
  };
  c["bias_add_gelu"] = [](B&, const V& i, const A&) { return One(BiasAddGelu(i[0], i[1])); };
  c["bias_add_gelu_grad"] = [](B&, const V& i, const A&) { return One(BiasAddGeluGrad(i[0], i[1], i[2])); };
  c["delay"] = [](B&, const V& i, const A& a) { return One(Delay(i[0], a.GetInt("microseconds"))); };
  return c;
}

TEST(ApiOpCoverage, EveryRegisteredOpIsWrappedOrListedInternal) {
  const OpRegistry& ops = DefaultRegistries().ops;
  const std::vector<std::string>& wrapped = WrappedOpNames();
  const std::set<std::string> wrapped_set(wrapped.begin(), wrapped.end());
  EXPECT_EQ(wrapped_set.size(), wrapped.size()) << "WrappedOpNames lists an op twice";
  for (const std::string& name : ops.Names()) {
    const bool is_wrapped = wrapped_set.count(name) != 0;
    const bool is_internal = InternalOpNames().count(name) != 0;
    EXPECT_TRUE(is_wrapped || is_internal) << "op '" << name << "' has no typed wrapper in api/ops.h";
    EXPECT_FALSE(is_wrapped && is_internal) << "op '" << name << "' is both wrapped and internal";
  }
  for (const std::string& name : wrapped)
    EXPECT_NE(ops.Find(name), nullptr) << "wrapped op '" << name << "' is not registered";
  for (const auto& [name, reason] : InternalOpNames()) EXPECT_FALSE(reason.empty()) << name;
}

TEST(ApiOpCoverage, EachTypedWrapperEmitsItsOpOnTheSchemaExample) {
  const OpRegistry& ops = DefaultRegistries().ops;
  const std::map<std::string, Call> calls = TypedCalls();
  for (const std::string& name : WrappedOpNames()) {
    SCOPED_TRACE(name);
    auto call = calls.find(name);
    ASSERT_NE(call, calls.end()) << "the test has no call of the wrapper of '" << name << "'";
    const OpSchema* schema = ops.Find(name);
    ASSERT_NE(schema, nullptr);
    GraphBuilder builder;
    std::vector<Tensor> inputs;
    for (size_t i = 0; i < schema->example.inputs.size(); ++i) {
      const TensorDesc& desc = schema->example.inputs[i];
      inputs.push_back(builder.Input("in" + std::to_string(i), desc.shape, desc.dtype));
    }
    const int64_t nodes_before = builder.graph().NumLiveNodes();
    std::vector<Tensor> outputs = call->second(builder, inputs, schema->example.attrs);
    ASSERT_TRUE(builder.ok()) << builder.status().message();
    ASSERT_EQ(builder.graph().NumLiveNodes(), nodes_before + 1) << "the wrapper must emit exactly one op";
    const compiler::Node& node = builder.graph().node(builder.graph().LiveNodes().back());
    EXPECT_EQ(node.op, name);
    ASSERT_EQ(outputs.size(), node.outputs.size());
    for (size_t i = 0; i < outputs.size(); ++i) {
      EXPECT_TRUE(outputs[i].valid());
      EXPECT_EQ(outputs[i].id(), node.outputs[i]);
    }
    // Example attributes reach the node (the wrapper passed them on).
    for (const auto& [key, value] : schema->example.attrs.values()) {
      EXPECT_EQ(AttrValueToString(node.attrs.Get(key)), AttrValueToString(value)) << "attribute " << key;
    }
  }
}

}  // namespace
}  // namespace ofl::api
