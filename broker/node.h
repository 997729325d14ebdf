// Node: one runnel broker process — its configuration and the per-shard state of each of its
// shards. Created by main.cc (or a test) before the shards start and destroyed after they
// stopped.
//
// Ownership and threads: ShardState i is created lazily by shard i itself (Local) and touched
// only from shard i's loop; the vector holding the pointers is sized before any shard runs and
// never resized, so no slot is shared between threads. Shard 0 is the controller shard: it owns
// the MetadataStore; other shards reach it with Invoke (ControllerCall).
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string_view>
#include <vector>

#include "broker/config.h"
#include "broker/metadata_store.h"
#include "io/io.h"

namespace runnel::broker {

inline constexpr ShardId kControllerShard = 0;

class Node;
class PartitionRegistry;
class FetchSessionCache;
class FetchWaits;
class GroupCoordinator;

struct ShardState {
  ShardState(Io& io_in, Node& node_in);
  ~ShardState();
  Io& io;
  Node& node;
  // Back-pressure over every connection of this shard.
  Semaphore requests;       // queued.max.requests
  Semaphore request_bytes;  // queued.max.request.bytes
  int64_t connections = 0;  // open now; at most max.connections
  uint64_t connections_accepted = 0;
  // The partition logs this shard owns.
  std::unique_ptr<PartitionRegistry> partitions;
  // Fetch sessions whose id names this shard; long-poll waits and watches (fetch_wait.h).
  std::unique_ptr<FetchSessionCache> fetch_sessions;
  std::unique_ptr<FetchWaits> fetch_waits;
  uint64_t next_connection_id = 1;
  // Controller shard: set once its listener is bound (the other shards wait for it when
  // --listen names port 0: they bind the port shard 0 got).
  bool listening = false;
  Notify listening_changed;
  // Controller shard only.
  std::unique_ptr<MetadataStore> metadata;
  // The consumer groups this shard coordinates (broker/handlers/groups.h), made on first use.
  std::unique_ptr<GroupCoordinator> groups;
};

class Node {
 public:
  Node(BrokerConfig config, uint32_t shard_count);
  Node(const Node&) = delete;
  Node& operator=(const Node&) = delete;

  const BrokerConfig& config() const { return config_; }
  uint32_t shard_count() const { return static_cast<uint32_t>(shards_.size()); }

  // The port the controller shard's listener bound when --listen gave port 0. Called once, on
  // the controller shard, before any other shard listens or serves (they learn of it through
  // the mailboxes, which order the write before their reads).
  void SetBoundPort(uint16_t port) { config_.listen.port = port; }

  // This shard's state (created on first use); call only from the shard `io` belongs to.
  ShardState& Local(Io& io);

  // The shard owning a partition: FNV-1a of the topic name and the partition, mod shard_count.
  ShardId PartitionShard(std::string_view topic, int32_t partition) const;

  // The metadata store, for code running on the controller shard (loads nothing: see main).
  MetadataStore& Metadata(Io& controller_io);

  // A start-up failure on some shard: remembers it and asks the process to stop (the stopper
  // given by main.cc; it must be safe to call from any shard thread).
  void Fail();
  bool failed() const { return failed_.load(); }
  void SetStopper(std::function<void()> stop) { stop_ = std::move(stop); }
  // Asks the process to stop (after a drain).
  void Stop() {
    if (stop_) stop_();
  }
  // Whether a stop was asked for from outside (main.cc: a SIGTERM/SIGINT); polled by shard 0,
  // which then drains and calls Stop. Must be safe to call from any shard thread.
  void SetStopRequested(std::function<bool()> requested) { stop_requested_ = std::move(requested); }
  bool StopRequested() const { return stop_requested_ && stop_requested_(); }
  bool has_stop_source() const { return static_cast<bool>(stop_requested_); }

 private:
  BrokerConfig config_;
  std::atomic<bool> failed_{false};
  std::function<void()> stop_;
  std::function<bool()> stop_requested_;
  std::vector<std::unique_ptr<ShardState>> shards_;
};

// Runs fn(MetadataStore&) on the controller shard once the metadata is loaded and returns its
// result to the calling shard. `fn` returns Task<T>; what it captures must be owned or immutable.
// Pass `fn` as a named local when its captures have destructors (the GCC 12 pitfall).
template <typename T, typename Fn>
Task<T> ControllerCall(Node& node, Io& io, Fn fn) {
  // A named local, not a temporary inside the co_await: GCC 12 destroys such temporaries
  // (closures with non-trivial captures) twice (io/README.md).
  auto call = [&node, fn = std::move(fn)](Io& there) mutable -> Task<T> {
    MetadataStore& store = node.Metadata(there);
    co_await store.WaitLoaded();
    co_return co_await fn(store);
  };
  co_return co_await Invoke<T>(io.shards(), kControllerShard, std::move(call));
}

// Runs fn(ShardState&) on shard `shard` (a partition's owner) and returns its result to the
// calling shard. Same capture rules as ControllerCall.
template <typename T, typename Fn>
Task<T> ShardCall(Node& node, Io& io, ShardId shard, Fn fn) {
  auto call = [&node, fn = std::move(fn)](Io& there) mutable -> Task<T> {
    co_return co_await fn(node.Local(there));
  };
  co_return co_await Invoke<T>(io.shards(), shard, std::move(call));
}

// A copy of the cluster metadata, from the controller shard.
Task<ClusterMetadata> SnapshotMetadata(Node& node, Io& io);

}  // namespace runnel::broker
