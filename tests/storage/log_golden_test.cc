// The on-disk format is stable: the checked-in golden log (golden_log.h, golden/log-v1/) is
// decoded field by field without the engine's decoders where possible, opened by the log, and
// rebuilt byte for byte by the current code.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <string>
#include <vector>

#include "engine/producer_state.h"
#include "engine/record_batch.h"
#include "tests/storage/golden_log.h"
#include "tests/storage/log_test_util.h"

namespace runnel::engine {
namespace {

using testing::ReferenceCrc32c;

std::map<std::string, std::vector<std::byte>> LoadGolden() {
  std::map<std::string, std::vector<std::byte>> files;
  for (const auto& entry : std::filesystem::directory_iterator(RUNNEL_GOLDEN_DIR)) {
    std::ifstream in(entry.path(), std::ios::binary);
    std::vector<char> bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    std::vector<std::byte> out(bytes.size());
    std::memcpy(out.data(), bytes.data(), bytes.size());
    files[entry.path().filename().string()] = std::move(out);
  }
  return files;
}

uint64_t Be(const std::vector<std::byte>& b, size_t at, int bytes) {
  uint64_t v = 0;
  for (int i = 0; i < bytes; ++i) v = (v << 8) | static_cast<uint8_t>(b.at(at + i));
  return v;
}

std::string Name(int64_t base, const char* suffix) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%020lld", static_cast<long long>(base));
  return std::string(buf) + suffix;
}

TEST(LogGoldenTest, TheDirectoryHoldsWhatTheFormatSays) {
  const auto files = LoadGolden();
  const std::vector<int64_t> bases{0, 18, 34};
  std::vector<std::string> want_names{"partition.meta", Name(34, ".snapshot"),
                                      Name(40, ".snapshot")};
  for (int64_t base : bases) {
    for (const char* s : {".log", ".index", ".timeindex"}) want_names.push_back(Name(base, s));
  }
  ASSERT_EQ(files.size(), want_names.size());
  for (const auto& n : want_names) ASSERT_EQ(files.count(n), 1u) << n;

  // partition.meta: "RNLM", version 1, clean, CRC-32C over [0, 8) + [12, 52).
  const auto& meta = files.at("partition.meta");
  ASSERT_EQ(meta.size(), 52u);
  EXPECT_EQ(std::string(reinterpret_cast<const char*>(meta.data()), 4), "RNLM");
  EXPECT_EQ(Be(meta, 4, 2), 1u);
  EXPECT_EQ(Be(meta, 6, 2), 1u);  // clean shutdown
  std::vector<std::byte> covered(meta.begin(), meta.begin() + 8);
  covered.insert(covered.end(), meta.begin() + 12, meta.end());
  EXPECT_EQ(Be(meta, 8, 4), ReferenceCrc32c(covered));
  EXPECT_EQ(Be(meta, 12, 8), 0u);          // log start
  EXPECT_EQ(Be(meta, 20, 8), 34u);         // recovery point: the active segment
  EXPECT_EQ(Be(meta, 28, 8), 40u);         // high watermark
  EXPECT_EQ(Be(meta, 36, 8), 0u);          // compacted end
  EXPECT_EQ(Be(meta, 44, 8), UINT64_MAX);  // no truncation in progress (-1)

  // Segments: batches back to back, dense offsets from the base, each CRC-valid.
  int64_t next = 0;
  RecordReader reader(1 << 20);
  for (int64_t base : bases) {
    const auto& log = files.at(Name(base, ".log"));
    EXPECT_EQ(next, base);
    std::map<uint64_t, int64_t> batch_at;  // position -> base offset
    std::map<uint64_t, int64_t> max_ts_at;
    BatchSplitter splitter(log);
    uint64_t position = 0;
    while (auto batch = splitter.Next()) {
      EXPECT_EQ(batch->base_offset().value(), next);
      EXPECT_EQ(batch->partition_leader_epoch(), LeaderEpoch(5));
      EXPECT_EQ(Be(log, position, 8), static_cast<uint64_t>(next));  // baseOffset, big-endian
      batch_at[position] = next;
      max_ts_at[position] = batch->max_timestamp();
      auto it = reader.Open(*batch);
      ASSERT_TRUE(it.ok());
      Record r;
      while (it->Next(r)) {
        EXPECT_EQ(r.offset.value(), next);
        EXPECT_EQ(testing::FromNullable(r.key), golden::Key(next));
        EXPECT_EQ(testing::FromNullable(r.value), golden::Value(next));
        EXPECT_EQ(r.timestamp_ms, golden::Timestamp(next));
        ++next;
      }
      if (next == 40) {
        EXPECT_EQ(batch->codec(), Codec::kGzip);
      }
      if (next > 30 && next <= 36) {
        EXPECT_EQ(batch->producer_id(), ProducerId(42));
        EXPECT_EQ(batch->producer_epoch(), ProducerEpoch(3));
        EXPECT_EQ(batch->base_sequence(), next - 32);  // sequences 0, 2, 4
      }
      position += batch->size_bytes();
    }
    EXPECT_TRUE(splitter.status().ok());
    EXPECT_EQ(position, log.size());

    // .index: (relative offset u32, position u32), each naming a batch start, increasing, more
    // than index.interval.bytes after the previous entry.
    const auto& index = files.at(Name(base, ".index"));
    ASSERT_EQ(index.size() % 8, 0u);
    uint64_t previous = 0;
    for (size_t i = 0; i < index.size(); i += 8) {
      const int64_t rel = static_cast<int64_t>(Be(index, i, 4));
      const uint64_t pos = Be(index, i + 4, 4);
      ASSERT_EQ(batch_at.count(pos), 1u) << "entry " << i / 8;
      EXPECT_EQ(batch_at[pos], base + rel);
      EXPECT_GT(pos - previous, 100u);
      previous = pos;
    }
    // .timeindex: (timestamp i64, relative offset u32): the running maximum, strictly growing;
    // the last entry is the segment's maximum.
    const auto& time = files.at(Name(base, ".timeindex"));
    ASSERT_EQ(time.size() % 12, 0u);
    ASSERT_GT(time.size(), 0u);
    int64_t last_ts = -1;
    for (size_t i = 0; i < time.size(); i += 12) {
      const int64_t ts = static_cast<int64_t>(Be(time, i, 8));
      const int64_t rel = static_cast<int64_t>(Be(time, i + 8, 4));
      EXPECT_GT(ts, last_ts);
      last_ts = ts;
      int64_t running = -1;
      for (const auto& [pos, b] : batch_at) {
        if (b <= base + rel) running = std::max(running, max_ts_at[pos]);
      }
      EXPECT_EQ(ts, running);
    }
    int64_t segment_max = -1;
    for (const auto& [pos, ts] : max_ts_at) segment_max = std::max(segment_max, ts);
    EXPECT_EQ(last_ts, segment_max);
  }
  EXPECT_EQ(next, golden::kRecords);

  // The producer snapshot at the log end: producer 42, epoch 3, its three batches.
  const auto& snapshot = files.at(Name(40, ".snapshot"));
  EXPECT_EQ(std::string(reinterpret_cast<const char*>(snapshot.data()), 4), "RNPS");
  auto table = ProducerStateTable::DecodeSnapshot(snapshot);
  ASSERT_TRUE(table.ok()) << table.status().ToString();
  EXPECT_EQ(table->next_offset(), Offset(40));
  const ProducerEntry* e = table->Find(ProducerId(42));
  ASSERT_NE(e, nullptr);
  EXPECT_EQ(e->epoch, ProducerEpoch(3));
  ASSERT_EQ(e->batch_count, 3);
  EXPECT_EQ(e->batches[0].first_offset, Offset(30));
  EXPECT_EQ(e->batches[2].last_offset, Offset(35));
  EXPECT_EQ(e->batches[2].last_sequence, 5);
  // The roll snapshot at 34 holds the state before the third batch.
  auto at34 = ProducerStateTable::DecodeSnapshot(files.at(Name(34, ".snapshot")));
  ASSERT_TRUE(at34.ok());
  EXPECT_EQ(at34->next_offset(), Offset(34));
  EXPECT_EQ(at34->Find(ProducerId(42))->batch_count, 2);
}

TEST(LogGoldenTest, TheLogOpensIt) {
  const auto files = LoadGolden();
  testing::SimLogEnv env;
  ASSERT_TRUE(env.disk().MakeDirsNow(golden::kSimDir).ok());
  for (const auto& [name, bytes] : files) {
    Status s = env.Run([](Io& io, std::string path, std::vector<std::byte> bytes) -> Task<Status> {
      RUNNEL_CO_ASSIGN_OR_RETURN(auto f, co_await io.fs().Open(path, {.create = true}));
      if (!bytes.empty()) RUNNEL_CO_TRY(co_await f->WriteAt(0, bytes));
      co_return co_await f->Sync();
    }(env.io(), std::string(golden::kSimDir) + "/" + name, bytes));
    ASSERT_TRUE(s.ok()) << s.ToString();
  }
  auto log = env.Open(golden::kSimDir, golden::Config());
  const RecoveryReport& report = log->recovery_report();
  EXPECT_TRUE(report.clean_shutdown);
  EXPECT_EQ(report.segments_trusted, 3u);
  EXPECT_EQ(report.segments_scanned, 0u);
  EXPECT_EQ(report.snapshot_loaded, Offset(40));
  EXPECT_EQ(log->log_end_offset(), Offset(40));
  EXPECT_EQ(log->high_watermark(), Offset(40));
  const auto records = env.ReadAll(*log);
  ASSERT_EQ(records.size(), 40u);
  for (int64_t i = 0; i < 40; ++i) {
    EXPECT_EQ(records[i].value, golden::Value(i));
  }
  auto ts = env.Run(log->OffsetForTimestamp(golden::Timestamp(25) - 1));
  ASSERT_TRUE(ts.ok() && ts->has_value());
  EXPECT_EQ((*ts)->offset, Offset(25));
  EXPECT_EQ(log->producers().Find(ProducerId(42))->last_batch()->last_sequence, 5);
}

TEST(LogGoldenTest, TheCurrentCodeWritesTheSameBytes) {
  const auto files = LoadGolden();
  sim::SimWorld world(1);
  const sim::NodeId node = world.AddNode();
  ASSERT_TRUE(world.disk(node).MakeDirsNow("/golden").ok());
  Status built;
  std::vector<DirEntry> entries;
  world.RunTask(node, 0, [](Io& io, Status& built, std::vector<DirEntry>& entries) -> Task<void> {
    built = co_await golden::Build(io, golden::kSimDir);
    auto listed = co_await io.fs().List(golden::kSimDir);
    if (listed.ok()) entries = *listed;
  }(world.node(node).io(0), built, entries));
  ASSERT_TRUE(built.ok()) << built.ToString();
  ASSERT_EQ(entries.size(), files.size());
  for (const DirEntry& e : entries) {
    auto bytes = world.disk(node).ReadNow(std::string(golden::kSimDir) + "/" + e.name);
    ASSERT_TRUE(bytes.ok());
    ASSERT_EQ(files.count(e.name), 1u) << e.name;
    EXPECT_EQ(*bytes, files.at(e.name)) << e.name << " changed: the format needs a new version";
  }
}

}  // namespace
}  // namespace runnel::engine
