// Log: one partition's log — a directory of segments (segment.h) named by base offset, with
// group-commit appends, reads by offset (file regions for zero-copy send, plus batch metadata)
// and by timestamp, truncation, retention, compaction, producer-state snapshots and crash
// recovery. Formats: segment_format.h; recovery rules: log_recovery.h; engine/README.md.
//
// Ownership and threading: a Log belongs to the shard whose Io it was opened with; every call
// comes from that shard's loop. It is not copyable; the broker owns it through unique_ptr. Calls
// may overlap (coroutines): appends, truncation, DeleteRecords, retention, the compaction swap
// and Close take a FIFO write lock, so they apply one at a time in call order; reads and
// flushes do not take it. An append holds the lock only to reserve its offsets and file
// position; its write runs outside it, overlapping the next appends' (pipelined), and appends
// commit (become readable, resolve) in offset order.
//
// Invariants:
// - log_start_offset() <= high_watermark() <= log_end_offset(); offsets in the log increase,
//   and are dense except below compacted_end (compaction removed batches).
// - Exactly the last segment is active (appended to); segments never overlap; every segment's
//   batches lie within [base, base + INT32_MAX].
// - The producer table equals the replay of the log's batches (from a snapshot).
//
// Durability contract:
// - After Append resolves with options.durable == false, its batches are written (readable by
//   Read) but not yet synced: a crash may drop or tear them, and recovery then cuts the log at
//   the first incomplete batch.
// - After Append resolves with options.durable == true, they are synced: one Sync of the
//   segment (and of the directory, after a roll) serves every append waiting at that moment
//   (group commit). Flush() does the same for everything appended before it was called.
// - Truncate, TruncateFullyAndStartAt, DeleteRecords, retention and compaction are durable when
//   they resolve ok.
// - A failed Sync fences the log at once (Linux fsync semantics: the writes it covered never
//   reach the disk, yet stay readable, and a later Sync of the file succeeds without them):
//   nothing written after the last good sync is acknowledged, every later call fails with kIo,
//   and the log must be opened again. Open trusts only segments partition.meta proves durable;
//   every byte it keeps from the others is written again and synced before it serves anything
//   (log_recovery.h, rule 10), so whatever a reopened log serves survives a power loss, even
//   when an earlier process or an earlier Open saw a sync fail.
//   A failed WriteAt (EIO, ENOSPC) is not fatal: the file is cut back, the append fails, the
//   log stays usable.
#pragma once

#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <span>
#include <string>
#include <vector>

#include "engine/log_config.h"
#include "engine/producer_state.h"
#include "engine/record_batch.h"
#include "engine/segment.h"
#include "engine/types.h"
#include "io/io.h"

namespace runnel::engine {

struct AppendOptions {
  // Resolve only once the batches are synced (acks=all on one node); else once written.
  bool durable = false;
  // Stamped into every batch's partitionLeaderEpoch (leader appends).
  LeaderEpoch leader_epoch = kNoLeaderEpoch;
  // Leader appends assign offsets from the log end. A follower keeps the leader's offsets,
  // which must start at or after the log end and increase.
  bool assign_offsets = true;
  // Idempotent-producer checks (leader appends). Replication replays without checks.
  bool check_producers = true;
};

// What happened to an append that did not fail with a Status (a Status error is the log's
// problem: I/O, a full queue, a fenced or closed log).
enum class AppendOutcome : uint8_t {
  kAppended,
  kDuplicate,             // already in the log; offsets are the original batch's
  kCorruptRecord,         // CORRUPT_MESSAGE: framing, CRC or record validation failed
  kInvalidRecord,         // INVALID_RECORD: a null key on a compacted topic, offsets that go back
  kRecordTooLarge,        // MESSAGE_TOO_LARGE: a batch over max.message.bytes or segment.bytes
  kOutOfOrderSequence,    // OUT_OF_ORDER_SEQUENCE_NUMBER
  kInvalidProducerEpoch,  // INVALID_PRODUCER_EPOCH
  kInvalidTxnState,       // INVALID_TXN_STATE
};
std::string_view AppendOutcomeName(AppendOutcome outcome);

struct AppendResult {
  AppendOutcome outcome = AppendOutcome::kAppended;
  // For kAppended: the first and last offsets assigned; for kDuplicate: the original's.
  Offset base_offset{-1};
  Offset last_offset{-1};
  // For LogAppendTime topics: the time stamped into the batches.
  int64_t log_append_time_ms = kNoTimestamp;
  Offset log_start_offset;
  size_t batch_count = 0;
  uint64_t bytes = 0;
  std::string message;  // why, when not appended

