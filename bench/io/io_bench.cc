// runnel-io-bench: what the production io layer (io/uring) moves, next to what fio and iperf3
// move on the same machine in the same run. Prints figures and ratios; never passes or fails.
//
//   build/bin/runnel-io-bench [--dir DIR] [--file-mib N] [--qd N] [--seconds N] [--net-kib N]
//
// 1. Sequential 1 MiB O_DIRECT writes through io_uring: appends that extend the file, with and
//    without an fdatasync every 16 MiB, against fio with --file_append=1 (and the same
//    --fdatasync); and writes into a preallocated file against fio's default (fio lays its file
//    out with fallocate first).
// 2. One TCP stream over 127.0.0.1 between two shards (two threads) against iperf3 -c.
// 3. SendFile (splice file -> pipe -> socket) of a cached file against iperf3 -Z (sendfile).
#include <fmt/format.h>
#include <stdlib.h>
#include <sys/statfs.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "bench/io/reference_tools.h"
#include "io/uring/runtime.h"

namespace runnel::bench {
namespace {

constexpr size_t kBlockBytes = size_t{1} << 20;
constexpr uint32_t kSyncEveryBlocks = 16;  // fdatasync every 16 MiB

struct Options {
  std::string dir;          // default: a fresh directory under the current one
  uint64_t file_mib = 512;  // bytes written per file measurement
  uint32_t qd = 1;          // writes in flight (fio --iodepth)
  int seconds = 2;          // per network measurement
  int rounds = 3;           // each figure is the best of this many interleaved runs
  size_t net_kib = 256;     // Send/Recv buffer size
  // The cached file SendFile sends again and again. Small, like the one buffer iperf3 -Z re-sends:
  // the receiving copy then reads hot memory in both.
  uint64_t sendfile_mib = 4;
  std::string only;       // "files" or "net": run one half
  bool reference = true;  // run fio and iperf3 too
};

struct Figure {
  std::string name;
  std::string unit;
  std::vector<Measured> ours = {};  // one sample per round that worked
  std::vector<Measured> theirs = {};
  void Add(std::optional<Measured> o, std::optional<Measured> t) {
    if (o) ours.push_back(*o);
    if (t) theirs.push_back(*t);
  }
};

// The highest rate, and the lowest CPU per byte, over the rounds.
std::optional<double> BestRate(const std::vector<Measured>& v) {
  if (v.empty()) return std::nullopt;
  double best = 0;
  for (const Measured& m : v) best = std::max(best, m.rate);
  return best;
}
std::optional<double> BestCpu(const std::vector<Measured>& v) {
  if (v.empty()) return std::nullopt;
  double best = v[0].cpu_ns_per_byte;
  for (const Measured& m : v) best = std::min(best, m.cpu_ns_per_byte);
  return best;
}

double Seconds(Duration d) { return std::chrono::duration<double>(d).count(); }

// A heap buffer aligned for O_DIRECT.
struct AlignedBuffer {
  explicit AlignedBuffer(size_t n)
      : data(static_cast<std::byte*>(std::aligned_alloc(kDirectIoAlignment, n))), size(n) {}
  ~AlignedBuffer() { std::free(data); }
  AlignedBuffer(const AlignedBuffer&) = delete;
  AlignedBuffer& operator=(const AlignedBuffer&) = delete;
  std::span<const std::byte> span() const { return {data, size}; }
  std::byte* data;
  size_t size;
};

// Runs `body` on a fresh runtime with `shards` shards; false (and a message) on failure.
bool RunOn(uint32_t shards, std::function<Task<void>(Io&)> body) {
  auto rt = uring::UringRuntime::Create(uring::UringOptions{.shards = shards});
  if (!rt.ok()) {
    std::fprintf(stderr, "%s\n", rt.status().ToString().c_str());
    return false;
  }
  Status s = (*rt)->Run(std::move(body));
  if (!s.ok()) std::fprintf(stderr, "runtime: %s\n", s.ToString().c_str());
  return s.ok();
}

// --- Files -------------------------------------------------------------------------------------

struct WriteJob {
  std::string path;
  uint64_t total_bytes;
  uint32_t qd;
  bool sync_every_16;
  bool preallocate;  // Preallocate + Truncate to the full size first (fio's layout)
};

Task<Status> Writer(File& f, const AlignedBuffer& buf, uint64_t& next, uint64_t end) {
  while (next < end) {
    const uint64_t off = next;
    next += kBlockBytes;
    RUNNEL_CO_TRY(co_await f.WriteAt(off, buf.span()));
  }
  co_return Status::Ok();
}

Task<Result<double>> SequentialWrites(Io& io, WriteJob job) {
  RUNNEL_CO_ASSIGN_OR_RETURN(
      std::unique_ptr<File> f,
      co_await io.fs().Open(job.path,
                            OpenOptions{.create = true, .truncate = true, .direct = true}));
  if (job.preallocate) {
    RUNNEL_CO_TRY(co_await f->Preallocate(0, job.total_bytes));
    RUNNEL_CO_TRY(co_await f->Truncate(job.total_bytes));
    RUNNEL_CO_TRY(co_await f->Sync());
  }
  AlignedBuffer buf(kBlockBytes);
  io.rng().Fill(std::span(buf.data, buf.size));
  const uint64_t batch = job.sync_every_16 ? kSyncEveryBlocks * kBlockBytes : job.total_bytes;
  const Instant t0 = io.clock().Now();
  uint64_t next = 0;
  while (next < job.total_bytes) {
    const uint64_t end = std::min(job.total_bytes, next + batch);
    std::vector<Task<Status>> writers;
    for (uint32_t i = 0; i < job.qd; i++) writers.push_back(Writer(*f, buf, next, end));
    for (Status& s : co_await WhenAll(std::move(writers))) RUNNEL_CO_TRY(s);
    if (job.sync_every_16) RUNNEL_CO_TRY(co_await f->Sync());
  }
  const Duration took = io.clock().Now() - t0;
  RUNNEL_CO_TRY(co_await f->Close());
  RUNNEL_CO_TRY(co_await io.fs().Remove(job.path));
  co_return static_cast<double>(job.total_bytes) / Seconds(took);
}

std::optional<Measured> OurWrites(const WriteJob& job) {
  std::optional<Measured> out;
  RunOn(1, [&](Io& io) -> Task<void> {
    const double cpu0 = CpuSeconds(false);
    Result<double> r = co_await SequentialWrites(io, job);
    const double cpu = CpuSeconds(false) - cpu0;
    if (r.ok()) {
      out = Measured{*r, cpu * 1e9 / static_cast<double>(job.total_bytes)};
    } else {
      std::fprintf(stderr, "writes: %s\n", r.status().ToString().c_str());
    }
  });
  return out;
}

// --- Network -----------------------------------------------------------------------------------

struct StreamResult {
  uint64_t bytes = 0;
  Duration took{};
  Status status;
};

// On shard 1: accepts one connection and counts what arrives until end of stream.
Task<Status> Receiver(Io& io, std::atomic<uint16_t>& port, size_t buf_bytes, StreamResult& out) {
  RUNNEL_CO_ASSIGN_OR_RETURN(std::unique_ptr<Listener> l,
                             co_await io.net().Listen(Address{"127.0.0.1", 0}));
  port.store(l->local().port, std::memory_order_release);
  RUNNEL_CO_ASSIGN_OR_RETURN(std::unique_ptr<Socket> s, co_await l->Accept());
  std::vector<std::byte> buf(buf_bytes);
  const Instant t0 = io.clock().Now();
  for (;;) {
    RUNNEL_CO_ASSIGN_OR_RETURN(size_t n, co_await s->Recv(buf));
    if (n == 0) break;
    out.bytes += n;
  }
  out.took = io.clock().Now() - t0;
  RUNNEL_CO_TRY(co_await s->Close());
  co_return co_await l->Close();
}

// On shard 0: connects and sends for `seconds`, either from memory or with SendFile.
Task<Status> Sender(Io& io, std::atomic<uint16_t>& port, const Options& opt, File* file,
                    uint64_t file_bytes) {
  while (port.load(std::memory_order_acquire) == 0) co_await io.Sleep(std::chrono::milliseconds(1));
  RUNNEL_CO_ASSIGN_OR_RETURN(std::unique_ptr<Socket> s,
                             co_await io.net().Connect(Address{"127.0.0.1", port.load()}));
  std::vector<std::byte> buf(opt.net_kib << 10);
  io.rng().Fill(buf);
  const Instant end = io.clock().Now() + std::chrono::seconds(opt.seconds);
  while (io.clock().Now() < end) {
    if (file != nullptr) {
      RUNNEL_CO_TRY(co_await s->SendFile(*file, 0, file_bytes));
    } else {
      RUNNEL_CO_TRY(co_await s->Send(buf));
    }
  }
  RUNNEL_CO_TRY(co_await s->ShutdownWrite());
  // Wait for the receiver to see the end before closing (closing first could reset the stream).
  std::byte one[1];
  RUNNEL_CO_ASSIGN_OR_RETURN(size_t n, co_await s->Recv(one));
  (void)n;
  co_return co_await s->Close();
}

std::optional<Measured> OurStream(const Options& opt, bool send_file, const std::string& dir) {
  std::optional<Measured> out;
  RunOn(2, [&](Io& io) -> Task<void> {
    std::unique_ptr<File> file;
    const uint64_t file_bytes = opt.sendfile_mib << 20;
    const std::string path = dir + "/sendfile.dat";
    if (send_file) {
      auto f = co_await io.fs().Open(path, OpenOptions{.create = true, .truncate = true});
      if (!f.ok()) {
        std::fprintf(stderr, "open: %s\n", f.status().ToString().c_str());
        co_return;
      }
      file = std::move(*f);
      std::vector<std::byte> chunk(4 << 20);
      io.rng().Fill(chunk);
      for (uint64_t off = 0; off < file_bytes; off += chunk.size()) {
        Status s = co_await file->WriteAt(off, chunk);
        if (!s.ok()) {
          std::fprintf(stderr, "write: %s\n", s.ToString().c_str());
          co_return;
        }
      }
    }
    std::atomic<uint16_t> port{0};
    StreamResult result;
    const double cpu0 = CpuSeconds(false);
    std::vector<Task<Status>> sides;
    sides.push_back(Invoke<Status>(io.shards(), 1, [&](Io& there) -> Task<Status> {
      co_return co_await Receiver(there, port, opt.net_kib << 10, result);
    }));
    sides.push_back(Sender(io, port, opt, file.get(), file_bytes));
    std::vector<Status> r = co_await WhenAll(std::move(sides));
    for (const Status& s : r) {
      if (!s.ok()) std::fprintf(stderr, "stream: %s\n", s.ToString().c_str());
    }
    const double cpu = CpuSeconds(false) - cpu0;
    if (r[0].ok() && r[1].ok() && result.bytes > 0) {
      const double bytes = static_cast<double>(result.bytes);
      out = Measured{bytes * 8 / Seconds(result.took), cpu * 1e9 / bytes};
    }
    if (file) {
      (void)co_await file->Close();
      (void)co_await io.fs().Remove(path);
    }
  });
  return out;
}

// --- Output ------------------------------------------------------------------------------------

std::string Fmt(std::optional<double> v, double scale) {
  return v ? fmt::format("{:9.2f}", *v / scale) : fmt::format("{:>9}", "n/a");
}

std::string Samples(const std::vector<Measured>& v, double scale) {
  std::string out;
  for (const Measured& m : v) {
    out += fmt::format("{}{:.1f}", out.empty() ? "" : " ", m.rate / scale);
  }
  return out.empty() ? "-" : out;
}

std::string Ratio(std::optional<double> a, std::optional<double> b) {
  return a && b && *b > 0 ? fmt::format("{:5.2f}", *a / *b) : fmt::format("{:>5}", "n/a");
}

void Print(const Figure& f) {
  const double scale = f.unit == "GiB/s" ? double(1 << 30) : 1e9;
  const std::optional<double> ours = BestRate(f.ours), theirs = BestRate(f.theirs);
  const std::optional<double> our_cpu = BestCpu(f.ours), their_cpu = BestCpu(f.theirs);
  std::printf("%-44s %s %s %-6s %s | %s %s %s  [%s | %s]\n", f.name.c_str(),
              Fmt(ours, scale).c_str(), Fmt(theirs, scale).c_str(), f.unit.c_str(),
              Ratio(ours, theirs).c_str(), Fmt(our_cpu, 1).c_str(), Fmt(their_cpu, 1).c_str(),
              Ratio(their_cpu, our_cpu).c_str(), Samples(f.ours, scale).c_str(),
              Samples(f.theirs, scale).c_str());
  std::fflush(stdout);
}

std::string FsType(const std::string& dir) {
  struct statfs st {};
  if (::statfs(dir.c_str(), &st) != 0) return "?";
  switch (static_cast<unsigned long>(st.f_type)) {
    case 0xEF53:
      return "ext4";
    case 0x58465342:
      return "xfs";
    case 0x9123683E:
      return "btrfs";
    case 0x01021994:
      return "tmpfs";
    case 0x794c7630:
      return "overlayfs";
    default:
      return fmt::format("0x{:x}", static_cast<unsigned long>(st.f_type));
  }
}

bool ParseArgs(int argc, char** argv, Options& opt) {
  for (int i = 1; i < argc; i++) {
    std::string a = argv[i];
    auto value = [&]() -> std::string { return i + 1 < argc ? argv[++i] : ""; };
    if (a == "--dir") {
      opt.dir = value();
    } else if (a == "--file-mib") {
      opt.file_mib = std::stoull(value());
    } else if (a == "--qd") {
      opt.qd = static_cast<uint32_t>(std::stoul(value()));
    } else if (a == "--seconds") {
      opt.seconds = std::stoi(value());
    } else if (a == "--net-kib") {
      opt.net_kib = std::stoul(value());
    } else if (a == "--rounds") {
      opt.rounds = std::stoi(value());
    } else if (a == "--no-reference") {
      opt.reference = false;
    } else if (a == "--only") {
      opt.only = value();
    } else if (a == "--sendfile-mib") {
      opt.sendfile_mib = std::stoull(value());
    } else {
      std::fprintf(
          stderr,
          "usage: runnel-io-bench [--dir DIR] [--file-mib N] [--qd N] [--seconds N] "
          "[--net-kib N] [--sendfile-mib N] [--rounds N] [--only files|net] [--no-reference]\n");
      return false;
    }
  }
  return opt.qd > 0 && opt.file_mib >= 16 && opt.seconds > 0 && opt.net_kib > 0 && opt.rounds > 0;
}

int Main(int argc, char** argv) {
  Options opt;
  if (!ParseArgs(argc, argv, opt)) return 2;
  bool made_dir = false;
  if (opt.dir.empty()) {
    // Under the current directory: the benchmark should hit the file system the broker uses.
    std::string templ = (std::filesystem::current_path() / "runnel-io-bench-XXXXXX").string();
    if (::mkdtemp(templ.data()) == nullptr) {
      std::perror("mkdtemp");
      return 1;
    }
    opt.dir = templ;
    made_dir = true;
  }
  std::printf(
      "runnel-io-bench: dir %s (%s), %lu MiB per file run, qd %u, %d s per stream, "
      "%zu KiB socket buffers\n",
      opt.dir.c_str(), FsType(opt.dir).c_str(), static_cast<unsigned long>(opt.file_mib), opt.qd,
      opt.seconds, opt.net_kib);
  std::printf(
      "best of %d interleaved rounds; rate ratio = runnel / reference; cpu ratio = reference "
      "cpu / runnel cpu (above 1: runnel spends less); [rates of every round: runnel | "
      "reference]\n",
      opt.rounds);
  std::printf("%-44s %9s %9s %-6s %5s | %9s %9s %5s\n", "measurement", "runnel", "reference",
              "unit", "ratio", "cpu ns/B", "reference", "ratio");
  std::vector<std::string> commands;

  const uint64_t total = opt.file_mib << 20;
  struct FileCase {
    const char* name;
    bool sync;
    bool append;
  };
  for (FileCase c : opt.only == "net"
                        ? std::vector<FileCase>{}
                        : std::vector<FileCase>{
                              FileCase{"O_DIRECT 1 MiB appends", false, true},
                              FileCase{"O_DIRECT 1 MiB appends + fdatasync/16 MiB", true, true},
                              FileCase{"O_DIRECT 1 MiB writes, preallocated file", false, false},
                              FileCase{"  same + fdatasync/16 MiB", true, false}}) {
    Figure f{c.name, "GiB/s"};
    std::string cmd;
    for (int r = 0; r < opt.rounds; r++) {
      auto ours = [&] {
        return OurWrites(
            WriteJob{opt.dir + "/runnel-writes.dat", total, opt.qd, c.sync, !c.append});
      };
      auto theirs = [&]() -> std::optional<Measured> {
        if (!opt.reference) return std::nullopt;
        return FioWrite(
            FioWriteJob{opt.dir, total, opt.qd, c.sync ? kSyncEveryBlocks : 0, c.append}, cmd);
      };
      // Alternate who goes first: the device may still be busy with the previous run's writes.
      if (r % 2 == 0) {
        auto o = ours();
        f.Add(o, theirs());
      } else {
        auto t = theirs();
        f.Add(ours(), t);
      }
    }
    commands.push_back(cmd);
    Print(f);
  }

  for (bool send_file :
       opt.only == "files" ? std::vector<bool>{} : std::vector<bool>{false, true}) {
    Figure f{
        send_file ? "loopback TCP, SendFile (splice) vs iperf3 -Z" : "loopback TCP, one stream",
        "Gbit/s"};
    std::string cmd;
    for (int r = 0; r < opt.rounds; r++) {
      if (r % 2 == 0) {
        auto o = OurStream(opt, send_file, opt.dir);
        f.Add(o, opt.reference ? Iperf3(opt.seconds, send_file, cmd) : std::nullopt);
      } else {
        auto t = opt.reference ? Iperf3(opt.seconds, send_file, cmd) : std::nullopt;
        f.Add(OurStream(opt, send_file, opt.dir), t);
      }
    }
    commands.push_back(cmd);
    Print(f);
  }

  std::printf("\nreference commands:\n");
  for (const std::string& c : commands) std::printf("  %s\n", c.c_str());
  if (made_dir) std::filesystem::remove_all(opt.dir);
  return 0;
}

}  // namespace
}  // namespace runnel::bench

int main(int argc, char** argv) { return runnel::bench::Main(argc, argv); }
