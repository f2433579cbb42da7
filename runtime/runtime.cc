#include "runtime/runtime.h"

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <sstream>
#include <thread>
#include <type_traits>
#include <utility>

#include "oneflow_like/parallel.h"
#include "runtime/copy_program.h"

namespace ofl::runtime {
namespace {

// The closed set of messages. kCompleted is the stream's completion of an
// act, posted back to the actor's own thread so that only that thread
// touches the actor's state even when the stream completes elsewhere.
enum class MessageKind : int8_t {
  kReady,      // copy `copy` of register `reg` holds this step's data
  kFree,       // consumer `from` is done with copy `copy` of register `reg`
  kEndOfData,  // producer of `reg` will send nothing more
  kStart,      // command: try to act (sources begin; an actor resumes after an inline completion)
  kCompleted,  // command: the oldest outstanding act of `to` has completed
};

struct Message {
  MessageKind kind = MessageKind::kStart;
  ActorId to = -1;
  ActorId from = -1;
  RegisterId reg = -1;
  int copy = 0;
  int64_t time_ns = 0;  // kCompleted while tracing: when the stream completed the act
};

// A blocking FIFO; Stop() wakes the thread for good (errors).
class MessageQueue {
 public:
  void Push(const Message& message) {
    bool wake = false;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      items_.push_back(message);
      // Most messages go to the sending thread's own queue or to a busy
      // thread: signal only a thread that sleeps (checked under the lock).
      wake = waiting_ > 0;
    }
    if (wake) ready_.notify_one();
  }
  // False once stopped.
  bool Pop(Message& message) {
    std::unique_lock<std::mutex> lock(mutex_);
    if (!stopped_ && items_.empty()) {
      waiting_++;
      ready_.wait(lock, [&] { return stopped_ || !items_.empty(); });
      waiting_--;
    }
    if (stopped_) return false;
    message = items_.front();
    items_.pop_front();
    return true;
  }
  void Stop() {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      stopped_ = true;
    }
    ready_.notify_all();
  }

 private:
  std::mutex mutex_;
  std::condition_variable ready_;
  std::deque<Message> items_;
  int waiting_ = 0;  // threads blocked in Pop
  bool stopped_ = false;
};

// Every element of `blob` set to `value` (rounded as a cast would).
void FillValue(const Blob& blob, double value) {
  VisitDType(blob.dtype(), [&](auto tag) {
    using T = decltype(tag);
    T stored{};
    if constexpr (std::is_same_v<T, Float16> || std::is_same_v<T, BFloat16>) {
      stored = T(static_cast<float>(value));
    } else {
      stored = static_cast<T>(value);
    }
    T* data = blob.As<T>();
    for (int64_t i = 0; i < blob.NumElements(); ++i) data[i] = stored;
  });
}

// A completion that ran inline, inside Stream::OnComplete (CPU streams).
struct InlineCompletion {
  bool ran = false;
  Status status;
  int64_t end_ns = 0;
};
// Set by a worker thread only while it registers an act's completion
// callback. Thread local, so a callback that runs on another thread, or
// later, never matches and takes the asynchronous path.
thread_local InlineCompletion* inline_completion = nullptr;

int64_t AlignUp(int64_t bytes) { return (bytes + kBlobAlignment - 1) / kBlobAlignment * kBlobAlignment; }

}  // namespace

// One Run: per-actor state, one queue and thread per (device, stream). All
// state of an actor is touched only by its thread; the only shared state is
// atomics, the first error and the feed cache (behind mutexes).
class RunState {
 public:
  RunState(Runtime& runtime, int64_t steps, const FeedFunction& feeds)
      : runtime_(runtime),
        plan_(runtime.plan_),
        steps_(steps),
        feeds_(feeds),
        trace_(runtime.trace_enabled_),
        start_(std::chrono::steady_clock::now()) {}

  // Builds the actor states and threads (before anyone may Abort).
  void Prepare();
  // Runs the threads to the end or the first error.
  Status Execute(std::vector<TensorMap>& fetches);
  // Stops every thread; the first status wins.
  void Abort(const Status& status);

