#include "sim/world.h"

#include <fmt/format.h>

#include <algorithm>

#include "sim/node.h"

namespace runnel::sim {
namespace {

uint64_t HashLabel(std::string_view label) {
  uint64_t h = 0xcbf29ce484222325ULL;
  for (char c : label) {
    h ^= static_cast<uint8_t>(c);
    h *= 0x100000001b3ULL;
  }
  return h;
}

}  // namespace

std::string_view EventKindName(EventKind kind) {
  switch (kind) {
    case EventKind::kResume:
      return "resume";
    case EventKind::kTimer:
      return "timer";
    case EventKind::kPost:
      return "post";
    case EventKind::kDisk:
      return "disk";
    case EventKind::kNet:
      return "net";
    case EventKind::kCall:
      return "call";
    case EventKind::kPauseEnd:
      return "pause-end";
    case EventKind::kNote:
      return "note";
  }
  return "?";
}

std::string_view RunStopName(RunStop stop) {
  switch (stop) {
    case RunStop::kPredicate:
      return "predicate";
    case RunStop::kQuiescent:
      return "quiescent";
    case RunStop::kStepsMax:
      return "steps-max";
    case RunStop::kTimeMax:
      return "time-max";
    case RunStop::kFailed:
      return "failed";
  }
  return "?";
}

SimWorld::SimWorld(uint64_t seed, WorldOptions options)
    : seed_(seed),
      options_(std::move(options)),
      rng_(DeriveSeed("driver")),
      sched_rng_(DeriveSeed("scheduler")) {
  buggifier_ = std::make_unique<SimBuggifier>(DeriveSeed("buggify"), options_.buggify);
  network_ = std::make_unique<SimNetwork>(*this, DeriveSeed("network"));
}

SimWorld::~SimWorld() {
  // The run is over: sinks and hooks may refer to objects the owner already destroyed.
  trace_sink_ = nullptr;
  down_hooks_.clear();
  up_hooks_.clear();
  // Tear nodes down while the network and every disk still exist: frame destructors use them.
  for (auto& n : nodes_) {
    if (n->state_ != SimNode::State::kDown) TakeDown(n->id(), DownKind::kStop);
  }
  ready_.clear();
  queue_.clear();
  nodes_.clear();
}

uint64_t SimWorld::DeriveSeed(std::string_view label, uint64_t index) const {
  uint64_t state = seed_ ^ HashLabel(label);
  uint64_t a = SplitMix64(state);
  state = a ^ (index * 0x9e3779b97f4a7c15ULL);
  return SplitMix64(state);
}

std::string SimWorld::AddressOf(NodeId id) { return fmt::format("10.0.0.{}", id); }

NodeId SimWorld::AddNode(NodeOptions options) {
  const NodeId id = static_cast<NodeId>(nodes_.size() + 1);
  const uint32_t shards = options.shards;
  nodes_.push_back(std::make_unique<SimNode>(*this, id, std::move(options)));
  StartNode(id, shards);
  return id;
}

SimNode& SimWorld::node(NodeId id) {
  RUNNEL_ASSERT(id >= 1 && id <= nodes_.size(), "no node {}", id);
  return *nodes_[id - 1];
}

SimDisk& SimWorld::disk(NodeId id) { return node(id).disk(); }

bool SimWorld::up(NodeId id) const {
  return id >= 1 && id <= nodes_.size() && nodes_[id - 1]->up();
}

bool SimWorld::paused(NodeId id) const { return up(id) && nodes_[id - 1]->paused_; }

void SimWorld::Spawn(NodeId id, ShardId shard, Task<void> task) {
  node(id).Spawn(shard, std::move(task));
}

void SimWorld::SetBoot(NodeId id, std::function<void(SimNode&)> boot) {
  node(id).options_.boot = std::move(boot);
}

void SimWorld::StopNode(NodeId id) { TakeDown(id, DownKind::kStop); }

void SimWorld::CrashNode(NodeId id) { TakeDown(id, DownKind::kCrash); }

void SimWorld::TakeDown(NodeId id, DownKind kind) {
  SimNode& n = node(id);
  RUNNEL_ASSERT(n.state_ == SimNode::State::kUp, "node {} is not up", id);
  RUNNEL_ASSERT(current_node_ != id, "node {} cannot take itself down from its own task", id);
  TraceNote(fmt::format("{} node {}", kind == DownKind::kCrash ? "crash" : "stop", id));
  n.state_ = SimNode::State::kGoingDown;
  // 1. Nothing of the node may run again: drop its events, ready work and deferred work.
  for (auto it = queue_.begin(); it != queue_.end();) {
    it = it->second.node == id ? queue_.erase(it) : std::next(it);
  }
  std::erase_if(ready_, [id](const Ready& r) { return r.node == id; });
  if (n.paused_) {
    n.paused_ = false;
    paused_nodes_--;
  }
  n.paused_until_ns_ = 0;
  n.pause_epoch_++;
  // 2. Sockets: waiters dropped, connections reset (peers see kClosed), listeners closed.
  network_->NodeDown(id);
  // 3. Open files become invalid; then the frames (and the objects they own) are destroyed.
  n.disk().ProcessExit();
  n.TearDown();
  // Destructors may have scheduled work for the node; it must not run.
  for (auto it = queue_.begin(); it != queue_.end();) {
    it = it->second.node == id ? queue_.erase(it) : std::next(it);
  }
  std::erase_if(ready_, [id](const Ready& r) { return r.node == id; });
  if (kind == DownKind::kCrash) {
    n.disk().Crash();
    n.clock_.Reboot(n.rng_.Range(1, int64_t{1} << 50), now_ns_);
  }
  for (auto& hook : down_hooks_) hook(id, kind);
}

void SimWorld::StartNode(NodeId id, uint32_t shards) {
  SimNode& n = node(id);
  TraceNote(fmt::format("start node {}", id));
  n.Start(shards == 0 ? n.shards_count_ : shards);
  if (n.options_.boot) n.options_.boot(n);
  for (auto& hook : up_hooks_) hook(id);
}

void SimWorld::PauseNode(NodeId id, Duration d) {
  SimNode& n = node(id);
  if (!n.up()) return;
  TraceNote(fmt::format("pause node {} for {}ns", id, d.count()));
  const int64_t until = now_ns_ + d.count();
  if (until <= n.paused_until_ns_) return;
  n.paused_until_ns_ = until;
  if (!n.paused_) {
    n.paused_ = true;
    paused_nodes_++;
  }
  const uint64_t epoch = ++n.pause_epoch_;
  ScheduleAt(until, kWorldNode, 0, EventKind::kPauseEnd, id,
             [this, id, epoch] { Unpause(id, epoch); });
}

void SimWorld::Unpause(NodeId id, uint64_t pause_epoch) {
  SimNode& n = node(id);
  if (n.pause_epoch_ != pause_epoch || !n.paused_) return;
  n.paused_ = false;
  paused_nodes_--;
  n.paused_until_ns_ = 0;
  TraceNote(fmt::format("resume node {}", id));
}

void SimWorld::SetWallOffset(NodeId id, Duration offset) {
  node(id).clock_.SetWallOffset(offset.count(), now_ns_);
  TraceNote(fmt::format("wall offset node {} {}ns", id, offset.count()));
}

void SimWorld::JumpWall(NodeId id, Duration delta) {
  node(id).clock_.JumpWall(delta.count());
  TraceNote(fmt::format("wall jump node {} {}ns", id, delta.count()));
}

void SimWorld::SetClockDrift(NodeId id, int64_t ppm) {
  node(id).clock_.SetDrift(ppm, now_ns_);
  TraceNote(fmt::format("drift node {} {}ppm", id, ppm));
}

SimWorld::EventKey SimWorld::ScheduleAt(int64_t time_ns, NodeId node_id, ShardId shard,
                                        EventKind kind, uint64_t id, std::function<void()> fn) {
  if (node_id != kWorldNode) {
    SimNode& n = node(node_id);
    if (!n.up()) return EventKey{};
  }
  EventKey key{std::max(time_ns, now_ns_), ++seq_};
  queue_.emplace(key, Event{node_id, shard, kind, id == 0 ? key.seq : id, std::move(fn)});
  return key;
}

SimWorld::EventKey SimWorld::ScheduleAfter(Duration d, NodeId node_id, ShardId shard,
                                           EventKind kind, uint64_t id, std::function<void()> fn) {
  const int64_t dn = d.count();
  const int64_t at = dn >= kNeverNs - now_ns_ ? kNeverNs : now_ns_ + std::max<int64_t>(dn, 0);
  return ScheduleAt(at, node_id, shard, kind, id, std::move(fn));
}

bool SimWorld::Cancel(EventKey key) {
  if (key.seq == 0) return false;
  if (queue_.erase(key) > 0) return true;
  // Already due: it waits in the ready set (or a paused node's deferral); cancel it there.
  for (auto it = ready_.begin(); it != ready_.end(); ++it) {
    if (!it->h && it->seq == key.seq) {
      ready_.erase(it);
      return true;
    }
  }
  return false;
}

void SimWorld::MakeReady(NodeId node_id, ShardId shard, std::coroutine_handle<> h) {
  if (node_id != kWorldNode && !node(node_id).up()) return;
  const uint64_t seq = ++seq_;
  ready_.push_back(Ready{seq, node_id, shard, EventKind::kResume, seq, h, nullptr});
}

void SimWorld::At(Duration at, std::function<void()> fn) {
  ScheduleAt(at.count(), kWorldNode, 0, EventKind::kCall, 0, std::move(fn));
}

void SimWorld::After(Duration d, std::function<void()> fn) {
  ScheduleAfter(d, kWorldNode, 0, EventKind::kCall, 0, std::move(fn));
}

RunStop SimWorld::RunTask(NodeId node_id, ShardId shard, Task<void> task, RunLimits limits) {
  auto done = std::make_shared<bool>(false);
  Spawn(node_id, shard, [](Task<void> t, std::shared_ptr<bool> done) -> Task<void> {
    co_await std::move(t);
    *done = true;
  }(std::move(task), done));
  return RunUntil([&done] { return *done; }, limits);
}

void SimWorld::Fail(std::string message) {
  if (!failure_) failure_ = std::move(message);
}

const std::string& SimWorld::failure() const {
  static const std::string kNone;
  return failure_ ? *failure_ : kNone;
}

void SimWorld::Hash(uint64_t v) {
  uint64_t state = trace_hash_ ^ v;
  trace_hash_ = SplitMix64(state);
}

void SimWorld::TraceNote(std::string_view text) {
  Hash(static_cast<uint64_t>(now_ns_));
  Hash(static_cast<uint64_t>(EventKind::kNote));
  Hash(HashLabel(text));
  if (trace_sink_) trace_sink_(fmt::format("{:>15} note {}", now_ns_, text));
}

void SimWorld::TraceLine(const Ready& r) {
  trace_sink_(
      fmt::format("{:>15} n{}.{} {} #{}", now_ns_, r.node, r.shard, EventKindName(r.kind), r.id));
}

void SimWorld::Execute(Ready& r) {
  Hash(static_cast<uint64_t>(now_ns_));
  Hash((static_cast<uint64_t>(r.node) << 32) | r.shard);
  Hash(static_cast<uint64_t>(r.kind));
  Hash(r.id);
  if (trace_sink_) TraceLine(r);
  current_node_ = r.node;
  current_shard_ = r.shard;
  steps_++;
  if (r.h) {
    r.h.resume();
  } else {
    r.fn();
  }
  current_node_ = kWorldNode;
  current_shard_ = 0;
}

bool SimWorld::StepWithin(int64_t time_limit_ns, bool* hit_time_limit) {
  *hit_time_limit = false;
  for (;;) {
    // Ready work of a paused node waits (it stays in the set, skipped).
    size_t runnable = ready_.size();
    if (paused_nodes_ > 0) {
      runnable = 0;
      for (const Ready& r : ready_) runnable += IsPaused(r.node) ? 0 : 1;
    }
    if (runnable > 0) {
      uint64_t pick = sched_rng_.Uniform(runnable);
      size_t index = pick;
      if (runnable != ready_.size()) {
        for (size_t i = 0; i < ready_.size(); i++) {
          if (IsPaused(ready_[i].node)) continue;
          if (pick-- == 0) {
            index = i;
            break;
          }
        }
      }
      Ready r = std::move(ready_[index]);
      if (index + 1 != ready_.size()) ready_[index] = std::move(ready_.back());
      ready_.pop_back();
      Execute(r);
      return true;
    }
    if (queue_.empty()) return false;
    const int64_t next = queue_.begin()->first.time_ns;
    if (next > time_limit_ns) {
      *hit_time_limit = true;
      return false;
    }
    // Time moves to the next event; everything due then joins the ready set.
    now_ns_ = std::max(now_ns_, next);
    while (!queue_.empty() && queue_.begin()->first.time_ns <= now_ns_) {
      auto it = queue_.begin();
      Event& e = it->second;
      ready_.push_back(
          Ready{it->first.seq, e.node, e.shard, e.kind, e.id, nullptr, std::move(e.fn)});
      queue_.erase(it);
    }
  }
}

bool SimWorld::Step() {
  bool hit = false;
  return StepWithin(INT64_MAX, &hit);
}

RunStop SimWorld::RunLoop(const std::function<bool()>* done, int64_t time_limit_ns,
                          const RunLimits& limits) {
  const int64_t time_max_ns =
      limits.time_max == Duration::max() ? INT64_MAX : limits.time_max.count();
  const int64_t limit = std::min(time_limit_ns, time_max_ns);
  uint64_t steps = 0;
  for (;;) {
    if (failure_) return RunStop::kFailed;
    if (done != nullptr && (*done)()) return RunStop::kPredicate;
    if (steps >= limits.steps_max) return RunStop::kStepsMax;
    bool hit = false;
    if (!StepWithin(limit, &hit)) {
      if (!hit) return RunStop::kQuiescent;
      now_ns_ = std::max(now_ns_, limit);
      return RunStop::kTimeMax;
    }
    steps++;
  }
}

RunStop SimWorld::RunUntil(const std::function<bool()>& done, RunLimits limits) {
  return RunLoop(&done, INT64_MAX, limits);
}

RunStop SimWorld::RunFor(Duration d, RunLimits limits) {
  const int64_t until = d.count() >= kNeverNs - now_ns_ ? kNeverNs : now_ns_ + d.count();
  RunStop stop = RunLoop(nullptr, until, limits);
  if (stop == RunStop::kQuiescent) {
    const int64_t time_max_ns =
        limits.time_max == Duration::max() ? INT64_MAX : limits.time_max.count();
    now_ns_ = std::max(now_ns_, std::min(until, time_max_ns));
    return RunStop::kTimeMax;
  }
  return stop;
}

RunStop SimWorld::RunUntilQuiescent(RunLimits limits) {
  return RunLoop(nullptr, INT64_MAX, limits);
}

}  // namespace runnel::sim