  bool appended() const { return outcome == AppendOutcome::kAppended; }
};

struct ReadOptions {
  // Stop before a batch that would take the result past this many bytes...
  uint64_t bytes_max = 1 << 20;
  // ...except the first batch, returned whole even when larger (KIP-74).
  bool min_one_batch = true;
  // Only batches wholly below this offset (the high watermark for consumers); default and
  // upper bound: the log end.
  std::optional<Offset> end_offset = std::nullopt;
  // Also read the batches' bytes into ReadResult::data.
  bool load_bytes = false;
  // Read the bytes and check every batch (CRC-32C, header) before returning it; the first bad
  // batch and everything after it are cut off (kCorruption if it is the first). Implies
  // load_bytes.
  bool verify = false;
};

// A byte range of a segment file, for Socket::SendFile. `segment` keeps the file open (and
// readable, even if the segment is deleted meanwhile) for as long as the region is held.
struct FileRegion {
  std::shared_ptr<Segment> segment;
  File* file = nullptr;
  uint64_t position = 0;
  uint64_t length = 0;
};

struct ReadResult {
  // The batches' bytes in order: consecutive batches of one segment share one region.
  std::vector<FileRegion> regions;
  // Header facts of every batch returned, in offset order (positions are file positions).
  std::vector<BatchInfo> batches;
  uint64_t bytes = 0;
  // With load_bytes / verify: the batches back to back, in the order of `batches`.
  std::vector<std::byte> data;
  // Where the next read continues: after the last batch returned (the offset asked for when
  // nothing was returned).
  Offset next_offset;
  Offset log_start_offset;
  Offset high_watermark;
  Offset log_end_offset;
};

struct TimestampOffset {
  int64_t timestamp_ms = kNoTimestamp;
  Offset offset;
  LeaderEpoch leader_epoch = kNoLeaderEpoch;
};

struct RetentionResult {
  size_t segments_deleted = 0;
  uint64_t bytes_deleted = 0;
  Offset log_start_offset;
};

struct CompactionResult {
  size_t segments_cleaned = 0;  // closed segments rewritten
  size_t segments_written = 0;  // cleaned segments that replaced them
  uint64_t bytes_before = 0;
  uint64_t bytes_after = 0;
  uint64_t records_removed = 0;
  uint64_t tombstones_removed = 0;
  // Set when a concurrent change (truncation, retention) made the pass give up its swap.
  bool abandoned = false;
};

// What Open found and did, for logs and tests.
struct RecoveryReport {
  bool clean_shutdown = false;
  bool meta_found = false;
  std::string meta_problem;  // why partition.meta was not used, if it was not
  size_t segments_found = 0;
  size_t segments_trusted = 0;  // loaded from index files without a scan
  size_t segments_scanned = 0;
  uint64_t bytes_scanned = 0;
  // Written again before the sync that makes them durable (every byte kept from a scanned
  // segment: a failed sync may have left them readable but not on disk; log_recovery.h rule 10).
  uint64_t bytes_rewritten = 0;
  size_t batches_scanned = 0;
  size_t indexes_rebuilt = 0;     // trusted segments whose index files failed the sanity check
  uint64_t bytes_truncated = 0;   // cut from the first bad batch on
  size_t segments_deleted = 0;    // after the first bad batch, or below the log start
  std::string truncation_reason;  // the first bad batch, if any
  size_t swaps_completed = 0;
  size_t leftovers_removed = 0;  // *.tmp, *.cleaned, orphan index files, stale snapshots
  std::optional<Offset> snapshot_loaded;
  size_t snapshots_rejected = 0;
  size_t batches_replayed = 0;  // producer-state replay after the snapshot
};

// The index share of a Log's memory (the rest is measured by bench/log; see its README).
struct LogMemory {
  size_t index_bytes = 0;  // offset and time index entries (vector capacity)
  size_t index_entries = 0;
};

class Log {
 public:
  // Opens (creating if needed) the partition directory `dir` and recovers it: see
  // log_recovery.h for the rules. `reader`, when given, is a per-shard record reader shared by
  // the shard's logs (its decompression scratch would otherwise be per log).
  static Task<Result<std::unique_ptr<Log>>> Open(Io& io, std::string dir, LogConfig config,
                                                 LogLimits limits = {},
                                                 RecordReader* reader = nullptr);
  ~Log();
  Log(const Log&) = delete;
  Log& operator=(const Log&) = delete;

  // Appends the batches in `records` (a produce request's records for this partition: whole
  // batches only). Validates them (framing, CRC, records, max.message.bytes, keys on compacted
  // topics) and checks producer state, then assigns offsets and the leader epoch (rewriting the
  // header fields outside the CRC, or for LogAppendTime topics also the timestamp and CRC) and
  // writes them. `records` must stay alive and untouched until the Task resolves.
  Task<Result<AppendResult>> Append(std::span<std::byte> records, AppendOptions options = {});
  // Syncs everything appended before the call (group commit with concurrent durable appends).
  Task<Status> Flush();