 private:
  struct Slot {  // one distinct input register
    RegisterId reg = -1;
    ActorId producer = -1;
    std::deque<int> ready;  // ready copies, oldest first
    bool ended = false;
    // Held (the register is written once per step, the actor acts more
    // often): the copy taken at the step's first act serves every act of the
    // step and is freed after the last.
    bool held = false;
    int held_copy = -1;
  };
  struct ActorState {
    std::vector<Slot> slots;
    std::vector<int> slot_of_input;  // Actor::inputs index -> slot
    std::vector<ActorId> readers;    // consumers of the produced register that do not mutate it
    std::vector<ActorId> mutators;   // consumers that write it in place
    std::vector<int> pending_readers, pending_mutators;  // per copy
    std::vector<bool> busy;                              // per copy
    int busy_count = 0;
    int next_copy = 0;
    // Acts whose completion is pending, oldest first: the produced copy of
    // each, and its input copies (slots.size() per act) flattened, so that an
    // act allocates nothing once the deques have grown.
    std::deque<int> outstanding;
    std::deque<int> outstanding_inputs;
    std::vector<int> input_copies;  // scratch: the input copies of the act being started
    // Tracing only: (start time, act number) of each outstanding act.
    std::deque<std::pair<int64_t, int64_t>> outstanding_trace;
    // Acts so far in this run: act a is micro-batch a % acts_per_step of
    // step a / acts_per_step.
    int64_t acts = 0;
    int acts_per_step = 1;
    bool accumulated = false;  // the produced register takes one copy per step (see plan.h)
    int accumulating_copy = -1;
    bool source = false;
    bool ended = false;
    int thread = 0;
  };
  struct Thread {
    DeviceId device;
    StreamKind stream = StreamKind::kCompute;
    MessageQueue queue;
    std::unique_ptr<Stream> cpu_stream;
    int64_t actors = 0;
    int64_t ended = 0;
    std::vector<ActEvent> trace;  // this thread's actors' acts (tracing only)
  };

  void Send(const Message& message) {
    in_flight_.fetch_add(1);
    threads_[states_[message.to].thread]->queue.Push(message);
  }
  void ThreadMain(int index);
  void Handle(const Message& message);
  void TryAct(ActorId id);
  Status Act(ActorId id, int copy, const std::vector<int>& input_copies, int64_t step, int64_t micro_batch);
  void OnCompleted(ActorId id, int64_t end_ns);
  int64_t NowNs() const {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now() - start_)
        .count();
  }
  void OnFree(ActorId id, ActorId from, int copy);
  void CheckEnd(ActorId id);
  StatusOr<HostTensor> Feed(int64_t step, int feed);
  std::string DescribeStuck();

  Runtime& runtime_;
  const Plan& plan_;
  const int64_t steps_;
  const FeedFunction& feeds_;
  std::vector<ActorState> states_;
  std::vector<std::unique_ptr<Thread>> threads_;
  // By output actor: the piece it handed over at each step (written only by
  // the actor's thread, read after the threads have joined).
  std::vector<std::vector<HostTensor>> pieces_;

  std::atomic<int64_t> in_flight_{0};  // queued messages + acts whose completion is pending
  std::atomic<int64_t> ended_total_{0};
  std::atomic<bool> aborted_{false};
  std::mutex error_mutex_;
  Status error_;

  std::mutex feed_mutex_;
  std::map<int64_t, std::pair<TensorMap, int64_t>> feed_cache_;  // step -> (feeds, input actors left)
  int64_t input_actors_ = 0;

  const bool trace_;  // record an ActEvent per act
  const std::chrono::steady_clock::time_point start_;
};

void RunState::Abort(const Status& status) {
  {
    std::lock_guard<std::mutex> lock(error_mutex_);
    if (aborted_.load()) return;
    error_ = status;
    aborted_.store(true);
  }
  for (auto& thread : threads_) thread->queue.Stop();
}

void RunState::Prepare() {
  const int64_t num_actors = static_cast<int64_t>(plan_.actors.size());
  states_.resize(num_actors);
  std::map<std::pair<DeviceId, StreamKind>, int> thread_of;
  for (const Actor& actor : plan_.actors) {
    ActorState& state = states_[actor.id];
    auto [it, inserted] =
        thread_of.emplace(std::make_pair(actor.device, actor.stream), static_cast<int>(thread_of.size()));
    if (inserted) {
      auto thread = std::make_unique<Thread>();
      thread->device = actor.device;
      thread->stream = actor.stream;
      thread->cpu_stream = std::make_unique<CpuStream>(actor.device);
      threads_.push_back(std::move(thread));
    }
    state.thread = it->second;
    threads_[state.thread]->actors++;
    for (const ActorInput& input : actor.inputs) {
      int slot = -1;
      for (size_t s = 0; s < state.slots.size(); ++s) {
        if (state.slots[s].reg == input.register_id) slot = static_cast<int>(s);
      }
      if (slot < 0) {
        slot = static_cast<int>(state.slots.size());
        const RegisterDesc& reg = plan_.registers[input.register_id];
        const int writes_per_step = reg.accumulated ? 1 : plan_.actors[reg.producer].acts_per_step;
        state.slots.push_back(
            Slot{reg.id, reg.producer, {}, false, writes_per_step == 1 && actor.acts_per_step > 1});
      }
      state.slot_of_input.push_back(slot);
    }
    state.source = actor.inputs.empty();
    state.acts_per_step = actor.acts_per_step;
    if (actor.kind == ActorKind::kInput) input_actors_++;
    if (actor.produced >= 0) {
      const RegisterDesc& reg = plan_.registers[actor.produced];
      state.accumulated = reg.accumulated;
      for (ActorId consumer : reg.consumers) {
        bool mutates = false;
        for (const ActorInput& input : plan_.actors[consumer].inputs) {
          mutates |= input.register_id == reg.id && input.mutated;
        }
        (mutates ? state.mutators : state.readers).push_back(consumer);
      }
      const int copies = runtime_.memory_[reg.id].copies;
      state.pending_readers.assign(copies, 0);
      state.pending_mutators.assign(copies, 0);
      state.busy.assign(copies, false);
    }
  }
  pieces_.resize(num_actors);
}

