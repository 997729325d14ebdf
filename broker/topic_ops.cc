#include "broker/topic_ops.h"

#include <fmt/format.h>

#include <algorithm>
#include <set>

#include "broker/node.h"

namespace runnel::broker {

using protocol::ErrorCode;

namespace {

constexpr int32_t kPartitionsMax = 100000;

TopicError Err(ErrorCode code, std::string message) { return TopicError{code, std::move(message)}; }

TopicError CheckAssignment(const std::vector<int32_t>& brokers, int32_t node_id,
                           int32_t partition) {
  if (brokers.size() != 1 || brokers[0] != node_id) {
    return Err(ErrorCode::kInvalidReplicaAssignment,
               fmt::format("partition {}: the only broker is {}", partition, node_id));
  }
  return {};
}

}  // namespace

TopicError ValidateNewTopic(const ClusterMetadata& meta, const BrokerConfig& config,
                            const NewTopic& t, TopicInfo* out) {
  if (!IsValidTopicName(t.name)) {
    return Err(ErrorCode::kInvalidTopicException,
               fmt::format("'{}' is not a valid topic name (1-249 of [a-zA-Z0-9._-])", t.name));
  }
  if (meta.topics.contains(t.name)) {
    return Err(ErrorCode::kTopicAlreadyExists, fmt::format("topic '{}' already exists", t.name));
  }
  int32_t partitions = t.partitions;
  if (!t.assignments.empty()) {
    if (t.partitions != -1 || t.replication_factor != -1) {
      return Err(ErrorCode::kInvalidRequest,
                 "both a replica assignment and a partition count or replication factor");
    }
    for (size_t p = 0; p < t.assignments.size(); p++) {
      TopicError e = CheckAssignment(t.assignments[p], meta.node_id, static_cast<int32_t>(p));
      if (!e.ok()) return e;
    }
    partitions = static_cast<int32_t>(t.assignments.size());
  } else {
    if (partitions == -1) partitions = config.num_partitions;
    if (partitions <= 0 || partitions > kPartitionsMax) {
      return Err(ErrorCode::kInvalidPartitions,
                 fmt::format("partition count {} is not in [1, {}]", t.partitions, kPartitionsMax));
    }
    if (t.replication_factor != -1 && t.replication_factor != 1) {
      return Err(ErrorCode::kInvalidReplicationFactor,
                 fmt::format("replication factor {} is larger than the 1 available broker",
                             t.replication_factor));
    }
  }
  TopicOverrides overrides;
  for (const auto& [name, value] : t.configs) {
    if (FindTopicSetting(name) == nullptr) {
      return Err(ErrorCode::kInvalidConfig, fmt::format("unknown topic config '{}'", name));
    }
    if (!value.has_value()) {
      return Err(ErrorCode::kInvalidConfig, fmt::format("config '{}' has a null value", name));
    }
    Result<std::string> normal = NormaliseTopicSetting(name, *value);
    if (!normal.ok()) return Err(ErrorCode::kInvalidConfig, normal.status().message());
    if (!overrides.emplace(name, *normal).second) {
      return Err(ErrorCode::kInvalidRequest, fmt::format("config '{}' given twice", name));
    }
  }
  out->name = t.name;
  out->partitions = partitions;
  out->overrides = std::move(overrides);
  return {};
}

TopicError ValidatePartitionIncrease(
    const ClusterMetadata& meta, int32_t node_id, const std::string& topic, int32_t count,
    const std::optional<std::vector<std::vector<int32_t>>>& assignments) {
  auto it = meta.topics.find(topic);
  if (it == meta.topics.end()) {
    return Err(ErrorCode::kUnknownTopicOrPartition, fmt::format("no topic '{}'", topic));
  }
  const int32_t current = it->second.partitions;
  if (count <= current) {
    return Err(
        ErrorCode::kInvalidPartitions,
        fmt::format("topic '{}' has {} partitions; {} would not add any", topic, current, count));
  }
  if (count > kPartitionsMax) {
    return Err(ErrorCode::kInvalidPartitions,
               fmt::format("more than {} partitions", kPartitionsMax));
  }
  if (assignments.has_value() && !assignments->empty()) {
    if (static_cast<int32_t>(assignments->size()) != count - current) {
      return Err(ErrorCode::kInvalidReplicaAssignment,
                 fmt::format("{} assignments for {} new partitions", assignments->size(),
                             count - current));
    }
    for (size_t i = 0; i < assignments->size(); i++) {
      TopicError e = CheckAssignment((*assignments)[i], node_id, current + static_cast<int32_t>(i));
      if (!e.ok()) return e;
    }
  }
  return {};
}

TopicError ApplyConfigChanges(const BrokerConfig& config, TopicOverrides& overrides,
                              const std::vector<ConfigChange>& changes, bool replace) {
  TopicOverrides next = replace ? TopicOverrides{} : overrides;
  std::set<std::string> seen;
  for (const ConfigChange& c : changes) {
    const TopicSettingInfo* info = FindTopicSetting(c.name);
    if (info == nullptr) {
      return Err(ErrorCode::kInvalidConfig, fmt::format("unknown topic config '{}'", c.name));
    }
    if (!seen.insert(c.name).second) {
      return Err(ErrorCode::kInvalidRequest, fmt::format("config '{}' given twice", c.name));
    }
    switch (c.op) {
      case ConfigOp::kSet: {
        if (!c.value.has_value()) {
          if (replace) continue;  // AlterConfigs: null value = back to the default
          return Err(ErrorCode::kInvalidConfig, fmt::format("null value for '{}'", c.name));
        }
        Result<std::string> normal = NormaliseTopicSetting(c.name, *c.value);
        if (!normal.ok()) return Err(ErrorCode::kInvalidConfig, normal.status().message());
        next[c.name] = *normal;
        break;
      }
      case ConfigOp::kDelete:
        next.erase(c.name);
        break;
      case ConfigOp::kAppend:
      case ConfigOp::kSubtract: {
        if (info->type != SettingType::kList) {
          return Err(ErrorCode::kInvalidConfig,
                     fmt::format("'{}' is not a list; APPEND and SUBTRACT need one", c.name));
        }
        TopicConfig current = config.topic;
        auto it = next.find(c.name);
        std::string base = it != next.end() ? it->second : TopicSettingValue(current, c.name);
        std::vector<std::string> items;
        for (size_t start = 0; start <= base.size();) {
          size_t comma = base.find(',', start);
          std::string item = base.substr(start, comma == std::string::npos ? comma : comma - start);
          if (!item.empty()) items.push_back(item);
          if (comma == std::string::npos) break;
          start = comma + 1;
        }
        std::string arg = c.value.value_or("");
        for (size_t start = 0; start <= arg.size();) {
          size_t comma = arg.find(',', start);
          std::string item = arg.substr(start, comma == std::string::npos ? comma : comma - start);
          auto pos = std::find(items.begin(), items.end(), item);
          if (c.op == ConfigOp::kAppend && pos == items.end() && !item.empty()) {
            items.push_back(item);
          }
          if (c.op == ConfigOp::kSubtract && pos != items.end()) items.erase(pos);
          if (comma == std::string::npos) break;
          start = comma + 1;
        }
        std::string joined;
        for (const auto& item : items) joined += (joined.empty() ? "" : ",") + item;
        Result<std::string> normal = NormaliseTopicSetting(c.name, joined);
        if (!normal.ok()) return Err(ErrorCode::kInvalidConfig, normal.status().message());
        next[c.name] = *normal;
        break;
      }
      default:
        return Err(ErrorCode::kInvalidRequest,
                   fmt::format("unknown config operation {}", static_cast<int>(c.op)));
    }
  }
  overrides = std::move(next);
  return {};
}

int8_t TopicConfigSource(const BrokerConfig& config, const TopicOverrides& overrides,
                         std::string_view name) {
  if (overrides.contains(std::string(name))) return kConfigSourceDynamicTopic;
  return TopicSettingValue(config.topic, name) == TopicSettingValue(TopicConfig{}, name)
             ? kConfigSourceDefault
             : kConfigSourceStaticBroker;
}

Task<Status> AutoCreateTopics(Node& node, Io& io, std::vector<std::string> names) {
  const BrokerConfig& config = node.config();
  auto create = [&config, names = std::move(names)](MetadataStore& store) -> Task<Status> {
    std::function<Status(ClusterMetadata&)> change = [&](ClusterMetadata& meta) -> Status {
      for (const std::string& name : names) {
        NewTopic t;
        t.name = name;
        TopicInfo info;
        TopicError e = ValidateNewTopic(meta, config, t, &info);
        if (e.code == ErrorCode::kTopicAlreadyExists) continue;
        if (!e.ok()) return Status::InvalidArgument(e.message);
        info.id = store.NewTopicId();
        meta.topics.emplace(info.name, std::move(info));
      }
      return Status::Ok();
    };
    co_return co_await store.Mutate(std::move(change));
  };
  co_return co_await ControllerCall<Status>(node, io, std::move(create));
}

}  // namespace runnel::broker
