// BatchBuilder: encodes records into a valid RecordBatch v2, compressing the record section
// with the chosen codec. Used by tests and by compaction (which rewrites batches keeping offset
// gaps); never on the produce path, which stores client bytes as they came (codec conversion,
// recompress.h, re-encodes the record section without decoding records into a builder).
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <vector>

#include "engine/compression.h"
#include "engine/record_batch.h"
#include "engine/types.h"
#include "io/status.h"

namespace runnel::engine {

struct BatchOptions {
  Codec codec = Codec::kNone;
  CompressOptions compress;
  Offset base_offset{0};
  LeaderEpoch partition_leader_epoch = kNoLeaderEpoch;
  ProducerId producer_id = kNoProducerId;
  ProducerEpoch producer_epoch = kNoProducerEpoch;
  int32_t base_sequence = kNoSequence;
  bool transactional = false;
  bool control = false;
  TimestampType timestamp_type = TimestampType::kCreateTime;
  // Required for kLogAppendTime: becomes maxTimestamp (and so every record's timestamp).
  std::optional<int64_t> log_append_time_ms;
  // Sets hasDeleteHorizonMs; the horizon is stored as baseTimestamp.
  std::optional<int64_t> delete_horizon_ms;
  // baseTimestamp; by default the first record's timestamp (as Kafka's producers do).
  std::optional<int64_t> base_timestamp_ms;
};

// Encodes each record into its buffer as it is appended (no per-record allocation once the
// buffer has grown). Single-threaded; reusable after Build via Reset.
class BatchBuilder {
 public:
  explicit BatchBuilder(const BatchOptions& options) : options_(options) {}

  // Appends a record at the next offset delta (the previous one + 1, or 0).
  void Append(int64_t timestamp_ms, NullableBytes key, NullableBytes value,
              std::span<const RecordHeader> headers = {});
  // Appends a record at `offset_delta`, which must exceed the previous record's: compaction
  // keeps the offsets of the records it retains.
  void AppendAt(int32_t offset_delta, int64_t timestamp_ms, NullableBytes key, NullableBytes value,
                std::span<const RecordHeader> headers = {});
  // Sets lastOffsetDelta beyond the last record's, as compaction does to keep a batch's offset
  // range (and with it the producer's last sequence) when it drops the batch's tail.
  void set_last_offset_delta(int32_t last_offset_delta);

  int32_t record_count() const { return record_count_; }
  size_t records_bytes() const { return records_.size(); }

  // Writes the batch into `out` (replacing its contents). kLimit when the batch would exceed
  // Kafka's int32 batchLength; errors from the codec otherwise.
  Status Build(std::vector<std::byte>& out);
  Result<std::vector<std::byte>> Build();

  // Empties the builder for a new batch with `options`.
  void Reset(const BatchOptions& options);

 private:
  BatchOptions options_;
  std::vector<std::byte> records_;
  std::vector<std::byte> compressed_;
  int32_t record_count_ = 0;
  int32_t last_record_offset_delta_ = -1;
  std::optional<int32_t> last_offset_delta_override_;
  std::optional<int64_t> base_timestamp_ms_;
  int64_t max_timestamp_ms_ = kNoTimestamp;
};

}  // namespace runnel::engine
