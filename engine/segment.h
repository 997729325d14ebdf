// Segment: one <base offset>.log of a partition and its in-memory offset and time indexes.
//
// A segment is a run of RecordBatch v2 batches with increasing offsets, all >= its base offset
// and within base + INT32_MAX (the indexes store u32 relative offsets). The newest segment of a
// log is active: only it is appended to. The others are closed: immutable, except that the
// whole file may be replaced by compaction or removed by retention and truncation.
//
// Owned by its Log through shared_ptr, on the log's shard. Readers (Log::Read's file regions)
// hold a shared_ptr too, so a segment deleted while a fetch is sending from it stays open until
// the send is done (the file is unlinked, its bytes are still readable).
//
// Durability contract: the Segment tracks but does not decide durability. size_bytes() counts
// bytes whose WriteAt resolved ok (readable, not necessarily durable); synced_bytes() counts the
// bytes a Sync covered. The index files are written when the segment is closed (WriteIndexFiles)
// and are durable after SyncIndexFiles; until then only memory has the indexes.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "engine/offset_index.h"
#include "engine/producer_state.h"
#include "engine/record_batch.h"
#include "engine/types.h"
#include "io/file.h"
#include "io/status.h"
#include "io/task.h"

namespace runnel::engine {

// The header facts of one stored batch: what reads return as metadata and what recovery,
// indexes and producer-state replay need. Parsed from the 61-byte header alone (no CRC check).
struct BatchInfo {
  Offset base_offset;
  Offset last_offset;
  uint64_t position = 0;  // byte offset of the batch in its segment's .log
  uint32_t size_bytes = 0;
  int64_t max_timestamp_ms = kNoTimestamp;
  int32_t record_count = 0;
  LeaderEpoch leader_epoch = kNoLeaderEpoch;
  uint16_t attributes = 0;
  ProducerId producer_id = kNoProducerId;
  ProducerEpoch producer_epoch = kNoProducerEpoch;
  int32_t base_sequence = kNoSequence;

  Offset next_offset() const { return Offset(last_offset.value() + 1); }
  bool is_control() const;
  bool is_transactional() const;
  ProducerBatchInfo producer_info() const;
  static BatchInfo From(const RecordBatchView& batch, uint64_t position);
};

// Parses the framing of the batch header at the start of `header` (>= kHeaderBytes bytes):
// magic 2, batchLength >= the header, lastOffsetDelta >= 0, base offset >= 0 and no overflow.
// kCorruption otherwise (kUnsupported for magic 0/1). Does not check the CRC.
Result<BatchInfo> ParseBatchHeader(std::span<const std::byte> header, uint64_t position);

class Segment {
 public:
  // Creates <dir>/<base>.log<file_suffix> (emptying any leftover of that name); the segment's
  // index files get the same suffix (compaction writes "<base>.log.cleaned" and friends). The
  // caller syncs the directory.
  static Task<Result<std::shared_ptr<Segment>>> Create(FileSystem& fs, const std::string& dir,
                                                       Offset base, int64_t created_wall_ms,
                                                       std::string file_suffix = {});
  // Opens an existing <dir>/<base>.log<file_suffix> with empty indexes; the caller fills them
  // (recovery scan with Track, or index files with AdoptIndexes).
  static Task<Result<std::shared_ptr<Segment>>> Open(FileSystem& fs, const std::string& dir,
                                                     Offset base, std::string file_suffix = {});

  Segment(const Segment&) = delete;
  Segment& operator=(const Segment&) = delete;

  Offset base_offset() const { return base_; }
  // The offset after the last batch; the base offset when empty.
  Offset next_offset() const { return next_offset_; }
  uint64_t size_bytes() const { return size_bytes_; }
  bool empty() const { return size_bytes_ == 0; }
  uint32_t batch_count() const { return batch_count_; }
  int64_t max_timestamp_ms() const { return max_timestamp_ms_; }
  // The base offset of the first batch that reached max_timestamp_ms().
  Offset offset_of_max_timestamp() const { return offset_of_max_timestamp_; }
  // Wall-clock time the segment counts its age from (segment.ms): its creation, or for a
  // segment found on disk its first batch's max timestamp.
  int64_t created_wall_ms() const { return created_wall_ms_; }
  void set_created_wall_ms(int64_t ms) { created_wall_ms_ = ms; }

  File& log() { return *log_; }
  const std::string& dir() const { return dir_; }
  // <dir>/<base><suffix><file suffix>, e.g. path(".index").
  std::string path(std::string_view suffix) const;
  const OffsetIndex& offset_index() const { return offset_index_; }
  const TimeIndex& time_index() const { return time_index_; }

