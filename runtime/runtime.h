// Runtime: executes a Plan (runtime/plan.h) with actors on host threads
// (DESIGN.md section 5). It never sees SBP or the compiler: kernels come
// from the KernelRegistry the caller passes in.
//
// Contract:
// - Load validates the plan, allocates every register (`count` copies; a
//   persistent register exactly one) per device, creates one kernel object
//   per compute actor and initialises the variables from their initializer
//   attrs: zeros / ones / constant exactly, normal / uniform by running the
//   registered random_normal / random_uniform kernels on each piece with
//   its logical shape and offset, so every layout holds the tensor a
//   single-device run holds. Pieces flagged `zeros` (Partial-sum copies)
//   start at zero.
// - Run(steps) starts one thread per (device, stream kind) the plan uses.
//   Actors are state machines fed plain messages (ready, free, end-of-data,
//   start command) through their thread's queue, one message at a time, so
//   actor state needs no locks. An actor acts when every input register
//   has a ready copy and its produced register has a free copy; after the
//   work completes on its stream (Stream::OnComplete) it sends ready
//   downstream and free upstream: at once when the stream completed inline
//   (CPU), then it yields its thread to the messages already queued; from a
//   "completed" message posted to its own thread when the stream completes
//   elsewhere (asynchronous streams). Register counts are the only
//   back-pressure. Actors without inputs act acts_per_step times per step.
// - Micro-batches (plan.h): every actor counts its acts; act a is
//   micro-batch a % M of step a / M (M = Actor::acts_per_step), and compute
//   kernels see it as KernelContext::micro_batch / micro_batches. An input
//   register written once per step and read by an actor with M > 1 is held:
//   taken at the step's first act, read by all M acts, freed after the
//   last. An accumulated register takes one free copy at the producer's
//   first act of a step and goes out ready after its last. Boxing and
//   collective actors act M times like any other (a collective group's
//   members, in the same micro-batch order). A register with count K lets
//   its producer run K writes ahead of its slowest consumer.
// - In place: a consumer that mutates a persistent register gets its ready
//   only after every other consumer has freed that register this step, so
//   readers see the old value and the next step the new one.
// - End of data: sources stop after `steps` acts; an actor whose inputs
//   have all ended and whose registers are all free ends and tells its
//   consumers; threads exit when their actors have ended.
// - Errors (a kernel error, a bad feed, a plan that deadlocks, Cancel())
//   stop every actor; Run returns the first error, naming the actor, its
//   node and op. Variables may then hold a partially updated step.
// - Trace (SetTraceEnabled): one ActEvent per act of every actor, each
//   thread appending to its own vector (no shared lock on the hot path),
//   merged when the Run ends. Disabled, it costs one branch per act.
// - The host side (Run, ReadVariable, WriteVariable, the trace) is not
//   thread-safe: one call at a time; Cancel may come from any thread.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "oneflow_like/host_tensor.h"
#include "oneflow_like/kernel.h"
#include "oneflow_like/status.h"
#include "runtime/plan.h"

namespace ofl::runtime {

/// Logical tensors by feed or fetch name.
using TensorMap = std::map<std::string, HostTensor>;
/// The feeds of step `step` (0-based within one Run); an error stops the run.
using FeedFunction = std::function<StatusOr<TensorMap>(int64_t step)>;

/// Bytes the runtime allocated on one device.
struct DeviceAllocation {
  DeviceId device;
  int64_t bytes = 0;             ///< all register copies
  int64_t persistent_bytes = 0;  ///< the variables' part
};

/// One act of one actor, for tests, profiles and benchmarks. Times are
/// steady-clock nanoseconds since the start of the Run that recorded it;
/// `end_ns` is when its stream reported the work complete.
struct ActEvent {
  ActorId actor = -1;
  int64_t step = 0;         ///< within the Run
  int64_t micro_batch = 0;  ///< the act's index within the step, [0, acts_per_step)
  int64_t start_ns = 0;
  int64_t end_ns = 0;
};

class RunState;  // one Run's actors, threads and queues (runtime.cc)

/// A loaded plan, ready to run steps; owns the registers (and so the
/// variables).
class Runtime {
 public:
  /// Validates `plan`, allocates its registers, finds its kernels in
  /// `kernels` (which must outlive the runtime) and initialises variables.
  static StatusOr<std::unique_ptr<Runtime>> Load(Plan plan, const KernelRegistry& kernels);
  ~Runtime();
  Runtime(const Runtime&) = delete;
  Runtime& operator=(const Runtime&) = delete;

  /// Runs `steps` steps, feeding step s with feeds(s); returns the fetches of
  /// every step.
  StatusOr<std::vector<TensorMap>> Run(int64_t steps, const FeedFunction& feeds);
  /// Runs one step with `feeds`; returns its fetches.
  StatusOr<TensorMap> RunStep(const TensorMap& feeds);
  /// Stops the current Run (if any) from any thread; it returns an error.
  void Cancel();

  /// Records an ActEvent for every act of the Runs that start while enabled
  /// (off by default). Not during a Run.
  void SetTraceEnabled(bool enabled);
  /// The events recorded since the last call (Runs that failed included),
  /// Run by Run, each Run's events ordered by start time.
  std::vector<ActEvent> TakeTrace();

  /// The logical value of variable `name`, assembled from its pieces.
  StatusOr<HostTensor> ReadVariable(const std::string& name) const;
  /// Overwrites every piece of variable `name` with its region of `value`.
  Status WriteVariable(const std::string& name, const HostTensor& value);
  /// The names of the plan's variables, in plan order.
  std::vector<std::string> VariableNames() const;

  /// The plan being run.
  const Plan& plan() const { return plan_; }
  /// Allocated bytes per device, sorted by device.
  std::vector<DeviceAllocation> Allocations() const;

 private:
  friend class RunState;
  // Memory of one register: `copies` copies of `stride` bytes.
  struct RegisterMemory {
    std::shared_ptr<std::byte> storage;
    int64_t stride = 0;
    int copies = 1;
  };

  Runtime(Plan plan, const KernelRegistry& kernels);
  Status Allocate();
  Status CreateKernels();
  Status InitializeVariables();
  // The blob `blob` of copy `copy` of register `reg`.
  Blob BlobAt(RegisterId reg, int copy, int blob) const;
  // "actor a5 'fc1/matmul' (op matmul) on cpu:1": how errors name an actor.
  std::string DescribeActor(ActorId actor) const;

  Plan plan_;
  const KernelRegistry& kernels_;
  std::vector<RegisterMemory> memory_;
  std::vector<std::unique_ptr<Kernel>> actor_kernels_;  // by actor; null for non-compute actors
  std::vector<std::vector<Transfer>> programs_;         // by actor: the copy program of boxing actors
  std::vector<std::pair<int, int>> feed_piece_;  // by actor: (feed, piece) of input actors, else (-1, -1)
  std::vector<std::vector<std::pair<int, int>>> fetch_pieces_;  // by actor: (fetch, piece) of output actors
  std::mutex run_mutex_;                                        // guards current_run_ for Cancel
  RunState* current_run_ = nullptr;
  bool trace_enabled_ = false;
  std::vector<ActEvent> trace_;  // appended by each traced Run after its threads have joined
};

}  // namespace ofl::runtime
