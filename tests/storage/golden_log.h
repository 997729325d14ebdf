// The golden log: a small partition directory built by fixed steps, checked in under
// tests/storage/golden/log-v1/ (by golden_log_make.cc) and decoded field by field by
// log_golden_test.cc. If the on-disk format changes, the test fails until the format gets a new
// version (and a reader for this one).
//
// Contents (segment.bytes 700, index.interval.bytes 100, clean close):
//   offsets 0..29   ten plain batches of 3 records "g<o>" = "value-<o>", leader epoch 5,
//                   timestamps 1'600'000'000'000 + 1000 * o
//   offsets 30..35  three idempotent batches of producer 42 (epoch 3, sequences 0..5), 2 records
//   offsets 36..39  one gzip batch of 4 records
#pragma once

#include <string>
#include <vector>

#include "engine/batch_builder.h"
#include "engine/log.h"

namespace runnel::engine::golden {

inline constexpr char kSimDir[] = "/golden/log-v1";
inline constexpr int64_t kBaseTimestampMs = 1'600'000'000'000;
inline constexpr int64_t kRecords = 40;

inline LogConfig Config() {
  LogConfig c;
  c.segment_bytes = 700;
  c.index_interval_bytes = 100;
  return c;
}

inline std::string Key(int64_t offset) { return "g" + std::to_string(offset); }
inline std::string Value(int64_t offset) { return "value-" + std::to_string(offset); }
inline int64_t Timestamp(int64_t offset) { return kBaseTimestampMs + 1000 * offset; }

// The batches, in append order, with base offsets 0 (the log assigns them).
inline std::vector<std::vector<std::byte>> Batches() {
  std::vector<std::vector<std::byte>> out;
  int64_t offset = 0;
  auto add = [&](BatchOptions o, int count) {
    BatchBuilder b(o);
    for (int i = 0; i < count; ++i, ++offset) {
      const std::string k = Key(offset);
      const std::string v = Value(offset);
      b.Append(Timestamp(offset), Bytes(reinterpret_cast<const std::byte*>(k.data()), k.size()),
               Bytes(reinterpret_cast<const std::byte*>(v.data()), v.size()));
    }
    out.push_back(b.Build().value());
  };
  for (int i = 0; i < 10; ++i) add(BatchOptions{}, 3);
  for (int i = 0; i < 3; ++i) {
    BatchOptions o;
    o.producer_id = ProducerId(42);
    o.producer_epoch = ProducerEpoch(3);
    o.base_sequence = i * 2;
    add(o, 2);
  }
  BatchOptions gz;
  gz.codec = Codec::kGzip;
  add(gz, 4);
  return out;
}

// Builds the golden log in `dir` and closes it cleanly.
inline Task<Status> Build(Io& io, std::string dir) {
  RUNNEL_CO_ASSIGN_OR_RETURN(std::unique_ptr<Log> log, co_await Log::Open(io, dir, Config()));
  std::vector<std::vector<std::byte>> batches = Batches();
  for (std::vector<std::byte>& b : batches) {
    RUNNEL_CO_ASSIGN_OR_RETURN(
        AppendResult r, co_await log->Append(b, AppendOptions{.leader_epoch = LeaderEpoch(5)}));
    if (!r.appended()) co_return Status::Corruption(r.message);
  }
  log->SetHighWatermark(log->log_end_offset());
  co_return co_await log->Close();
}

}  // namespace runnel::engine::golden
