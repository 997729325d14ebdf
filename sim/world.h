// SimWorld: the simulated universe. One thread, one seed, virtual time.
//
// Everything a run does derives from the seed given to the constructor: every node's, disk's,
// network's and fault stream's randomness is a sub-seed of it (DeriveSeed), and the order in
// which work that is ready at the same instant runs is drawn from it. The same seed and the same
// calls replay exactly; trace_hash() summarizes what ran.
//
// Model:
// - Virtual time in nanoseconds. It never passes by itself: when nothing is ready the world
//   jumps to the next event's time. A simulated hour takes as long as its events take to run.
// - Events (timers, disk completions, network deliveries, mailbox posts, fault actions) sit in
//   a queue ordered by (time, seq). When time advances to T, every event due at T joins the
//   ready set; so do coroutines made runnable by Executor::Schedule. Each step runs one entry of
//   the ready set chosen by the seed, so different seeds explore different interleavings.
// - Nodes (SimNode, node.h) are numbered from 1 and have the address "10.0.0.N". Each has N
//   shards; each shard is an Executor with its own Io (clock, file system view of the node's
//   SimDisk, network view, Rng, mailboxes, Buggifier). Node 0 (kWorldNode) is the world itself:
//   fault actions and test-driver callbacks run there.
// - A node can be stopped (process exit: its coroutines vanish, its disk keeps everything,
//   including unsynced writes still in the "page cache"), crashed (power loss: additionally the
//   disk keeps only what a crash keeps, and the monotonic clock restarts from a new origin),
//   started again (fresh shards, the boot function runs again), paused for a while (its events
//   wait; its clocks keep running), and have its wall clock skewed, drifted or jumped.
//
// Taking a node down drops all its pending events, ready entries, timers, mailbox posts and
// I/O waiters, resets its connections, then destroys all its root coroutine frames (newest
// first; destroying a root destroys every frame it awaits). Destructors that run then may still
// use the node's Io objects (they are destroyed last) but nothing they schedule will run.
//
// Owner: the test or the runnel-sim driver, on the one thread. Not copyable or movable (sim
// objects keep references to it). Determinism rules: no wall clock, no threads, no unseeded
// randomness, no iteration over pointer-keyed hash containers — see sim/README.md.
#pragma once

#include <coroutine>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "io/clock.h"
#include "io/rng.h"
#include "io/shards.h"
#include "io/task.h"
#include "sim/buggify.h"
#include "sim/disk.h"
#include "sim/network.h"

namespace runnel::sim {

using NodeId = uint32_t;
inline constexpr NodeId kWorldNode = 0;

class SimNode;

// What an executed step was; part of the trace hash.
enum class EventKind : uint8_t {
  kResume = 1,  // a coroutine made ready by Executor::Schedule
  kTimer,       // Clock::StartTimer fired
  kPost,        // a cross-shard mailbox delivery
  kDisk,        // a disk operation completed
  kNet,         // a network delivery / completion
  kCall,        // a callback scheduled with SimWorld::At / After
  kPauseEnd,    // a paused node resumes
  kNote,        // SimWorld::TraceNote (hashed, not executed)
};
std::string_view EventKindName(EventKind kind);

struct WorldOptions {
  // Buggify switches: off unless enabled (contract tests see plain behavior).
  BuggifyOptions buggify{};
  // Upper bound of the random delay of a cross-shard mailbox post.
  Duration post_delay_max = std::chrono::microseconds(5);
};

struct NodeOptions {
  uint32_t shards = 1;
  DiskOptions disk{};
  // Wall clock = monotonic + offset; drift scales both clocks' rate (parts per million).
  Duration wall_offset{0};
  int64_t clock_drift_ppm = 0;
  // Runs at every start of the node (AddNode and StartNode), after its shards exist. It
  // usually spawns the node's main tasks.
  std::function<void(SimNode&)> boot{};
};

// Bounds of one Run call. steps_max counts steps taken by this call; time_max is an absolute
// virtual time the run does not pass.
struct RunLimits {
  uint64_t steps_max = 200'000'000;
  Duration time_max = Duration::max();
};

enum class RunStop : uint8_t {
  kPredicate,  // the predicate became true
  kQuiescent,  // nothing ready, no event pending
  kStepsMax,   // steps_max reached
  kTimeMax,    // a time bound was reached (now() was set to it)
  kFailed,     // Fail() was called
};
std::string_view RunStopName(RunStop stop);

// Why a node went down.
enum class DownKind : uint8_t { kStop, kCrash };

class SimWorld {
 public:
  explicit SimWorld(uint64_t seed, WorldOptions options = {});
  ~SimWorld();
  SimWorld(const SimWorld&) = delete;
  SimWorld& operator=(const SimWorld&) = delete;

