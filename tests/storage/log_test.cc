// Log: appends (offsets, epochs, validation, producer dedup, group commit), rolls, reads
// (regions, bytes, bounds), timestamps, truncation, checkpoints and clean reopen, on SimDisk.
#include "engine/log.h"

#include <gtest/gtest.h>

#include "engine/partition_meta.h"
#include "engine/segment_format.h"
#include "tests/storage/log_test_util.h"

namespace runnel::engine {
namespace {

using testing::KV;
using testing::MakeBatch;
using testing::MakeSimpleBatch;
using testing::SimLogEnv;
using testing::StoredRecord;

constexpr char kDir[] = "/data/topic-0";

LogConfig SmallSegments(uint64_t segment_bytes = 4096) {
  LogConfig c;
  c.segment_bytes = segment_bytes;
  c.index_interval_bytes = 256;
  return c;
}

TEST(LogTest, OpenCreatesAnEmptyLogAndItsMeta) {
  SimLogEnv env;
  auto log = env.Open(kDir);
  EXPECT_EQ(log->log_start_offset(), Offset(0));
  EXPECT_EQ(log->log_end_offset(), Offset(0));
  EXPECT_EQ(log->segment_count(), 1u);
  EXPECT_TRUE(env.disk().ExistsNow(std::string(kDir) + "/00000000000000000000.log"));
  auto meta = env.disk().ReadNow(std::string(kDir) + "/partition.meta");
  ASSERT_TRUE(meta.ok());
  auto decoded = PartitionMeta::Decode(*meta);
  ASSERT_TRUE(decoded.ok()) << decoded.status().ToString();
  EXPECT_FALSE(decoded->clean_shutdown);
}

TEST(LogTest, AppendAssignsOffsetsAndLeaderEpoch) {
  SimLogEnv env;
  auto log = env.Open(kDir);
  EXPECT_EQ(env.Append(*log, MakeSimpleBatch(0, 3), AppendOptions{.leader_epoch = LeaderEpoch(7)}),
            0);
  EXPECT_EQ(env.Append(*log, MakeSimpleBatch(3, 2), AppendOptions{.leader_epoch = LeaderEpoch(8)}),
            3);
  EXPECT_EQ(log->log_end_offset(), Offset(5));
  auto r = env.Run(log->Read(Offset(0), ReadOptions{.verify = true}));
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  ASSERT_EQ(r->batches.size(), 2u);
  EXPECT_EQ(r->batches[0].base_offset, Offset(0));
  EXPECT_EQ(r->batches[0].last_offset, Offset(2));
  EXPECT_EQ(r->batches[0].leader_epoch, LeaderEpoch(7));
  EXPECT_EQ(r->batches[1].base_offset, Offset(3));
  EXPECT_EQ(r->batches[1].leader_epoch, LeaderEpoch(8));
  const auto records = testing::DecodeRecords(r->data);
  ASSERT_EQ(records.size(), 5u);
  for (int i = 0; i < 5; ++i) {
    EXPECT_EQ(records[i].offset, i);
    EXPECT_EQ(records[i].key, "k" + std::to_string(i));
  }
  EXPECT_EQ(r->next_offset, Offset(5));
}

TEST(LogTest, OneAppendMayCarrySeveralBatches) {
  SimLogEnv env;
  auto log = env.Open(kDir);
  std::vector<std::byte> two = MakeSimpleBatch(0, 2);
  const auto second = MakeSimpleBatch(2, 3);
  two.insert(two.end(), second.begin(), second.end());
  auto r = env.Run(log->Append(two));
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(r->appended());
  EXPECT_EQ(r->batch_count, 2u);
  EXPECT_EQ(r->base_offset, Offset(0));
  EXPECT_EQ(r->last_offset, Offset(4));
  EXPECT_EQ(env.ReadAll(*log).size(), 5u);
}

TEST(LogTest, InvalidBatchesAreRejectedWithoutWriting) {
  SimLogEnv env;
  LogConfig config;
  config.max_message_bytes = 600;
  auto log = env.Open(kDir, config);
  auto corrupt = MakeSimpleBatch(0, 2);
  corrupt.back() ^= std::byte{1};
  auto r = env.Run(log->Append(corrupt));
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->outcome, AppendOutcome::kCorruptRecord) << r->message;

