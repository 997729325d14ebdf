#include "sim/workloads/io_workload.h"

#include <fmt/format.h>

#include <algorithm>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "io/io.h"
#include "sim/checkers/record_log.h"
#include "sim/checkers/stream_checker.h"
#include "sim/node.h"

namespace runnel::sim {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

constexpr uint16_t kEchoPort = 7000;
constexpr const char* kDataDir = "/data";
constexpr const char* kMetaPath = "/data/meta";
constexpr size_t kLogFilesKept = 4;
constexpr uint64_t kLogFileBytesMax = 16 << 20;
constexpr uint64_t kStreamBytesMax = 48 * 1024;
constexpr size_t kEchoClientsPerNode = 2;
constexpr Duration kStreamTimeout = seconds(8);
constexpr Duration kEchoIdleTimeout = seconds(20);

// Everything the workload knows about one node. Kept outside the node: it survives crashes.
struct NodeModel {
  // Disk.
  std::map<std::string, LogFileModel> files;
  uint64_t next_file = 0;
  uint64_t next_seq = 1;
  uint64_t meta_next = 0;
  uint64_t meta_durable = 0;            // 0: never written successfully
  std::set<uint64_t> meta_possible{0};  // values a restart may find (0: absent)
  uint64_t verified_incarnation = 0;
  // This incarnation (reset at boot).
  uint64_t incarnation = 0;
  std::vector<uint64_t> shard_counters;
  std::vector<int64_t> last_mono_ns;
  // Liveness: world times of the last successes.
  int64_t last_sync_ok_ns = -1;
  int64_t last_echo_ok_ns = -1;
  // Counters for the summary.
  uint64_t records = 0, syncs = 0, disk_errors = 0, verifies = 0, corruption_detected = 0;
  uint64_t streams_ok = 0, streams_failed = 0, stream_bytes = 0, ticks = 0, invokes = 0;
};

// An echo stream's state, shared by its sender, receiver and timeout paths.
struct Stream {
  explicit Stream(uint64_t seed, uint64_t total) : checker(seed), seed(seed), total(total) {}
  StreamChecker checker;
  const uint64_t seed;
  const uint64_t total;
  std::shared_ptr<Socket> socket;
  bool abandoned = false;  // its deadline passed: whatever still runs of it gives up
};

// Uniform in [lo, hi], in nanoseconds.
Duration Between(Rng& rng, Duration lo, Duration hi) {
  return Duration(rng.Range(lo.count(), hi.count()));
}

std::string MetaText(uint64_t value) {
  return fmt::format("meta {} {:016x}\n", value, value * 0x9e3779b97f4a7c15ULL);
}

std::vector<std::byte> AsBytes(const std::string& s) {
  std::vector<std::byte> out(s.size());
  std::memcpy(out.data(), s.data(), s.size());
  return out;
}

class IoWorkload final : public Workload {
 public:
  explicit IoWorkload(uint64_t seed) : rng_(seed ^ 0x494f574f524b4c44ULL) {}

  std::string_view name() const override { return "io"; }

  void Setup(SimWorld& world) override {
    world_ = &world;
    const uint32_t nodes = static_cast<uint32_t>(3 + rng_.Uniform(3));
    models_.resize(nodes);
    for (uint32_t i = 0; i < nodes; i++) {
      const uint32_t shards = static_cast<uint32_t>(1 + rng_.Uniform(4));
      shards_.push_back(shards);
      NodeId id = world.AddNode(NodeOptions{
          .shards = shards,
          .clock_drift_ppm = rng_.Range(-200, 200),
          .boot = [this](SimNode& n) { Boot(n); },
      });
      nodes_.push_back(id);
    }
  }

  std::vector<NodeId> nodes() const override { return nodes_; }

  void SetQuietFrom(Duration t) override { quiet_from_ns_ = t.count(); }

  bool Done() const override {
    if (quiet_from_ns_ < 0 || world_->now_ns() < quiet_from_ns_) return false;
    for (NodeId n : nodes_) {
      const NodeModel& m = models_[n - 1];
      if (!world_->up(n) || m.last_echo_ok_ns < quiet_from_ns_ ||
          m.last_sync_ok_ns < quiet_from_ns_) {
        return false;
      }
    }
    return true;
  }

