#include "examples/common/trainer.h"

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <numeric>
#include <random>
#include <utility>

#include "api/checkpoint.h"
#include "api/session.h"
#include "examples/common/idx.h"

namespace ofl::examples {
namespace {

using api::GraphBuilder;
using api::Session;
using api::Tensor;

constexpr int64_t kPixels = 28 * 28;
constexpr int64_t kClasses = 10;
// Fashion-MNIST training-set pixel mean and standard deviation (of x / 255).
constexpr float kPixelMean = 0.2860f;
constexpr float kPixelStd = 0.3530f;
constexpr const char* kClassNames[kClasses] = {"T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                                               "Sandal",      "Shirt",   "Sneaker",  "Bag",   "Ankle boot"};

// Parses "--name value" and "--name=value"; the error names the flag.
StatusOr<TrainFlags> ParseFlags(int argc, char** argv, const TrainerModel& model) {
  const std::string& program = model.program;
  TrainFlags flags = model.defaults;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg == "--help" || arg == "-h") return Status::Error(model.usage);
    if (arg.rfind("--", 0) != 0) return Status::Error("[" + program + "] unexpected argument '" + arg + "'");
    FlagValue flag{.program = program, .name = arg, .value = ""};
    if (const size_t eq = arg.find('='); eq != std::string::npos) {
      flag.name = arg.substr(0, eq);
      flag.value = arg.substr(eq + 1);
    } else {
      if (i + 1 >= argc) return Status::Error("[" + program + "] flag " + flag.name + " expects a value");
      flag.value = argv[++i];
    }
    const std::string& name = flag.name;
    if (name == "--devices") {
      OFL_ASSIGN_OR_RETURN(int64_t devices, flag.Integer(1));
      flags.devices = static_cast<int>(devices);
    } else if (name == "--epochs") {
      OFL_ASSIGN_OR_RETURN(flags.epochs, flag.Integer(1));
    } else if (name == "--batch") {
      OFL_ASSIGN_OR_RETURN(flags.batch, flag.Integer(1));
    } else if (name == "--lr") {
      OFL_ASSIGN_OR_RETURN(flags.learning_rate, flag.Real());
    } else if (name == "--steps") {
      OFL_ASSIGN_OR_RETURN(flags.max_steps, flag.Integer(1));
    } else if (name == "--seed") {
      OFL_ASSIGN_OR_RETURN(int64_t seed, flag.Integer(0));
      flags.seed = static_cast<uint64_t>(seed);
    } else if (name == "--data") {
      flags.data = flag.value;
    } else if (name == "--log-every") {
      OFL_ASSIGN_OR_RETURN(flags.log_every, flag.Integer(1));
    } else if (name == "--max-final-loss") {
      OFL_ASSIGN_OR_RETURN(double bound, flag.Real());
      flags.max_final_loss = bound;
    } else if (name == "--min-test-accuracy") {
      OFL_ASSIGN_OR_RETURN(double bound, flag.Real());
      flags.min_test_accuracy = bound;
    } else if (name == "--save") {
      flags.save = flag.value;
    } else if (name == "--resume") {
      flags.resume = flag.value;
    } else if (name == "--stop-at") {
      OFL_ASSIGN_OR_RETURN(flags.stop_at, flag.Integer(1));
    } else {
      bool known = false;
      if (model.parse_flag) {
        OFL_ASSIGN_OR_RETURN(known, model.parse_flag(flag));
      }
      if (!known) return Status::Error("[" + program + "] unknown flag " + name);
    }
  }
  if (model.validate) OFL_RETURN_IF_ERROR(model.validate(flags));
  if (flags.batch < flags.devices) {
    return Status::Error("[" + program + "] flag --batch expects at least one sample per device (>= " +
                         std::to_string(flags.devices) + "), found " + std::to_string(flags.batch));
  }
  return flags;
}

// Images normalised to (x / 255 - mean) / std, and labels.
struct Dataset {
  int64_t count = 0;
  std::vector<float> images;    // [count, 784]
  std::vector<int64_t> labels;  // [count]
};

StatusOr<Dataset> LoadSplit(const std::string& program, const std::string& dir, const std::string& prefix) {
  const std::string images_path = dir + "/" + prefix + "-images-idx3-ubyte.gz";
  const std::string labels_path = dir + "/" + prefix + "-labels-idx1-ubyte.gz";
  OFL_ASSIGN_OR_RETURN(IdxArray images, ReadIdx(images_path));
  OFL_ASSIGN_OR_RETURN(IdxArray labels, ReadIdx(labels_path));
  if (images.dims.size() != 3 || images.item_size() != kPixels) {
    return Status::Error("[" + program + "] '" + images_path + "': expected images [N, 28, 28]");
  }
  if (labels.dims.size() != 1 || labels.count() != images.count()) {
    return Status::Error("[" + program + "] '" + labels_path + "': expected " +
                         std::to_string(images.count()) + " labels, found " + std::to_string(labels.count()));
  }
  Dataset dataset;
  dataset.count = images.count();
  dataset.images.resize(images.data.size());
  for (size_t i = 0; i < images.data.size(); ++i) {
    dataset.images[i] = (static_cast<float>(images.data[i]) / 255.0f - kPixelMean) / kPixelStd;
  }
  dataset.labels.resize(labels.data.size());
  for (size_t i = 0; i < labels.data.size(); ++i) {
    if (labels.data[i] >= kClasses) {
      return Status::Error("[" + program + "] '" + labels_path + "': label " +
                           std::to_string(labels.data[i]) + " at " + std::to_string(i) +
                           " is not a class 0..9");
    }
    dataset.labels[i] = labels.data[i];
  }
  return dataset;
}

// The samples `indices[first, first + batch)` as feeds "x" [batch, sample_shape...] and "labels" [batch].
runtime::TensorMap MakeBatch(const Dataset& dataset, const std::vector<int64_t>& sample_shape,
                             const std::vector<int64_t>& indices, int64_t first, int64_t batch) {
  std::vector<int64_t> x_dims{batch};
  x_dims.insert(x_dims.end(), sample_shape.begin(), sample_shape.end());
  HostTensor x(TensorDesc{Shape(x_dims), DType::kF32});
  HostTensor labels(TensorDesc{Shape{batch}, DType::kI64});
  float* x_data = x.data<float>();
  int64_t* label_data = labels.data<int64_t>();
  for (int64_t row = 0; row < batch; ++row) {
    const int64_t sample = indices[static_cast<size_t>(first + row)];
    std::copy_n(dataset.images.data() + sample * kPixels, kPixels, x_data + row * kPixels);
    label_data[row] = dataset.labels[static_cast<size_t>(sample)];
  }
  return {{"x", std::move(x)}, {"labels", std::move(labels)}};
}

}  // namespace

