// OffsetIndex and TimeIndex: lookups, truncation, and the file layout with its sanity checks.
#include "engine/offset_index.h"

#include <gtest/gtest.h>

#include "tests/storage/storage_test_util.h"

namespace runnel::engine {
namespace {

using testing::PutBe;

TEST(OffsetIndexTest, LookupFindsTheLastEntryAtOrBelow) {
  OffsetIndex index(Offset(100));
  EXPECT_EQ(index.Lookup(Offset(150)).position, 0u);
  EXPECT_EQ(index.Lookup(Offset(150)).offset, Offset(100));
  index.Append(Offset(110), 4000);
  index.Append(Offset(120), 8000);
  index.Append(Offset(135), 12500);
  EXPECT_EQ(index.Lookup(Offset(99)).position, 0u);  // below the segment
  EXPECT_EQ(index.Lookup(Offset(109)).position, 0u);
  EXPECT_EQ(index.Lookup(Offset(110)).position, 4000u);
  EXPECT_EQ(index.Lookup(Offset(119)).offset, Offset(110));
  EXPECT_EQ(index.Lookup(Offset(120)).position, 8000u);
  EXPECT_EQ(index.Lookup(Offset(1000)).offset, Offset(135));
  index.TruncateToPosition(8000);
  EXPECT_EQ(index.size(), 1u);
  EXPECT_EQ(index.Lookup(Offset(1000)).offset, Offset(110));
}

TEST(OffsetIndexTest, EncodesKafkasLayoutAndDecodesIt) {
  OffsetIndex index(Offset(1000));
  index.Append(Offset(1007), 4096);
  index.Append(Offset(1300), 70000);
  std::vector<std::byte> bytes;
  index.Encode(bytes);
  std::vector<std::byte> want;
  PutBe(want, 7, 4);
  PutBe(want, 4096, 4);
  PutBe(want, 300, 4);
  PutBe(want, 70000, 4);
  EXPECT_EQ(bytes, want);
  auto decoded = OffsetIndex::Decode(Offset(1000), bytes, 80000, 100);
  ASSERT_TRUE(decoded.ok()) << decoded.status().ToString();
  ASSERT_EQ(decoded->size(), 2u);
  EXPECT_EQ(decoded->Lookup(Offset(1299)).position, 4096u);
  EXPECT_EQ(decoded->Lookup(Offset(1300)).position, 70000u);
}

TEST(OffsetIndexTest, DecodeRejectsWhatCannotBeTrusted) {
  auto entry = [](std::vector<std::byte>& out, uint32_t rel, uint32_t pos) {
    PutBe(out, rel, 4);
    PutBe(out, pos, 4);
  };
  std::vector<std::byte> partial(12);
  EXPECT_TRUE(
      OffsetIndex::Decode(Offset(0), partial, 1000, 10).status().Is(ErrorKind::kCorruption));
  std::vector<std::byte> past_end;
  entry(past_end, 1, 5000);
  EXPECT_FALSE(OffsetIndex::Decode(Offset(0), past_end, 1000, 10).ok());
  std::vector<std::byte> back;
  entry(back, 5, 100);
  entry(back, 4, 200);
  EXPECT_FALSE(OffsetIndex::Decode(Offset(0), back, 1000, 10).ok());
  std::vector<std::byte> same_position;
  entry(same_position, 5, 100);
  entry(same_position, 6, 100);
  EXPECT_FALSE(OffsetIndex::Decode(Offset(0), same_position, 1000, 10).ok());
  std::vector<std::byte> huge;
  entry(huge, 0x80000000u, 100);
  EXPECT_FALSE(OffsetIndex::Decode(Offset(0), huge, 1000, 10).ok());
  std::vector<std::byte> too_many;
  for (uint32_t i = 1; i <= 11; ++i) entry(too_many, i, i * 10);
  EXPECT_FALSE(OffsetIndex::Decode(Offset(0), too_many, 1000, 10).ok());
  EXPECT_TRUE(OffsetIndex::Decode(Offset(0), too_many, 1000, 11).ok());
}

TEST(TimeIndexTest, KeepsTheRunningMaximum) {
  TimeIndex index(Offset(50));
  EXPECT_EQ(index.last_timestamp_ms(), kNoTimestamp);
  index.MaybeAppend(kNoTimestamp, Offset(50));  // records without timestamps are not indexed
  EXPECT_TRUE(index.empty());
  index.MaybeAppend(1000, Offset(50));
  index.MaybeAppend(900, Offset(55));  // not a new maximum: ignored
  index.MaybeAppend(1000, Offset(56));
  index.MaybeAppend(2000, Offset(60));
  ASSERT_EQ(index.size(), 2u);
  EXPECT_EQ(index.Lookup(999).offset, Offset(50));  // none below: the segment base
  EXPECT_EQ(index.Lookup(999).timestamp_ms, kNoTimestamp);
  EXPECT_EQ(index.Lookup(1000).offset, Offset(50));
  EXPECT_EQ(index.Lookup(1999).offset, Offset(50));
  EXPECT_EQ(index.Lookup(2500).offset, Offset(60));
  index.TruncateTo(Offset(60));
  EXPECT_EQ(index.size(), 1u);
  EXPECT_EQ(index.last_timestamp_ms(), 1000);
}

TEST(TimeIndexTest, EncodesAndChecks) {
  TimeIndex index(Offset(10));
  index.MaybeAppend(5, Offset(10));
  index.MaybeAppend(1'700'000'000'000, Offset(17));
  std::vector<std::byte> bytes;
  index.Encode(bytes);
  std::vector<std::byte> want;
  PutBe(want, 5, 8);
  PutBe(want, 0, 4);
  PutBe(want, 1'700'000'000'000, 8);
  PutBe(want, 7, 4);
  EXPECT_EQ(bytes, want);
  // The segment's last batch starts at 17: the entries name batches up to it.
  auto decoded = TimeIndex::Decode(Offset(10), bytes, Offset(17), 10);
  ASSERT_TRUE(decoded.ok());
  EXPECT_EQ(decoded->Lookup(1'700'000'000'001).offset, Offset(17));
  // An offset past the last batch's base (inside it, or past the segment's end), or timestamps
  // that do not increase, are rejected.
  EXPECT_FALSE(TimeIndex::Decode(Offset(10), bytes, Offset(16), 10).ok());
  std::vector<std::byte> back(bytes.begin() + 12, bytes.end());
  back.insert(back.end(), bytes.begin(), bytes.begin() + 12);
  EXPECT_FALSE(TimeIndex::Decode(Offset(10), back, Offset(20), 10).ok());
  std::vector<std::byte> odd(bytes.begin(), bytes.end() - 1);
  EXPECT_FALSE(TimeIndex::Decode(Offset(10), odd, Offset(20), 10).ok());
}

}  // namespace
}  // namespace runnel::engine
