// Failed syncs (fsync EIO) and power loss: whatever a log serves after it reopened must survive
// the next power loss. SimDisk models Linux: a failed Sync loses the file's unsynced writes for
// good, yet they stay readable until a crash, and a later Sync succeeds without writing them.
// Each test injects sync failures at one chosen moment (sync_error_probability 1 around one call),
// then cuts the power with a crash model that drops every unsynced write.
#include <gtest/gtest.h>

#include "engine/log.h"
#include "tests/storage/log_test_util.h"

namespace runnel::engine {
namespace {

using testing::MakeBatch;
using testing::MakeSimpleBatch;
using testing::SimLogEnv;
using testing::StoredRecord;

constexpr char kDir[] = "/data/topic-0";

LogConfig SmallSegments(uint64_t segment_bytes) {
  LogConfig c;
  c.segment_bytes = segment_bytes;
  c.index_interval_bytes = 256;
  return c;
}

// A power loss keeps nothing that was not synced.
void DropUnsyncedOnCrash(SimLogEnv& env) {
  env.disk().SetCrashModel(sim::CrashModel{.keep_probability = 0, .drop_probability = 1});
}

void FailEverySync(SimLogEnv& env, bool fail) {
  env.disk().SetFaults(sim::DiskFaults{.sync_error_probability = fail ? 1.0 : 0.0});
}

// Issue 5 (seeds 129/868 of the broker workload): records written by a process that exited
// before syncing them; the next Open's sync fails (their writes are lost for good, though still
// readable); the Open after that reads them back, and before the fix it trusted them because its
// own sync "succeeded". A power loss then took records the reopened log had served (the broker
// sets the high watermark to the log end at open).
TEST(LogSyncFailureTest, SyncFailingDuringOpenDoesNotLeaveUnsyncedRecordsTrusted) {
  SimLogEnv env;
  DropUnsyncedOnCrash(env);
  auto log = env.Open(kDir);
  for (int i = 0; i < 3; ++i) env.Append(*log, MakeSimpleBatch(i * 5, 5));  // page cache only
  env.Stop(log);

  for (int attempt = 0; attempt < 2; ++attempt) {
    FailEverySync(env, true);
    Result<std::unique_ptr<Log>> failed = env.Run(Log::Open(env.io(), kDir, LogConfig{}));
    ASSERT_FALSE(failed.ok()) << "the open's sync was to fail";
    EXPECT_TRUE(failed.status().Is(ErrorKind::kIo)) << failed.status().ToString();
    FailEverySync(env, false);
  }

  log = env.Open(kDir);
  const int64_t served = log->log_end_offset().value();
  ASSERT_EQ(served, 15) << "the records are still readable, so recovery keeps them";
  EXPECT_GT(log->recovery_report().bytes_rewritten, 0u);
  const std::vector<StoredRecord> before = env.ReadAll(*log);

  env.Crash(log);
  log = env.Open(kDir);
  EXPECT_EQ(log->log_end_offset().value(), served)
      << "a power loss took records the reopened log served";
  EXPECT_EQ(env.ReadAll(*log), before);
}

// A sync round fails (the appends waiting for it fail with kIo, the log is fenced); the process
// exits before anything else happens. The reopen reads what the file shows, the failed append's
// bytes included, and must make all of it durable before serving it.
TEST(LogSyncFailureTest, FailedSyncRoundThenReopenThenPowerLoss) {
  SimLogEnv env;
  DropUnsyncedOnCrash(env);
  auto log = env.Open(kDir);
  env.Append(*log, MakeSimpleBatch(0, 5), {.durable = true});
  FailEverySync(env, true);
  auto r = env.TryAppend(*log, MakeSimpleBatch(5, 5), AppendOptions{.durable = true});
  EXPECT_TRUE(r.status().Is(ErrorKind::kIo)) << r.status().ToString();
  EXPECT_FALSE(log->health().ok());
  FailEverySync(env, false);
  env.Stop(log);

  log = env.Open(kDir);
  const int64_t served = log->log_end_offset().value();
  EXPECT_GE(served, 5);
  const std::vector<StoredRecord> before = env.ReadAll(*log);
  ASSERT_EQ(static_cast<int64_t>(before.size()), served);
  env.Append(*log, MakeSimpleBatch(static_cast<int>(served), 5, "again"), {.durable = true});

  env.Crash(log);
  log = env.Open(kDir);
  EXPECT_EQ(log->log_end_offset().value(), served + 5);
  const std::vector<StoredRecord> after = env.ReadAll(*log);
  ASSERT_EQ(static_cast<int64_t>(after.size()), served + 5);
  EXPECT_TRUE(std::equal(before.begin(), before.end(), after.begin()));
  EXPECT_EQ(after.back().value, "v" + std::to_string(served + 4) + "-again");
}

// The same in a log of several segments, with the failure on the reopen after a process exit:
// every scanned segment (the active one and those rolled since the recovery point) is written
// again, not only the last.
TEST(LogSyncFailureTest, EveryScannedSegmentIsMadeDurable) {
  SimLogEnv env;
  DropUnsyncedOnCrash(env);
  auto log = env.Open(kDir, SmallSegments(1024));
  for (int i = 0; i < 10; ++i) env.Append(*log, MakeSimpleBatch(i * 2, 2), {.durable = true});
  ASSERT_TRUE(env.Run(log->Checkpoint()).ok());
  for (int i = 10; i < 40; ++i) env.Append(*log, MakeSimpleBatch(i * 2, 2));  // rolls, unsynced
  ASSERT_GT(log->segment_count(), 3u);
  env.Stop(log);

  FailEverySync(env, true);
  ASSERT_FALSE(env.Run(Log::Open(env.io(), kDir, SmallSegments(1024))).ok());
  FailEverySync(env, false);

  log = env.Open(kDir, SmallSegments(1024));
  ASSERT_EQ(log->log_end_offset(), Offset(80));
  EXPECT_GE(log->recovery_report().segments_scanned, 2u);
  const std::vector<StoredRecord> before = env.ReadAll(*log);

  env.Crash(log);
  log = env.Open(kDir, SmallSegments(1024));
  EXPECT_EQ(log->log_end_offset(), Offset(80));
  EXPECT_EQ(env.ReadAll(*log), before);
}

// A fenced log's append whose write was in flight when the sync failed lands later. WaitIdle
// (what the broker awaits before it reopens a fenced log) resolves only after it landed, so a
// reopen reads the file as it will stay; the file does not change after it. Across seeds, some
// fence while the large write is still in flight.
TEST(LogSyncFailureTest, WaitIdleOutlastsWritesInFlightAtTheFence) {
  int in_flight_at_fence = 0;
  for (uint64_t seed = 1; seed <= 60; ++seed) {
    SimLogEnv env(seed);
    auto log = env.Open(kDir);
    FailEverySync(env, true);
    std::vector<std::byte> small = MakeSimpleBatch(0, 1);
    std::vector<std::byte> large = MakeBatch({{"big", std::string(900 * 1024, 'x')}});
    int resolved = 0;
    auto append = [](Log& log, std::span<std::byte> batch, bool durable,
                     int& resolved) -> Task<void> {
      Result<AppendResult> r = co_await log.Append(batch, AppendOptions{.durable = durable});
      // Every sync fails: a durable append never succeeds (a non-durable one does if it was
      // written and committed before the fence).
      if (durable) {
        EXPECT_FALSE(r.ok()) << "a durable append acknowledged without a sync";
      }
      ++resolved;
    };
    env.world().Spawn(env.node(), 0, append(*log, small, true, resolved));
    env.world().Spawn(env.node(), 0, append(*log, large, false, resolved));
    while (log->health().ok() && env.world().Step()) {
    }
    ASSERT_FALSE(log->health().ok()) << "seed " << seed;
    const bool in_flight = log->file_ops_in_flight() > 0;
    in_flight_at_fence += in_flight;
    bool idle = false;
    env.world().Spawn(env.node(), 0, [](Log& log, bool& idle) -> Task<void> {
      co_await log.WaitIdle();
      idle = true;
    }(*log, idle));
    while (!idle && env.world().Step()) {
    }
    ASSERT_TRUE(idle);
    EXPECT_EQ(log->file_ops_in_flight(), 0u);
    const size_t size_when_idle =
        env.disk().ReadNow(std::string(kDir) + "/00000000000000000000.log")->size();
    while (resolved < 2 && env.world().Step()) {
    }
    EXPECT_EQ(resolved, 2);
    EXPECT_EQ(env.disk().ReadNow(std::string(kDir) + "/00000000000000000000.log")->size(),
              size_when_idle)
        << "seed " << seed << ": the file changed after WaitIdle";
    if (in_flight) {
      EXPECT_GT(size_when_idle, large.size()) << "seed " << seed << ": the large write landed";
    }
  }
  EXPECT_GT(in_flight_at_fence, 0) << "no seed fenced the log with a write in flight";
}

// A clean close proves its segments durable: the next open trusts them and rewrites nothing.
TEST(LogSyncFailureTest, TrustedSegmentsAreNotRewritten) {
  SimLogEnv env;
  auto log = env.Open(kDir, SmallSegments(1024));
  for (int i = 0; i < 20; ++i) env.Append(*log, MakeSimpleBatch(i * 2, 2));
  ASSERT_TRUE(env.Run(log->Close()).ok());
  log = env.Open(kDir, SmallSegments(1024));
  EXPECT_TRUE(log->recovery_report().clean_shutdown);
  EXPECT_EQ(log->recovery_report().bytes_rewritten, 0u);
  // An unclean reopen rewrites exactly the scanned segments' bytes.
  env.Append(*log, MakeSimpleBatch(40, 2));
  env.Stop(log);
  log = env.Open(kDir, SmallSegments(1024));
  const RecoveryReport& report = log->recovery_report();
  EXPECT_FALSE(report.clean_shutdown);
  EXPECT_EQ(report.bytes_rewritten, report.bytes_scanned);
  EXPECT_GT(report.bytes_rewritten, 0u);
}

}  // namespace
}  // namespace runnel::engine
