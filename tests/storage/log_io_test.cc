// The log's basic suite on every io implementation: append, read (bytes and file regions),
// group commit, roll, clean reopen, unclean reopen (recovery scan), a torn tail, retention and
// compaction — through the io_uring runtime on a real directory and through the simulator
// (tests/io/harness.h).
#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "engine/batch_builder.h"
#include "engine/log.h"
#include "engine/segment_format.h"
#include "tests/io/harness.h"
#include "tests/storage/log_test_util.h"

namespace runnel::engine {
namespace {

using testing::DecodeRecords;
using testing::MakeSimpleBatch;
using testing::StoredRecord;

LogConfig Small() {
  LogConfig c;
  c.segment_bytes = 4096;
  c.index_interval_bytes = 256;
  return c;
}

Task<std::vector<StoredRecord>> ReadAll(Log& log) {
  std::vector<StoredRecord> out;
  Offset at = log.log_start_offset();
  while (at < log.log_end_offset()) {
    Result<ReadResult> r = co_await log.Read(at, ReadOptions{.bytes_max = 8192, .verify = true});
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    if (!r.ok() || r->batches.empty()) break;
    for (StoredRecord& rec : DecodeRecords(r->data)) {
      if (rec.offset >= at.value()) out.push_back(std::move(rec));
    }
    at = r->next_offset;
  }
  co_return out;
}

// Records 0..n-1 with keys k<i>, in order, exactly.
void ExpectRecords(const std::vector<StoredRecord>& records, int64_t n) {
  EXPECT_EQ(static_cast<int64_t>(records.size()), n);
  for (size_t i = 0; i < records.size() && static_cast<int64_t>(i) < n; ++i) {
    EXPECT_EQ(records[i].offset, static_cast<int64_t>(i));
    EXPECT_EQ(records[i].key, "k" + std::to_string(i));
  }
}

Task<Result<std::unique_ptr<Log>>> Open(Io& io, const std::string& dir,
                                        LogConfig config = Small()) {
  co_return co_await Log::Open(io, dir, config);
}

class LogIoTest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    harness_ = runnel::testing::MakeHarness(GetParam());
    ASSERT_NE(harness_, nullptr) << GetParam();
    dir_ = harness_->TempDir() + "/topic-0";
  }
  void Run(std::function<Task<void>(Io&)> body) { harness_->Run(1, std::move(body)); }

  std::unique_ptr<runnel::testing::Harness> harness_;
  std::string dir_;
};

TEST_P(LogIoTest, AppendReadCloseReopen) {
  Run([dir = dir_](Io& io) -> Task<void> {
    auto log = co_await Open(io, dir);
    EXPECT_TRUE(log.ok()) << log.status().ToString();
    if (!log.ok()) co_return;
    std::vector<std::vector<std::byte>> batches;
    for (int i = 0; i < 100; ++i) batches.push_back(MakeSimpleBatch(i * 3, 3, "x"));
    for (int i = 0; i < 100; ++i) {
      Result<AppendResult> r =
          co_await (*log)->Append(batches[i], AppendOptions{.durable = i % 10 == 0});
      EXPECT_TRUE(r.ok() && r->appended()) << r.status().ToString();
      if (r.ok()) {
        EXPECT_EQ(r->base_offset, Offset(i * 3));
      }
    }
    EXPECT_GT((*log)->segment_count(), 2u);
    ExpectRecords(co_await ReadAll(**log), 300);
    // File regions hold exactly the bytes a verified read returns.
    Result<ReadResult> regions = co_await (*log)->Read(Offset(100), ReadOptions{.bytes_max = 6000});
    Result<ReadResult> bytes =
        co_await (*log)->Read(Offset(100), ReadOptions{.bytes_max = 6000, .verify = true});
    EXPECT_TRUE(regions.ok() && bytes.ok());
    if (regions.ok() && bytes.ok()) {
      std::vector<std::byte> joined;
      for (const FileRegion& region : regions->regions) {
        std::vector<std::byte> b(region.length);
        EXPECT_TRUE((co_await ReadExactly(*region.file, region.position, b)).ok());
        joined.insert(joined.end(), b.begin(), b.end());
      }
      EXPECT_EQ(joined, bytes->data);
      EXPECT_GT(regions->regions.size(), 1u);
    }
    EXPECT_TRUE((co_await (*log)->Close()).ok());
    auto reopened = co_await Open(io, dir);
    EXPECT_TRUE(reopened.ok());
    if (!reopened.ok()) co_return;
    EXPECT_TRUE((*reopened)->recovery_report().clean_shutdown);
    EXPECT_EQ((*reopened)->recovery_report().segments_scanned, 0u);
    ExpectRecords(co_await ReadAll(**reopened), 300);
  });
}

TEST_P(LogIoTest, GroupCommit) {
  Run([dir = dir_](Io& io) -> Task<void> {
    auto log = co_await Open(io, dir);
    if (!log.ok()) co_return;
    std::vector<std::vector<std::byte>> batches;
    for (int i = 0; i < 200; ++i) batches.push_back(MakeSimpleBatch(i, 1));
    std::vector<Task<Result<AppendResult>>> tasks;
    for (auto& b : batches) tasks.push_back((*log)->Append(b, AppendOptions{.durable = true}));
    int ok = 0;
    for (auto& r : co_await WhenAll(std::move(tasks))) ok += r.ok() && r->appended();
    EXPECT_EQ(ok, 200);
    EXPECT_EQ((*log)->flushed_offset(), Offset(200));
    ExpectRecords(co_await ReadAll(**log), 200);
  });
}

