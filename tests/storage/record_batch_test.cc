// RecordBatch v2: parsing and validation of hand-assembled and client-produced bytes, header
// rewrites, record iteration and its failure modes, splitting, and BatchBuilder output.
#include "engine/record_batch.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "engine/batch_builder.h"
#include "engine/crc32c.h"
#include "engine/varint.h"
#include "tests/storage/storage_test_util.h"

namespace runnel::engine {
namespace {

using testing::AssembleBatch;
using testing::PutZigZag;
using testing::RawHeader;
using testing::TestHeader;
using testing::TestRecord;
using testing::ToBytes;

constexpr size_t kDecompressedMax = 1 << 20;

std::vector<TestRecord> ReadAll(const RecordBatchView& batch, Status* status = nullptr) {
  RecordReader reader(kDecompressedMax);
  std::vector<TestRecord> out;
  Result<RecordIterator> it = reader.Open(batch);
  if (!it.ok()) {
    if (status != nullptr) *status = it.status();
    return out;
  }
  Record r;
  while (it->Next(r)) out.push_back(testing::ToTestRecord(r));
  if (status != nullptr) *status = it->status();
  return out;
}

// One record: body fields as given, length prefix computed.
std::vector<std::byte> RawRecord(int64_t ts_delta, int32_t offset_delta, int key_length,
                                 std::string_view key, int value_length, std::string_view value,
                                 int header_count = 0, std::vector<std::byte> header_bytes = {}) {
  std::vector<std::byte> body;
  body.push_back(std::byte{0});
  PutZigZag(body, ts_delta);
  PutZigZag(body, offset_delta);
  PutZigZag(body, key_length);
  for (char c : key) body.push_back(static_cast<std::byte>(c));
  PutZigZag(body, value_length);
  for (char c : value) body.push_back(static_cast<std::byte>(c));
  PutZigZag(body, header_count);
  body.insert(body.end(), header_bytes.begin(), header_bytes.end());
  std::vector<std::byte> out;
  PutZigZag(out, static_cast<int64_t>(body.size()));
  out.insert(out.end(), body.begin(), body.end());
  return out;
}

// ---- byte-exact format ------------------------------------------------------------------------

TEST(RecordBatch, BuilderMatchesHandAssembledBytes) {
  // One record, key "k", value "v", timestamp 1000, no headers.
  std::vector<std::byte> record = ToBytes({0x10, 0x00, 0x00, 0x00, 0x02, 'k', 0x02, 'v', 0x00});
  RawHeader h;
  h.base_offset = 0;
  h.partition_leader_epoch = -1;
  h.base_timestamp = 1000;
  h.max_timestamp = 1000;
  h.record_count = 1;
  const auto want = AssembleBatch(h, record);
  ASSERT_EQ(want.size(), 70u);

  BatchBuilder b({});
  b.Append(1000, ToBytes("k"), ToBytes("v"));
  Result<std::vector<std::byte>> got = b.Build();
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  EXPECT_EQ(*got, want);
}

TEST(RecordBatch, AccessorsReadEveryHeaderField) {
  RawHeader h;
  h.base_offset = 0x0102030405060708;
  h.partition_leader_epoch = 77;
  h.attributes = 0x10 | 0x08 | 0x40;  // transactional, LogAppendTime, delete horizon
  h.last_offset_delta = 0;
  h.base_timestamp = 111;
  h.max_timestamp = 222;
  h.producer_id = 999;
  h.producer_epoch = 3;
  h.base_sequence = 41;
  h.record_count = 1;
  const auto bytes = AssembleBatch(h, RawRecord(0, 0, -1, "", 1, "x"));
  Result<RecordBatchView> v = RecordBatchView::Parse(bytes);
  ASSERT_TRUE(v.ok()) << v.status().ToString();
  EXPECT_EQ(v->base_offset(), Offset(0x0102030405060708));
  EXPECT_EQ(v->last_offset(), Offset(0x0102030405060708));
  EXPECT_EQ(v->next_offset(), Offset(0x0102030405060709));
  EXPECT_EQ(v->batch_length(), static_cast<int32_t>(bytes.size() - 12));
  EXPECT_EQ(v->partition_leader_epoch(), LeaderEpoch(77));
  EXPECT_EQ(v->magic(), 2);
  EXPECT_EQ(v->crc(), testing::ReferenceCrc32c(Bytes(bytes).subspan(21)));
  EXPECT_EQ(v->codec(), Codec::kNone);
  EXPECT_EQ(v->timestamp_type(), TimestampType::kLogAppendTime);
  EXPECT_TRUE(v->is_transactional());
  EXPECT_FALSE(v->is_control());
  EXPECT_TRUE(v->has_delete_horizon());
  EXPECT_EQ(v->base_timestamp(), 111);
  EXPECT_EQ(v->max_timestamp(), 222);
  EXPECT_EQ(v->producer_id(), ProducerId(999));
  EXPECT_EQ(v->producer_epoch(), ProducerEpoch(3));
  EXPECT_EQ(v->base_sequence(), 41);
  EXPECT_EQ(v->last_sequence(), 41);
  EXPECT_EQ(v->record_count(), 1);
  // LogAppendTime: records take the batch's maxTimestamp.
  const auto records = ReadAll(*v);
  ASSERT_EQ(records.size(), 1u);
  EXPECT_EQ(records[0].timestamp_ms, 222);
  EXPECT_FALSE(records[0].key.has_value());
  EXPECT_EQ(records[0].value, "x");
}

TEST(RecordBatch, LastSequenceWrapsAtInt32Max) {
  RawHeader h;
  h.producer_id = 1;
  h.producer_epoch = 0;
  h.base_sequence = INT32_MAX - 1;
  h.last_offset_delta = 3;
  h.record_count = 0;
  const auto bytes = AssembleBatch(h, {});
  Result<RecordBatchView> v = RecordBatchView::Parse(bytes);
  ASSERT_TRUE(v.ok()) << v.status().ToString();
  EXPECT_EQ(v->last_sequence(), 1);
}

// Batches as the Go client sarama encodes them (its record_test.go vectors: CRCs and
// compressed payloads produced independently of this code base). Each holds one record:
// timestamp delta 5, key 01020304, value 050607, one header 08090a = 0b0c.
struct ClientVector {
  const char* name;
  uint16_t attributes;
  uint32_t crc;
  std::vector<int> records;
};

TEST(RecordBatch, ParsesBatchesFromAnotherClient) {
  const std::vector<int> plain = {40, 0, 10, 0, 8, 1, 2,  3, 4,  6, 5,
                                  6,  7, 2,  6, 8, 9, 10, 4, 11, 12};
  const std::vector<ClientVector> vectors = {
      {"uncompressed", 0, 0x547961FD, plain},
      {"gzip", 1, 0xE74ACEA5, {31, 139, 8,  0,  0, 9, 110, 136, 0,  255, 0,  21, 0, 234, 255, 40,
                               0,  10,  0,  8,  1, 2, 3,   4,   6,  5,   6,  7,  2, 6,   8,   9,
                               10, 4,   11, 12, 3, 0, 173, 201, 88, 103, 21, 0,  0, 0}},
      {"snappy (raw, no xerial framing)", 2, 0x15009F61, {21, 80, 40, 0, 10, 0, 8, 1,  2, 3,  4, 6,
                                                          5,  6,  7,  2, 6,  8, 9, 10, 4, 11, 12}},
      {"lz4 frame", 3, 0xA94A77C5, {4,  34, 77, 24, 100, 112, 185, 21, 0,  0,  128, 40, 0, 10,
                                    0,  8,  1,  2,  3,   4,   6,   5,  6,  7,  2,   6,  8, 9,
                                    10, 4,  11, 12, 0,   0,   0,   0,  12, 59, 239, 146}},
  };
  for (const ClientVector& cv : vectors) {
    SCOPED_TRACE(cv.name);
    std::vector<std::byte> records;
    for (int x : cv.records) records.push_back(static_cast<std::byte>(x));
    RawHeader h;
    h.attributes = cv.attributes;
    h.base_timestamp = 1479847795000;
    h.max_timestamp = 0;
    h.producer_id = 0;
    h.producer_epoch = 0;
    h.base_sequence = 0;
    h.record_count = 1;
    h.crc = cv.crc;  // theirs, not ours
    const auto bytes = AssembleBatch(h, records);
    Result<RecordBatchView> v = RecordBatchView::Parse(bytes);
    ASSERT_TRUE(v.ok()) << v.status().ToString();
    Status s;
    const auto got = ReadAll(*v, &s);
    ASSERT_TRUE(s.ok()) << s.ToString();
    ASSERT_EQ(got.size(), 1u);
    EXPECT_EQ(got[0].timestamp_ms, 1479847795005);
    EXPECT_EQ(got[0].key, std::string("\x01\x02\x03\x04"));
    EXPECT_EQ(got[0].value, std::string("\x05\x06\x07"));
    ASSERT_EQ(got[0].headers.size(), 1u);
    EXPECT_EQ(got[0].headers[0].key, std::string("\x08\x09\x0a"));
    EXPECT_EQ(got[0].headers[0].value, std::string("\x0b\x0c"));
  }
  // Their empty batch and empty control batch (all other header fields zero).
  for (auto [attributes, crc] :
       {std::pair<uint16_t, uint32_t>{0, 0x595FB7DD}, {0x20, 0x512E43D9}}) {
    RawHeader h;
    h.attributes = attributes;
    h.producer_id = 0;
    h.producer_epoch = 0;
    h.base_sequence = 0;
    h.crc = crc;
    const auto bytes = AssembleBatch(h, {});
    Result<RecordBatchView> v = RecordBatchView::Parse(bytes);
    ASSERT_TRUE(v.ok()) << v.status().ToString();
    EXPECT_EQ(v->is_control(), attributes == 0x20);
    EXPECT_EQ(v->record_count(), 0);
  }
}

// ---- header validation ------------------------------------------------------------------------

TEST(RecordBatch, RejectsBadHeaders) {
  const auto record = RawRecord(0, 0, 1, "k", 1, "v");
  RawHeader good;
  good.record_count = 1;
  ASSERT_TRUE(RecordBatchView::Parse(AssembleBatch(good, record)).ok());

  auto expect = [&](RawHeader h, ErrorKind kind, std::string_view fragment) {
    const auto bytes = AssembleBatch(h, record);
    Result<RecordBatchView> v = RecordBatchView::Parse(bytes);
    ASSERT_FALSE(v.ok());
    EXPECT_TRUE(v.status().Is(kind)) << v.status().ToString();
    EXPECT_NE(v.status().message().find(fragment), std::string::npos) << v.status().ToString();
  };
  RawHeader h = good;
  h.magic = 1;
  expect(h, ErrorKind::kUnsupported, "magic 1");
  h.magic = 3;
  expect(h, ErrorKind::kCorruption, "magic");
  h = good;
  h.crc = 0x12345678;
  expect(h, ErrorKind::kCorruption, "CRC-32C mismatch");
  h = good;
  h.batch_length = 49;
  expect(h, ErrorKind::kCorruption, "batchLength");
  h.batch_length = 1000;
  expect(h, ErrorKind::kCorruption, "batchLength");
  h.batch_length = -5;
  expect(h, ErrorKind::kCorruption, "batchLength");
  h = good;
  h.attributes = 5;
  expect(h, ErrorKind::kCorruption, "codec 5");
  h.attributes = 7;
  expect(h, ErrorKind::kCorruption, "codec 7");
  h = good;
  h.record_count = -1;
  expect(h, ErrorKind::kCorruption, "negative record count");
  h = good;
  h.record_count = 3;  // 3 records cannot fit in 9 bytes
  expect(h, ErrorKind::kCorruption, "cannot fit");
  h = good;
  h.last_offset_delta = -1;
  expect(h, ErrorKind::kCorruption, "lastOffsetDelta");

  // Short buffers, including every prefix of a good batch.
  const auto bytes = AssembleBatch(good, record);
  for (size_t n = 0; n < bytes.size(); ++n) {
    EXPECT_TRUE(RecordBatchView::Parse(Bytes(bytes).first(n)).status().Is(ErrorKind::kCorruption))
        << n;
  }
}

TEST(RecordBatch, HeaderRewritesKeepTheCrc) {
  BatchBuilder b({});
  for (int i = 0; i < 3; ++i) b.Append(100 + i, ToBytes("k"), ToBytes("v" + std::to_string(i)));
  std::vector<std::byte> bytes = b.Build().value();
  const uint32_t crc_before = LoadBe32(bytes.data() + 17);
  Result<MutableRecordBatchView> m = MutableRecordBatchView::Parse(bytes);
  ASSERT_TRUE(m.ok());
  m->SetBaseOffset(Offset(1'000'000));
  m->SetPartitionLeaderEpoch(LeaderEpoch(12));
  EXPECT_EQ(LoadBe32(bytes.data() + 17), crc_before);
  Result<RecordBatchView> v = RecordBatchView::Parse(bytes);
  ASSERT_TRUE(v.ok()) << v.status().ToString();
  EXPECT_EQ(v->base_offset(), Offset(1'000'000));
  EXPECT_EQ(v->last_offset(), Offset(1'000'002));
  EXPECT_EQ(v->partition_leader_epoch(), LeaderEpoch(12));
  RecordIterator it = v->UncompressedRecords();
  Record r;
  int64_t expected = 1'000'000;
  while (it.Next(r)) EXPECT_EQ(r.offset, Offset(expected++));
  EXPECT_TRUE(it.status().ok());
  EXPECT_EQ(expected, 1'000'003);
}

TEST(RecordBatch, SetLogAppendTimeRewritesTheCrc) {
  BatchBuilder b({});
  b.Append(5, std::nullopt, ToBytes("a"));
  b.Append(9, std::nullopt, ToBytes("b"));
  std::vector<std::byte> bytes = b.Build().value();
  Result<MutableRecordBatchView> m = MutableRecordBatchView::Parse(bytes);
  ASSERT_TRUE(m.ok());
  EXPECT_EQ(m->max_timestamp(), 9);
  m->SetLogAppendTime(5000);
  Result<RecordBatchView> v = RecordBatchView::Parse(bytes);
  ASSERT_TRUE(v.ok()) << v.status().ToString();
  EXPECT_EQ(v->timestamp_type(), TimestampType::kLogAppendTime);
  EXPECT_EQ(v->max_timestamp(), 5000);
  for (const TestRecord& r : ReadAll(*v)) EXPECT_EQ(r.timestamp_ms, 5000);
}

// ---- records ------------------------------------------------------------------------------------

TEST(RecordBatch, NullAndEmptyAreDistinct) {
  BatchBuilder b({});
  // The header bytes must outlive `headers`, which only points at them.
  const auto h1 = ToBytes("h1");
  const auto h3 = ToBytes("h3");
  const auto x = ToBytes("x");
  const std::vector<RecordHeader> headers = {{h1, std::nullopt}, {Bytes(), Bytes()}, {h3, x}};
  b.Append(1, std::nullopt, std::nullopt, headers);
  b.Append(2, Bytes(), Bytes());
  std::vector<std::byte> bytes = b.Build().value();
  Result<RecordBatchView> v = RecordBatchView::Parse(bytes);
  ASSERT_TRUE(v.ok());
  const auto got = ReadAll(*v);
  ASSERT_EQ(got.size(), 2u);
  EXPECT_FALSE(got[0].key.has_value());
  EXPECT_FALSE(got[0].value.has_value());
  ASSERT_EQ(got[0].headers.size(), 3u);
  EXPECT_EQ(got[0].headers[0], (TestHeader{"h1", std::nullopt}));
  EXPECT_EQ(got[0].headers[1], (TestHeader{"", std::string()}));
  EXPECT_EQ(got[0].headers[2], (TestHeader{"h3", std::string("x")}));
  EXPECT_EQ(got[1].key, std::string());
  EXPECT_EQ(got[1].value, std::string());
}

// Each malformed record section is rejected by iteration with kCorruption, never read past.
TEST(RecordBatch, RecordFramingErrors) {
  struct Case {
    const char* name;
    std::vector<std::byte> records;
    int32_t count;
    int32_t last_offset_delta;
    const char* fragment;
  };
  auto concat = [](std::vector<std::vector<std::byte>> parts) {
    std::vector<std::byte> out;
    for (auto& p : parts) out.insert(out.end(), p.begin(), p.end());
    return out;
  };
  // 18 bytes each: length 17, then attributes, deltas, key "k", ten-byte value, no headers.
  const auto r0 = RawRecord(0, 0, 1, "k", 10, "vvvvvvvvvv");
  const auto r1 = RawRecord(0, 1, 1, "k", 10, "vvvvvvvvvv");
  ASSERT_EQ(r0.size(), 18u);
  auto long_length = r0;
  long_length[0] = std::byte{0x7e};  // claims 63 bytes
  auto short_length = r0;
  short_length[0] = std::byte{0x0c};  // claims 6: the value no longer fits
  std::vector<std::byte> null_header_key;
  PutZigZag(null_header_key, -1);
  PutZigZag(null_header_key, -1);
  std::vector<std::byte> header_value_overrun;
  PutZigZag(header_value_overrun, 1);
  header_value_overrun.push_back(std::byte{'h'});
  PutZigZag(header_value_overrun, 50);
  const std::vector<Case> cases = {
      {"fewer records than the count", concat({r0}), 2, 1, "bad or truncated length"},
      {"bytes after the last record", concat({r0, r1}), 1, 1, "after the last"},
      {"length past the end", concat({long_length, r1}), 2, 1, "exceeds"},
      {"fields longer than the length", concat({short_length}), 1, 0, "value overruns"},
      {"repeated offset delta", concat({r0, r0}), 2, 1, "offset delta 0 after 0"},
      {"offset delta beyond lastOffsetDelta", concat({r0, r1}), 2, 0, "offset delta 1"},
      {"negative offset delta", RawRecord(0, -1, 1, "k", 1, "v"), 1, 0, "offset delta -1"},
      {"key length below -1", RawRecord(0, 0, -2, "", 1, "v"), 1, 0, "bad key length"},
      {"value length past the record", RawRecord(0, 0, 1, "k", 9, "v"), 1, 0, "value overruns"},
      {"negative header count", RawRecord(0, 0, 1, "k", 1, "v", -1), 1, 0, "bad header count"},
      {"null header key", RawRecord(0, 0, 1, "k", 1, "v", 1, null_header_key), 1, 0,
       "header 0: bad key"},
      {"header value past the record", RawRecord(0, 0, 1, "k", 1, "v", 1, header_value_overrun), 1,
       0, "header 0: bad value"},
      {"header count with no headers", RawRecord(0, 0, 1, "k", 1, "v", 3), 1, 0, "header 0"},
      {"leftover bytes inside the record",
       [] {
         auto r = RawRecord(0, 0, 1, "k", 1, "v");
         r[0] = std::byte{0x12};  // length 9: one byte more than the fields
         r.push_back(std::byte{0});
         return r;
       }(),
       1, 0, "left over"},
      {"overlong varint", ToBytes({0x80, 0x80, 0x80, 0x80, 0x80, 0x01, 0, 0, 0, 0, 0, 0, 0}), 1, 0,
       "bad or truncated length"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    RawHeader h;
    h.record_count = c.count;
    h.last_offset_delta = c.last_offset_delta;
    const auto bytes = AssembleBatch(h, c.records);
    Result<RecordBatchView> v = RecordBatchView::Parse(bytes);
    ASSERT_TRUE(v.ok()) << v.status().ToString();
    RecordReader reader(kDecompressedMax);
    Result<RecordsSummary> summary = ValidateRecords(*v, reader);
    ASSERT_FALSE(summary.ok());
    EXPECT_TRUE(summary.status().Is(ErrorKind::kCorruption));
    EXPECT_NE(summary.status().message().find(c.fragment), std::string::npos)
        << summary.status().ToString();
  }
}

TEST(RecordBatch, CompressedBatchesIterateAndRespectTheBound) {
  Rng rng(31);
  const auto records = testing::RandomRecords(rng, 50, 2000);
  for (Codec c : {Codec::kNone, Codec::kGzip, Codec::kSnappy, Codec::kLz4, Codec::kZstd}) {
    SCOPED_TRACE(CodecName(c));
    BatchOptions o;
    o.codec = c;
    BatchBuilder b(o);
    for (const TestRecord& r : records) {
      std::vector<RecordHeader> hs;
      for (const TestHeader& h : r.headers) {
        hs.push_back({Bytes(reinterpret_cast<const std::byte*>(h.key.data()), h.key.size()),
                      testing::AsNullable(h.value)});
      }
      b.Append(r.timestamp_ms, testing::AsNullable(r.key), testing::AsNullable(r.value), hs);
    }
    const size_t uncompressed = b.records_bytes();
    std::vector<std::byte> bytes = b.Build().value();
    Result<RecordBatchView> v = RecordBatchView::Parse(bytes);
    ASSERT_TRUE(v.ok()) << v.status().ToString();
    EXPECT_EQ(v->codec(), c);
    EXPECT_EQ(ReadAll(*v), records);
    RecordReader exact(uncompressed);
    Result<RecordsSummary> s = ValidateForAppend(*v, exact);
    ASSERT_TRUE(s.ok()) << s.status().ToString();
    EXPECT_EQ(s->record_count, 50);
    EXPECT_EQ(s->last_offset_delta, 49);
    EXPECT_EQ(s->uncompressed_bytes, uncompressed);
    EXPECT_EQ(s->max_timestamp_ms, v->max_timestamp());
    RecordReader tight(uncompressed - 1);
    EXPECT_TRUE(ValidateRecords(*v, tight).status().Is(ErrorKind::kLimit));
  }
}

TEST(RecordBatch, ValidateForAppendRules) {
  RecordReader reader(kDecompressedMax);
  auto build = [](BatchOptions o, int records, std::optional<int32_t> last_delta = {}) {
    BatchBuilder b(o);
    for (int i = 0; i < records; ++i) b.Append(i, std::nullopt, ToBytes("v"));
    if (last_delta) b.set_last_offset_delta(*last_delta);
    return b.Build().value();
  };
  auto check = [&](const std::vector<std::byte>& bytes) {
    Result<RecordBatchView> v = RecordBatchView::Parse(bytes);
    EXPECT_TRUE(v.ok());
    return ValidateForAppend(*v, reader).status();
  };
  EXPECT_TRUE(check(build({}, 3)).ok());
  EXPECT_TRUE(check(build({}, 0)).Is(ErrorKind::kCorruption));
  EXPECT_TRUE(check(build({}, 3, 5)).Is(ErrorKind::kCorruption));
  BatchOptions control;
  control.control = true;
  EXPECT_TRUE(check(build(control, 1)).Is(ErrorKind::kCorruption));
  BatchOptions idempotent;
  idempotent.producer_id = ProducerId(5);
  idempotent.producer_epoch = ProducerEpoch(0);
  EXPECT_TRUE(check(build(idempotent, 1)).Is(ErrorKind::kCorruption));  // baseSequence -1
  idempotent.base_sequence = 0;
  EXPECT_TRUE(check(build(idempotent, 1)).ok());
}

TEST(RecordBatch, CompactionShapedBatches) {
  // Offset gaps and a lastOffsetDelta past the last record: valid when stored, not as a produce.
  BatchBuilder b({});
  b.AppendAt(0, 1, ToBytes("a"), ToBytes("1"));
  b.AppendAt(4, 2, ToBytes("b"), ToBytes("2"));
  b.AppendAt(7, 3, ToBytes("c"), std::nullopt);
  b.set_last_offset_delta(9);
  std::vector<std::byte> bytes = b.Build().value();
  Result<RecordBatchView> v = RecordBatchView::Parse(bytes);
  ASSERT_TRUE(v.ok());
  EXPECT_EQ(v->last_offset_delta(), 9);
  RecordIterator it = v->UncompressedRecords();
  Record r;
  std::vector<int64_t> offsets;
  while (it.Next(r)) offsets.push_back(r.offset.value());
  EXPECT_TRUE(it.status().ok());
  EXPECT_EQ(offsets, (std::vector<int64_t>{0, 4, 7}));
  RecordReader reader(kDecompressedMax);
  EXPECT_TRUE(ValidateRecords(*v, reader).ok());
  EXPECT_FALSE(ValidateForAppend(*v, reader).ok());
}

TEST(RecordBatch, EmptyBatchesIterateWhateverTheCodec) {
  for (Codec c : {Codec::kNone, Codec::kGzip, Codec::kZstd}) {
    RawHeader h;
    h.attributes = static_cast<uint16_t>(c);
    h.last_offset_delta = 4;  // the range a compacted-away batch covered
    const auto bytes = AssembleBatch(h, {});
    Result<RecordBatchView> v = RecordBatchView::Parse(bytes);
    ASSERT_TRUE(v.ok()) << v.status().ToString();
    RecordReader reader(kDecompressedMax);
    Result<RecordsSummary> s = ValidateRecords(*v, reader);
    ASSERT_TRUE(s.ok()) << s.status().ToString();
    EXPECT_EQ(s->record_count, 0);
    EXPECT_EQ(v->next_offset(), Offset(5));
  }
  // But a compressed empty section that claims records is corrupt.
  RawHeader h;
  h.attributes = static_cast<uint16_t>(Codec::kGzip);
  h.record_count = 1;
  const auto bytes = AssembleBatch(h, {});
  Result<RecordBatchView> v = RecordBatchView::Parse(bytes);
  ASSERT_TRUE(v.ok());
  RecordReader reader(kDecompressedMax);
  EXPECT_TRUE(ValidateRecords(*v, reader).status().Is(ErrorKind::kCorruption));
}

TEST(RecordBatch, BuilderOptionsLandInTheHeader) {
  BatchOptions o;
  o.base_offset = Offset(40);
  o.partition_leader_epoch = LeaderEpoch(6);
  o.producer_id = ProducerId(123);
  o.producer_epoch = ProducerEpoch(4);
  o.base_sequence = 17;
  o.transactional = true;
  o.delete_horizon_ms = 7777;
  BatchBuilder b(o);
  b.Append(8000, std::nullopt, ToBytes("x"));
  b.Append(7000, std::nullopt, ToBytes("y"));
  std::vector<std::byte> bytes = b.Build().value();
  Result<RecordBatchView> v = RecordBatchView::Parse(bytes);
  ASSERT_TRUE(v.ok());
  EXPECT_EQ(v->base_offset(), Offset(40));
  EXPECT_EQ(v->partition_leader_epoch(), LeaderEpoch(6));
  EXPECT_EQ(v->producer_id(), ProducerId(123));
  EXPECT_EQ(v->producer_epoch(), ProducerEpoch(4));
  EXPECT_EQ(v->base_sequence(), 17);
  EXPECT_EQ(v->last_sequence(), 18);
  EXPECT_TRUE(v->is_transactional());
  EXPECT_TRUE(v->has_delete_horizon());
  EXPECT_EQ(v->base_timestamp(), 7777);
  EXPECT_EQ(v->max_timestamp(), 8000);
  const auto got = ReadAll(*v);
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(got[0].timestamp_ms, 8000);
  EXPECT_EQ(got[1].timestamp_ms, 7000);
}

// ---- splitting
// ------------------------------------------------------------------------------------

std::vector<std::byte> SmallBatch(int64_t base_offset, int records) {
  BatchOptions o;
  o.base_offset = Offset(base_offset);
  BatchBuilder b(o);
  for (int i = 0; i < records; ++i) b.Append(i, std::nullopt, ToBytes("value"));
  return b.Build().value();
}

TEST(BatchSplitter, SplitsConcatenatedBatches) {
  std::vector<std::byte> buffer;
  std::vector<size_t> sizes;
  for (int i = 0; i < 3; ++i) {
    const auto b = SmallBatch(i * 10, i + 1);
    sizes.push_back(b.size());
    buffer.insert(buffer.end(), b.begin(), b.end());
  }
  std::vector<RecordBatchView> views;
  ASSERT_TRUE(SplitBatches(buffer, 10, views).ok());
  ASSERT_EQ(views.size(), 3u);
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(views[i].base_offset(), Offset(i * 10));
    EXPECT_EQ(views[i].record_count(), i + 1);
    EXPECT_EQ(views[i].size_bytes(), sizes[i]);
  }
  EXPECT_TRUE(SplitBatches(buffer, 2, views).Is(ErrorKind::kLimit));
  EXPECT_TRUE(SplitBatches({}, 2, views).ok());
  EXPECT_TRUE(views.empty());
}

TEST(BatchSplitter, MutableSplitStampsOffsetsInPlace) {
  // What the produce path does: split the request's buffer, stamp each batch, store it.
  std::vector<std::byte> buffer;
  for (int i = 0; i < 3; ++i) {
    const auto b = SmallBatch(0, i + 2);  // clients send baseOffset 0
    buffer.insert(buffer.end(), b.begin(), b.end());
  }
  std::vector<MutableRecordBatchView> views;
  ASSERT_TRUE(SplitBatches(std::span<std::byte>(buffer), 10, views).ok());
  ASSERT_EQ(views.size(), 3u);
  int64_t log_end = 500;
  for (MutableRecordBatchView& v : views) {
    v.SetBaseOffset(Offset(log_end));
    v.SetPartitionLeaderEpoch(LeaderEpoch(9));
    log_end = v.next_offset().value();
  }
  EXPECT_EQ(log_end, 500 + 2 + 3 + 4);
  std::vector<RecordBatchView> reread;
  ASSERT_TRUE(SplitBatches(Bytes(buffer), 10, reread).ok());
  ASSERT_EQ(reread.size(), 3u);
  EXPECT_EQ(reread[0].base_offset(), Offset(500));
  EXPECT_EQ(reread[1].base_offset(), Offset(502));
  EXPECT_EQ(reread[2].base_offset(), Offset(505));
  EXPECT_EQ(reread[2].partition_leader_epoch(), LeaderEpoch(9));
  // A corrupt buffer yields no views.
  buffer[buffer.size() - 1] ^= std::byte{1};
  EXPECT_TRUE(SplitBatches(std::span<std::byte>(buffer), 10, views).Is(ErrorKind::kCorruption));
  EXPECT_TRUE(views.empty());
}

TEST(BatchSplitter, PartialTailAndCorruptMiddle) {
  const auto a = SmallBatch(0, 2);
  const auto b = SmallBatch(2, 2);
  std::vector<std::byte> buffer = a;
  buffer.insert(buffer.end(), b.begin(), b.end());
  // Every cut inside the second batch leaves the first intact and a partial tail.
  for (size_t cut = a.size() + 1; cut < buffer.size(); ++cut) {
    BatchSplitter s(Bytes(buffer).first(cut));
    ASSERT_TRUE(s.Next().has_value());
    EXPECT_FALSE(s.Next().has_value());
    EXPECT_TRUE(s.status().ok());
    EXPECT_EQ(s.partial_tail_bytes(), cut - a.size());
    EXPECT_EQ(s.position(), a.size());
    std::vector<RecordBatchView> views;
    EXPECT_TRUE(SplitBatches(Bytes(buffer).first(cut), 10, views).Is(ErrorKind::kCorruption));
  }
  // A flipped bit in the first batch's records stops the split with a corruption there.
  auto bad = buffer;
  bad[a.size() - 2] ^= std::byte{0x04};
  BatchSplitter s(bad);
  EXPECT_FALSE(s.Next().has_value());
  EXPECT_TRUE(s.status().Is(ErrorKind::kCorruption));
  EXPECT_NE(s.status().message().find("batch at byte 0"), std::string::npos);
  // A batchLength below the minimum is corruption, not a partial tail.
  bad = buffer;
  StoreBe32(bad.data() + a.size() + 8, 10);
  BatchSplitter s2(bad);
  EXPECT_TRUE(s2.Next().has_value());
  EXPECT_FALSE(s2.Next().has_value());
  EXPECT_TRUE(s2.status().Is(ErrorKind::kCorruption));
  EXPECT_EQ(s2.partial_tail_bytes(), 0u);
}

TEST(BatchSplitter, SizeFromPrefix) {
  const auto a = SmallBatch(0, 2);
  Result<size_t> size = BatchSizeFromPrefix(Bytes(a).first(12));
  ASSERT_TRUE(size.ok());
  EXPECT_EQ(*size, a.size());
  auto bad = a;
  StoreBe32(bad.data() + 8, 48);
  EXPECT_TRUE(BatchSizeFromPrefix(Bytes(bad).first(12)).status().Is(ErrorKind::kCorruption));
}

}  // namespace
}  // namespace runnel::engine
