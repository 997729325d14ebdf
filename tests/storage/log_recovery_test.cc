// Recovery (Log::Open): cuts at the first bad batch, rebuilds untrusted indexes, cleans
// leftovers, completes compaction swaps and truncations, recovers producer state, and survives
// crashes of its own.
#include "engine/log_recovery.h"

#include <gtest/gtest.h>

#include "engine/log.h"
#include "engine/partition_meta.h"
#include "engine/record_batch_format.h"
#include "engine/segment_format.h"
#include "engine/varint.h"
#include "tests/storage/log_test_util.h"

namespace runnel::engine {
namespace {

namespace sf = segment_format;
using testing::MakeSimpleBatch;
using testing::SimLogEnv;

constexpr char kDir[] = "/data/rec";

LogConfig Small() {
  LogConfig c;
  c.segment_bytes = 1024;
  c.index_interval_bytes = 128;
  return c;
}

// A log of `batches` durable 2-record batches over several segments.
std::unique_ptr<Log> Fill(SimLogEnv& env, int batches, LogConfig config = Small()) {
  auto log = env.Open(kDir, config);
  for (int i = 0; i < batches; ++i) env.Append(*log, MakeSimpleBatch(i * 2, 2));
  RUNNEL_ASSERT(env.Run(log->Flush()).ok(), "flush");
  return log;
}

std::string LogPath(Offset base) { return sf::SegmentPath(kDir, base, ".log"); }

TEST(LogRecoveryTest, ACorruptBatchEndsTheLog) {
  SimLogEnv env;
  auto log = Fill(env, 40);
  const auto bases = log->segment_bases();
  ASSERT_GE(bases.size(), 4u);
  // Rot in the second batch of the third segment (which was never checkpointed: scanned).
  auto r = env.Run(log->Read(bases[2], ReadOptions{.bytes_max = 1}));
  ASSERT_TRUE(r.ok());
  const BatchInfo first = r->batches[0];
  env.Stop(log);
  const uint64_t rot_at = first.position + first.size_bytes + 40;
  ASSERT_TRUE(env.disk().InjectBitRot(LogPath(bases[2]), rot_at, 3).ok());
  log = env.Open(kDir, Small());
  const RecoveryReport& report = log->recovery_report();
  EXPECT_EQ(log->log_end_offset(), first.next_offset());
  EXPECT_NE(report.truncation_reason.find("CRC"), std::string::npos) << report.truncation_reason;
  EXPECT_EQ(report.segments_deleted, bases.size() - 3);
  EXPECT_GT(report.bytes_truncated, 0u);
  EXPECT_EQ(log->segment_count(), 3u);
  for (size_t i = 3; i < bases.size(); ++i) EXPECT_FALSE(env.disk().ExistsNow(LogPath(bases[i])));
  EXPECT_EQ(env.ReadAll(*log).size(), static_cast<size_t>(first.next_offset().value()));
  // The cut is durable and appends continue densely.
  EXPECT_EQ(env.Append(*log, MakeSimpleBatch(0, 1)), first.next_offset().value());
  env.Crash(log);
  log = env.Open(kDir, Small());
  EXPECT_GE(log->log_end_offset(), first.next_offset());
}

TEST(LogRecoveryTest, MissingOrCorruptMetaScansEverything) {
  for (bool corrupt : {false, true}) {
    SimLogEnv env;
    auto log = Fill(env, 30);
    ASSERT_TRUE(env.Run(log->Close()).ok());
    const size_t segments = log->segment_count();
    log.reset();
    if (corrupt) {
      ASSERT_TRUE(env.disk().InjectBitRot(std::string(kDir) + "/partition.meta", 20, 0).ok());
    } else {
      ASSERT_TRUE(env.Run(env.io().fs().Remove(std::string(kDir) + "/partition.meta")).ok());
    }
    log = env.Open(kDir, Small());
    const RecoveryReport& report = log->recovery_report();
    EXPECT_FALSE(report.meta_found);
    EXPECT_FALSE(report.meta_problem.empty());
    EXPECT_EQ(report.segments_scanned, segments);
    EXPECT_EQ(report.segments_trusted, 0u);
    EXPECT_EQ(log->log_end_offset(), Offset(60));
    EXPECT_EQ(env.ReadAll(*log).size(), 60u);
  }
}

TEST(LogRecoveryTest, RottenIndexFilesAreRebuilt) {
  SimLogEnv env;
  auto log = Fill(env, 30);
  ASSERT_TRUE(env.Run(log->Close()).ok());
  const auto bases = log->segment_bases();
  log.reset();
  // Index entry positions out of order: the sanity check fails, the segment is scanned.
  const std::string index = sf::SegmentPath(kDir, bases[1], ".index");
  auto bytes = env.disk().ReadNow(index);
  ASSERT_TRUE(bytes.ok() && bytes->size() >= 16);
  ASSERT_TRUE(env.disk().InjectBitRot(index, 4, 7).ok());  // entry 0's position += 2^31
  log = env.Open(kDir, Small());
  const RecoveryReport& report = log->recovery_report();
  EXPECT_EQ(report.indexes_rebuilt, 1u);
  EXPECT_EQ(report.segments_trusted, 1u);
  EXPECT_EQ(report.segments_scanned, bases.size() - 1);
  EXPECT_TRUE(report.truncation_reason.empty()) << report.truncation_reason;
  EXPECT_EQ(env.ReadAll(*log).size(), 60u);
  // Rebuilt index files replaced the rotten one.
  auto rebuilt = env.disk().ReadNow(index);
  ASSERT_TRUE(rebuilt.ok());
  EXPECT_TRUE(OffsetIndex::Decode(bases[1], *rebuilt, 1 << 20, 1000).ok());
}

// A time index entry may only name a batch's base offset, never one inside the last batch: a
// trusted active segment whose .timeindex pointed past its last batch's base made the next roll
// seal the time index with an offset that went back (found by the log_recovery fuzzer; the
// seed is fuzz/log_recovery/corpus/regress_time_index_inside_last_batch).
TEST(LogRecoveryTest, ATimeIndexEntryInsideTheLastBatchIsNotTrusted) {
  SimLogEnv env;
  auto log = env.Open(kDir, Small());
  // Timestamps that rise batch by batch, so the time index has several entries.
  for (int i = 0; i < 30; ++i) {
    env.Append(*log, MakeSimpleBatch(i * 2, 2, "", 1'700'000'000'000 + i * 10));
  }
  ASSERT_TRUE(env.Run(log->Flush()).ok());
  ASSERT_TRUE(env.Run(log->Close()).ok());
  const Offset active = log->segment_bases().back();
  const int64_t last_base = log->log_end_offset().value() - 2;
  log.reset();
  // The active segment's last time index entry names the last batch with its max timestamp
  // (...291). Make it name the batch's second record, with a timestamp below the batch's max
  // (...290, still above the entry before): a file that passes Decode's checks.
  const std::string time_index = sf::SegmentPath(kDir, active, ".timeindex");
  auto bytes = env.disk().ReadNow(time_index);
  ASSERT_TRUE(bytes.ok());
  ASSERT_GE(bytes->size(), sf::kTimeIndexEntryBytes);
  const uint64_t entry = bytes->size() - sf::kTimeIndexEntryBytes;
  ASSERT_EQ(static_cast<int64_t>(LoadBe64(bytes->data() + entry)), 1'700'000'000'291);
  ASSERT_TRUE(env.disk().InjectBitRot(time_index, entry + 7, 0).ok());
  const uint64_t at = entry + 8;  // its relative offset
  const uint32_t was = LoadBe32(bytes->data() + at);
  const uint32_t want = static_cast<uint32_t>(last_base + 1 - active.value());
  ASSERT_LE(was, want);
  for (int bit = 0; bit < 32; ++bit) {
    if (((was ^ want) >> bit & 1) == 0) continue;
    ASSERT_TRUE(env.disk().InjectBitRot(time_index, at + 3 - bit / 8, bit % 8).ok());
  }
  log = env.Open(kDir, Small());
  EXPECT_EQ(log->recovery_report().indexes_rebuilt, 1u);
  // Appends that roll the active segment seal its time index.
  for (int i = 30; i < 60; ++i) {
    env.Append(*log, MakeSimpleBatch(i * 2, 2, "", 1'700'000'000'000 + i * 10));
  }
  EXPECT_GT(log->segment_bases().size(), 2u);
  EXPECT_EQ(env.ReadAll(*log).size(), 120u);
}

TEST(LogRecoveryTest, LeftoversAreRemoved) {
  SimLogEnv env;
  auto log = Fill(env, 10);
  ASSERT_TRUE(env.Run(log->Close()).ok());
  log.reset();
  auto& disk = env.disk();
  for (const char* name :
       {"/partition.meta.tmp", "/00000000000000000003.snapshot.tmp",
        "/00000000000000000004.log.cleaned", "/00000000000000000004.index.cleaned",
        "/00000000000000000999.index", "/00000000000000000999.timeindex",
        "/00000000000000000999.snapshot", "/00000000000000000004.index.swap"}) {
    ASSERT_TRUE(env.Run([](Io& io, std::string path) -> Task<Status> {
                     RUNNEL_CO_ASSIGN_OR_RETURN(auto f,
                                                co_await io.fs().Open(path, {.create = true}));
                     co_return co_await f->WriteAt(0, std::vector<std::byte>(10));
                   }(env.io(), std::string(kDir) + name))
                    .ok());
  }
  ASSERT_TRUE(disk.ExistsNow(std::string(kDir) + "/00000000000000000999.index"));
  log = env.Open(kDir, Small());
  EXPECT_EQ(log->recovery_report().leftovers_removed, 8u);
  for (const char* name :
       {"/partition.meta.tmp", "/00000000000000000004.log.cleaned", "/00000000000000000999.index",
        "/00000000000000000999.snapshot", "/00000000000000000004.index.swap"}) {
    EXPECT_FALSE(disk.ExistsNow(std::string(kDir) + name)) << name;
  }
  EXPECT_EQ(log->log_end_offset(), Offset(20));
}

TEST(LogRecoveryTest, SegmentsBelowTheLogStartGo) {
  SimLogEnv env;
  auto log = Fill(env, 30);
  log->SetHighWatermark(log->log_end_offset());
  const auto bases = log->segment_bases();
  PartitionMeta meta;
  meta.log_start = Offset(bases[2].value() + 1);
  meta.recovery_point = Offset(0);
  meta.high_watermark = log->log_end_offset();
  meta.compacted_end = Offset(0);
  env.Stop(log);
  // As if DeleteRecords had written its meta and crashed before deleting.
  ASSERT_TRUE(env.Run(WritePartitionMeta(env.io().fs(), kDir, meta)).ok());
  log = env.Open(kDir, Small());
  EXPECT_EQ(log->log_start_offset(), meta.log_start);
  EXPECT_EQ(log->segment_bases().front(), bases[2]);
  EXPECT_FALSE(env.disk().ExistsNow(LogPath(bases[0])));
  EXPECT_FALSE(env.disk().ExistsNow(LogPath(bases[1])));
  EXPECT_TRUE(env.Run(log->Read(Offset(0))).status().Is(ErrorKind::kNotFound));
}

// A segment may start above where the previous one ended when compaction removed what was
// between, but its own first batch is above its base only if the segment lies below the
// compacted end: a read checks exactly that, so recovery must not accept more (a fuzzer found
// a log whose every read failed after an Open that trusted nothing).
TEST(LogRecoveryTest, ASegmentsFirstBatchAboveItsBaseNeedsTheCompactedEnd) {
  SimLogEnv env;
  auto log = Fill(env, 1);  // offsets 0 and 1 in segment 0
  env.Stop(log);
  std::vector<std::byte> batch = MakeSimpleBatch(0, 1);
  StoreBe64(batch.data() + batch_format::kBaseOffsetOffset, 7680);  // outside the CRC
  ASSERT_TRUE(env.Run([](Io& io, std::string path, std::vector<std::byte> bytes) -> Task<Status> {
                   RUNNEL_CO_ASSIGN_OR_RETURN(auto f,
                                              co_await io.fs().Open(path, {.create = true}));
                   RUNNEL_CO_TRY(co_await f->WriteAt(0, bytes));
                   co_return co_await f->Sync();
                 }(env.io(), LogPath(Offset(30)), batch))
                  .ok());
  PartitionMeta meta;
  meta.compacted_end = Offset(25);  // the gap 2..29 may be compaction's; 30..7679 may not
  ASSERT_TRUE(env.Run(WritePartitionMeta(env.io().fs(), kDir, meta)).ok());
  log = env.Open(kDir, Small());
  EXPECT_EQ(log->recovery_report().segments_trusted, 0u);
  EXPECT_NE(log->recovery_report().truncation_reason.find("a gap"), std::string::npos)
      << log->recovery_report().truncation_reason;
  EXPECT_EQ(log->log_end_offset(), Offset(30));
  EXPECT_EQ(env.ReadAll(*log).size(), 2u);  // every read succeeds
  EXPECT_EQ(env.Append(*log, MakeSimpleBatch(0, 1)), 30);
  EXPECT_EQ(env.ReadAll(*log).size(), 3u);

  // Below the compacted end the same segment is compaction's work and is kept.
  env.Stop(log);
  ASSERT_TRUE(env.Run([](Io& io, std::string path, std::vector<std::byte> bytes) -> Task<Status> {
                   RUNNEL_CO_ASSIGN_OR_RETURN(auto f, co_await io.fs().Open(path, {}));
                   RUNNEL_CO_TRY(co_await f->Truncate(0));
                   RUNNEL_CO_TRY(co_await f->WriteAt(0, bytes));
                   co_return co_await f->Sync();
                 }(env.io(), LogPath(Offset(30)), batch))
                  .ok());
  meta.compacted_end = Offset(7680);
  ASSERT_TRUE(env.Run(WritePartitionMeta(env.io().fs(), kDir, meta)).ok());
  log = env.Open(kDir, Small());
  EXPECT_EQ(log->log_end_offset(), Offset(7681));
  EXPECT_EQ(env.ReadAll(*log).size(), 3u);
}

TEST(LogRecoveryTest, AnUnfinishedTruncationIsFinished) {
  SimLogEnv env;
  auto log = Fill(env, 30);
  PartitionMeta meta;
  meta.truncate_to = Offset(25);
  meta.high_watermark = Offset(0);
  env.Stop(log);
  ASSERT_TRUE(env.Run(WritePartitionMeta(env.io().fs(), kDir, meta)).ok());
  log = env.Open(kDir, Small());
  // The batch [24, 25] straddles 25: it goes too.
  EXPECT_EQ(log->log_end_offset(), Offset(24));
  auto written = env.Run(ReadPartitionMeta(env.io().fs(), kDir));
  ASSERT_TRUE(written.ok() && written->has_value());
  EXPECT_FALSE((*written)->truncate_to.has_value());
  env.Crash(log);
  log = env.Open(kDir, Small());
  EXPECT_EQ(log->log_end_offset(), Offset(24));
}

TEST(LogRecoveryTest, ProducerStateFromSnapshotOrReplay) {
  // Three ways to the same table: the snapshot at the end, an older one and a replay, none.
  ProducerStateTable reference;
  for (int variant = 0; variant < 3; ++variant) {
    SimLogEnv env;
    auto log = env.Open(kDir, Small());
    for (int i = 0; i < 30; ++i) {
      BatchOptions p;
      p.producer_id = ProducerId(1 + i % 3);
      p.producer_epoch = ProducerEpoch(0);
      p.base_sequence = (i / 3) * 2;
      env.Append(*log, MakeSimpleBatch(i * 2, 2, "", 1'700'000'000'000, p));
    }
    ASSERT_TRUE(env.Run(log->Close()).ok());
    if (variant == 0) reference = log->producers();
    EXPECT_EQ(log->producers(), reference);
    log.reset();
    auto entries = env.Run(env.io().fs().List(kDir));
    ASSERT_TRUE(entries.ok());
    std::vector<std::string> snapshots;
    for (const auto& e : *entries) {
      if (sf::ParseFileName(e.name).kind == sf::FileKind::kSnapshot) snapshots.push_back(e.name);
    }
    ASSERT_GE(snapshots.size(), 2u);
    if (variant == 1) {
      // The newest snapshot is corrupt: the older one plus a replay.
      ASSERT_TRUE(env.disk().InjectBitRot(std::string(kDir) + "/" + snapshots.back(), 30, 1).ok());
    } else if (variant == 2) {
      for (const auto& s : snapshots) {
        ASSERT_TRUE(env.Run(env.io().fs().Remove(std::string(kDir) + "/" + s)).ok());
      }
    }
    log = env.Open(kDir, Small());
    const RecoveryReport& report = log->recovery_report();
    EXPECT_EQ(log->producers(), reference) << "variant " << variant;
    if (variant == 0) {
      EXPECT_EQ(report.batches_replayed, 0u);
    }
    if (variant == 1) {
      EXPECT_EQ(report.snapshots_rejected, 1u);
      EXPECT_GT(report.batches_replayed, 0u);
    }
    if (variant == 2) {
      EXPECT_FALSE(report.snapshot_loaded.has_value());
      EXPECT_EQ(report.batches_replayed, 30u);
    }
    // The producers continue where they were.
    BatchOptions p;
    p.producer_id = ProducerId(1);
    p.producer_epoch = ProducerEpoch(0);
    p.base_sequence = 20;
    EXPECT_EQ(env.Append(*log, MakeSimpleBatch(0, 1, "", 1'700'000'000'000, p)), 60);
  }
}

TEST(LogRecoveryTest, ReadErrorsFailTheOpenWithoutCutting) {
  SimLogEnv env;
  auto log = Fill(env, 20);
  const auto bases = log->segment_bases();
  env.Crash(log);
  ASSERT_TRUE(env.disk().InjectLatentError(LogPath(bases.back()), 0).ok());
  auto failed = env.Run(Log::Open(env.io(), kDir, Small()));
  EXPECT_TRUE(failed.status().Is(ErrorKind::kIo)) << failed.status().ToString();
  // The sector is rewritten (the drive remaps it); nothing was cut meanwhile.
  auto bytes = env.disk().ReadNow(LogPath(bases.back()));
  ASSERT_TRUE(bytes.ok());
  ASSERT_TRUE(env.Run([](Io& io, std::string path, std::vector<std::byte> b) -> Task<Status> {
                   RUNNEL_CO_ASSIGN_OR_RETURN(auto f, co_await io.fs().Open(path, {}));
                   RUNNEL_CO_TRY(
                       co_await f->WriteAt(0, std::span(b).first(std::min<size_t>(512, b.size()))));
                   co_return co_await f->Sync();
                 }(env.io(), LogPath(bases.back()), *bytes))
                  .ok());
  log = env.Open(kDir, Small());
  EXPECT_EQ(log->log_end_offset(), Offset(40));
}

TEST(LogRecoveryTest, RecoveryThatCrashesIsRecoveredAgain) {
  // Crash a recovery at every point of its run (by steps): the next one gives the same log.
  for (uint32_t steps = 0; steps < 400; steps += 7) {
    SimLogEnv env(steps + 1);
    auto log = env.Open(kDir, Small());
    for (int i = 0; i < 20; ++i) env.Append(*log, MakeSimpleBatch(i * 2, 2), {.durable = i < 12});
    env.Crash(log);
    auto slot = std::make_shared<std::optional<Result<std::unique_ptr<Log>>>>();
    env.world().Spawn(
        env.node(), 0,
        [](Io& io, std::shared_ptr<std::optional<Result<std::unique_ptr<Log>>>> s) -> Task<void> {
          s->emplace(co_await Log::Open(io, kDir, Small()));
        }(env.io(), slot));
    for (uint32_t i = 0; i < steps && !slot->has_value(); ++i) env.world().Step();
    env.world().CrashNode(env.node());
    slot.reset();
    env.world().StartNode(env.node());
    log = env.Open(kDir, Small());
    const int64_t end = log->log_end_offset().value();
    EXPECT_GE(end, 24) << "steps " << steps;
    const auto records = env.ReadAll(*log);
    ASSERT_EQ(static_cast<int64_t>(records.size()), end);
    for (int64_t i = 0; i < end; ++i) EXPECT_EQ(records[i].key, "k" + std::to_string(i));
  }
}

}  // namespace
}  // namespace runnel::engine
