#include "broker/config.h"

#include <fmt/format.h>
#include <toml++/toml.h>

#include <limits>
#include <vector>

namespace runnel::broker {
namespace {

constexpr int64_t kInt32Max = std::numeric_limits<int32_t>::max();
constexpr int64_t kInt64Max = std::numeric_limits<int64_t>::max();

struct BrokerSetting {
  std::string_view name;
  std::string_view default_text;
  std::string_view help;
  Status (*apply)(BrokerConfig&, std::string_view name, std::string_view value);
};

// Parses an IPv4 literal a.b.c.d (what io/ accepts for a listener).
bool IsIpv4Literal(std::string_view host) {
  int parts = 0;
  size_t i = 0;
  while (i <= host.size()) {
    size_t dot = host.find('.', i);
    std::string_view part = host.substr(i, dot == std::string_view::npos ? dot : dot - i);
    if (part.empty() || part.size() > 3) return false;
    int v = 0;
    for (char ch : part) {
      if (ch < '0' || ch > '9') return false;
      v = v * 10 + (ch - '0');
    }
    if (v > 255) return false;
    parts++;
    if (dot == std::string_view::npos) break;
    i = dot + 1;
  }
  return parts == 4;
}

template <typename T>
Status SetInt(T& field, std::string_view name, std::string_view value, int64_t min, int64_t max) {
  RUNNEL_ASSIGN_OR_RETURN(int64_t v, ParseInt64Setting(name, value, min, max));
  field = static_cast<T>(v);
  return Status::Ok();
}

Status ApplyTopicDefault(BrokerConfig& c, std::string_view name, std::string_view value) {
  return ApplyTopicSetting(c.topic, name, value);
}

const std::vector<BrokerSetting>& BrokerSettings() {
  static const std::vector<BrokerSetting> kSettings = {
      {"listen", "127.0.0.1:9092", "address the broker listens on (IPv4 literal:port)",
       [](BrokerConfig& c, std::string_view n, std::string_view v) -> Status {
         Result<Address> a = Address::Parse(v);
         if (!a.ok())
           return Status::InvalidArgument(fmt::format("{}: '{}' is not host:port", n, v));
         if (!IsIpv4Literal(a->host)) {
           return Status::InvalidArgument(
               fmt::format("{}: host '{}' is not an IPv4 literal", n, a->host));
         }
         c.listen = *a;
         return Status::Ok();
       }},
      {"advertise", "(the listen address)", "host:port clients are told to connect to (Metadata)",
       [](BrokerConfig& c, std::string_view n, std::string_view v) -> Status {
         Result<Address> a = Address::Parse(v);
         if (!a.ok() || a->port == 0) {
           return Status::InvalidArgument(fmt::format("{}: '{}' is not host:port", n, v));
         }
         c.advertise = std::string(v);
         return Status::Ok();
       }},
      {"data-dir", "./data", "directory holding the topics' logs and the broker metadata",
       [](BrokerConfig& c, std::string_view n, std::string_view v) -> Status {
         if (v.empty()) return Status::InvalidArgument(fmt::format("{}: empty path", n));
         c.data_dir = std::string(v);
         return Status::Ok();
       }},
      {"smp", "(online cores)", "shards: one thread and io_uring loop each",
       [](BrokerConfig& c, std::string_view n, std::string_view v) -> Status {
         return SetInt(c.smp, n, v, 1, 1024);
       }},
      {"node-id", "0", "this broker's id in Metadata and DescribeCluster",
       [](BrokerConfig& c, std::string_view n, std::string_view v) -> Status {
         return SetInt(c.node_id, n, v, 0, kInt32Max);
       }},
      {"log-level", "info", "trace, debug, info, warn, error or off",
       [](BrokerConfig& c, std::string_view n, std::string_view v) -> Status {
         for (LogLevel l : {LogLevel::kTrace, LogLevel::kDebug, LogLevel::kInfo, LogLevel::kWarn,
                            LogLevel::kError, LogLevel::kOff}) {
           if (v == LogLevelName(l)) {
             c.log_level = l;
             return Status::Ok();
           }
         }
         return Status::InvalidArgument(
             fmt::format("{}: '{}' is not trace, debug, info, warn, error or off", n, v));
       }},
      {"num.partitions", "1", "partitions of a topic created without a count (auto-create)",
       [](BrokerConfig& c, std::string_view n, std::string_view v) -> Status {
         return SetInt(c.num_partitions, n, v, 1, 100000);
       }},
      {"auto.create.topics.enable", "true", "create a topic when Metadata names a missing one",
       [](BrokerConfig& c, std::string_view n, std::string_view v) -> Status {
         RUNNEL_ASSIGN_OR_RETURN(c.auto_create_topics_enable, ParseBoolSetting(n, v));
         return Status::Ok();
       }},
      {"retention.ms", "604800000", "default: age after which segments are deleted (-1: never)",
       ApplyTopicDefault},
      {"retention.bytes", "-1", "default: partition size above which old segments are deleted",
       ApplyTopicDefault},
      {"segment.bytes", "1073741824", "default: segment size at which a new one is rolled",
       ApplyTopicDefault},
      {"segment.ms", "604800000", "default: segment age at which a new one is rolled",
       ApplyTopicDefault},
      {"cleanup.policy", "delete", "default: delete, compact or compact,delete", ApplyTopicDefault},
      {"max.message.bytes", "1048588", "default: largest record batch a topic accepts",
       ApplyTopicDefault},
      {"message.timestamp.type", "CreateTime", "default: CreateTime or LogAppendTime",
       ApplyTopicDefault},
      {"compression.type", "producer", "default: producer, uncompressed, gzip, snappy, lz4 or zstd",
       ApplyTopicDefault},
      {"delete.retention.ms", "86400000", "default: how long compaction keeps tombstones",
       ApplyTopicDefault},
      {"min.insync.replicas", "1", "default: replicas needed for acks=all", ApplyTopicDefault},
      {"log.drop.behind.bytes", "0",
       "keep about the newest 2-3x this many bytes of each appended file in the page cache "
       "(writeback started, older bytes dropped); 0: leave caching to the kernel",
       [](BrokerConfig& c, std::string_view n, std::string_view v) -> Status {
         return SetInt(c.log_drop_behind_bytes, n, v, 0, int64_t{1} << 40);
       }},
      {"log.direct.append.bytes", "131072",
       "appends to a log file of at least this many bytes go to the disk with O_DIRECT, past the "
       "page cache (the file's last partial 4 KiB block is still written through it); 0: off",
       [](BrokerConfig& c, std::string_view n, std::string_view v) -> Status {
         return SetInt(c.log_direct_append_bytes, n, v, 0, int64_t{1} << 40);
       }},
      {"log.retention.check.interval.ms", "300000",
       "how often each shard runs retention, compaction and a checkpoint over its logs",
       [](BrokerConfig& c, std::string_view n, std::string_view v) -> Status {
         return SetInt(c.log_retention_check_interval_ms, n, v, 1, kInt64Max / 1000000);
       }},
      {"group.initial.rebalance.delay.ms", "3000",
       "how long an empty group's first rebalance waits for more members (tests want it small)",
       [](BrokerConfig& c, std::string_view n, std::string_view v) -> Status {
         return SetInt(c.group_initial_rebalance_delay_ms, n, v, 0, kInt32Max);
       }},
      {"group.min.session.timeout.ms", "6000", "smallest session timeout a member may ask for",
       [](BrokerConfig& c, std::string_view n, std::string_view v) -> Status {
         return SetInt(c.group_min_session_timeout_ms, n, v, 1, kInt32Max);
       }},
      {"group.max.session.timeout.ms", "1800000", "largest session timeout a member may ask for",
       [](BrokerConfig& c, std::string_view n, std::string_view v) -> Status {
         return SetInt(c.group_max_session_timeout_ms, n, v, 1, kInt32Max);
       }},
      {"group.max.size", "10000", "members per consumer group",
       [](BrokerConfig& c, std::string_view n, std::string_view v) -> Status {
         return SetInt(c.group_max_size, n, v, 1, kInt32Max);
       }},
      {"offsets.topic.num.partitions", "50",
       "partitions of __consumer_offsets when it is created (a group's coordinator is "
       "abs(hash(group)) % partitions)",
       [](BrokerConfig& c, std::string_view n, std::string_view v) -> Status {
         return SetInt(c.offsets_topic_num_partitions, n, v, 1, 10000);
       }},
      {"offsets.retention.minutes", "10080",
       "committed offsets of a group empty this long (standalone commits: this old) are dropped",
       [](BrokerConfig& c, std::string_view n, std::string_view v) -> Status {
         return SetInt(c.offsets_retention_minutes, n, v, 1, kInt32Max);
       }},
      {"offsets.retention.check.interval.ms", "600000", "how often expired offsets are dropped",
       [](BrokerConfig& c, std::string_view n, std::string_view v) -> Status {
         return SetInt(c.offsets_retention_check_interval_ms, n, v, 1, kInt64Max / 1000000);
       }},
      {"offset.metadata.max.bytes", "4096", "largest metadata string of a committed offset",
       [](BrokerConfig& c, std::string_view n, std::string_view v) -> Status {
         return SetInt(c.offset_metadata_max_bytes, n, v, 0, kInt32Max);
       }},
      {"connections.max.idle.ms", "600000", "close a connection idle this long",
       [](BrokerConfig& c, std::string_view n, std::string_view v) -> Status {
         return SetInt(c.connections_max_idle_ms, n, v, 1, kInt64Max / 1000000);
       }},
      {"socket.request.max.bytes", "104857600", "largest request frame (bytes)",
       [](BrokerConfig& c, std::string_view n, std::string_view v) -> Status {
         return SetInt(c.socket_request_max_bytes, n, v, 1024, kInt32Max);
       }},
      {"max.connections", "10000", "open connections per shard; more are closed at accept",
       [](BrokerConfig& c, std::string_view n, std::string_view v) -> Status {
         return SetInt(c.max_connections, n, v, 1, 10000000);
       }},
      {"queued.max.requests", "500", "requests in flight per shard (all connections)",
       [](BrokerConfig& c, std::string_view n, std::string_view v) -> Status {
         return SetInt(c.queued_max_requests, n, v, 1, 10000000);
       }},
      {"queued.max.request.bytes", "209715200", "request bytes in flight per shard",
       [](BrokerConfig& c, std::string_view n, std::string_view v) -> Status {
         return SetInt(c.queued_max_request_bytes, n, v, 1024, kInt64Max);
       }},
      {"connection.max.inflight.requests", "100", "requests in flight per connection",
       [](BrokerConfig& c, std::string_view n, std::string_view v) -> Status {
         return SetInt(c.connection_max_inflight_requests, n, v, 1, 100000);
       }},
      {"connection.max.inflight.bytes", "104857600", "request bytes in flight per connection",
       [](BrokerConfig& c, std::string_view n, std::string_view v) -> Status {
         return SetInt(c.connection_max_inflight_bytes, n, v, 1024, kInt64Max);
       }},
      {"max.incremental.fetch.session.cache.slots", "1000",
       "incremental fetch sessions kept (split over the shards); 0 disables them",
       [](BrokerConfig& c, std::string_view n, std::string_view v) -> Status {
         return SetInt(c.max_incremental_fetch_session_cache_slots, n, v, 0, kInt32Max);
       }},
  };
  return kSettings;
}

const BrokerSetting* FindSetting(std::string_view name) {
  for (const auto& s : BrokerSettings()) {
    if (s.name == name) return &s;
  }
  return nullptr;
}

// Turns a TOML value into the text a flag would carry.
Result<std::string> TomlValueText(const std::string& key, const toml::node& node) {
  if (const auto* s = node.as_string()) return s->get();
  if (const auto* i = node.as_integer()) return std::to_string(i->get());
  if (const auto* b = node.as_boolean()) return std::string(b->get() ? "true" : "false");
  if (const auto* arr = node.as_array()) {
    std::string out;
    for (const toml::node& item : *arr) {
      const auto* s = item.as_string();
      if (s == nullptr) {
        return Status::InvalidArgument(fmt::format("{}: array items must be strings", key));
      }
      if (!out.empty()) out += ",";
      out += s->get();
    }
    return out;
  }
  return Status::InvalidArgument(
      fmt::format("{}: expected a string, an integer, a boolean or an array of strings", key));
}

Status ApplyTomlTable(BrokerConfig& config, const toml::table& table, const std::string& prefix) {
  for (const auto& [k, node] : table) {
    std::string key = prefix.empty() ? std::string(k.str()) : prefix + "." + std::string(k.str());
    if (const auto* sub = node.as_table()) {
      RUNNEL_TRY(ApplyTomlTable(config, *sub, key));
      continue;
    }
    RUNNEL_ASSIGN_OR_RETURN(std::string text, TomlValueText(key, node));
    RUNNEL_TRY(ApplySetting(config, key, text));
  }
  return Status::Ok();
}

}  // namespace

std::string_view LogLevelName(LogLevel level) {
  switch (level) {
    case LogLevel::kTrace:
      return "trace";
    case LogLevel::kDebug:
      return "debug";
    case LogLevel::kInfo:
      return "info";
    case LogLevel::kWarn:
      return "warn";
    case LogLevel::kError:
      return "error";
    case LogLevel::kOff:
      return "off";
  }
  return "info";
}

Address BrokerConfig::AdvertisedAddress() const {
  if (advertise.empty()) return listen;
  Result<Address> a = Address::Parse(advertise);
  RUNNEL_ASSERT(a.ok(), "advertise '{}' was validated", advertise);
  return *a;
}

Status ApplySetting(BrokerConfig& config, std::string_view name, std::string_view value) {
  const BrokerSetting* s = FindSetting(name);
  if (s == nullptr) return Status::InvalidArgument(fmt::format("{}: unknown setting", name));
  return s->apply(config, name, value);
}

Status ApplyToml(BrokerConfig& config, std::string_view toml_text, std::string_view origin) {
  toml::table table;
  try {
    table = toml::parse(toml_text, origin);
  } catch (const toml::parse_error& e) {
    const auto& where = e.source().begin;
    return Status::InvalidArgument(
        fmt::format("{}:{}:{}: {}", origin, where.line, where.column, e.description()));
  }
  Status s = ApplyTomlTable(config, table, "");
  if (!s.ok()) return Status::InvalidArgument(fmt::format("{}: {}", origin, s.message()));
  return Status::Ok();
}

Status Validate(const BrokerConfig& c) {
  if (c.group_min_session_timeout_ms > c.group_max_session_timeout_ms) {
    return Status::InvalidArgument(
        fmt::format("group.min.session.timeout.ms: {} is above group.max.session.timeout.ms ({})",
                    c.group_min_session_timeout_ms, c.group_max_session_timeout_ms));
  }
  if (c.connection_max_inflight_bytes < c.socket_request_max_bytes) {
    return Status::InvalidArgument(fmt::format(
        "connection.max.inflight.bytes: {} is below socket.request.max.bytes ({}); a largest "
        "request could never be admitted",
        c.connection_max_inflight_bytes, c.socket_request_max_bytes));
  }
  if (c.queued_max_request_bytes < c.socket_request_max_bytes) {
    return Status::InvalidArgument(fmt::format(
        "queued.max.request.bytes: {} is below socket.request.max.bytes ({}); a largest request "
        "could never be admitted",
        c.queued_max_request_bytes, c.socket_request_max_bytes));
  }
  if (c.queued_max_requests < c.connection_max_inflight_requests) {
    return Status::InvalidArgument(
        fmt::format("queued.max.requests: {} is below connection.max.inflight.requests ({})",
                    c.queued_max_requests, c.connection_max_inflight_requests));
  }
  return Status::Ok();
}

Result<CommandLine> ParseCommandLine(std::span<const std::string_view> args,
                                     const FileReader& read_file) {
  CommandLine out;
  // (name, value) pairs in order; --config is applied first so flags override the file.
  std::vector<std::pair<std::string, std::string>> flags;
  std::string config_path;
  for (size_t i = 0; i < args.size(); i++) {
    std::string_view arg = args[i];
    if (arg == "--help" || arg == "-h") {
      out.help = true;
      return out;
    }
    if (arg.substr(0, 2) != "--" || arg.size() == 2) {
      return Status::InvalidArgument(fmt::format("{}: not a flag (flags are --name value)", arg));
    }
    arg.remove_prefix(2);
    std::string name;
    std::string value;
    size_t eq = arg.find('=');
    if (eq != std::string_view::npos) {
      name = std::string(arg.substr(0, eq));
      value = std::string(arg.substr(eq + 1));
    } else {
      name = std::string(arg);
      if (name != "config" && FindSetting(name) == nullptr) {
        return Status::InvalidArgument(fmt::format("{}: unknown setting", name));
      }
      if (i + 1 >= args.size()) {
        return Status::InvalidArgument(fmt::format("{}: missing value", name));
      }
      value = std::string(args[++i]);
    }
    if (name == "config") {
      config_path = value;
    } else {
      flags.emplace_back(std::move(name), std::move(value));
    }
  }
  if (!config_path.empty()) {
    Result<std::string> text = read_file(config_path);
    if (!text.ok()) {
      return Status::InvalidArgument(
          fmt::format("config: cannot read {}: {}", config_path, text.status().message()));
    }
    RUNNEL_TRY(ApplyToml(out.config, *text, config_path));
  }
  for (const auto& [name, value] : flags) RUNNEL_TRY(ApplySetting(out.config, name, value));
  RUNNEL_TRY(Validate(out.config));
  return out;
}

std::vector<std::pair<std::string, std::string>> DescribeSettings(const BrokerConfig& c) {
  std::vector<std::pair<std::string, std::string>> out;
  for (const auto& s : BrokerSettings()) {
    std::string name(s.name);
    std::string value;
    if (name == "listen") {
      value = c.listen.ToString();
    } else if (name == "advertise") {
      value = c.AdvertisedAddress().ToString();
    } else if (name == "data-dir") {
      value = c.data_dir;
    } else if (name == "smp") {
      value = std::to_string(c.smp);
    } else if (name == "node-id") {
      value = std::to_string(c.node_id);
    } else if (name == "log-level") {
      value = std::string(LogLevelName(c.log_level));
    } else if (name == "num.partitions") {
      value = std::to_string(c.num_partitions);
    } else if (name == "auto.create.topics.enable") {
      value = c.auto_create_topics_enable ? "true" : "false";
    } else if (FindTopicSetting(name) != nullptr) {
      value = TopicSettingValue(c.topic, name);
    } else if (name == "log.drop.behind.bytes") {
      value = std::to_string(c.log_drop_behind_bytes);
    } else if (name == "log.direct.append.bytes") {
      value = std::to_string(c.log_direct_append_bytes);
    } else if (name == "log.retention.check.interval.ms") {
      value = std::to_string(c.log_retention_check_interval_ms);
    } else if (name == "group.initial.rebalance.delay.ms") {
      value = std::to_string(c.group_initial_rebalance_delay_ms);
    } else if (name == "group.min.session.timeout.ms") {
      value = std::to_string(c.group_min_session_timeout_ms);
    } else if (name == "group.max.session.timeout.ms") {
      value = std::to_string(c.group_max_session_timeout_ms);
    } else if (name == "group.max.size") {
      value = std::to_string(c.group_max_size);
    } else if (name == "offsets.topic.num.partitions") {
      value = std::to_string(c.offsets_topic_num_partitions);
    } else if (name == "offsets.retention.minutes") {
      value = std::to_string(c.offsets_retention_minutes);
    } else if (name == "offsets.retention.check.interval.ms") {
      value = std::to_string(c.offsets_retention_check_interval_ms);
    } else if (name == "offset.metadata.max.bytes") {
      value = std::to_string(c.offset_metadata_max_bytes);
    } else if (name == "connections.max.idle.ms") {
      value = std::to_string(c.connections_max_idle_ms);
    } else if (name == "socket.request.max.bytes") {
      value = std::to_string(c.socket_request_max_bytes);
    } else if (name == "max.connections") {
      value = std::to_string(c.max_connections);
    } else if (name == "queued.max.requests") {
      value = std::to_string(c.queued_max_requests);
    } else if (name == "queued.max.request.bytes") {
      value = std::to_string(c.queued_max_request_bytes);
    } else if (name == "connection.max.inflight.requests") {
      value = std::to_string(c.connection_max_inflight_requests);
    } else if (name == "connection.max.inflight.bytes") {
      value = std::to_string(c.connection_max_inflight_bytes);
    } else if (name == "max.incremental.fetch.session.cache.slots") {
      value = std::to_string(c.max_incremental_fetch_session_cache_slots);
    } else {
      RUNNEL_ASSERT(false, "DescribeSettings misses {}", name);
    }
    out.emplace_back(std::move(name), std::move(value));
  }
  return out;
}

std::string HelpText() {
  std::string out =
      "runnel: a Kafka-compatible broker.\n\n"
      "usage: runnel [--config FILE] [--NAME VALUE | --NAME=VALUE]...\n\n"
      "Every setting below can also be given in the TOML file passed with --config, under the\n"
      "same name (`retention.ms = 3600000`, `listen = \"127.0.0.1:9092\"`); flags override the\n"
      "file. Topic settings are the defaults for new topics, under their Kafka names.\n\n";
  size_t width = 0;
  for (const auto& s : BrokerSettings()) width = std::max(width, s.name.size());
  for (const auto& s : BrokerSettings()) {
    out += fmt::format("  --{:<{}}  {} (default {})\n", s.name, width, s.help, s.default_text);
  }
  out += fmt::format("  --{:<{}}  {}\n", "config", width, "read settings from this TOML file");
  out += fmt::format("  --{:<{}}  {}\n", "help", width, "print this text");
  return out;
}

}  // namespace runnel::broker
