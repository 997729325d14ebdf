// ProducerStateTable: per-partition state of idempotent (and transactional) producers, used to
// drop retried batches and to reject out-of-order or fenced ones. Pure in-memory; it is
// persisted as an encoded snapshot plus a replay of the log after the snapshot's offset.
//
// Owned by the partition, on the partition's shard. Invariant: the table equals the result of
// replaying, in offset order, every batch with a producer id in the log below
// `next_offset()` (starting from the snapshot it was loaded from, if any).
//
// Semantics follow Kafka's ProducerStateManager / ProducerAppendInfo / ProducerStateEntry
// (3.x-4.x), for appends from clients:
//   * Per producer id: the epoch, and the last kBatchesRetained (5) batches' first/last
//     sequence and first/last offset, so a retry of any of the last five in-flight batches is
//     recognised (kDuplicate, answered with the original offsets, not appended again).
//   * Duplicate: same epoch and an exact (first seq, last seq) match among retained batches.
//   * Epoch lower than the current one: kInvalidProducerEpoch (INVALID_PRODUCER_EPOCH on the
//     wire; Kafka >= 2.7 uses it instead of PRODUCER_FENCED for produce).
//   * New (higher) epoch: the first sequence must be 0, unless the producer is unknown;
//     the retained batches are cleared.
//   * Same epoch: the first sequence must follow the last one (last + 1, or 0 after INT32_MAX).
//   * Unknown producer (no state: new, expired, or its batches were all removed by retention):
//     any sequence is accepted. Kafka did this since KIP-360 (2.5); before, it answered
//     UNKNOWN_PRODUCER_ID. (Kafka 4's transactions-v2 verification path additionally requires
//     sequence 0 for unknown producers; that path does not exist here yet.)
//   * Transactions: a transactional data batch opens a transaction (its first offset is kept
//     for the last stable offset); a control batch (commit/abort marker) closes it; a
//     non-transactional batch while one is open is kInvalidTxnState.
// Replay (log recovery, followers) applies batches without these checks, as Kafka does for
// replication and recovery.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "engine/record_batch.h"
#include "engine/types.h"
#include "io/status.h"

namespace runnel::engine {

// What producer-state checking needs to know about a batch.
struct ProducerBatchInfo {
  ProducerId producer_id = kNoProducerId;
  ProducerEpoch producer_epoch = kNoProducerEpoch;
  int32_t base_sequence = kNoSequence;
  int32_t last_offset_delta = 0;
  int64_t max_timestamp_ms = kNoTimestamp;
  bool transactional = false;
  bool control = false;

  static ProducerBatchInfo From(const RecordBatchView& batch);
  bool has_producer_id() const { return producer_id.value() >= 0; }
  int32_t last_sequence() const {
    return base_sequence < 0 ? kNoSequence : SequenceAdd(base_sequence, last_offset_delta);
  }
};

// One retained batch of a producer.
struct ProducerBatchMeta {
  int32_t first_sequence = 0;
  int32_t last_sequence = 0;
  Offset first_offset;
  Offset last_offset;
  int64_t timestamp_ms = kNoTimestamp;

  bool operator==(const ProducerBatchMeta&) const = default;
};

inline constexpr size_t kBatchesRetained = 5;

struct ProducerEntry {
  ProducerEpoch epoch = kNoProducerEpoch;
  // Oldest first; at most kBatchesRetained.
  std::array<ProducerBatchMeta, kBatchesRetained> batches{};
  uint8_t batch_count = 0;
  int64_t last_timestamp_ms = kNoTimestamp;
  // The first offset of the open transaction, if any.
  std::optional<Offset> txn_first_offset;

