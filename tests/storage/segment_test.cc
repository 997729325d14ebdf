// Segment, HeaderCursor, BatchReader and the recovery scan (ScanSegment) on SimDisk files.
#include "engine/segment.h"

#include <gtest/gtest.h>

#include "engine/log_recovery.h"
#include "engine/segment_format.h"
#include "engine/varint.h"
#include "tests/storage/log_test_util.h"

namespace runnel::engine {
namespace {

using testing::MakeSimpleBatch;
using testing::SimLogEnv;

constexpr char kDir[] = "/data/seg";

// Batches with the given base offsets and record counts, back to back.
std::vector<std::byte> Batches(std::initializer_list<std::pair<int64_t, int>> specs) {
  std::vector<std::byte> out;
  for (auto [base, count] : specs) {
    BatchOptions o;
    o.base_offset = Offset(base);
    auto b = MakeSimpleBatch(static_cast<int>(base), count, "", 1000 + base, o);
    out.insert(out.end(), b.begin(), b.end());
  }
  return out;
}

class SegmentTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_TRUE(env_.disk().MakeDirsNow(kDir).ok()); }

  // A segment at `base` whose .log holds `bytes`.
  std::shared_ptr<Segment> Write(Offset base, const std::vector<std::byte>& bytes) {
    auto s = env_.Run(Segment::Create(env_.io().fs(), kDir, base, 0));
    RUNNEL_ASSERT(s.ok(), "{}", s.status().ToString());
    if (!bytes.empty()) RUNNEL_ASSERT(env_.Run((*s)->log().WriteAt(0, bytes)).ok(), "write");
    return *s;
  }

  Result<ScanResult> Scan(Segment& s, uint64_t size, Offset expected, Offset compacted_end,
                          size_t chunk = 1 << 20) {
    ScanRules rules{expected, compacted_end, 100, chunk};
    return env_.Run(ScanSegment(s, size, rules, buffer_, {}));
  }

  SimLogEnv env_;
  std::vector<std::byte> buffer_;
};

TEST_F(SegmentTest, ParseBatchHeaderChecksFraming) {
  auto b = Batches({{5, 3}});
  auto info = ParseBatchHeader(b, 77);
  ASSERT_TRUE(info.ok());
  EXPECT_EQ(info->base_offset, Offset(5));
  EXPECT_EQ(info->last_offset, Offset(7));
  EXPECT_EQ(info->size_bytes, b.size());
  EXPECT_EQ(info->position, 77u);
  EXPECT_EQ(info->record_count, 3);
  auto bad_magic = b;
  bad_magic[16] = std::byte{1};
  EXPECT_TRUE(ParseBatchHeader(bad_magic, 0).status().Is(ErrorKind::kCorruption));
  auto short_length = b;
  StoreBe32(short_length.data() + 8, 48);
  EXPECT_FALSE(ParseBatchHeader(short_length, 0).ok());
  auto negative_delta = b;
  StoreBe32(negative_delta.data() + 23, 0xFFFFFFFFu);
  EXPECT_FALSE(ParseBatchHeader(negative_delta, 0).ok());
  EXPECT_FALSE(ParseBatchHeader(std::span(b).first(60), 0).ok());
}

TEST_F(SegmentTest, TrackAddsIndexEntriesEveryInterval) {
  auto s = Write(Offset(100), {});
  uint64_t position = 0;
  for (int i = 0; i < 20; ++i) {
    auto b = Batches({{100 + i * 2, 2}});
    auto info = ParseBatchHeader(b, position);
    ASSERT_TRUE(info.ok());
    s->Track(*info, 300);
    position += b.size();
  }
  EXPECT_EQ(s->next_offset(), Offset(140));
  EXPECT_EQ(s->size_bytes(), position);
  ASSERT_GT(s->offset_index().size(), 3u);
  // Every entry lies more than the interval after the previous one and names its batch.
  uint64_t previous = 0;
  for (const auto& e : s->offset_index().entries()) {
    EXPECT_GT(e.position - previous, 300u);
    EXPECT_EQ(e.relative_offset % 2, 0u);
    previous = e.position;
  }
  EXPECT_EQ(s->max_timestamp_ms(), 1000 + 138 + 1);
  s->SealTimeIndex();
  EXPECT_EQ(s->time_index().last_timestamp_ms(), s->max_timestamp_ms());
}

