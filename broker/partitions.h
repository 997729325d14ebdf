// PartitionRegistry: the partition logs one shard owns (Node::PartitionShard decides which), with
// a Notify that wakes long-polling fetches on every append. Logs are opened lazily on first use
// from <data-dir>/<topic>-<partition>-<topic id hex> (the topic id keeps a re-created topic from
// seeing a deleted one's data) with the topic's effective config, which is re-applied whenever
// a request brings different overrides (AlterConfigs).
//
// Lives on its shard (ShardState::partitions); every call comes from that shard's loop.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "broker/config.h"
#include "broker/metadata_store.h"
#include "engine/log.h"
#include "io/io.h"

namespace runnel::broker {

// The engine's view of a topic's settings.
engine::LogConfig ToLogConfig(const TopicConfig& config);

class PartitionRegistry {
 public:
  PartitionRegistry(Io& io, const BrokerConfig& config);
  PartitionRegistry(const PartitionRegistry&) = delete;
  PartitionRegistry& operator=(const PartitionRegistry&) = delete;

  // The log of `topic`'s partition, opened (and recovered) on first use.
  Task<Result<engine::Log*>> Get(const TopicInfo& topic, int32_t partition);
  // Signalled after every append on this shard.
  Notify& appended() { return appended_; }
  // The log of a partition that is open now, or nullptr; never waits (long-poll watches).
  engine::Log* FindOpen(const std::string& topic, int32_t partition) const;
  size_t open_logs() const { return logs_.size(); }
  // Deletes a deleted topic's partition: closes its log if open and removes its directory
  // (<data-dir>/<topic>-<partition>-<id hex>) with everything in it.
  Task<Status> Remove(const TopicInfo& topic, int32_t partition);
  // One background pass: retention (cleanup.policy delete), compaction (compact) and a
  // checkpoint, for every open log in turn. Errors are logged; the pass goes on.
  Task<void> Maintain();
  // Closes every log (clean shutdown marks); later Gets fail with kCancelled.
  Task<void> CloseAll();

 private:
  struct Entry {
    protocol::Uuid topic_id;
    TopicOverrides overrides;
    std::unique_ptr<engine::Log> log;
  };
  Io& io_;
  const BrokerConfig& config_;
  bool closed_ = false;
  std::map<std::pair<std::string, int32_t>, Entry> logs_;
  // Logs replaced by a reopen after a failed sync fenced them. Requests that were already inside
  // them hold plain pointers and must find an object that fails their calls, so they are kept
  // (one per fence, which is rare) until the shard stops.
  std::vector<std::unique_ptr<engine::Log>> fenced_;
  Semaphore open_lock_;  // one open at a time, so two requests never open one log twice
  Notify appended_;
  engine::RecordReader reader_;
};

}  // namespace runnel::broker
