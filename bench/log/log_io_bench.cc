// runnel-log-io-bench: the segmented log on the real disk through io_uring (one shard), next to
// fio's figures for the same I/O from the same run, as ratios. Measures and prints; never passes
// or fails on a time.
//
//   append, no sync:   1 KiB records in 64 KiB and in 1 MiB batches, `--inflight` appends at once
//   append, durable:   the same with durable=true (group commit: one fdatasync per sync round)
//   recovery scan:     Log::Open of the 64 KiB-batch log after an unclean stop (every byte read
//                      and CRC-checked; the page cache is warm, as after a process restart)
//   CRC-32C:           1 MiB buffers, the hardware path
//   memory:            heap bytes per open partition (counted by this binary's operator new),
//                      split into index entries and the rest
//
// References (fio, buffered, ioengine=io_uring, same directory):
//   write bs=64k / bs=1M, iodepth = --inflight     for appends without sync
//   write bs=64k / bs=1M, fdatasync every 16 writes, iodepth 1   for durable appends
//   read bs=1M of the log's segment file           for the recovery scan
//
// Usage: runnel-log-io-bench [--dir DIR] [--bytes N] [--durable-bytes N] [--inflight N]
//                            [--partitions N] [--no-fio]
#include <fmt/format.h>
#include <stdlib.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <new>
#include <optional>
#include <string>
#include <vector>

#include "engine/batch_builder.h"
#include "engine/crc32c.h"
#include "engine/log.h"
#include "io/uring/runtime.h"

// --- Heap accounting: live bytes, for the memory figure. -----------------------------------

namespace {
std::atomic<int64_t> g_live_bytes{0};
constexpr size_t kHeader = 16;  // keeps 16-byte alignment

void* CountedAlloc(size_t n) {
  void* p = std::malloc(n + kHeader);
  if (p == nullptr) throw std::bad_alloc();
  std::memcpy(p, &n, sizeof n);
  g_live_bytes.fetch_add(static_cast<int64_t>(n), std::memory_order_relaxed);
  return static_cast<char*>(p) + kHeader;
}
void CountedFree(void* p) {
  if (p == nullptr) return;
  char* base = static_cast<char*>(p) - kHeader;
  size_t n;
  std::memcpy(&n, base, sizeof n);
  g_live_bytes.fetch_sub(static_cast<int64_t>(n), std::memory_order_relaxed);
  std::free(base);
}
}  // namespace

void* operator new(size_t n) { return CountedAlloc(n); }
void* operator new[](size_t n) { return CountedAlloc(n); }
void operator delete(void* p) noexcept { CountedFree(p); }
void operator delete[](void* p) noexcept { CountedFree(p); }
void operator delete(void* p, size_t) noexcept { CountedFree(p); }
void operator delete[](void* p, size_t) noexcept { CountedFree(p); }