TEST_F(SegmentTest, IndexFilesMatchMemory) {
  auto bytes = Batches({{0, 3}, {3, 4}, {7, 1}, {8, 2}});
  auto s = Write(Offset(0), bytes);
  auto scan = Scan(*s, bytes.size(), Offset(0), Offset(0));
  ASSERT_TRUE(scan.ok());
  s->SealTimeIndex();
  ASSERT_TRUE(env_.Run(s->WriteIndexFiles(env_.io().fs())).ok());
  ASSERT_TRUE(env_.Run(s->SyncIndexFiles()).ok());
  std::vector<std::byte> want;
  s->offset_index().Encode(want);
  EXPECT_EQ(*env_.disk().ReadNow(s->path(".index")), want);
  s->time_index().Encode(want);
  EXPECT_EQ(*env_.disk().ReadNow(s->path(".timeindex")), want);
  EXPECT_FALSE(s->offset_index().empty());
}

TEST_F(SegmentTest, HeaderCursorChecksTheSequence) {
  auto bytes = Batches({{10, 2}, {12, 3}, {15, 1}});
  auto s = Write(Offset(10), bytes);
  HeaderCursor ok(s->log(), Offset(10), 0, bytes.size(), 100);
  ok.CheckSequence(Offset(10), Offset(0), Offset(16), false);
  int n = 0;
  while (true) {
    auto b = env_.Run(ok.Next());
    ASSERT_TRUE(b.ok()) << b.status().ToString();
    if (!b->has_value()) break;
    ++n;
  }
  EXPECT_EQ(n, 3);
  // A gap in a dense log, and a batch past the segment's end, are corruption.
  auto gap = Batches({{1000, 2}, {1003, 3}});
  auto g = Write(Offset(1000), gap);
  HeaderCursor c(g->log(), Offset(1000), 0, gap.size(), 100);
  c.CheckSequence(Offset(1000), Offset(0), Offset(1100), false);
  ASSERT_TRUE(env_.Run(c.Next()).ok());
  EXPECT_TRUE(env_.Run(c.Next()).status().Is(ErrorKind::kCorruption));
  HeaderCursor allowed(g->log(), Offset(1000), 0, gap.size(), 100);
  allowed.CheckSequence(Offset(1000), Offset(5000), Offset(1100), false);  // compacted: gaps ok
  ASSERT_TRUE(env_.Run(allowed.Next()).ok());
  EXPECT_TRUE(env_.Run(allowed.Next()).ok());
  HeaderCursor past(s->log(), Offset(10), 0, bytes.size(), 100);
  past.CheckSequence(Offset(10), Offset(0), Offset(15), false);
  ASSERT_TRUE(env_.Run(past.Next()).ok());
  ASSERT_TRUE(env_.Run(past.Next()).ok());
  EXPECT_FALSE(env_.Run(past.Next()).ok());
}

TEST_F(SegmentTest, ScanAcceptsAValidSegmentInSmallChunks) {
  auto bytes = Batches({{0, 3}, {3, 4}, {7, 1}, {8, 2}, {10, 5}});
  auto s = Write(Offset(0), bytes);
  auto scan = Scan(*s, bytes.size(), Offset(0), Offset(0), /*chunk=*/64);
  ASSERT_TRUE(scan.ok());
  EXPECT_TRUE(scan->stop.ok()) << scan->stop.ToString();
  EXPECT_EQ(scan->valid_bytes, bytes.size());
  EXPECT_EQ(scan->batches, 5u);
  EXPECT_EQ(s->next_offset(), Offset(15));
}

