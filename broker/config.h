// BrokerConfig: every setting of a runnel broker, from command-line flags and an equivalent TOML
// file (--config FILE). Topic defaults use their Kafka names (num.partitions, retention.ms, ...);
// the same names are the TOML keys (`retention.ms = 3600000`, dotted keys and nested tables are
// flattened to those names, so `[retention] ms = 1` means retention.ms too). Flags override the
// file. Every setting has a default that works on a laptop; an unknown key or a bad value is an
// error naming the key and the reason.
//
// Plain values, no I/O: the caller reads the file (main.cc, through io/uring/process.h) and
// passes a reader function.
#pragma once

#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "broker/topic_config.h"
#include "io/net.h"
#include "io/status.h"

namespace runnel::broker {

enum class LogLevel : uint8_t { kTrace, kDebug, kInfo, kWarn, kError, kOff };

struct BrokerConfig {
  Address listen{"127.0.0.1", 9092};
  // host:port put in Metadata responses; empty: the listen address.
  std::string advertise;
  std::string data_dir = "./data";
  // Shards (threads); 0 means one per online core (resolved by main.cc).
  uint32_t smp = 0;
  int32_t node_id = 0;
  LogLevel log_level = LogLevel::kInfo;

  // Topic defaults (Kafka names).
  int32_t num_partitions = 1;
  bool auto_create_topics_enable = true;
  TopicConfig topic{};

  // Background retention, compaction and checkpoint pass over each shard's logs.
  int64_t log_retention_check_interval_ms = 300000;
  // Page-cache drop-behind step for appended log files (io/uring/uring_file.h); 0 = off.
  int64_t log_drop_behind_bytes = 0;
  // Appends of at least this many bytes bypass the page cache (io/uring/uring_file.h); 0 = off.
  int64_t log_direct_append_bytes = 131072;

  // Consumer groups (engine/group/) and their offsets topic __consumer_offsets.
  int64_t group_initial_rebalance_delay_ms = 3000;
  int64_t group_min_session_timeout_ms = 6000;
  int64_t group_max_session_timeout_ms = 1800000;
  int64_t group_max_size = 10000;
  int32_t offsets_topic_num_partitions = 50;
  int64_t offsets_retention_minutes = 10080;
  int64_t offsets_retention_check_interval_ms = 600000;
  int64_t offset_metadata_max_bytes = 4096;

  // Connections and back-pressure.
  int64_t connections_max_idle_ms = 600000;
  int64_t socket_request_max_bytes = 104857600;  // largest request frame
  int64_t max_connections = 10000;               // per shard
  int64_t queued_max_requests = 500;             // in-flight requests per shard
  int64_t queued_max_request_bytes = 209715200;  // in-flight request bytes per shard
  int64_t connection_max_inflight_requests = 100;
  int64_t connection_max_inflight_bytes = 104857600;

  // Incremental fetch sessions (KIP-227) the broker keeps, split evenly over the shards.
  int64_t max_incremental_fetch_session_cache_slots = 1000;

  // The advertised host and port (advertise, else listen).
  Address AdvertisedAddress() const;
};

// Reads a whole file as text (main.cc passes one that goes through io/uring).
using FileReader = std::function<Result<std::string>(const std::string& path)>;

struct CommandLine {
  bool help = false;
  BrokerConfig config;
};

// Parses argv[1..] (flags `--name value` or `--name=value`, `--config FILE`, `--help`).
Result<CommandLine> ParseCommandLine(std::span<const std::string_view> args,
                                     const FileReader& read_file);
// Applies a TOML document to `config` (keys as described above).
Status ApplyToml(BrokerConfig& config, std::string_view toml_text, std::string_view origin);
// Applies one setting by name (flags and TOML both end here).
Status ApplySetting(BrokerConfig& config, std::string_view name, std::string_view value);
// Checks relations between settings (e.g. in-flight bytes >= the largest request).
Status Validate(const BrokerConfig& config);

// Every broker setting with its current value in text form, in --help order (DescribeConfigs
// on the BROKER resource).
std::vector<std::pair<std::string, std::string>> DescribeSettings(const BrokerConfig& config);

// `runnel --help`.
std::string HelpText();

std::string_view LogLevelName(LogLevel level);

}  // namespace runnel::broker