  auto torn = MakeSimpleBatch(0, 2);
  torn.resize(torn.size() - 3);
  r = env.Run(log->Append(torn));
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->outcome, AppendOutcome::kCorruptRecord);

  std::vector<KV> big{{"k", std::string(700, 'x')}};
  auto large = MakeBatch(big);
  r = env.Run(log->Append(large));
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->outcome, AppendOutcome::kRecordTooLarge) << r->message;

  EXPECT_EQ(log->log_end_offset(), Offset(0));
  EXPECT_EQ(log->size_bytes(), 0u);
}

TEST(LogTest, CompactedTopicsRejectRecordsWithoutKeys) {
  SimLogEnv env;
  LogConfig config;
  config.cleanup_policy = CleanupPolicy::kCompact;
  auto log = env.Open(kDir, config);
  auto batch = MakeBatch({KV{"a", "1"}, KV{std::nullopt, "2"}});
  auto r = env.Run(log->Append(batch));
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->outcome, AppendOutcome::kInvalidRecord);
  EXPECT_EQ(env.Append(*log, MakeBatch({KV{"a", "1"}})), 0);
}

TEST(LogTest, ProducerDuplicatesAnswerWithTheOriginalOffsets) {
  SimLogEnv env;
  auto log = env.Open(kDir);
  BatchOptions p;
  p.producer_id = ProducerId(42);
  p.producer_epoch = ProducerEpoch(0);
  p.base_sequence = 0;
  env.Append(*log, MakeSimpleBatch(0, 2));  // offsets 0-1, no producer
  auto first = MakeSimpleBatch(2, 3, "", 1'700'000'000'000, p);
  auto retry = first;
  EXPECT_EQ(env.Append(*log, std::move(first)), 2);
  auto r = env.Run(log->Append(retry));
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->outcome, AppendOutcome::kDuplicate);
  EXPECT_EQ(r->base_offset, Offset(2));
  EXPECT_EQ(r->last_offset, Offset(4));
  EXPECT_EQ(log->log_end_offset(), Offset(5));

  p.base_sequence = 7;  // expected 3
  auto gap = MakeSimpleBatch(5, 1, "", 1'700'000'000'000, p);
  r = env.Run(log->Append(gap));
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->outcome, AppendOutcome::kOutOfOrderSequence);
  EXPECT_EQ(log->log_end_offset(), Offset(5));
  EXPECT_EQ(log->producers().Find(ProducerId(42))->last_batch()->last_sequence, 2);
}

TEST(LogTest, ConcurrentDurableAppendsShareSyncs) {
  SimLogEnv env;
  auto log = env.Open(kDir);
  const uint64_t syncs_before = env.disk().stats().syncs;
  constexpr int kAppends = 64;
  std::vector<std::vector<std::byte>> batches;
  for (int i = 0; i < kAppends; ++i) batches.push_back(MakeSimpleBatch(i, 1));
  int ok = 0;
  env.Run([](Log& log, std::vector<std::vector<std::byte>>& batches, int& ok) -> Task<int> {
    std::vector<Task<Result<AppendResult>>> tasks;
    for (auto& b : batches) tasks.push_back(log.Append(b, AppendOptions{.durable = true}));
    for (auto& r : co_await WhenAll(std::move(tasks))) ok += r.ok() && r->appended();
    co_return 0;
  }(*log, batches, ok));
  EXPECT_EQ(ok, kAppends);
  EXPECT_EQ(log->flushed_offset(), Offset(kAppends));
  const uint64_t syncs = env.disk().stats().syncs - syncs_before;
  EXPECT_GE(syncs, 1u);
  EXPECT_LT(syncs, kAppends / 4) << "group commit should share syncs";
  // Durable: a crash now keeps everything.
  env.Crash(log);
  log = env.Open(kDir);
  EXPECT_EQ(log->log_end_offset(), Offset(kAppends));
  EXPECT_EQ(env.ReadAll(*log).size(), static_cast<size_t>(kAppends));
}