TEST_F(SegmentTest, ScanStopsAtTheFirstBadBatch) {
  const auto good = Batches({{0, 3}, {3, 4}});
  auto expect_stop = [&](std::vector<std::byte> bytes, Offset expected, Offset compacted_end,
                         const std::string& why) {
    auto s = Write(Offset(0), bytes);
    auto scan = Scan(*s, bytes.size(), expected, compacted_end);
    EXPECT_TRUE(scan.ok()) << why;
    if (!scan.ok()) return uint64_t{0};
    EXPECT_FALSE(scan->stop.ok()) << why;
    EXPECT_TRUE(scan->stop.Is(ErrorKind::kCorruption));
    return scan->valid_bytes;
  };
  // A torn tail: half a batch, or a few bytes of a header.
  auto torn = good;
  auto third = Batches({{7, 2}});
  torn.insert(torn.end(), third.begin(), third.begin() + 40);
  EXPECT_EQ(expect_stop(torn, Offset(0), Offset(0), "torn"), good.size());
  auto partial_header = good;
  partial_header.resize(good.size() + 5);
  EXPECT_EQ(expect_stop(partial_header, Offset(0), Offset(0), "partial header"), good.size());
  // Zeros where sectors were lost.
  auto zeros = good;
  zeros.resize(good.size() + 512);
  EXPECT_EQ(expect_stop(zeros, Offset(0), Offset(0), "zeros"), good.size());
  // A flipped bit in a record: the CRC.
  auto rotten = Batches({{0, 3}, {3, 4}, {7, 2}});
  rotten[good.size() + 70] ^= std::byte{4};
  EXPECT_EQ(expect_stop(rotten, Offset(0), Offset(0), "crc"), good.size());
  // Offsets that go back, or skip in an uncompacted log.
  auto back = Batches({{0, 3}, {3, 4}, {5, 2}});
  EXPECT_EQ(expect_stop(back, Offset(0), Offset(0), "back"), good.size());
  auto gap = Batches({{0, 3}, {3, 4}, {9, 2}});
  EXPECT_EQ(expect_stop(gap, Offset(0), Offset(0), "gap"), good.size());
  // ... unless below the compacted end.
  auto s = Write(Offset(0), gap);
  auto scan = Scan(*s, gap.size(), Offset(0), Offset(100));
  ASSERT_TRUE(scan.ok());
  EXPECT_TRUE(scan->stop.ok());
  // The first batch must follow what precedes the segment.
  EXPECT_EQ(expect_stop(good, Offset(2), Offset(0), "first batch"), 0u);
}

TEST_F(SegmentTest, ScanReportsReadErrorsInsteadOfCutting) {
  auto bytes = Batches({{0, 3}, {3, 4}});
  auto s = Write(Offset(0), bytes);
  ASSERT_TRUE(env_.Run(s->log().Sync()).ok());
  ASSERT_TRUE(env_.disk().InjectLatentError(s->path(".log"), 0).ok());
  auto scan = Scan(*s, bytes.size(), Offset(0), Offset(0));
  EXPECT_TRUE(scan.status().Is(ErrorKind::kIo)) << scan.status().ToString();
}

TEST_F(SegmentTest, BatchReaderStartsAnywhere) {
  auto bytes = Batches({{0, 3}, {3, 4}, {7, 1}});
  auto s = Write(Offset(0), bytes);
  const size_t first = Batches({{0, 3}}).size();
  BatchReader reader(s->log(), bytes.size(), buffer_, 32, first);
  auto b = env_.Run(reader.Next());
  ASSERT_TRUE(b.ok() && b->has_value());
  EXPECT_EQ((*b)->base_offset(), Offset(3));
  b = env_.Run(reader.Next());
  ASSERT_TRUE(b.ok() && b->has_value());
  EXPECT_EQ((*b)->base_offset(), Offset(7));
  b = env_.Run(reader.Next());
  ASSERT_TRUE(b.ok());
  EXPECT_FALSE(b->has_value());
}

}  // namespace
}  // namespace runnel::engine