namespace runnel::engine {
namespace {

using Clock = std::chrono::steady_clock;  // NOLINT(determinism): a benchmark, not engine code

struct Options {
  std::string dir;
  uint64_t bytes = uint64_t{2} << 30;
  uint64_t durable_bytes = uint64_t{256} << 20;
  int inflight = 4;
  int partitions = 64;
  bool fio = true;
};

double Seconds(Clock::time_point a, Clock::time_point b) {
  return std::chrono::duration<double>(b - a).count();
}

// A batch of `records` records of 1 KiB values (and 16-byte keys).
std::vector<std::byte> MakeBatch(int records) {
  BatchBuilder b(BatchOptions{});
  std::string key(16, 'k');
  std::string value(1024, 'v');
  for (int i = 0; i < records; ++i) {
    std::snprintf(key.data(), key.size(), "key-%011d", i);
    for (size_t j = 0; j < value.size(); j += 64) value[j] = static_cast<char>('a' + (i + j) % 26);
    b.Append(1'700'000'000'000 + i,
             Bytes(reinterpret_cast<const std::byte*>(key.data()), key.size()),
             Bytes(reinterpret_cast<const std::byte*>(value.data()), value.size()));
  }
  return b.Build().value();
}

struct AppendRun {
  double seconds = 0;
  uint64_t bytes = 0;
  uint64_t appends = 0;
  double rate() const { return bytes / seconds; }
};

Task<AppendRun> Appends(Log& log, int records_per_batch, uint64_t total, int inflight,
                        bool durable) {
  std::vector<std::vector<std::byte>> buffers;
  for (int i = 0; i < inflight; ++i) buffers.push_back(MakeBatch(records_per_batch));
  uint64_t issued = 0;
  AppendRun run;
  auto worker = [](Log& log, std::vector<std::byte>& buffer, uint64_t& issued, uint64_t total,
                   bool durable, AppendRun& run) -> Task<void> {
    while (issued < total) {
      issued += buffer.size();
      Result<AppendResult> r = co_await log.Append(buffer, AppendOptions{.durable = durable});
      if (!r.ok() || !r->appended()) {
        std::fprintf(stderr, "append failed: %s\n",
                     r.ok() ? r->message.c_str() : r.status().ToString().c_str());
        std::abort();
      }
      run.bytes += buffer.size();
      ++run.appends;
    }
  };
  const auto start = Clock::now();
  std::vector<Task<void>> workers;
  for (auto& b : buffers) workers.push_back(worker(log, b, issued, total, durable, run));
  co_await WhenAll(std::move(workers));
  run.seconds = Seconds(start, Clock::now());
  co_return run;
}

// --- fio ---------------------------------------------------------------------------------

std::optional<std::string> Capture(const std::string& command) {
  FILE* p = ::popen(command.c_str(), "r");
  if (p == nullptr) return std::nullopt;
  std::string out;
  char buf[4096];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, p)) > 0) out.append(buf, n);
  if (::pclose(p) != 0) return std::nullopt;
  return out;
}

// The number after `"key" :` in the `"section" : {` object of fio's JSON (the job options hold
// `"rw" : "write"`, hence the brace).
std::optional<double> JsonAfter(const std::string& json, const std::string& section,
                                const std::string& key) {
  size_t at = json.find("\"jobs\"");
  if (at == std::string::npos) return std::nullopt;
  at = json.find("\"" + section + "\" : {", at);
  if (at == std::string::npos) return std::nullopt;
  at = json.find("\"" + key + "\"", at);
  if (at == std::string::npos) return std::nullopt;
  at = json.find(':', at);
  if (at == std::string::npos) return std::nullopt;
  return std::strtod(json.c_str() + at + 1, nullptr);
}

struct Fio {
  std::string command;
  double rate = 0;  // bytes/s
};

std::optional<Fio> RunFio(const std::string& args, const std::string& section) {
  Fio f;
  f.command = "fio --name=ref --ioengine=io_uring --output-format=json " + args;
  auto out = Capture(f.command + " 2>/dev/null");
  if (!out) return std::nullopt;
  auto bw = JsonAfter(*out, section, "bw_bytes");
  if (!bw) return std::nullopt;
  f.rate = *bw;
  return f;
}

void Row(const char* what, double rate, const std::optional<Fio>& fio) {
  if (fio) {
    std::printf("%-42s %8.2f GB/s   fio %8.2f GB/s   ratio %.2f\n", what, rate / 1e9,
                fio->rate / 1e9, rate / fio->rate);
  } else {
    std::printf("%-42s %8.2f GB/s\n", what, rate / 1e9);
  }
}

// --- The run -------------------------------------------------------------------------------

