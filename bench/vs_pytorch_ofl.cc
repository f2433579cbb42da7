// vs_pytorch_ofl: the oneflow_like side of bench/vs_pytorch.py. Trains one
// of the example models for a fixed number of steps with plain Adam and
// writes what the PyTorch side needs to train the same model from the same
// start on the same data:
//
//   vs_pytorch_ofl --model mlp|cnn|gpt --dir DIR [--devices N] [--batch B]
//                  [--steps S] [--warmup-steps W] [--timed-steps K] [--lr LR]
//                  [--threads-per-device T] [--seed SEED]
//                  [--data /usr/share/datasets/fashion-mnist]
//                  [--text /usr/share/games/fortunes]
//
//   DIR/init.safetensors     every variable after initialisation (api/checkpoint.h:
//                            parameters, Adam m/v = 0, optimizer.step = 0)
//   DIR/batches.safetensors  the feeds of the S loss-check steps, stacked on a
//                            leading step axis: mlp/cnn "x" [S, B, 784] or
//                            [S, B, 1, 28, 28] (normalised like
//                            examples/common/trainer.cc) and "labels" [S, B];
//                            gpt "tokens" and "targets" [S, B, T]
//   DIR/ofl.json             {"losses": [S], "steps_per_second", "timed_steps",
//                            "loss_phase_seconds", "peak_rss_mb", "baseline_rss_mb", ...}
//
// The run: S loss-check steps in one Run call (their losses recorded), then W
// warm-up steps, then K timed steps in one Run call (steps_per_second = K /
// its wall time); warm-up and timed steps feed the S batches cyclically.
// The model is data parallel over N virtual CPU devices (batch split S(0),
// weights replicated; B must be divisible by N so both sides see the same
// per-device shapes), and every device runs its kernels on
// T OpenMP threads (ofl::SetCpuThreadCount), so N devices use N x T cores.
// The optimizer is Adam(lr, 0.9, 0.999, eps 1e-8) at a constant rate: no
// warm-up, decay, clipping or weight decay, i.e. torch.optim.Adam(lr).
//
// Data: mlp/cnn use S x B Fashion-MNIST training images drawn without
// replacement by a seeded shuffle; gpt uses random windows (seeded) of the
// concatenated plain-text fortune files under --text, as bytes (vocab 256),
// or, when none is found, uniformly random tokens (seeded); ofl.json "data"
// says which.
//
// Memory: peak_rss_mb is the process's VmHWM at the end; the high-water mark
// is reset (/proc/self/clear_refs) after the data are prepared and
// init.safetensors is written, so it measures training, not the data set.
// baseline_rss_mb is VmRSS before the session is created.
//
// Exit status: 0 ok, 1 runtime error, 2 bad command line. Errors begin with
// "[vs_pytorch_ofl]".
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <numeric>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "api/api.h"
#include "api/checkpoint.h"
#include "api/session.h"
#include "examples/common/fashion_models.h"
#include "examples/common/gpt_model.h"
#include "examples/common/idx.h"
#include "oneflow_like/parallel.h"