  // The batches from the one containing `offset` on (see ReadOptions). kNotFound when offset
  // is outside [log_start_offset, log_end_offset]; an empty result at the log end or past
  // end_offset.
  Task<Result<ReadResult>> Read(Offset offset, ReadOptions options = {});
  // ListOffsets: the first record whose timestamp is >= timestamp_ms (nullopt: none).
  Task<Result<std::optional<TimestampOffset>>> OffsetForTimestamp(int64_t timestamp_ms);
  // ListOffsets with MAX_TIMESTAMP (-3): the first record carrying the largest timestamp.
  Task<Result<std::optional<TimestampOffset>>> OffsetOfMaxTimestamp();

  // Removes every batch whose last offset is >= `offset` (a batch straddling it goes whole) and
  // returns the new log end (<= offset). Durable when it resolves. kInvalidArgument below the
  // log start.
  Task<Result<Offset>> Truncate(Offset offset);
  // Empties the log and restarts it at `offset` (a follower far behind the leader's start).
  Task<Status> TruncateFullyAndStartAt(Offset offset);
  // DeleteRecords: moves the log start to `offset` (<= high watermark, else kInvalidArgument)
  // durably, then deletes the segments wholly below it. Returns the log start.
  Task<Result<Offset>> DeleteRecords(Offset offset);
  // retention.ms / retention.bytes (cleanup.policy delete or compact,delete): deletes the oldest
  // closed segments that are expired or over the size, never past the high watermark. The
  // shard calls it periodically. retention.cc.
  Task<Result<RetentionResult>> ApplyRetention();
  // One cleaner pass (cleanup.policy compact or compact,delete): keeps the last record per key
  // in the closed segments, with their offsets; drops tombstones delete.retention.ms after the
  // cleaner first saw them; never touches the active segment; swaps cleaned segments in
  // crash-safely. compaction.cc.
  Task<Result<CompactionResult>> Compact();

  // Flushes, then records the recovery point and high watermark in partition.meta, so a crash
  // recovers from there. The shard calls it periodically.
  Task<Status> Checkpoint();
  // Flushes, writes the active segment's index files and a producer snapshot, and marks the
  // shutdown clean (the next Open skips the scan). Every later call fails with kClosed.
  Task<Status> Close();

  // The high watermark is the replication layer's to move (single node: the log end after each
  // append). Clamped to [log_start, log_end].
  void SetHighWatermark(Offset offset);

  Offset log_start_offset() const { return log_start_; }
  Offset log_end_offset() const { return log_end_; }
  Offset high_watermark() const { return high_watermark_; }
  // Everything below is synced.
  Offset flushed_offset() const { return flushed_; }
  Offset recovery_point() const { return recovery_point_; }
  Offset compacted_end() const { return compacted_end_; }
  const LogConfig& config() const { return config_; }
  // Topic config changes apply to later appends and passes.
  Status SetConfig(const LogConfig& config);
  const ProducerStateTable& producers() const { return producers_; }
  const RecoveryReport& recovery_report() const { return report_; }
  const std::string& dir() const { return dir_; }
  size_t segment_count() const { return segments_.size(); }
  std::vector<Offset> segment_bases() const;
  uint64_t size_bytes() const;
  // Not ok once a failed sync fenced the log (the error), or kClosed after Close.
  Status health() const;
  // Resolves once no write or truncate of a segment file that this log issued is in flight. A
  // fenced log's appends already writing may land after the failure: whoever opens the
  // directory again waits for this first, so that Open reads the files as they will stay.
  Task<void> WaitIdle();
  size_t file_ops_in_flight() const { return file_ops_in_flight_; }
  LogMemory memory() const;

 private:
  friend class LogRecovery;
  Log(Io& io, std::string dir, LogConfig config, LogLimits limits, RecordReader* reader);

