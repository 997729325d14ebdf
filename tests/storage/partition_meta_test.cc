// partition.meta and the directory's file names: round trips, corruption, and the atomic write.
#include "engine/partition_meta.h"

#include <gtest/gtest.h>

#include "engine/segment_format.h"
#include "tests/storage/log_test_util.h"

namespace runnel::engine {
namespace {

namespace sf = segment_format;

TEST(PartitionMetaTest, RoundTrips) {
  PartitionMeta m;
  m.log_start = Offset(17);
  m.recovery_point = Offset(1000);
  m.high_watermark = Offset(990);
  m.compacted_end = Offset(500);
  m.truncate_to = Offset(995);
  m.clean_shutdown = true;
  const auto bytes = m.Encode();
  EXPECT_EQ(bytes.size(), sf::kMetaBytes);
  auto back = PartitionMeta::Decode(bytes);
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_EQ(*back, m);
  m.truncate_to.reset();
  m.clean_shutdown = false;
  back = PartitionMeta::Decode(m.Encode());
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(*back, m);
}

TEST(PartitionMetaTest, EveryFlippedBitIsDetected) {
  PartitionMeta m;
  m.log_start = Offset(3);
  m.recovery_point = Offset(9);
  const auto bytes = m.Encode();
  for (size_t i = 0; i < bytes.size(); ++i) {
    for (int bit = 0; bit < 8; ++bit) {
      auto flipped = bytes;
      flipped[i] ^= std::byte(1 << bit);
      auto r = PartitionMeta::Decode(flipped);
      EXPECT_FALSE(r.ok()) << "byte " << i << " bit " << bit;
    }
  }
  EXPECT_FALSE(PartitionMeta::Decode(std::span(bytes).first(51)).ok());
}

TEST(PartitionMetaTest, WrittenAtomically) {
  testing::SimLogEnv env;
  ASSERT_TRUE(env.disk().MakeDirsNow("/data/p").ok());
  PartitionMeta m;
  m.log_start = Offset(5);
  ASSERT_TRUE(env.Run(WritePartitionMeta(env.io().fs(), "/data/p", m)).ok());
  auto read = env.Run(ReadPartitionMeta(env.io().fs(), "/data/p"));
  ASSERT_TRUE(read.ok() && read->has_value());
  EXPECT_EQ(**read, m);
  EXPECT_FALSE(env.disk().ExistsNow("/data/p/partition.meta.tmp"));
  // Durable: survives a crash right after.
  std::unique_ptr<Log> none;
  env.Crash(none);
  read = env.Run(ReadPartitionMeta(env.io().fs(), "/data/p"));
  ASSERT_TRUE(read.ok() && read->has_value());
  EXPECT_EQ((*read)->log_start, Offset(5));
  auto missing = env.Run(ReadPartitionMeta(env.io().fs(), "/data/q"));
  ASSERT_TRUE(missing.ok());
  EXPECT_FALSE(missing->has_value());
}

TEST(SegmentFormatTest, NamesAreTwentyDigitOffsets) {
  EXPECT_EQ(sf::OffsetName(Offset(0)), "00000000000000000000");
  EXPECT_EQ(sf::OffsetName(Offset(INT64_MAX)), "09223372036854775807");
  EXPECT_EQ(sf::SegmentPath("/d", Offset(42), ".log"), "/d/00000000000000000042.log");
  auto p = sf::ParseFileName("00000000000000000042.timeindex");
  EXPECT_EQ(p.kind, sf::FileKind::kTimeIndex);
  EXPECT_EQ(p.offset, Offset(42));
  EXPECT_EQ(sf::ParseFileName("00000000000000000042.log").kind, sf::FileKind::kLog);
  EXPECT_EQ(sf::ParseFileName("00000000000000000042.index").kind, sf::FileKind::kIndex);
  EXPECT_EQ(sf::ParseFileName("00000000000000000042.snapshot").kind, sf::FileKind::kSnapshot);
  p = sf::ParseFileName("00000000000000000042.log.swap");
  EXPECT_EQ(p.kind, sf::FileKind::kSwap);
  EXPECT_EQ(p.inner, sf::FileKind::kLog);
  p = sf::ParseFileName("00000000000000000042.index.cleaned");
  EXPECT_EQ(p.kind, sf::FileKind::kCleaned);
  EXPECT_EQ(p.inner, sf::FileKind::kIndex);
  EXPECT_EQ(sf::ParseFileName("partition.meta").kind, sf::FileKind::kMeta);
  EXPECT_EQ(sf::ParseFileName("partition.meta.tmp").kind, sf::FileKind::kTmp);
  EXPECT_EQ(sf::ParseFileName("42.log").kind, sf::FileKind::kUnknown);
  EXPECT_EQ(sf::ParseFileName("0000000000000000004x.log").kind, sf::FileKind::kUnknown);
  EXPECT_EQ(sf::ParseFileName("99999999999999999999.log").kind, sf::FileKind::kUnknown);
  EXPECT_EQ(sf::ParseFileName("00000000000000000042.txt").kind, sf::FileKind::kUnknown);
  EXPECT_EQ(sf::ParseFileName("leader-epoch-checkpoint").kind, sf::FileKind::kUnknown);
}

}  // namespace
}  // namespace runnel::engine