TEST(LogTest, NonDurableAppendsMayBeLostButNeverTorn) {
  // Across seeds a crash keeps, drops or tears the unsynced tail; recovery never returns a
  // partial batch and keeps every durable one.
  for (uint64_t seed = 1; seed <= 20; ++seed) {
    SimLogEnv env(seed);
    auto log = env.Open(kDir, SmallSegments());
    for (int i = 0; i < 10; ++i) env.Append(*log, MakeSimpleBatch(i * 5, 5), {.durable = true});
    for (int i = 10; i < 30; ++i) env.Append(*log, MakeSimpleBatch(i * 5, 5));
    env.Crash(log);
    log = env.Open(kDir, SmallSegments());
    const int64_t end = log->log_end_offset().value();
    EXPECT_GE(end, 50) << "seed " << seed;
    EXPECT_LE(end, 150);
    EXPECT_EQ(end % 5, 0);
    const auto records = env.ReadAll(*log);
    ASSERT_EQ(static_cast<int64_t>(records.size()), end) << "seed " << seed;
    for (int64_t i = 0; i < end; ++i) {
      EXPECT_EQ(records[i].offset, i);
      EXPECT_EQ(records[i].key, "k" + std::to_string(i));
    }
  }
}

TEST(LogTest, RollsBySizeAndKeepsReadingAcrossSegments) {
  SimLogEnv env;
  auto log = env.Open(kDir, SmallSegments(2048));
  for (int i = 0; i < 40; ++i) env.Append(*log, MakeSimpleBatch(i * 4, 4, std::string(40, 'a')));
  EXPECT_GT(log->segment_count(), 4u);
  const auto bases = log->segment_bases();
  for (size_t i = 1; i < bases.size(); ++i) EXPECT_GT(bases[i], bases[i - 1]);
  // Closed segments got index files; snapshots were taken at rolls.
  for (size_t i = 0; i + 1 < bases.size(); ++i) {
    EXPECT_TRUE(env.disk().ExistsNow(segment_format::SegmentPath(kDir, bases[i], ".index")));
    EXPECT_TRUE(env.disk().ExistsNow(segment_format::SegmentPath(kDir, bases[i], ".timeindex")));
  }
  EXPECT_TRUE(env.disk().ExistsNow(segment_format::SegmentPath(kDir, bases.back(), ".snapshot")));
  const auto records = env.ReadAll(*log);
  ASSERT_EQ(records.size(), 160u);
  for (int i = 0; i < 160; ++i) EXPECT_EQ(records[i].offset, i);
  // Every offset is found by a read starting exactly there.
  for (int i = 0; i < 160; i += 7) {
    auto r = env.Run(log->Read(Offset(i), ReadOptions{.bytes_max = 1, .verify = true}));
    ASSERT_TRUE(r.ok());
    ASSERT_EQ(r->batches.size(), 1u);
    EXPECT_LE(r->batches[0].base_offset, Offset(i));
    EXPECT_GE(r->batches[0].last_offset, Offset(i));
  }
}

TEST(LogTest, RollsByAge) {
  SimLogEnv env;
  LogConfig config;
  config.segment_ms = 1000;
  auto log = env.Open(kDir, config);
  const int64_t now = env.io().clock().Wall().unix_ms();
  env.Append(*log, MakeSimpleBatch(0, 1, "", now));
  env.Append(*log, MakeSimpleBatch(1, 1, "", now));
  EXPECT_EQ(log->segment_count(), 1u);
  env.world().RunFor(std::chrono::milliseconds(1500));
  env.Append(*log, MakeSimpleBatch(2, 1, "", now));
  EXPECT_EQ(log->segment_count(), 2u);
  EXPECT_EQ(log->segment_bases().back(), Offset(2));
}