std::string FormatDuration(double seconds) {
  if (!std::isfinite(seconds) || seconds < 0) seconds = 0;
  const int64_t total = static_cast<int64_t>(seconds + 0.5);
  char text[32];
  std::snprintf(text, sizeof(text), "%lld:%02lld", static_cast<long long>(total / 60),
                static_cast<long long>(total % 60));
  return text;
}

ProgressBar::ProgressBar(int64_t first_step, int64_t end_step, int64_t total_steps)
    : first_step_(first_step),
      end_step_(end_step),
      total_steps_(total_steps),
      tty_(isatty(STDERR_FILENO) == 1) {}

void ProgressBar::Update(int64_t step, const std::string& metrics, double elapsed) {
  const double fraction = static_cast<double>(step) / static_cast<double>(std::max<int64_t>(1, total_steps_));
  const int64_t done = step - first_step_;
  const double eta =
      done > 0 ? elapsed * static_cast<double>(end_step_ - step) / static_cast<double>(done) : 0;
  constexpr int kWidth = 24;
  const int filled = std::clamp(static_cast<int>(fraction * kWidth), 0, kWidth);
  std::string bar = std::string(filled, '#') + std::string(kWidth - filled, '.');
  std::fprintf(stderr, "%s[%s] step %lld/%lld  %s  elapsed %s  ETA %s%s", tty_ ? "\r" : "", bar.c_str(),
               static_cast<long long>(step), static_cast<long long>(total_steps_), metrics.c_str(),
               FormatDuration(elapsed).c_str(), FormatDuration(eta).c_str(), tty_ ? "\033[K" : "\n");
  std::fflush(stderr);
}

void ProgressBar::Finish() {
  if (tty_) std::fprintf(stderr, "\n");
}

