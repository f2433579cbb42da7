// gpt_char: a small character-level GPT (examples/common/gpt_model.h)
// trained with Adam on the English fortunes of the Debian package
// `fortunes`, on N virtual CPU devices in a data, tensor (Megatron) or
// hybrid layout; prints the validation loss as it goes and generated text at
// the end.
//
//   gpt_char [--devices 4] [--layout data|tensor|hybrid] [--steps 800]
//            [--batch 16] [--lr 0.002] [--seed 0] [--log-every 25]
//            [--eval-every 200] [--eval-windows 128]
//            [--layers 4] [--dim 256] [--heads 4] [--context 128]
//            [--data /usr/share/games/fortunes] [--max-final-loss X]
//            [--save PATH] [--resume PATH] [--stop-at S]
//            [--sample-chars 300] [--prompt "The "] [--temperature 0.8]
//
// Data (examples/common/text_corpus.h): the fortune files in sorted order,
// a byte vocabulary, the last 10% of the text held out for validation. A
// step's batch is --batch random windows of context + 1 characters chosen
// from (seed, step) only, so --resume continues the uninterrupted run's
// loss trajectory bit for bit (checkpoints as in examples/common/trainer.h).
// Training: Adam with a warm-up then a cosine decay over the whole run,
// gradients clipped to global norm 1, cross entropy over every position.
// Validation: the mean loss over a fixed set of --eval-windows windows of
// the validation text, every --eval-every steps and at the end, in nats and
// bits per character. Sampling: an inference graph with the same variable
// names gets the trained weights and generates --sample-chars characters
// after --prompt, one sample per data-parallel group, with a host sampler
// seeded by --seed.
//
// Layouts: data = the batch split over a 1-D mesh, weights replicated;
// tensor = Megatron (attention heads and MLP split, GptConfig::
// tensor_parallel) over a 1-D mesh, batch replicated; hybrid = a [N/2, 2]
// mesh, batch split on axis 0 and Megatron on axis 1.
//
// Exit status: 0 ok, 1 runtime error (missing data, compile error,
// divergence), 2 bad command line, 3 --max-final-loss missed. Errors begin
// with "[gpt_char]".
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "api/api.h"
#include "api/checkpoint.h"
#include "api/session.h"
#include "examples/common/gpt_model.h"
#include "examples/common/text_corpus.h"
#include "examples/common/trainer.h"

namespace {

using ofl::DType;
using ofl::HostTensor;
using ofl::Placement;
using ofl::Shape;
using ofl::Status;
using ofl::StatusOr;
using ofl::api::GraphBuilder;
using ofl::api::Session;
using ofl::api::Tensor;
using ofl::examples::FlagValue;
using ofl::examples::GptConfig;
using ofl::examples::TextCorpus;

constexpr char kProgram[] = "gpt_char";
constexpr char kUsage[] =
    "usage: gpt_char [--devices N] [--layout data|tensor|hybrid] [--steps S] [--batch B] [--lr LR] "
    "[--seed SEED] [--log-every K] [--eval-every E] [--eval-windows W] [--layers L] [--dim D] [--heads H] "
    "[--context T] [--data DIR] [--max-final-loss X] [--save PATH] [--resume PATH] [--stop-at S] "
    "[--sample-chars N] [--prompt TEXT] [--temperature X]";

struct Flags {
  int64_t devices = 4;
  std::string layout = "data";
  int64_t steps = 800;
  int64_t batch = 16;
  double learning_rate = 2e-3;
  uint64_t seed = 0;
  int64_t log_every = 25;
  int64_t eval_every = 200;
  int64_t eval_windows = 128;
  GptConfig model{.vocab = 0, .context = 128, .layers = 4, .dim = 256, .heads = 4};
  std::string data = "/usr/share/games/fortunes";
  std::optional<double> max_final_loss;
  std::string save;
  std::string resume;
  int64_t stop_at = 0;
  int64_t sample_chars = 300;
  std::string prompt = "The ";
  double temperature = 0.8;

