// Properties of the batch format.
//   * Round trip: for any records and codec, Build -> Parse -> iterate gives back the records.
//   * Integrity: no single bit flip anywhere in a batch yields wrong records. It is caught by
//     the CRC or the framing, except in the two header fields the broker rewrites (baseOffset,
//     partitionLeaderEpoch), which sit outside the CRC by design and leave the records intact.
//   * Robustness: record sections with arbitrary damage (CRC recomputed so the damage reaches
//     the record parser and the codecs) never over-read or over-allocate: ASan runs this too.
#include <gtest/gtest.h>
#include <rapidcheck/gtest.h>

#include <vector>

#include "engine/batch_builder.h"
#include "engine/crc32c.h"
#include "engine/record_batch.h"
#include "engine/varint.h"
#include "tests/storage/storage_test_util.h"

namespace runnel::engine {
namespace {

using testing::TestHeader;
using testing::TestRecord;

const std::vector<Codec> kCodecs = {Codec::kNone, Codec::kGzip, Codec::kSnappy, Codec::kLz4,
                                    Codec::kZstd};

// A container of `min` to `end - 1` elements (rapidcheck's container() takes a fixed count).
template <typename Container, typename Gen>
auto Sized(size_t min, size_t end, Gen gen) {
  return rc::gen::mapcat(rc::gen::inRange<size_t>(min, end),
                         [gen](size_t n) { return rc::gen::container<Container>(n, gen); });
}

rc::Gen<std::optional<std::string>> GenNullable(size_t max) {
  return rc::gen::weightedOneOf<std::optional<std::string>>(
      {{1, rc::gen::just(std::optional<std::string>())},
       {6, rc::gen::map(Sized<std::string>(0, max, rc::gen::arbitrary<char>()),
                        [](std::string s) { return std::optional<std::string>(std::move(s)); })}});
}

rc::Gen<TestRecord> GenRecord() {
  return rc::gen::build<TestRecord>(
      rc::gen::set(&TestRecord::timestamp_ms,
                   rc::gen::inRange<int64_t>(-(int64_t{1} << 50), int64_t{1} << 50)),
      rc::gen::set(&TestRecord::key, GenNullable(40)),
      rc::gen::set(&TestRecord::value, GenNullable(300)),
      rc::gen::set(&TestRecord::headers,
                   Sized<std::vector<TestHeader>>(
                       0, 4,
                       rc::gen::build<TestHeader>(
                           rc::gen::set(&TestHeader::key, rc::gen::arbitrary<std::string>()),
                           rc::gen::set(&TestHeader::value, GenNullable(20))))));
}

std::vector<std::byte> BuildBatch(const std::vector<TestRecord>& records, Codec codec) {
  BatchOptions o;
  o.codec = codec;
  o.base_offset = Offset(1000);
  o.producer_id = ProducerId(7);
  o.producer_epoch = ProducerEpoch(1);
  o.base_sequence = 0;
  BatchBuilder b(o);
  std::vector<RecordHeader> hs;
  for (const TestRecord& r : records) {
    hs.clear();
    for (const TestHeader& h : r.headers) {
      hs.push_back({Bytes(reinterpret_cast<const std::byte*>(h.key.data()), h.key.size()),
                    testing::AsNullable(h.value)});
    }
    b.Append(r.timestamp_ms, testing::AsNullable(r.key), testing::AsNullable(r.value), hs);
  }
  return b.Build().value();
}

// Reads all records; nullopt when parsing or iteration fails.
std::optional<std::vector<TestRecord>> TryReadAll(Bytes bytes, RecordReader& reader) {
  Result<RecordBatchView> v = RecordBatchView::Parse(bytes);
  if (!v.ok()) return std::nullopt;
  Result<RecordIterator> it = reader.Open(*v);
  if (!it.ok()) return std::nullopt;
  std::vector<TestRecord> out;
  Record r;
  while (it->Next(r)) out.push_back(testing::ToTestRecord(r));
  if (!it->status().ok()) return std::nullopt;
  return out;
}

RC_GTEST_PROP(RecordBatchProperty, BuildParseIterateRoundTrips, ()) {
  const auto records = *Sized<std::vector<TestRecord>>(0, 40, GenRecord());
  const Codec codec = *rc::gen::elementOf(kCodecs);
  const auto bytes = BuildBatch(records, codec);
  Result<RecordBatchView> v = RecordBatchView::Parse(bytes);
  RC_ASSERT(v.ok());
  RC_ASSERT(v->codec() == codec);
  RC_ASSERT(v->record_count() == static_cast<int32_t>(records.size()));
  RC_ASSERT(v->base_offset() == Offset(1000));
  RecordReader reader(1 << 24);
  Result<RecordIterator> it = reader.Open(*v);
  RC_ASSERT(it.ok());
  std::vector<TestRecord> got;
  Record r;
  int64_t expected_offset = 1000;
  int64_t max_timestamp = kNoTimestamp;
  while (it->Next(r)) {
    RC_ASSERT(r.offset == Offset(expected_offset++));
    got.push_back(testing::ToTestRecord(r));
    max_timestamp = std::max(max_timestamp, r.timestamp_ms);
  }
  RC_ASSERT(it->status().ok());
  RC_ASSERT(got == records);
  RC_ASSERT(v->max_timestamp() == max_timestamp);
  if (!records.empty()) RC_ASSERT(ValidateForAppend(*v, reader).ok());
}

RC_GTEST_PROP(RecordBatchProperty, NoSingleBitFlipYieldsWrongRecords, ()) {
  const auto records = *Sized<std::vector<TestRecord>>(1, 8, GenRecord());
  const Codec codec = *rc::gen::elementOf(kCodecs);
  const auto original = BuildBatch(records, codec);
  RecordReader reader(1 << 22);
  // Every bit of small batches; a sample of bits for larger ones.
  const size_t bits = original.size() * 8;
  const size_t step = std::max<size_t>(1, bits / 2000);
  const size_t phase = *rc::gen::inRange<size_t>(0, step);
  std::vector<std::byte> bytes = original;
  for (size_t bit = phase; bit < bits; bit += step) {
    bytes[bit / 8] ^= std::byte{1} << (bit % 8);
    const size_t at = bit / 8;
    const bool rewritable = at < 8 || (at >= 12 && at < 16);
    std::optional<std::vector<TestRecord>> got = TryReadAll(bytes, reader);
    if (rewritable) {
      // Outside the CRC by design; records are unchanged (offsets move with baseOffset).
      RC_ASSERT(got.has_value());
      RC_ASSERT(*got == records);
    } else {
      RC_ASSERT(!got.has_value());
    }
    bytes[bit / 8] ^= std::byte{1} << (bit % 8);
  }
}

RC_GTEST_PROP(RecordBatchProperty, DamagedRecordsWithAValidCrcNeverOverRead, ()) {
  const auto records = *Sized<std::vector<TestRecord>>(1, 10, GenRecord());
  const Codec codec = *rc::gen::elementOf(kCodecs);
  std::vector<std::byte> bytes = BuildBatch(records, codec);
  const auto edits = *Sized<std::vector<std::pair<uint32_t, uint8_t>>>(
      1, 6, rc::gen::arbitrary<std::pair<uint32_t, uint8_t>>());
  const size_t section = bytes.size() - batch_format::kRecordsOffset;
  for (auto [pos, value] : edits) {
    bytes[batch_format::kRecordsOffset + pos % section] = static_cast<std::byte>(value);
  }
  // Also sometimes lie about the record count.
  if (*rc::gen::arbitrary<bool>()) {
    StoreBe32(bytes.data() + batch_format::kRecordCountOffset, *rc::gen::inRange<uint32_t>(0, 100));
  }
  StoreBe32(bytes.data() + batch_format::kCrcOffset,
            crc32c::Value(bytes.data() + batch_format::kCrcCoverageOffset,
                          bytes.size() - batch_format::kCrcCoverageOffset));
  // Copy into an exactly-sized heap buffer so ASan sees any read past the end.
  std::vector<std::byte> exact(bytes.begin(), bytes.end());
  exact.shrink_to_fit();
  RecordReader reader(1 << 16);
  Result<RecordBatchView> v = RecordBatchView::Parse(exact);
  if (!v.ok()) {
    RC_ASSERT(v.status().Is(ErrorKind::kCorruption));
    return;
  }
  Result<RecordsSummary> s = ValidateRecords(*v, reader);
  if (s.ok()) {
    RC_ASSERT(s->record_count == v->record_count());
  } else {
    RC_ASSERT(s.status().Is(ErrorKind::kCorruption) || s.status().Is(ErrorKind::kLimit));
  }
}

RC_GTEST_PROP(RecordBatchProperty, SplitterFindsEveryBatchAndTheTail, ()) {
  const auto counts = *Sized<std::vector<int>>(0, 6, rc::gen::inRange(1, 5));
  std::vector<std::byte> buffer;
  std::vector<size_t> ends;
  int64_t offset = 0;
  for (int count : counts) {
    std::vector<TestRecord> records(count);
    for (int i = 0; i < count; ++i) records[i].value = std::string(static_cast<size_t>(i * 3), 'x');
    auto b = BuildBatch(records, *rc::gen::elementOf(kCodecs));
    StoreBe64(b.data(), static_cast<uint64_t>(offset));
    offset += count;
    buffer.insert(buffer.end(), b.begin(), b.end());
    ends.push_back(buffer.size());
  }
  const size_t cut = *rc::gen::inRange<size_t>(0, buffer.size() + 1);
  BatchSplitter splitter(Bytes(buffer).first(cut));
  size_t found = 0;
  while (auto v = splitter.Next()) {
    RC_ASSERT(found < ends.size());
    RC_ASSERT(splitter.position() == ends[found]);
    ++found;
  }
  RC_ASSERT(splitter.status().ok());
  const size_t whole = static_cast<size_t>(
      std::count_if(ends.begin(), ends.end(), [&](size_t e) { return e <= cut; }));
  RC_ASSERT(found == whole);
  RC_ASSERT(splitter.partial_tail_bytes() == cut - (whole == 0 ? 0 : ends[whole - 1]));
}

}  // namespace
}  // namespace runnel::engine
