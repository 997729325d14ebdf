// Helpers for the log tests: a one-node SimWorld whose shard-0 tasks the test runs to
// completion, batch construction, and reading a log back as (offset, record) pairs.
#pragma once

#include <gtest/gtest.h>

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "engine/batch_builder.h"
#include "engine/log.h"
#include "sim/node.h"
#include "sim/world.h"
#include "tests/storage/storage_test_util.h"

namespace runnel::engine::testing {

// One stored record as the tests compare it.
struct StoredRecord {
  int64_t offset = 0;
  std::optional<std::string> key;
  std::optional<std::string> value;
  int64_t timestamp_ms = 0;
  bool operator==(const StoredRecord&) const = default;
};

inline std::ostream& operator<<(std::ostream& os, const StoredRecord& r) {
  return os << "{" << r.offset << " " << (r.key ? *r.key : "<null>") << "="
            << (r.value ? *r.value : "<null>") << " @" << r.timestamp_ms << "}";
}

struct KV {
  std::optional<std::string> key;
  std::optional<std::string> value;
  int64_t timestamp_ms = 1'700'000'000'000;
};

// A batch of `records` (offsets assigned by the log on append).
inline std::vector<std::byte> MakeBatch(const std::vector<KV>& records, BatchOptions options = {}) {
  BatchBuilder b(options);
  for (const KV& r : records) b.Append(r.timestamp_ms, AsNullable(r.key), AsNullable(r.value));
  return b.Build().value();
}

// `count` records "k<first+i>" = "v<first+i>-<tag>".
inline std::vector<std::byte> MakeSimpleBatch(int first, int count, const std::string& tag = "",
                                              int64_t timestamp_ms = 1'700'000'000'000,
                                              BatchOptions options = {}) {
  std::vector<KV> records;
  for (int i = 0; i < count; ++i) {
    records.push_back(KV{"k" + std::to_string(first + i),
                         "v" + std::to_string(first + i) + "-" + tag, timestamp_ms + i});
  }
  return MakeBatch(records, options);
}

// Decodes every record of concatenated, valid batches.
inline std::vector<StoredRecord> DecodeRecords(Bytes data) {
  std::vector<StoredRecord> out;
  RecordReader reader(size_t{64} << 20);
  BatchSplitter splitter(data);
  while (auto batch = splitter.Next()) {
    auto it = reader.Open(*batch);
    EXPECT_TRUE(it.ok()) << it.status().ToString();
    if (!it.ok()) break;
    Record r;
    while (it->Next(r)) {
      out.push_back(StoredRecord{r.offset.value(), FromNullable(r.key), FromNullable(r.value),
                                 r.timestamp_ms});
    }
    EXPECT_TRUE(it->status().ok()) << it->status().ToString();
  }
  EXPECT_TRUE(splitter.status().ok()) << splitter.status().ToString();
  EXPECT_EQ(splitter.partial_tail_bytes(), 0u);
  return out;
}

// A SimWorld with one node; the test runs tasks on its shard 0 to completion.
class SimLogEnv {
 public:
  explicit SimLogEnv(uint64_t seed = 1, sim::DiskOptions disk = {}) : world_(seed) {
    node_ = world_.AddNode(sim::NodeOptions{.shards = 1, .disk = disk});
    Status s = world_.disk(node_).MakeDirsNow("/data");
    RUNNEL_ASSERT(s.ok(), "{}", s.ToString());
  }

  sim::SimWorld& world() { return world_; }
  sim::NodeId node() const { return node_; }
  sim::SimDisk& disk() { return world_.disk(node_); }
  Io& io() { return world_.node(node_).io(0); }

  // Runs `task` on the node's shard 0 until it finishes and returns its value.
  template <typename T>
  T Run(Task<T> task) {
    std::optional<T> out;
    const sim::RunStop stop = world_.RunTask(
        node_, 0,
        [](Task<T> t, std::optional<T>* out) -> Task<void> { out->emplace(co_await std::move(t)); }(
                                                 std::move(task), &out),
        sim::RunLimits{.steps_max = 50'000'000});
    RUNNEL_ASSERT(out.has_value(), "task did not finish: {}", sim::RunStopName(stop));
    return std::move(*out);
  }

  std::unique_ptr<Log> Open(const std::string& dir, LogConfig config = {}, LogLimits limits = {}) {
    Result<std::unique_ptr<Log>> log = Run(Log::Open(io(), dir, config, limits));
    RUNNEL_ASSERT(log.ok(), "open {}: {}", dir, log.status().ToString());
    return std::move(*log);
  }

  // Power loss: the node's tasks vanish, unsynced writes are kept, dropped or torn; the log
  // object (whose files are now dead) is destroyed after, as a process would be.
  void Crash(std::unique_ptr<Log>& log) {
    world_.CrashNode(node_);
    log.reset();
    world_.StartNode(node_);
  }
  // Process exit without power loss: the page cache survives.
  void Stop(std::unique_ptr<Log>& log) {
    world_.StopNode(node_);
    log.reset();
    world_.StartNode(node_);
  }

  // Appends, whatever the outcome.
  Result<AppendResult> TryAppend(Log& log, std::vector<std::byte> batch,
                                 AppendOptions options = {}) {
    return Run(log.Append(batch, options));
  }

  // Appends, expecting success; returns the base offset.
  int64_t Append(Log& log, std::vector<std::byte> batch, AppendOptions options = {}) {
    Result<AppendResult> r = Run(log.Append(batch, options));
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    if (!r.ok()) return -1;
    EXPECT_TRUE(r->appended()) << AppendOutcomeName(r->outcome) << ": " << r->message;
    return r->base_offset.value();
  }

  // Every record from `from` to the log end, through verified reads.
  std::vector<StoredRecord> ReadAll(Log& log, std::optional<int64_t> from = std::nullopt) {
    std::vector<StoredRecord> out;
    Offset at = from.has_value() ? Offset(*from) : log.log_start_offset();
    while (at < log.log_end_offset()) {
      Result<ReadResult> r = Run(log.Read(at, ReadOptions{.bytes_max = 64 * 1024, .verify = true}));
      EXPECT_TRUE(r.ok()) << r.status().ToString();
      if (!r.ok() || r->batches.empty()) break;
      for (StoredRecord& rec : DecodeRecords(r->data)) {
        if (rec.offset >= at.value()) out.push_back(std::move(rec));
      }
      at = r->next_offset;
    }
    return out;
  }

 private:
  sim::SimWorld world_;
  sim::NodeId node_ = 0;
};

}  // namespace runnel::engine::testing