  // Devices along the batch (data-parallel) axes of the layout.
  int64_t DataParallel() const {
    if (layout == "tensor") return 1;
    return layout == "hybrid" ? devices / 2 : devices;
  }
  // Devices along the tensor-parallel axis.
  int64_t TensorParallel() const { return devices / DataParallel(); }
};

Status FlagError(const std::string& message) {
  return Status::Error(std::string("[") + kProgram + "] " + message);
}

// Parses "--name value" and "--name=value"; errors name the flag.
StatusOr<Flags> ParseFlags(int argc, char** argv) {
  Flags flags;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg == "--help" || arg == "-h") return Status::Error(kUsage);
    if (arg.rfind("--", 0) != 0) return FlagError("unexpected argument '" + arg + "'");
    FlagValue flag{.program = kProgram, .name = arg, .value = ""};
    if (const size_t eq = arg.find('='); eq != std::string::npos) {
      flag.name = arg.substr(0, eq);
      flag.value = arg.substr(eq + 1);
    } else {
      if (i + 1 >= argc) return FlagError("flag " + flag.name + " expects a value");
      flag.value = argv[++i];
    }
    const std::string& name = flag.name;
    if (name == "--devices") {
      OFL_ASSIGN_OR_RETURN(flags.devices, flag.Integer(1));
    } else if (name == "--layout") {
      if (flag.value != "data" && flag.value != "tensor" && flag.value != "hybrid") {
        return FlagError("flag --layout expects data, tensor or hybrid, found '" + flag.value + "'");
      }
      flags.layout = flag.value;
    } else if (name == "--steps") {
      OFL_ASSIGN_OR_RETURN(flags.steps, flag.Integer(1));
    } else if (name == "--batch") {
      OFL_ASSIGN_OR_RETURN(flags.batch, flag.Integer(1));
    } else if (name == "--lr") {
      OFL_ASSIGN_OR_RETURN(flags.learning_rate, flag.Real());
    } else if (name == "--seed") {
      OFL_ASSIGN_OR_RETURN(int64_t seed, flag.Integer(0));
      flags.seed = static_cast<uint64_t>(seed);
    } else if (name == "--log-every") {
      OFL_ASSIGN_OR_RETURN(flags.log_every, flag.Integer(1));
    } else if (name == "--eval-every") {
      OFL_ASSIGN_OR_RETURN(flags.eval_every, flag.Integer(0));
    } else if (name == "--eval-windows") {
      OFL_ASSIGN_OR_RETURN(flags.eval_windows, flag.Integer(1));
    } else if (name == "--layers") {
      OFL_ASSIGN_OR_RETURN(flags.model.layers, flag.Integer(1));
    } else if (name == "--dim") {
      OFL_ASSIGN_OR_RETURN(flags.model.dim, flag.Integer(1));
    } else if (name == "--heads") {
      OFL_ASSIGN_OR_RETURN(flags.model.heads, flag.Integer(1));
    } else if (name == "--context") {
      OFL_ASSIGN_OR_RETURN(flags.model.context, flag.Integer(1));
    } else if (name == "--data") {
      flags.data = flag.value;
    } else if (name == "--max-final-loss") {
      OFL_ASSIGN_OR_RETURN(double bound, flag.Real());
      flags.max_final_loss = bound;
    } else if (name == "--save") {
      flags.save = flag.value;
    } else if (name == "--resume") {
      flags.resume = flag.value;
    } else if (name == "--stop-at") {
      OFL_ASSIGN_OR_RETURN(flags.stop_at, flag.Integer(1));
    } else if (name == "--sample-chars") {
      OFL_ASSIGN_OR_RETURN(flags.sample_chars, flag.Integer(0));
    } else if (name == "--prompt") {
      if (flag.value.empty()) return FlagError("flag --prompt expects at least one character");
      flags.prompt = flag.value;
    } else if (name == "--temperature") {
      OFL_ASSIGN_OR_RETURN(flags.temperature, flag.Real());
    } else {
      return FlagError("unknown flag " + name);
    }
  }
  // The checks that involve several flags.
  if (flags.layout == "hybrid" && (flags.devices < 4 || flags.devices % 2 != 0)) {
    return FlagError("flag --layout hybrid expects an even --devices >= 4 (a [N/2, 2] mesh), found " +
                     std::to_string(flags.devices));
  }
  if (flags.model.dim % flags.model.heads != 0) {
    return FlagError("flag --dim " + std::to_string(flags.model.dim) + " must be divisible by --heads " +
                     std::to_string(flags.model.heads));
  }
  if (flags.layout != "data" && flags.model.heads % flags.TensorParallel() != 0) {
    return FlagError("flag --layout " + flags.layout + " splits the " + std::to_string(flags.model.heads) +
                     " heads over " + std::to_string(flags.TensorParallel()) +
                     " devices: --heads must be a multiple of that");
  }
  if (flags.batch < flags.DataParallel()) {
    return FlagError("flag --batch expects at least one sequence per data-parallel device (>= " +
                     std::to_string(flags.DataParallel()) + "), found " + std::to_string(flags.batch));
  }
  return flags;
}

