// KafkaLogChecker: the model a broker workload checks its partitions against. It knows every
// record the producers sent (by a unique RecordId carried in the record itself), every
// acknowledgement, and what every fetch returned, and reports a violation as soon as it sees one:
//
// - present => was sent: every fetched record decodes to a RecordId that was sent to that
//   partition, with exactly the key and value bytes that were produced (none invented, none
//   corrupted: fetched bytes equal produced bytes);
// - offsets are dense: a fetch from offset o returns records o, o+1, o+2, ... (no gaps; records
//   below o of the first batch are skipped, as clients do);
// - an offset's record never changes: once a fetch returned record r at offset o, every later
//   fetch of o returns r (the log does not lose or rewrite anything a consumer saw);
// - acked => present: a record acknowledged at offset o is the record every fetch of o returns,
//   and the final read finds it there;
// - no duplicates unless allowed: a record appears at two offsets only when the producer may have
//   appended it twice (it sent it again after an unknown outcome without idempotence, or under a
//   new producer id);
// - the high watermark each reader sees never goes back, and covers every record that was
//   acknowledged before the fetch was sent (acked => visible).
//
// Record format: the key is "p<producer>" and the value holds a 24-byte header (magic, producer,
// sequence, partition, length) followed by bytes derived from the RecordId; MakeValue builds it,
// and a fetched value is compared byte for byte with MakeValue of the id it names.
//
// Plain data, no I/O: fed by the workload (sim/workloads/broker_workload.cc) and unit-tested with
// bad histories (tests/sim/kafka_log_checker_test.cc).
#pragma once

#include <compare>
#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "io/status.h"

namespace runnel::sim {

struct RecordId {
  uint32_t producer = 0;
  uint64_t seq = 0;
  friend auto operator<=>(const RecordId&, const RecordId&) = default;
  std::string ToString() const;
};

class KafkaLogChecker {
 public:
  explicit KafkaLogChecker(int32_t partitions);

  static std::vector<std::byte> MakeKey(RecordId id);
  // A value of `size` bytes (at least kValueHeaderBytes) naming `id` and `partition`.
  static std::vector<std::byte> MakeValue(RecordId id, int32_t partition, size_t size);
  static constexpr size_t kValueHeaderBytes = 24;

  int32_t partitions() const { return static_cast<int32_t>(partitions_.size()); }

  // --- Producers ------------------------------------------------------------------------------
  // Before the first send of a record.
  void Sending(RecordId id, int32_t partition, size_t value_bytes);
  // The record may now be appended more than once.
  void MayDuplicate(RecordId id);
  // A produce response acknowledged the record at `offset`.
  Status Acked(RecordId id, int64_t offset);

  // --- Readers --------------------------------------------------------------------------------
  // A reader (a consumer connection's sequence of fetches); returns its id.
  int AddReader();
  // Before a fetch is sent: what was acknowledged by then must be visible in its response.
  void FetchSent(int reader);
  // The high watermark a fetch response gave for `partition`.
  Status FetchedHighWatermark(int reader, int32_t partition, int64_t high_watermark);
  // The records a fetch from `from` returned, in order. `key`/`value` are null when the record
  // had none.
  struct FetchedRecord {
    int64_t offset = 0;
    std::optional<std::span<const std::byte>> key;
    std::optional<std::span<const std::byte>> value;
  };
  Status Fetched(int32_t partition, int64_t from, std::span<const FetchedRecord> records);

  // --- Final ----------------------------------------------------------------------------------
  // After the partition was read densely from 0 to `end` (its high watermark at the end): every
  // acknowledged record is below `end` and was read at its offset, and `end` is at least every
  // high watermark a reader saw.
  Status CheckComplete(int32_t partition, int64_t end) const;

  // One past the highest acknowledged offset of `partition` (0 when none).
  int64_t acked_end(int32_t partition) const { return partitions_.at(partition).acked_end; }
  // One past the highest offset any fetch returned.
  int64_t seen_end(int32_t partition) const {
    return static_cast<int64_t>(partitions_.at(partition).seen.size());
  }

  struct Stats {
    uint64_t sent = 0, acked = 0, may_duplicate = 0, duplicates_seen = 0, records_fetched = 0,
             bytes_fetched = 0;
  };
  const Stats& stats() const { return stats_; }

 private:
  struct Sent {
    int32_t partition = 0;
    size_t value_bytes = 0;
    bool may_duplicate = false;
    std::vector<int64_t> acked_at;
    std::vector<int64_t> seen_at;  // distinct offsets where fetches found it
  };
  struct Partition {
    std::vector<std::optional<RecordId>> seen;  // by offset
    std::map<int64_t, RecordId> acked;          // offset -> record
    int64_t acked_end = 0;
    int64_t high_watermark_max = 0;
  };
  struct Reader {
    std::vector<int64_t> high_watermark;        // by partition; -1 before the first
    std::vector<int64_t> acked_end_at_request;  // by partition
  };

  Status CheckRecord(int32_t partition, const FetchedRecord& r, RecordId* id) const;

  std::map<RecordId, Sent> sent_;
  std::vector<Partition> partitions_;
  std::vector<Reader> readers_;
  Stats stats_;
};

}  // namespace runnel::sim