StatusOr<int64_t> FlagValue::Integer(int64_t min) const {
  char* end = nullptr;
  const long long parsed = std::strtoll(value.c_str(), &end, 10);
  if (value.empty() || *end != '\0' || parsed < min) {
    return Status::Error("[" + program + "] flag " + name + " expects an integer >= " + std::to_string(min) +
                         ", found '" + value + "'");
  }
  return static_cast<int64_t>(parsed);
}

StatusOr<double> FlagValue::Real() const {
  char* end = nullptr;
  const double parsed = std::strtod(value.c_str(), &end);
  if (value.empty() || *end != '\0' || !(parsed > 0)) {
    return Status::Error("[" + program + "] flag " + name + " expects a positive number, found '" + value +
                         "'");
  }
  return parsed;
}

int RunFashionTraining(int argc, char** argv, const TrainerModel& model) {
  const char* program = model.program.c_str();
  StatusOr<TrainFlags> parsed = ParseFlags(argc, argv, model);
  if (!parsed.ok()) {
    std::fprintf(stderr, "%s\n", parsed.status().message().c_str());
    return 2;
  }
  const TrainFlags flags = parsed.value();

  StatusOr<Dataset> train = LoadSplit(model.program, flags.data, "train");
  if (!train.ok()) {
    std::fprintf(stderr, "%s\n(install the Debian package dataset-fashion-mnist or pass --data DIR)\n",
                 train.status().message().c_str());
    return 1;
  }
  StatusOr<Dataset> test = LoadSplit(model.program, flags.data, "t10k");
  if (!test.ok()) {
    std::fprintf(stderr, "%s\n", test.status().message().c_str());
    return 1;
  }
  StatusOr<Placement> placement = model.placement(flags);
  if (!placement.ok()) {
    std::fprintf(stderr, "%s\n", placement.status().message().c_str());
    return 1;
  }

  // The last partial batch of an epoch is dropped: every step has the
  // compiled batch shape.
  const int64_t steps_per_epoch = train.value().count / flags.batch;
  int64_t total_steps = steps_per_epoch * flags.epochs;
  if (flags.max_steps > 0) total_steps = std::min(total_steps, flags.max_steps);

  // Training graph: Adam with a cosine decay of the learning rate to 0 over
  // the whole run (a short warm-up keeps Adam's first steps small).
  GraphBuilder builder(placement.value(), {.seed = flags.seed});
  Tensor labels;
  Tensor logits = model.logits(builder, flags.batch, &labels);
  Tensor loss = api::SparseSoftmaxCrossEntropy(logits, labels).loss;
  builder.Fetch("loss", loss);
  const int64_t warmup = std::min<int64_t>(100, total_steps / 10);
  builder.Minimize(loss, api::Optimizer::Adam(flags.learning_rate)
                             .WithWarmupCosine(warmup, std::max<int64_t>(1, total_steps - warmup)));
  StatusOr<std::unique_ptr<Session>> session = Session::Create(builder);
  if (!session.ok()) {
    std::fprintf(stderr, "%s\n", session.status().message().c_str());
    return 1;
  }
  model.print_banner(flags, placement.value(), total_steps, steps_per_epoch,
                     static_cast<int64_t>(session.value()->compiled().plan.actors.size()));
  std::fflush(stdout);  // before the progress bar on stderr

  // Resuming: the checkpoint's optimizer.step is the number of steps already
  // trained; the loop below continues from it with the same schedule.
  int64_t start_step = 0;
  if (!flags.resume.empty()) {
    Status loaded = api::LoadCheckpoint(*session.value(), flags.resume);
    StatusOr<HostTensor> step_value =
        loaded.ok() ? session.value()->ReadVariable("optimizer.step") : StatusOr<HostTensor>(loaded);
    if (!step_value.ok()) {
      std::fprintf(stderr, "%s\n", step_value.status().message().c_str());
      return 1;
    }
    start_step = static_cast<int64_t>(step_value.value().GetAsDouble(0));
    if (start_step < 0 || start_step > total_steps) {
      std::fprintf(stderr,
                   "[%s] checkpoint '%s' is at step %lld, outside this run's 0..%lld steps (resume "
                   "with the flags that wrote it)\n",
                   program, flags.resume.c_str(), static_cast<long long>(start_step),
                   static_cast<long long>(total_steps));
      return 1;
    }
    std::printf("resumed from '%s' at step %lld\n", flags.resume.c_str(), static_cast<long long>(start_step));
    std::fflush(stdout);
  }
  const int64_t end_step =
      flags.stop_at > 0 ? std::clamp(flags.stop_at, start_step, total_steps) : total_steps;

  // Training. One Run call per --log-every steps: within a call the runtime
  // pipelines steps (the feed of step s+1 overlaps the compute of step s);
  // between calls the progress bar is updated with the mean loss of the call.
  std::vector<int64_t> order(static_cast<size_t>(train.value().count));
  std::iota(order.begin(), order.end(), 0);
  int64_t shuffled_epoch = -1;
  ProgressBar progress(start_step, end_step, total_steps);
  const auto start = std::chrono::steady_clock::now();
  double last_mean_loss = 0;
  for (int64_t step = start_step; step < end_step;) {
    const int64_t epoch = step / steps_per_epoch;
    // A call never crosses an epoch boundary, so the shuffle of each epoch
    // (seeded by seed and epoch) is done before its first step is fed.
    const int64_t steps = std::min({flags.log_every, end_step - step, (epoch + 1) * steps_per_epoch - step});
    if (shuffled_epoch != epoch) {
      std::iota(order.begin(), order.end(), 0);
      std::mt19937_64 random(flags.seed * 1000003 + static_cast<uint64_t>(epoch));
      std::shuffle(order.begin(), order.end(), random);
      shuffled_epoch = epoch;
    }
    const int64_t first_in_epoch = step - epoch * steps_per_epoch;
    StatusOr<std::vector<runtime::TensorMap>> fetched =
        session.value()->Run(steps, [&](int64_t s) -> StatusOr<runtime::TensorMap> {
          return MakeBatch(train.value(), model.sample_shape, order, (first_in_epoch + s) * flags.batch,
                           flags.batch);
        });
    if (!fetched.ok()) {
      progress.Finish();
      std::fprintf(stderr, "%s\n", fetched.status().message().c_str());
      return 1;
    }
    double sum = 0;
    for (const runtime::TensorMap& result : fetched.value()) sum += result.at("loss").GetAsDouble(0);
    last_mean_loss = sum / static_cast<double>(steps);
    if (!std::isfinite(last_mean_loss)) {
      progress.Finish();
      std::fprintf(stderr, "[%s] the loss diverged (%g) at step %lld; try a smaller --lr\n", program,
                   last_mean_loss, static_cast<long long>(step + steps));
      return 1;
    }
    step += steps;
    const double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    char metrics[128];
    std::snprintf(metrics, sizeof(metrics), "epoch %lld  loss %.4f  %.0f samples/s",
                  static_cast<long long>(epoch + 1), last_mean_loss,
                  static_cast<double>((step - start_step) * flags.batch) / elapsed);
    progress.Update(step, metrics, elapsed);
  }
  progress.Finish();
  const double train_seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::printf(
      "trained %lld steps (%.2f epochs) in %.1f s, %.0f samples/s; final loss (mean of the last %lld "
      "steps) %.4f\n",
      static_cast<long long>(end_step - start_step),
      static_cast<double>(end_step - start_step) / steps_per_epoch, train_seconds,
      static_cast<double>((end_step - start_step) * flags.batch) / train_seconds,
      static_cast<long long>(std::min(flags.log_every, end_step - start_step)), last_mean_loss);
  if (!flags.save.empty()) {
    Status saved = api::SaveCheckpoint(*session.value(), flags.save);
    if (!saved.ok()) {
      std::fprintf(stderr, "%s\n", saved.message().c_str());
      return 1;
    }
    std::printf("saved checkpoint '%s' at step %lld\n", flags.save.c_str(), static_cast<long long>(end_step));
  }

  // Evaluation: a second, inference-only graph with the same model code (so
  // the same variable names) and a larger batch, on the same placement. Its
  // weights are copied from the trained session by name. This keeps the
  // training graph free of evaluation fetches (no logits fetched every
  // training step, no optimizer update on test data) at the cost of one
  // small extra compile.
  constexpr int64_t kEvalBatch = 1000;
  GraphBuilder eval_builder(placement.value(), {.seed = flags.seed});
  Tensor eval_logits = model.logits(eval_builder, kEvalBatch, nullptr);
  eval_builder.Fetch("logits", eval_logits);
  StatusOr<std::unique_ptr<Session>> eval = Session::Create(eval_builder);
  if (!eval.ok()) {
    std::fprintf(stderr, "%s\n", eval.status().message().c_str());
    return 1;
  }
  for (const std::string& name : eval.value()->runtime().VariableNames()) {
    StatusOr<HostTensor> value = session.value()->ReadVariable(name);
    Status written = value.ok() ? eval.value()->WriteVariable(name, value.value()) : value.status();
    if (!written.ok()) {
      std::fprintf(stderr, "[%s] copying variable '%s' to the evaluation graph: %s\n", program, name.c_str(),
                   written.message().c_str());
      return 1;
    }
  }
  const int64_t eval_steps = test.value().count / kEvalBatch;
  std::vector<int64_t> test_order(static_cast<size_t>(test.value().count));
  std::iota(test_order.begin(), test_order.end(), 0);
  StatusOr<std::vector<runtime::TensorMap>> predicted =
      eval.value()->Run(eval_steps, [&](int64_t s) -> StatusOr<runtime::TensorMap> {
        runtime::TensorMap feeds =
            MakeBatch(test.value(), model.sample_shape, test_order, s * kEvalBatch, kEvalBatch);
        feeds.erase("labels");
        return feeds;
      });
  if (!predicted.ok()) {
    std::fprintf(stderr, "%s\n", predicted.status().message().c_str());
    return 1;
  }
  int64_t confusion[kClasses][kClasses] = {};
  int64_t correct = 0;
  for (int64_t s = 0; s < eval_steps; ++s) {
    const HostTensor& batch_logits = predicted.value()[static_cast<size_t>(s)].at("logits");
    const float* data = batch_logits.data<float>();
    for (int64_t row = 0; row < kEvalBatch; ++row) {
      const float* scores = data + row * kClasses;
      const int64_t guess = std::max_element(scores, scores + kClasses) - scores;
      const int64_t truth = test.value().labels[static_cast<size_t>(s * kEvalBatch + row)];
      ++confusion[truth][guess];
      correct += guess == truth;
    }
  }
  const int64_t evaluated = eval_steps * kEvalBatch;
  const double accuracy = static_cast<double>(correct) / static_cast<double>(evaluated);
  std::printf("test accuracy: %.4f (%lld / %lld)\n", accuracy, static_cast<long long>(correct),
              static_cast<long long>(evaluated));
  std::printf("per class:\n");
  for (int64_t c = 0; c < kClasses; ++c) {
    int64_t total = 0;
    for (int64_t g = 0; g < kClasses; ++g) total += confusion[c][g];
    std::printf("  %-12s %.3f\n", kClassNames[c],
                total > 0 ? static_cast<double>(confusion[c][c]) / total : 0.0);
  }
  // What it learnt, and what it still mixes up: the most frequent mistakes.
  std::vector<std::pair<int64_t, std::pair<int64_t, int64_t>>> mistakes;
  for (int64_t c = 0; c < kClasses; ++c) {
    for (int64_t g = 0; g < kClasses; ++g) {
      if (c != g && confusion[c][g] > 0) mistakes.push_back({confusion[c][g], {c, g}});
    }
  }
  std::sort(mistakes.rbegin(), mistakes.rend());
  std::printf("most frequent confusions (true -> predicted):\n");
  for (size_t i = 0; i < std::min<size_t>(5, mistakes.size()); ++i) {
    std::printf("  %-12s -> %-12s %lld\n", kClassNames[mistakes[i].second.first],
                kClassNames[mistakes[i].second.second], static_cast<long long>(mistakes[i].first));
  }

  if (flags.max_final_loss.has_value() && !(last_mean_loss < *flags.max_final_loss)) {
    std::fprintf(stderr, "[%s] final loss %.4f is not below --max-final-loss %.4f\n", program, last_mean_loss,
                 *flags.max_final_loss);
    return 3;
  }
  if (flags.min_test_accuracy.has_value() && !(accuracy >= *flags.min_test_accuracy)) {
    std::fprintf(stderr, "[%s] test accuracy %.4f is below --min-test-accuracy %.4f\n", program, accuracy,
                 *flags.min_test_accuracy);
    return 3;
  }
  return 0;
}

}  // namespace ofl::examples