StatusOr<Placement> MakePlacement(const Flags& flags) {
  if (flags.layout == "hybrid") return Placement::Mesh(ofl::DeviceType::kCPU, Shape{flags.devices / 2, 2});
  return Placement::Linear(ofl::DeviceType::kCPU, static_cast<int>(flags.devices));
}

// Inputs "tokens" (and "labels" when `with_loss`) of `batch` sequences and
// the model; returns the logits [batch, T, vocab] and, with `with_loss`, sets
// `loss` to the mean cross entropy over every position. The training, the
// validation and the sampling graph all call this, so their variables have
// the same names ("gpt/h0/attn/qkv.weight", ...).
Tensor BuildModel(GraphBuilder& builder, const Flags& flags, int64_t batch, bool with_loss, Tensor* loss) {
  const std::string sbp = flags.layout == "data" ? "S(0)" : flags.layout == "tensor" ? "B" : "(S(0), B)";
  const int64_t context = flags.model.context;
  GptConfig config = flags.model;
  config.tensor_parallel = flags.layout != "data";
  Tensor tokens = builder.Input("tokens", Shape{batch, context}, DType::kI64).WithSbp(sbp);
  Tensor logits = ofl::examples::GptLogits(tokens, config);
  if (with_loss) {
    // sparse_softmax_cross_entropy is 2-D: every position is one row.
    Tensor labels = builder.Input("labels", Shape{batch, context}, DType::kI64).WithSbp(sbp);
    *loss =
        ofl::api::SparseSoftmaxCrossEntropy(ofl::api::Reshape(logits, Shape{batch * context, config.vocab}),
                                            ofl::api::Reshape(labels, Shape{batch * context}))
            .loss;
  }
  return logits;
}

// Trainable parameters of the model (gpt_model.h's variables).
int64_t ParameterCount(const GptConfig& config) {
  const int64_t d = config.dim;
  const int64_t per_layer = 4 * d                // ln1, ln2
                            + 3 * d * d + 3 * d  // qkv
                            + d * d + d          // out
                            + 4 * d * d + 4 * d  // fc0
                            + 4 * d * d + d;     // fc1
  return config.vocab * d + config.context * d + config.layers * per_layer + 2 * d + d * config.vocab +
         config.vocab;
}

// Copies every variable of `to` from `from` by name (the trainer's way of
// handing trained weights to an inference graph).
Status CopyVariables(const Session& from, Session& to) {
  for (const std::string& name : to.runtime().VariableNames()) {
    StatusOr<HostTensor> value = from.ReadVariable(name);
    Status written = value.ok() ? to.WriteVariable(name, value.value()) : value.status();
    if (!written.ok()) {
      return Status::Error(std::string("[") + kProgram + "] copying variable '" + name +
                           "': " + written.message());
    }
  }
  return Status::Ok();
}

// Mean loss of `evaluator` over the windows `starts` (batched by its batch).
StatusOr<double> ValidationLoss(Session& evaluator, const TextCorpus& corpus,
                                const std::vector<int64_t>& starts, int64_t batch, int64_t context) {
  const int64_t batches = static_cast<int64_t>(starts.size()) / batch;
  OFL_ASSIGN_OR_RETURN(
      std::vector<ofl::runtime::TensorMap> fetched,
      evaluator.Run(batches, [&](int64_t b) -> StatusOr<ofl::runtime::TensorMap> {
        std::vector<int64_t> rows(starts.begin() + b * batch, starts.begin() + (b + 1) * batch);
        auto [tokens, labels] = corpus.Windows(rows, context);
        return ofl::runtime::TensorMap{{"tokens", std::move(tokens)}, {"labels", std::move(labels)}};
      }));
  double sum = 0;
  for (const ofl::runtime::TensorMap& result : fetched) sum += result.at("loss").GetAsDouble(0);
  return sum / static_cast<double>(batches);
}