Status RunState::Execute(std::vector<TensorMap>& fetches) {
  const int64_t num_actors = static_cast<int64_t>(plan_.actors.size());
  for (const Actor& actor : plan_.actors) {
    if (states_[actor.id].source) Send(Message{MessageKind::kStart, actor.id, -1, -1, 0});
  }
  if (num_actors > 0 && in_flight_.load() == 0) {
    return Status::Error(
        "[runtime] the plan deadlocks: no actor is a source "
        "(every actor waits for an input), "
        "e.g. " +
        DescribeStuck());
  }
  std::vector<std::thread> workers;
  workers.reserve(threads_.size());
  for (size_t t = 0; t < threads_.size(); ++t)
    workers.emplace_back([this, t] { ThreadMain(static_cast<int>(t)); });
  for (std::thread& worker : workers) worker.join();
  if (trace_) {
    // Merged after the threads have joined: the hot path appends to its own
    // thread's vector only.
    std::vector<ActEvent> merged;
    for (auto& thread : threads_) merged.insert(merged.end(), thread->trace.begin(), thread->trace.end());
    std::stable_sort(merged.begin(), merged.end(),
                     [](const ActEvent& a, const ActEvent& b) { return a.start_ns < b.start_ns; });
    runtime_.trace_.insert(runtime_.trace_.end(), merged.begin(), merged.end());
  }
  if (aborted_.load()) return error_;
  if (ended_total_.load() != num_actors) {
    return Status::Error("[runtime] the run stopped with actors still waiting: " + DescribeStuck());
  }

  fetches.assign(steps_, TensorMap{});
  for (int64_t step = 0; step < steps_; ++step) {
    for (size_t f = 0; f < plan_.fetches.size(); ++f) {
      const FetchDesc& fetch = plan_.fetches[f];
      HostTensor logical(fetch.desc);
      FillIdentity(logical.AsBlob(), fetch.combine);
      const Region whole = Region::Whole(fetch.desc.shape);
      for (size_t p = 0; p < fetch.pieces.size(); ++p) {
        const HostTensor& piece = pieces_[fetch.pieces[p].actor].at(step);
        CombineRegion(piece.AsBlob(), fetch.pieces[p].region, logical.AsBlob(), whole, fetch.pieces[p].region,
                      fetch.combine);
      }
      fetches[step][fetch.name] = std::move(logical);
    }
  }
  return Status::Ok();
}

void RunState::ThreadMain(int index) {
  AdoptCpuThreadCount();
  Thread& thread = *threads_[index];
  const int64_t total = static_cast<int64_t>(plan_.actors.size());
  Message message;
  while (thread.ended < thread.actors && thread.queue.Pop(message)) {
    Handle(message);
    // Nothing queued and no act outstanding anywhere, yet actors wait: no
    // message can ever arrive again, so the plan deadlocked.
    if (in_flight_.fetch_sub(1) == 1 && ended_total_.load() < total && !aborted_.load()) {
      Abort(Status::Error("[runtime] the plan deadlocked: no message is in flight, but " + DescribeStuck()));
    }
  }
}

void RunState::Handle(const Message& message) {
  ActorState& state = states_[message.to];
  switch (message.kind) {
    case MessageKind::kStart:
      break;
    case MessageKind::kReady:
      for (Slot& slot : state.slots) {
        if (slot.reg == message.reg) slot.ready.push_back(message.copy);
      }
      break;
    case MessageKind::kFree:
      OnFree(message.to, message.from, message.copy);
      break;
    case MessageKind::kEndOfData:
      for (Slot& slot : state.slots) {
        if (slot.reg == message.reg) slot.ended = true;
      }
      break;
    case MessageKind::kCompleted:
      OnCompleted(message.to, message.time_ns);
      break;
  }
  TryAct(message.to);
  CheckEnd(message.to);
}

