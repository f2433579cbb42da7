// fashion_cnn: a small convolutional network on Fashion-MNIST (NCHW [B, 1, 28, 28]),
// trained with Adam, data parallel on N virtual CPU devices:
//   conv 5x5 C1 (pad 2) -> relu -> maxpool 2 -> conv 5x5 C2 (pad 2) -> relu
//   -> maxpool 2 -> Linear H -> relu -> Linear 10
//
//   fashion_cnn [--devices 2] [--epochs 5] [--batch 128] [--lr 0.001]
//               [--conv1 C1] [--conv2 C2] [--hidden H] [--steps S] [--seed 0]
//               [--data /usr/share/datasets/fashion-mnist] [--log-every 50]
//               [--max-final-loss X] [--min-test-accuracy A]
//               [--save PATH] [--resume PATH] [--stop-at S]
//
// The flags other than --conv1/--conv2/--hidden, the training loop,
// checkpoints, evaluation and exit status are the shared driver's
// (examples/common/trainer.h).
#include <cstdio>
#include <string>

#include "api/api.h"
#include "examples/common/fashion_models.h"
#include "examples/common/trainer.h"

namespace {

using ofl::Placement;
using ofl::StatusOr;
using ofl::api::GraphBuilder;
using ofl::api::Tensor;
using ofl::examples::FlagValue;
using ofl::examples::TrainFlags;

int Main(int argc, char** argv) {
  ofl::examples::CnnWidths widths;
  ofl::examples::TrainerModel model;
  model.program = "fashion_cnn";
  model.usage =
      "usage: fashion_cnn [--devices N] [--epochs E] [--batch B] [--lr LR] [--conv1 C1] [--conv2 C2] "
      "[--hidden H] [--steps S] [--seed SEED] [--data DIR] [--log-every K] [--max-final-loss X] "
      "[--min-test-accuracy A] [--save PATH] [--resume PATH] [--stop-at S]";
  model.defaults.devices = 2;
  model.defaults.epochs = 5;
  model.sample_shape = {1, 28, 28};
  model.parse_flag = [&](const FlagValue& flag) -> StatusOr<bool> {
    int64_t* width = flag.name == "--conv1"    ? &widths.conv1
                     : flag.name == "--conv2"  ? &widths.conv2
                     : flag.name == "--hidden" ? &widths.hidden
                                               : nullptr;
    if (width == nullptr) return false;
    OFL_ASSIGN_OR_RETURN(*width, flag.Integer(1));
    return true;
  };
  model.placement = [](const TrainFlags& flags) -> StatusOr<Placement> {
    return Placement::Linear(ofl::DeviceType::kCPU, flags.devices);
  };
  // The model (examples/common/fashion_models.h), identical in the training
  // and the evaluation graph so that both name their variables
  // "cnn/conv0.weight", ... . Data parallel: the batch is split over a 1-D
  // mesh, the weights are replicated.
  model.logits = [&](GraphBuilder& builder, int64_t batch, Tensor* labels) {
    return ofl::examples::FashionCnnLogits(builder, batch, labels, widths);
  };
  model.print_banner = [&](const TrainFlags& flags, const Placement&, int64_t total_steps,
                           int64_t steps_per_epoch, int64_t actors) {
    std::printf(
        "fashion_cnn: CNN conv5x5x%lld-pool-conv5x5x%lld-pool-%lld-10, Adam lr %g, data parallel on %d cpu "
        "devices, batch %lld, %lld steps (%lld per epoch), %lld actors\n",
        static_cast<long long>(widths.conv1), static_cast<long long>(widths.conv2),
        static_cast<long long>(widths.hidden), flags.learning_rate, flags.devices,
        static_cast<long long>(flags.batch), static_cast<long long>(total_steps),
        static_cast<long long>(steps_per_epoch), static_cast<long long>(actors));
  };
  return ofl::examples::RunFashionTraining(argc, argv, model);
}

}  // namespace

int main(int argc, char** argv) { return Main(argc, argv); }
