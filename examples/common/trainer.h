// The Fashion-MNIST training driver shared by the examples (fashion_mlp,
// fashion_cnn): flag parsing, data loading, the training loop with a progress
// bar and checkpoints, and the evaluation with a per-class report. An example
// supplies only its model (a TrainerModel) and calls RunFashionTraining.
//
// Contract (the same for every example):
//   PROGRAM [--devices N] [--epochs E] [--batch B] [--lr LR] [MODEL FLAGS]
//           [--steps S] [--seed SEED] [--data DIR] [--log-every K]
//           [--max-final-loss X] [--min-test-accuracy A]
//           [--save PATH] [--resume PATH] [--stop-at S]
// Trains with Adam (warm-up, then cosine decay over the whole run) and a
// progress bar on stderr, evaluates on the 10,000 test images and prints the
// test accuracy, the per-class accuracy and the most frequent confusions.
// --steps caps the number of training steps (for tests); --max-final-loss
// makes the exit status 3 when the mean loss of the last --log-every steps is
// not below X, --min-test-accuracy when the test accuracy is below A.
// --save PATH writes a checkpoint (api/checkpoint.h: parameters, Adam state,
// optimizer.step) at the end of training; --stop-at S ends training after
// global step S without changing the learning-rate schedule (which spans the
// whole run). --resume PATH loads a checkpoint and continues from its
// optimizer.step: the shuffle of each epoch depends only on (seed, epoch) and
// a step's batch only on its global step, so a resumed run given the same
// flags follows the uninterrupted run's loss trajectory exactly.
// Exit status: 0 ok, 1 runtime error (missing data file, compile error),
// 2 bad command line, 3 loss or accuracy bound missed. Errors begin with
// "[PROGRAM]".
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "api/api.h"
#include "oneflow_like/placement.h"
#include "oneflow_like/status.h"

namespace ofl::examples {

/// The flags every example shares (defaults of fashion_mlp; a model may change them).
struct TrainFlags {
  int devices = 4;
  int64_t epochs = 10;
  int64_t batch = 128;
  double learning_rate = 1e-3;
  int64_t max_steps = 0;  // 0: no cap
  uint64_t seed = 0;
  std::string data = "/usr/share/datasets/fashion-mnist";
  int64_t log_every = 50;
  std::optional<double> max_final_loss;
  std::optional<double> min_test_accuracy;
  std::string save;     // checkpoint written after training ("" = none)
  std::string resume;   // checkpoint loaded before training ("" = none)
  int64_t stop_at = 0;  // 0: train to the end of the schedule
};

/// One "--name value" pair being parsed, with value parsers whose errors name the program and flag.
struct FlagValue {
  std::string program;
  std::string name;
  std::string value;

  /// The value as an integer >= min.
  StatusOr<int64_t> Integer(int64_t min) const;
  /// The value as a positive real number.
  StatusOr<double> Real() const;
};

/// What an example supplies: its name, defaults, model flags and the model itself.
struct TrainerModel {
  /// Program name, used in messages as "[program]".
  std::string program;
  /// The full text printed for --help.
  std::string usage;
  /// Shared flags' defaults.
  TrainFlags defaults;
  /// Shape of one sample's "x" feed without the batch dimension (e.g. {784} or {1, 28, 28}).
  std::vector<int64_t> sample_shape;
  /// Parses a model flag; returns false when `flag.name` is not one (then it is an unknown flag).
  std::function<StatusOr<bool>(const FlagValue& flag)> parse_flag;
  /// Checks the flags together after parsing (before the shared --batch check); may be empty.
  std::function<Status(const TrainFlags& flags)> validate;
  /// The devices to run on.
  std::function<StatusOr<Placement>(const TrainFlags& flags)> placement;
  /// Builds inputs "x" (and "labels" when `labels` is not null) and returns the logits [batch, 10];
  /// called for the training and the evaluation graph, so variable names must not depend on batch.
  std::function<api::Tensor(api::GraphBuilder& builder, int64_t batch, api::Tensor* labels)> logits;
  /// Prints the first line on stdout after compiling (the model, layout and run length).
  std::function<void(const TrainFlags& flags, const Placement& placement, int64_t total_steps,
                     int64_t steps_per_epoch, int64_t actors)>
      print_banner;
};

/// `seconds` as "m:ss" (0:00 for a negative or non-finite value).
std::string FormatDuration(double seconds);

/// A training progress line on stderr, "[####....] step S/TOTAL  METRICS
/// elapsed m:ss  ETA m:ss": rewritten in place with \r on a terminal,
/// printed as plain lines otherwise (logs, CI).
class ProgressBar {
 public:
  /// Steps first_step..end_step run in this process (first_step > 0 when
  /// resumed, end_step < total_steps with --stop-at) of total_steps.
  ProgressBar(int64_t first_step, int64_t end_step, int64_t total_steps);
  /// Shows `step` done with `metrics` (e.g. "loss 1.23  4000 tokens/s") after `elapsed` seconds.
  void Update(int64_t step, const std::string& metrics, double elapsed);
  /// Ends the line on a terminal.
  void Finish();

 private:
  int64_t first_step_;
  int64_t end_step_;
  int64_t total_steps_;
  bool tty_;
};

/// Parses the command line, trains, evaluates and reports; returns the exit status described above.
int RunFashionTraining(int argc, char** argv, const TrainerModel& model);

}  // namespace ofl::examples
