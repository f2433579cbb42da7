// The Fashion-MNIST models of examples/fashion_mlp and examples/fashion_cnn,
// shared with bench/vs_pytorch so that the benchmark trains exactly the
// models the examples train (same variable names, layouts and initial
// values for a given builder seed).
//
// Variables (the contract bench/vs_pytorch.py maps onto PyTorch; Linear
// weights are [in, out], i.e. transposed against torch.nn.Linear; conv
// weights are [out, in, kh, kw] like torch.nn.Conv2d):
//   MLP: mlp/fc0.{weight [784, 256], bias [256]}, mlp/fc1.{weight [256, 128], bias},
//        mlp/fc2.{weight [128, 10], bias}; ReLU between layers.
//   CNN: cnn/conv0.{weight [C1, 1, 5, 5], bias [C1]}, cnn/conv1.{weight [C2, C1, 5, 5], bias [C2]},
//        cnn/fc0.{weight [C2 * 7 * 7, H], bias [H]}, cnn/fc1.{weight [H, 10], bias [10]}.
// Initial values are PyTorch's default bounds (api/nn.h), drawn from the
// builder's seed and each variable's full name.
#pragma once

#include <cstdint>
#include <string>

#include "api/api.h"

namespace ofl::examples {

/// Pixels of one Fashion-MNIST image (28 x 28) and the number of classes.
inline constexpr int64_t kFashionPixels = 28 * 28;
inline constexpr int64_t kFashionClasses = 10;
/// Fashion-MNIST training-set pixel mean and standard deviation of x / 255:
/// every example feeds (x / 255 - mean) / std (examples/common/trainer.cc).
inline constexpr float kFashionPixelMean = 0.2860f;
inline constexpr float kFashionPixelStd = 0.3530f;

/// The MLP 784-256-128-10 (ReLU) under one of three layouts:
///   "data"   batch split S(0) over a 1-D mesh, weights replicated;
///   "tensor" Megatron (fc0 column, fc1 row, fc2 column parallel) over a 1-D
///            mesh, batch replicated;
///   "hybrid" a [N/2, 2] mesh, batch split on axis 0 and Megatron on axis 1.
/// Creates inputs "x" [batch, 784] (and "labels" [batch] i64 when `labels` is
/// not null) on the builder's default placement, which the caller chooses to
/// match the layout; returns the logits [batch, 10]. Variable names do not
/// depend on `batch`. `layout` must be one of the three (checked by the caller).
api::Tensor FashionMlpLogits(api::GraphBuilder& builder, int64_t batch, api::Tensor* labels,
                             const std::string& layout = "data");

/// Widths of the CNN (fashion_cnn's flags --conv1, --conv2, --hidden).
struct CnnWidths {
  int64_t conv1 = 32;
  int64_t conv2 = 64;
  int64_t hidden = 1024;
};

/// The CNN on NCHW [batch, 1, 28, 28], data parallel (batch S(0)):
///   conv 5x5 C1 (pad 2) -> relu -> maxpool 2 -> conv 5x5 C2 (pad 2) -> relu
///   -> maxpool 2 -> Linear H -> relu -> Linear 10
/// Creates inputs "x" [batch, 1, 28, 28] (and "labels" [batch] i64 when
/// `labels` is not null); returns the logits [batch, 10].
api::Tensor FashionCnnLogits(api::GraphBuilder& builder, int64_t batch, api::Tensor* labels,
                             const CnnWidths& widths = {});

}  // namespace ofl::examples