TEST(LogTest, ReadReturnsRegionsThatHoldTheBatches) {
  SimLogEnv env;
  auto log = env.Open(kDir, SmallSegments(3000));
  for (int i = 0; i < 30; ++i) env.Append(*log, MakeSimpleBatch(i * 3, 3, "region"));
  auto r = env.Run(log->Read(Offset(10), ReadOptions{.bytes_max = 5000, .load_bytes = true}));
  ASSERT_TRUE(r.ok());
  ASSERT_FALSE(r->batches.empty());
  EXPECT_LE(r->batches.front().base_offset, Offset(10));
  EXPECT_GE(r->batches.front().last_offset, Offset(10));
  EXPECT_LE(r->bytes, 5000u);
  EXPECT_GT(r->regions.size(), 1u) << "5000 bytes span segments of 3000";
  // Reading the regions' bytes yields exactly `data`, and the regions cover every batch.
  std::vector<std::byte> via_regions;
  uint64_t total = 0;
  for (const FileRegion& region : r->regions) {
    std::vector<std::byte> bytes(region.length);
    Status s = env.Run(ReadExactly(*region.file, region.position, bytes));
    ASSERT_TRUE(s.ok()) << s.ToString();
    via_regions.insert(via_regions.end(), bytes.begin(), bytes.end());
    total += region.length;
  }
  EXPECT_EQ(total, r->bytes);
  EXPECT_EQ(via_regions, r->data);
  EXPECT_EQ(testing::DecodeRecords(via_regions).front().offset,
            r->batches.front().base_offset.value());
}

TEST(LogTest, ReadBoundsAndLimits) {
  SimLogEnv env;
  auto log = env.Open(kDir);
  for (int i = 0; i < 10; ++i) env.Append(*log, MakeSimpleBatch(i * 2, 2));
  // bytes_max smaller than one batch: still one batch (KIP-74), or none without min_one_batch.
  auto one = env.Run(log->Read(Offset(0), ReadOptions{.bytes_max = 10}));
  ASSERT_TRUE(one.ok());
  EXPECT_EQ(one->batches.size(), 1u);
  auto none = env.Run(log->Read(Offset(0), ReadOptions{.bytes_max = 10, .min_one_batch = false}));
  ASSERT_TRUE(none.ok());
  EXPECT_TRUE(none->batches.empty());
  EXPECT_EQ(none->next_offset, Offset(0));
  // end_offset (the high watermark for consumers) bounds the batches returned.
  auto bounded = env.Run(log->Read(Offset(0), ReadOptions{.end_offset = Offset(7)}));
  ASSERT_TRUE(bounded.ok());
  ASSERT_EQ(bounded->batches.size(), 3u);
  EXPECT_EQ(bounded->next_offset, Offset(6));
  // At the log end: empty. Past it or below the start: out of range.
  auto at_end = env.Run(log->Read(Offset(20)));
  ASSERT_TRUE(at_end.ok());
  EXPECT_TRUE(at_end->batches.empty());
  auto past = env.Run(log->Read(Offset(21)));
  EXPECT_TRUE(past.status().Is(ErrorKind::kNotFound)) << past.status().ToString();
}

TEST(LogTest, ReadsSurviveAWrongIndex) {
  // A trusted index pointing into the middle of a batch must not send a read astray.
  SimLogEnv env;
  LogConfig config = SmallSegments(1 << 20);
  config.index_interval_bytes = 64;
  auto log = env.Open(kDir, config);
  for (int i = 0; i < 50; ++i) env.Append(*log, MakeSimpleBatch(i, 1));
  ASSERT_TRUE(env.Run(log->Close()).ok());
  const std::string index = segment_format::SegmentPath(kDir, Offset(0), ".index");
  auto bytes = env.disk().ReadNow(index);
  ASSERT_TRUE(bytes.ok());
  ASSERT_GT(bytes->size(), 16u);
  // Entry 1's position += 3 (still increasing, still inside the file: passes the sanity check).
  ASSERT_TRUE(env.disk().InjectBitRot(index, 8 + 7, 0).ok());
  ASSERT_TRUE(env.disk().InjectBitRot(index, 8 + 7, 1).ok());
  log = env.Open(kDir, config);
  const auto records = env.ReadAll(*log);
  ASSERT_EQ(records.size(), 50u);
  for (int i = 0; i < 50; ++i) {
    auto r = env.Run(log->Read(Offset(i), ReadOptions{.bytes_max = 1, .verify = true}));
    ASSERT_TRUE(r.ok()) << i << ": " << r.status().ToString();
    EXPECT_EQ(r->batches.at(0).base_offset, Offset(i));
  }
}

