// Topic operations on a ClusterMetadata value: the validation and the change behind
// CreateTopics, DeleteTopics, CreatePartitions, AlterConfigs, IncrementalAlterConfigs and
// Metadata's auto-create, as plain functions (unit-tested without I/O). The handlers run them
// inside MetadataStore::Mutate on the controller shard, so each request sees and changes one
// consistent state.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "broker/config.h"
#include "broker/metadata_store.h"
#include "broker/protocol/gen/error_codes.h"
#include "io/io.h"

namespace runnel::broker {

struct TopicError {
  protocol::ErrorCode code = protocol::ErrorCode::kNone;
  std::string message;
  bool ok() const { return code == protocol::ErrorCode::kNone; }
  int16_t wire() const { return static_cast<int16_t>(code); }
  std::optional<std::string> wire_message() const {
    return ok() ? std::nullopt : std::optional<std::string>(message);
  }
};

struct NewTopic {
  std::string name;
  int32_t partitions = -1;          // -1: num.partitions
  int16_t replication_factor = -1;  // -1: 1
  // Explicit assignment: one broker list per partition (empty: none given).
  std::vector<std::vector<int32_t>> assignments;
  std::vector<std::pair<std::string, std::optional<std::string>>> configs;
};

// Validates `t` against `meta` and the broker defaults; on success fills `out` (partitions and
// normalised overrides resolved; the id is left for the caller).
TopicError ValidateNewTopic(const ClusterMetadata& meta, const BrokerConfig& config,
                            const NewTopic& t, TopicInfo* out);

// Grows a topic to `count` partitions (CreatePartitions).
TopicError ValidatePartitionIncrease(
    const ClusterMetadata& meta, int32_t node_id, const std::string& topic, int32_t count,
    const std::optional<std::vector<std::vector<int32_t>>>& assignments);

// Kafka's config operations (IncrementalAlterConfigs).
enum class ConfigOp : int8_t { kSet = 0, kDelete = 1, kAppend = 2, kSubtract = 3 };

struct ConfigChange {
  std::string name;
  ConfigOp op = ConfigOp::kSet;
  std::optional<std::string> value;
};

// Applies changes to a topic's overrides: `replace` (AlterConfigs) starts from no overrides.
TopicError ApplyConfigChanges(const BrokerConfig& config, TopicOverrides& overrides,
                              const std::vector<ConfigChange>& changes, bool replace);

// Kafka's DescribeConfigs source codes.
inline constexpr int8_t kConfigSourceDynamicTopic = 1;
inline constexpr int8_t kConfigSourceStaticBroker = 4;
inline constexpr int8_t kConfigSourceDefault = 5;

// Where a topic's effective value of `name` comes from: the topic's override, a broker default
// set in the config (static broker config) or the built-in default.
int8_t TopicConfigSource(const BrokerConfig& config, const TopicOverrides& overrides,
                         std::string_view name);

// Creates the named topics that are still missing, with the broker defaults (Metadata's
// auto-create). Runs on the controller shard through ControllerCall.
class Node;
Task<Status> AutoCreateTopics(Node& node, Io& io, std::vector<std::string> names);

}  // namespace runnel::broker
