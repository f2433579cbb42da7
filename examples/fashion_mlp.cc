// fashion_mlp: an MLP 784-256-128-10 trained with Adam on Fashion-MNIST,
// on N virtual CPU devices in a data, tensor (Megatron) or hybrid layout.
//
//   fashion_mlp [--devices 4] [--layout data|tensor|hybrid] [--epochs 10]
//               [--batch 128] [--lr 0.001] [--steps S] [--seed 0]
//               [--data /usr/share/datasets/fashion-mnist] [--log-every 50]
//               [--max-final-loss X] [--min-test-accuracy A]
//               [--save PATH] [--resume PATH] [--stop-at S]
//
// The flags other than --layout, the training loop, checkpoints, evaluation
// and exit status are the shared driver's (examples/common/trainer.h).
#include <cstdio>
#include <string>

#include "api/api.h"
#include "examples/common/fashion_models.h"
#include "examples/common/trainer.h"

namespace {

using ofl::Placement;
using ofl::Shape;
using ofl::Status;
using ofl::StatusOr;
using ofl::api::GraphBuilder;
using ofl::api::Tensor;
using ofl::examples::FlagValue;
using ofl::examples::TrainFlags;

int Main(int argc, char** argv) {
  std::string layout = "data";
  ofl::examples::TrainerModel model;
  model.program = "fashion_mlp";
  model.usage =
      "usage: fashion_mlp [--devices N] [--layout data|tensor|hybrid] [--epochs E] [--batch B] [--lr LR] "
      "[--steps S] [--seed SEED] [--data DIR] [--log-every K] [--max-final-loss X] [--min-test-accuracy "
      "A] [--save PATH] [--resume PATH] [--stop-at S]";
  model.sample_shape = {ofl::examples::kFashionPixels};
  model.parse_flag = [&](const FlagValue& flag) -> StatusOr<bool> {
    if (flag.name != "--layout") return false;
    if (flag.value != "data" && flag.value != "tensor" && flag.value != "hybrid") {
      return Status::Error("[fashion_mlp] flag --layout expects data, tensor or hybrid, found '" +
                           flag.value + "'");
    }
    layout = flag.value;
    return true;
  };
  model.validate = [&](const TrainFlags& flags) -> Status {
    if (layout == "hybrid" && (flags.devices < 4 || flags.devices % 2 != 0)) {
      return Status::Error(
          "[fashion_mlp] flag --layout hybrid expects an even --devices >= 4 (a [N/2, 2] mesh), found " +
          std::to_string(flags.devices));
    }
    if (layout == "tensor" && flags.devices > 128) {
      return Status::Error(
          "[fashion_mlp] flag --layout tensor expects --devices <= 128 (the fc1 width), found " +
          std::to_string(flags.devices));
    }
    return Status::Ok();
  };
  model.placement = [&](const TrainFlags& flags) -> StatusOr<Placement> {
    if (layout == "hybrid") return Placement::Mesh(ofl::DeviceType::kCPU, Shape{flags.devices / 2, 2});
    return Placement::Linear(ofl::DeviceType::kCPU, flags.devices);
  };
  // The model (examples/common/fashion_models.h), identical in the training
  // and the evaluation graph so that both name their variables
  // "mlp/fc0.weight", ... . The layout decides the placement above and the
  // hints inside the model.
  model.logits = [&](GraphBuilder& builder, int64_t batch, Tensor* labels) {
    return ofl::examples::FashionMlpLogits(builder, batch, labels, layout);
  };
  model.print_banner = [&](const TrainFlags& flags, const Placement& placement, int64_t total_steps,
                           int64_t steps_per_epoch, int64_t actors) {
    std::printf(
        "fashion_mlp: MLP 784-256-128-10, Adam lr %g, %s parallel on %d cpu devices (mesh %s), "
        "batch %lld, %lld steps (%lld per epoch), %lld actors\n",
        flags.learning_rate, layout.c_str(), flags.devices, placement.hierarchy().ToString().c_str(),
        static_cast<long long>(flags.batch), static_cast<long long>(total_steps),
        static_cast<long long>(steps_per_epoch), static_cast<long long>(actors));
  };
  return ofl::examples::RunFashionTraining(argc, argv, model);
}

}  // namespace

int main(int argc, char** argv) { return Main(argc, argv); }