Task<void> Main(Io& io, const Options& o, int& exit_code) {
  LogConfig config;  // Kafka defaults: 1 GiB segments, index every 4 KiB
  config.max_message_bytes = 2 << 20;
  std::vector<std::string> fio_commands;
  auto fio = [&](const std::string& args, const std::string& section) -> std::optional<Fio> {
    if (!o.fio) return std::nullopt;
    ::sync();  // start from clean page cache, as our run did
    auto f = RunFio(args, section);
    if (f) fio_commands.push_back(f->command);
    std::filesystem::remove(o.dir + "/fio.dat");
    return f;
  };

  std::printf("runnel-log-io-bench: %s, io_uring, 1 shard, %d appends in flight\n\n", o.dir.c_str(),
              o.inflight);
  const std::string dir64k = o.dir + "/p-64k";
  struct Case {
    std::string label;
    int records;
    std::string dir;
    int inflight;
    bool durable;
  };
  std::vector<Case> cases;
  cases.push_back(Case{"append 64 KiB batches, no sync", 64, dir64k, o.inflight, false});
  cases.push_back(Case{"append 1 MiB batches, no sync", 1024, o.dir + "/p-1m", o.inflight, false});
  cases.push_back(
      Case{"append 64 KiB batches, durable (64 in flight)", 64, o.dir + "/d-64k", 64, true});
  cases.push_back(
      Case{"append 1 MiB batches, durable (16 in flight)", 1024, o.dir + "/d-1m", 16, true});
  for (const Case& c : cases) {
    auto log = co_await Log::Open(io, c.dir, config);
    if (!log.ok()) {
      std::fprintf(stderr, "open: %s\n", log.status().ToString().c_str());
      exit_code = 1;
      co_return;
    }
    const uint64_t total = c.durable ? o.durable_bytes : o.bytes;
    // Every measurement starts with no dirty pages left by the previous one.
    ::sync();
    AppendRun run = co_await Appends(**log, c.records, total, c.inflight, c.durable);
    // The 64 KiB log is dropped without Close: the recovery scan below starts from an unclean
    // stop.
    if (c.durable) (void)co_await (*log)->Close();
    log->reset();
    const std::string bs = c.records == 64 ? "64k" : "1M";
    const std::string args =
        c.durable ? fmt::format("--rw=write --bs={} --size={} --fdatasync=16 --filename={}/fio.dat",
                                bs, total, o.dir)
                  : fmt::format("--rw=write --bs={} --size={} --iodepth={} --filename={}/fio.dat",
                                bs, total, c.inflight, o.dir);
    auto ref = fio(args, "write");
    Row(c.label.c_str(), run.rate(), ref);
  }

  // Recovery: the 64 KiB log was never closed, so Open scans it all (page cache warm, as after
  // a process restart).
  {
    ::sync();
    const auto start = Clock::now();
    auto log = co_await Log::Open(io, dir64k, config);
    const double seconds = Seconds(start, Clock::now());
    if (!log.ok()) {
      std::fprintf(stderr, "recovery: %s\n", log.status().ToString().c_str());
      exit_code = 1;
      co_return;
    }
    const RecoveryReport& r = (*log)->recovery_report();
    std::optional<Fio> ref;
    if (o.fio) {
      ::sync();
      const std::string segment = dir64k + "/00000000000000000000.log";
      ref = RunFio(fmt::format("--rw=read --bs=1M --iodepth=4 --size={} --filename={}",
                               std::filesystem::file_size(segment), segment),
                   "read");
      if (ref) fio_commands.push_back(ref->command);
    }
    Row(fmt::format("recovery scan ({} segments, {} batches)", r.segments_scanned,
                    r.batches_scanned)
            .c_str(),
        r.bytes_scanned / seconds, ref);
    (void)co_await (*log)->Close();
  }

  // CRC-32C.
  {
    std::vector<std::byte> buf(1 << 20);
    for (size_t i = 0; i < buf.size(); ++i) buf[i] = std::byte(i * 131);
    uint32_t crc = 0;
    const int rounds = 4000;
    const auto start = Clock::now();
    for (int i = 0; i < rounds; ++i) crc = crc32c::Extend(crc, buf);
    const double seconds = Seconds(start, Clock::now());
    std::printf("%-42s %8.2f GB/s   (%s)\n", "CRC-32C, 1 MiB buffers",
                rounds * double(buf.size()) / seconds / 1e9,
                crc32c::HardwareAvailable() ? "SSE4.2" : "portable");
    if (crc == 42) std::printf(" ");
  }

  // Memory per open partition: P logs of 3 segments (8 MiB each) of 64 KiB batches, closed
  // cleanly and opened again (their index entries loaded).
  {
    LogConfig small = config;
    small.segment_bytes = 8 << 20;
    std::vector<std::byte> batch = MakeBatch(64);
    for (int p = 0; p < o.partitions; ++p) {
      auto log = co_await Log::Open(io, fmt::format("{}/m-{}", o.dir, p), small);
      if (!log.ok()) co_return;
      for (int i = 0; i < 3 * 8 * 16 - 8; ++i) (void)co_await (*log)->Append(batch);
      (void)co_await (*log)->Close();
    }
    RecordReader shared(64 << 20);
    const int64_t before = g_live_bytes.load();
    std::vector<std::unique_ptr<Log>> logs;
    for (int p = 0; p < o.partitions; ++p) {
      auto log = co_await Log::Open(io, fmt::format("{}/m-{}", o.dir, p), small, {}, &shared);
      if (!log.ok()) co_return;
      logs.push_back(std::move(*log));
    }
    const int64_t after = g_live_bytes.load();
    size_t index_bytes = 0;
    size_t entries = 0;
    for (const auto& l : logs) {
      index_bytes += l->memory().index_bytes;
      entries += l->memory().index_entries;
    }
    const double per = double(after - before) / o.partitions;
    const double index_per = double(index_bytes) / o.partitions;
    std::printf(
        "%-42s %8.0f bytes (index entries %.0f bytes for %.0f entries; rest %.0f bytes,"
        " %zu segments)\n",
        "memory per open partition", per, index_per, double(entries) / o.partitions,
        per - index_per, logs.front()->segment_count());
    for (auto& l : logs) (void)co_await l->Close();
  }

  if (!fio_commands.empty()) {
    std::printf("\nfio commands:\n");
    for (const auto& c : fio_commands) std::printf("  %s\n", c.c_str());
  }
}

}  // namespace
}  // namespace runnel::engine