  Status Finish(SimWorld& world) override {
    // One last power loss everywhere: every node must find its synced logs on restart.
    for (NodeId n : nodes_) {
      if (world.up(n)) world.CrashNode(n);
      world.StartNode(n);
    }
    auto verified = [&] {
      for (NodeId n : nodes_) {
        if (models_[n - 1].verified_incarnation != world.node(n).incarnation()) return false;
      }
      return true;
    };
    RunStop stop = world.RunUntil(verified, RunLimits{.time_max = world.now() + seconds(30)});
    if (world.failed()) return Status::Corruption(world.failure());
    if (stop != RunStop::kPredicate) {
      return Status::Timeout(
          fmt::format("final verification did not finish ({})", RunStopName(stop)));
    }
    return Status::Ok();
  }

  std::string Summary() const override {
    NodeModel t;
    for (const NodeModel& m : models_) {
      t.records += m.records;
      t.syncs += m.syncs;
      t.disk_errors += m.disk_errors;
      t.verifies += m.verifies;
      t.corruption_detected += m.corruption_detected;
      t.streams_ok += m.streams_ok;
      t.streams_failed += m.streams_failed;
      t.stream_bytes += m.stream_bytes;
      t.ticks += m.ticks;
      t.invokes += m.invokes;
    }
    return fmt::format(
               "nodes={} shards=[{}] records={} syncs={} disk_errors={} verifies={} "
               "corruption_detected={} streams_ok={} streams_failed={} stream_bytes={} ticks={} "
               "invokes={}",
               nodes_.size(), fmt::join(shards_, ","), t.records, t.syncs, t.disk_errors,
               t.verifies, t.corruption_detected, t.streams_ok, t.streams_failed, t.stream_bytes,
               t.ticks, t.invokes) +
           "\n  " + DiskAndNetSummary();
  }

  // What the simulated disks and network did (shows which fault paths the run exercised).
  std::string DiskAndNetSummary() const {
    DiskStats d;
    for (NodeId n : nodes_) {
      const DiskStats& s = world_->disk(n).stats();
      d.sync_errors += s.sync_errors;
      d.read_errors += s.read_errors;
      d.write_errors += s.write_errors;
      d.latent_errors += s.latent_errors;
      d.bit_rots += s.bit_rots;
      d.no_space += s.no_space;
      d.crashes += s.crashes;
      d.crash_writes_kept += s.crash_writes_kept;
      d.crash_writes_dropped += s.crash_writes_dropped;
      d.crash_writes_torn += s.crash_writes_torn;
      d.crash_dir_ops_kept += s.crash_dir_ops_kept;
      d.crash_dir_ops_lost += s.crash_dir_ops_lost;
    }
    const NetStats& net = world_->network().stats();
    return fmt::format(
        "disk: sync_errors={} read_errors={} write_errors={} latent={} bit_rots={} no_space={} "
        "crashes={} unsynced_writes kept/dropped/torn={}/{}/{} dir_ops kept/lost={}/{}; "
        "net: connects={} refused={} timeouts={} resets={} held={}",
        d.sync_errors, d.read_errors, d.write_errors, d.latent_errors, d.bit_rots, d.no_space,
        d.crashes, d.crash_writes_kept, d.crash_writes_dropped, d.crash_writes_torn,
        d.crash_dir_ops_kept, d.crash_dir_ops_lost, net.connects, net.refused, net.connect_timeouts,
        net.resets, net.held_deliveries);
  }

 private:
  NodeModel& model(NodeId n) { return models_[n - 1]; }

  void Fail(NodeId n, const std::string& what) {
    world_->Fail(fmt::format("node {} at {}ns: {}", n, world_->now_ns(), what));
  }

  // Whether a disk error is explained by injected faults; an unexplained one is a violation.
  bool Explained(NodeId n, const Status& s, std::string_view op) {
    const DiskStats& st = world_->disk(n).stats();
    const bool io = s.Is(ErrorKind::kIo) &&
                    st.read_errors + st.write_errors + st.sync_errors + st.latent_read_failures > 0;
    const bool space = s.Is(ErrorKind::kNoSpace) && st.no_space > 0;
    if (io || space) {
      model(n).disk_errors++;
      return true;
    }
    Fail(n, fmt::format("unexpected disk error in {}: {}", op, s.ToString()));
    return false;
  }

