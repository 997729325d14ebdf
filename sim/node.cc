#include "sim/node.h"

#include <fmt/format.h>

namespace runnel::sim {

SimShard::SimShard(SimNode& node, ShardId id, uint64_t seed)
    : node_(node),
      id_(id),
      rng_(seed),
      clock_(node, id),
      fs_(node.disk(), id),
      net_(node.world().network(), node.id(), id),
      io_(*this, clock_, fs_, net_, rng_, *this, &node.world().buggifier()) {}

SimShard::~SimShard() {
  RUNNEL_ASSERT(roots_.empty(), "shard {}.{} destroyed with {} live roots", node_.id(), id_,
                roots_.size());
}

void SimShard::Schedule(std::coroutine_handle<> h) { node_.world().MakeReady(node_.id(), id_, h); }

uint32_t SimShard::count() const { return node_.shard_count(); }

void SimShard::Post(ShardId to, std::coroutine_handle<> h) {
  RUNNEL_ASSERT(to < node_.shard_count(), "Post to shard {} of {}", to, node_.shard_count());
  if (to == id_) {
    Schedule(h);
    return;
  }
  if (!node_.up()) return;
  SimWorld& world = node_.world();
  // FIFO per (from, to) like the production SPSC queues: deliveries never overtake each other,
  // and each delivery event hands over the oldest post, whatever order same-time events run in.
  SimNode::Mailbox& box = node_.mailboxes_[{id_, to}];
  const int64_t delay_ns = node_.rng_.Range(0, world.options().post_delay_max.count());
  const int64_t at = std::max(world.now_ns() + delay_ns, box.last_delivery_ns);
  box.last_delivery_ns = at;
  box.queue.push_back(h);
  SimNode* node = &node_;
  const ShardId from = id_;
  world.ScheduleAt(at, node_.id(), to, EventKind::kPost, 0, [node, from, to] {
    SimNode::Mailbox& b = node->mailboxes_[{from, to}];
    RUNNEL_ASSERT(!b.queue.empty(), "mailbox {}->{} delivery without a post", from, to);
    std::coroutine_handle<> next = b.queue.front();
    b.queue.pop_front();
    // Resumed by the delivery itself: the oldest post runs first (FIFO like production).
    next.resume();
  });
}

Io& SimShard::IoOf(ShardId id) { return node_.io(id); }

void SimShard::OnRootStart(std::coroutine_handle<> root) {
  const uint64_t order = ++node_.next_root_;
  roots_.emplace(order, root);
  root_order_.emplace(root.address(), order);
}

void SimShard::OnRootDone(std::coroutine_handle<> root) {
  auto it = root_order_.find(root.address());
  RUNNEL_ASSERT(it != root_order_.end(), "unknown root finished on shard {}.{}", node_.id(), id_);
  roots_.erase(it->second);
  root_order_.erase(it);
}

void SimShard::DestroyNewestRoot() {
  RUNNEL_ASSERT(!roots_.empty(), "no root to destroy on shard {}.{}", node_.id(), id_);
  auto it = std::prev(roots_.end());
  std::coroutine_handle<> root = it->second;
  root_order_.erase(root.address());
  roots_.erase(it);
  root.destroy();
}

SimNode::SimNode(SimWorld& world, NodeId id, NodeOptions options)
    : world_(world),
      id_(id),
      address_(SimWorld::AddressOf(id)),
      options_(std::move(options)),
      rng_(world.DeriveSeed("node", id)),
      clock_(0, 0) {
  // Monotonic origins differ between nodes (nothing may compare them across nodes).
  clock_ = NodeClock(rng_.Range(1, int64_t{1} << 50), 0);
  clock_.SetWallOffset(options_.wall_offset.count(), world.now_ns());
  if (options_.clock_drift_ppm != 0) clock_.SetDrift(options_.clock_drift_ppm, world.now_ns());
  disk_ = std::make_unique<SimDisk>(world, id, world.DeriveSeed("disk", id), options_.disk);
}

SimNode::~SimNode() { RUNNEL_ASSERT(shards_.empty(), "node {} destroyed while up", id_); }

Io& SimNode::io(ShardId shard) { return this->shard(shard).io(); }

SimShard& SimNode::shard(ShardId shard) {
  RUNNEL_ASSERT(up() || state_ == State::kGoingDown, "node {} is down", id_);
  RUNNEL_ASSERT(shard < shards_.size(), "node {} has no shard {}", id_, shard);
  return *shards_[shard];
}

void SimNode::Spawn(ShardId shard, Task<void> task) { this->shard(shard).Spawn(std::move(task)); }

size_t SimNode::roots() const {
  size_t n = 0;
  for (const auto& s : shards_) n += s->roots();
  return n;
}

Instant SimNode::MonoNow() const { return Instant{Duration(clock_.Mono(world_.now_ns()))}; }

WallTime SimNode::WallNow() const { return WallTime{clock_.Wall(world_.now_ns())}; }

void SimNode::Start(uint32_t shards) {
  RUNNEL_ASSERT(state_ == State::kDown, "node {} started twice", id_);
  RUNNEL_ASSERT(shards > 0, "node {} needs at least one shard", id_);
  incarnation_++;
  shards_count_ = shards;
  state_ = State::kUp;
  for (ShardId s = 0; s < shards; s++) {
    uint64_t st = rng_.Next();
    shards_.push_back(std::make_unique<SimShard>(*this, s, SplitMix64(st)));
  }
}

void SimNode::TearDown() {
  state_ = State::kGoingDown;
  timers_.clear();
  mailboxes_.clear();
  // Newest root first, across all shards: later roots usually borrow from earlier ones (a
  // connection handler from its server, a shard's worker from the node's boot task), so their
  // destructors run while what they borrow still exists. Destructors may spawn more roots;
  // those are newest and go next.
  for (;;) {
    SimShard* newest = nullptr;
    for (auto& s : shards_) {
      if (s->newest_root() != 0 &&
          (newest == nullptr || s->newest_root() > newest->newest_root())) {
        newest = s.get();
      }
    }
    if (newest == nullptr) break;
    newest->DestroyNewestRoot();
  }
  timers_.clear();
  mailboxes_.clear();
  shards_.clear();
  state_ = State::kDown;
}

}  // namespace runnel::sim
