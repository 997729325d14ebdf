// FetchWaits: long-polling fetches woken by an append on any shard.
//
// A fetch that must wait (fewer than min_bytes available, max_wait_ms not over) runs on its
// connection's shard, the *home* shard; its partitions live on *owner* shards. WaitForAppend
// opens a wait on the home shard's FetchWaits, then registers a watch with the FetchWaits of
// every owner shard involved (Invoke): "wake wait W of shard H when one of these partitions'
// high watermark passes the one I saw". The owner checks at once (an append may already have
// happened since the read) and otherwise keeps the watch as plain data. Each shard runs one
// watcher task (Run, started by RunShard) waiting on its PartitionRegistry's `appended` Notify;
// after an append it compares the high watermarks of the watched partitions and, for each
// watch that fired, removes it and posts the wake-up home through the shard mailbox (Invoke to
// H, Wake(W)). The home side wakes the fetch, which reads again.
//
// Nothing polls and nothing is locked: each FetchWaits is touched only from its own shard's
// loop, and watches travel as Invoke frames. Watches are removed when they fire, and every other
// one when the wait ends (woken, timed out, or its connection closed: ConnectionClosed wakes the
// connection's waits and later ones return at once), so nothing is left behind.
//
// Lives on its shard (ShardState::fetch_waits).
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "broker/metadata_store.h"
#include "io/io.h"

namespace runnel::broker {

class Node;
class PartitionRegistry;

// A partition a waiting fetch cares about and the high watermark it last saw there.
struct WatchedPartition {
  TopicInfo topic;
  int32_t partition = 0;
  int64_t seen_high_watermark = -1;
};

class FetchWaits {
 public:
  FetchWaits(Io& io, Node& node, PartitionRegistry& partitions);
  FetchWaits(const FetchWaits&) = delete;
  FetchWaits& operator=(const FetchWaits&) = delete;

  // Home side. Open returns a new wait id; `connection` names the fetch's connection (0: none).
  uint64_t Open(uint64_t connection);
  // Resolves when Wake(id) was called (before or during the wait), the connection closed, or
  // `timeout` passed. True unless it timed out.
  Task<bool> Wait(uint64_t id, Duration timeout);
  void Wake(uint64_t id);
  void Close(uint64_t id);
  // Wakes every wait of `connection`; waits it opens later return at once.
  void ConnectionClosed(uint64_t connection);
  void ConnectionGone(uint64_t connection) { closed_connections_.erase(connection); }
  bool IsClosed(uint64_t connection) const { return closed_connections_.contains(connection); }

  // Owner side. Registers a watch for wait `wait` of shard `home`, unless a watched partition
  // already moved (then false, nothing registered). The partitions' logs must be open.
  bool Watch(ShardId home, uint64_t wait, std::vector<WatchedPartition> partitions);
  void Unwatch(ShardId home, uint64_t wait);

  // The watcher loop (one per shard, spawned by RunShard).
  Task<void> Run();

  size_t open_waits() const { return waits_.size(); }
  size_t watches() const { return watches_.size(); }

 private:
  struct PendingWait {
    explicit PendingWait(Io& io) : notify(io.executor(), io.clock()) {}
    Notify notify;
    uint64_t connection = 0;
    bool woken = false;
  };
  bool Moved(const std::vector<WatchedPartition>& partitions) const;
  void CheckWatches();

  Io& io_;
  Node& node_;
  PartitionRegistry& partitions_;
  uint64_t next_wait_ = 1;
  std::map<uint64_t, std::unique_ptr<PendingWait>> waits_;
  std::set<uint64_t> closed_connections_;
  std::map<std::pair<ShardId, uint64_t>, std::vector<WatchedPartition>> watches_;
};

// One wait of a fetch on the home shard `io`: wakes when a partition of `by_owner` (grouped by
// owner shard) gets a high watermark above the one seen, when `connection` closes, or after
// `timeout`. Every watch is removed before it returns.
Task<void> WaitForAppend(Node& node, Io& io, uint64_t connection,
                         std::map<ShardId, std::vector<WatchedPartition>> by_owner,
                         Duration timeout);

}  // namespace runnel::broker