  void Boot(SimNode& node) {
    const NodeId id = node.id();
    NodeModel& m = model(id);
    m.incarnation = node.incarnation();
    m.shard_counters.assign(node.shard_count(), 0);
    m.last_mono_ns.assign(node.shard_count(), INT64_MIN);
    Rng& rng = node.io(0).rng();
    for (ShardId s = 0; s < node.shard_count(); s++) {
      node.Spawn(s, EchoServer(node.io(s), id));
      node.Spawn(s, Ticker(node.io(s), id));
    }
    const ShardId writer = static_cast<ShardId>(rng.Uniform(node.shard_count()));
    node.Spawn(writer, DiskWriter(node.io(writer), id));
    for (size_t c = 0; c < kEchoClientsPerNode; c++) {
      const ShardId s = static_cast<ShardId>(rng.Uniform(node.shard_count()));
      node.Spawn(s, EchoClient(node.io(s), id));
    }
  }

  // --- Tickers: timers, monotonic clock, cross-shard Invoke ---------------------------------

  Task<void> Ticker(Io& io, NodeId id) {
    const ShardId self = io.shard();
    for (;;) {
      const Duration d = Between(io.rng(), milliseconds(1), milliseconds(300));
      const Instant t0 = io.clock().Now();
      co_await io.Sleep(d);
      const Instant t1 = io.clock().Now();
      NodeModel& m = model(id);
      if (t1 - t0 < d)
        Fail(id, fmt::format("a sleep of {}ns ended after {}ns", d.count(), (t1 - t0).count()));
      if (t1.since_origin.count() < m.last_mono_ns[self]) Fail(id, "the monotonic clock went back");
      m.last_mono_ns[self] = t1.since_origin.count();
      m.ticks++;
      const ShardId to = static_cast<ShardId>(io.rng().Uniform(io.shards().count()));
      SimWorld* world = world_;
      const uint64_t got = co_await Invoke<uint64_t>(
          io.shards(), to, [this, world, id, to](Io& there) -> Task<uint64_t> {
            if (world->current_shard() != to || there.shard() != to) {
              Fail(id,
                   fmt::format("Invoke to shard {} ran on shard {}", to, world->current_shard()));
            }
            co_await Yield{there.executor()};
            co_return ++model(id).shard_counters[to];
          });
      if (world_->current_shard() != self) Fail(id, "Invoke did not come back to its shard");
      if (got == 0) Fail(id, "Invoke lost its result");
      m.invokes++;
    }
  }

  // --- Disk writer and verifier --------------------------------------------------------------

  Task<void> DiskWriter(Io& io, NodeId id) {
    FileSystem& fs = io.fs();
    // The data directory, durably.
    for (;;) {
      Status s = co_await MakeDirs(fs, kDataDir);
      if (s.ok()) s = co_await fs.SyncDir("/");
      if (s.ok()) break;
      if (!Explained(id, s, "mkdir /data")) co_return;
      co_await io.Sleep(milliseconds(io.rng().Range(10, 200)));
    }
    if (!co_await Verify(io, id)) co_return;
    NodeModel& m = model(id);
    for (;;) {
      const std::string path = fmt::format("{}/log-{:06}", kDataDir, m.next_file++);
      m.files[path] = LogFileModel{};
      co_await WriteLog(io, id, path);
      if (io.rng().Chance(0.4)) co_await WriteMeta(io, id);
      co_await RemoveOldLogs(io, id);
      co_await io.Sleep(milliseconds(io.rng().Range(1, 50)));
    }
  }

