// Compaction: the latest record per key with its offset, tombstones after delete.retention.ms,
// the active segment untouched, producers' last batches kept, and a crash-safe swap.
#include "engine/compaction.h"

#include <gtest/gtest.h>

#include <map>

#include "engine/segment_format.h"
#include "tests/storage/log_test_util.h"

namespace runnel::engine {
namespace {

using testing::KV;
using testing::MakeBatch;
using testing::SimLogEnv;
using testing::StoredRecord;

constexpr char kDir[] = "/data/cmp";

LogConfig Compacted(CleanupPolicy policy = CleanupPolicy::kCompact) {
  LogConfig c;
  c.segment_bytes = 800;
  c.index_interval_bytes = 100;
  c.cleanup_policy = policy;
  c.delete_retention_ms = 10'000;
  return c;
}

// Appends `rounds` rounds of values for keys k0..k4 (3 records a batch), durably, and moves the
// high watermark to the end. Returns every record appended, by offset.
std::map<int64_t, KV> Fill(SimLogEnv& env, Log& log, int rounds) {
  std::map<int64_t, KV> all;
  int n = 0;
  for (int r = 0; r < rounds; ++r) {
    std::vector<KV> batch;
    for (int i = 0; i < 3; ++i, ++n) {
      batch.push_back(KV{"k" + std::to_string(n % 5), "v" + std::to_string(n), 1000 + n});
    }
    const int64_t base = env.Append(log, MakeBatch(batch), {.durable = true});
    for (int i = 0; i < 3; ++i) all[base + i] = batch[i];
  }
  log.SetHighWatermark(log.log_end_offset());
  return all;
}

// Checks the log against everything appended: every record read is the one appended at its
// offset; for each key the latest record is present; records in the active segment all stay.
void CheckCompacted(SimLogEnv& env, Log& log, const std::map<int64_t, KV>& all,
                    bool tombstones_may_go) {
  const auto records = env.ReadAll(log);
  std::map<std::string, int64_t> latest;
  for (const auto& [offset, kv] : all) latest[*kv.key] = offset;
  std::map<int64_t, StoredRecord> read;
  int64_t previous = -1;
  for (const StoredRecord& r : records) {
    EXPECT_GT(r.offset, previous);
    previous = r.offset;
    const KV& want = all.at(r.offset);
    EXPECT_EQ(r.key, want.key);
    EXPECT_EQ(r.value, want.value);
    EXPECT_EQ(r.timestamp_ms, want.timestamp_ms);
    read[r.offset] = r;
  }
  for (const auto& [key, offset] : latest) {
    const bool tombstone = !all.at(offset).value.has_value();
    if (tombstone && tombstones_may_go) continue;
    EXPECT_EQ(read.count(offset), 1u) << "latest of " << key << " at " << offset << " missing";
  }
  const Offset active = log.segment_bases().back();
  for (const auto& [offset, kv] : all) {
    if (Offset(offset) >= active) {
      EXPECT_EQ(read.count(offset), 1u) << offset;
    }
  }
}

TEST(CompactionTest, KeepsTheLatestRecordPerKeyAtItsOffset) {
  SimLogEnv env;
  auto log = env.Open(kDir, Compacted());
  auto all = Fill(env, *log, 30);
  const uint64_t before = log->size_bytes();
  const Offset active = log->segment_bases().back();
  auto r = env.Run(log->Compact());
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_GT(r->segments_cleaned, 0u);
  EXPECT_GT(r->records_removed, 0u);
  EXPECT_LT(log->size_bytes(), before);
  EXPECT_EQ(log->segment_bases().back(), active);
  EXPECT_GT(log->compacted_end(), Offset(0));
  CheckCompacted(env, *log, all, false);
  // Five keys: the closed segments keep at most five records, all the latest before the active
  // segment.
  const auto records = env.ReadAll(*log);
  size_t closed_records = 0;
  for (const auto& rec : records) closed_records += Offset(rec.offset) < active;
  EXPECT_LE(closed_records, 5u);
  // Offsets in the cleaned segments have gaps; recovery accepts them, crash or clean.
  env.Crash(log);
  log = env.Open(kDir, Compacted());
  EXPECT_TRUE(log->recovery_report().truncation_reason.empty())
      << log->recovery_report().truncation_reason;
  CheckCompacted(env, *log, all, false);
  // A second pass finds nothing more to do.
  r = env.Run(log->Compact());
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->records_removed, 0u);
}

TEST(CompactionTest, OnlyDurableSegmentsBelowTheHighWatermarkAreCleaned) {
  SimLogEnv env;
  auto log = env.Open(kDir, Compacted());
  auto all = Fill(env, *log, 30);
  log->SetHighWatermark(Offset(0));
  auto r = env.Run(log->Compact());
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->segments_cleaned, 0u);
  // Not flushed: nothing either.
  log->SetHighWatermark(log->log_end_offset());
  for (int i = 0; i < 20; ++i) {
    std::vector<KV> batch{KV{"k0", "late" + std::to_string(i), 5000 + i}};
    const int64_t base = env.Append(*log, MakeBatch(batch));
    all[base] = batch[0];
  }
  log->SetHighWatermark(log->log_end_offset());
  r = env.Run(log->Compact());
  ASSERT_TRUE(r.ok());
  CheckCompacted(env, *log, all, false);
  // The unflushed "late" values were not allowed to make older ones obsolete: after a crash
  // that loses them, k0 still has a value.
  env.Crash(log);
  log = env.Open(kDir, Compacted());
  bool k0 = false;
  for (const auto& rec : env.ReadAll(*log)) k0 |= rec.key == "k0";
  EXPECT_TRUE(k0);
}

