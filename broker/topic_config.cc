#include "broker/topic_config.h"

#include <fmt/format.h>

#include <algorithm>
#include <charconv>
#include <limits>

namespace runnel::broker {
namespace {

constexpr int64_t kInt32Max = std::numeric_limits<int32_t>::max();
constexpr int64_t kInt64Max = std::numeric_limits<int64_t>::max();

// Kept in name order so DescribeConfigs lists them as Kafka does.
constexpr TopicSettingInfo kTopicSettings[] = {
    {"cleanup.policy", SettingType::kList,
     "delete, compact, or both (\"compact,delete\"): what happens to old segments"},
    {"compression.type", SettingType::kString,
     "producer (keep what the producer sent), uncompressed, gzip, snappy, lz4 or zstd"},
    {"delete.retention.ms", SettingType::kLong, "how long compaction keeps tombstones (ms)"},
    {"max.message.bytes", SettingType::kInt, "largest record batch the topic accepts (bytes)"},
    {"message.timestamp.type", SettingType::kString,
     "CreateTime (the producer's timestamp) or LogAppendTime (the broker's)"},
    {"min.insync.replicas", SettingType::kInt,
     "replicas that must have a write for acks=all (1 on a single node)"},
    {"retention.bytes", SettingType::kLong,
     "largest partition size before old segments are deleted (-1: unlimited)"},
    {"retention.ms", SettingType::kLong,
     "age after which old segments are deleted (ms, -1: unlimited)"},
    {"segment.bytes", SettingType::kInt, "size at which a segment is rolled (bytes)"},
    {"segment.ms", SettingType::kLong, "age at which a segment is rolled (ms)"},
};

std::string Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return std::string(s);
}

Result<CleanupPolicy> ParseCleanupPolicy(std::string_view value) {
  bool del = false;
  bool compact = false;
  std::string_view rest = value;
  if (Trim(rest).empty()) {
    return Status::InvalidArgument("cleanup.policy: empty (expected delete, compact or both)");
  }
  while (true) {
    size_t comma = rest.find(',');
    std::string item = Trim(rest.substr(0, comma));
    if (item == "delete") {
      del = true;
    } else if (item == "compact") {
      compact = true;
    } else {
      return Status::InvalidArgument(
          fmt::format("cleanup.policy: '{}' is not delete or compact", item));
    }
    if (comma == std::string_view::npos) break;
    rest = rest.substr(comma + 1);
  }
  if (del && compact) return CleanupPolicy::kCompactDelete;
  return compact ? CleanupPolicy::kCompact : CleanupPolicy::kDelete;
}

Result<TopicCompression> ParseCompression(std::string_view value) {
  static constexpr std::pair<std::string_view, TopicCompression> kNames[] = {
      {"producer", TopicCompression::kProducer}, {"uncompressed", TopicCompression::kUncompressed},
      {"none", TopicCompression::kUncompressed}, {"gzip", TopicCompression::kGzip},
      {"snappy", TopicCompression::kSnappy},     {"lz4", TopicCompression::kLz4},
      {"zstd", TopicCompression::kZstd},
  };
  for (const auto& [name, c] : kNames) {
    if (value == name) return c;
  }
  return Status::InvalidArgument(fmt::format(
      "compression.type: '{}' is not producer, uncompressed, gzip, snappy, lz4 or zstd", value));
}

}  // namespace

Result<int64_t> ParseInt64Setting(std::string_view name, std::string_view value, int64_t min,
                                  int64_t max) {
  int64_t v = 0;
  const char* end = value.data() + value.size();
  auto [ptr, ec] = std::from_chars(value.data(), end, v);
  if (value.empty() || ec == std::errc::invalid_argument || ptr != end) {
    return Status::InvalidArgument(fmt::format("{}: '{}' is not an integer", name, value));
  }
  if (ec == std::errc::result_out_of_range || v < min || v > max) {
    return Status::InvalidArgument(
        fmt::format("{}: {} is out of range [{}, {}]", name, value, min, max));
  }
  return v;
}

Result<bool> ParseBoolSetting(std::string_view name, std::string_view value) {
  if (value == "true") return true;
  if (value == "false") return false;
  return Status::InvalidArgument(fmt::format("{}: '{}' is not true or false", name, value));
}

std::span<const TopicSettingInfo> TopicSettings() { return kTopicSettings; }

const TopicSettingInfo* FindTopicSetting(std::string_view name) {
  for (const auto& s : kTopicSettings) {
    if (s.name == name) return &s;
  }
  return nullptr;
}

std::string_view CleanupPolicyName(CleanupPolicy p) {
  switch (p) {
    case CleanupPolicy::kDelete:
      return "delete";
    case CleanupPolicy::kCompact:
      return "compact";
    case CleanupPolicy::kCompactDelete:
      return "compact,delete";
  }
  return "delete";
}