void RunState::TryAct(ActorId id) {
  ActorState& state = states_[id];
  const Actor& actor = plan_.actors[id];
  const int acts_per_step = state.acts_per_step;
  while (!aborted_.load() && !state.ended) {
    if (state.source && state.acts >= steps_ * acts_per_step) return;
    const int64_t micro_batch = state.acts % acts_per_step;
    const bool first = micro_batch == 0;
    const bool last = micro_batch == acts_per_step - 1;
    for (const Slot& slot : state.slots) {
      if ((first || !slot.held) && slot.ready.empty()) return;
    }
    int copy = -1;
    if (actor.produced >= 0) {
      if (state.accumulated && !first) {
        copy = state.accumulating_copy;  // taken at the step's first act
      } else {
        if (state.busy[state.next_copy]) return;
        copy = state.next_copy;
      }
    }
    std::vector<int>& input_copies = state.input_copies;
    input_copies.clear();
    for (Slot& slot : state.slots) {
      if (first || !slot.held) {
        input_copies.push_back(slot.ready.front());
        slot.ready.pop_front();
        if (slot.held) slot.held_copy = input_copies.back();
      } else {
        input_copies.push_back(slot.held_copy);
      }
    }
    const int64_t act = state.acts++;
    if (copy >= 0 && (first || !state.accumulated)) {
      state.busy[copy] = true;
      state.busy_count++;
      state.pending_readers[copy] = static_cast<int>(state.readers.size());
      state.pending_mutators[copy] = static_cast<int>(state.mutators.size());
      state.next_copy = (state.next_copy + 1) % static_cast<int>(state.busy.size());
      state.accumulating_copy = copy;
    }
    if (trace_) state.outstanding_trace.emplace_back(NowNs(), act);
    Status status = Act(id, copy, input_copies, act / acts_per_step, micro_batch);
    if (!status.ok()) {
      Abort(status);
      return;
    }
    // On completion: ready for the produced copy unless an accumulated
    // register has acts to go; free for each input copy unless it is held
    // for later acts of the step (-1: nothing to send).
    state.outstanding.push_back(state.accumulated && !last ? -1 : copy);
    for (size_t s = 0; s < state.slots.size(); ++s) {
      state.outstanding_inputs.push_back(state.slots[s].held && !last ? -1 : input_copies[s]);
    }
    // The completion may come on another thread (asynchronous streams): it
    // only posts kCompleted; the act stays counted in flight until then.
    in_flight_.fetch_add(1);
    InlineCompletion completion;
    inline_completion = &completion;
    threads_[state.thread]->cpu_stream->OnComplete([this, id, mine = &completion](Status done) {
      if (inline_completion == mine) {  // inline: handled right below, on this thread
        *mine = InlineCompletion{true, std::move(done), trace_ ? NowNs() : 0};
        return;
      }
      if (!done.ok()) {
        Abort(Status::Error("[runtime] " + runtime_.DescribeActor(id) + ": " + done.message()));
      } else {
        Send(Message{MessageKind::kCompleted, id, id, -1, 0, trace_ ? NowNs() : 0});
      }
      in_flight_.fetch_sub(1);
    });
    inline_completion = nullptr;
    if (completion.ran) {
      // Send ready and free now rather than through a kCompleted queued
      // behind messages that could start further acts first: a consumer
      // must free its input after every act (or its producer, whatever its
      // register count, waits for a burst of acts), and a producer must send
      // ready after every act. Then a kStart to itself lets the messages
      // already queued for this thread's other actors go first.
      in_flight_.fetch_sub(1);  // this Handle still holds its own message: never 0 here
      if (!completion.status.ok()) {
        Abort(Status::Error("[runtime] " + runtime_.DescribeActor(id) + ": " + completion.status.message()));
        return;
      }
      OnCompleted(id, completion.end_ns);
      Send(Message{MessageKind::kStart, id, id, -1, 0});
      return;
    }
  }
}

void RunState::OnCompleted(ActorId id, int64_t end_ns) {
  ActorState& state = states_[id];
  const Actor& actor = plan_.actors[id];
  const int copy = state.outstanding.front();
  state.outstanding.pop_front();
  if (trace_) {
    const auto [start_ns, act] = state.outstanding_trace.front();
    state.outstanding_trace.pop_front();
    threads_[state.thread]->trace.push_back(
        ActEvent{id, act / state.acts_per_step, act % state.acts_per_step, start_ns, end_ns});
  }
  if (copy >= 0) {
    const std::vector<ActorId>& first = !state.readers.empty() ? state.readers : state.mutators;
    for (ActorId consumer : first) Send(Message{MessageKind::kReady, consumer, id, actor.produced, copy});
    if (first.empty()) {  // nobody reads it: free at once
      state.busy[copy] = false;
      state.busy_count--;
    }
  }
  for (size_t s = 0; s < state.slots.size(); ++s) {
    const int input_copy = state.outstanding_inputs.front();
    state.outstanding_inputs.pop_front();
    if (input_copy >= 0) {
      Send(Message{MessageKind::kFree, state.slots[s].producer, id, state.slots[s].reg, input_copy});
    }
  }
}

void RunState::OnFree(ActorId id, ActorId from, int copy) {
  ActorState& state = states_[id];
  const Actor& actor = plan_.actors[id];
  const bool mutator = std::find(state.mutators.begin(), state.mutators.end(), from) != state.mutators.end();
  if (mutator) {
    state.pending_mutators[copy]--;
  } else if (--state.pending_readers[copy] == 0) {
    // The in-place rule: writers of this register go only after every reader of
    // this step.
    for (ActorId consumer : state.mutators) {
      Send(Message{MessageKind::kReady, consumer, id, actor.produced, copy});
    }
  }
  if (state.pending_readers[copy] == 0 && state.pending_mutators[copy] == 0) {
    state.busy[copy] = false;
    state.busy_count--;
  }
}

