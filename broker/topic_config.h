// TopicConfig: the per-topic settings a client can set with CreateTopics, AlterConfigs and
// IncrementalAlterConfigs and read with DescribeConfigs, under their Kafka names. The broker's
// defaults for them come from broker/config.h (flags or TOML); a topic keeps only its overrides
// (name -> normalised value) and its effective configuration is the defaults with the overrides
// applied.
//
// Plain values, no I/O; copied freely between shards.
#pragma once

#include <cstdint>
#include <map>
#include <span>
#include <string>
#include <string_view>

#include "io/status.h"

namespace runnel::broker {

enum class CleanupPolicy : uint8_t { kDelete, kCompact, kCompactDelete };
enum class TimestampType : uint8_t { kCreateTime, kLogAppendTime };
// "producer" keeps what the producer sent; anything else converts to that codec.
enum class TopicCompression : uint8_t { kProducer, kUncompressed, kGzip, kSnappy, kLz4, kZstd };

struct TopicConfig {
  int64_t retention_ms = 604800000;  // -1: unlimited
  int64_t retention_bytes = -1;      // -1: unlimited
  int64_t segment_bytes = 1073741824;
  int64_t segment_ms = 604800000;
  CleanupPolicy cleanup_policy = CleanupPolicy::kDelete;
  int64_t max_message_bytes = 1048588;
  TimestampType message_timestamp_type = TimestampType::kCreateTime;
  TopicCompression compression_type = TopicCompression::kProducer;
  int64_t delete_retention_ms = 86400000;
  int64_t min_insync_replicas = 1;
};

// A topic's overrides: Kafka name -> value in its normalised text form.
using TopicOverrides = std::map<std::string, std::string>;

enum class SettingType : uint8_t { kInt, kLong, kBool, kString, kList };

struct TopicSettingInfo {
  std::string_view name;
  SettingType type;
  std::string_view help;
};

// Every topic-level setting, in name order.
std::span<const TopicSettingInfo> TopicSettings();
const TopicSettingInfo* FindTopicSetting(std::string_view name);

// Parses and validates `value` for setting `name` and stores it in `config`. kNotFound for an
// unknown name, kInvalidArgument (naming the setting and the reason) for a bad value.
Status ApplyTopicSetting(TopicConfig& config, std::string_view name, std::string_view value);
// The setting's current value in its normalised text form ("delete", "604800000", ...).
std::string TopicSettingValue(const TopicConfig& config, std::string_view name);

// Validates overrides and returns defaults + overrides; the first bad entry fails.
Result<TopicConfig> EffectiveTopicConfig(const TopicConfig& defaults,
                                         const TopicOverrides& overrides);
// Normalises `value` for `name` (validating it): "Delete" stays invalid, "1000" -> "1000".
Result<std::string> NormaliseTopicSetting(std::string_view name, std::string_view value);

std::string_view CleanupPolicyName(CleanupPolicy p);
std::string_view TimestampTypeName(TimestampType t);
std::string_view TopicCompressionName(TopicCompression c);

// Shared value parsers (also used by the broker settings). Decimal only, full string, range
// checked; the Status names `name`.
Result<int64_t> ParseInt64Setting(std::string_view name, std::string_view value, int64_t min,
                                  int64_t max);
Result<bool> ParseBoolSetting(std::string_view name, std::string_view value);

}  // namespace runnel::broker