  const ProducerBatchMeta* last_batch() const {
    return batch_count == 0 ? nullptr : &batches[batch_count - 1];
  }
  // Compares the retained batches only, not the unused slots.
  bool operator==(const ProducerEntry& o) const;
};

enum class ProducerVerdict : uint8_t {
  kOk,                    // append it, then Record it
  kDuplicate,             // already in the log at duplicate_of; do not append, answer success
  kOutOfOrderSequence,    // OUT_OF_ORDER_SEQUENCE_NUMBER
  kInvalidProducerEpoch,  // INVALID_PRODUCER_EPOCH (fenced by a newer epoch)
  kInvalidTxnState,       // INVALID_TXN_STATE
};

std::string_view ProducerVerdictName(ProducerVerdict verdict);

struct ProducerCheck {
  ProducerVerdict verdict = ProducerVerdict::kOk;
  // For kDuplicate: the original batch.
  std::optional<ProducerBatchMeta> duplicate_of;
  // For the rejections: why, for the log.
  std::string message;

  bool ok() const { return verdict == ProducerVerdict::kOk; }
};

struct ProducerStateLimits {
  // Producers tracked per partition; a new producer beyond this is kLimit.
  size_t producers_max = 100'000;
};

class ProducerStateTable {
 public:
  explicit ProducerStateTable(ProducerStateLimits limits = {}) : limits_(limits) {}

  // Checks a batch from a client before it is appended, without changing state. Batches
  // without a producer id are always kOk. kLimit when the batch's producer is new and the
  // table is full.
  Result<ProducerCheck> Check(const ProducerBatchInfo& batch) const;

  // Records a batch that was appended at [first_offset, first_offset + last_offset_delta].
  // Call it for every appended batch, with a producer id or not (it advances next_offset()).
  // The caller appends only what Check accepted (re-checked in simulation builds); offsets
  // must only grow (asserted).
  Status Record(const ProducerBatchInfo& batch, Offset first_offset);

  // Check, then Record when kOk.
  Result<ProducerCheck> CheckAndRecord(const ProducerBatchInfo& batch, Offset first_offset);

  // Applies a batch read back from the log (recovery, replication) without validation; batches
  // must come in offset order. Batches without a producer id only advance next_offset().
  Status Replay(const RecordBatchView& batch);
  Status Replay(const ProducerBatchInfo& batch, Offset first_offset);

  // Drops producers whose last batch is older than now_ms - expiration_ms and that have no open
  // transaction (Kafka's producer.id.expiration.ms). The caller supplies the time: the engine
  // reads no clock. Returns how many were removed.
  size_t RemoveExpired(int64_t now_ms, int64_t expiration_ms);

  // Drops producers whose last batch lies below `log_start` (retention or DeleteRecords removed
  // it; Kafka's evictUnretainedProducers), except those with an open transaction. Returns how
  // many were removed. The producer is then unknown: its next batch is accepted whatever its
  // sequence, as after expiry.
  size_t EvictBefore(Offset log_start);

  // Undo for an append that failed after Record: puts a producer's entry back as it was
  // (nullopt: it was absent), and the next offset.
  void Restore(ProducerId id, const std::optional<ProducerEntry>& entry);
  void RestoreNextOffset(Offset next_offset) { next_offset_ = next_offset; }

  const ProducerEntry* Find(ProducerId id) const;
  size_t size() const { return producers_.size(); }
  // One past the last offset recorded or replayed; the offset a snapshot is taken at.
  Offset next_offset() const { return next_offset_; }
  void Clear();

  // Snapshot bytes: versioned, CRC-32C protected; see producer_state.cc for the layout.
  std::vector<std::byte> EncodeSnapshot() const;
  // kCorruption for anything but a well-formed snapshot; kUnsupported for a future version;
  // kLimit when it holds more than producers_max producers.
  static Result<ProducerStateTable> DecodeSnapshot(std::span<const std::byte> bytes,
                                                   ProducerStateLimits limits = {});

  bool operator==(const ProducerStateTable& o) const {
    return producers_ == o.producers_ && next_offset_ == o.next_offset_;
  }

 private:
  void Apply(const ProducerBatchInfo& batch, Offset first_offset);

  ProducerStateLimits limits_;
  // Ordered, so snapshots and expiry are deterministic.
  std::map<ProducerId, ProducerEntry> producers_;
  Offset next_offset_{0};
};

}  // namespace runnel::engine