void RunState::CheckEnd(ActorId id) {
  ActorState& state = states_[id];
  if (state.ended || state.busy_count > 0 || !state.outstanding.empty()) return;
  if (state.acts % state.acts_per_step != 0) return;  // a step is under way
  if (state.source) {
    if (state.acts < steps_ * state.acts_per_step) return;
  } else {
    for (const Slot& slot : state.slots) {
      if (!slot.ended || !slot.ready.empty()) return;
    }
  }
  state.ended = true;
  for (const std::vector<ActorId>* list : {&state.readers, &state.mutators}) {
    for (ActorId consumer : *list) {
      Send(Message{MessageKind::kEndOfData, consumer, id, plan_.actors[id].produced, 0});
    }
  }
  threads_[state.thread]->ended++;
  ended_total_.fetch_add(1);
}

StatusOr<HostTensor> RunState::Feed(int64_t step, int feed) {
  std::lock_guard<std::mutex> lock(feed_mutex_);
  auto it = feed_cache_.find(step);
  if (it == feed_cache_.end()) {
    StatusOr<TensorMap> fed = feeds_ ? feeds_(step) : StatusOr<TensorMap>(TensorMap{});
    if (!fed.ok()) return Status::Error("the feed function failed: " + fed.status().message());
    TensorMap tensors = std::move(fed).value();
    for (const auto& [name, tensor] : tensors) {
      const bool known = std::any_of(plan_.feeds.begin(), plan_.feeds.end(),
                                     [&](const FeedDesc& desc) { return desc.name == name; });
      OFL_CHECK_OR_RETURN(known) << "feed '" << name << "' is not an input of the plan";
    }
    for (const FeedDesc& desc : plan_.feeds) {
      auto found = tensors.find(desc.name);
      OFL_CHECK_OR_RETURN(found != tensors.end()) << "feed '" << desc.name << "' is missing";
      OFL_CHECK_OR_RETURN(found->second.desc() == desc.desc)
          << "feed '" << desc.name << "': expected " << desc.desc.ToString() << ", got "
          << found->second.desc().ToString();
    }
    it = feed_cache_.emplace(step, std::make_pair(std::move(tensors), input_actors_)).first;
  }
  HostTensor tensor = it->second.first.at(plan_.feeds[feed].name);
  if (--it->second.second == 0) feed_cache_.erase(it);
  return tensor;
}

Status RunState::Act(ActorId id, int copy, const std::vector<int>& input_copies, int64_t step,
                     int64_t micro_batch) {
  const Actor& actor = plan_.actors[id];
  const ActorState& state = states_[id];
  auto fail = [&](const std::string& message) {
    const std::string micro = state.acts_per_step > 1 ? ", micro-batch " + std::to_string(micro_batch) +
                                                            " of " + std::to_string(state.acts_per_step)
                                                      : "";
    return Status::Error("[runtime] " + runtime_.DescribeActor(id) + ", step " + std::to_string(step) +
                         micro + ": " + message);
  };
  auto input_blob = [&](size_t i) {
    const ActorInput& input = actor.inputs[i];
    return runtime_.BlobAt(input.register_id, input_copies[state.slot_of_input[i]], input.blob);
  };
  switch (actor.kind) {
    case ActorKind::kVariable:
      return Status::Ok();  // the data is already in the persistent register
    case ActorKind::kInput: {
      const auto [feed, piece_index] = runtime_.feed_piece_[id];
      StatusOr<HostTensor> tensor = Feed(step, feed);
      if (!tensor.ok()) return fail(tensor.status().message());
      const TensorPiece& piece = plan_.feeds[feed].pieces[piece_index];
      const Blob out = runtime_.BlobAt(actor.produced, copy, piece.blob);
      if (piece.zeros) {
        std::memset(out.data, 0, out.ByteSize());
      } else {
        CopyRegion(tensor.value().AsBlob(), Region::Whole(tensor.value().shape()), out, piece.region,
                   piece.region);
      }
      return Status::Ok();
    }
    case ActorKind::kOutput: {
      if (runtime_.fetch_pieces_[id].empty()) return Status::Ok();
      const Blob in = input_blob(0);
      HostTensor host(in.desc);
      std::memcpy(host.raw(), in.data, in.ByteSize());
      pieces_[id].push_back(std::move(host));
      return Status::Ok();
    }
    case ActorKind::kBoxingCopy:
    case ActorKind::kCollective: {
      const BlobDesc& out_desc = plan_.registers[actor.produced].blobs[0];
      const Blob out = runtime_.BlobAt(actor.produced, copy, 0);
      const Region out_region = out_desc.LogicalRegion();
      FillIdentity(out, actor.boxing.fill);
      for (const Transfer& transfer : runtime_.programs_[id]) {
        const ActorInput& input = actor.inputs[transfer.input];
        const Region source = plan_.registers[input.register_id].blobs[input.blob].LogicalRegion();
        CombineRegion(input_blob(transfer.input), source, out, out_region, transfer.region, transfer.mode);
      }
      return Status::Ok();
    }
    case ActorKind::kCompute: {
      KernelContext ctx;
      ctx.op_name = plan_.nodes[actor.node].name;
      ctx.attrs = &plan_.nodes[actor.node].attrs;
      ctx.stream = threads_[state.thread]->cpu_stream.get();
      ctx.micro_batch = micro_batch;
      ctx.micro_batches = state.acts_per_step;
      for (size_t i = 0; i < actor.inputs.size(); ++i) {
        const BlobDesc& desc = plan_.registers[actor.inputs[i].register_id].blobs[actor.inputs[i].blob];
        ctx.inputs.push_back(TensorArg{input_blob(i), desc.logical_shape, desc.offset});
      }
      if (actor.produced >= 0) {
        const RegisterDesc& reg = plan_.registers[actor.produced];
        for (size_t b = 0; b < reg.blobs.size(); ++b) {
          ctx.outputs.push_back(TensorArg{runtime_.BlobAt(reg.id, copy, static_cast<int>(b)),
                                          reg.blobs[b].logical_shape, reg.blobs[b].offset});
        }
      }
      Status status;
      try {
        status = runtime_.actor_kernels_[id]->Compute(ctx);
      } catch (const std::exception& error) {  // a kernel must not take the process down
        status = Status::Error(error.what());
      }
      if (!status.ok()) return fail(status.message());
      return Status::Ok();
    }
  }
  return Status::Ok();
}

