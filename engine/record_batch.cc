#include "engine/record_batch.h"

#include <fmt/format.h>

#include <algorithm>

#include "engine/crc32c.h"
#include "engine/varint.h"

namespace runnel::engine {

namespace bf = batch_format;

// ---- records ------------------------------------------------------------------------------

bool HeaderIterator::Next(RecordHeader& out) {
  if (left_ <= 0) return false;
  // The bytes were validated by RecordIterator, so these reads cannot fail; the checks remain
  // so that a broken invariant stops here rather than reading out of bounds.
  ByteReader r(bytes_);
  int32_t key_length = 0;
  int32_t value_length = 0;
  Bytes key;
  Bytes value;
  bool ok = r.ReadVarint32(key_length) && key_length >= 0 && r.ReadBytes(key_length, key) &&
            r.ReadVarint32(value_length) && value_length >= -1;
  ok = ok && (value_length < 0 || r.ReadBytes(value_length, value));
  RUNNEL_ASSERT(ok, "record headers changed after validation");
  out.key = key;
  out.value = value_length < 0 ? NullableBytes() : NullableBytes(value);
  bytes_ = bytes_.subspan(bytes_.size() - r.remaining());
  --left_;
  return true;
}

HeaderIterator Record::headers() const { return HeaderIterator(header_bytes, header_count); }

RecordIterator::RecordIterator(Bytes records, const BatchContext& context)
    : p_(records.data()), end_(records.data() + records.size()), context_(context) {}

bool RecordIterator::Fail(std::string message) {
  status_ = Status::Corruption(
      fmt::format("record {} of {}: {}", read_, context_.record_count, std::move(message)));
  done_ = true;
  return false;
}

bool RecordIterator::Next(Record& out) {
  if (done_) return false;
  if (read_ == context_.record_count) {
    done_ = true;
    if (p_ != end_) {
      status_ = Status::Corruption(
          fmt::format("{} bytes after the last of {} records", end_ - p_, context_.record_count));
    }
    return false;
  }
  ByteReader outer(p_, end_);
  int32_t length = 0;
  if (!outer.ReadVarint32(length)) return Fail("bad or truncated length varint");
  if (length < static_cast<int32_t>(bf::kRecordBytesMin - 1)) {
    return Fail(fmt::format("length {} is below the minimum", length));
  }
  if (static_cast<size_t>(length) > outer.remaining()) {
    return Fail(fmt::format("length {} exceeds the {} bytes left", length, outer.remaining()));
  }
  const std::byte* body = outer.position();
  ByteReader r(body, body + length);

  uint8_t attributes = 0;
  int32_t key_length = 0;
  int32_t value_length = 0;
  int32_t header_count = 0;
  if (!r.ReadU8(attributes)) return Fail("truncated attributes");
  if (!r.ReadVarint64(out.timestamp_delta)) return Fail("bad timestamp delta");
  if (!r.ReadVarint32(out.offset_delta)) return Fail("bad offset delta");
  if (out.offset_delta < 0 || out.offset_delta <= previous_offset_delta_ ||
      out.offset_delta > context_.last_offset_delta) {
    return Fail(fmt::format("offset delta {} after {} (last offset delta {})", out.offset_delta,
                            previous_offset_delta_, context_.last_offset_delta));
  }
  Bytes bytes;
  if (!r.ReadVarint32(key_length) || key_length < -1) return Fail("bad key length");
  if (key_length >= 0 && !r.ReadBytes(key_length, bytes)) return Fail("key overruns the record");
  out.key = key_length < 0 ? NullableBytes() : NullableBytes(bytes);
  if (!r.ReadVarint32(value_length) || value_length < -1) return Fail("bad value length");
  if (value_length >= 0 && !r.ReadBytes(value_length, bytes)) {
    return Fail("value overruns the record");
  }
  out.value = value_length < 0 ? NullableBytes() : NullableBytes(bytes);
  if (!r.ReadVarint32(header_count) || header_count < 0) return Fail("bad header count");
  const std::byte* headers_begin = r.position();
  for (int32_t i = 0; i < header_count; ++i) {
    int32_t hkey_length = 0;
    int32_t hvalue_length = 0;
    if (!r.ReadVarint32(hkey_length) || hkey_length < 0 || !r.Skip(hkey_length)) {
      return Fail(fmt::format("header {}: bad key", i));
    }
    if (!r.ReadVarint32(hvalue_length) || hvalue_length < -1 ||
        (hvalue_length >= 0 && !r.Skip(hvalue_length))) {
      return Fail(fmt::format("header {}: bad value", i));
    }
  }
  if (r.remaining() != 0) {
    return Fail(fmt::format("{} bytes left over inside the record", r.remaining()));
  }
  out.attributes = static_cast<int8_t>(attributes);
  out.header_count = header_count;
  out.header_bytes = Bytes(headers_begin, r.position());
  out.offset = Offset(static_cast<int64_t>(static_cast<uint64_t>(context_.base_offset.value()) +
                                           static_cast<uint64_t>(out.offset_delta)));
  out.timestamp_ms = context_.timestamp_override_ms.has_value()
                         ? *context_.timestamp_override_ms
                         : static_cast<int64_t>(static_cast<uint64_t>(context_.base_timestamp_ms) +
                                                static_cast<uint64_t>(out.timestamp_delta));
  out.size_bytes = static_cast<size_t>(body + length - p_);
  p_ = body + length;
  previous_offset_delta_ = out.offset_delta;
  ++read_;
  return true;
}

// ---- the batch header ---------------------------------------------------------------------

Result<RecordBatchView> RecordBatchView::Parse(Bytes bytes) {
  const size_t size = bytes.size();
  if (size < bf::kHeaderBytes) {
    return Status::Corruption(fmt::format("batch of {} bytes is shorter than the {}-byte header",
                                          size, bf::kHeaderBytes));
  }
  const std::byte* p = bytes.data();
  const int32_t batch_length = static_cast<int32_t>(LoadBe32(p + bf::kBatchLengthOffset));
  if (batch_length < bf::kBatchLengthMin ||
      static_cast<size_t>(batch_length) + bf::kLogOverheadBytes != size) {
    return Status::Corruption(
        fmt::format("batchLength {} does not match the {} bytes of the batch", batch_length, size));
  }
  const int8_t magic = static_cast<int8_t>(p[bf::kMagicOffset]);
  if (magic != bf::kMagicV2) {
    if (magic == 0 || magic == 1) {
      return Status::Unsupported(
          fmt::format("message format magic {} (only 2 is supported)", magic));
    }
    return Status::Corruption(fmt::format("bad magic {}", magic));
  }
  const RecordBatchView view(p, size);
  const uint32_t stored = view.crc();
  const uint32_t computed = view.ComputeCrc();
  if (stored != computed) {
    return Status::Corruption(
        fmt::format("CRC-32C mismatch: stored {:#010x}, computed {:#010x}", stored, computed));
  }
  if ((view.attributes() & bf::kAttrCompressionMask) >= kCodecCount) {
    return Status::Corruption(
        fmt::format("unknown compression codec {}", view.attributes() & bf::kAttrCompressionMask));
  }
  if (view.record_count() < 0) {
    return Status::Corruption(fmt::format("negative record count {}", view.record_count()));
  }
  if (view.last_offset_delta() < 0) {
    return Status::Corruption(fmt::format("negative lastOffsetDelta {}", view.last_offset_delta()));
  }
  if (view.codec() == Codec::kNone && static_cast<size_t>(view.record_count()) >
                                          view.records_bytes().size() / bf::kRecordBytesMin) {
    return Status::Corruption(fmt::format("record count {} cannot fit in {} bytes",
                                          view.record_count(), view.records_bytes().size()));
  }
  return view;
}

Offset RecordBatchView::base_offset() const {
  return Offset(static_cast<int64_t>(LoadBe64(data_ + bf::kBaseOffsetOffset)));
}
Offset RecordBatchView::last_offset() const {
  return Offset(static_cast<int64_t>(static_cast<uint64_t>(base_offset().value()) +
                                     static_cast<uint64_t>(last_offset_delta())));
}
int32_t RecordBatchView::batch_length() const {
  return static_cast<int32_t>(LoadBe32(data_ + bf::kBatchLengthOffset));
}
LeaderEpoch RecordBatchView::partition_leader_epoch() const {
  return LeaderEpoch(static_cast<int32_t>(LoadBe32(data_ + bf::kPartitionLeaderEpochOffset)));
}
int8_t RecordBatchView::magic() const { return static_cast<int8_t>(data_[bf::kMagicOffset]); }
uint32_t RecordBatchView::crc() const { return LoadBe32(data_ + bf::kCrcOffset); }
uint16_t RecordBatchView::attributes() const { return LoadBe16(data_ + bf::kAttributesOffset); }
Codec RecordBatchView::codec() const {
  return static_cast<Codec>(attributes() & bf::kAttrCompressionMask);
}
TimestampType RecordBatchView::timestamp_type() const {
  return (attributes() & bf::kAttrTimestampTypeLogAppend) ? TimestampType::kLogAppendTime
                                                          : TimestampType::kCreateTime;
}
bool RecordBatchView::is_transactional() const {
  return (attributes() & bf::kAttrTransactional) != 0;
}
bool RecordBatchView::is_control() const { return (attributes() & bf::kAttrControl) != 0; }
bool RecordBatchView::has_delete_horizon() const {
  return (attributes() & bf::kAttrDeleteHorizon) != 0;
}
int32_t RecordBatchView::last_offset_delta() const {
  return static_cast<int32_t>(LoadBe32(data_ + bf::kLastOffsetDeltaOffset));
}
int64_t RecordBatchView::base_timestamp() const {
  return static_cast<int64_t>(LoadBe64(data_ + bf::kBaseTimestampOffset));
}
int64_t RecordBatchView::max_timestamp() const {
  return static_cast<int64_t>(LoadBe64(data_ + bf::kMaxTimestampOffset));
}
ProducerId RecordBatchView::producer_id() const {
  return ProducerId(static_cast<int64_t>(LoadBe64(data_ + bf::kProducerIdOffset)));
}
ProducerEpoch RecordBatchView::producer_epoch() const {
  return ProducerEpoch(static_cast<int16_t>(LoadBe16(data_ + bf::kProducerEpochOffset)));
}
int32_t RecordBatchView::base_sequence() const {
  return static_cast<int32_t>(LoadBe32(data_ + bf::kBaseSequenceOffset));
}
int32_t RecordBatchView::last_sequence() const {
  const int32_t base = base_sequence();
  if (base < 0) return kNoSequence;
  return SequenceAdd(base, last_offset_delta());
}
int32_t RecordBatchView::record_count() const {
  return static_cast<int32_t>(LoadBe32(data_ + bf::kRecordCountOffset));
}
Bytes RecordBatchView::records_bytes() const {
  return Bytes(data_ + bf::kRecordsOffset, size_ - bf::kRecordsOffset);
}

uint32_t RecordBatchView::ComputeCrc() const {
  return crc32c::Value(data_ + bf::kCrcCoverageOffset, size_ - bf::kCrcCoverageOffset);
}

RecordIterator::BatchContext RecordBatchView::iteration_context() const {
  RecordIterator::BatchContext c;
  c.base_offset = base_offset();
  c.base_timestamp_ms = base_timestamp();
  c.last_offset_delta = last_offset_delta();
  c.record_count = record_count();
  if (timestamp_type() == TimestampType::kLogAppendTime) c.timestamp_override_ms = max_timestamp();
  return c;
}

RecordIterator RecordBatchView::UncompressedRecords() const {
  RUNNEL_ASSERT(codec() == Codec::kNone, "UncompressedRecords on a {} batch", CodecName(codec()));
  return RecordIterator(records_bytes(), iteration_context());
}

Result<MutableRecordBatchView> MutableRecordBatchView::Parse(std::span<std::byte> bytes) {
  RUNNEL_ASSIGN_OR_RETURN(RecordBatchView view, RecordBatchView::Parse(bytes));
  (void)view;
  return MutableRecordBatchView(bytes.data(), bytes.size());
}

MutableRecordBatchView MutableRecordBatchView::Adopt(std::span<std::byte> bytes,
                                                     const RecordBatchView& view) {
  RUNNEL_ASSERT(view.bytes().data() == bytes.data() && view.size_bytes() == bytes.size(),
                "Adopt of a view over other bytes");
  return MutableRecordBatchView(bytes.data(), bytes.size());
}

void MutableRecordBatchView::SetBaseOffset(Offset offset) {
  StoreBe64(mutable_data() + bf::kBaseOffsetOffset, static_cast<uint64_t>(offset.value()));
}

void MutableRecordBatchView::SetPartitionLeaderEpoch(LeaderEpoch epoch) {
  StoreBe32(mutable_data() + bf::kPartitionLeaderEpochOffset, static_cast<uint32_t>(epoch.value()));
}

void MutableRecordBatchView::SetLogAppendTime(int64_t timestamp_ms) {
  StoreBe16(mutable_data() + bf::kAttributesOffset, attributes() | bf::kAttrTimestampTypeLogAppend);
  StoreBe64(mutable_data() + bf::kMaxTimestampOffset, static_cast<uint64_t>(timestamp_ms));
  StoreBe32(mutable_data() + bf::kCrcOffset, ComputeCrc());
}

// ---- reading and validating records -------------------------------------------------------

Result<RecordIterator> RecordReader::Open(const RecordBatchView& batch) {
  if (batch.codec() == Codec::kNone) {
    if (batch.records_bytes().size() > decompressed_bytes_max_) {
      return Status::Limit(fmt::format("records of {} bytes exceed decompressed_bytes_max {}",
                                       batch.records_bytes().size(), decompressed_bytes_max_));
    }
    return batch.UncompressedRecords();
  }
  // An empty record section holds no records whatever the codec says (a compacted batch kept
  // only for its producer state may look like this).
  if (batch.records_bytes().empty() && batch.record_count() == 0) {
    return RecordIterator(Bytes(), batch.iteration_context());
  }
  Status s = decompressor_.Decompress(batch.codec(), batch.records_bytes(), decompressed_bytes_max_,
                                      scratch_);
  if (!s.ok()) return s.WithContext(fmt::format("batch at offset {}", batch.base_offset().value()));
  if (static_cast<size_t>(batch.record_count()) > scratch_.size() / bf::kRecordBytesMin) {
    return Status::Corruption(fmt::format("record count {} cannot fit in {} decompressed bytes",
                                          batch.record_count(), scratch_.size()));
  }
  return RecordIterator(Bytes(scratch_), batch.iteration_context());
}

Result<RecordsSummary> ValidateRecords(const RecordBatchView& batch, RecordReader& reader) {
  RUNNEL_ASSIGN_OR_RETURN(RecordIterator it, reader.Open(batch));
  RecordsSummary summary;
  Record record;
  while (it.Next(record)) {
    summary.record_count++;
    summary.last_offset_delta = record.offset_delta;
    summary.max_timestamp_ms = std::max(summary.max_timestamp_ms, record.timestamp_ms);
    summary.uncompressed_bytes += record.size_bytes;
  }
  if (!it.status().ok()) {
    return it.status().WithContext(fmt::format("batch at offset {}", batch.base_offset().value()));
  }
  return summary;
}

Result<RecordsSummary> ValidateForAppend(const RecordBatchView& batch, RecordReader& reader) {
  if (batch.record_count() == 0) return Status::Corruption("a produced batch has no records");
  if (static_cast<int64_t>(batch.record_count()) != int64_t{batch.last_offset_delta()} + 1) {
    return Status::Corruption(fmt::format("record count {} does not match lastOffsetDelta {}",
                                          batch.record_count(), batch.last_offset_delta()));
  }
  if (batch.is_control()) return Status::Corruption("a producer may not send control batches");
  if (batch.has_producer_id() && batch.base_sequence() < 0) {
    return Status::Corruption(fmt::format("producer id {} with baseSequence {}",
                                          batch.producer_id().value(), batch.base_sequence()));
  }
  return ValidateRecords(batch, reader);
}

// ---- splitting ----------------------------------------------------------------------------

Result<size_t> BatchSizeFromPrefix(Bytes prefix) {
  RUNNEL_ASSERT(prefix.size() >= bf::kLogOverheadBytes, "prefix of {} bytes", prefix.size());
  const int32_t batch_length =
      static_cast<int32_t>(LoadBe32(prefix.data() + bf::kBatchLengthOffset));
  if (batch_length < bf::kBatchLengthMin) {
    return Status::Corruption(
        fmt::format("batchLength {} is below the minimum {}", batch_length, bf::kBatchLengthMin));
  }
  return static_cast<size_t>(batch_length) + bf::kLogOverheadBytes;
}

std::optional<RecordBatchView> BatchSplitter::Next() {
  if (!status_.ok() || partial_tail_bytes_ != 0) return std::nullopt;
  const Bytes rest = buffer_.subspan(position_);
  if (rest.empty()) return std::nullopt;
  if (rest.size() < bf::kLogOverheadBytes) {
    partial_tail_bytes_ = rest.size();
    return std::nullopt;
  }
  Result<size_t> size = BatchSizeFromPrefix(rest);
  if (!size.ok()) {
    status_ = size.status().WithContext(fmt::format("batch at byte {}", position_));
    return std::nullopt;
  }
  if (*size > rest.size()) {
    partial_tail_bytes_ = rest.size();
    return std::nullopt;
  }
  Result<RecordBatchView> view = RecordBatchView::Parse(rest.first(*size));
  if (!view.ok()) {
    status_ = view.status().WithContext(fmt::format("batch at byte {}", position_));
    return std::nullopt;
  }
  position_ += *size;
  return *view;
}

Status SplitBatches(Bytes buffer, size_t batch_count_max, std::vector<RecordBatchView>& out) {
  out.clear();
  BatchSplitter splitter(buffer);
  while (std::optional<RecordBatchView> view = splitter.Next()) {
    if (out.size() == batch_count_max) {
      return Status::Limit(fmt::format("more than batch_count_max {} batches", batch_count_max));
    }
    out.push_back(*view);
  }
  RUNNEL_TRY(splitter.status());
  if (splitter.partial_tail_bytes() != 0) {
    return Status::Corruption(
        fmt::format("{} trailing bytes are not a whole batch", splitter.partial_tail_bytes()));
  }
  return Status::Ok();
}

Status SplitBatches(std::span<std::byte> buffer, size_t batch_count_max,
                    std::vector<MutableRecordBatchView>& out) {
  out.clear();
  std::vector<RecordBatchView> views;
  RUNNEL_TRY(SplitBatches(Bytes(buffer), batch_count_max, views));
  out.reserve(views.size());
  for (const RecordBatchView& v : views) {
    const size_t at = static_cast<size_t>(v.bytes().data() - buffer.data());
    out.push_back(MutableRecordBatchView::Adopt(buffer.subspan(at, v.size_bytes()), v));
  }
  return Status::Ok();
}

}  // namespace runnel::engine