  uint64_t seed() const { return seed_; }
  // A sub-seed for `label` and `index`: the same for every run of this seed, independent of the
  // order in which sub-seeds are asked for.
  uint64_t DeriveSeed(std::string_view label, uint64_t index = 0) const;
  // The driver's own random stream (fault schedules, workloads' choices outside nodes).
  Rng& rng() { return rng_; }

  // --- Nodes ---------------------------------------------------------------------------------
  // Adds node number node_count()+1, starts it and runs its boot function.
  NodeId AddNode(NodeOptions options = {});
  uint32_t node_count() const { return static_cast<uint32_t>(nodes_.size()); }
  SimNode& node(NodeId id);
  SimDisk& disk(NodeId id);
  SimNetwork& network() { return *network_; }
  bool up(NodeId id) const;
  // "10.0.0.N".
  static std::string AddressOf(NodeId id);

  // Starts a task on a node's shard (a detached root, as Executor::Spawn).
  void Spawn(NodeId id, ShardId shard, Task<void> task);

  // Process exit: coroutines destroyed, connections reset, disk untouched. The node is down
  // until StartNode.
  void StopNode(NodeId id);
  // Power loss: as StopNode, then the disk keeps only what a crash keeps (see disk.h) and the
  // monotonic clock restarts from a new origin.
  void CrashNode(NodeId id);
  // Starts a down node again with fresh shards (`shards` = 0 keeps the previous count) and runs
  // its boot function.
  void StartNode(NodeId id, uint32_t shards = 0);
  // Freezes the node for `d`: its events and ready work wait until then; its clocks run on.
  void PauseNode(NodeId id, Duration d);
  bool paused(NodeId id) const;
  // Replaces the boot function (used at the next start).
  void SetBoot(NodeId id, std::function<void(SimNode&)> boot);
  // Hooks: called after a node went down (everything of it torn down and, for a crash, its disk
  // resolved), and after each start (after its boot function).
  void OnNodeDown(std::function<void(NodeId, DownKind)> fn) {
    down_hooks_.push_back(std::move(fn));
  }
  void OnNodeUp(std::function<void(NodeId)> fn) { up_hooks_.push_back(std::move(fn)); }

  // --- Clocks --------------------------------------------------------------------------------
  // Sets the node's wall clock to (world time + offset); the monotonic clock is untouched.
  void SetWallOffset(NodeId id, Duration offset);
  // Moves the node's wall clock by `delta` (negative goes back).
  void JumpWall(NodeId id, Duration delta);
  // Changes both clocks' rate: a local second lasts 1e6/(1e6+ppm) world seconds. |ppm| < 1e5.
  void SetClockDrift(NodeId id, int64_t ppm);

  // --- Running -------------------------------------------------------------------------------
  // Runs one step. Returns false when nothing is ready and no event is pending.
  bool Step();
  RunStop RunUntil(const std::function<bool()>& done, RunLimits limits = {});
  // Runs until world time reaches now()+d (events due then included, later ones not); returns
  // kTimeMax when it got there (now() is then exactly that time, or limits.time_max).
  RunStop RunFor(Duration d, RunLimits limits = {});
  RunStop RunUntilQuiescent(RunLimits limits = {});

  // World time since the start of the run.
  Duration now() const { return Duration(now_ns_); }
  int64_t now_ns() const { return now_ns_; }
  uint64_t steps() const { return steps_; }

  // Runs `fn` on the world (node 0) at world time `at` (or after `d`).
  void At(Duration at, std::function<void()> fn);
  void After(Duration d, std::function<void()> fn);

  // Spawns `task` on (node, shard) and runs the world until it finished (kPredicate) or a limit
  // or failure stopped the run. A convenience for tests.
  RunStop RunTask(NodeId node, ShardId shard, Task<void> task, RunLimits limits = {});

  // --- Failures and trace --------------------------------------------------------------------
  // Records an invariant violation; the current Run returns kFailed. The first message is kept.
  void Fail(std::string message);
  bool failed() const { return failure_.has_value(); }
  const std::string& failure() const;