TEST_P(LogIoTest, UncleanReopenRecoversAndCutsATornTail) {
  Run([dir = dir_](Io& io) -> Task<void> {
    {
      auto log = co_await Open(io, dir);
      if (!log.ok()) co_return;
      for (int i = 0; i < 60; ++i) {
        std::vector<std::byte> b = MakeSimpleBatch(i * 2, 2);
        EXPECT_TRUE((co_await (*log)->Append(b)).ok());
      }
      EXPECT_TRUE((co_await (*log)->Checkpoint()).ok());
      for (int i = 60; i < 80; ++i) {
        std::vector<std::byte> b = MakeSimpleBatch(i * 2, 2);
        EXPECT_TRUE((co_await (*log)->Append(b)).ok());
      }
      // The Log object goes away without Close, as in a process exit.
    }
    auto log = co_await Open(io, dir);
    EXPECT_TRUE(log.ok());
    if (!log.ok()) co_return;
    EXPECT_FALSE((*log)->recovery_report().clean_shutdown);
    EXPECT_GE((*log)->recovery_report().segments_scanned, 1u);
    EXPECT_GE((*log)->recovery_report().segments_trusted, 1u);
    // What was scanned (not proven durable) is written again before the sync (a failed fsync
    // may have left it readable but off the disk): the same code on io_uring and SimDisk.
    EXPECT_GT((*log)->recovery_report().bytes_rewritten, 0u);
    EXPECT_EQ((*log)->recovery_report().bytes_rewritten, (*log)->recovery_report().bytes_scanned);
    EXPECT_EQ((*log)->log_end_offset(), Offset(160));
    ExpectRecords(co_await ReadAll(**log), 160);
    // A torn write at the end of the active segment: half a batch.
    const Offset active = (*log)->segment_bases().back();
    const std::string path = segment_format::SegmentPath(dir, active, ".log");
    const uint64_t size = (*log)->size_bytes();
    log->reset();
    {
      auto file = co_await io.fs().Open(path, OpenOptions{});
      EXPECT_TRUE(file.ok());
      if (!file.ok()) co_return;
      auto end = co_await (*file)->Size();
      std::vector<std::byte> half = MakeSimpleBatch(999, 4);
      half.resize(half.size() / 2);
      EXPECT_TRUE((co_await (*file)->WriteAt(*end, half)).ok());
      EXPECT_TRUE((co_await (*file)->Sync()).ok());
    }
    auto cut = co_await Open(io, dir);
    EXPECT_TRUE(cut.ok());
    if (!cut.ok()) co_return;
    EXPECT_GT((*cut)->recovery_report().bytes_truncated, 0u);
    EXPECT_EQ((*cut)->log_end_offset(), Offset(160));
    EXPECT_EQ((*cut)->size_bytes(), size);
    ExpectRecords(co_await ReadAll(**cut), 160);
  });
}

TEST_P(LogIoTest, RetentionAndCompaction) {
  Run([dir = dir_](Io& io) -> Task<void> {
    LogConfig config = Small();
    config.cleanup_policy = CleanupPolicy::kCompactDelete;
    config.retention_bytes = 12'000;
    config.retention_ms = -1;  // the records carry 2023 timestamps
    auto log = co_await Open(io, dir, config);
    if (!log.ok()) co_return;
    for (int i = 0; i < 300; ++i) {
      std::vector<testing::KV> kv{{"key" + std::to_string(i % 10), "value" + std::to_string(i)}};
      std::vector<std::byte> b = testing::MakeBatch(kv);
      EXPECT_TRUE((co_await (*log)->Append(b)).ok());
    }
    EXPECT_TRUE((co_await (*log)->Flush()).ok());
    (*log)->SetHighWatermark((*log)->log_end_offset());
    auto retained = co_await (*log)->ApplyRetention();
    EXPECT_TRUE(retained.ok());
    if (retained.ok()) {
      EXPECT_GT(retained->segments_deleted, 0u);
      EXPECT_GE((*log)->size_bytes(), 12'000u);
      EXPECT_EQ((*log)->log_start_offset(), (*log)->segment_bases().front());
    }
    const uint64_t before = (*log)->size_bytes();
    auto compacted = co_await (*log)->Compact();
    EXPECT_TRUE(compacted.ok()) << compacted.status().ToString();
    if (compacted.ok()) {
      EXPECT_GT(compacted->records_removed, 0u);
    }
    EXPECT_LT((*log)->size_bytes(), before);
    // Every key's latest value survives, at its offset.
    auto records = co_await ReadAll(**log);
    for (int k = 0; k < 10; ++k) {
      const int64_t latest = 290 + k;
      bool found = false;
      for (const auto& r : records) {
        if (r.offset == latest) found = r.value == "value" + std::to_string(latest);
      }
      EXPECT_TRUE(found) << latest;
    }
    EXPECT_TRUE((co_await (*log)->Close()).ok());
    auto reopened = co_await Open(io, dir, config);
    EXPECT_TRUE(reopened.ok());
    if (reopened.ok()) {
      EXPECT_EQ((*reopened)->log_end_offset(), Offset(300));
      EXPECT_EQ((*reopened)->log_start_offset(), (*log)->log_start_offset());
    }
  });
}

INSTANTIATE_TEST_SUITE_P(Io, LogIoTest, ::testing::Values("uring", "sim-seed-1"),
                         [](const auto& info) {
                           std::string name = info.param;
                           for (char& c : name) {
                             if (c == '-') c = '_';
                           }
                           return name;
                         });

}  // namespace
}  // namespace runnel::engine