namespace ofl::bench {
namespace {

using api::GraphBuilder;
using api::Session;
using api::Tensor;

constexpr const char* kProgram = "[vs_pytorch_ofl]";
constexpr const char* kUsage =
    "usage: vs_pytorch_ofl --model mlp|cnn|gpt --dir DIR [--devices N] [--batch B] [--steps S] "
    "[--warmup-steps W] [--timed-steps K] [--lr LR] [--threads-per-device T] [--seed SEED] [--data DIR] "
    "[--text DIR]";

// The GPT of examples/common/gpt_model.h at the size the issue names; the
// vocabulary is bytes.
constexpr int64_t kGptVocab = 256;
constexpr int64_t kGptContext = 128;

struct Flags {
  std::string model;
  std::string dir;
  int devices = 1;
  int64_t batch = 0;  // 0: the model's default (mlp/cnn 128, gpt 16)
  int64_t steps = 50;
  int64_t warmup_steps = 5;
  int64_t timed_steps = 50;
  double learning_rate = 0;  // 0: the model's default (mlp/cnn 1e-3, gpt 3e-4)
  int threads_per_device = 1;
  uint64_t seed = 0;
  std::string data = "/usr/share/datasets/fashion-mnist";
  std::string text = "/usr/share/games/fortunes";
};

StatusOr<int64_t> ParseInteger(const std::string& name, const std::string& value, int64_t min) {
  char* end = nullptr;
  const long long parsed = std::strtoll(value.c_str(), &end, 10);
  if (value.empty() || *end != '\0' || parsed < min) {
    return Status::Error(std::string(kProgram) + " flag " + name +
                         " expects an integer >= " + std::to_string(min) + ", found '" + value + "'");
  }
  return static_cast<int64_t>(parsed);
}

StatusOr<Flags> ParseFlags(int argc, char** argv) {
  Flags flags;
  for (int i = 1; i < argc; ++i) {
    const std::string name = argv[i];
    if (name == "--help" || name == "-h") return Status::Error(kUsage);
    if (i + 1 >= argc) return Status::Error(std::string(kProgram) + " flag " + name + " expects a value");
    const std::string value = argv[++i];
    if (name == "--model") {
      if (value != "mlp" && value != "cnn" && value != "gpt") {
        return Status::Error(std::string(kProgram) + " flag --model expects mlp, cnn or gpt, found '" +
                             value + "'");
      }
      flags.model = value;
    } else if (name == "--dir") {
      flags.dir = value;
    } else if (name == "--devices") {
      OFL_ASSIGN_OR_RETURN(int64_t devices, ParseInteger(name, value, 1));
      flags.devices = static_cast<int>(devices);
    } else if (name == "--batch") {
      OFL_ASSIGN_OR_RETURN(flags.batch, ParseInteger(name, value, 1));
    } else if (name == "--steps") {
      OFL_ASSIGN_OR_RETURN(flags.steps, ParseInteger(name, value, 1));
    } else if (name == "--warmup-steps") {
      OFL_ASSIGN_OR_RETURN(flags.warmup_steps, ParseInteger(name, value, 0));
    } else if (name == "--timed-steps") {
      OFL_ASSIGN_OR_RETURN(flags.timed_steps, ParseInteger(name, value, 1));
    } else if (name == "--lr") {
      char* end = nullptr;
      flags.learning_rate = std::strtod(value.c_str(), &end);
      if (value.empty() || *end != '\0' || !(flags.learning_rate > 0)) {
        return Status::Error(std::string(kProgram) + " flag --lr expects a positive number, found '" + value +
                             "'");
      }
    } else if (name == "--threads-per-device") {
      OFL_ASSIGN_OR_RETURN(int64_t threads, ParseInteger(name, value, 1));
      flags.threads_per_device = static_cast<int>(threads);
    } else if (name == "--seed") {
      OFL_ASSIGN_OR_RETURN(int64_t seed, ParseInteger(name, value, 0));
      flags.seed = static_cast<uint64_t>(seed);
    } else if (name == "--data") {
      flags.data = value;
    } else if (name == "--text") {
      flags.text = value;
    } else {
      return Status::Error(std::string(kProgram) + " unknown flag " + name + "\n" + kUsage);
    }
  }
  if (flags.model.empty() || flags.dir.empty()) {
    return Status::Error(std::string(kProgram) + " flags --model and --dir are required\n" + kUsage);
  }
  if (flags.batch == 0) flags.batch = flags.model == "gpt" ? 16 : 128;
  if (flags.learning_rate == 0) flags.learning_rate = flags.model == "gpt" ? 3e-4 : 1e-3;
  if (flags.batch % flags.devices != 0) {
    return Status::Error(std::string(kProgram) + " flag --batch expects a multiple of --devices " +
                         std::to_string(flags.devices) + ", found " + std::to_string(flags.batch));
  }
  return flags;
}

// The loss-check feeds: one TensorMap per step, and the same values stacked
// on a leading step axis for batches.safetensors.
struct Batches {
  std::vector<runtime::TensorMap> steps;
  std::map<std::string, HostTensor> stacked;
  std::string source;  // where the data came from, for ofl.json
};

// Splits each stacked tensor [S, ...] into per-step feeds.
void SplitSteps(Batches& batches, int64_t steps) {
  batches.steps.assign(static_cast<size_t>(steps), runtime::TensorMap{});
  for (const auto& [name, stacked] : batches.stacked) {
    const TensorDesc piece_desc{
        Shape(std::vector<int64_t>(stacked.shape().dims().begin() + 1, stacked.shape().dims().end())),
        stacked.dtype()};
    const size_t bytes = piece_desc.ByteSize();
    for (int64_t s = 0; s < steps; ++s) {
      HostTensor piece(piece_desc);
      std::memcpy(piece.raw(), static_cast<const char*>(stacked.raw()) + static_cast<size_t>(s) * bytes,
                  bytes);
      batches.steps[static_cast<size_t>(s)].emplace(name, std::move(piece));
    }
  }
}

// S x B training images without replacement (a seeded shuffle), normalised.
StatusOr<Batches> FashionBatches(const Flags& flags, const std::vector<int64_t>& sample_shape) {
  const std::string images_path = flags.data + "/train-images-idx3-ubyte.gz";
  const std::string labels_path = flags.data + "/train-labels-idx1-ubyte.gz";
  OFL_ASSIGN_OR_RETURN(examples::IdxArray images, examples::ReadIdx(images_path));
  OFL_ASSIGN_OR_RETURN(examples::IdxArray labels, examples::ReadIdx(labels_path));
  if (images.item_size() != examples::kFashionPixels || labels.count() != images.count()) {
    return Status::Error(std::string(kProgram) + " '" + images_path + "' and '" + labels_path +
                         "': expected N images of 28 x 28 and N labels, found " +
                         std::to_string(images.count()) + " images of " + std::to_string(images.item_size()) +
                         " bytes and " + std::to_string(labels.count()) + " labels");
  }
  const int64_t samples = flags.steps * flags.batch;
  if (samples > images.count()) {
    return Status::Error(std::string(kProgram) + " --steps x --batch = " + std::to_string(samples) +
                         " exceeds the " + std::to_string(images.count()) + " training images");
  }
  std::vector<int64_t> order(static_cast<size_t>(images.count()));
  std::iota(order.begin(), order.end(), 0);
  std::mt19937_64 random(flags.seed);
  std::shuffle(order.begin(), order.end(), random);

  std::vector<int64_t> x_dims{flags.steps, flags.batch};
  x_dims.insert(x_dims.end(), sample_shape.begin(), sample_shape.end());
  HostTensor x(TensorDesc{Shape(x_dims), DType::kF32});
  HostTensor y(TensorDesc{Shape{flags.steps, flags.batch}, DType::kI64});
  float* x_data = x.data<float>();
  int64_t* y_data = y.data<int64_t>();
  for (int64_t i = 0; i < samples; ++i) {
    const int64_t sample = order[static_cast<size_t>(i)];
    const uint8_t* pixels = images.data.data() + sample * examples::kFashionPixels;
    for (int64_t p = 0; p < examples::kFashionPixels; ++p) {
      x_data[i * examples::kFashionPixels + p] =
          (static_cast<float>(pixels[p]) / 255.0f - examples::kFashionPixelMean) / examples::kFashionPixelStd;
    }
    y_data[i] = labels.data[static_cast<size_t>(sample)];
  }
  Batches batches;
  batches.stacked.emplace("x", std::move(x));
  batches.stacked.emplace("labels", std::move(y));
  batches.source = "fashion-mnist train, seeded shuffle (seed " + std::to_string(flags.seed) + ")";
  SplitSteps(batches, flags.steps);
  return batches;
}

// The plain-text fortune files under `dir` (no .dat/.u8 index files), concatenated in name order.
std::string ReadFortunes(const std::string& dir) {
  std::error_code error;
  std::vector<std::filesystem::path> files;
  for (const auto& entry : std::filesystem::directory_iterator(dir, error)) {
    if (!entry.is_regular_file()) continue;
    const std::string extension = entry.path().extension().string();
    if (extension == ".dat" || extension == ".u8") continue;
    files.push_back(entry.path());
  }
  std::sort(files.begin(), files.end());
  std::string text;
  for (const std::filesystem::path& file : files) {
    std::ifstream in(file, std::ios::binary);
    std::ostringstream contents;
    contents << in.rdbuf();
    text += contents.str();
  }
  return text;
}

// S x B windows of T + 1 bytes: tokens = the first T, targets = the last T.
Batches TextBatches(const Flags& flags) {
  const std::string text = ReadFortunes(flags.text);
  std::mt19937_64 random(flags.seed);
  const std::vector<int64_t> dims{flags.steps, flags.batch, kGptContext};
  HostTensor tokens(TensorDesc{Shape(dims), DType::kI64});
  HostTensor targets(TensorDesc{Shape(dims), DType::kI64});
  int64_t* token_data = tokens.data<int64_t>();
  int64_t* target_data = targets.data<int64_t>();
  const int64_t windows = flags.steps * flags.batch;
  Batches batches;
  if (static_cast<int64_t>(text.size()) > 10 * (kGptContext + 1)) {
    std::uniform_int_distribution<int64_t> start(0, static_cast<int64_t>(text.size()) - kGptContext - 1);
    for (int64_t w = 0; w < windows; ++w) {
      const int64_t first = start(random);
      for (int64_t t = 0; t < kGptContext; ++t) {
        token_data[w * kGptContext + t] = static_cast<uint8_t>(text[static_cast<size_t>(first + t)]);
        target_data[w * kGptContext + t] = static_cast<uint8_t>(text[static_cast<size_t>(first + t + 1)]);
      }
    }
    batches.source = "random windows of the fortunes under " + flags.text + " (" +
                     std::to_string(text.size()) + " bytes, seed " + std::to_string(flags.seed) + ")";
  } else {
    std::uniform_int_distribution<int64_t> token(0, kGptVocab - 1);
    for (int64_t i = 0; i < windows * kGptContext; ++i) {
      token_data[i] = token(random);
      target_data[i] = token(random);
    }
    batches.source = "uniformly random tokens (no fortunes under " + flags.text + ", seed " +
                     std::to_string(flags.seed) + ")";
  }
  batches.stacked.emplace("tokens", std::move(tokens));
  batches.stacked.emplace("targets", std::move(targets));
  SplitSteps(batches, flags.steps);
  return batches;
}

// The model's mean loss; creates its inputs (named as the batches' tensors).
Tensor BuildLoss(GraphBuilder& builder, const Flags& flags) {
  if (flags.model == "mlp" || flags.model == "cnn") {
    Tensor labels;
    Tensor logits = flags.model == "mlp" ? examples::FashionMlpLogits(builder, flags.batch, &labels, "data")
                                         : examples::FashionCnnLogits(builder, flags.batch, &labels);
    return api::SparseSoftmaxCrossEntropy(logits, labels).loss;
  }
  Tensor tokens = builder.Input("tokens", Shape{flags.batch, kGptContext}, DType::kI64).WithSbp("S(0)");
  Tensor targets = builder.Input("targets", Shape{flags.batch, kGptContext}, DType::kI64).WithSbp("S(0)");
  Tensor logits =
      examples::GptLogits(tokens, examples::GptConfig{.vocab = kGptVocab, .context = kGptContext});
  return api::SparseSoftmaxCrossEntropy(api::Reshape(logits, Shape{flags.batch * kGptContext, kGptVocab}),
                                        api::Reshape(targets, Shape{flags.batch * kGptContext}))
      .loss;
}

// A "VmRSS:"/"VmHWM:" line of /proc/self/status in MB; -1 where unavailable.
double ProcStatusMb(const std::string& key) {
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind(key, 0) == 0) return std::strtod(line.c_str() + key.size(), nullptr) / 1024.0;
  }
  return -1;
}

