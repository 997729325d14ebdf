// LogConfig: the per-topic settings a partition's log obeys, with Kafka's names and defaults
// (segment.bytes, segment.ms, retention.ms, retention.bytes, cleanup.policy,
// delete.retention.ms, max.message.bytes, message.timestamp.type, index.interval.bytes,
// segment.index.bytes), and LogLimits, the engine's own bounds that are not topic settings.
//
// A Log copies its config at Open; SetConfig replaces it (AlterConfigs). Values are checked by
// Validate, which every entry point that takes a config calls.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

#include "engine/producer_state.h"
#include "engine/record_batch.h"
#include "io/status.h"

namespace runnel::engine {

// cleanup.policy: delete (retention removes old segments), compact (the cleaner keeps the last
// record per key), or both ("compact,delete").
enum class CleanupPolicy : uint8_t { kDelete, kCompact, kCompactDelete };

std::string_view CleanupPolicyName(CleanupPolicy policy);
// Parses Kafka's spelling: "delete", "compact", "compact,delete" or "delete,compact".
Result<CleanupPolicy> ParseCleanupPolicy(std::string_view text);

inline bool Compacts(CleanupPolicy p) { return p != CleanupPolicy::kDelete; }
inline bool Deletes(CleanupPolicy p) { return p != CleanupPolicy::kCompact; }

inline constexpr int64_t kMsPerDay = 24LL * 60 * 60 * 1000;

struct LogConfig {
  // segment.bytes: a segment is rolled before an append would take it past this size.
  uint64_t segment_bytes = uint64_t{1} << 30;
  // segment.ms: a non-empty segment is rolled once its first batch is this old (wall clock).
  int64_t segment_ms = 7 * kMsPerDay;
  // retention.ms: closed segments whose newest timestamp is older are deleted; -1: forever.
  int64_t retention_ms = 7 * kMsPerDay;
  // retention.bytes: the oldest closed segments are deleted while the log exceeds this; -1: no
  // limit.
  int64_t retention_bytes = -1;
  CleanupPolicy cleanup_policy = CleanupPolicy::kDelete;
  // delete.retention.ms: how long the cleaner keeps a tombstone after it first saw it.
  int64_t delete_retention_ms = kMsPerDay;
  // max.message.bytes: the largest batch an append accepts (Kafka: 1 MiB + 12).
  int32_t max_message_bytes = 1048588;
  // message.timestamp.type: CreateTime keeps the producer's timestamps; LogAppendTime stamps
  // every batch with the broker's wall clock on append.
  TimestampType message_timestamp_type = TimestampType::kCreateTime;
  // index.interval.bytes: an offset (and time) index entry at least every this many bytes.
  uint32_t index_interval_bytes = 4096;
  // segment.index.bytes: the largest index file; a segment rolls when its offset index is full.
  uint32_t segment_index_bytes = 10 * 1024 * 1024;

  Status Validate() const;
  // Index entries a segment may hold: segment_index_bytes / 12 (a time index entry; the
  // offset index, at 8 bytes an entry, is never the first to fill).
  size_t index_entries_max() const;
};

// Bounds of the engine itself (not topic settings). Every queue and buffer of a Log is named
// here.
struct LogLimits {
  // Appends waiting for the write lock; one more is kLimit (the broker answers with a
  // retriable error rather than queueing without bound).
  size_t appends_waiting_max = 1024;
  // Batches in one Append call (a produce request's records for one partition).
  size_t append_batches_max = 4096;
  // Batches one Read returns.
  size_t read_batches_max = 16384;
  // Recovery and compaction read segments in chunks of this size (the buffer exists only
  // while they run).
  size_t scan_chunk_bytes = size_t{1} << 20;
  // The header read-ahead of Read: one ReadAt of this size serves every header inside it.
  size_t header_read_bytes = 4096;
  // Compaction writes its output in chunks of this size.
  size_t compaction_write_bytes = size_t{1} << 20;
  // Distinct keys the cleaner tracks in one pass; past it, a pass cleans only the segments
  // whose keys fit.
  size_t compaction_keys_max = size_t{1} << 20;
  // The largest record section decompressed while validating or compacting.
  size_t decompressed_bytes_max = size_t{64} << 20;
  // Producer snapshots kept in the directory (the newest ones).
  size_t snapshots_retained_max = 2;
  // Producer snapshot file size accepted on open.
  size_t snapshot_bytes_max = size_t{64} << 20;
  ProducerStateLimits producers{};
};

}  // namespace runnel::engine