std::string RunState::DescribeStuck() {
  std::ostringstream out;
  int listed = 0;
  for (const Actor& actor : plan_.actors) {
    const ActorState& state = states_[actor.id];
    if (state.ended) continue;
    if (listed++ == 4) {
      out << "; ...";
      break;
    }
    out << (listed > 1 ? "; " : "") << runtime_.DescribeActor(actor.id) << " after " << state.acts << " acts";
    const bool mid_step = state.acts % state.acts_per_step != 0;
    if (state.acts_per_step > 1) out << " (" << state.acts_per_step << " per step)";
    for (const Slot& slot : state.slots) {
      if (slot.ready.empty() && !slot.ended && !(slot.held && mid_step)) out << ", waiting for r" << slot.reg;
    }
    if (state.busy_count > 0) out << ", its register busy";
  }
  return out.str() + " have not ended";
}

// ---- Runtime -------------------------------------------------------------

Runtime::Runtime(Plan plan, const KernelRegistry& kernels) : plan_(std::move(plan)), kernels_(kernels) {}
Runtime::~Runtime() = default;

StatusOr<std::unique_ptr<Runtime>> Runtime::Load(Plan plan, const KernelRegistry& kernels) {
  OFL_RETURN_IF_ERROR(ValidatePlan(plan));
  std::unique_ptr<Runtime> runtime(new Runtime(std::move(plan), kernels));
  OFL_RETURN_IF_ERROR(runtime->Allocate());
  OFL_RETURN_IF_ERROR(runtime->CreateKernels());
  OFL_RETURN_IF_ERROR(runtime->InitializeVariables());
  return runtime;
}

std::string Runtime::DescribeActor(ActorId actor) const {
  const Actor& desc = plan_.actors[actor];
  const PlanNode& node = plan_.nodes[desc.node];
  return "actor a" + std::to_string(actor) + " '" + node.name + "' (op " + node.op + ") on " +
         desc.device.ToString();
}

Status Runtime::Allocate() {
  memory_.resize(plan_.registers.size());
  for (const RegisterDesc& reg : plan_.registers) {
    OFL_CHECK_OR_RETURN(reg.device.type == DeviceType::kCPU)
        << "[runtime] register r" << reg.id << " lies on " << reg.device.ToString()
        << ": this runtime runs CPU devices only";
    RegisterMemory& memory = memory_[reg.id];
    memory.copies = reg.persistent ? 1 : reg.count;
    memory.stride = AlignUp(std::max<int64_t>(reg.byte_size, 1));
    const int64_t bytes = memory.stride * memory.copies;
    // 64-byte aligned, zero-filled: the same allocation HostTensor uses.
    HostTensor buffer(TensorDesc{Shape{bytes}, DType::kU8});
    memory.storage = std::shared_ptr<std::byte>(buffer.AsBlob().As<std::byte>(), [buffer](std::byte*) {});
  }
  feed_piece_.assign(plan_.actors.size(), {-1, -1});
  fetch_pieces_.assign(plan_.actors.size(), {});
  programs_.assign(plan_.actors.size(), {});
  for (size_t f = 0; f < plan_.feeds.size(); ++f) {
    for (size_t p = 0; p < plan_.feeds[f].pieces.size(); ++p) {
      const ActorId actor = plan_.feeds[f].pieces[p].actor;
      OFL_CHECK_OR_RETURN(feed_piece_[actor].first < 0)
          << "[runtime] " << DescribeActor(actor) << " is named by two feed pieces";
      feed_piece_[actor] = {static_cast<int>(f), static_cast<int>(p)};
    }
  }
  for (size_t f = 0; f < plan_.fetches.size(); ++f) {
    for (size_t p = 0; p < plan_.fetches[f].pieces.size(); ++p) {
      fetch_pieces_[plan_.fetches[f].pieces[p].actor].emplace_back(static_cast<int>(f), static_cast<int>(p));
    }
  }
  for (const Actor& actor : plan_.actors) {
    if (actor.kind == ActorKind::kInput) {
      OFL_CHECK_OR_RETURN(feed_piece_[actor.id].first >= 0)
          << "[runtime] " << DescribeActor(actor.id) << ": an input actor that no feed names";
    }
    if (actor.kind == ActorKind::kCollective) programs_[actor.id] = CollectiveTransfers(plan_, actor);
    if (actor.kind == ActorKind::kBoxingCopy) programs_[actor.id] = actor.boxing.transfers;
  }
  return Status::Ok();
}

