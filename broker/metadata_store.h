// MetadataStore: the broker's cluster metadata — its cluster id and node id, and every topic
// (name, topic id, partition count, config overrides). Lives on shard 0 (the controller shard);
// other shards reach it with Invoke and get copies (ClusterMetadata is a plain value).
//
// Durability: Commit writes the whole state to <data-dir>/metadata.toml with WriteFileAtomic
// (temp file, write, sync, rename, sync_dir) before it becomes visible, so after Commit resolves
// ok the new state survives a crash, and a crash during Commit leaves the old state. Load reads
// it back at start-up (a missing file means a fresh broker: a new cluster id is drawn).
// Mutations are serialised by Mutate (one at a time, in arrival order).
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <string>

#include "broker/protocol/wire_types.h"
#include "broker/topic_config.h"
#include "io/io.h"

namespace runnel::broker {

struct TopicInfo {
  std::string name;
  protocol::Uuid id;
  int32_t partitions = 0;
  TopicOverrides overrides;
  bool operator==(const TopicInfo&) const = default;
};

struct ClusterMetadata {
  std::string cluster_id;
  int32_t node_id = 0;
  // The next producer id InitProducerId hands out (persisted, so ids are never reused).
  int64_t next_producer_id = 1000;
  std::map<std::string, TopicInfo> topics;  // by name
  const TopicInfo* FindById(const protocol::Uuid& id) const;
  bool operator==(const ClusterMetadata&) const = default;
};

// Largest metadata file Load accepts.
inline constexpr uint64_t kMetadataFileBytesMax = 64 * 1024 * 1024;

std::string SerializeMetadata(const ClusterMetadata& m);
Result<ClusterMetadata> ParseMetadata(std::string_view text);

// Kafka's topic name rules: 1..249 characters of [a-zA-Z0-9._-], not "." or "..".
bool IsValidTopicName(std::string_view name);

class MetadataStore {
 public:
  MetadataStore(Io& io, std::string data_dir, int32_t node_id);
  MetadataStore(const MetadataStore&) = delete;
  MetadataStore& operator=(const MetadataStore&) = delete;

  // Creates the data dir if needed and loads metadata.toml (or starts fresh and saves it).
  Task<Status> Load();
  bool loaded() const { return loaded_; }
  // Resolves once Load finished (ok or not).
  Task<void> WaitLoaded();

  const ClusterMetadata& state() const { return state_; }

  // Runs `fn` on a copy of the state; if it returns ok and changed the copy, persists the copy
  // and makes it the state. Mutations run one at a time.
  Task<Status> Mutate(std::function<Status(ClusterMetadata&)> fn);

  // A fresh random topic id (never zero).
  protocol::Uuid NewTopicId();
  std::string path() const;

 private:
  Io& io_;
  std::string data_dir_;
  int32_t node_id_;
  ClusterMetadata state_;
  bool loaded_ = false;
  Notify loaded_notify_;
  Semaphore lock_;
};

}  // namespace runnel::broker