// Generates `flags.sample_chars` characters after the prompt for each of the
// sampler's `batch` rows. The model sees the last `context` characters of
// each row, left-aligned (causal attention makes the padding after them
// irrelevant), and the next character is drawn from the softmax of the
// logits at the last real position divided by the temperature.
StatusOr<std::vector<std::string>> Sample(Session& sampler, const TextCorpus& corpus, const Flags& flags,
                                          int64_t batch) {
  const int64_t context = flags.model.context;
  const int64_t vocab = corpus.vocab_size();
  std::vector<std::vector<int64_t>> rows(static_cast<size_t>(batch), corpus.Encode(flags.prompt));
  std::vector<std::string> texts(static_cast<size_t>(batch), flags.prompt);
  std::mt19937_64 random(flags.seed * 1000003 + 0x5eed);
  std::uniform_real_distribution<double> uniform(0, 1);
  std::vector<double> weights(static_cast<size_t>(vocab));
  for (int64_t produced = 0; produced < flags.sample_chars; ++produced) {
    HostTensor tokens(ofl::TensorDesc{Shape{batch, context}, DType::kI64});
    std::vector<int64_t> last(static_cast<size_t>(batch));
    for (int64_t row = 0; row < batch; ++row) {
      const std::vector<int64_t>& ids = rows[static_cast<size_t>(row)];
      const int64_t length = std::min<int64_t>(context, static_cast<int64_t>(ids.size()));
      std::copy(ids.end() - length, ids.end(), tokens.data<int64_t>() + row * context);
      last[static_cast<size_t>(row)] = length - 1;
    }
    OFL_ASSIGN_OR_RETURN(ofl::runtime::TensorMap fetched, sampler.Run({{"tokens", std::move(tokens)}}));
    const float* logits = fetched.at("logits").data<float>();
    for (int64_t row = 0; row < batch; ++row) {
      const float* scores = logits + (row * context + last[static_cast<size_t>(row)]) * vocab;
      const double top = *std::max_element(scores, scores + vocab);
      double total = 0;
      for (int64_t v = 0; v < vocab; ++v) {
        // The unknown id stands for no real character: never generate it.
        weights[v] = v == TextCorpus::kUnknownId ? 0 : std::exp((scores[v] - top) / flags.temperature);
        total += weights[v];
      }
      double draw = uniform(random) * total;
      int64_t next = vocab - 1;
      for (int64_t v = 0; v < vocab; ++v) {
        draw -= weights[v];
        if (draw < 0 && weights[v] > 0) {
          next = v;
          break;
        }
      }
      rows[static_cast<size_t>(row)].push_back(next);
      texts[static_cast<size_t>(row)] += corpus.Decode(next);
    }
  }
  return texts;
}

int Fail(const Status& status) {
  std::fprintf(stderr, "%s\n", status.message().c_str());
  return 1;
}

