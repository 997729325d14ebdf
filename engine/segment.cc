#include "engine/segment.h"

#include <fmt/format.h>

#include <algorithm>
#include <cstring>

#include "engine/record_batch_format.h"
#include "engine/segment_format.h"
#include "engine/varint.h"

namespace runnel::engine {

namespace bf = batch_format;
namespace sf = segment_format;

bool BatchInfo::is_control() const { return (attributes & bf::kAttrControl) != 0; }
bool BatchInfo::is_transactional() const { return (attributes & bf::kAttrTransactional) != 0; }

ProducerBatchInfo BatchInfo::producer_info() const {
  ProducerBatchInfo info;
  info.producer_id = producer_id;
  info.producer_epoch = producer_epoch;
  info.base_sequence = base_sequence;
  info.last_offset_delta = static_cast<int32_t>(last_offset.value() - base_offset.value());
  info.max_timestamp_ms = max_timestamp_ms;
  info.transactional = is_transactional();
  info.control = is_control();
  return info;
}

BatchInfo BatchInfo::From(const RecordBatchView& batch, uint64_t position) {
  BatchInfo b;
  b.base_offset = batch.base_offset();
  b.last_offset = batch.last_offset();
  b.position = position;
  b.size_bytes = static_cast<uint32_t>(batch.size_bytes());
  b.max_timestamp_ms = batch.max_timestamp();
  b.record_count = batch.record_count();
  b.leader_epoch = batch.partition_leader_epoch();
  b.attributes = batch.attributes();
  b.producer_id = batch.producer_id();
  b.producer_epoch = batch.producer_epoch();
  b.base_sequence = batch.base_sequence();
  return b;
}

Result<BatchInfo> ParseBatchHeader(std::span<const std::byte> header, uint64_t position) {
  if (header.size() < bf::kHeaderBytes) {
    return Status::Corruption(fmt::format("batch header at position {}: {} of {} bytes", position,
                                          header.size(), bf::kHeaderBytes));
  }
  const std::byte* p = header.data();
  const int32_t batch_length = static_cast<int32_t>(LoadBe32(p + bf::kBatchLengthOffset));
  if (batch_length < bf::kBatchLengthMin) {
    return Status::Corruption(
        fmt::format("batch at position {}: batchLength {}", position, batch_length));
  }
  const int8_t magic = static_cast<int8_t>(p[bf::kMagicOffset]);
  if (magic != bf::kMagicV2) {
    return Status::Corruption(fmt::format("batch at position {}: magic {}", position, magic));
  }
  const int64_t base = static_cast<int64_t>(LoadBe64(p + bf::kBaseOffsetOffset));
  const int32_t last_delta = static_cast<int32_t>(LoadBe32(p + bf::kLastOffsetDeltaOffset));
  const int32_t count = static_cast<int32_t>(LoadBe32(p + bf::kRecordCountOffset));
  if (base < 0 || last_delta < 0 || base > kOffsetMax - last_delta || count < 0) {
    return Status::Corruption(
        fmt::format("batch at position {}: base offset {}, lastOffsetDelta {}, {} records",
                    position, base, last_delta, count));
  }
  BatchInfo b;
  b.base_offset = Offset(base);
  b.last_offset = Offset(base + last_delta);
  b.position = position;
  b.size_bytes = static_cast<uint32_t>(batch_length) + static_cast<uint32_t>(bf::kLogOverheadBytes);
  b.max_timestamp_ms = static_cast<int64_t>(LoadBe64(p + bf::kMaxTimestampOffset));
  b.record_count = count;
  b.leader_epoch = LeaderEpoch(static_cast<int32_t>(LoadBe32(p + bf::kPartitionLeaderEpochOffset)));
  b.attributes = LoadBe16(p + bf::kAttributesOffset);
  b.producer_id = ProducerId(static_cast<int64_t>(LoadBe64(p + bf::kProducerIdOffset)));
  b.producer_epoch = ProducerEpoch(static_cast<int16_t>(LoadBe16(p + bf::kProducerEpochOffset)));
  b.base_sequence = static_cast<int32_t>(LoadBe32(p + bf::kBaseSequenceOffset));
  return b;
}

Segment::Segment(Offset base, std::string dir, std::string file_suffix, std::unique_ptr<File> log,
                 int64_t created_wall_ms)
    : base_(base),
      dir_(std::move(dir)),
      file_suffix_(std::move(file_suffix)),
      log_(std::move(log)),
      offset_index_(base),
      time_index_(base),
      next_offset_(base),
      offset_of_max_timestamp_(base),
      created_wall_ms_(created_wall_ms) {}

Task<Result<std::shared_ptr<Segment>>> Segment::Create(FileSystem& fs, const std::string& dir,
                                                       Offset base, int64_t created_wall_ms,
                                                       std::string file_suffix) {
  const std::string path = sf::SegmentPath(dir, base, sf::kLogSuffix) + file_suffix;
  RUNNEL_CO_ASSIGN_OR_RETURN(std::unique_ptr<File> file,
                             co_await fs.Open(path, OpenOptions{.create = true, .truncate = true}));
  co_return std::shared_ptr<Segment>(
      new Segment(base, dir, std::move(file_suffix), std::move(file), created_wall_ms));
}

Task<Result<std::shared_ptr<Segment>>> Segment::Open(FileSystem& fs, const std::string& dir,
                                                     Offset base, std::string file_suffix) {
  const std::string path = sf::SegmentPath(dir, base, sf::kLogSuffix) + file_suffix;
  RUNNEL_CO_ASSIGN_OR_RETURN(std::unique_ptr<File> file, co_await fs.Open(path, OpenOptions{}));
  co_return std::shared_ptr<Segment>(
      new Segment(base, dir, std::move(file_suffix), std::move(file), 0));
}

std::string Segment::path(std::string_view suffix) const {
  return sf::SegmentPath(dir_, base_, suffix) + file_suffix_;
}

void Segment::Track(const BatchInfo& b, uint32_t index_interval_bytes) {
  RUNNEL_ASSERT(b.position == size_bytes_, "batch at position {} tracked at size {}", b.position,
                size_bytes_);
  RUNNEL_ASSERT(b.base_offset >= next_offset_ && b.last_offset >= b.base_offset,
                "batch [{}, {}] after next offset {} in segment {}", b.base_offset.value(),
                b.last_offset.value(), next_offset_.value(), base_.value());
  RUNNEL_ASSERT(b.last_offset.value() - base_.value() <= INT32_MAX,
                "batch ending at {} outside segment {}", b.last_offset.value(), base_.value());
  if (b.max_timestamp_ms > max_timestamp_ms_) {
    max_timestamp_ms_ = b.max_timestamp_ms;
    offset_of_max_timestamp_ = b.base_offset;
  }
  if (size_bytes_ > 0 && bytes_since_index_entry_ > index_interval_bytes) {
    offset_index_.Append(b.base_offset, b.position);
    time_index_.MaybeAppend(max_timestamp_ms_, offset_of_max_timestamp_);
    bytes_since_index_entry_ = 0;
  }
  bytes_since_index_entry_ += b.size_bytes;
  size_bytes_ += b.size_bytes;
  next_offset_ = b.next_offset();
  ++batch_count_;
}

void Segment::SealTimeIndex() {
  time_index_.MaybeAppend(max_timestamp_ms_, offset_of_max_timestamp_);
}

void Segment::AdoptIndexes(OffsetIndex offset_index, TimeIndex time_index, const BatchInfo& last,
                           uint64_t size_bytes) {
  offset_index_ = std::move(offset_index);
  time_index_ = std::move(time_index);
  size_bytes_ = size_bytes;
  next_offset_ = last.next_offset();
  batch_count_ = 1;  // at least; only emptiness matters
  const uint64_t last_entry = offset_index_.empty() ? 0 : offset_index_.entries().back().position;
  bytes_since_index_entry_ = size_bytes - last_entry;
  if (!time_index_.empty()) {
    max_timestamp_ms_ = time_index_.entries().back().timestamp_ms;
    offset_of_max_timestamp_ = Offset(base_.value() + time_index_.entries().back().relative_offset);
  }
  if (last.max_timestamp_ms > max_timestamp_ms_) {
    max_timestamp_ms_ = last.max_timestamp_ms;
    offset_of_max_timestamp_ = last.base_offset;
  }
}

void Segment::ResetTo(uint64_t position) {
  RUNNEL_ASSERT(position == 0, "segments are reset to empty and rescanned");
  offset_index_.Clear();
  time_index_.Clear();
  next_offset_ = base_;
  size_bytes_ = 0;
  batch_count_ = 0;
  bytes_since_index_entry_ = 0;
  max_timestamp_ms_ = kNoTimestamp;
  offset_of_max_timestamp_ = base_;
  synced_bytes_ = std::min(synced_bytes_, position);
}

// The files are handed to the segment only once written: a sync round, which runs beside the
// write lock, must never see them half written (nor close them under a write).
Task<Status> Segment::WriteIndexFiles(FileSystem& fs) {
  index_files_durable_ = false;
  index_file_.reset();
  time_index_file_.reset();
  std::vector<std::byte> bytes;
  const OpenOptions create{.create = true, .truncate = true};
  RUNNEL_CO_ASSIGN_OR_RETURN(std::unique_ptr<File> index,
                             co_await fs.Open(path(sf::kIndexSuffix), create));
  offset_index_.Encode(bytes);
  if (!bytes.empty()) RUNNEL_CO_TRY(co_await index->WriteAt(0, bytes));
  RUNNEL_CO_ASSIGN_OR_RETURN(std::unique_ptr<File> time,
                             co_await fs.Open(path(sf::kTimeIndexSuffix), create));
  time_index_.Encode(bytes);
  if (!bytes.empty()) RUNNEL_CO_TRY(co_await time->WriteAt(0, bytes));
  index_file_ = std::move(index);
  time_index_file_ = std::move(time);
  co_return Status::Ok();
}

// Takes the files first: a segment removed meanwhile (retention) only loses their names.
Task<Status> Segment::SyncIndexFiles() {
  std::unique_ptr<File> index = std::move(index_file_);
  std::unique_ptr<File> time = std::move(time_index_file_);
  for (std::unique_ptr<File>* f : {&index, &time}) {
    if (*f == nullptr) continue;
    RUNNEL_CO_TRY(co_await (*f)->Sync());
    RUNNEL_CO_TRY(co_await (*f)->Close());
  }
  co_return Status::Ok();
}

Task<Status> Segment::RemoveFiles(FileSystem& fs) {
  index_file_.reset();
  time_index_file_.reset();
  for (std::string_view suffix : {sf::kLogSuffix, sf::kIndexSuffix, sf::kTimeIndexSuffix}) {
    Status s = co_await fs.Remove(path(suffix));
    if (!s.ok() && !s.Is(ErrorKind::kNotFound)) co_return s;
  }
  co_return Status::Ok();
}

HeaderCursor::HeaderCursor(File& file, Offset segment_base, uint64_t position, uint64_t end,
                           size_t read_bytes)
    : file_(&file),
      segment_base_(segment_base),
      position_(position),
      end_(end),
      buffer_(std::max(read_bytes, bf::kHeaderBytes)) {}

void HeaderCursor::CheckSequence(Offset expected, Offset dense_from, Offset limit,
                                 bool first_exact) {
  check_ = true;
  expected_ = expected;
  dense_from_ = dense_from;
  limit_ = limit;
  exact_ = first_exact;
}

Task<Result<std::optional<BatchInfo>>> HeaderCursor::Next() {
  if (position_ >= end_) co_return std::optional<BatchInfo>();
  if (end_ - position_ < bf::kHeaderBytes) {
    co_return Status::Corruption(
        fmt::format("{}: partial batch header at position {}", file_->path(), position_));
  }
  if (position_ < buffer_position_ ||
      position_ + bf::kHeaderBytes > buffer_position_ + buffer_bytes_) {
    const size_t want = static_cast<size_t>(std::min<uint64_t>(buffer_.size(), end_ - position_));
    size_t got = 0;
    while (got < bf::kHeaderBytes) {
      RUNNEL_CO_ASSIGN_OR_RETURN(
          size_t n,
          co_await file_->ReadAt(position_ + got, std::span(buffer_).subspan(got, want - got)));
      if (n == 0) break;
      got += n;
    }
    if (got < bf::kHeaderBytes) {
      co_return Status::Corruption(
          fmt::format("{}: file ends inside the batch header at {}", file_->path(), position_));
    }
    buffer_position_ = position_;
    buffer_bytes_ = got;
  }
  const size_t at = static_cast<size_t>(position_ - buffer_position_);
  RUNNEL_CO_ASSIGN_OR_RETURN(
      BatchInfo b, ParseBatchHeader(std::span(buffer_).subspan(at, bf::kHeaderBytes), position_));
  if (b.size_bytes > end_ - position_) {
    co_return Status::Corruption(
        fmt::format("{}: batch at position {} of {} bytes passes the end "
                    "at {}",
                    file_->path(), position_, b.size_bytes, end_));
  }
  if (b.base_offset < segment_base_ || b.last_offset.value() - segment_base_.value() > INT32_MAX) {
    co_return Status::Corruption(fmt::format("{}: batch [{}, {}] outside segment {}", file_->path(),
                                             b.base_offset.value(), b.last_offset.value(),
                                             segment_base_.value()));
  }
  if (check_) {
    const bool gap = b.base_offset > expected_;
    if (b.base_offset < expected_ || (gap && (exact_ || expected_ >= dense_from_)) ||
        b.last_offset >= limit_) {
      co_return Status::Corruption(fmt::format(
          "{}: batch [{}, {}] at position {} does not follow offset {} (segment end {})",
          file_->path(), b.base_offset.value(), b.last_offset.value(), position_,
          expected_.value() - 1, limit_.value()));
    }
    expected_ = b.next_offset();
    exact_ = false;
  }
  position_ += b.size_bytes;
  co_return std::optional<BatchInfo>(b);
}

BatchReader::BatchReader(File& file, uint64_t file_bytes, std::vector<std::byte>& buffer,
                         size_t chunk_bytes, uint64_t position)
    : file_(file),
      file_bytes_(file_bytes),
      buffer_(buffer),
      chunk_bytes_(chunk_bytes),
      position_(position),
      buffered_position_(position) {}

Task<Result<std::span<const std::byte>>> BatchReader::Get(uint64_t position, size_t n) {
  if (position >= buffered_position_ && position + n <= buffered_position_ + buffered_bytes_) {
    co_return std::span<const std::byte>(buffer_.data() + (position - buffered_position_), n);
  }
  const size_t want =
      static_cast<size_t>(std::min<uint64_t>(std::max(n, chunk_bytes_), file_bytes_ - position));
  // Bytes already buffered from `position` on move to the front instead of being read again.
  size_t kept = 0;
  if (position >= buffered_position_ && position < buffered_position_ + buffered_bytes_) {
    kept = static_cast<size_t>(buffered_position_ + buffered_bytes_ - position);
    std::memmove(buffer_.data(), buffer_.data() + (position - buffered_position_), kept);
  }
  if (buffer_.size() < want) buffer_.resize(want);
  size_t got = kept;
  while (got < want) {
    RUNNEL_CO_ASSIGN_OR_RETURN(
        size_t read,
        co_await file_.ReadAt(position + got, std::span(buffer_).subspan(got, want - got)));
    if (read == 0) break;
    got += read;
  }
  buffered_position_ = position;
  buffered_bytes_ = got;
  if (got < n) {
    co_return Status::Corruption(fmt::format("{}: ends at {}, before its size {}", file_.path(),
                                             position + got, file_bytes_));
  }
  co_return std::span<const std::byte>(buffer_.data(), n);
}

Task<Result<std::optional<RecordBatchView>>> BatchReader::Next() {
  if (position_ >= file_bytes_) co_return std::optional<RecordBatchView>();
  const uint64_t left = file_bytes_ - position_;
  auto corrupt = [&](std::string why) {
    return Status::Corruption(fmt::format("{} at position {}: {}", file_.path(), position_, why));
  };
  if (left < bf::kHeaderBytes) {
    co_return corrupt(fmt::format("a partial batch header of {} bytes (torn write)", left));
  }
  RUNNEL_CO_ASSIGN_OR_RETURN(std::span<const std::byte> header,
                             co_await Get(position_, bf::kHeaderBytes));
  const int32_t length = static_cast<int32_t>(LoadBe32(header.data() + bf::kBatchLengthOffset));
  if (length < bf::kBatchLengthMin) co_return corrupt(fmt::format("batchLength {}", length));
  const uint64_t size = static_cast<uint64_t>(length) + bf::kLogOverheadBytes;
  if (size > left) {
    co_return corrupt(fmt::format("a batch of {} bytes with {} left (torn write)", size, left));
  }
  RUNNEL_CO_ASSIGN_OR_RETURN(std::span<const std::byte> bytes, co_await Get(position_, size));
  Result<RecordBatchView> view = RecordBatchView::Parse(bytes);
  if (!view.ok()) co_return corrupt(view.status().ToString());
  position_ += size;
  co_return std::optional<RecordBatchView>(*view);
}

}  // namespace runnel::engine