Status Runtime::CreateKernels() {
  actor_kernels_.resize(plan_.actors.size());
  for (const Actor& actor : plan_.actors) {
    if (actor.kind != ActorKind::kCompute) continue;
    DType dtype = DType::kF32;
    if (!actor.inputs.empty()) {
      dtype = plan_.registers[actor.inputs[0].register_id].blobs[actor.inputs[0].blob].desc.dtype;
    } else if (actor.produced >= 0 && !plan_.registers[actor.produced].blobs.empty()) {
      dtype = plan_.registers[actor.produced].blobs[0].desc.dtype;
    }
    StatusOr<KernelFactory> factory =
        kernels_.Find(KernelKey{plan_.nodes[actor.node].op, actor.device.type, dtype});
    if (!factory.ok())
      return Status::Error("[runtime] " + DescribeActor(actor.id) + ": " + factory.status().message());
    actor_kernels_[actor.id] = factory.value()();
  }
  return Status::Ok();
}

Blob Runtime::BlobAt(RegisterId reg, int copy, int blob) const {
  const BlobDesc& desc = plan_.registers[reg].blobs[blob];
  std::byte* base = memory_[reg].storage.get() + memory_[reg].stride * copy + desc.byte_offset;
  return Blob{base, desc.desc, plan_.registers[reg].device};
}

Status Runtime::InitializeVariables() {
  for (const VariableDesc& variable : plan_.variables) {
    const AttrMap& attrs = variable.initializer;
    const std::string who = "[runtime] variable '" + variable.name + "'";
    try {
      std::string kind = "zeros";
      if (attrs.Has("initializer")) {
        kind = attrs.GetString("initializer");
      } else if (attrs.Has("kind")) {
        kind = attrs.GetString("kind");
      }
      auto float_or = [&](const std::string& name, double fallback) {
        return attrs.Has(name) ? attrs.GetFloat(name) : fallback;
      };
      for (const TensorPiece& piece : variable.pieces) {
        const Blob blob = BlobAt(piece.register_id, 0, piece.blob);
        if (piece.zeros || kind == "zeros") {
          std::memset(blob.data, 0, blob.ByteSize());
        } else if (kind == "ones" || kind == "constant") {
          FillValue(blob, kind == "ones" ? 1.0 : float_or("value", 0));
        } else if (kind == "normal" || kind == "uniform") {
          OFL_CHECK_OR_RETURN(attrs.Has("seed")) << who << ": a " << kind << " initializer needs a seed";
          AttrMap random{
              {"shape", variable.desc.shape}, {"dtype", variable.desc.dtype}, {"seed", attrs.GetInt("seed")}};
          if (kind == "normal") {
            random.Set("mean", float_or("mean", 0)).Set("std", float_or("std", 1));
          } else {
            random.Set("low", float_or("low", 0)).Set("high", float_or("high", 1));
          }
          const std::string op = "random_" + kind;
          StatusOr<KernelFactory> factory = kernels_.Find(KernelKey{op, blob.device.type, blob.dtype()});
          if (!factory.ok()) return Status::Error(who + ": " + factory.status().message());
          std::unique_ptr<Kernel> kernel = factory.value()();
          CpuStream stream(blob.device);
          KernelContext ctx;
          ctx.op_name = variable.name;
          ctx.attrs = &random;
          const BlobDesc& desc = plan_.registers[piece.register_id].blobs[piece.blob];
          ctx.outputs.push_back(TensorArg{blob, desc.logical_shape, desc.offset});
          ctx.stream = &stream;
          Status status = kernel->Compute(ctx);
          if (!status.ok()) return Status::Error(who + ": " + status.message());
        } else {
          return Status::Error(who + ": unknown initializer '" + kind +
                               "', expected zeros, ones, constant, normal or uniform");
        }
      }
    } catch (const std::exception& error) {  // attrs of the wrong type
      return Status::Error(who + ": " + error.what());
    }
  }
  return Status::Ok();
}

StatusOr<std::vector<TensorMap>> Runtime::Run(int64_t steps, const FeedFunction& feeds) {
  OFL_CHECK_OR_RETURN(steps >= 0) << "[runtime] Run: expected a non-negative step count, got " << steps;
  std::vector<TensorMap> fetches;
  if (steps == 0) return fetches;
  RunState state(*this, steps, feeds);
  state.Prepare();
  {
    std::lock_guard<std::mutex> lock(run_mutex_);
    OFL_CHECK_OR_RETURN(current_run_ == nullptr) << "[runtime] Run: another run is in progress";
    current_run_ = &state;
  }
  Status status = state.Execute(fetches);
  {
    std::lock_guard<std::mutex> lock(run_mutex_);
    current_run_ = nullptr;
  }
  OFL_RETURN_IF_ERROR(status);
  return fetches;
}