TEST(CompactionTest, TombstonesGoAfterDeleteRetention) {
  SimLogEnv env;
  auto log = env.Open(kDir, Compacted());
  std::map<int64_t, KV> all;
  auto append = [&](std::vector<KV> batch) {
    const int64_t base = env.Append(*log, MakeBatch(batch), {.durable = true});
    for (size_t i = 0; i < batch.size(); ++i) all[base + static_cast<int64_t>(i)] = batch[i];
  };
  append({KV{"a", "1"}, KV{"b", "1"}, KV{"c", "1"}});
  append({KV{"a", std::nullopt}});  // tombstone for a
  for (int i = 0; i < 40; ++i) append({KV{"x" + std::to_string(i % 4), std::string(30, 'y')}});
  log->SetHighWatermark(log->log_end_offset());
  auto has_tombstone = [&] {
    for (const auto& r : env.ReadAll(*log)) {
      if (r.key == "a") return !r.value.has_value();
    }
    return false;
  };
  auto r = env.Run(log->Compact());
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(has_tombstone()) << "the first pass sets the horizon, keeps the tombstone";
  EXPECT_EQ(r->tombstones_removed, 0u);
  env.world().RunFor(std::chrono::seconds(5));
  r = env.Run(log->Compact());
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(has_tombstone()) << "5 s < delete.retention.ms";
  env.world().RunFor(std::chrono::seconds(6));
  r = env.Run(log->Compact());
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->tombstones_removed, 1u);
  EXPECT_FALSE(has_tombstone());
  CheckCompacted(env, *log, all, true);
}

TEST(CompactionTest, KeepsAProducersLastBatchEvenWhenEmptied) {
  SimLogEnv env;
  auto log = env.Open(kDir, Compacted());
  BatchOptions p;
  p.producer_id = ProducerId(3);
  p.producer_epoch = ProducerEpoch(0);
  p.base_sequence = 0;
  const int64_t pbase =
      env.Append(*log, MakeBatch({KV{"k1", "old"}, KV{"k2", "old"}}, p), {.durable = true});
  std::map<int64_t, KV> all;
  all[pbase] = KV{"k1", "old"};
  all[pbase + 1] = KV{"k2", "old"};
  auto more = Fill(env, *log, 20);  // overwrites k0..k4
  all.insert(more.begin(), more.end());
  auto r = env.Run(log->Compact());
  ASSERT_TRUE(r.ok());
  auto read = env.Run(log->Read(Offset(0), ReadOptions{.bytes_max = 1, .verify = true}));
  ASSERT_TRUE(read.ok());
  ASSERT_FALSE(read->batches.empty());
  EXPECT_EQ(read->batches[0].base_offset, Offset(pbase));
  EXPECT_EQ(read->batches[0].record_count, 0);
  EXPECT_EQ(read->batches[0].last_offset, Offset(pbase + 1));
  EXPECT_EQ(read->batches[0].producer_id, ProducerId(3));
  // After a replay from nothing, the producer's next sequence is still 2.
  ASSERT_TRUE(env.Run(log->Close()).ok());
  log.reset();
  auto entries = env.Run(env.io().fs().List(kDir));
  ASSERT_TRUE(entries.ok());
  for (const auto& e : *entries) {
    if (e.name.ends_with(".snapshot")) {
      ASSERT_TRUE(env.Run(env.io().fs().Remove(std::string(kDir) + "/" + e.name)).ok());
    }
  }
  log = env.Open(kDir, Compacted());
  const ProducerEntry* entry = log->producers().Find(ProducerId(3));
  ASSERT_NE(entry, nullptr);
  EXPECT_EQ(entry->last_batch()->last_sequence, 1);
  CheckCompacted(env, *log, all, false);
}

TEST(CompactionTest, ACrashAnywhereInThePassLeavesAValidLog) {
  // Crash the pass at every point of its run; recovery must give a log that is either the old
  // one or the cleaned one (or a mix at segment granularity), never missing a latest value, and
  // without leftovers.
  for (uint32_t steps = 0; steps < 600; steps += 3) {
    SimLogEnv env(steps + 100);
    auto log = env.Open(kDir, Compacted());
    auto all = Fill(env, *log, 30);
    auto done = std::make_shared<bool>(false);
    env.world().Spawn(env.node(), 0, [](Log& log, std::shared_ptr<bool> done) -> Task<void> {
      (void)co_await log.Compact();
      *done = true;
    }(*log, done));
    for (uint32_t i = 0; i < steps && !*done; ++i) env.world().Step();
    env.Crash(log);
    log = env.Open(kDir, Compacted());
    EXPECT_TRUE(log->recovery_report().truncation_reason.empty())
        << "steps " << steps << ": " << log->recovery_report().truncation_reason;
    EXPECT_EQ(log->log_end_offset(), Offset(90));
    CheckCompacted(env, *log, all, false);
    auto entries = env.Run(env.io().fs().List(kDir));
    ASSERT_TRUE(entries.ok());
    for (const auto& e : *entries) {
      EXPECT_FALSE(e.name.ends_with(".cleaned") || e.name.ends_with(".swap") ||
                   e.name.ends_with(".tmp"))
          << e.name;
    }
    if (*done) break;
  }
}

TEST(CompactionTest, CompactDeleteAlsoRetains) {
  SimLogEnv env;
  LogConfig config = Compacted(CleanupPolicy::kCompactDelete);
  config.retention_bytes = 600;
  auto log = env.Open(kDir, config);
  Fill(env, *log, 30);
  ASSERT_TRUE(env.Run(log->Compact()).ok());
  auto r = env.Run(log->ApplyRetention());
  ASSERT_TRUE(r.ok());
  EXPECT_GT(log->log_start_offset(), Offset(0));
}

}  // namespace
}  // namespace runnel::engine