std::string_view TimestampTypeName(TimestampType t) {
  return t == TimestampType::kLogAppendTime ? "LogAppendTime" : "CreateTime";
}

std::string_view TopicCompressionName(TopicCompression c) {
  switch (c) {
    case TopicCompression::kProducer:
      return "producer";
    case TopicCompression::kUncompressed:
      return "uncompressed";
    case TopicCompression::kGzip:
      return "gzip";
    case TopicCompression::kSnappy:
      return "snappy";
    case TopicCompression::kLz4:
      return "lz4";
    case TopicCompression::kZstd:
      return "zstd";
  }
  return "producer";
}

Status ApplyTopicSetting(TopicConfig& c, std::string_view name, std::string_view raw) {
  std::string value = Trim(raw);
  if (name == "retention.ms") {
    RUNNEL_ASSIGN_OR_RETURN(c.retention_ms, ParseInt64Setting(name, value, -1, kInt64Max));
  } else if (name == "retention.bytes") {
    RUNNEL_ASSIGN_OR_RETURN(c.retention_bytes, ParseInt64Setting(name, value, -1, kInt64Max));
  } else if (name == "segment.bytes") {
    RUNNEL_ASSIGN_OR_RETURN(c.segment_bytes, ParseInt64Setting(name, value, 14, kInt32Max));
  } else if (name == "segment.ms") {
    RUNNEL_ASSIGN_OR_RETURN(c.segment_ms, ParseInt64Setting(name, value, 1, kInt64Max));
  } else if (name == "cleanup.policy") {
    RUNNEL_ASSIGN_OR_RETURN(c.cleanup_policy, ParseCleanupPolicy(value));
  } else if (name == "max.message.bytes") {
    RUNNEL_ASSIGN_OR_RETURN(c.max_message_bytes, ParseInt64Setting(name, value, 0, kInt32Max));
  } else if (name == "message.timestamp.type") {
    if (value == "CreateTime") {
      c.message_timestamp_type = TimestampType::kCreateTime;
    } else if (value == "LogAppendTime") {
      c.message_timestamp_type = TimestampType::kLogAppendTime;
    } else {
      return Status::InvalidArgument(
          fmt::format("message.timestamp.type: '{}' is not CreateTime or LogAppendTime", value));
    }
  } else if (name == "compression.type") {
    RUNNEL_ASSIGN_OR_RETURN(c.compression_type, ParseCompression(value));
  } else if (name == "delete.retention.ms") {
    RUNNEL_ASSIGN_OR_RETURN(c.delete_retention_ms, ParseInt64Setting(name, value, 0, kInt64Max));
  } else if (name == "min.insync.replicas") {
    RUNNEL_ASSIGN_OR_RETURN(c.min_insync_replicas, ParseInt64Setting(name, value, 1, kInt32Max));
  } else {
    return Status::NotFound(fmt::format("{}: unknown topic setting", name));
  }
  return Status::Ok();
}

std::string TopicSettingValue(const TopicConfig& c, std::string_view name) {
  if (name == "retention.ms") return std::to_string(c.retention_ms);
  if (name == "retention.bytes") return std::to_string(c.retention_bytes);
  if (name == "segment.bytes") return std::to_string(c.segment_bytes);
  if (name == "segment.ms") return std::to_string(c.segment_ms);
  if (name == "cleanup.policy") return std::string(CleanupPolicyName(c.cleanup_policy));
  if (name == "max.message.bytes") return std::to_string(c.max_message_bytes);
  if (name == "message.timestamp.type") {
    return std::string(TimestampTypeName(c.message_timestamp_type));
  }
  if (name == "compression.type") return std::string(TopicCompressionName(c.compression_type));
  if (name == "delete.retention.ms") return std::to_string(c.delete_retention_ms);
  if (name == "min.insync.replicas") return std::to_string(c.min_insync_replicas);
  RUNNEL_ASSERT(false, "TopicSettingValue of unknown setting {}", name);
  return "";
}

Result<std::string> NormaliseTopicSetting(std::string_view name, std::string_view value) {
  TopicConfig scratch;
  RUNNEL_TRY(ApplyTopicSetting(scratch, name, value));
  return TopicSettingValue(scratch, name);
}

Result<TopicConfig> EffectiveTopicConfig(const TopicConfig& defaults,
                                         const TopicOverrides& overrides) {
  TopicConfig c = defaults;
  for (const auto& [name, value] : overrides) RUNNEL_TRY(ApplyTopicSetting(c, name, value));
  return c;
}

}  // namespace runnel::broker
