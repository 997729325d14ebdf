#include "engine/batch_builder.h"

#include <fmt/format.h>

#include <algorithm>
#include <cstring>

#include "engine/crc32c.h"
#include "engine/record_batch_format.h"
#include "engine/varint.h"

namespace runnel::engine {

namespace bf = batch_format;

namespace {

size_t NullableSize(const NullableBytes& b) {
  return b.has_value() ? VarintSize32(static_cast<int32_t>(b->size())) + b->size()
                       : VarintSize32(-1);
}

std::byte* PutNullable(std::byte* p, const NullableBytes& b) {
  if (!b.has_value()) return PutVarint32(p, -1);
  p = PutVarint32(p, static_cast<int32_t>(b->size()));
  if (!b->empty()) std::memcpy(p, b->data(), b->size());
  return p + b->size();
}

}  // namespace

void BatchBuilder::Append(int64_t timestamp_ms, NullableBytes key, NullableBytes value,
                          std::span<const RecordHeader> headers) {
  AppendAt(last_record_offset_delta_ + 1, timestamp_ms, key, value, headers);
}

void BatchBuilder::AppendAt(int32_t offset_delta, int64_t timestamp_ms, NullableBytes key,
                            NullableBytes value, std::span<const RecordHeader> headers) {
  RUNNEL_ASSERT(offset_delta > last_record_offset_delta_, "offset delta {} after {}", offset_delta,
                last_record_offset_delta_);
  RUNNEL_ASSERT(!key.has_value() || key->size() <= INT32_MAX, "key too large");
  RUNNEL_ASSERT(!value.has_value() || value->size() <= INT32_MAX, "value too large");
  if (!base_timestamp_ms_.has_value()) {
    base_timestamp_ms_ = options_.delete_horizon_ms.has_value()   ? options_.delete_horizon_ms
                         : options_.base_timestamp_ms.has_value() ? options_.base_timestamp_ms
                                                                  : timestamp_ms;
  }
  const int64_t timestamp_delta = static_cast<int64_t>(static_cast<uint64_t>(timestamp_ms) -
                                                       static_cast<uint64_t>(*base_timestamp_ms_));
  size_t body = 1 + VarintSize64(timestamp_delta) + VarintSize32(offset_delta) + NullableSize(key) +
                NullableSize(value) + VarintSize32(static_cast<int32_t>(headers.size()));
  for (const RecordHeader& h : headers) {
    body += VarintSize32(static_cast<int32_t>(h.key.size())) + h.key.size() + NullableSize(h.value);
  }
  RUNNEL_ASSERT(body <= INT32_MAX, "record of {} bytes", body);

  const size_t start = records_.size();
  records_.resize(start + VarintSize32(static_cast<int32_t>(body)) + body);
  std::byte* p = records_.data() + start;
  p = PutVarint32(p, static_cast<int32_t>(body));
  *p++ = std::byte{0};  // record attributes: unused by Kafka
  p = PutVarint64(p, timestamp_delta);
  p = PutVarint32(p, offset_delta);
  p = PutNullable(p, key);
  p = PutNullable(p, value);
  p = PutVarint32(p, static_cast<int32_t>(headers.size()));
  for (const RecordHeader& h : headers) {
    p = PutNullable(p, h.key);
    p = PutNullable(p, h.value);
  }
  RUNNEL_ASSERT(p == records_.data() + records_.size(), "record size miscomputed");

  ++record_count_;
  last_record_offset_delta_ = offset_delta;
  max_timestamp_ms_ = std::max(max_timestamp_ms_, timestamp_ms);
}

void BatchBuilder::set_last_offset_delta(int32_t last_offset_delta) {
  RUNNEL_ASSERT(last_offset_delta >= last_record_offset_delta_ && last_offset_delta >= 0,
                "lastOffsetDelta {} below the last record's {}", last_offset_delta,
                last_record_offset_delta_);
  last_offset_delta_override_ = last_offset_delta;
}

Status BatchBuilder::Build(std::vector<std::byte>& out) {
  Bytes section(records_);
  if (options_.codec != Codec::kNone) {
    compressed_.clear();
    RUNNEL_TRY(Compress(options_.codec, section, compressed_, options_.compress));
    section = Bytes(compressed_);
  }
  const size_t total = bf::kHeaderBytes + section.size();
  if (total - bf::kLogOverheadBytes > static_cast<size_t>(INT32_MAX)) {
    return Status::Limit(fmt::format("batch of {} bytes exceeds the int32 batchLength", total));
  }
  RUNNEL_ASSERT(options_.timestamp_type == TimestampType::kCreateTime ||
                    options_.log_append_time_ms.has_value(),
                "LogAppendTime batch without log_append_time_ms");

  uint16_t attributes = static_cast<uint16_t>(options_.codec);
  if (options_.timestamp_type == TimestampType::kLogAppendTime) {
    attributes |= bf::kAttrTimestampTypeLogAppend;
  }
  if (options_.transactional) attributes |= bf::kAttrTransactional;
  if (options_.control) attributes |= bf::kAttrControl;
  if (options_.delete_horizon_ms.has_value()) attributes |= bf::kAttrDeleteHorizon;

  const int32_t last_offset_delta =
      last_offset_delta_override_.value_or(std::max(last_record_offset_delta_, 0));
  const int64_t base_timestamp = base_timestamp_ms_.value_or(
      options_.delete_horizon_ms.value_or(options_.base_timestamp_ms.value_or(kNoTimestamp)));
  const int64_t max_timestamp = options_.timestamp_type == TimestampType::kLogAppendTime
                                    ? *options_.log_append_time_ms
                                    : max_timestamp_ms_;

  out.resize(total);
  std::byte* p = out.data();
  StoreBe64(p + bf::kBaseOffsetOffset, static_cast<uint64_t>(options_.base_offset.value()));
  StoreBe32(p + bf::kBatchLengthOffset, static_cast<uint32_t>(total - bf::kLogOverheadBytes));
  StoreBe32(p + bf::kPartitionLeaderEpochOffset,
            static_cast<uint32_t>(options_.partition_leader_epoch.value()));
  p[bf::kMagicOffset] = static_cast<std::byte>(bf::kMagicV2);
  StoreBe16(p + bf::kAttributesOffset, attributes);
  StoreBe32(p + bf::kLastOffsetDeltaOffset, static_cast<uint32_t>(last_offset_delta));
  StoreBe64(p + bf::kBaseTimestampOffset, static_cast<uint64_t>(base_timestamp));
  StoreBe64(p + bf::kMaxTimestampOffset, static_cast<uint64_t>(max_timestamp));
  StoreBe64(p + bf::kProducerIdOffset, static_cast<uint64_t>(options_.producer_id.value()));
  StoreBe16(p + bf::kProducerEpochOffset, static_cast<uint16_t>(options_.producer_epoch.value()));
  StoreBe32(p + bf::kBaseSequenceOffset, static_cast<uint32_t>(options_.base_sequence));
  StoreBe32(p + bf::kRecordCountOffset, static_cast<uint32_t>(record_count_));
  if (!section.empty()) std::memcpy(p + bf::kRecordsOffset, section.data(), section.size());
  StoreBe32(p + bf::kCrcOffset,
            crc32c::Value(p + bf::kCrcCoverageOffset, total - bf::kCrcCoverageOffset));

  // Pair the write with a read: what we built must parse.
  RUNNEL_ASSERT_SIM(RecordBatchView::Parse(Bytes(out)).ok(), "BatchBuilder built an invalid batch");
  return Status::Ok();
}

Result<std::vector<std::byte>> BatchBuilder::Build() {
  std::vector<std::byte> out;
  RUNNEL_TRY(Build(out));
  return out;
}

void BatchBuilder::Reset(const BatchOptions& options) {
  options_ = options;
  records_.clear();
  record_count_ = 0;
  last_record_offset_delta_ = -1;
  last_offset_delta_override_.reset();
  base_timestamp_ms_.reset();
  max_timestamp_ms_ = kNoTimestamp;
}

}  // namespace runnel::engine