TEST(LogTest, OffsetForTimestampFindsTheFirstRecordAtOrAfter) {
  SimLogEnv env;
  auto log = env.Open(kDir, SmallSegments(1500));
  // Batch i holds records with timestamps 1000*i + {0, 5, 2} (unordered within the batch).
  for (int i = 0; i < 30; ++i) {
    env.Append(*log, MakeBatch({KV{"a", "x", 1000 * i}, KV{"b", "y", 1000 * i + 5},
                                KV{"c", "z", 1000 * i + 2}}));
  }
  auto at = [&](int64_t ts) {
    auto r = env.Run(log->OffsetForTimestamp(ts));
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    return r.ok() ? *r : std::nullopt;
  };
  auto r = at(0);
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->offset, Offset(0));
  r = at(1);  // first record >= 1 is offset 1 (ts 5)
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->offset, Offset(1));
  EXPECT_EQ(r->timestamp_ms, 5);
  r = at(17003);  // batch 17: 17000, 17005, 17002 -> offset 52 (17005)
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->offset, Offset(52));
  r = at(17006);  // batch 18's first record
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->offset, Offset(54));
  EXPECT_FALSE(at(29006).has_value());
  auto max = env.Run(log->OffsetOfMaxTimestamp());
  ASSERT_TRUE(max.ok() && max->has_value());
  EXPECT_EQ((*max)->timestamp_ms, 29005);
  EXPECT_EQ((*max)->offset, Offset(88));
  // The same answers after a clean reopen (time index loaded from disk).
  ASSERT_TRUE(env.Run(log->Close()).ok());
  log = env.Open(kDir, SmallSegments(1500));
  EXPECT_GT(log->recovery_report().segments_trusted, 1u);
  r = at(17003);
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->offset, Offset(52));
}

TEST(LogTest, LogAppendTimeStampsTheBrokerClock) {
  SimLogEnv env;
  LogConfig config;
  config.message_timestamp_type = TimestampType::kLogAppendTime;
  auto log = env.Open(kDir, config);
  const int64_t before_ms = env.io().clock().Wall().unix_ms();
  auto r = env.TryAppend(*log, MakeSimpleBatch(0, 2, "", 5));
  ASSERT_TRUE(r.ok() && r->appended());
  // Stamped while the append ran (its write takes simulated time, which may cross a ms).
  EXPECT_GE(r->log_append_time_ms, before_ms);
  EXPECT_LE(r->log_append_time_ms, env.io().clock().Wall().unix_ms());
  EXPECT_GT(r->log_append_time_ms, 1'000'000);  // the broker's clock, not the batch's 5
  const auto records = env.ReadAll(*log);
  ASSERT_EQ(records.size(), 2u);
  EXPECT_EQ(records[0].timestamp_ms, r->log_append_time_ms);
  EXPECT_EQ(records[1].timestamp_ms, r->log_append_time_ms);
}

TEST(LogTest, TruncateRemovesBatchesAndIsDurable) {
  SimLogEnv env;
  auto log = env.Open(kDir, SmallSegments(1024));
  for (int i = 0; i < 40; ++i) env.Append(*log, MakeSimpleBatch(i * 2, 2));
  ASSERT_TRUE(env.Run(log->Flush()).ok());
  const size_t segments = log->segment_count();
  ASSERT_GT(segments, 3u);
  // 31 is inside the batch [30, 31]: the whole batch goes.
  auto end = env.Run(log->Truncate(Offset(31)));
  ASSERT_TRUE(end.ok()) << end.status().ToString();
  EXPECT_EQ(*end, Offset(30));
  EXPECT_EQ(log->log_end_offset(), Offset(30));
  EXPECT_LT(log->segment_count(), segments);
  EXPECT_EQ(env.ReadAll(*log).size(), 30u);
  // Appends continue at the new end; the truncated records never come back, crash or not.
  env.Append(*log, MakeSimpleBatch(100, 3, "new"));
  env.Crash(log);
  log = env.Open(kDir, SmallSegments(1024));
  const auto records = env.ReadAll(*log);
  const RecoveryReport& report = log->recovery_report();
  ASSERT_GE(records.size(), 30u) << log->log_start_offset().value() << " "
                                 << log->log_end_offset().value() << " " << report.truncation_reason
                                 << " " << report.meta_problem;
  for (size_t i = 0; i < records.size(); ++i) {
    EXPECT_EQ(records[i].offset, static_cast<int64_t>(i));
    if (i >= 30) {
      EXPECT_EQ(records[i].value, "v" + std::to_string(100 + i - 30) + "-new");
    }
  }
  EXPECT_TRUE(env.Run(log->Truncate(Offset(-1))).status().Is(ErrorKind::kInvalidArgument));
}

