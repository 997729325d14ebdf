// Retention (retention.ms, retention.bytes) and DeleteRecords.
#include "engine/retention.h"

#include <gtest/gtest.h>

#include "engine/partition_meta.h"
#include "engine/segment_format.h"
#include "tests/storage/log_test_util.h"

namespace runnel::engine {
namespace {

using testing::MakeSimpleBatch;
using testing::SimLogEnv;

constexpr char kDir[] = "/data/ret";

LogConfig Config(int64_t retention_ms, int64_t retention_bytes) {
  LogConfig c;
  c.segment_bytes = 1024;
  c.index_interval_bytes = 128;
  c.retention_ms = retention_ms;
  c.retention_bytes = retention_bytes;
  return c;
}

TEST(RetentionTest, DeletesExpiredClosedSegmentsOnly) {
  SimLogEnv env;
  const LogConfig config = Config(60'000, -1);
  auto log = env.Open(kDir, config);
  const int64_t now = env.io().clock().Wall().unix_ms();
  // Old records (two minutes ago), then fresh ones.
  for (int i = 0; i < 40; ++i) env.Append(*log, MakeSimpleBatch(i * 2, 2, "", now - 120'000));
  const size_t old_segments = log->segment_count();
  for (int i = 40; i < 80; ++i) env.Append(*log, MakeSimpleBatch(i * 2, 2, "", now));
  ASSERT_GT(old_segments, 2u);
  // Nothing goes above the high watermark.
  auto r = env.Run(log->ApplyRetention());
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->segments_deleted, 0u);
  log->SetHighWatermark(log->log_end_offset());
  r = env.Run(log->ApplyRetention());
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_GT(r->segments_deleted, 0u);
  EXPECT_LE(r->segments_deleted, old_segments);
  // The first remaining segment holds the first fresh batch or an old one whose segment also
  // holds fresh ones; every deleted one was wholly old.
  EXPECT_EQ(log->log_start_offset(), log->segment_bases().front());
  EXPECT_LE(log->log_start_offset(), Offset(80));
  EXPECT_EQ(r->log_start_offset, log->log_start_offset());
  const auto records = env.ReadAll(*log);
  ASSERT_FALSE(records.empty());
  EXPECT_EQ(records.front().offset, log->log_start_offset().value());
  EXPECT_EQ(records.back().offset, 159);
  // Durable: a crash does not bring them back.
  env.Crash(log);
  log = env.Open(kDir, config);
  EXPECT_EQ(log->log_start_offset(), r->log_start_offset);
}

TEST(RetentionTest, DeletesBySize) {
  SimLogEnv env;
  const LogConfig config = Config(-1, 2500);
  auto log = env.Open(kDir, config);
  for (int i = 0; i < 60; ++i) env.Append(*log, MakeSimpleBatch(i * 2, 2));
  log->SetHighWatermark(log->log_end_offset());
  const uint64_t before = log->size_bytes();
  auto r = env.Run(log->ApplyRetention());
  ASSERT_TRUE(r.ok());
  EXPECT_GT(r->segments_deleted, 0u);
  EXPECT_EQ(log->size_bytes(), before - r->bytes_deleted);
  // At least retention.bytes remain, and one more segment would have gone below it.
  EXPECT_GE(log->size_bytes(), 2500u);
  const auto bases = log->segment_bases();
  auto first = env.Run(log->Read(bases[0], ReadOptions{.bytes_max = 1 << 20}));
  ASSERT_TRUE(first.ok());
  uint64_t first_segment_bytes = 0;
  for (const auto& b : first->batches) {
    if (b.base_offset < bases[1]) first_segment_bytes += b.size_bytes;
  }
  EXPECT_LT(log->size_bytes() - first_segment_bytes, 2500u);
}

TEST(RetentionTest, AnExpiredActiveSegmentIsRolledAndDeleted) {
  SimLogEnv env;
  const LogConfig config = Config(1000, -1);
  auto log = env.Open(kDir, config);
  const int64_t now = env.io().clock().Wall().unix_ms();
  env.Append(*log, MakeSimpleBatch(0, 3, "", now));
  log->SetHighWatermark(log->log_end_offset());
  env.world().RunFor(std::chrono::seconds(5));
  auto r = env.Run(log->ApplyRetention());
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->segments_deleted, 1u);
  EXPECT_EQ(log->log_start_offset(), Offset(3));
  EXPECT_EQ(log->log_end_offset(), Offset(3));
  EXPECT_EQ(log->segment_count(), 1u);
  EXPECT_EQ(env.Append(*log, MakeSimpleBatch(3, 1)), 3);
}

TEST(RetentionTest, DeleteRecordsMovesTheStart) {
  SimLogEnv env;
  const LogConfig config = Config(-1, -1);
  auto log = env.Open(kDir, config);
  for (int i = 0; i < 30; ++i) env.Append(*log, MakeSimpleBatch(i * 2, 2));
  EXPECT_TRUE(env.Run(log->DeleteRecords(Offset(10))).status().Is(ErrorKind::kInvalidArgument));
  log->SetHighWatermark(Offset(50));
  EXPECT_FALSE(env.Run(log->DeleteRecords(Offset(51))).ok());
  auto r = env.Run(log->DeleteRecords(Offset(33)));
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(*r, Offset(33));
  EXPECT_EQ(log->log_start_offset(), Offset(33));
  EXPECT_LE(log->segment_bases().front(), Offset(33));
  EXPECT_TRUE(env.Run(log->Read(Offset(32))).status().Is(ErrorKind::kNotFound));
  // A read at the start returns the batch holding it (from 32); the broker skips below 33.
  auto read = env.Run(log->Read(Offset(33), ReadOptions{.bytes_max = 1}));
  ASSERT_TRUE(read.ok());
  EXPECT_EQ(read->batches[0].base_offset, Offset(32));
  // Going back is a no-op; the start survives a crash.
  r = env.Run(log->DeleteRecords(Offset(20)));
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(*r, Offset(33));
  env.Crash(log);
  log = env.Open(kDir, config);
  EXPECT_EQ(log->log_start_offset(), Offset(33));
}

TEST(RetentionTest, NothingForCompactOnly) {
  SimLogEnv env;
  LogConfig config = Config(0, 0);
  config.cleanup_policy = CleanupPolicy::kCompact;
  auto log = env.Open(kDir, config);
  for (int i = 0; i < 30; ++i) env.Append(*log, MakeSimpleBatch(i * 2, 2));
  log->SetHighWatermark(log->log_end_offset());
  auto r = env.Run(log->ApplyRetention());
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->segments_deleted, 0u);
  EXPECT_EQ(log->log_start_offset(), Offset(0));
}

TEST(RetentionTest, ProducersWhoseBatchesAreGoneAreForgotten) {
  SimLogEnv env;
  const LogConfig config = Config(-1, 1500);
  auto log = env.Open(kDir, config);
  BatchOptions p;
  p.producer_id = ProducerId(5);
  p.producer_epoch = ProducerEpoch(0);
  p.base_sequence = 0;
  env.Append(*log, MakeSimpleBatch(0, 2, "", 1'700'000'000'000, p));
  for (int i = 0; i < 40; ++i) env.Append(*log, MakeSimpleBatch(i * 2, 2));
  ASSERT_NE(log->producers().Find(ProducerId(5)), nullptr);
  log->SetHighWatermark(log->log_end_offset());
  ASSERT_TRUE(env.Run(log->ApplyRetention()).ok());
  ASSERT_GT(log->log_start_offset(), Offset(2));
  EXPECT_EQ(log->producers().Find(ProducerId(5)), nullptr);
}

}  // namespace
}  // namespace runnel::engine