StatusOr<TensorMap> Runtime::RunStep(const TensorMap& feeds) {
  OFL_ASSIGN_OR_RETURN(std::vector<TensorMap> fetches,
                       Run(1, [&](int64_t) -> StatusOr<TensorMap> { return feeds; }));
  return std::move(fetches[0]);
}

void Runtime::SetTraceEnabled(bool enabled) { trace_enabled_ = enabled; }

std::vector<ActEvent> Runtime::TakeTrace() { return std::exchange(trace_, {}); }

void Runtime::Cancel() {
  std::lock_guard<std::mutex> lock(run_mutex_);
  if (current_run_ != nullptr)
    current_run_->Abort(Status::Error("[runtime] the run was cancelled by the host"));
}

std::vector<std::string> Runtime::VariableNames() const {
  std::vector<std::string> names;
  for (const VariableDesc& variable : plan_.variables) names.push_back(variable.name);
  return names;
}

StatusOr<HostTensor> Runtime::ReadVariable(const std::string& name) const {
  for (const VariableDesc& variable : plan_.variables) {
    if (variable.name != name) continue;
    HostTensor logical(variable.desc);
    const Region whole = Region::Whole(variable.desc.shape);
    // Pieces with one region are Broadcast replicas (equal: take the first)
    // unless some start as zeros: then they are Partial-sum addends, summed
    // and divided by the replicas of the sum (1 on a purely Partial axis).
    std::vector<bool> done(variable.pieces.size(), false);
    for (size_t p = 0; p < variable.pieces.size(); ++p) {
      if (done[p]) continue;
      std::vector<size_t> group;
      bool partial = false;
      for (size_t q = p; q < variable.pieces.size(); ++q) {
        if (variable.pieces[q].region == variable.pieces[p].region) {
          group.push_back(q);
          partial |= variable.pieces[q].zeros;
          done[q] = true;
        }
      }
      const TensorPiece& first = variable.pieces[p];
      if (!partial) {
        CopyRegion(BlobAt(first.register_id, 0, first.blob), first.region, logical.AsBlob(), whole,
                   first.region);
        continue;
      }
      HostTensor sum(TensorDesc{first.region.Extent(), variable.desc.dtype});
      int64_t replicas = 0;
      for (size_t q : group) {
        const TensorPiece& piece = variable.pieces[q];
        replicas += piece.zeros ? 0 : 1;
        CopyRegion(BlobAt(piece.register_id, 0, piece.blob), piece.region, sum.AsBlob(), piece.region,
                   piece.region, true);
      }
      if (replicas > 1) {
        for (int64_t i = 0; i < sum.NumElements(); ++i) sum.SetFromDouble(i, sum.GetAsDouble(i) / replicas);
      }
      CopyRegion(sum.AsBlob(), first.region, logical.AsBlob(), whole, first.region);
    }
    return logical;
  }
  return Status::Error("[runtime] ReadVariable: no variable named '" + name + "'");
}

Status Runtime::WriteVariable(const std::string& name, const HostTensor& value) {
  for (const VariableDesc& variable : plan_.variables) {
    if (variable.name != name) continue;
    OFL_CHECK_OR_RETURN(value.desc() == variable.desc)
        << "[runtime] WriteVariable '" << name << "': expected " << variable.desc.ToString() << ", got "
        << value.desc().ToString();
    {
      std::lock_guard<std::mutex> lock(run_mutex_);
      OFL_CHECK_OR_RETURN(current_run_ == nullptr) << "[runtime] WriteVariable '" << name << "' during a run";
    }
    const Region whole = Region::Whole(variable.desc.shape);
    for (const TensorPiece& piece : variable.pieces) {
      const Blob blob = BlobAt(piece.register_id, 0, piece.blob);
      if (piece.zeros) {
        std::memset(blob.data, 0, blob.ByteSize());
      } else {
        CopyRegion(value.AsBlob(), whole, blob, piece.region, piece.region);
      }
    }
    return Status::Ok();
  }
  return Status::Error("[runtime] WriteVariable: no variable named '" + name + "'");
}

std::vector<DeviceAllocation> Runtime::Allocations() const {
  std::map<DeviceId, DeviceAllocation> by_device;
  for (const RegisterDesc& reg : plan_.registers) {
    DeviceAllocation& entry = by_device[reg.device];
    entry.device = reg.device;
    const int64_t bytes = memory_[reg.id].stride * memory_[reg.id].copies;
    entry.bytes += bytes;
    if (reg.persistent) entry.persistent_bytes += bytes;
  }
  std::vector<DeviceAllocation> result;
  for (auto& [device, entry] : by_device) result.push_back(entry);
  return result;
}

}  // namespace ofl::runtime