  // log.cc
  Status Usable() const;
  Task<Status> Lock(bool append);
  void Unlock();
  // An append whose offsets and file position are reserved (under the write lock) and whose
  // bytes are being written (outside it). Committed in reservation order: tracked in its
  // segment, log end advanced, appender released.
  struct PendingWrite {
    enum class State : uint8_t { kWriting, kWritten, kFailed };
    uint64_t seq = 0;
    std::shared_ptr<Segment> segment;
    uint64_t position = 0;
    uint64_t end_position = 0;
    std::vector<BatchInfo> batches;
    Offset next;
    State state = State::kWriting;
    Status status;
    // To undo the producer state if the write fails while nothing else is pending.
    std::vector<std::pair<ProducerId, std::optional<ProducerEntry>>> undo;
    Offset producers_next;
  };
  // Reserves (validation passed): assigns offsets, checks producers, queues a PendingWrite.
  // `seq` is 0 when nothing is to be written (a rejection or a duplicate).
  Task<Status> AppendLocked(std::vector<MutableRecordBatchView>& batches,
                            std::span<std::byte> records, const AppendOptions& options,
                            AppendResult& result, uint64_t& seq);
  // Handles a failed write: cut back and undone if it was the only one pending, else a fence.
  Task<Status> WriteFailed(uint64_t seq, Status cause);
  // For a duplicate: waits until its original is committed (and synced when `options.durable`).
  Task<Status> AwaitOriginal(const AppendResult& result, const AppendOptions& options);
  void CommitWritten();
  // Waits (under the write lock) until every reserved write is committed.
  Task<Status> DrainWrites();
  PendingWrite* FindPending(uint64_t seq);
  // The offset and file position the next append gets (past the pending writes).
  Offset NextOffset() const { return pending_.empty() ? log_end_ : pending_.back().next; }
  uint64_t NextPosition() const;
  bool MustRoll(const Segment& active, uint64_t position, uint64_t bytes, Offset first,
                Offset last) const;
  Task<Status> Roll(Offset base);
  Task<Status> WaitFlushed(Offset target);
  Task<void> SyncRound();
  void AdvanceRecoveryPoint();
  void Fence(const Status& cause);
  // Brackets a segment file operation for WaitIdle.
  void FileOpStarted() { ++file_ops_in_flight_; }
  void FileOpDone();
  Task<Status> WriteMeta(bool clean);
  Task<Status> WriteSnapshot();
  Task<Status> PruneSnapshots(std::optional<Offset> above);
  Task<Status> RemoveSegment(std::shared_ptr<Segment> segment);
  std::shared_ptr<Segment> active() const { return segments_.rbegin()->second; }
  // Segments from the one holding `offset` on, copied so that a caller may suspend.
  std::vector<std::shared_ptr<Segment>> SegmentsFrom(Offset offset) const;
  // Reads the header of every batch of `segment` below `end_position`, in order.
  Task<Result<std::vector<BatchInfo>>> ReadHeaders(Segment& segment, uint64_t end_position);
  // Re-derives the producer table from the newest usable snapshot at or below the log end,
  // replaying the batches after it.
  Task<Status> RebuildProducerState();
  Task<Status> ReplayProducers(Offset from);
  // Reads one whole batch, CRC-checked.
  Task<Status> ReadBatch(Segment& segment, const BatchInfo& info, std::vector<std::byte>& out);
  Task<Result<std::optional<TimestampOffset>>> FirstRecordAtOrAfter(
      const std::shared_ptr<Segment>& segment, const BatchInfo& batch, int64_t timestamp_ms);

  Task<Result<Offset>> TruncateLocked(Offset offset);
  Task<Status> TruncateFullyLocked(Offset offset);

  // retention.cc
  Task<Result<RetentionResult>> RetentionLocked();
  Task<Result<Offset>> DeleteRecordsLocked(Offset offset);

  // compaction.cc
  struct CleanGroup;
  class KeyMap;
  Task<Status> CompactPass(CompactionResult& result);
  Task<Status> CleanInto(CleanGroup& group, const KeyMap& latest, CompactionResult& result);
  Task<Status> SwapIn(CleanGroup& group, CompactionResult& result);

  Io& io_;
  const std::string dir_;
  LogConfig config_;
  const LogLimits limits_;
  std::unique_ptr<RecordReader> own_reader_;
  RecordReader& reader_;

  std::map<Offset, std::shared_ptr<Segment>> segments_;  // by base offset; the last is active
  std::set<Offset> snapshots_;                           // producer snapshot files on disk
  Offset log_start_{0};
  Offset log_end_{0};
  Offset high_watermark_{0};
  Offset flushed_{0};
  Offset recovery_point_{0};
  Offset compacted_end_{0};
  // Set (in memory and partition.meta) while a truncation is not yet durable.
  std::optional<Offset> truncate_to_;
  ProducerStateTable producers_;

  Semaphore lock_;
  size_t appends_waiting_ = 0;
  std::deque<PendingWrite> pending_;  // at most appends_waiting_max
  uint64_t next_write_seq_ = 1;
  uint64_t committed_seq_ = 0;
  Notify committed_;
  Notify sync_done_;
  bool syncing_ = false;
  bool dir_dirty_ = false;    // a create/rename/remove in the directory awaits SyncDir
  uint64_t truncations_ = 0;  // bumped by truncation: an older sync round must not count
  bool compacting_ = false;
  bool closed_ = false;
  size_t file_ops_in_flight_ = 0;  // segment WriteAt / cut-back Truncate calls not yet resolved
  Notify idle_;
  Status fenced_;
  RecoveryReport report_;
};

}  // namespace runnel::engine
