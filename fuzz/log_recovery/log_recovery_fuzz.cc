// libFuzzer target: arbitrary bytes as the files of a partition directory (format in
// log_recovery_fuzz.h), recovered by Log::Open on a simulated disk in this process. The target
// asserts what recovery promises, whatever the bytes:
//   - Open succeeds (no I/O faults are injected; bad bytes are never an error);
//   - log start <= high watermark <= log end, segments in order;
//   - reading the whole log returns only valid batches (CRC-checked), offsets increasing (within
//     each read, and across reads when nothing was trusted) and below the log end; if no segment
//     was trusted (no clean shutdown), every read succeeds;
//   - an append lands at the log end and reads back; after Close, a reopen finds the same log.
#include "fuzz/log_recovery/log_recovery_fuzz.h"

#include <cstring>
#include <map>
#include <string>

#include "engine/batch_builder.h"
#include "engine/crc32c.h"
#include "engine/log.h"
#include "engine/record_batch_format.h"
#include "engine/segment_format.h"
#include "engine/varint.h"
#include "sim/node.h"
#include "sim/world.h"

namespace {

using namespace runnel;          // NOLINT
using namespace runnel::engine;  // NOLINT
namespace bf = batch_format;
namespace sf = segment_format;

constexpr char kDir[] = "/fuzz/p0";

void FixBatches(std::vector<std::byte>& log, int64_t base, bool dense) {
  size_t at = 0;
  int64_t next = base;
  while (at + bf::kHeaderBytes <= log.size()) {
    const int32_t length = static_cast<int32_t>(LoadBe32(log.data() + at + bf::kBatchLengthOffset));
    if (length < bf::kBatchLengthMin) break;
    const size_t size = static_cast<size_t>(length) + bf::kLogOverheadBytes;
    if (size > log.size() - at) break;
    std::byte* b = log.data() + at;
    if (dense) {
      StoreBe64(b + bf::kBaseOffsetOffset, static_cast<uint64_t>(next));
      const int32_t delta = static_cast<int32_t>(LoadBe32(b + bf::kLastOffsetDeltaOffset));
      next += delta < 0 ? 1 : int64_t{delta} + 1;
    }
    StoreBe32(b + bf::kCrcOffset,
              crc32c::Value(b + bf::kCrcCoverageOffset, size - bf::kCrcCoverageOffset));
    at += size;
  }
}

std::map<std::string, std::vector<std::byte>> Decode(const uint8_t* data, size_t size) {
  std::map<std::string, std::vector<std::byte>> files;
  size_t at = 0;
  while (at < size) {
    const uint8_t selector = data[at++];
    size_t n = 0;
    if (at < size) n = data[at++];
    if (at < size) n |= static_cast<size_t>(data[at++]) << 8;
    n = std::min(n, size - at);
    std::vector<std::byte> bytes(n);
    if (n > 0) std::memcpy(bytes.data(), data + at, n);
    at += n;
    const auto kind = static_cast<fuzz::FileKind>(selector & 0x07);
    const Offset base(fuzz::kBases[(selector >> 3) & 0x07]);
    const bool fix = (selector & fuzz::kFixChecksums) != 0;
    std::string name;
    switch (kind) {
      case fuzz::kLog:
      case fuzz::kSwap:
      case fuzz::kCleaned:
        if (fix) FixBatches(bytes, base.value(), (selector & fuzz::kDenseOffsets) != 0);
        name = sf::OffsetName(base) + ".log" +
               (kind == fuzz::kSwap      ? ".swap"
                : kind == fuzz::kCleaned ? ".cleaned"
                                         : "");
        break;
      case fuzz::kIndex:
        name = sf::OffsetName(base) + ".index";
        break;
      case fuzz::kTimeIndex:
        name = sf::OffsetName(base) + ".timeindex";
        break;
      case fuzz::kSnapshot:
        if (fix && bytes.size() >= 12) {
          StoreBe32(bytes.data() + 8, crc32c::Value(bytes.data() + 12, bytes.size() - 12));
        }
        name = sf::OffsetName(base) + ".snapshot";
        break;
      case fuzz::kMeta:
      case fuzz::kMetaTmp:
        if (fix && bytes.size() == sf::kMetaBytes) {
          const uint32_t head = crc32c::Value(bytes.data(), sf::kMetaCrcOffset);
          StoreBe32(bytes.data() + sf::kMetaCrcOffset,
                    crc32c::Extend(head, bytes.data() + sf::kMetaCrcCoverageOffset,
                                   sf::kMetaBytes - sf::kMetaCrcCoverageOffset));
        }
        name = kind == fuzz::kMeta ? "partition.meta" : "partition.meta.tmp";
        break;
    }
    files[name] = std::move(bytes);
  }
  return files;
}

void Check(bool ok, const char* what, const std::string& detail = "") {
  RUNNEL_ASSERT(ok, "log_recovery_fuzz: {} {}", what, detail);
}

Task<void> Exercise(Io& io, std::map<std::string, std::vector<std::byte>> files) {
  for (const auto& [name, bytes] : files) {
    auto f = co_await io.fs().Open(JoinPath(kDir, name), OpenOptions{.create = true});
    Check(f.ok(), "create", name);
    if (!bytes.empty()) Check((co_await (*f)->WriteAt(0, bytes)).ok(), "write", name);
    Check((co_await (*f)->Sync()).ok(), "sync", name);
  }
  Check((co_await io.fs().SyncDir(kDir)).ok(), "sync dir");

  LogConfig config;
  config.segment_bytes = 1 << 20;
  config.index_interval_bytes = 64;
  auto opened = co_await Log::Open(io, kDir, config);
  Check(opened.ok(), "open", opened.ok() ? "" : opened.status().ToString());
  Log& log = **opened;
  Check(log.log_start_offset() <= log.high_watermark() &&
            log.high_watermark() <= log.log_end_offset(),
        "start <= high watermark <= end");
  const std::vector<Offset> bases = log.segment_bases();
  for (size_t i = 1; i < bases.size(); ++i) Check(bases[i - 1] < bases[i], "segments in order");
  const bool all_scanned = log.recovery_report().segments_trusted == 0;

  Offset at = log.log_start_offset();
  int64_t previous_last = -1;
  int reads = 0;
  while (at < log.log_end_offset() && reads++ < 10000) {
    // A trusted segment (clean shutdown) is checked at open only where its index ends; a bad
    // batch inside it is caught when read, and offsets after it are then not comparable.
    if (!all_scanned) previous_last = -1;
    auto r = co_await log.Read(at, ReadOptions{.bytes_max = 4096, .verify = true});
    if (!r.ok()) {
      Check(r.status().Is(ErrorKind::kCorruption) && !all_scanned, "read", r.status().ToString());
      break;
    }
    if (r->batches.empty()) break;
    size_t pos = 0;
    for (const BatchInfo& b : r->batches) {
      auto view = RecordBatchView::Parse(std::span(r->data).subspan(pos, b.size_bytes));
      Check(view.ok(), "a returned batch is valid");
      Check(b.base_offset.value() > previous_last, "offsets increase",
            fmt::format("batch [{}, {}] after {} (read at {}); trusted {} scanned {} cut '{}'",
                        b.base_offset.value(), b.last_offset.value(), previous_last, at.value(),
                        log.recovery_report().segments_trusted,
                        log.recovery_report().segments_scanned,
                        log.recovery_report().truncation_reason));
      Check(b.last_offset < log.log_end_offset(), "below the log end");
      previous_last = b.last_offset.value();
      pos += b.size_bytes;
    }
    at = r->next_offset;
  }

  BatchOptions o;
  BatchBuilder builder(o);
  const std::string k = "fuzz-key";
  const std::string v = "fuzz-value";
  builder.Append(1, Bytes(reinterpret_cast<const std::byte*>(k.data()), k.size()),
                 Bytes(reinterpret_cast<const std::byte*>(v.data()), v.size()));
  std::vector<std::byte> batch = builder.Build().value();
  const Offset end = log.log_end_offset();
  auto appended = co_await log.Append(batch, AppendOptions{.durable = true});
  Check(appended.ok() && appended->appended(), "append",
        appended.ok() ? appended->message : appended.status().ToString());
  Check(appended->base_offset == end, "appended at the log end");
  auto back = co_await log.Read(end, ReadOptions{.verify = true});
  Check(back.ok() && back->batches.size() == 1 && back->batches[0].base_offset == end, "read back");
  const Offset start = log.log_start_offset();
  Check((co_await log.Close()).ok(), "close");
  auto again = co_await Log::Open(io, kDir, config);
  Check(again.ok(), "reopen", again.ok() ? "" : again.status().ToString());
  Check((*again)->log_start_offset() == start, "same start after reopen");
  Check((*again)->log_end_offset() == Offset(end.value() + 1), "same end after reopen");
}

// (A named coroutine: GCC 12 emits a coroutine lambda inside an extern "C" function twice.)
Task<void> Run(Io& io, std::map<std::string, std::vector<std::byte>> files, bool& done) {
  co_await Exercise(io, std::move(files));
  done = true;
}

void RunOne(const uint8_t* data, size_t size) {
  sim::SimWorld world(1);
  const sim::NodeId node = world.AddNode();
  Check(world.disk(node).MakeDirsNow(kDir).ok(), "mkdir");
  bool done = false;
  world.RunTask(node, 0, Run(world.node(node).io(0), Decode(data, size), done),
                sim::RunLimits{.steps_max = 10'000'000});
  Check(done, "the run finished");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size > (1 << 20)) return 0;
  RunOne(data, size);
  return 0;
}
