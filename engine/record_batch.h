// Kafka RecordBatch v2 (magic 2): validated, non-owning views over batch bytes, record
// iteration with strict bounds checks, and splitting of concatenated batches.
//
// A RecordBatchView exists only for bytes that passed Parse: the span holds exactly one batch,
// its batchLength agrees with the span, magic is 2, the codec is known and the CRC-32C over
// attributes..end matches. Accessors read the header in place; nothing is copied. Records are
// validated lazily, when iterated (RecordIterator) or in one pass (ValidateRecords).
//
// The broker's append path: SplitBatches (or BatchSplitter) over a produce request's records,
// ValidateForAppend on each, then MutableRecordBatchView::SetBaseOffset and
// SetPartitionLeaderEpoch, which rewrite header fields outside the CRC'd range. The stored
// bytes are otherwise the client's: no recompression, except when the topic's compression.type
// asks for another codec (recompress.h, before the append).
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <vector>

#include "engine/compression.h"
#include "engine/record_batch_format.h"
#include "engine/types.h"
#include "io/status.h"

namespace runnel::engine {

using Bytes = std::span<const std::byte>;
// A Kafka nullable byte string: nullopt is null (length -1), distinct from empty.
using NullableBytes = std::optional<Bytes>;

enum class TimestampType : uint8_t { kCreateTime = 0, kLogAppendTime = 1 };

struct RecordHeader {
  Bytes key;  // never null in the format
  NullableBytes value;
};

// Iterates the headers of one record. Only made by Record::headers(), over bytes that
// RecordIterator validated.
class HeaderIterator {
 public:
  HeaderIterator() = default;
  bool Next(RecordHeader& out);

 private:
  friend struct Record;
  HeaderIterator(Bytes bytes, int32_t count) : bytes_(bytes), left_(count) {}
  Bytes bytes_;
  int32_t left_ = 0;
};

// One record, pointing into the batch (or the decompressed scratch buffer) it came from.
struct Record {
  int8_t attributes = 0;
  int64_t timestamp_delta = 0;
  int32_t offset_delta = 0;
  Offset offset;             // the batch's baseOffset + offset_delta
  int64_t timestamp_ms = 0;  // baseTimestamp + delta, or the batch's maxTimestamp for LogAppendTime
  NullableBytes key;
  NullableBytes value;  // nullopt: a tombstone
  int32_t header_count = 0;
  Bytes header_bytes;
  size_t size_bytes = 0;  // encoded size, length prefix included

  HeaderIterator headers() const;
};

// Reads the records of one batch's (uncompressed) record section. Checks, per record: the
// length prefix fits and the fields consume exactly that many bytes; varints are at most 5/10
// bytes; key/value/header lengths are >= -1 (header keys >= 0) and fit; offset deltas are >= 0,
// strictly increasing and <= lastOffsetDelta. At the end: exactly recordCount records and no
// trailing bytes. The first failure is sticky in status(); nothing is read past the section.
class RecordIterator {
 public:
  struct BatchContext {
    Offset base_offset;
    int64_t base_timestamp_ms = 0;
    int32_t last_offset_delta = 0;
    int32_t record_count = 0;
    // Set for LogAppendTime batches: every record's timestamp is the batch's maxTimestamp.
    std::optional<int64_t> timestamp_override_ms;
  };

  RecordIterator() = default;
  RecordIterator(Bytes records, const BatchContext& context);

  // Fills `out` with the next record and returns true; false at the end or on an error.
  bool Next(Record& out);
  // Ok unless a record failed validation; call after Next returns false.
  const Status& status() const { return status_; }
  int32_t records_read() const { return read_; }

 private:
  bool Fail(std::string message);

  const std::byte* p_ = nullptr;
  const std::byte* end_ = nullptr;
  BatchContext context_;
  int32_t read_ = 0;
  int32_t previous_offset_delta_ = -1;
  bool done_ = false;
  Status status_;
};

class RecordBatchView {
 public:
  // Validates one batch occupying all of `bytes` (see the file comment). Magic 0 and 1 are
  // kUnsupported; every other failure is kCorruption with a message saying what was wrong.
  static Result<RecordBatchView> Parse(Bytes bytes);

  Bytes bytes() const { return {data_, size_}; }
  size_t size_bytes() const { return size_; }

  Offset base_offset() const;
  // base_offset + lastOffsetDelta (wrapping rather than overflowing).
  Offset last_offset() const;
  // The offset after this batch.
  Offset next_offset() const { return Offset(static_cast<int64_t>(last_offset().value() + 1ull)); }
  int32_t batch_length() const;
  LeaderEpoch partition_leader_epoch() const;
  int8_t magic() const;
  uint32_t crc() const;
  uint16_t attributes() const;
  Codec codec() const;
  TimestampType timestamp_type() const;
  bool is_transactional() const;
  bool is_control() const;
  bool has_delete_horizon() const;
  int32_t last_offset_delta() const;
  int64_t base_timestamp() const;
  int64_t max_timestamp() const;
  ProducerId producer_id() const;
  ProducerEpoch producer_epoch() const;
  int32_t base_sequence() const;
  // base_sequence + lastOffsetDelta, wrapping at INT32_MAX; kNoSequence without a sequence.
  int32_t last_sequence() const;
  int32_t record_count() const;
  bool has_producer_id() const { return producer_id().value() >= 0; }
  // The record section as stored (compressed when codec() != kNone).
  Bytes records_bytes() const;

