#include "broker/fetch_session.h"

#include <algorithm>
#include <limits>
#include <tuple>

#include "io/status.h"

namespace runnel::broker {

namespace {

constexpr int32_t kInt32Max = std::numeric_limits<int32_t>::max();

// Bounded retries for a fresh id; with at most a few thousand sessions per shard in a space of
// ~2^31 / shard_count ids a collision is rare, two in a row rarer still.
constexpr int kIdDrawsMax = 64;

}  // namespace

int32_t NextSessionEpoch(int32_t epoch) {
  if (epoch < 0) return -1;  // final stays final
  return epoch == kInt32Max ? 1 : epoch + 1;
}

ShardId SessionOwner(int32_t id, uint32_t shard_count) {
  RUNNEL_ASSERT(id > 0 && shard_count > 0, "session {} of {} shards", id, shard_count);
  return static_cast<ShardId>(static_cast<uint32_t>(id) % shard_count);
}

size_t SessionSlotsOfShard(int64_t slots_max, ShardId shard, uint32_t shard_count) {
  if (slots_max <= 0) return 0;
  const uint64_t slots = static_cast<uint64_t>(slots_max);
  return static_cast<size_t>(slots / shard_count + (shard < slots % shard_count ? 1 : 0));
}

FetchSessionCache::FetchSessionCache(ShardId shard, uint32_t shard_count, size_t slots_max)
    : shard_(shard), shard_count_(shard_count), slots_max_(slots_max) {
  RUNNEL_ASSERT(shard < shard_count, "shard {} of {}", shard, shard_count);
}

int32_t FetchSessionCache::MaybeCreate(Rng& rng, Instant now, bool uses_topic_ids,
                                       SessionPartitions partitions) {
  if (slots_max_ == 0) return 0;
  if (sessions_.size() >= slots_max_ && !TryEvict(partitions.size(), now)) return 0;
  // id = k * shard_count + shard with k >= 1: positive, and id mod shard_count names this shard.
  const uint64_t k_max = (static_cast<uint64_t>(kInt32Max) - shard_) / shard_count_;
  RUNNEL_ASSERT(k_max >= 1, "too many shards for int32 session ids");
  int32_t id = 0;
  for (int i = 0; i < kIdDrawsMax && id == 0; i++) {
    const uint64_t k = 1 + rng.Uniform(k_max);
    const auto candidate = static_cast<int32_t>(k * shard_count_ + shard_);
    if (!sessions_.contains(candidate)) id = candidate;
  }
  if (id == 0) return 0;
  RUNNEL_ASSERT(SessionOwner(id, shard_count_) == shard_, "session id {} not of shard {}", id,
                shard_);
  FetchSession& s = sessions_[id];
  s.id = id;
  s.epoch = NextSessionEpoch(0);
  s.uses_topic_ids = uses_topic_ids;
  s.created = now;
  s.last_used = now;
  s.partitions = std::move(partitions);
  for (const auto& [key, p] : s.partitions) s.next_order = std::max(s.next_order, p.order + 1);
  return id;
}

FetchSession* FetchSessionCache::Find(int32_t id) {
  auto it = sessions_.find(id);
  return it == sessions_.end() ? nullptr : &it->second;
}

bool FetchSessionCache::Remove(int32_t id) { return sessions_.erase(id) > 0; }

bool FetchSessionCache::TryEvict(size_t new_partitions, Instant now) {
  if (sessions_.empty()) return false;
  // A stale session goes first: the least recently used one, if idle long enough.
  const FetchSession* lru = nullptr;
  for (const auto& [id, s] : sessions_) {
    if (lru == nullptr || s.last_used < lru->last_used) lru = &s;
  }
  if (now - lru->last_used > kEvictionIdle) {
    sessions_.erase(lru->id);
    evictions_++;
    return true;
  }
  // Otherwise the least valuable settled session (fewest partitions, then lowest id), among
  // those that have existed for kEvictionIdle, makes way for a bigger one.
  const FetchSession* smallest = nullptr;
  for (const auto& [id, s] : sessions_) {
    if (now - s.created <= kEvictionIdle) continue;
    if (smallest == nullptr || std::make_tuple(s.partitions.size(), s.id) <
                                   std::make_tuple(smallest->partitions.size(), smallest->id)) {
      smallest = &s;
    }
  }
  if (smallest == nullptr || new_partitions <= smallest->partitions.size()) return false;
  sessions_.erase(smallest->id);
  evictions_++;
  return true;
}

}  // namespace runnel::broker
