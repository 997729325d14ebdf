// Incremental fetch sessions (KIP-227): what a broker remembers between a consumer's fetches so
// that the consumer may send only the partitions whose fetch position changed and hear back only
// about the partitions with something to say.
//
// A FetchSession holds, for every partition the client fetches, the fetch offset and maximum
// bytes it last asked for and what it was last told (high watermark, log start offset, last
// stable offset). The fetch offset changes only when a request names the partition again
// (Kafka's semantics): a partition left out of an incremental request is read from the same
// offset again.
//
// FetchSessionCache: the sessions one shard owns, at most `slots_max` of them. The owning shard
// is encoded in the id (id mod shard_count), so a connection on any shard finds the session's
// shard without asking anyone; the session itself is touched only on its shard. Ids are drawn
// from the shard's Rng (deterministic in simulation) and are positive.
//
// When the cache is full a new session may evict one, as Kafka's FetchSessionCache does: first
// the least recently used session if it has been idle for more than kEvictionIdle; otherwise the
// session with the fewest partitions among those older than kEvictionIdle, if the new one has
// more partitions. Otherwise no session is created (the fetch is answered sessionless, id 0).
//
// Lives on its shard (ShardState::fetch_sessions); not thread-safe; no I/O.
#pragma once

#include <compare>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "broker/protocol/wire_types.h"
#include "io/clock.h"
#include "io/rng.h"
#include "io/shards.h"

namespace runnel::broker {

// A session partition: by topic name (Fetch v7-12) or by topic id (v13+; the name is then
// empty), never both.
struct SessionPartitionKey {
  std::string topic;
  protocol::Uuid topic_id;
  int32_t partition = 0;
  friend auto operator<=>(const SessionPartitionKey& a, const SessionPartitionKey& b) {
    if (auto c = a.topic <=> b.topic; c != 0) return c;
    if (auto c = a.topic_id.bytes <=> b.topic_id.bytes; c != 0) return c;
    return a.partition <=> b.partition;
  }
  friend bool operator==(const SessionPartitionKey&, const SessionPartitionKey&) = default;
};

struct CachedPartition {
  int64_t fetch_offset = 0;
  int32_t max_bytes = 0;
  // What the client was last told; -1 until told, and again after an error (so the partition
  // is sent once the error is gone).
  int64_t high_watermark = -1;
  int64_t log_start_offset = -1;
  int64_t last_stable_offset = -1;
  // Where the partition comes in the session's read order (ascending). A partition that returned
  // records moves to the end, so that under max_bytes the others get their turn (as in Kafka).
  uint64_t order = 0;
};

using SessionPartitions = std::map<SessionPartitionKey, CachedPartition>;

struct FetchSession {
  int32_t id = 0;
  // The epoch the next incremental request must carry.
  int32_t epoch = 1;
  bool uses_topic_ids = false;
  // The order the next partition moved or added to the end gets.
  uint64_t next_order = 0;
  Instant created;
  Instant last_used;
  SessionPartitions partitions;
};

// Kafka's epoch arithmetic: 0 opens a session, -1 is final, epochs run 1..INT32_MAX then wrap to
// 1.
int32_t NextSessionEpoch(int32_t epoch);

// The shard that owns session `id` (ids are positive; 0 is "no session").
ShardId SessionOwner(int32_t id, uint32_t shard_count);

// Slots of shard `shard` when `slots_max` (max.incremental.fetch.session.cache.slots) is split
// over `shard_count` shards.
size_t SessionSlotsOfShard(int64_t slots_max, ShardId shard, uint32_t shard_count);

class FetchSessionCache {
 public:
  // Idle time after which a session may be evicted in favour of a new one
  // (Kafka's MIN_INCREMENTAL_FETCH_SESSION_EVICTION_MS).
  static constexpr Duration kEvictionIdle = std::chrono::milliseconds(120000);

  FetchSessionCache(ShardId shard, uint32_t shard_count, size_t slots_max);
  FetchSessionCache(const FetchSessionCache&) = delete;
  FetchSessionCache& operator=(const FetchSessionCache&) = delete;

  // Creates a session holding `partitions` (epoch 1; their `order` fields give the read order)
  // and returns its id, or 0 when the cache is full and nothing may be evicted.
  int32_t MaybeCreate(Rng& rng, Instant now, bool uses_topic_ids, SessionPartitions partitions);
  // The session, or nullptr.
  FetchSession* Find(int32_t id);
  // Removes a session; false when it was not there.
  bool Remove(int32_t id);
  // Marks a session used now (eviction order).
  void Touch(FetchSession& session, Instant now) { session.last_used = now; }

  size_t size() const { return sessions_.size(); }
  size_t slots_max() const { return slots_max_; }
  uint64_t evictions() const { return evictions_; }

 private:
  bool TryEvict(size_t new_partitions, Instant now);

  ShardId shard_;
  uint32_t shard_count_;
  size_t slots_max_;
  uint64_t evictions_ = 0;
  std::map<int32_t, FetchSession> sessions_;
};

}  // namespace runnel::broker
