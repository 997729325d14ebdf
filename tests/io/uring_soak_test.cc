// Soak: 10,000 concurrent small file writes and 10,000 socket round trips through one io_uring
// loop at the same time, then every file and reply is checked and the process's descriptors are
// counted: the runtime must leave exactly as many open as it found.
#include <gtest/gtest.h>
#include <sys/resource.h>

#include <cstdio>
#include <cstring>
#include <filesystem>
#include <string>
#include <vector>

#include "io/uring/runtime.h"
#include "tests/io/fd_count.h"

namespace runnel::uring {
namespace {

using Bytes = std::vector<std::byte>;

constexpr int kFileWrites = 10000;
constexpr int kRoundTrips = 10000;
// Connections open at once (each costs two descriptors here: both ends live in this process).
constexpr uint64_t kConnectionsInFlightMax = 1000;
constexpr size_t kFileBytes = 200;

Bytes FileContent(int i) {
  Bytes b(kFileBytes);
  for (size_t j = 0; j < b.size(); j++) b[j] = static_cast<std::byte>((i * 31 + j * 7) & 0xff);
  return b;
}

std::string FileName(const std::string& dir, int i) { return fmt::format("{}/f{:05}", dir, i); }

// Raises the descriptor limit to the hard limit and returns it.
uint64_t RaiseFdLimit() {
  rlimit lim{};
  ::getrlimit(RLIMIT_NOFILE, &lim);
  lim.rlim_cur = lim.rlim_max;
  ::setrlimit(RLIMIT_NOFILE, &lim);
  ::getrlimit(RLIMIT_NOFILE, &lim);
  return lim.rlim_cur;
}

struct Counters {
  int files_ok = 0;
  int trips_ok = 0;
  int accepted = 0;
  std::vector<std::string> errors;  // the first few
  void Error(const Status& s) {
    if (errors.size() < 10) errors.push_back(s.ToString());
  }
};

// Every writer holds its file open across the write: up to `files_in_flight` descriptors at once.
Task<void> WriteOne(Io& io, std::string dir, int i, Semaphore& sem, Gate& gate, Counters& c) {
  Gate::Holder hold = gate.Hold();
  Status s = co_await [](Io& io, std::string path, int i) -> Task<Status> {
    RUNNEL_CO_ASSIGN_OR_RETURN(std::unique_ptr<File> f,
                               co_await io.fs().Open(path, OpenOptions{.create = true}));
    RUNNEL_CO_TRY(co_await f->WriteAt(0, FileContent(i)));
    co_return co_await f->Close();
  }(io, FileName(dir, i), i);
  sem.Release();
  if (s.ok()) {
    c.files_ok++;
  } else {
    c.Error(s);
  }
}

Task<void> Files(Io& io, std::string dir, uint64_t files_in_flight, Counters& c) {
  Semaphore sem(io.executor(), files_in_flight);
  Gate gate(io.executor());
  for (int i = 0; i < kFileWrites; i++) {
    if (!(co_await sem.Acquire()).ok()) co_return;
    io.Spawn(WriteOne(io, dir, i, sem, gate, c));
  }
  co_await gate.Close();
}

Task<void> Echo(std::unique_ptr<Socket> s, Gate& gate, Counters& c) {
  Gate::Holder hold = gate.Hold();
  Bytes buf(64);
  Status st = co_await [](Socket& s, Bytes& buf) -> Task<Status> {
    for (;;) {
      RUNNEL_CO_ASSIGN_OR_RETURN(size_t n, co_await s.Recv(buf));
      if (n == 0) break;
      RUNNEL_CO_TRY(co_await s.Send(std::span(buf).first(n)));
    }
    co_return co_await s.Close();
  }(*s, buf);
  if (!st.ok()) c.Error(st);
}

Task<void> Server(Listener& listener, Counters& c, Executor& ex) {
  Gate gate(ex);
  for (int i = 0; i < kRoundTrips; i++) {
    Result<std::unique_ptr<Socket>> s = co_await listener.Accept();
    if (!s.ok()) {
      c.Error(s.status());
      break;
    }
    c.accepted++;
    ex.Spawn(Echo(std::move(*s), gate, c));
  }
  co_await gate.Close();
}

Task<void> RoundTrip(Io& io, Address at, int i, Semaphore& sem, Gate& gate, Counters& c) {
  Gate::Holder hold = gate.Hold();
  Status s = co_await [](Io& io, Address at, int i) -> Task<Status> {
    RUNNEL_CO_ASSIGN_OR_RETURN(std::unique_ptr<Socket> s, co_await io.net().Connect(at));
    const std::string msg = fmt::format("round trip {:05}", i);
    Bytes out(msg.size());
    std::memcpy(out.data(), msg.data(), msg.size());
    RUNNEL_CO_TRY(co_await s->Send(out));
    Bytes in(msg.size());
    RUNNEL_CO_TRY(co_await RecvExactly(*s, in));
    if (in != out) co_return Status::Corruption(fmt::format("reply {} differs", i));
    co_return co_await s->Close();
  }(io, at, i);
  sem.Release();
  if (s.ok()) {
    c.trips_ok++;
  } else {
    c.Error(s);
  }
}

Task<void> Clients(Io& io, Address at, Counters& c) {
  Semaphore sem(io.executor(), kConnectionsInFlightMax);
  Gate gate(io.executor());
  for (int i = 0; i < kRoundTrips; i++) {
    if (!(co_await sem.Acquire()).ok()) co_return;
    io.Spawn(RoundTrip(io, at, i, sem, gate, c));
  }
  co_await gate.Close();
}

TEST(UringSoak, TenThousandFileWritesAndRoundTripsLeakNoDescriptor) {
  const uint64_t fd_limit = RaiseFdLimit();
  // All 10,000 files open at once when the limit allows it; the connections need 2 each.
  const uint64_t spare = fd_limit > 2 * kConnectionsInFlightMax + 200
                             ? fd_limit - 2 * kConnectionsInFlightMax - 200
                             : 0;
  ASSERT_GE(spare, 100u) << "RLIMIT_NOFILE " << fd_limit << " is too low for this soak";
  const uint64_t files_in_flight = std::min<uint64_t>(kFileWrites, spare);
  std::printf("descriptor limit %lu: up to %lu files and %lu connections in flight\n",
              static_cast<unsigned long>(fd_limit), static_cast<unsigned long>(files_in_flight),
              static_cast<unsigned long>(kConnectionsInFlightMax));

  const std::string dir =
      (std::filesystem::temp_directory_path() / ("runnel-soak-" + std::to_string(::getpid())))
          .string();
  std::filesystem::create_directories(dir);
  const size_t fds_before = testing::CountOpenFds();
  Counters c;
  int files_verified = 0;
  {
    auto rt = UringRuntime::Create(UringOptions{.shards = 1});
    ASSERT_TRUE(rt.ok()) << rt.status().ToString();
    Status s = (*rt)->Run(
        [&](Io& io) -> Task<void> {
          Result<std::unique_ptr<Listener>> listener =
              co_await io.net().Listen(Address{"127.0.0.1", 0}, ListenOptions{.backlog = 4096});
          if (!listener.ok()) {
            c.Error(listener.status());
            co_return;
          }
          std::vector<Task<void>> all;
          all.push_back(Files(io, dir, files_in_flight, c));
          all.push_back(Server(**listener, c, io.executor()));
          all.push_back(Clients(io, (*listener)->local(), c));
          co_await WhenAll(std::move(all));
          (void)co_await (*listener)->Close();
          // Read every file back.
          Result<std::vector<DirEntry>> listed = co_await io.fs().List(dir);
          if (!listed.ok() || listed->size() != static_cast<size_t>(kFileWrites)) {
            c.Error(listed.ok() ? Status::Corruption(fmt::format("{} files", listed->size()))
                                : listed.status());
            co_return;
          }
          for (int i = 0; i < kFileWrites; i++) {
            Result<Bytes> got = co_await ReadFile(io.fs(), FileName(dir, i), 1 << 20);
            if (got.ok() && *got == FileContent(i)) files_verified++;
          }
        },
        RunOn::kShard0, std::chrono::seconds(400));
    EXPECT_TRUE(s.ok()) << s.ToString();
    EXPECT_EQ((*rt)->roots_destroyed(), 0u);  // everything finished on its own
  }
  const size_t fds_after = testing::CountOpenFds();
  EXPECT_TRUE(c.errors.empty()) << ::testing::PrintToString(c.errors);
  EXPECT_EQ(c.files_ok, kFileWrites);
  EXPECT_EQ(files_verified, kFileWrites);
  EXPECT_EQ(c.accepted, kRoundTrips);
  EXPECT_EQ(c.trips_ok, kRoundTrips);
  EXPECT_EQ(fds_after, fds_before);
  std::printf("fds before %zu, after %zu\n", fds_before, fds_after);
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace runnel::uring