  // CRC-32C of attributes..end, as it should be stored.
  uint32_t ComputeCrc() const;

  // The records of an uncompressed batch; asserts codec() == kNone (use RecordReader).
  RecordIterator UncompressedRecords() const;
  RecordIterator::BatchContext iteration_context() const;

 protected:
  RecordBatchView(const std::byte* data, size_t size) : data_(data), size_(size) {}

  const std::byte* data_ = nullptr;
  size_t size_ = 0;
};

// A view that may rewrite the header fields the broker owns. SetBaseOffset and
// SetPartitionLeaderEpoch touch bytes outside the CRC's coverage, so the CRC stays valid.
class MutableRecordBatchView : public RecordBatchView {
 public:
  static Result<MutableRecordBatchView> Parse(std::span<std::byte> bytes);
  // The writable form of `view`, which Parse already validated over these same `bytes`
  // (asserted); no second CRC pass.
  static MutableRecordBatchView Adopt(std::span<std::byte> bytes, const RecordBatchView& view);

  void SetBaseOffset(Offset offset);
  void SetPartitionLeaderEpoch(LeaderEpoch epoch);
  // For topics with message.timestamp.type=LogAppendTime: sets the timestamp-type bit and
  // maxTimestamp, then recomputes the CRC (a pass over the batch; not the default path).
  void SetLogAppendTime(int64_t timestamp_ms);

 private:
  MutableRecordBatchView(std::byte* data, size_t size) : RecordBatchView(data, size) {}
  std::byte* mutable_data() const { return const_cast<std::byte*>(data_); }
};

// Opens batches for record iteration, decompressing into a scratch buffer that is reused from
// batch to batch (so no allocation once it has grown). The iterator Open returns stays valid
// until the next Open. Owned by one shard.
class RecordReader {
 public:
  explicit RecordReader(size_t decompressed_bytes_max)
      : decompressed_bytes_max_(decompressed_bytes_max) {}

  // kLimit when the records decompress to more than decompressed_bytes_max; kCorruption when
  // they do not decompress.
  Result<RecordIterator> Open(const RecordBatchView& batch);

  size_t decompressed_bytes_max() const { return decompressed_bytes_max_; }

 private:
  size_t decompressed_bytes_max_;
  Decompressor decompressor_;
  std::vector<std::byte> scratch_;
};

// What one pass over a batch's records found.
struct RecordsSummary {
  int32_t record_count = 0;
  int32_t last_offset_delta = -1;  // of the last record; -1 when there are none
  int64_t max_timestamp_ms = kNoTimestamp;
  size_t uncompressed_bytes = 0;
};

// Iterates every record of `batch` (decompressing when needed) and reports the first failure.
Result<RecordsSummary> ValidateRecords(const RecordBatchView& batch, RecordReader& reader);

// ValidateRecords plus the rules a batch from a producer must meet before it is appended
// (Kafka's LogValidator for magic 2): at least one record, recordCount == lastOffsetDelta + 1
// (offset deltas are then exactly 0..n-1), a non-negative baseSequence when the batch has a
// producer id, and no control batches (those come from the transaction coordinator only).
Result<RecordsSummary> ValidateForAppend(const RecordBatchView& batch, RecordReader& reader);

// The total size of the batch starting with `prefix` (>= kLogOverheadBytes bytes), from its
// batchLength field; kCorruption when that is below the header size.
Result<size_t> BatchSizeFromPrefix(Bytes prefix);

// Splits concatenated batches. Next parses (and CRC-checks) one batch at a time. It stops at
// the end, at the first invalid batch (status() not ok), or at a trailing batch that is only
// partly present (partial_tail_bytes() > 0: a fetch response may end that way; a produce
// request or a log segment read up to its end may not).
class BatchSplitter {
 public:
  explicit BatchSplitter(Bytes buffer) : buffer_(buffer) {}

  // The next batch; nullopt at the end, on an error or at a partial tail.
  std::optional<RecordBatchView> Next();
  const Status& status() const { return status_; }
  // Bytes of complete, valid batches returned so far.
  size_t position() const { return position_; }
  size_t partial_tail_bytes() const { return partial_tail_bytes_; }

 private:
  Bytes buffer_;
  size_t position_ = 0;
  size_t partial_tail_bytes_ = 0;
  Status status_;
};

// Splits a buffer that must hold only whole, valid batches (a produce request's records): a
// partial trailing batch is kCorruption, more than `batch_count_max` batches is kLimit.
Status SplitBatches(Bytes buffer, size_t batch_count_max, std::vector<RecordBatchView>& out);
// The same over a writable buffer, giving views the broker can stamp with offsets and epochs.
Status SplitBatches(std::span<std::byte> buffer, size_t batch_count_max,
                    std::vector<MutableRecordBatchView>& out);

}  // namespace runnel::engine