int Main(int argc, char** argv) {
  StatusOr<Flags> parsed = ParseFlags(argc, argv);
  if (!parsed.ok()) {
    std::fprintf(stderr, "%s\n", parsed.status().message().c_str());
    return 2;
  }
  Flags flags = parsed.value();

  StatusOr<std::string> text = ofl::examples::LoadFortunes(kProgram, flags.data);
  if (!text.ok()) {
    std::fprintf(stderr, "%s\n(install the Debian package fortunes or pass --data DIR)\n",
                 text.status().message().c_str());
    return 1;
  }
  const TextCorpus corpus(text.value());
  flags.model.vocab = corpus.vocab_size();
  const int64_t context = flags.model.context;
  if (corpus.validation_size() < context + 1) {
    return Fail(Status::Error(std::string("[") + kProgram + "] the validation text of '" + flags.data +
                              "' has " + std::to_string(corpus.validation_size()) +
                              " characters, fewer than --context + 1 = " + std::to_string(context + 1)));
  }
  StatusOr<Placement> made_placement = MakePlacement(flags);
  if (!made_placement.ok()) return Fail(made_placement.status());
  const Placement placement = made_placement.value();
  const int64_t total_steps = flags.steps;

  // Training graph: Adam, warm-up then cosine decay to 0 over the whole run,
  // global-norm clipping (the usual GPT recipe; it keeps the first steps of a
  // transformer from blowing up).
  GraphBuilder builder(placement, {.seed = flags.seed});
  Tensor loss;
  BuildModel(builder, flags, flags.batch, /*with_loss=*/true, &loss);
  builder.Fetch("loss", loss);
  const int64_t warmup = std::min<int64_t>(100, total_steps / 10);
  builder.Minimize(loss, ofl::api::Optimizer::Adam(flags.learning_rate)
                             .WithClipNorm(1.0)
                             .WithWarmupCosine(warmup, std::max<int64_t>(1, total_steps - warmup)));
  StatusOr<std::unique_ptr<Session>> session = Session::Create(builder);
  if (!session.ok()) return Fail(session.status());

  // Validation graph: the same model and batch without the optimizer.
  GraphBuilder eval_builder(placement, {.seed = flags.seed});
  Tensor eval_loss;
  BuildModel(eval_builder, flags, flags.batch, /*with_loss=*/true, &eval_loss);
  eval_builder.Fetch("loss", eval_loss);
  StatusOr<std::unique_ptr<Session>> evaluator = Session::Create(eval_builder);
  if (!evaluator.ok()) return Fail(evaluator.status());
  // Whole batches only: --eval-windows rounded up to a multiple of --batch.
  const int64_t windows = (flags.eval_windows + flags.batch - 1) / flags.batch * flags.batch;
  std::vector<int64_t> validation_starts = corpus.ValidationStarts(windows, context);
  validation_starts.resize(validation_starts.size() / static_cast<size_t>(flags.batch) *
                           static_cast<size_t>(flags.batch));
  if (validation_starts.empty()) {
    return Fail(Status::Error(std::string("[") + kProgram + "] the validation text of '" + flags.data +
                              "' is too short for one batch of " + std::to_string(flags.batch) +
                              " windows of --context + 1 characters"));
  }

  std::printf(
      "gpt_char: GPT %lld layers, dim %lld, %lld heads, context %lld, vocab %lld (%lld parameters); "
      "fortunes %lld characters (train %lld, validation %lld) from %s\n",
      static_cast<long long>(flags.model.layers), static_cast<long long>(flags.model.dim),
      static_cast<long long>(flags.model.heads), static_cast<long long>(context),
      static_cast<long long>(corpus.vocab_size()), static_cast<long long>(ParameterCount(flags.model)),
      static_cast<long long>(corpus.ids().size()), static_cast<long long>(corpus.train_size()),
      static_cast<long long>(corpus.validation_size()), flags.data.c_str());
  std::printf(
      "gpt_char: Adam lr %g, %s parallel on %lld cpu devices (mesh %s), batch %lld x %lld tokens, %lld "
      "steps, "
      "%lld actors; validation on %zu windows\n",
      flags.learning_rate, flags.layout.c_str(), static_cast<long long>(flags.devices),
      placement.hierarchy().ToString().c_str(), static_cast<long long>(flags.batch),
      static_cast<long long>(context), static_cast<long long>(total_steps),
      static_cast<long long>(session.value()->compiled().plan.actors.size()), validation_starts.size());
  std::fflush(stdout);  // before the progress bar on stderr

  // Resuming: the checkpoint's optimizer.step is the number of steps done.
  int64_t start_step = 0;
  if (!flags.resume.empty()) {
    Status loaded = ofl::api::LoadCheckpoint(*session.value(), flags.resume);
    StatusOr<HostTensor> step_value =
        loaded.ok() ? session.value()->ReadVariable("optimizer.step") : StatusOr<HostTensor>(loaded);
    if (!step_value.ok()) return Fail(step_value.status());
    start_step = static_cast<int64_t>(step_value.value().GetAsDouble(0));
    if (start_step < 0 || start_step > total_steps) {
      return Fail(Status::Error(std::string("[") + kProgram + "] checkpoint '" + flags.resume +
                                "' is at step " + std::to_string(start_step) + ", outside this run's 0.." +
                                std::to_string(total_steps) +
                                " steps (resume with the flags that wrote it)"));
    }
    std::printf("resumed from '%s' at step %lld\n", flags.resume.c_str(), static_cast<long long>(start_step));
    std::fflush(stdout);
  }
  const int64_t end_step =
      flags.stop_at > 0 ? std::clamp(flags.stop_at, start_step, total_steps) : total_steps;

  ofl::examples::ProgressBar progress(start_step, end_step, total_steps);
  auto validate = [&](int64_t step, const char* what) -> Status {
    OFL_RETURN_IF_ERROR(CopyVariables(*session.value(), *evaluator.value()));
    OFL_ASSIGN_OR_RETURN(double value,
                         ValidationLoss(*evaluator.value(), corpus, validation_starts, flags.batch, context));
    progress.Finish();  // a terminal's progress line ends before stdout writes
    std::printf("%s at step %lld: loss %.4f (%.3f bits/char)\n", what, static_cast<long long>(step), value,
                value / std::log(2.0));
    std::fflush(stdout);
    return Status::Ok();
  };

  // Training. One Run call per --log-every steps (cut at --eval-every
  // boundaries): within a call the runtime pipelines the steps.
  const int64_t tokens_per_step = flags.batch * context;
  const auto start = std::chrono::steady_clock::now();
  double last_mean_loss = 0;
  for (int64_t step = start_step; step < end_step;) {
    int64_t next = std::min(end_step, (step / flags.log_every + 1) * flags.log_every);
    if (flags.eval_every > 0) next = std::min(next, (step / flags.eval_every + 1) * flags.eval_every);
    const int64_t steps = next - step;
    StatusOr<std::vector<ofl::runtime::TensorMap>> fetched =
        session.value()->Run(steps, [&](int64_t s) -> StatusOr<ofl::runtime::TensorMap> {
          auto [tokens, labels] =
              corpus.Windows(corpus.TrainStarts(flags.seed, step + s, flags.batch, context), context);
          return ofl::runtime::TensorMap{{"tokens", std::move(tokens)}, {"labels", std::move(labels)}};
        });
    if (!fetched.ok()) {
      progress.Finish();
      return Fail(fetched.status());
    }
    double sum = 0;
    for (const ofl::runtime::TensorMap& result : fetched.value()) sum += result.at("loss").GetAsDouble(0);
    last_mean_loss = sum / static_cast<double>(steps);
    if (!std::isfinite(last_mean_loss)) {
      progress.Finish();
      return Fail(Status::Error(std::string("[") + kProgram + "] the loss diverged (" +
                                std::to_string(last_mean_loss) + ") at step " + std::to_string(next) +
                                "; try a smaller --lr"));
    }
    step = next;
    const double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    char metrics[128];
    std::snprintf(metrics, sizeof(metrics), "loss %.4f  %.0f tokens/s  %.2f s/step", last_mean_loss,
                  static_cast<double>((step - start_step) * tokens_per_step) / elapsed,
                  elapsed / static_cast<double>(step - start_step));
    progress.Update(step, metrics, elapsed);
    if (flags.eval_every > 0 && step % flags.eval_every == 0 && step < end_step) {
      if (Status status = validate(step, "validation"); !status.ok()) return Fail(status);
    }
  }
  progress.Finish();
  const double train_seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  const int64_t trained = end_step - start_step;
  std::printf(
      "trained %lld steps in %.1f s (%.3f s/step, %.0f tokens/s); final loss (mean of the last %lld steps) "
      "%.4f\n",
      static_cast<long long>(trained), train_seconds, trained > 0 ? train_seconds / trained : 0.0,
      trained > 0 ? static_cast<double>(trained * tokens_per_step) / train_seconds : 0.0,
      static_cast<long long>(std::min(flags.log_every, std::max<int64_t>(1, trained))), last_mean_loss);
  if (Status status = validate(end_step, "final validation"); !status.ok()) return Fail(status);
  if (!flags.save.empty()) {
    if (Status saved = ofl::api::SaveCheckpoint(*session.value(), flags.save); !saved.ok())
      return Fail(saved);
    std::printf("saved checkpoint '%s' at step %lld\n", flags.save.c_str(), static_cast<long long>(end_step));
  }

  // Sampling: one sequence per data-parallel group (the smallest batch that
  // keeps every device busy), on the training placement and layout.
  if (flags.sample_chars > 0) {
    const int64_t sample_batch = flags.DataParallel();
    GraphBuilder sample_builder(placement, {.seed = flags.seed});
    sample_builder.Fetch("logits",
                         BuildModel(sample_builder, flags, sample_batch, /*with_loss=*/false, nullptr));
    StatusOr<std::unique_ptr<Session>> sampler = Session::Create(sample_builder);
    if (!sampler.ok()) return Fail(sampler.status());
    if (Status copied = CopyVariables(*session.value(), *sampler.value()); !copied.ok()) return Fail(copied);
    const auto sample_start = std::chrono::steady_clock::now();
    StatusOr<std::vector<std::string>> samples = Sample(*sampler.value(), corpus, flags, sample_batch);
    if (!samples.ok()) return Fail(samples.status());
    const double sample_seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - sample_start).count();
    std::printf("samples (temperature %g, %lld characters each, %.1f s):\n", flags.temperature,
                static_cast<long long>(flags.sample_chars), sample_seconds);
    for (size_t i = 0; i < samples.value().size(); ++i) {
      std::printf("---- sample %zu ----\n%s\n", i + 1, samples.value()[i].c_str());
    }
  }

  if (flags.max_final_loss.has_value() && !(last_mean_loss < *flags.max_final_loss)) {
    std::fprintf(stderr, "[%s] final loss %.4f is not below --max-final-loss %.4f\n", kProgram,
                 last_mean_loss, *flags.max_final_loss);
    return 3;
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) { return Main(argc, argv); }