TEST(LogTest, TruncateRebuildsProducerState) {
  SimLogEnv env;
  auto log = env.Open(kDir, SmallSegments(1024));
  BatchOptions p;
  p.producer_id = ProducerId(9);
  p.producer_epoch = ProducerEpoch(0);
  for (int i = 0; i < 20; ++i) {
    p.base_sequence = i * 2;
    env.Append(*log, MakeSimpleBatch(i * 2, 2, "", 1'700'000'000'000, p));
  }
  ASSERT_TRUE(env.Run(log->Truncate(Offset(10))).ok());
  const ProducerEntry* e = log->producers().Find(ProducerId(9));
  ASSERT_NE(e, nullptr);
  EXPECT_EQ(e->last_batch()->last_sequence, 9);
  EXPECT_EQ(log->producers().next_offset(), Offset(10));
  // The producer's next batch (sequence 10) is accepted again.
  p.base_sequence = 10;
  EXPECT_EQ(env.Append(*log, MakeSimpleBatch(10, 2, "", 1'700'000'000'000, p)), 10);
}

TEST(LogTest, TruncateFullyAndStartAt) {
  SimLogEnv env;
  auto log = env.Open(kDir, SmallSegments(1024));
  for (int i = 0; i < 20; ++i) env.Append(*log, MakeSimpleBatch(i, 1));
  ASSERT_TRUE(env.Run(log->TruncateFullyAndStartAt(Offset(1000))).ok());
  EXPECT_EQ(log->log_start_offset(), Offset(1000));
  EXPECT_EQ(log->log_end_offset(), Offset(1000));
  EXPECT_EQ(env.Append(*log, MakeSimpleBatch(0, 2)), 1000);
  env.Crash(log);
  log = env.Open(kDir, SmallSegments(1024));
  EXPECT_EQ(log->log_start_offset(), Offset(1000));
  EXPECT_GE(log->log_end_offset(), Offset(1000));
  EXPECT_EQ(log->segment_bases().front(), Offset(1000));
}

TEST(LogTest, CleanCloseIsTrustedOnReopen) {
  SimLogEnv env;
  auto log = env.Open(kDir, SmallSegments(2048));
  for (int i = 0; i < 30; ++i) env.Append(*log, MakeSimpleBatch(i * 3, 3));
  ASSERT_TRUE(env.Run(log->Close()).ok());
  EXPECT_TRUE(env.Run(log->Flush()).Is(ErrorKind::kClosed));
  const size_t segments = log->segment_count();
  log = env.Open(kDir, SmallSegments(2048));
  const RecoveryReport& report = log->recovery_report();
  EXPECT_TRUE(report.clean_shutdown);
  EXPECT_EQ(report.segments_trusted, segments);
  EXPECT_EQ(report.segments_scanned, 0u);
  EXPECT_EQ(report.batches_replayed, 0u);
  EXPECT_EQ(log->log_end_offset(), Offset(90));
  EXPECT_EQ(env.ReadAll(*log).size(), 90u);
  // The next open after this (unclean) one scans only from the recovery point: the segment
  // that was active when it opened, and any rolled since.
  const Offset recovery_point = log->recovery_point();
  EXPECT_EQ(recovery_point, log->segment_bases().back());
  env.Append(*log, MakeSimpleBatch(90, 3));
  env.Stop(log);
  log = env.Open(kDir, SmallSegments(2048));
  EXPECT_FALSE(log->recovery_report().clean_shutdown);
  size_t from_point = 0;
  for (Offset base : log->segment_bases()) from_point += base >= recovery_point;
  EXPECT_EQ(log->recovery_report().segments_scanned, from_point);
  EXPECT_EQ(log->recovery_report().segments_trusted, log->segment_count() - from_point);
  EXPECT_EQ(log->log_end_offset(), Offset(93));
}