  // A running 64-bit hash over every executed step (time, node, shard, kind, deterministic id)
  // and every TraceNote. Equal for two runs of one seed.
  uint64_t trace_hash() const { return trace_hash_; }
  // Receives one line per executed step and note (nothing when unset; slows the run).
  void SetTraceSink(std::function<void(std::string_view)> sink) { trace_sink_ = std::move(sink); }
  bool tracing() const { return static_cast<bool>(trace_sink_); }
  // Adds `text` to the trace (hashed, and printed when tracing).
  void TraceNote(std::string_view text);

  SimBuggifier& buggifier() { return *buggifier_; }
  const WorldOptions& options() const { return options_; }

  // --- For sim components (SimShard, SimClock, SimDisk, SimNetwork) -----------------------
  struct EventKey {
    int64_t time_ns = 0;
    uint64_t seq = 0;
    friend auto operator<=>(const EventKey&, const EventKey&) = default;
  };
  // Queues `fn` to run on (node, shard) at world time `time_ns` (clamped to now). Dropped (and
  // an empty key returned) when the node is down. `id` identifies it in the trace; 0 = its seq.
  EventKey ScheduleAt(int64_t time_ns, NodeId node, ShardId shard, EventKind kind, uint64_t id,
                      std::function<void()> fn);
  EventKey ScheduleAfter(Duration d, NodeId node, ShardId shard, EventKind kind, uint64_t id,
                         std::function<void()> fn);
  // Returns true if the event was pending (it will now never run).
  bool Cancel(EventKey key);
  // Makes `h` ready on (node, shard): the simulated Executor::Schedule.
  void MakeReady(NodeId node, ShardId shard, std::coroutine_handle<> h);

  // co_await world.Delay(node, shard, d, kind): resumes on (node, shard) after `d`.
  struct DelayAwaiter {
    SimWorld& world;
    NodeId node;
    ShardId shard;
    Duration d;
    EventKind kind;
    bool await_ready() noexcept { return false; }
    void await_suspend(std::coroutine_handle<> h) {
      world.ScheduleAfter(d, node, shard, kind, 0, [h] { h.resume(); });
    }
    void await_resume() noexcept {}
  };
  DelayAwaiter Delay(NodeId node, ShardId shard, Duration d, EventKind kind) {
    return DelayAwaiter{*this, node, shard, d, kind};
  }

  // The node and shard of the step running now (node 0 outside any node's work).
  NodeId current_node() const { return current_node_; }
  ShardId current_shard() const { return current_shard_; }
  // Next id in the world's deterministic sequence (connections, inodes, ...).
  uint64_t NextId() { return ++next_id_; }

 private:
  friend class SimNode;
  struct Event {
    NodeId node = 0;
    ShardId shard = 0;
    EventKind kind = EventKind::kCall;
    uint64_t id = 0;
    std::function<void()> fn;
  };
  struct Ready {
    uint64_t seq = 0;
    NodeId node = 0;
    ShardId shard = 0;
    EventKind kind = EventKind::kResume;
    uint64_t id = 0;
    std::coroutine_handle<> h;
    std::function<void()> fn;
  };

  void TakeDown(NodeId id, DownKind kind);
  void Unpause(NodeId id, uint64_t pause_epoch);
  void Execute(Ready& r);
  bool IsPaused(NodeId id) const { return id != kWorldNode && paused(id); }
  void Hash(uint64_t v);
  void TraceLine(const Ready& r);
  bool StepWithin(int64_t time_limit_ns, bool* hit_time_limit);
  RunStop RunLoop(const std::function<bool()>* done, int64_t time_limit_ns,
                  const RunLimits& limits);

  const uint64_t seed_;
  const WorldOptions options_;
  Rng rng_;
  Rng sched_rng_;
  int64_t now_ns_ = 0;
  uint64_t seq_ = 0;
  uint64_t next_id_ = 0;
  uint64_t steps_ = 0;
  uint64_t trace_hash_ = 0x52554e4e454c0001ULL;  // "RUNNEL"
  std::function<void(std::string_view)> trace_sink_;
  std::optional<std::string> failure_;
  NodeId current_node_ = kWorldNode;
  ShardId current_shard_ = 0;

  uint32_t paused_nodes_ = 0;
  std::map<EventKey, Event> queue_;
  std::vector<Ready> ready_;

  std::unique_ptr<SimBuggifier> buggifier_;
  std::unique_ptr<SimNetwork> network_;
  std::vector<std::unique_ptr<SimNode>> nodes_;  // nodes_[id - 1]
  std::vector<std::function<void(NodeId, DownKind)>> down_hooks_;
  std::vector<std::function<void(NodeId)>> up_hooks_;
};

}  // namespace runnel::sim