int main(int argc, char** argv) {
  runnel::engine::Options o;
  std::string dir;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto next = [&]() -> std::string { return i + 1 < argc ? argv[++i] : ""; };
    if (a == "--dir") {
      dir = next();
    } else if (a == "--bytes") {
      o.bytes = std::stoull(next());
    } else if (a == "--durable-bytes") {
      o.durable_bytes = std::stoull(next());
    } else if (a == "--inflight") {
      o.inflight = std::stoi(next());
    } else if (a == "--partitions") {
      o.partitions = std::stoi(next());
    } else if (a == "--no-fio") {
      o.fio = false;
    } else {
      std::fprintf(stderr,
                   "usage: %s [--dir DIR] [--bytes N] [--durable-bytes N] [--inflight N] "
                   "[--partitions N] [--no-fio]\n",
                   argv[0]);
      return 2;
    }
  }
  const bool temporary = dir.empty();
  if (temporary) {
    std::string templ = "/var/tmp/runnel-log-bench-XXXXXX";
    if (::mkdtemp(templ.data()) == nullptr) {
      std::perror("mkdtemp");
      return 1;
    }
    dir = templ;
  }
  o.dir = dir;
  auto rt = runnel::uring::UringRuntime::Create({.shards = 1});
  if (!rt.ok()) {
    std::fprintf(stderr, "%s\n", rt.status().ToString().c_str());
    return 1;
  }
  int exit_code = 0;
  runnel::Status s =
      (*rt)->Run([&](runnel::Io& io) { return runnel::engine::Main(io, o, exit_code); });
  if (!s.ok()) {
    std::fprintf(stderr, "%s\n", s.ToString().c_str());
    exit_code = 1;
  }
  if (temporary) std::filesystem::remove_all(dir);
  return exit_code;
}
