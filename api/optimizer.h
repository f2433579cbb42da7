// Optimizer configuration for GraphBuilder::Minimize, and its conversion to
// the graph's optimizer AttrMap (compiler::Graph::optimizer()), which the
// optimizer_insertion pass reads.
//
// The AttrMap keys, their types and the default a missing key means
// (Minimize always writes every key; the defaults matter for hand-written
// IR text and must match the pass):
//   kind               string  "sgd" | "adam" | "adamw"            "sgd"
//   learning_rate      float   peak rate, > 0                      0.001
//   momentum           float   sgd only, in [0, 1)                 0
//   beta1, beta2       float   adam/adamw, in [0, 1)               0.9, 0.999
//   epsilon            float   adam/adamw, > 0                     1e-8
//   weight_decay       float   >= 0; sgd/adam: L2 added to the
//                              gradient, adamw: decoupled          0
//   clip_norm          float   global-norm clipping, 0 = off       0
//   warmup_steps       int     linear warm-up from 0, >= 0          0
//   decay_steps        int     cosine from learning_rate to
//                              min_learning_rate over this many
//                              steps after warm-up; 0 = constant   0
//   min_learning_rate  float   in [0, learning_rate]               0
//   micro_batches      int     gradient accumulation: each step's
//                              batch runs as this many micro-batches
//                              (the compiler's micro_batching pass),
//                              >= 1; written only when > 1          1
//   max_in_flight      int     pipelines: micro-batches a stage may
//                              hold activations of at once; 0 =
//                              1F1B's S - s for stage s of S; written
//                              only when > 0                        0
#pragma once

#include <cstdint>
#include <string>

#include "oneflow_like/attr.h"
#include "oneflow_like/status.h"

namespace ofl::api {

/// Learning rate over steps: linear warm-up from 0 to the peak over
/// `warmup_steps`, then cosine to `min_learning_rate` over `decay_steps`
/// (constant at the peak when decay_steps == 0), constant afterwards.
struct LearningRateSchedule {
  int64_t warmup_steps = 0;
  int64_t decay_steps = 0;
  double min_learning_rate = 0;
};

/// One optimizer configuration; build it with Sgd/Adam/AdamW and the With*
/// modifiers, e.g. `Optimizer::AdamW(3e-4).WithClipNorm(1).WithWarmupCosine(100, 10000)`.
struct Optimizer {
  /// Which update rule.
  enum class Kind : int8_t { kSgd, kAdam, kAdamW };

  Kind kind = Kind::kSgd;
  double learning_rate = 0.001;
  double momentum = 0;
  double beta1 = 0.9;
  double beta2 = 0.999;
  double epsilon = 1e-8;
  double weight_decay = 0;
  double clip_norm = 0;
  LearningRateSchedule schedule;
  /// Gradient accumulation / pipelining: micro-batches per step (1 = none).
  int64_t micro_batches = 1;
  /// Pipelines: forward activations a stage keeps at once (0 = S - s, 1F1B).
  int64_t max_in_flight = 0;

  /// SGD, with momentum when `momentum` > 0.
  static Optimizer Sgd(double learning_rate, double momentum = 0);
  /// Adam (weight decay, if any, is L2 added to the gradient).
  static Optimizer Adam(double learning_rate, double beta1 = 0.9, double beta2 = 0.999,
                        double epsilon = 1e-8);
  /// AdamW: Adam with decoupled weight decay.
  static Optimizer AdamW(double learning_rate, double weight_decay = 0.01, double beta1 = 0.9,
                         double beta2 = 0.999, double epsilon = 1e-8);

  /// This optimizer with `weight_decay`.
  Optimizer WithWeightDecay(double decay) const;
  /// This optimizer with global-norm gradient clipping to `max_norm`.
  Optimizer WithClipNorm(double max_norm) const;
  /// This optimizer with linear warm-up over `warmup_steps`.
  Optimizer WithWarmup(int64_t warmup_steps) const;
  /// This optimizer run once per `micro_batches` micro-batches: every
  /// input's batch axis (axis 0) is split into that many strided
  /// micro-batches, gradients are summed (as the mean over the whole batch)
  /// and the update runs once per step. With pipeline stages,
  /// `max_in_flight` > 0 bounds the micro-batches in flight per stage (the
  /// default, 0, gives stage s of S the 1F1B bound S - s).
  Optimizer WithMicroBatches(int64_t micro_batches, int64_t max_in_flight = 0) const;
  /// This optimizer with warm-up then cosine decay to `min_learning_rate`.
  Optimizer WithWarmupCosine(int64_t warmup_steps, int64_t decay_steps, double min_learning_rate = 0) const;
};

/// "sgd", "adam", "adamw".
std::string OptimizerKindName(Optimizer::Kind kind);

/// Checks every field that matters for the kind; the error begins with
/// "[optimizer]" and names the field, the expected range and the value.
Status ValidateOptimizer(const Optimizer& optimizer);

/// The graph's optimizer AttrMap (all keys above), or the validation error.
StatusOr<AttrMap> OptimizerToAttrs(const Optimizer& optimizer);

/// The inverse of OptimizerToAttrs: missing keys take the defaults above;
/// unknown keys and wrongly typed values are errors.
StatusOr<Optimizer> OptimizerFromAttrs(const AttrMap& attrs);

}  // namespace ofl::api