  // Records a batch that now sits in the .log at b.position == size_bytes(): grows the size,
  // adds index entries every `index_interval_bytes`, tracks the max timestamp.
  void Track(const BatchInfo& b, uint32_t index_interval_bytes);
  // Adds the final time index entry (the segment's max timestamp) when it is closed.
  void SealTimeIndex();
  // Replaces the indexes and the summary with ones loaded from index files (recovery of a
  // trusted segment): `last` is the segment's last batch.
  void AdoptIndexes(OffsetIndex offset_index, TimeIndex time_index, const BatchInfo& last,
                    uint64_t size_bytes);
  // Forgets everything at or after `position` (the caller truncated the file and rescans what
  // is left with Track).
  void ResetTo(uint64_t position);

  // Durability bookkeeping (see the class comment).
  uint64_t synced_bytes() const { return synced_bytes_; }
  void set_synced_bytes(uint64_t n) { synced_bytes_ = n; }
  bool closed() const { return closed_; }
  void set_closed(bool closed) { closed_ = closed; }
  // True when the index files on disk match memory and are durable.
  bool index_files_durable() const { return index_files_durable_; }
  void set_index_files_durable(bool durable) { index_files_durable_ = durable; }
  bool index_files_open() const { return index_file_ != nullptr; }

  // Writes .index and .timeindex from memory (replacing them); not synced.
  Task<Status> WriteIndexFiles(FileSystem& fs);
  // Syncs and closes the index files WriteIndexFiles left open.
  Task<Status> SyncIndexFiles();
  // Removes .log, .index and .timeindex (absent ones are fine). Not durable until SyncDir.
  Task<Status> RemoveFiles(FileSystem& fs);

  // Heap bytes of the indexes (capacity).
  size_t index_memory_bytes() const {
    return offset_index_.memory_bytes() + time_index_.memory_bytes();
  }
  size_t index_entries() const { return offset_index_.size() + time_index_.size(); }

 private:
  Segment(Offset base, std::string dir, std::string file_suffix, std::unique_ptr<File> log,
          int64_t created_wall_ms);

  const Offset base_;
  const std::string dir_;
  const std::string file_suffix_;
  std::unique_ptr<File> log_;
  OffsetIndex offset_index_;
  TimeIndex time_index_;
  Offset next_offset_;
  uint64_t size_bytes_ = 0;
  uint32_t batch_count_ = 0;
  uint64_t bytes_since_index_entry_ = 0;
  int64_t max_timestamp_ms_ = kNoTimestamp;
  Offset offset_of_max_timestamp_;
  int64_t created_wall_ms_ = 0;
  uint64_t synced_bytes_ = 0;
  bool closed_ = false;
  bool index_files_durable_ = false;
  std::unique_ptr<File> index_file_;
  std::unique_ptr<File> time_index_file_;
};

// Reads batch headers forward through a .log with a read-ahead buffer, between `position` and
// `end` (exclusive). Framing is checked (ParseBatchHeader), plus: the batch lies before `end`
// and its base offset is >= the segment's base. Used by reads, truncation and producer-state
// replay; recovery uses the full-validation scan of log_recovery.h instead.
class HeaderCursor {
 public:
  HeaderCursor(File& file, Offset segment_base, uint64_t position, uint64_t end, size_t read_bytes);
  // Also checks that the batches follow each other (headers are read without their CRC, so a
  // flipped offset field is caught here): the first starts at `expected` (exactly, when
  // `first_exact`: an index entry named it), each next one after the previous, with no gap from
  // `dense_from` on, and all end below `limit` (the segment's next offset).
  void CheckSequence(Offset expected, Offset dense_from, Offset limit, bool first_exact);

  // The next header, nullopt at `end`; kCorruption for bad framing, kIo for a failed read.
  Task<Result<std::optional<BatchInfo>>> Next();
  uint64_t position() const { return position_; }

 private:
  File* file_;
  Offset segment_base_;
  uint64_t position_;
  uint64_t end_;
  std::vector<std::byte> buffer_;
  uint64_t buffer_position_ = 0;
  size_t buffer_bytes_ = 0;
  bool check_ = false;
  bool exact_ = false;
  Offset expected_;
  Offset dense_from_;
  Offset limit_;
};

// Reads the batches of a .log one after the other in large chunks, each checked by
// RecordBatchView::Parse (framing, CRC-32C). Used by recovery and compaction. `buffer` is the
// caller's (reused between segments); it grows past chunk_bytes only for a larger batch.
class BatchReader {
 public:
  BatchReader(File& file, uint64_t file_bytes, std::vector<std::byte>& buffer, size_t chunk_bytes,
              uint64_t position = 0);

  // The next batch, valid until the next call; nullopt at the end of the file. kCorruption for
  // a torn or invalid batch (position() stays at its start), kIo for a failed read.
  Task<Result<std::optional<RecordBatchView>>> Next();
  // Where the next batch starts: after the last one returned.
  uint64_t position() const { return position_; }

 private:
  Task<Result<std::span<const std::byte>>> Get(uint64_t position, size_t n);

  File& file_;
  const uint64_t file_bytes_;
  std::vector<std::byte>& buffer_;
  const size_t chunk_bytes_;
  uint64_t position_ = 0;
  uint64_t buffered_position_ = 0;
  size_t buffered_bytes_ = 0;
};

}  // namespace runnel::engine