  // Appends records to a new log until it is long enough or an error makes it unusable.
  Task<void> WriteLog(Io& io, NodeId id, std::string path) {
    FileSystem& fs = io.fs();
    Result<std::unique_ptr<File>> f = co_await fs.Open(path, OpenOptions{.create = true});
    if (!f.ok()) {
      if (Explained(id, f.status(), "open")) co_await io.Sleep(milliseconds(20));
      co_return;
    }
    const int records = static_cast<int>(io.rng().Range(5, 60));
    uint64_t offset = 0;
    std::vector<std::pair<uint64_t, uint64_t>> extents;  // [offset, length) of each record
    for (int i = 0; i < records && offset < kLogFileBytesMax; i++) {
      co_await io.Sleep(Between(io.rng(), milliseconds(1), milliseconds(30)));
      NodeModel& m = model(id);
      std::vector<std::byte> payload(static_cast<size_t>(io.rng().Range(1, 2000)));
      io.rng().Fill(payload);
      const std::vector<std::byte> rec = EncodeRecord(m.next_seq++, payload);
      // In the model before the write: a failed write may still have reached the disk.
      LogFileModel& fm = m.files[path];
      fm.written.insert(fm.written.end(), rec.begin(), rec.end());
      Status s = co_await (*f)->WriteAt(offset, rec);
      if (!s.ok()) {
        Explained(id, s, "write");
        break;
      }
      extents.emplace_back(offset, rec.size());
      offset += rec.size();
      m.records++;
      if (io.rng().Chance(0.3)) {
        const auto [at, len] = extents[io.rng().Uniform(extents.size())];
        if (!co_await ReadBack(io, id, **f, path, at, len)) break;
      }
      if (i + 1 == records || io.rng().Chance(0.3)) {
        const uint64_t covered = model(id).files[path].written.size();
        s = co_await (*f)->Sync();
        if (!s.ok()) {
          Explained(id, s, "fsync");  // the unsynced tail is unknown now: abandon the file
          break;
        }
        NodeModel& after = model(id);
        after.files[path].synced_bytes = covered;
        after.syncs++;
        after.last_sync_ok_ns = world_->now_ns();
        if (!after.files[path].name_durable) {
          s = co_await fs.SyncDir(kDataDir);
          if (!s.ok()) {
            Explained(id, s, "fsync dir");
            break;
          }
          model(id).files[path].name_durable = true;
        }
      }
    }
    (void)co_await (*f)->Close();
  }

  // Reads a record back while the file is being written: it must be what was written, unless
  // the disk failed the read or rot changed it (and the checksum says so). False: stop writing.
  Task<bool> ReadBack(Io& io, NodeId id, File& f, const std::string& path, uint64_t at,
                      uint64_t len) {
    std::vector<std::byte> buf(len);
    Status s = co_await ReadExactly(f, at, buf);
    if (!s.ok()) {
      Explained(id, s, "read back");
      co_return false;
    }
    const std::vector<std::byte>& written = model(id).files[path].written;
    if (std::equal(buf.begin(), buf.end(), written.begin() + static_cast<std::ptrdiff_t>(at))) {
      co_return true;
    }
    LogFileModel one;
    one.written.assign(written.begin() + static_cast<std::ptrdiff_t>(at),
                       written.begin() + static_cast<std::ptrdiff_t>(at + len));
    LogCheck check;
    const bool rot = world_->disk(id).stats().bit_rots > 0;
    if (!rot || !CheckLogFile(one, buf, true, &check).ok() || check.valid_records != 0) {
      Fail(id, fmt::format("{}: reading back [{}, +{}) returned bytes that were never written",
                           path, at, len));
      co_return false;
    }
    model(id).corruption_detected++;  // bit rot, caught by the record checksum
    co_return false;
  }

  Task<void> WriteMeta(Io& io, NodeId id) {
    NodeModel& m = model(id);
    const uint64_t value = ++m.meta_next;
    m.meta_possible.insert(value);
    Status s = co_await WriteFileAtomic(io.fs(), kMetaPath, AsBytes(MetaText(value)));
    if (s.ok()) {
      NodeModel& after = model(id);
      after.meta_durable = value;
      after.meta_possible = {value};
    } else {
      Explained(id, s, "write meta");
    }
  }

