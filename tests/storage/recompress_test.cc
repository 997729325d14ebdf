// Codec conversion (engine/recompress.h): every codec pair, the header fields and attribute bits
// that must survive, records with nulls, empty values and headers, offset gaps, the
// decompression bound, corrupt input, whole produce buffers, producer dedup of converted
// batches in a Log, and a rapidcheck round trip through chains of codecs.
#include "engine/recompress.h"

#include <gtest/gtest.h>
#include <rapidcheck/gtest.h>

#include <string>
#include <vector>

#include "engine/batch_builder.h"
#include "engine/crc32c.h"
#include "engine/producer_state.h"
#include "engine/record_batch_format.h"
#include "tests/storage/log_test_util.h"
#include "tests/storage/storage_test_util.h"

namespace runnel::engine {
namespace {

using testing::TestHeader;
using testing::TestRecord;

namespace bf = batch_format;

constexpr size_t kBound = size_t{64} << 20;
const Codec kAllCodecs[] = {Codec::kNone, Codec::kGzip, Codec::kSnappy, Codec::kLz4, Codec::kZstd};

std::vector<RecordHeader> ToHeaders(const std::vector<TestHeader>& headers) {
  std::vector<RecordHeader> out;
  for (const TestHeader& h : headers) {
    out.push_back(
        RecordHeader{Bytes(reinterpret_cast<const std::byte*>(h.key.data()), h.key.size()),
                     testing::AsNullable(h.value)});
  }
  return out;
}

BatchOptions ProducerOptions(Codec codec) {
  BatchOptions o;
  o.codec = codec;
  o.base_offset = Offset(1000);
  o.partition_leader_epoch = LeaderEpoch(5);
  o.producer_id = ProducerId(42);
  o.producer_epoch = ProducerEpoch(3);
  o.base_sequence = 17;
  return o;
}

std::vector<std::byte> Build(const std::vector<TestRecord>& records, const BatchOptions& options) {
  BatchBuilder b(options);
  for (const TestRecord& r : records) {
    const std::vector<RecordHeader> headers = ToHeaders(r.headers);
    b.Append(r.timestamp_ms, testing::AsNullable(r.key), testing::AsNullable(r.value), headers);
  }
  return b.Build().value();
}

// Records with every shape the format allows: null and empty keys and values, headers with
// null and empty values, repeated header keys, timestamps going backwards.
std::vector<TestRecord> AwkwardRecords() {
  std::vector<TestRecord> r;
  r.push_back({1'700'000'000'000, "key-0", "value-0", {}});
  r.push_back({1'700'000'000'005, std::nullopt, "value without key", {{"h", "v"}}});
  r.push_back({1'699'999'999'000, "tombstone", std::nullopt, {}});
  r.push_back({1'700'000'000'010, "", "", {{"empty", ""}, {"null", std::nullopt}}});
  r.push_back({1'700'000'000'011, std::nullopt, std::nullopt, {{"dup", "1"}, {"dup", "2"}}});
  r.push_back({1'700'000'000'012, "k", std::string(5000, 'z'), {{"", "empty key"}}});
  return r;
}

Bytes Span(const std::vector<std::byte>& v) { return Bytes(v); }

// The plain record section of a batch.
std::vector<std::byte> PlainSection(const RecordBatchView& b) {
  std::vector<std::byte> out;
  if (b.codec() == Codec::kNone || b.records_bytes().empty()) {
    out.assign(b.records_bytes().begin(), b.records_bytes().end());
  } else {
    EXPECT_TRUE(Decompress(b.codec(), b.records_bytes(), kBound, out).ok());
  }
  return out;
}

std::vector<TestRecord> ReadRecords(const RecordBatchView& b) {
  RecordReader reader(kBound);
  Result<RecordIterator> it = reader.Open(b);
  EXPECT_TRUE(it.ok()) << it.status().ToString();
  std::vector<TestRecord> out;
  if (!it.ok()) return out;
  Record r;
  while (it->Next(r)) out.push_back(testing::ToTestRecord(r));
  EXPECT_TRUE(it->status().ok()) << it->status().ToString();
  return out;
}

// Every header field of `after` equals `before`'s except the codec bits, batchLength and CRC.
void ExpectSameHeader(const RecordBatchView& before, const RecordBatchView& after, Codec codec) {
  EXPECT_EQ(after.codec(), codec);
  EXPECT_EQ(after.attributes() & ~bf::kAttrCompressionMask,
            before.attributes() & ~bf::kAttrCompressionMask);
  EXPECT_EQ(after.base_offset(), before.base_offset());
  EXPECT_EQ(after.partition_leader_epoch(), before.partition_leader_epoch());
  EXPECT_EQ(after.last_offset_delta(), before.last_offset_delta());
  EXPECT_EQ(after.base_timestamp(), before.base_timestamp());
  EXPECT_EQ(after.max_timestamp(), before.max_timestamp());
  EXPECT_EQ(after.producer_id(), before.producer_id());
  EXPECT_EQ(after.producer_epoch(), before.producer_epoch());
  EXPECT_EQ(after.base_sequence(), before.base_sequence());
  EXPECT_EQ(after.record_count(), before.record_count());
}

// Converts `input` (one batch) to `codec` and checks everything that must hold.
std::vector<std::byte> ConvertAndCheck(const std::vector<std::byte>& input, Codec codec) {
  Result<RecordBatchView> before = RecordBatchView::Parse(Span(input));
  EXPECT_TRUE(before.ok()) << before.status().ToString();
  BatchRecompressor r(kBound);
  std::vector<std::byte> out;
  Status s = r.Recompress(*before, codec, out);
  EXPECT_TRUE(s.ok()) << s.ToString();
  Result<RecordBatchView> after = RecordBatchView::Parse(Span(out));
  EXPECT_TRUE(after.ok()) << after.status().ToString();
  if (!after.ok()) return out;
  ExpectSameHeader(*before, *after, codec);
  EXPECT_EQ(PlainSection(*after), PlainSection(*before)) << "the record bytes changed";
  EXPECT_EQ(ReadRecords(*after), ReadRecords(*before));
  return out;
}

TEST(RecompressTest, EveryCodecPairKeepsRecordsAndHeader) {
  const std::vector<TestRecord> records = AwkwardRecords();
  for (Codec from : kAllCodecs) {
    const std::vector<std::byte> input = Build(records, ProducerOptions(from));
    for (Codec to : kAllCodecs) {
      SCOPED_TRACE(fmt::format("{} -> {}", CodecName(from), CodecName(to)));
      const std::vector<std::byte> out = ConvertAndCheck(input, to);
      Result<RecordBatchView> after = RecordBatchView::Parse(Span(out));
      ASSERT_TRUE(after.ok());
      EXPECT_EQ(ReadRecords(*after), records);
      if (from == Codec::kNone && to == Codec::kNone) {
        EXPECT_EQ(out, input);
      }
    }
  }
}

TEST(RecompressTest, AttributeBitsSurvive) {
  const std::vector<TestRecord> records = AwkwardRecords();
  BatchOptions log_append = ProducerOptions(Codec::kLz4);
  log_append.timestamp_type = TimestampType::kLogAppendTime;
  log_append.log_append_time_ms = 1'800'000'000'000;
  BatchOptions transactional = ProducerOptions(Codec::kNone);
  transactional.transactional = true;
  BatchOptions control = ProducerOptions(Codec::kGzip);
  control.control = true;
  control.transactional = true;
  BatchOptions horizon = ProducerOptions(Codec::kZstd);
  horizon.delete_horizon_ms = 1'600'000'000'000;
  for (const BatchOptions& o : {log_append, transactional, control, horizon}) {
    const std::vector<std::byte> input = Build(records, o);
    for (Codec to : kAllCodecs) {
      SCOPED_TRACE(fmt::format("{:#x} -> {}", RecordBatchView::Parse(Span(input))->attributes(),
                               CodecName(to)));
      const std::vector<std::byte> out = ConvertAndCheck(input, to);
      Result<RecordBatchView> after = RecordBatchView::Parse(Span(out));
      ASSERT_TRUE(after.ok());
      EXPECT_EQ(after->timestamp_type(), o.timestamp_type);
      EXPECT_EQ(after->is_transactional(), o.transactional);
      EXPECT_EQ(after->is_control(), o.control);
      EXPECT_EQ(after->has_delete_horizon(), o.delete_horizon_ms.has_value());
    }
  }
  // LogAppendTime: every record reads back with the batch's time.
  const std::vector<std::byte> out = ConvertAndCheck(Build(records, log_append), Codec::kNone);
  for (const TestRecord& r : ReadRecords(*RecordBatchView::Parse(Span(out)))) {
    EXPECT_EQ(r.timestamp_ms, 1'800'000'000'000);
  }
}

TEST(RecompressTest, OffsetGapsAndEmptyBatchesSurvive) {
  // A compacted-style batch: offsets 0, 4, 9 of a range ending at 12.
  BatchBuilder gaps(ProducerOptions(Codec::kSnappy));
  gaps.AppendAt(0, 10, testing::AsNullable(std::string("a")),
                testing::AsNullable(std::string("1")));
  gaps.AppendAt(4, 11, testing::AsNullable(std::string("b")), std::nullopt);
  gaps.AppendAt(9, 12, std::nullopt, testing::AsNullable(std::string("3")));
  gaps.set_last_offset_delta(12);
  const std::vector<std::byte> input = gaps.Build().value();
  for (Codec to : kAllCodecs) {
    const std::vector<std::byte> out = ConvertAndCheck(input, to);
    Result<RecordBatchView> after = RecordBatchView::Parse(Span(out));
    ASSERT_TRUE(after.ok());
    EXPECT_EQ(after->last_offset_delta(), 12);
    RecordReader reader(kBound);
    Result<RecordIterator> it = reader.Open(*after);
    ASSERT_TRUE(it.ok());
    std::vector<int32_t> deltas;
    Record r;
    while (it->Next(r)) deltas.push_back(r.offset_delta);
    EXPECT_EQ(deltas, (std::vector<int32_t>{0, 4, 9}));
  }
  // A batch emptied by compaction (no records, empty section) stays empty in any codec.
  BatchBuilder empty(ProducerOptions(Codec::kGzip));
  empty.set_last_offset_delta(3);
  const std::vector<std::byte> empty_input = empty.Build().value();
  for (Codec to : kAllCodecs) {
    const std::vector<std::byte> out = ConvertAndCheck(empty_input, to);
    EXPECT_EQ(out.size(), bf::kHeaderBytes);
  }
}

TEST(RecompressTest, LargeRecordsRoundTrip) {
  // One 1 MiB value (Kafka's default max.message.bytes), half incompressible.
  Rng rng(7);
  std::string value(1 << 20, 'x');
  for (size_t i = 0; i < value.size() / 2; ++i) value[i] = static_cast<char>(rng.Uniform(256));
  const std::vector<TestRecord> records = {{1, "big", value, {{"h", std::string(1000, 'h')}}}};
  for (Codec from : {Codec::kNone, Codec::kZstd}) {
    const std::vector<std::byte> input = Build(records, ProducerOptions(from));
    for (Codec to : kAllCodecs) {
      SCOPED_TRACE(fmt::format("{} -> {}", CodecName(from), CodecName(to)));
      const std::vector<std::byte> out = ConvertAndCheck(input, to);
      EXPECT_EQ(ReadRecords(*RecordBatchView::Parse(Span(out))), records);
    }
  }
}

TEST(RecompressTest, TheDecompressedBoundHolds) {
  const std::vector<TestRecord> records = {{1, "k", std::string(100'000, 'a'), {}}};
  for (Codec from : kAllCodecs) {
    SCOPED_TRACE(CodecName(from));
    const std::vector<std::byte> input = Build(records, ProducerOptions(from));
    const RecordBatchView view = RecordBatchView::Parse(Span(input)).value();
    const size_t plain_bytes = PlainSection(view).size();
    const Codec to = from == Codec::kGzip ? Codec::kNone : Codec::kGzip;
    std::vector<std::byte> out = testing::ToBytes("prefix");
    BatchRecompressor tight(plain_bytes - 1);
    Status s = tight.Recompress(view, to, out);
    EXPECT_TRUE(s.Is(ErrorKind::kLimit)) << s.ToString();
    EXPECT_EQ(out, testing::ToBytes("prefix")) << "a failed conversion appended something";
    BatchRecompressor exact(plain_bytes);
    EXPECT_TRUE(exact.Recompress(view, to, out).ok());
    EXPECT_GT(out.size(), 6u);
  }
}

// A batch of `codec` whose record section is `section`, with a correct CRC: the damage reaches
// the codec and the record parser.
std::vector<std::byte> RawBatch(Codec codec, Bytes section, int32_t record_count) {
  testing::RawHeader h;
  h.attributes = static_cast<uint16_t>(codec);
  h.record_count = record_count;
  h.last_offset_delta = std::max(record_count - 1, 0);
  return testing::AssembleBatch(h, section);
}

TEST(RecompressTest, CorruptInputIsRefusedAndNothingIsWritten) {
  const std::vector<TestRecord> records = AwkwardRecords();
  for (Codec from : kAllCodecs) {
    SCOPED_TRACE(CodecName(from));
    const std::vector<std::byte> good = Build(records, ProducerOptions(from));
    const Bytes section = RecordBatchView::Parse(Span(good))->records_bytes();
    std::vector<std::vector<std::byte>> bad;
    // Truncated section (the codec's stream, or the last record, is cut).
    bad.push_back(RawBatch(from, section.first(section.size() - 3), 6));
    // A record count the section does not hold.
    bad.push_back(RawBatch(from, section, 7));
    // Garbage where the section should be.
    std::vector<std::byte> garbage =
        testing::ToBytes("this is not a record section at all! nor is this, nor this!");
    bad.push_back(RawBatch(from, Span(garbage), 6));
    for (const std::vector<std::byte>& input : bad) {
      const RecordBatchView view = RecordBatchView::Parse(Span(input)).value();
      for (Codec to : kAllCodecs) {
        BatchRecompressor r(kBound);
        std::vector<std::byte> out = testing::ToBytes("prefix");
        Status s = r.Recompress(view, to, out);
        EXPECT_TRUE(s.Is(ErrorKind::kCorruption)) << CodecName(to) << ": " << s.ToString();
        EXPECT_EQ(out, testing::ToBytes("prefix"));
      }
    }
  }
}

TEST(RecompressTest, BatchesConvertsAWholeProduceBuffer) {
  std::vector<std::byte> buffer;
  std::vector<std::vector<TestRecord>> expected;
  Rng rng(11);
  for (Codec c : {Codec::kNone, Codec::kZstd, Codec::kGzip, Codec::kSnappy}) {
    expected.push_back(testing::RandomRecords(rng, 20, 200));
    const std::vector<std::byte> b = Build(expected.back(), ProducerOptions(c));
    buffer.insert(buffer.end(), b.begin(), b.end());
  }
  BatchRecompressor r(kBound);
  for (Codec to : kAllCodecs) {
    SCOPED_TRACE(CodecName(to));
    std::vector<std::byte> out;
    Result<bool> converted =
        RecompressBatches(Span(buffer), to, {.batch_bytes_max = 1 << 20}, r, out);
    ASSERT_TRUE(converted.ok()) << converted.status().ToString();
    EXPECT_TRUE(*converted);
    std::vector<RecordBatchView> batches;
    ASSERT_TRUE(SplitBatches(Span(out), 100, batches).ok());
    ASSERT_EQ(batches.size(), expected.size());
    for (size_t i = 0; i < batches.size(); ++i) {
      EXPECT_EQ(batches[i].codec(), to);
      EXPECT_EQ(ReadRecords(batches[i]), expected[i]);
    }
    // Already converted: nothing to do, no copy.
    std::vector<std::byte> again = testing::ToBytes("stale");
    Result<bool> second = RecompressBatches(Span(out), to, {}, r, again);
    ASSERT_TRUE(second.ok());
    EXPECT_FALSE(*second);
    EXPECT_TRUE(again.empty());
  }
}

TEST(RecompressTest, BatchesRefusesBadBuffersWithNothingOut) {
  std::vector<std::byte> buffer;
  Rng rng(12);
  for (int i = 0; i < 3; ++i) {
    const std::vector<std::byte> b =
        Build(testing::RandomRecords(rng, 5, 50), ProducerOptions(Codec::kLz4));
    buffer.insert(buffer.end(), b.begin(), b.end());
  }
  BatchRecompressor r(kBound);
  std::vector<std::byte> out;
  // A partial trailing batch.
  Result<bool> partial =
      RecompressBatches(Span(buffer).first(buffer.size() - 5), Codec::kNone, {}, r, out);
  EXPECT_TRUE(partial.status().Is(ErrorKind::kCorruption)) << partial.status().ToString();
  EXPECT_TRUE(out.empty());
  // Too many batches.
  Result<bool> many = RecompressBatches(Span(buffer), Codec::kNone, {.batch_count_max = 2}, r, out);
  EXPECT_TRUE(many.status().Is(ErrorKind::kLimit)) << many.status().ToString();
  std::vector<RecordBatchView> views;
  ASSERT_TRUE(SplitBatches(Span(buffer), 10, views).ok());
  ASSERT_EQ(views.size(), 3u);
  size_t largest = 0;
  for (const RecordBatchView& v : views) largest = std::max(largest, v.size_bytes());
  // A batch over max.message.bytes, even though converting would shrink it.
  Result<bool> large =
      RecompressBatches(Span(buffer), Codec::kZstd, {.batch_bytes_max = largest - 1}, r, out);
  EXPECT_TRUE(large.status().Is(ErrorKind::kLimit)) << large.status().ToString();
  EXPECT_TRUE(out.empty());
  // The last batch's records are damaged (CRC fixed up): the first two were converted, yet
  // nothing comes out.
  const size_t last = buffer.size() - views.back().size_bytes();
  std::vector<std::byte> damaged(buffer.begin(), buffer.begin() + static_cast<ptrdiff_t>(last));
  std::vector<std::byte> junk = testing::ToBytes("junk junk junk junk");
  const std::vector<std::byte> bad = RawBatch(Codec::kLz4, Span(junk), 3);
  damaged.insert(damaged.end(), bad.begin(), bad.end());
  Result<bool> corrupt = RecompressBatches(Span(damaged), Codec::kNone, {}, r, out);
  EXPECT_TRUE(corrupt.status().Is(ErrorKind::kCorruption)) << corrupt.status().ToString();
  EXPECT_TRUE(out.empty());
}

TEST(RecompressTest, ConvertedSizesAreBounded) {
  // 20 KiB of one letter: a small gzip batch that is large once stored uncompressed.
  const std::vector<TestRecord> records = {{1, "k", std::string(20'000, 'a'), {}}};
  const std::vector<std::byte> small = Build(records, ProducerOptions(Codec::kGzip));
  ASSERT_LT(small.size(), 1000u);
  BatchRecompressor r(kBound);
  std::vector<std::byte> out;
  Result<bool> grown =
      RecompressBatches(Span(small), Codec::kNone, {.batch_bytes_max = 10'000}, r, out);
  EXPECT_TRUE(grown.status().Is(ErrorKind::kLimit)) << grown.status().ToString();
  EXPECT_TRUE(out.empty());
  ASSERT_TRUE(
      RecompressBatches(Span(small), Codec::kNone, {.batch_bytes_max = 30'000}, r, out).ok());
  const size_t converted = out.size();
  // Three such batches: the output bound counts them all.
  std::vector<std::byte> three;
  for (int i = 0; i < 3; ++i) three.insert(three.end(), small.begin(), small.end());
  Result<bool> total =
      RecompressBatches(Span(three), Codec::kNone,
                        {.batch_bytes_max = 30'000, .output_bytes_max = 3 * converted - 1}, r, out);
  EXPECT_TRUE(total.status().Is(ErrorKind::kLimit)) << total.status().ToString();
  EXPECT_TRUE(out.empty());
  Result<bool> fits =
      RecompressBatches(Span(three), Codec::kNone,
                        {.batch_bytes_max = 30'000, .output_bytes_max = 3 * converted}, r, out);
  EXPECT_TRUE(fits.ok()) << fits.status().ToString();
  EXPECT_EQ(out.size(), 3 * converted);
}

TEST(RecompressTest, ConvertedBatchesAreDeduplicatedByTheLog) {
  // An idempotent producer retries a batch: both copies are converted; the log keeps one.
  testing::SimLogEnv env;
  auto log = env.Open("/data/topic-0");
  const std::vector<TestRecord> records = AwkwardRecords();
  BatchOptions options = ProducerOptions(Codec::kSnappy);
  options.base_sequence = 0;
  const std::vector<std::byte> input = Build(records, options);
  BatchRecompressor r(kBound);
  std::vector<std::byte> first;
  ASSERT_TRUE(RecompressBatches(Span(input), Codec::kZstd, {}, r, first).ok());
  std::vector<std::byte> retry;
  ASSERT_TRUE(RecompressBatches(Span(input), Codec::kZstd, {}, r, retry).ok());
  const ProducerBatchInfo a = ProducerBatchInfo::From(*RecordBatchView::Parse(Span(first)));
  const ProducerBatchInfo b = ProducerBatchInfo::From(*RecordBatchView::Parse(Span(input)));
  EXPECT_EQ(a.producer_id, b.producer_id);
  EXPECT_EQ(a.producer_epoch, b.producer_epoch);
  EXPECT_EQ(a.base_sequence, b.base_sequence);
  EXPECT_EQ(a.last_offset_delta, b.last_offset_delta);
  EXPECT_EQ(a.max_timestamp_ms, b.max_timestamp_ms);
  EXPECT_EQ(a.transactional, b.transactional);
  EXPECT_EQ(env.Append(*log, first), 0);
  Result<AppendResult> dup = env.TryAppend(*log, retry);
  ASSERT_TRUE(dup.ok()) << dup.status().ToString();
  EXPECT_EQ(dup->outcome, AppendOutcome::kDuplicate);
  EXPECT_EQ(dup->base_offset, Offset(0));
  EXPECT_EQ(log->log_end_offset(), Offset(static_cast<int64_t>(records.size())));
  // The next sequence, converted from yet another codec, is accepted.
  options.base_sequence = static_cast<int32_t>(records.size());
  options.codec = Codec::kNone;
  std::vector<std::byte> next;
  ASSERT_TRUE(RecompressBatches(Span(Build(records, options)), Codec::kZstd, {}, r, next).ok());
  EXPECT_EQ(env.Append(*log, next), static_cast<int64_t>(records.size()));
  auto stored = env.Run(log->Read(Offset(0), ReadOptions{.verify = true}));
  ASSERT_TRUE(stored.ok());
  ASSERT_EQ(stored->batches.size(), 2u);
  std::vector<RecordBatchView> views;
  ASSERT_TRUE(SplitBatches(Span(stored->data), 10, views).ok());
  for (const RecordBatchView& v : views) {
    EXPECT_EQ(v.codec(), Codec::kZstd);
    EXPECT_EQ(ReadRecords(v), records);
  }
}

// Property: for any records and any chain of codecs, converting step by step gives back the
// same record bytes and the same header, and the last batch reads back as the records.
rc::Gen<std::optional<std::string>> GenNullableString() {
  return rc::gen::weightedOneOf<std::optional<std::string>>(
      {{1, rc::gen::just(std::optional<std::string>())},
       {5, rc::gen::map(rc::gen::arbitrary<std::string>(),
                        [](std::string s) { return std::optional<std::string>(std::move(s)); })}});
}

rc::Gen<TestRecord> GenRecord() {
  return rc::gen::build<TestRecord>(
      rc::gen::set(&TestRecord::timestamp_ms, rc::gen::inRange<int64_t>(0, int64_t{1} << 45)),
      rc::gen::set(&TestRecord::key, GenNullableString()),
      rc::gen::set(&TestRecord::value, GenNullableString()),
      rc::gen::set(&TestRecord::headers,
                   rc::gen::container<std::vector<TestHeader>>(rc::gen::build<TestHeader>(
                       rc::gen::set(&TestHeader::key, rc::gen::arbitrary<std::string>()),
                       rc::gen::set(&TestHeader::value, GenNullableString())))));
}

RC_GTEST_PROP(RecompressProperty, ChainsOfCodecsKeepTheRecords, ()) {
  const std::vector<Codec> codecs(std::begin(kAllCodecs), std::end(kAllCodecs));
  const size_t record_count = *rc::gen::inRange<size_t>(1, 40);
  const auto records = *rc::gen::container<std::vector<TestRecord>>(record_count, GenRecord());
  const size_t chain_length = *rc::gen::inRange<size_t>(1, 6);
  const auto chain =
      *rc::gen::container<std::vector<Codec>>(chain_length, rc::gen::elementOf(codecs));
  BatchOptions options = ProducerOptions(*rc::gen::elementOf(codecs));
  options.transactional = *rc::gen::arbitrary<bool>();
  std::vector<std::byte> batch = Build(records, options);
  const std::vector<std::byte> original = batch;
  const RecordBatchView first = RecordBatchView::Parse(Span(original)).value();
  const std::vector<std::byte> plain = PlainSection(first);
  BatchRecompressor r(kBound);
  for (Codec c : chain) {
    std::vector<std::byte> next;
    const RecordBatchView view = RecordBatchView::Parse(Span(batch)).value();
    RC_ASSERT(r.Recompress(view, c, next).ok());
    Result<RecordBatchView> after = RecordBatchView::Parse(Span(next));
    RC_ASSERT(after.ok());
    RC_ASSERT(after->codec() == c);
    RC_ASSERT(PlainSection(*after) == plain);
    RC_ASSERT((after->attributes() & ~bf::kAttrCompressionMask) ==
              (first.attributes() & ~bf::kAttrCompressionMask));
    RC_ASSERT(after->producer_id() == first.producer_id());
    RC_ASSERT(after->base_sequence() == first.base_sequence());
    RC_ASSERT(after->max_timestamp() == first.max_timestamp());
    RC_ASSERT(after->base_timestamp() == first.base_timestamp());
    RC_ASSERT(after->last_offset_delta() == first.last_offset_delta());
    batch = std::move(next);
  }
  RC_ASSERT(ReadRecords(*RecordBatchView::Parse(Span(batch))) == records);
}

// Property: damage anywhere in a batch's record section (CRC recomputed, so it reaches the codec
// and the record parser) makes a conversion fail exactly when reading the batch fails: on
// success the converted batch holds the records a reader sees in the damaged one; on failure
// the output is empty. (A batch already in the target codec is passed over untouched.) ASan builds
// run this too (exactly sized buffers).
RC_GTEST_PROP(RecompressProperty, DamagedBatchesConvertIffTheyRead, ()) {
  const std::vector<Codec> codecs(std::begin(kAllCodecs), std::end(kAllCodecs));
  const size_t record_count = *rc::gen::inRange<size_t>(1, 8);
  const auto records = *rc::gen::container<std::vector<TestRecord>>(record_count, GenRecord());
  std::vector<std::byte> bytes = Build(records, ProducerOptions(*rc::gen::elementOf(codecs)));
  const size_t section = bytes.size() - bf::kRecordsOffset;
  const size_t edit_count = *rc::gen::inRange<size_t>(1, 5);
  for (size_t i = 0; i < edit_count; ++i) {
    const size_t at = *rc::gen::inRange<size_t>(0, section);
    bytes[bf::kRecordsOffset + at] = static_cast<std::byte>(*rc::gen::arbitrary<uint8_t>());
  }
  const uint32_t crc =
      crc32c::Value(bytes.data() + bf::kCrcCoverageOffset, bytes.size() - bf::kCrcCoverageOffset);
  for (int i = 0; i < 4; ++i)
    bytes[bf::kCrcOffset + i] = static_cast<std::byte>(crc >> (8 * (3 - i)));
  std::vector<std::byte> exact(bytes.begin(), bytes.end());
  exact.shrink_to_fit();
  const Result<RecordBatchView> view = RecordBatchView::Parse(Span(exact));
  if (!view.ok()) return;  // e.g. a record count that cannot fit: not this property's concern
  RecordReader reader(kBound);
  const bool readable = ValidateRecords(*view, reader).ok();
  const Codec to = *rc::gen::elementOf(codecs);
  BatchRecompressor r(kBound);
  std::vector<std::byte> out;
  Result<bool> converted = RecompressBatches(Span(exact), to, {.batch_bytes_max = 1 << 20}, r, out);
  if (!converted.ok()) {
    RC_ASSERT(!readable || converted.status().Is(ErrorKind::kLimit));
    RC_ASSERT(out.empty());
    return;
  }
  if (!*converted) {
    // Already in the target codec: nothing is decoded or copied (the log validates it).
    RC_ASSERT(view->codec() == to);
    RC_ASSERT(out.empty());
    return;
  }
  RC_ASSERT(readable);
  const Result<RecordBatchView> after = RecordBatchView::Parse(Span(out));
  RC_ASSERT(after.ok());
  RC_ASSERT(after->codec() == to);
  RC_ASSERT(ReadRecords(*after) == ReadRecords(*view));
}

}  // namespace
}  // namespace runnel::engine
