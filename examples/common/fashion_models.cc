#include "examples/common/fashion_models.h"

namespace ofl::examples {

using api::GraphBuilder;
using api::Tensor;

Tensor FashionMlpLogits(GraphBuilder& builder, int64_t batch, Tensor* labels, const std::string& layout) {
  const bool tensor_parallel = layout != "data";
  const std::string sbp = layout == "data" ? "S(0)" : layout == "tensor" ? "B" : "(S(0), B)";
  Tensor x = builder.Input("x", Shape{batch, kFashionPixels}).WithSbp(sbp);
  if (labels != nullptr) *labels = builder.Input("labels", Shape{batch}, DType::kI64).WithSbp(sbp);
  return api::nn::Mlp(x, {256, 128, kFashionClasses}, "mlp", {.tensor_parallel = tensor_parallel});
}

Tensor FashionCnnLogits(GraphBuilder& builder, int64_t batch, Tensor* labels, const CnnWidths& widths) {
  Tensor x = builder.Input("x", Shape{batch, 1, 28, 28}).WithSbp("S(0)");
  if (labels != nullptr) *labels = builder.Input("labels", Shape{batch}, DType::kI64).WithSbp("S(0)");
  // The 5x5 convolutions are padded by 2 so each pooling halves the image: 28 -> 14 -> 7.
  const api::nn::Conv2dLayerOptions conv{.padding = {2, 2}};
  const api::Pool2dOptions pool{.kernel = {2, 2}};
  Tensor h = api::nn::Conv2d(x, widths.conv1, {5, 5}, "cnn/conv0", conv);
  h = api::MaxPool2d(api::Relu(h), pool);
  h = api::nn::Conv2d(h, widths.conv2, {5, 5}, "cnn/conv1", conv);
  h = api::MaxPool2d(api::Relu(h), pool);
  h = api::Reshape(h, Shape{batch, widths.conv2 * 7 * 7});
  h = api::Relu(api::nn::Linear(h, widths.hidden, "cnn/fc0"));
  return api::nn::Linear(h, kFashionClasses, "cnn/fc1");
}

}  // namespace ofl::examples