  Task<void> RemoveOldLogs(Io& io, NodeId id) {
    while (model(id).files.size() > kLogFilesKept) {
      NodeModel& m = model(id);
      const std::string path = m.files.begin()->first;
      // Forgotten first: once the removal starts, the file may or may not come back.
      m.files.erase(m.files.begin());
      Status s = co_await io.fs().Remove(path);
      if (s.ok()) s = co_await io.fs().SyncDir(kDataDir);
      if (!s.ok() && !s.Is(ErrorKind::kNotFound)) Explained(id, s, "remove");
    }
  }

  // Checks every modelled log and the meta file. Returns false after a violation.
  Task<bool> Verify(Io& io, NodeId id) {
    FileSystem& fs = io.fs();
    SimDisk& disk = world_->disk(id);
    std::vector<std::string> paths;
    for (const auto& [path, fm] : model(id).files) paths.push_back(path);
    for (const std::string& path : paths) {
      Result<bool> exists = co_await fs.Exists(path);
      if (!exists.ok()) {
        Explained(id, exists.status(), "exists");
        continue;
      }
      if (!*exists) {
        if (model(id).files[path].name_durable) {
          Fail(id, fmt::format("{} vanished although its name was made durable", path));
          co_return false;
        }
        model(id).files.erase(path);  // an unsynced create: allowed to vanish
        continue;
      }
      Result<std::vector<std::byte>> content = co_await ReadFile(fs, path, kLogFileBytesMax * 2);
      if (!content.ok()) {
        if (!Explained(id, content.status(), "read log")) co_return false;
        continue;  // unreadable now (latent sector error); checked again at the next boot
      }
      LogCheck check;
      Status s = CheckLogFile(model(id).files[path], *content, disk.stats().bit_rots > 0, &check);
      if (!s.ok()) {
        Fail(id, fmt::format("{}: {}", path, s.ToString()));
        co_return false;
      }
      if (check.corruption_detected) model(id).corruption_detected++;
    }
    // The meta file: absent only if never written durably; else one of the possible values.
    Result<bool> exists = co_await fs.Exists(kMetaPath);
    if (exists.ok() && !*exists) {
      if (model(id).meta_durable != 0) {
        Fail(id, fmt::format("{} vanished after value {} was written atomically", kMetaPath,
                             model(id).meta_durable));
        co_return false;
      }
    } else if (exists.ok()) {
      Result<std::vector<std::byte>> content = co_await ReadFile(fs, kMetaPath, 1024);
      if (content.ok()) {
        const std::string text(reinterpret_cast<const char*>(content->data()), content->size());
        bool matched = false;
        for (uint64_t v : model(id).meta_possible) matched |= v != 0 && text == MetaText(v);
        if (!matched && disk.stats().bit_rots == 0) {
          Fail(id, fmt::format("{} holds '{}', expected one of {}", kMetaPath, text,
                               fmt::join(model(id).meta_possible, ",")));
          co_return false;
        }
      } else if (!Explained(id, content.status(), "read meta")) {
        co_return false;
      }
    }
    NodeModel& m = model(id);
    m.verifies++;
    m.verified_incarnation = world_->node(id).incarnation();
    co_return true;
  }

  // --- Echo ----------------------------------------------------------------------------------

  Task<void> EchoServer(Io& io, NodeId id) {
    Result<std::unique_ptr<Listener>> l =
        co_await io.net().Listen(Address("0.0.0.0", kEchoPort), ListenOptions{.reuse_port = true});
    if (!l.ok()) {
      Fail(id, fmt::format("listen: {}", l.status().ToString()));
      co_return;
    }
    for (;;) {
      Result<std::unique_ptr<Socket>> s = co_await (*l)->Accept();
      if (!s.ok()) co_return;
      io.Spawn(EchoHandler(io, std::shared_ptr<Socket>(std::move(*s))));
    }
  }

  static Task<Result<size_t>> RecvInto(std::shared_ptr<Socket> s,
                                       std::shared_ptr<std::vector<std::byte>> buf) {
    co_return co_await s->Recv(*buf);
  }
  static Task<Status> SendFrom(std::shared_ptr<Socket> s,
                               std::shared_ptr<std::vector<std::byte>> buf, size_t n) {
    co_return co_await s->Send(std::span(buf->data(), n));
  }

