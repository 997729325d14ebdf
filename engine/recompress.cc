#include "engine/recompress.h"

#include <fmt/format.h>

#include <cstring>

#include "engine/crc32c.h"
#include "engine/record_batch_format.h"
#include "engine/varint.h"

namespace runnel::engine {

namespace bf = batch_format;

namespace {

// Checks every record of a plain record section against the batch's header, as a reader
// would: a converted batch must hold exactly the records the producer's held.
Status CheckRecords(const RecordBatchView& batch, Bytes plain) {
  if (static_cast<size_t>(batch.record_count()) > plain.size() / bf::kRecordBytesMin) {
    return Status::Corruption(fmt::format("record count {} cannot fit in {} decompressed bytes",
                                          batch.record_count(), plain.size()));
  }
  RecordIterator it(plain, batch.iteration_context());
  Record record;
  while (it.Next(record)) {
  }
  return it.status();
}

}  // namespace

Status BatchRecompressor::Recompress(const RecordBatchView& batch, Codec codec,
                                     std::vector<std::byte>& out) {
  // The plain record section: the batch's own bytes when uncompressed, else decompressed into
  // plain_. An empty section with no records stays empty whatever the codec (compaction writes
  // such batches to keep a producer's state).
  Bytes plain;
  if (batch.codec() == Codec::kNone) {
    plain = batch.records_bytes();
    if (plain.size() > decompressed_bytes_max_) {
      return Status::Limit(fmt::format("records of {} bytes exceed decompressed_bytes_max {}",
                                       plain.size(), decompressed_bytes_max_));
    }
  } else if (!(batch.records_bytes().empty() && batch.record_count() == 0)) {
    Status s = decompressor_.Decompress(batch.codec(), batch.records_bytes(),
                                        decompressed_bytes_max_, plain_);
    if (!s.ok()) return s.WithContext(fmt::format("{} batch", CodecName(batch.codec())));
    plain = Bytes(plain_);
  }
  RUNNEL_TRY(CheckRecords(batch, plain));

  const size_t start = out.size();
  out.resize(start + bf::kHeaderBytes);
  std::memcpy(out.data() + start, batch.bytes().data(), bf::kHeaderBytes);
  if (!plain.empty()) {
    if (codec == Codec::kNone) {
      out.insert(out.end(), plain.begin(), plain.end());
    } else if (Status s = Compress(codec, plain, out, compress_); !s.ok()) {
      out.resize(start);
      return s.WithContext(fmt::format("compressing with {}", CodecName(codec)));
    }
  }
  const size_t total = out.size() - start;
  if (total - bf::kLogOverheadBytes > static_cast<size_t>(INT32_MAX)) {
    out.resize(start);
    return Status::Limit(
        fmt::format("converted batch of {} bytes exceeds the int32 batchLength", total));
  }
  std::byte* p = out.data() + start;
  StoreBe32(p + bf::kBatchLengthOffset, static_cast<uint32_t>(total - bf::kLogOverheadBytes));
  const uint16_t attributes = static_cast<uint16_t>(
      (batch.attributes() & ~bf::kAttrCompressionMask) | static_cast<uint16_t>(codec));
  StoreBe16(p + bf::kAttributesOffset, attributes);
  StoreBe32(p + bf::kCrcOffset,
            crc32c::Value(p + bf::kCrcCoverageOffset, total - bf::kCrcCoverageOffset));

  // Pair the write with a read: what we built must parse (a CRC pass; simulation builds only).
  RUNNEL_ASSERT_SIM(RecordBatchView::Parse(Bytes(p, total)).ok(), "recompressed batch invalid");
  return Status::Ok();
}

Result<bool> RecompressBatches(std::span<const std::byte> records, Codec codec,
                               const RecompressLimits& limits, BatchRecompressor& recompressor,
                               std::vector<std::byte>& out) {
  out.clear();
  std::vector<RecordBatchView> batches;
  RUNNEL_TRY(SplitBatches(records, limits.batch_count_max, batches));
  bool convert = false;
  for (const RecordBatchView& b : batches) {
    if (b.size_bytes() > limits.batch_bytes_max) {
      return Status::Limit(fmt::format("batch of {} bytes exceeds max.message.bytes {}",
                                       b.size_bytes(), limits.batch_bytes_max));
    }
    convert = convert || b.codec() != codec;
  }
  if (!convert) return false;
  for (const RecordBatchView& b : batches) {
    const size_t start = out.size();
    Status s;
    if (b.codec() == codec) {
      out.insert(out.end(), b.bytes().begin(), b.bytes().end());
    } else {
      s = recompressor.Recompress(b, codec, out);
    }
    if (s.ok() && out.size() - start > limits.batch_bytes_max) {
      s = Status::Limit(
          fmt::format("converted to {}, the batch has {} bytes: over max.message.bytes {}",
                      CodecName(codec), out.size() - start, limits.batch_bytes_max));
    }
    if (s.ok() && out.size() > limits.output_bytes_max) {
      s = Status::Limit(fmt::format("converted batches exceed {} bytes", limits.output_bytes_max));
    }
    if (!s.ok()) {
      out.clear();
      return s.WithContext(fmt::format("batch at byte {}", b.bytes().data() - records.data()));
    }
  }
  return true;
}

}  // namespace runnel::engine
