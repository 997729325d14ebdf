// SimNode and SimShard: one simulated machine and its shards, the twin of the io_uring runtime
// (one shard = one executor + one Io). Created and owned by SimWorld.
#pragma once

#include <coroutine>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "io/io.h"
#include "sim/clock.h"
#include "sim/disk.h"
#include "sim/network.h"
#include "sim/world.h"

namespace runnel::sim {

// One shard of a simulated node: its Executor (Schedule adds to the world's ready set), its
// mailboxes (a Post to another shard is an event after a small seed-chosen delay, FIFO per
// sender/receiver pair) and its Io. It tracks its root coroutines (OnRootStart/OnRootDone) so
// that taking the node down can destroy them. Lives from a start of its node to the next stop or
// crash; Io references handed out die with it.
class SimShard final : public Executor, public Shards {
 public:
  SimShard(SimNode& node, ShardId id, uint64_t seed);
  ~SimShard() override;

  // Executor.
  void Schedule(std::coroutine_handle<> h) override;
  // Shards.
  ShardId self() const override { return id_; }
  uint32_t count() const override;
  void Post(ShardId to, std::coroutine_handle<> h) override;
  Io& IoOf(ShardId id) override;

  Io& io() { return io_; }
  SimNode& node() { return node_; }
  size_t roots() const { return roots_.size(); }

  // Start order of the newest live root (0 if none); orders are node-wide.
  uint64_t newest_root() const { return roots_.empty() ? 0 : roots_.rbegin()->first; }
  // Destroys the newest live root frame (and every frame it awaits).
  void DestroyNewestRoot();

 protected:
  void OnRootStart(std::coroutine_handle<> root) override;
  void OnRootDone(std::coroutine_handle<> root) override;

 private:
  SimNode& node_;
  const ShardId id_;
  Rng rng_;
  SimClock clock_;
  SimFs fs_;
  SimNet net_;
  Io io_;
  std::map<uint64_t, std::coroutine_handle<>> roots_;  // by node-wide start order
  // Frame address -> start order. Lookup only, never iterated.
  std::unordered_map<void*, uint64_t> root_order_;  // NOLINT(determinism): lookup only
};

// One simulated machine: its disk (kept across stops and crashes), its clocks, and while it is
// up its shards. See SimWorld for the lifecycle.
class SimNode {
 public:
  SimNode(SimWorld& world, NodeId id, NodeOptions options);
  ~SimNode();
  SimNode(const SimNode&) = delete;
  SimNode& operator=(const SimNode&) = delete;

  NodeId id() const { return id_; }
  const std::string& address() const { return address_; }
  bool up() const { return state_ == State::kUp; }
  // 1 at the first start, +1 at every start.
  uint64_t incarnation() const { return incarnation_; }
  uint32_t shard_count() const { return shards_count_; }
  // The Io of a shard of a node that is up.
  Io& io(ShardId shard);
  SimShard& shard(ShardId shard);
  void Spawn(ShardId shard, Task<void> task);
  // Root coroutines alive on all shards.
  size_t roots() const;

  SimWorld& world() { return world_; }
  SimDisk& disk() { return *disk_; }
  NodeClock& clock() { return clock_; }  // NOLINT(determinism): the simulated clock
  const NodeOptions& options() const { return options_; }

  // The node's clocks now.
  Instant MonoNow() const;
  WallTime WallNow() const;

 private:
  friend class SimWorld;
  friend class SimShard;
  friend class SimClock;
  enum class State : uint8_t { kDown, kUp, kGoingDown };
  struct Mailbox {
    std::deque<std::coroutine_handle<>> queue;
    int64_t last_delivery_ns = 0;
  };

  void Start(uint32_t shards);
  void TearDown();  // drops timers and mailboxes, destroys roots and shards

  SimWorld& world_;
  const NodeId id_;
  const std::string address_;
  NodeOptions options_;
  State state_ = State::kDown;
  uint64_t incarnation_ = 0;
  uint32_t shards_count_ = 0;
  Rng rng_;  // node-level stream: shard seeds, mailbox delays, reboot origins
  NodeClock clock_;
  std::unique_ptr<SimDisk> disk_;
  std::vector<std::unique_ptr<SimShard>> shards_;
  std::map<TimerId, SimWorld::EventKey> timers_;
  TimerId next_timer_ = 0;
  uint64_t next_root_ = 0;  // start order of roots, across the node's shards
  std::map<std::pair<ShardId, ShardId>, Mailbox> mailboxes_;
  // Pause state (SimWorld).
  bool paused_ = false;
  int64_t paused_until_ns_ = 0;
  uint64_t pause_epoch_ = 0;
};

}  // namespace runnel::sim