// Resets VmHWM to the current RSS (Linux >= 4.0); false where not permitted.
bool ResetPeakRss() {
  std::ofstream clear_refs("/proc/self/clear_refs");
  clear_refs << "5";
  clear_refs.flush();
  return static_cast<bool>(clear_refs);
}

std::string JsonString(const std::string& text) {
  std::string quoted = "\"";
  for (const char c : text) {
    if (c == '"' || c == '\\') quoted += '\\';
    if (static_cast<unsigned char>(c) >= 0x20) quoted += c;
  }
  return quoted + "\"";
}

Status WriteText(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << text;
  out.close();
  if (!out) return Status::Error(std::string(kProgram) + " cannot write '" + path + "'");
  return Status::Ok();
}

double Seconds(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

Status Run(const Flags& flags) {
  SetCpuThreadCount(flags.threads_per_device);
  std::error_code error;
  std::filesystem::create_directories(flags.dir, error);
  if (error) {
    return Status::Error(std::string(kProgram) + " cannot create --dir '" + flags.dir +
                         "': " + error.message());
  }

  Batches batches;
  if (flags.model == "gpt") {
    batches = TextBatches(flags);
  } else {
    const std::vector<int64_t> sample_shape = flags.model == "mlp"
                                                  ? std::vector<int64_t>{examples::kFashionPixels}
                                                  : std::vector<int64_t>{1, 28, 28};
    OFL_ASSIGN_OR_RETURN(batches, FashionBatches(flags, sample_shape));
  }
  OFL_RETURN_IF_ERROR(api::WriteSafetensors(flags.dir + "/batches.safetensors", batches.stacked,
                                            {{"model", flags.model}, {"data", batches.source}}));
  batches.stacked.clear();
  const double baseline_rss = ProcStatusMb("VmRSS:");

  GraphBuilder builder(Placement::Linear(DeviceType::kCPU, flags.devices), {.seed = flags.seed});
  Tensor loss = BuildLoss(builder, flags);
  builder.Fetch("loss", loss);
  builder.Minimize(loss, api::Optimizer::Adam(flags.learning_rate));
  OFL_ASSIGN_OR_RETURN(std::unique_ptr<Session> session, Session::Create(builder));
  OFL_RETURN_IF_ERROR(api::SaveCheckpoint(*session, flags.dir + "/init.safetensors"));
  const bool peak_reset = ResetPeakRss();

  const auto feeds = [&](int64_t step) -> StatusOr<runtime::TensorMap> {
    const runtime::TensorMap& feed = batches.steps[static_cast<size_t>(step % flags.steps)];
    runtime::TensorMap copy;
    for (const auto& [name, value] : feed) copy.emplace(name, value.Clone());
    return copy;
  };
  auto start = std::chrono::steady_clock::now();
  OFL_ASSIGN_OR_RETURN(std::vector<runtime::TensorMap> fetched, session->Run(flags.steps, feeds));
  const double loss_phase_seconds = Seconds(start);
  std::vector<double> losses;
  for (const runtime::TensorMap& result : fetched) losses.push_back(result.at("loss").GetAsDouble(0));
  if (flags.warmup_steps > 0) {
    OFL_RETURN_IF_ERROR(
        session->Run(flags.warmup_steps, [&](int64_t s) { return feeds(flags.steps + s); }).status());
  }
  start = std::chrono::steady_clock::now();
  OFL_RETURN_IF_ERROR(
      session->Run(flags.timed_steps, [&](int64_t s) { return feeds(flags.steps + flags.warmup_steps + s); })
          .status());
  const double timed_seconds = Seconds(start);
  const double peak_rss = ProcStatusMb("VmHWM:");

  std::string json = "{\"model\": " + JsonString(flags.model) +
                     ", \"devices\": " + std::to_string(flags.devices) +
                     ", \"threads_per_device\": " + std::to_string(flags.threads_per_device) +
                     ", \"batch\": " + std::to_string(flags.batch) +
                     ", \"learning_rate\": " + std::to_string(flags.learning_rate) +
                     ", \"data\": " + JsonString(batches.source) + ", \"losses\": [";
  for (size_t i = 0; i < losses.size(); ++i) {
    char number[32];
    std::snprintf(number, sizeof(number), "%.9g", losses[i]);
    json += (i > 0 ? ", " : "") + std::string(number);
  }
  char tail[512];
  std::snprintf(tail, sizeof(tail),
                "], \"loss_phase_seconds\": %.6f, \"warmup_steps\": %lld, \"timed_steps\": %lld, "
                "\"timed_seconds\": %.6f, \"steps_per_second\": %.6f, \"peak_rss_mb\": %.1f, "
                "\"baseline_rss_mb\": %.1f, \"peak_reset\": %s, \"actors\": %zu}\n",
                loss_phase_seconds, static_cast<long long>(flags.warmup_steps),
                static_cast<long long>(flags.timed_steps), timed_seconds,
                static_cast<double>(flags.timed_steps) / timed_seconds, peak_rss, baseline_rss,
                peak_reset ? "true" : "false", session->compiled().plan.actors.size());
  json += tail;
  OFL_RETURN_IF_ERROR(WriteText(flags.dir + "/ofl.json", json));
  std::printf("%s", json.c_str());
  return Status::Ok();
}

}  // namespace
}  // namespace ofl::bench

int main(int argc, char** argv) {
  ofl::StatusOr<ofl::bench::Flags> flags = ofl::bench::ParseFlags(argc, argv);
  if (!flags.ok()) {
    std::fprintf(stderr, "%s\n", flags.status().message().c_str());
    return 2;
  }
  const ofl::Status status = ofl::bench::Run(flags.value());
  if (!status.ok()) {
    std::fprintf(stderr, "%s\n", status.message().c_str());
    return 1;
  }
  return 0;
}
