#include "api/optimizer.h"

#include <cmath>
#include <sstream>
#include <variant>

namespace ofl::api {

Optimizer Optimizer::Sgd(double learning_rate, double momentum) {
  Optimizer optimizer;
  optimizer.kind = Kind::kSgd;
  optimizer.learning_rate = learning_rate;
  optimizer.momentum = momentum;
  return optimizer;
}

Optimizer Optimizer::Adam(double learning_rate, double beta1, double beta2, double epsilon) {
  Optimizer optimizer;
  optimizer.kind = Kind::kAdam;
  optimizer.learning_rate = learning_rate;
  optimizer.beta1 = beta1;
  optimizer.beta2 = beta2;
  optimizer.epsilon = epsilon;
  return optimizer;
}

Optimizer Optimizer::AdamW(double learning_rate, double weight_decay, double beta1, double beta2,
                           double epsilon) {
  Optimizer optimizer = Adam(learning_rate, beta1, beta2, epsilon);
  optimizer.kind = Kind::kAdamW;
  optimizer.weight_decay = weight_decay;
  return optimizer;
}

Optimizer Optimizer::WithWeightDecay(double decay) const {
  Optimizer copy = *this;
  copy.weight_decay = decay;
  return copy;
}

Optimizer Optimizer::WithClipNorm(double max_norm) const {
  Optimizer copy = *this;
  copy.clip_norm = max_norm;
  return copy;
}

Optimizer Optimizer::WithWarmup(int64_t warmup_steps) const {
  Optimizer copy = *this;
  copy.schedule.warmup_steps = warmup_steps;
  return copy;
}

Optimizer Optimizer::WithMicroBatches(int64_t micro_batches, int64_t max_in_flight) const {
  Optimizer copy = *this;
  copy.micro_batches = micro_batches;
  copy.max_in_flight = max_in_flight;
  return copy;
}

Optimizer Optimizer::WithWarmupCosine(int64_t warmup_steps, int64_t decay_steps,
                                      double min_learning_rate) const {
  Optimizer copy = *this;
  copy.schedule = LearningRateSchedule{warmup_steps, decay_steps, min_learning_rate};
  return copy;
}

std::string OptimizerKindName(Optimizer::Kind kind) {
  switch (kind) {
    case Optimizer::Kind::kSgd:
      return "sgd";
    case Optimizer::Kind::kAdam:
      return "adam";
    case Optimizer::Kind::kAdamW:
      return "adamw";
  }
  return "unknown";
}

namespace {

std::string Number(double value) {
  std::ostringstream out;
  out << value;
  return out.str();
}

// "[optimizer] beta1: expected a value in [0, 1), got 1".
Status FieldError(const std::string& field, const std::string& expected, const std::string& got) {
  return Status::Error("[optimizer] " + field + ": expected " + expected + ", got " + got);
}

Status CheckUnitInterval(const std::string& field, double value) {
  if (std::isfinite(value) && value >= 0 && value < 1) return Status::Ok();
  return FieldError(field, "a value in [0, 1)", Number(value));
}

Status CheckNonNegative(const std::string& field, double value) {
  if (std::isfinite(value) && value >= 0) return Status::Ok();
  return FieldError(field, "a finite value >= 0", Number(value));
}

}  // namespace

Status ValidateOptimizer(const Optimizer& optimizer) {
  if (!(std::isfinite(optimizer.learning_rate) && optimizer.learning_rate > 0)) {
    return FieldError("learning_rate", "a finite value > 0", Number(optimizer.learning_rate));
  }
  if (optimizer.kind == Optimizer::Kind::kSgd) {
    OFL_RETURN_IF_ERROR(CheckUnitInterval("momentum", optimizer.momentum));
  } else {
    OFL_RETURN_IF_ERROR(CheckUnitInterval("beta1", optimizer.beta1));
    OFL_RETURN_IF_ERROR(CheckUnitInterval("beta2", optimizer.beta2));
    if (!(std::isfinite(optimizer.epsilon) && optimizer.epsilon > 0)) {
      return FieldError("epsilon", "a finite value > 0", Number(optimizer.epsilon));
    }
  }
  OFL_RETURN_IF_ERROR(CheckNonNegative("weight_decay", optimizer.weight_decay));
  OFL_RETURN_IF_ERROR(CheckNonNegative("clip_norm", optimizer.clip_norm));
  const LearningRateSchedule& schedule = optimizer.schedule;
  if (schedule.warmup_steps < 0) {
    return FieldError("schedule.warmup_steps", "a count >= 0", std::to_string(schedule.warmup_steps));
  }
  if (schedule.decay_steps < 0) {
    return FieldError("schedule.decay_steps", "a count >= 0", std::to_string(schedule.decay_steps));
  }
  if (optimizer.micro_batches < 1) {
    return FieldError("micro_batches", "a count >= 1", std::to_string(optimizer.micro_batches));
  }
  if (optimizer.max_in_flight < 0) {
    return FieldError("max_in_flight", "a count >= 0 (0: 1F1B)", std::to_string(optimizer.max_in_flight));
  }
  if (!(std::isfinite(schedule.min_learning_rate) && schedule.min_learning_rate >= 0 &&
        schedule.min_learning_rate <= optimizer.learning_rate)) {
    return FieldError("schedule.min_learning_rate",
                      "a value in [0, learning_rate = " + Number(optimizer.learning_rate) + "]",
                      Number(schedule.min_learning_rate));
  }
  return Status::Ok();
}

StatusOr<AttrMap> OptimizerToAttrs(const Optimizer& optimizer) {
  OFL_RETURN_IF_ERROR(ValidateOptimizer(optimizer));
  AttrMap attrs;
  attrs.Set("kind", OptimizerKindName(optimizer.kind));
  attrs.Set("learning_rate", optimizer.learning_rate);
  attrs.Set("momentum", optimizer.momentum);
  attrs.Set("beta1", optimizer.beta1);
  attrs.Set("beta2", optimizer.beta2);
  attrs.Set("epsilon", optimizer.epsilon);
  attrs.Set("weight_decay", optimizer.weight_decay);
  attrs.Set("clip_norm", optimizer.clip_norm);
  attrs.Set("warmup_steps", optimizer.schedule.warmup_steps);
  attrs.Set("decay_steps", optimizer.schedule.decay_steps);
  attrs.Set("min_learning_rate", optimizer.schedule.min_learning_rate);
  if (optimizer.micro_batches != 1) attrs.Set("micro_batches", optimizer.micro_batches);
  if (optimizer.max_in_flight != 0) attrs.Set("max_in_flight", optimizer.max_in_flight);
  return attrs;
}

StatusOr<Optimizer> OptimizerFromAttrs(const AttrMap& attrs) {
  Optimizer optimizer;
  for (const auto& [key, value] : attrs.values()) {
    const bool is_number = std::holds_alternative<double>(value) || std::holds_alternative<int64_t>(value);
    if (key == "kind") {
      if (!std::holds_alternative<std::string>(value)) {
        return FieldError("kind", "a string", AttrTypeName(value));
      }
      const std::string& kind = std::get<std::string>(value);
      if (kind == "sgd") {
        optimizer.kind = Optimizer::Kind::kSgd;
      } else if (kind == "adam") {
        optimizer.kind = Optimizer::Kind::kAdam;
      } else if (kind == "adamw") {
        optimizer.kind = Optimizer::Kind::kAdamW;
      } else {
        return FieldError("kind", "\"sgd\", \"adam\" or \"adamw\"", "\"" + kind + "\"");
      }
      continue;
    }
    if (key == "warmup_steps" || key == "decay_steps" || key == "micro_batches" || key == "max_in_flight") {
      if (!std::holds_alternative<int64_t>(value)) return FieldError(key, "an int", AttrTypeName(value));
      int64_t* count = key == "warmup_steps"    ? &optimizer.schedule.warmup_steps
                       : key == "decay_steps"   ? &optimizer.schedule.decay_steps
                       : key == "micro_batches" ? &optimizer.micro_batches
                                                : &optimizer.max_in_flight;
      *count = std::get<int64_t>(value);
      continue;
    }
    double* field = nullptr;
    if (key == "learning_rate") field = &optimizer.learning_rate;
    if (key == "momentum") field = &optimizer.momentum;
    if (key == "beta1") field = &optimizer.beta1;
    if (key == "beta2") field = &optimizer.beta2;
    if (key == "epsilon") field = &optimizer.epsilon;
    if (key == "weight_decay") field = &optimizer.weight_decay;
    if (key == "clip_norm") field = &optimizer.clip_norm;
    if (key == "min_learning_rate") field = &optimizer.schedule.min_learning_rate;
    if (field == nullptr) {
      return Status::Error("[optimizer] unknown key '" + key +
                           "': expected one of kind, learning_rate, momentum, beta1, beta2, epsilon, "
                           "weight_decay, clip_norm, warmup_steps, decay_steps, min_learning_rate, "
                           "micro_batches, max_in_flight");
    }
    if (!is_number) return FieldError(key, "a float", AttrTypeName(value));
    *field = attrs.GetFloat(key);
  }
  OFL_RETURN_IF_ERROR(ValidateOptimizer(optimizer));
  return optimizer;
}

}  // namespace ofl::api
