// SimDisk: the FileSystem semantics, what a crash keeps (synced data always; unsynced writes
// kept, dropped or torn on sector boundaries; unsynced directory changes may vanish), failed
// syncs, bit rot, latent sector errors, ENOSPC, O_DIRECT alignment.
#include "sim/disk.h"

#include <gtest/gtest.h>

#include <map>
#include <set>
#include <string>
#include <vector>

#include "sim/node.h"
#include "sim/world.h"
#include "tests/sim/sim_test_util.h"

namespace runnel::sim {
namespace {

using namespace std::chrono_literals;
using testing::Bytes;
using testing::Filled;
using testing::RunTask;
using testing::Text;
using testing::Write;

TEST(SimDisk, FileSystemBasics) {
  SimWorld world(1);
  NodeId n = world.AddNode();
  EXPECT_TRUE(RunTask(world, n, [](Io& io) -> Task<void> {
    FileSystem& fs = io.fs();
    EXPECT_TRUE((co_await fs.MakeDir("/d")).ok());
    EXPECT_TRUE((co_await fs.MakeDir("/d")).Is(ErrorKind::kAlreadyExists));
    EXPECT_TRUE((co_await fs.MakeDir("/x/y")).Is(ErrorKind::kNotFound));
    auto missing = co_await fs.Open("/d/f", OpenOptions{});
    EXPECT_TRUE(missing.status().Is(ErrorKind::kNotFound));
    auto f = co_await fs.Open("/d/f", OpenOptions{.create = true});
    EXPECT_TRUE(f.ok());
    if (!f.ok()) co_return;
    EXPECT_TRUE((co_await (*f)->WriteAt(0, Bytes("hello world"))).ok());
    EXPECT_TRUE((co_await (*f)->WriteAt(20, Bytes("!"))).ok());
    auto size = co_await (*f)->Size();
    EXPECT_EQ(*size, 21u);
    std::vector<std::byte> buf(64);
    auto n = co_await (*f)->ReadAt(6, buf);
    EXPECT_EQ(*n, 15u);
    EXPECT_EQ(Text(std::vector<std::byte>(buf.begin(), buf.begin() + 5)), "world");
    EXPECT_EQ(buf[10], std::byte{0});  // the hole reads as zeros
    EXPECT_EQ(*(co_await (*f)->ReadAt(21, buf)), 0u);
    EXPECT_TRUE((co_await (*f)->Truncate(5)).ok());
    EXPECT_EQ(*(co_await (*f)->Size()), 5u);
    auto excl = co_await fs.Open("/d/f", OpenOptions{.create = true, .exclusive = true});
    EXPECT_TRUE(excl.status().Is(ErrorKind::kAlreadyExists));
    EXPECT_TRUE((co_await (*f)->Close()).ok());
    EXPECT_TRUE((co_await (*f)->WriteAt(0, Bytes("x"))).Is(ErrorKind::kClosed));
    EXPECT_TRUE((co_await fs.Rename("/d/f", "/d/g")).ok());
    EXPECT_FALSE(*(co_await fs.Exists("/d/f")));
    EXPECT_TRUE(*(co_await fs.Exists("/d/g")));
    EXPECT_TRUE((co_await fs.MakeDir("/d/sub")).ok());
    auto list = co_await fs.List("/d");
    EXPECT_EQ(list->size(), 2u);
    EXPECT_EQ((*list)[0].name, "g");
    EXPECT_FALSE((*list)[0].is_dir);
    EXPECT_EQ((*list)[1].name, "sub");
    EXPECT_TRUE((*list)[1].is_dir);
    EXPECT_FALSE((co_await fs.Remove("/d")).ok());  // not empty
    EXPECT_TRUE((co_await fs.Remove("/d/g")).ok());
    EXPECT_TRUE((co_await fs.Remove("/d/sub")).ok());
    EXPECT_TRUE((co_await fs.Remove("/d")).ok());
    EXPECT_TRUE((co_await fs.List("/d")).status().Is(ErrorKind::kNotFound));
    auto ro = co_await WriteFileAtomic(fs, "/atomic", Bytes("abc"));
    EXPECT_TRUE(ro.ok());
    auto content = co_await ReadFile(fs, "/atomic", 100);
    EXPECT_EQ(Text(*content), "abc");
    auto rof = co_await fs.Open("/atomic", OpenOptions{.read_only = true});
    EXPECT_FALSE((co_await (*rof)->WriteAt(0, Bytes("z"))).ok());
  }));
}

TEST(SimDisk, OperationsTakeSimulatedTime) {
  SimWorld world(2);
  NodeId n = world.AddNode();
  Duration sync_took{};
  EXPECT_TRUE(RunTask(world, n, [&](Io& io) -> Task<void> {
    auto f = co_await io.fs().Open("/f", OpenOptions{.create = true});
    EXPECT_TRUE((co_await (*f)->WriteAt(0, Filled(4096, 1))).ok());
    Instant t0 = io.clock().Now();
    EXPECT_TRUE((co_await (*f)->Sync()).ok());
    sync_took = io.clock().Now() - t0;
  }));
  const DiskOptions defaults;
  EXPECT_GE(sync_took, defaults.sync_latency_min);
  EXPECT_LE(sync_took, defaults.sync_latency_max);
}

TEST(SimDisk, StopKeepsUnsyncedDataAndInvalidatesHandles) {
  SimWorld world(3);
  NodeId n = world.AddNode();
  std::unique_ptr<File> leaked;
  EXPECT_TRUE(RunTask(world, n, [&](Io& io) -> Task<void> {
    EXPECT_TRUE((co_await Write(io.fs(), "/f", 0, Bytes("unsynced"), false, false)).ok());
    auto f = co_await io.fs().Open("/f", OpenOptions{});
    leaked = std::move(*f);
  }));
  world.StopNode(n);
  world.StartNode(n);
  EXPECT_EQ(Text(*world.disk(n).ReadNow("/f")), "unsynced");
  EXPECT_TRUE(RunTask(world, n, [&](Io& io) -> Task<void> {
    std::vector<std::byte> buf(8);
    EXPECT_TRUE((co_await leaked->ReadAt(0, buf)).status().Is(ErrorKind::kClosed));
  }));
}

// Property: whatever was synced survives a crash; every byte after a crash is one that was
// durable or one that an unsynced write wrote there (or zero past the durable end).
TEST(SimDisk, SyncedDataSurvivesEveryCrash) {
  for (uint64_t seed = 1; seed <= 60; seed++) {
    SimWorld world(seed);
    NodeId n = world.AddNode();
    Rng rng(seed * 7919);
    // Model per file: durable image + possible values per byte from unsynced writes.
    struct Model {
      std::vector<std::byte> durable;
      std::vector<std::byte> current;
      std::vector<std::set<uint8_t>> maybe;  // extra values each byte may take after a crash
    };
    std::map<std::string, Model> model;
    for (const char* name : {"/a", "/b", "/c"}) {
      ASSERT_TRUE(RunTask(world, n, [name](Io& io) -> Task<void> {
        EXPECT_TRUE((co_await Write(io.fs(), name, 0, {}, true, true)).ok());
      }));
      model[name] = Model{};
    }
    for (int round = 0; round < 4; round++) {
      for (int op = 0; op < 12; op++) {
        const std::string name = std::vector<std::string>{"/a", "/b", "/c"}[rng.Uniform(3)];
        Model& m = model[name];
        if (rng.Chance(0.25)) {
          ASSERT_TRUE(RunTask(world, n, [name](Io& io) -> Task<void> {
            auto f = co_await io.fs().Open(name, OpenOptions{});
            EXPECT_TRUE((co_await (*f)->Sync()).ok());
          }));
          m.durable = m.current;
          m.maybe.assign(m.durable.size(), {});
          continue;
        }
        const uint64_t offset = rng.Uniform(m.current.size() + 2000);
        const size_t len = 1 + rng.Uniform(3000);
        const uint8_t value = static_cast<uint8_t>(1 + rng.Uniform(255));
        ASSERT_TRUE(RunTask(world, n, [name, offset, len, value](Io& io) -> Task<void> {
          EXPECT_TRUE(
              (co_await Write(io.fs(), name, offset, Filled(len, value), false, false)).ok());
        }));
        if (m.current.size() < offset + len) m.current.resize(offset + len);
        if (m.maybe.size() < offset + len) m.maybe.resize(offset + len);
        for (size_t i = 0; i < len; i++) {
          m.current[offset + i] = std::byte{value};
          m.maybe[offset + i].insert(value);
        }
      }
      world.CrashNode(n);
      world.StartNode(n);
      for (auto& [name, m] : model) {
        auto got = world.disk(n).ReadNow(name);
        ASSERT_TRUE(got.ok()) << name << " vanished though created durably, seed " << seed;
        ASSERT_GE(got->size(), m.durable.size()) << name << " seed " << seed;
        for (size_t i = 0; i < got->size(); i++) {
          const uint8_t b = static_cast<uint8_t>((*got)[i]);
          const bool durable_ok = i < m.durable.size() && b == static_cast<uint8_t>(m.durable[i]);
          const bool zero_ok = i >= m.durable.size() && b == 0;
          const bool written_ok = i < m.maybe.size() && m.maybe[i].count(b) > 0;
          ASSERT_TRUE(durable_ok || zero_ok || written_ok)
              << name << " byte " << i << " = " << int(b) << " seed " << seed;
        }
        m.durable = *got;
        m.current = *got;
        m.maybe.assign(got->size(), {});
      }
    }
  }
}

enum class Outcome { kKept, kDropped, kTorn };

// Writes 8 sectors of 0x22 over 8 durable sectors of 0x11 (at `offset`), crashes, and says
// what came back. Fails the test if some sector is neither all old nor all new.
Outcome CrashOneWrite(uint64_t seed, uint64_t offset, size_t len) {
  SimWorld world(seed);
  NodeId n = world.AddNode();
  EXPECT_TRUE(RunTask(world, n, [](Io& io) -> Task<void> {
    EXPECT_TRUE((co_await Write(io.fs(), "/f", 0, Filled(8192, 0x11), true, true)).ok());
  }));
  EXPECT_TRUE(RunTask(world, n, [offset, len](Io& io) -> Task<void> {
    EXPECT_TRUE((co_await Write(io.fs(), "/f", offset, Filled(len, 0x22), false, false)).ok());
  }));
  world.CrashNode(n);
  world.StartNode(n);
  auto got = world.disk(n).ReadNow("/f");
  EXPECT_TRUE(got.ok());
  EXPECT_EQ(got->size(), 8192u);
  size_t news = 0;
  for (uint64_t sector = offset / kSectorBytes; sector * kSectorBytes < offset + len; sector++) {
    const uint64_t b = std::max<uint64_t>(sector * kSectorBytes, offset);
    const uint64_t e = std::min<uint64_t>((sector + 1) * kSectorBytes, offset + len);
    std::set<uint8_t> values;
    for (uint64_t i = b; i < e; i++) values.insert(static_cast<uint8_t>((*got)[i]));
    EXPECT_EQ(values.size(), 1u) << "sector " << sector << " torn inside, seed " << seed;
    news += values.count(0x22) ? (e - b) : 0;
  }
  for (uint64_t i = 0; i < got->size(); i++) {
    if (i < offset || i >= offset + len) {
      EXPECT_EQ((*got)[i], std::byte{0x11});
    }
  }
  if (news == len) return Outcome::kKept;
  if (news == 0) return Outcome::kDropped;
  return Outcome::kTorn;
}

TEST(SimDisk, UnsyncedWritesAreKeptDroppedOrTornOnSectorBoundaries) {
  std::map<Outcome, int> seen;
  for (uint64_t seed = 1; seed <= 60; seed++) {
    seen[CrashOneWrite(seed, 1024, 4096)]++;
    seen[CrashOneWrite(seed + 1000, 700, 3000)]++;  // unaligned: pieces split at sectors
  }
  EXPECT_GT(seen[Outcome::kKept], 0);
  EXPECT_GT(seen[Outcome::kDropped], 0);
  EXPECT_GT(seen[Outcome::kTorn], 0);
}

TEST(SimDisk, UnsyncedCreateOrRenameCanVanishSyncedNever) {
  int created_lost = 0, renamed_lost = 0;
  for (uint64_t seed = 1; seed <= 40; seed++) {
    SimWorld world(seed);
    NodeId n = world.AddNode();
    ASSERT_TRUE(RunTask(world, n, [](Io& io) -> Task<void> {
      // Synced create and synced rename.
      EXPECT_TRUE((co_await Write(io.fs(), "/synced", 0, Bytes("s"), true, true)).ok());
      EXPECT_TRUE((co_await Write(io.fs(), "/moved.tmp", 0, Bytes("m"), true, true)).ok());
      EXPECT_TRUE((co_await io.fs().Rename("/moved.tmp", "/moved")).ok());
      EXPECT_TRUE((co_await io.fs().SyncDir("/")).ok());
      // Data synced, directory not: the create and the rename may vanish.
      EXPECT_TRUE((co_await io.fs().MakeDir("/d")).ok());
      EXPECT_TRUE((co_await io.fs().SyncDir("/")).ok());
      EXPECT_TRUE((co_await Write(io.fs(), "/d/r.tmp", 0, Bytes("r"), true, true)).ok());
      EXPECT_TRUE((co_await io.fs().Rename("/d/r.tmp", "/d/r")).ok());
      EXPECT_TRUE((co_await Write(io.fs(), "/d/unsynced", 0, Bytes("u"), true, false)).ok());
    }));
    world.CrashNode(n);
    world.StartNode(n);
    SimDisk& disk = world.disk(n);
    EXPECT_EQ(Text(*disk.ReadNow("/synced")), "s") << seed;
    EXPECT_EQ(Text(*disk.ReadNow("/moved")), "m") << seed;
    EXPECT_FALSE(disk.ExistsNow("/moved.tmp")) << seed;
    created_lost += disk.ExistsNow("/d/unsynced") ? 0 : 1;
    // The rename is atomic: exactly one of the names exists, with the synced data.
    const bool old_name = disk.ExistsNow("/d/r.tmp");
    const bool new_name = disk.ExistsNow("/d/r");
    EXPECT_NE(old_name, new_name) << seed;
    EXPECT_EQ(Text(*disk.ReadNow(new_name ? "/d/r" : "/d/r.tmp")), "r");
    renamed_lost += old_name ? 1 : 0;
  }
  EXPECT_GT(created_lost, 0);
  EXPECT_LT(created_lost, 40);
  EXPECT_GT(renamed_lost, 0);
  EXPECT_LT(renamed_lost, 40);
}

TEST(SimDisk, CrossDirectoryRenameNeverLosesTheFile) {
  for (uint64_t seed = 1; seed <= 40; seed++) {
    SimWorld world(seed);
    NodeId n = world.AddNode();
    ASSERT_TRUE(world.disk(n).MakeDirsNow("/a").ok());
    ASSERT_TRUE(world.disk(n).MakeDirsNow("/b").ok());
    ASSERT_TRUE(RunTask(world, n, [](Io& io) -> Task<void> {
      EXPECT_TRUE((co_await Write(io.fs(), "/a/f", 0, Bytes("x"), true, true)).ok());
      EXPECT_TRUE((co_await io.fs().Rename("/a/f", "/b/f")).ok());
    }));
    world.CrashNode(n);
    world.StartNode(n);
    EXPECT_TRUE(world.disk(n).ExistsNow("/a/f") || world.disk(n).ExistsNow("/b/f")) << seed;
  }
}

TEST(SimDisk, FailedSyncReportsOnceAndLosesTheUnsyncedData) {
  SimWorld world(5);
  NodeId n = world.AddNode();
  ASSERT_TRUE(RunTask(world, n, [](Io& io) -> Task<void> {
    EXPECT_TRUE((co_await Write(io.fs(), "/f", 0, Bytes("durable."), true, true)).ok());
  }));
  world.disk(n).SetFaults(DiskFaults{.sync_error_probability = 1.0});
  Status first, second;
  ASSERT_TRUE(RunTask(world, n, [&](Io& io) -> Task<void> {
    auto f = co_await io.fs().Open("/f", OpenOptions{});
    EXPECT_TRUE((co_await (*f)->WriteAt(8, Bytes("lost"))).ok());
    first = co_await (*f)->Sync();
    // Still readable from the "page cache"...
    std::vector<std::byte> buf(12);
    EXPECT_EQ(*(co_await (*f)->ReadAt(0, buf)), 12u);
    EXPECT_EQ(Text(buf), "durable.lost");
  }));
  EXPECT_TRUE(first.Is(ErrorKind::kIo)) << first.ToString();
  EXPECT_EQ(world.disk(n).stats().sync_errors, 1u);
  world.disk(n).SetFaults(DiskFaults{});
  ASSERT_TRUE(RunTask(world, n, [&](Io& io) -> Task<void> {
    auto f = co_await io.fs().Open("/f", OpenOptions{});
    second = co_await (*f)->Sync();  // the error was reported once: this one succeeds
  }));
  EXPECT_TRUE(second.ok());
  // ...but never made durable by the later successful sync.
  for (int i = 0; i < 5; i++) {
    world.CrashNode(n);
    world.StartNode(n);
    EXPECT_EQ(Text(*world.disk(n).ReadNow("/f")), "durable.");
  }
}

TEST(SimDisk, BitRotChangesStoredBytes) {
  SimWorld world(6);
  NodeId n = world.AddNode();
  const std::vector<std::byte> data = Filled(4096, 0x5a);
  ASSERT_TRUE(RunTask(world, n, [&](Io& io) -> Task<void> {
    EXPECT_TRUE((co_await Write(io.fs(), "/f", 0, data, true, true)).ok());
  }));
  // An injected flip is seen by reads, also after a crash (the medium changed).
  ASSERT_TRUE(world.disk(n).InjectBitRot("/f", 100, 3).ok());
  world.CrashNode(n);
  world.StartNode(n);
  auto got = world.disk(n).ReadNow("/f");
  EXPECT_EQ((*got)[100], std::byte{0x5a ^ 0x08});
  // Random rot on reads.
  world.disk(n).SetFaults(DiskFaults{.bit_rot_probability = 1.0});
  int differing = 0;
  ASSERT_TRUE(RunTask(world, n, [&](Io& io) -> Task<void> {
    auto f = co_await io.fs().Open("/f", OpenOptions{});
    std::vector<std::byte> buf(4096);
    EXPECT_EQ(*(co_await (*f)->ReadAt(0, buf)), 4096u);
    for (size_t i = 0; i < buf.size(); i++) differing += buf[i] != data[i] ? 1 : 0;
  }));
  EXPECT_GE(differing, 1);
  EXPECT_LE(differing, 2);
  EXPECT_EQ(world.disk(n).stats().bit_rots, 2u);
}

TEST(SimDisk, LatentSectorErrorsFailReadsUntilRewritten) {
  SimWorld world(7);
  NodeId n = world.AddNode();
  ASSERT_TRUE(RunTask(world, n, [](Io& io) -> Task<void> {
    EXPECT_TRUE((co_await Write(io.fs(), "/f", 0, Filled(4096, 1), true, true)).ok());
  }));
  ASSERT_TRUE(world.disk(n).InjectLatentError("/f", 1500).ok());  // sector 2: [1024, 1536)
  ASSERT_TRUE(RunTask(world, n, [](Io& io) -> Task<void> {
    auto f = co_await io.fs().Open("/f", OpenOptions{});
    std::vector<std::byte> buf(512);
    EXPECT_TRUE((co_await (*f)->ReadAt(0, buf)).ok());     // sector 0
    EXPECT_TRUE((co_await (*f)->ReadAt(1536, buf)).ok());  // sector 3
    EXPECT_TRUE((co_await (*f)->ReadAt(1000, buf)).status().Is(ErrorKind::kIo));
    EXPECT_TRUE((co_await (*f)->ReadAt(1024, buf)).status().Is(ErrorKind::kIo));
    // Still bad on a second read: latent errors persist.
    EXPECT_TRUE((co_await (*f)->ReadAt(1100, buf)).status().Is(ErrorKind::kIo));
    EXPECT_TRUE((co_await (*f)->WriteAt(1024, Filled(512, 2))).ok());
    auto again = co_await (*f)->ReadAt(1024, buf);
    EXPECT_TRUE(again.ok());
    EXPECT_EQ(buf[0], std::byte{2});
  }));
  // Random latent errors on reads.
  world.disk(n).SetFaults(DiskFaults{.latent_error_probability = 1.0});
  ASSERT_TRUE(RunTask(world, n, [](Io& io) -> Task<void> {
    auto f = co_await io.fs().Open("/f", OpenOptions{});
    std::vector<std::byte> buf(4096);
    EXPECT_TRUE((co_await (*f)->ReadAt(0, buf)).status().Is(ErrorKind::kIo));
  }));
  EXPECT_GE(world.disk(n).stats().latent_read_failures, 4u);
}

TEST(SimDisk, ReadAndWriteErrors) {
  SimWorld world(8);
  NodeId n = world.AddNode();
  ASSERT_TRUE(RunTask(world, n, [](Io& io) -> Task<void> {
    EXPECT_TRUE((co_await Write(io.fs(), "/f", 0, Bytes("abc"), true, true)).ok());
  }));
  world.disk(n).SetFaults(
      DiskFaults{.read_error_probability = 1.0, .write_error_probability = 1.0});
  ASSERT_TRUE(RunTask(world, n, [](Io& io) -> Task<void> {
    auto f = co_await io.fs().Open("/f", OpenOptions{});
    std::vector<std::byte> buf(3);
    EXPECT_TRUE((co_await (*f)->ReadAt(0, buf)).status().Is(ErrorKind::kIo));
    EXPECT_TRUE((co_await (*f)->WriteAt(0, Bytes("xyz"))).Is(ErrorKind::kIo));
  }));
  EXPECT_EQ(Text(*world.disk(n).ReadNow("/f")), "abc");  // the failed write wrote nothing
}

TEST(SimDisk, NoSpacePastCapacity) {
  SimWorld world(9);
  NodeId n = world.AddNode(NodeOptions{.disk = DiskOptions{.capacity_bytes = 10000}});
  ASSERT_TRUE(RunTask(world, n, [](Io& io) -> Task<void> {
    auto f = co_await io.fs().Open("/a", OpenOptions{.create = true});
    EXPECT_TRUE((co_await (*f)->WriteAt(0, Filled(8000, 1))).ok());
    EXPECT_TRUE((co_await (*f)->WriteAt(0, Filled(8000, 2))).ok());  // overwrite: no new space
    auto g = co_await io.fs().Open("/b", OpenOptions{.create = true});
    EXPECT_TRUE((co_await (*g)->WriteAt(0, Filled(3000, 1))).Is(ErrorKind::kNoSpace));
    EXPECT_TRUE((co_await (*g)->Preallocate(0, 3000)).Is(ErrorKind::kNoSpace));
    EXPECT_TRUE((co_await (*g)->WriteAt(0, Filled(2000, 1))).ok());
    EXPECT_TRUE((co_await (*f)->Close()).ok());
    EXPECT_TRUE((co_await io.fs().Remove("/a")).ok());
    EXPECT_TRUE((co_await (*g)->WriteAt(2000, Filled(3000, 1))).ok());
  }));
  EXPECT_GT(world.disk(n).stats().no_space, 0u);
  EXPECT_LE(world.disk(n).used_bytes(), 10000u);
}

TEST(SimDisk, RemovedFileStaysReadableWhileOpen) {
  SimWorld world(10);
  NodeId n = world.AddNode();
  ASSERT_TRUE(RunTask(world, n, [](Io& io) -> Task<void> {
    EXPECT_TRUE((co_await Write(io.fs(), "/f", 0, Bytes("still here"), false, false)).ok());
    auto f = co_await io.fs().Open("/f", OpenOptions{});
    EXPECT_TRUE((co_await io.fs().Remove("/f")).ok());
    EXPECT_FALSE(*(co_await io.fs().Exists("/f")));
    std::vector<std::byte> buf(10);
    EXPECT_EQ(*(co_await (*f)->ReadAt(0, buf)), 10u);
    EXPECT_EQ(Text(buf), "still here");
  }));
  EXPECT_EQ(world.disk(n).used_bytes(), 0u);  // freed once the last handle closed
}

TEST(SimDisk, DirectIoNeedsAlignment) {
  SimWorld world(11);
  NodeId n = world.AddNode();
  ASSERT_TRUE(RunTask(world, n, [](Io& io) -> Task<void> {
    auto f = co_await io.fs().Open("/d", OpenOptions{.create = true, .direct = true});
    std::byte* aligned = static_cast<std::byte*>(std::aligned_alloc(kDirectIoAlignment, 8192));
    std::span<std::byte> block(aligned, kDirectIoAlignment);
    EXPECT_TRUE((co_await (*f)->WriteAt(0, block)).ok());
    EXPECT_TRUE((co_await (*f)->WriteAt(512, block)).Is(ErrorKind::kInvalidArgument));
    EXPECT_TRUE((co_await (*f)->WriteAt(0, block.subspan(0, 100))).Is(ErrorKind::kInvalidArgument));
    EXPECT_TRUE((co_await (*f)->WriteAt(0, std::span<std::byte>(aligned + 1, kDirectIoAlignment)))
                    .Is(ErrorKind::kInvalidArgument));
    EXPECT_TRUE((co_await (*f)->ReadAt(0, block)).ok());
    std::free(aligned);
  }));
}

TEST(SimDisk, CrashDuringAnInFlightWriteMeansItNeverHappened) {
  SimWorld world(12);
  NodeId n = world.AddNode();
  ASSERT_TRUE(RunTask(world, n, [](Io& io) -> Task<void> {
    EXPECT_TRUE((co_await Write(io.fs(), "/f", 0, Bytes("old"), true, true)).ok());
  }));
  bool finished = false;
  world.Spawn(n, 0, [](Io& io, bool* finished) -> Task<void> {
    auto f = co_await io.fs().Open("/f", OpenOptions{});
    Status s = co_await (*f)->WriteAt(0, Filled(1 << 20, 7));  // ~500us of transfer
    *finished = true;
    (void)s;
  }(world.node(n).io(0), &finished));
  world.RunFor(150us);
  EXPECT_FALSE(finished);
  world.StopNode(n);  // the process dies; the OS keeps what completed: nothing of that write
  world.StartNode(n);
  EXPECT_EQ(Text(*world.disk(n).ReadNow("/f")), "old");
}

}  // namespace
}  // namespace runnel::sim