  static Task<void> EchoHandler(Io& io, std::shared_ptr<Socket> s) {
    for (;;) {
      // Owned buffers: after a timeout the inner operation finishes on its own.
      auto buf = std::make_shared<std::vector<std::byte>>(16 * 1024);
      Result<size_t> n = co_await WithTimeout<size_t>(io.executor(), io.clock(), kEchoIdleTimeout,
                                                      RecvInto(s, buf));
      if (!n.ok() || *n == 0) break;
      Status sent =
          co_await WithTimeout(io.executor(), io.clock(), kEchoIdleTimeout, SendFrom(s, buf, *n));
      if (!sent.ok()) break;
    }
    (void)co_await s->Close();
  }

  Task<void> EchoClient(Io& io, NodeId id) {
    for (;;) {
      co_await io.Sleep(milliseconds(io.rng().Range(20, 400)));
      const NodeId target = nodes_[io.rng().Uniform(nodes_.size())];
      const uint64_t seed = world_->DeriveSeed("stream", world_->NextId());
      const uint64_t total = 1 + io.rng().Uniform(kStreamBytesMax);
      auto stream = std::make_shared<Stream>(seed, total);
      Status s = co_await WithTimeout(io.executor(), io.clock(), kStreamTimeout,
                                      RunStream(io, id, stream, SimWorld::AddressOf(target)));
      NodeModel& m = model(id);
      if (s.ok()) {
        m.streams_ok++;
        m.stream_bytes += total;
        m.last_echo_ok_ns = world_->now_ns();
      } else {
        m.streams_failed++;
        // A timed-out stream is still running: closing its socket makes it finish.
        stream->abandoned = true;
        if (stream->socket) (void)co_await stream->socket->Close();
      }
    }
  }

  Task<Status> RunStream(Io& io, NodeId id, std::shared_ptr<Stream> st, std::string host) {
    RUNNEL_CO_ASSIGN_OR_RETURN(std::unique_ptr<Socket> sock,
                               co_await io.net().Connect(Address(host, kEchoPort)));
    st->socket = std::shared_ptr<Socket>(std::move(sock));
    if (st->abandoned) co_return co_await st->socket->Close();
    std::vector<Task<Status>> sides;
    sides.push_back(SendStream(io, st));
    sides.push_back(RecvStream(id, st));
    std::vector<Status> results = co_await WhenAll(std::move(sides));
    (void)co_await st->socket->Close();
    for (Status& r : results) RUNNEL_CO_TRY(r);
    co_return Status::Ok();
  }

  static Task<Status> SendStream(Io& io, std::shared_ptr<Stream> st) {
    std::vector<std::byte> piece;
    for (uint64_t pos = 0; pos < st->total;) {
      const size_t n =
          static_cast<size_t>(std::min<uint64_t>(st->total - pos, 1 + io.rng().Uniform(16 * 1024)));
      piece.resize(n);
      StreamChecker::Fill(st->seed, pos, piece);
      st->checker.Sent(n);  // before Send: echoes may come back before it resolves
      RUNNEL_CO_TRY(co_await st->socket->Send(piece));
      pos += n;
    }
    co_return co_await st->socket->ShutdownWrite();
  }

  Task<Status> RecvStream(NodeId id, std::shared_ptr<Stream> st) {
    std::vector<std::byte> buf(32 * 1024);
    for (;;) {
      RUNNEL_CO_ASSIGN_OR_RETURN(size_t n, co_await st->socket->Recv(buf));
      if (n == 0) break;
      Status s = st->checker.Received(std::span(buf.data(), n));
      if (!s.ok()) {
        Fail(id, s.ToString());
        co_return s;
      }
    }
    if (st->checker.received() != st->total) {
      co_return Status::Closed(
          fmt::format("stream ended after {} of {} bytes", st->checker.received(), st->total));
    }
    co_return Status::Ok();
  }

  Rng rng_;
  SimWorld* world_ = nullptr;
  std::vector<NodeId> nodes_;
  std::vector<uint32_t> shards_;
  std::vector<NodeModel> models_;
  int64_t quiet_from_ns_ = -1;
};

}  // namespace

std::unique_ptr<Workload> MakeIoWorkload(uint64_t seed) {
  return std::make_unique<IoWorkload>(seed);
}

}  // namespace runnel::sim