TEST(LogTest, CheckpointAdvancesTheRecoveryPoint) {
  SimLogEnv env;
  auto log = env.Open(kDir, SmallSegments(1024));
  for (int i = 0; i < 40; ++i) env.Append(*log, MakeSimpleBatch(i * 2, 2));
  ASSERT_TRUE(env.Run(log->Checkpoint()).ok());
  EXPECT_EQ(log->recovery_point(), log->segment_bases().back());
  EXPECT_EQ(log->flushed_offset(), Offset(80));
  env.Crash(log);
  log = env.Open(kDir, SmallSegments(1024));
  EXPECT_EQ(log->recovery_report().segments_scanned, 1u);
  EXPECT_EQ(log->recovery_report().segments_trusted, log->segment_count() - 1);
  EXPECT_EQ(log->log_end_offset(), Offset(80));
}

TEST(LogTest, FailedWriteIsNotFatal) {
  SimLogEnv env;
  auto log = env.Open(kDir);
  env.Append(*log, MakeSimpleBatch(0, 5));
  env.disk().SetCapacity(env.disk().used_bytes() + 50);
  auto r = env.TryAppend(*log, MakeSimpleBatch(5, 5));
  EXPECT_TRUE(r.status().Is(ErrorKind::kNoSpace)) << r.status().ToString();
  EXPECT_EQ(log->log_end_offset(), Offset(5));
  EXPECT_TRUE(log->health().ok());
  env.disk().SetCapacity(uint64_t{1} << 40);
  EXPECT_EQ(env.Append(*log, MakeSimpleBatch(5, 5)), 5);
  EXPECT_EQ(env.ReadAll(*log).size(), 10u);
}

TEST(LogTest, FailedSyncFencesTheLogUntilReopened) {
  SimLogEnv env;
  auto log = env.Open(kDir);
  env.Append(*log, MakeSimpleBatch(0, 5), {.durable = true});
  env.disk().SetFaults(sim::DiskFaults{.sync_error_probability = 1});
  auto r = env.TryAppend(*log, MakeSimpleBatch(5, 5), AppendOptions{.durable = true});
  EXPECT_TRUE(r.status().Is(ErrorKind::kIo)) << r.status().ToString();
  EXPECT_FALSE(log->health().ok());
  EXPECT_TRUE(env.TryAppend(*log, MakeSimpleBatch(5, 1)).status().Is(ErrorKind::kIo));
  EXPECT_FALSE(env.Run(log->Read(Offset(0))).ok());
  env.disk().SetFaults({});
  // The failed sync lost the second batch's write for good, but the file still shows it: the
  // reopen keeps it and makes it durable by writing it again (log_sync_failure_test.cc has
  // the power-loss cases), so what it serves is what a crash leaves.
  env.Stop(log);
  log = env.Open(kDir);
  EXPECT_EQ(log->log_end_offset(), Offset(10));
  EXPECT_EQ(log->recovery_report().bytes_rewritten, log->size_bytes());
  env.Append(*log, MakeSimpleBatch(10, 5, "again"), {.durable = true});
  env.Crash(log);
  log = env.Open(kDir);
  const auto records = env.ReadAll(*log);
  ASSERT_EQ(records.size(), 15u);
  EXPECT_EQ(records[7].value, "v7-");
  EXPECT_EQ(records[12].value, "v12-again");
}

TEST(LogTest, AppendsWaitingBeyondTheLimitAreRefused) {
  SimLogEnv env;
  LogLimits limits;
  limits.appends_waiting_max = 4;
  auto log = env.Open(kDir, {}, limits);
  std::vector<std::vector<std::byte>> batches;
  for (int i = 0; i < 16; ++i) batches.push_back(MakeSimpleBatch(i, 1));
  int refused = 0;
  int appended = 0;
  env.Run([](Log& log, std::vector<std::vector<std::byte>>& batches, int& refused,
             int& appended) -> Task<int> {
    std::vector<Task<Result<AppendResult>>> tasks;
    for (auto& b : batches) tasks.push_back(log.Append(b));
    for (auto& r : co_await WhenAll(std::move(tasks))) {
      if (r.ok()) {
        ++appended;
      } else if (r.status().Is(ErrorKind::kLimit)) {
        ++refused;
      }
    }
    co_return 0;
  }(*log, batches, refused, appended));
  EXPECT_GT(refused, 0);
  EXPECT_EQ(refused + appended, 16);
  EXPECT_EQ(log->log_end_offset(), Offset(appended));
}

}  // namespace
}  // namespace runnel::engine
