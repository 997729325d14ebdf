// io/uring specifics the contract tests cannot see: the clear error when io_uring is blocked,
// FIFO readiness, real threads behind the mailboxes, a full mailbox losing nothing, shutdown that
// destroys suspended work and closes every descriptor, and the timer heap and SPSC queue.
#include <gtest/gtest.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <filesystem>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "io/uring/runtime.h"
#include "io/uring/spsc_queue.h"
#include "io/uring/uring_clock.h"
#include "tests/io/fd_count.h"

namespace runnel::uring {
namespace {

using testing::CountOpenFds;
using Bytes = std::vector<std::byte>;

std::unique_ptr<UringRuntime> MakeRuntime(UringOptions options = {}) {
  auto rt = UringRuntime::Create(options);
  RUNNEL_ASSERT(rt.ok(), "{}", rt.status().ToString());
  return std::move(rt).value();
}

pid_t ThreadId() { return static_cast<pid_t>(::syscall(SYS_gettid)); }

// --- The error when io_uring is unavailable ------------------------------------------------------

TEST(RingInitFailure, MessageNamesTheCauseAndTheWayOut) {
  std::string eperm = DescribeRingInitFailure(EPERM, 256);
  EXPECT_NE(eperm.find("io_uring is unavailable"), std::string::npos) << eperm;
  EXPECT_NE(eperm.find("Operation not permitted"), std::string::npos) << eperm;
  EXPECT_NE(eperm.find("io_uring_disabled"), std::string::npos) << eperm;
  EXPECT_NE(eperm.find("seccomp"), std::string::npos) << eperm;
  EXPECT_NE(eperm.find("256 entries"), std::string::npos) << eperm;
  std::string enosys = DescribeRingInitFailure(ENOSYS, 8);
  EXPECT_NE(enosys.find("CONFIG_IO_URING"), std::string::npos) << enosys;
  EXPECT_NE(enosys.find("seccomp"), std::string::npos) << enosys;
  std::string enomem = DescribeRingInitFailure(ENOMEM, 8);
  EXPECT_NE(enomem.find("RLIMIT_MEMLOCK"), std::string::npos) << enomem;
}

// Installs a seccomp filter that fails io_uring_setup with EPERM, as container runtimes do.
bool BlockIoUringSetup() {
  sock_filter filter[] = {
      BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(seccomp_data, arch)),
      BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, AUDIT_ARCH_X86_64, 1, 0),
      BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
      BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(seccomp_data, nr)),
      BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_io_uring_setup, 0, 1),
      BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | (EPERM & SECCOMP_RET_DATA)),
      BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
  };
  sock_fprog prog{static_cast<unsigned short>(sizeof(filter) / sizeof(filter[0])), filter};
  return ::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == 0 &&
         ::prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog) == 0;
}

TEST(RingInitFailure, SeccompBlockedRingGivesAClearError) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_EXIT(
      {
        if (!BlockIoUringSetup()) {
          std::fprintf(stderr, "could not install the seccomp filter\n");
          std::_Exit(2);
        }
        auto rt = UringRuntime::Create(UringOptions{.shards = 2});
        std::fprintf(stderr, "%s\n", rt.ok() ? "created" : rt.status().ToString().c_str());
        std::_Exit(rt.ok() ? 1 : 0);
      },
      ::testing::ExitedWithCode(0),
      "io_uring is unavailable: io_uring_queue_init\\(512 entries\\) failed: Operation not "
      "permitted.*seccomp");
}

TEST(Runtime, RejectsZeroShards) {
  auto rt = UringRuntime::Create(UringOptions{.shards = 0});
  EXPECT_TRUE(rt.status().Is(ErrorKind::kInvalidArgument)) << rt.status().ToString();
}

// --- The loop ----------------------------------------------------------------------------------

TEST(Runtime, ReadyTasksRunInFifoOrder) {
  std::vector<std::string> log;
  auto rt = MakeRuntime();
  Status s = rt->Run([&log](Io& io) -> Task<void> {
    auto worker = [](Executor& ex, std::string name, std::vector<std::string>& log) -> Task<void> {
      for (int i = 0; i < 3; i++) {
        log.push_back(name + std::to_string(i));
        co_await Yield{ex};
      }
    };
    std::vector<Task<void>> all;
    for (std::string name : {"a", "b", "c"}) all.push_back(worker(io.executor(), name, log));
    co_await WhenAll(std::move(all));
  });
  ASSERT_TRUE(s.ok()) << s.ToString();
  EXPECT_EQ(log, (std::vector<std::string>{"a0", "b0", "c0", "a1", "b1", "c1", "a2", "b2", "c2"}));
}

TEST(Runtime, EveryShardRunsMainOnItsOwnThread) {
  std::mutex mu;
  std::set<ShardId> shards_seen;
  std::set<pid_t> threads_seen;
  auto rt = MakeRuntime(UringOptions{.shards = 4});
  Status s = rt->Run(
      [&](Io& io) -> Task<void> {
        co_await io.Sleep(std::chrono::milliseconds(1));
        std::lock_guard lock(mu);
        shards_seen.insert(io.shard());
        threads_seen.insert(ThreadId());
      },
      RunOn::kEveryShard);
  ASSERT_TRUE(s.ok()) << s.ToString();
  EXPECT_EQ(shards_seen, (std::set<ShardId>{0, 1, 2, 3}));
  EXPECT_EQ(threads_seen.size(), 4u);
  EXPECT_EQ(threads_seen.count(ThreadId()), 0u);  // not the caller's thread
}

TEST(Runtime, InvokeHopsToTheTargetThreadAndBack) {
  pid_t home_before = 0, there = 0, home_after = 0;
  auto rt = MakeRuntime(UringOptions{.shards = 2});
  Status s = rt->Run([&](Io& io) -> Task<void> {
    home_before = ThreadId();
    int v = co_await Invoke<int>(io.shards(), 1, [&there](Io& target) -> Task<int> {
      there = ThreadId();
      co_return 5;
    });
    EXPECT_EQ(v, 5);
    home_after = ThreadId();
  });
  ASSERT_TRUE(s.ok()) << s.ToString();
  EXPECT_NE(home_before, 0);
  EXPECT_NE(there, home_before);
  EXPECT_EQ(home_after, home_before);
}

#if defined(RUNNEL_SIM_CHECKS)
TEST(Runtime, UsingAnotherShardsIoIsCaught) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_DEATH(
      {
        auto rt = MakeRuntime(UringOptions{.shards = 2});
        (void)rt->Run([](Io& io) -> Task<void> {
          // Wrong: from shard 1, start a task on shard 0's executor.
          co_await Invoke<int>(io.shards(), 1, [&io](Io&) -> Task<int> {
            io.Spawn([]() -> Task<void> { co_return; }());
            co_return 0;
          });
        });
      },
      "Schedule on a shard's executor from another thread");
  EXPECT_DEATH(
      {
        auto rt = MakeRuntime(UringOptions{.shards = 2});
        (void)rt->Run([](Io& io) -> Task<void> {
          // Wrong: from shard 1, do I/O through shard 0's file system (and so its ring).
          co_await Invoke<int>(io.shards(), 1, [&io](Io&) -> Task<int> {
            (void)co_await io.fs().Exists("/");
            co_return 0;
          });
        });
      },
      "an io_uring operation submitted from another shard's thread");
}
#endif

TEST(Runtime, FullMailboxesLoseNoPost) {
  constexpr int kPosts = 5000;
  std::vector<int> results;
  std::vector<uint64_t> per_shard(3, 0);
  auto rt = MakeRuntime(UringOptions{.shards = 3, .mailbox_slots_max = 4});
  Status s = rt->Run([&](Io& io) -> Task<void> {
    auto call = [](Io& io, int i, std::vector<uint64_t>& per_shard) -> Task<int> {
      co_return co_await Invoke<int>(io.shards(), static_cast<ShardId>(1 + i % 2),
                                     [i, &per_shard](Io& there) -> Task<int> {
                                       per_shard[there.shard()]++;
                                       co_return i * 3;
                                     });
    };
    std::vector<Task<int>> calls;
    for (int i = 0; i < kPosts; i++) calls.push_back(call(io, i, per_shard));
    results = co_await WhenAll(std::move(calls));
    // Bring the counts home through the mailboxes, which orders their writes before our reads.
    for (ShardId id : {1u, 2u}) {
      co_await Invoke<int>(io.shards(), id, [](Io&) -> Task<int> { co_return 0; });
    }
  });
  ASSERT_TRUE(s.ok()) << s.ToString();
  ASSERT_EQ(results.size(), static_cast<size_t>(kPosts));
  for (int i = 0; i < kPosts; i++) ASSERT_EQ(results[static_cast<size_t>(i)], i * 3);
  EXPECT_EQ(per_shard, (std::vector<uint64_t>{0, kPosts / 2, kPosts / 2}));
  // Four slots per queue cannot hold 2,500 posts at once: the overflow path carried some.
  EXPECT_GT(rt->posts_overflowed(), 0u);
  EXPECT_GE(rt->posts_sent(), static_cast<uint64_t>(2 * kPosts));
}

TEST(Runtime, ReusePortLetsListenersShareAPort) {
  Status shared_second, exclusive_second, bad_host;
  bool finished = false;
  auto rt = MakeRuntime();
  Status s = rt->Run([&](Io& io) -> Task<void> {
    auto first =
        co_await io.net().Listen(Address{"127.0.0.1", 0}, ListenOptions{.reuse_port = true});
    if (!first.ok()) {
      ADD_FAILURE() << first.status().ToString();
      co_return;
    }
    const Address at = (*first)->local();
    auto second = co_await io.net().Listen(at, ListenOptions{.reuse_port = true});
    shared_second = second.status();
    if (second.ok()) {
      EXPECT_EQ((*second)->local(), at);
    }
    // Without SO_REUSEPORT the port is taken.
    auto exclusive = co_await io.net().Listen(Address{"127.0.0.1", 0});
    if (exclusive.ok()) {
      auto clash = co_await io.net().Listen((*exclusive)->local());
      exclusive_second = clash.ok() ? Status::Io("second bind succeeded") : clash.status();
    }
    auto named = co_await io.net().Connect(Address{"localhost", at.port});
    bad_host = named.status();
    finished = true;
  });
  ASSERT_TRUE(s.ok()) << s.ToString();
  EXPECT_TRUE(finished);
  EXPECT_TRUE(shared_second.ok()) << shared_second.ToString();
  EXPECT_FALSE(exclusive_second.ok());
  EXPECT_NE(exclusive_second.message().find("Address already in use"), std::string::npos)
      << exclusive_second.ToString();
  EXPECT_TRUE(bad_host.Is(ErrorKind::kInvalidArgument)) << bad_host.ToString();
}

// --- Shutdown ----------------------------------------------------------------------------------

Task<void> AcceptForever(std::unique_ptr<Listener> l) {
  for (;;) {
    auto s = co_await l->Accept();
    if (!s.ok()) co_return;
  }
}

Task<void> RecvForever(std::unique_ptr<Socket> s) {
  Bytes buf(64);
  for (;;) {
    auto n = co_await s->Recv(buf);
    if (!n.ok() || *n == 0) co_return;
  }
}

Task<void> SleepLong(Io& io, std::unique_ptr<File> keep_open) {
  co_await io.Sleep(std::chrono::hours(1));
  EXPECT_TRUE(keep_open == nullptr) << "woke up after an hour";
}

Task<void> SendFileToNobody(std::unique_ptr<Socket> s, std::unique_ptr<File> f, uint64_t len) {
  // The peer never reads: once the socket buffers are full the splice blocks in the kernel.
  Status st = co_await s->SendFile(*f, 0, len);
  (void)st;
}

TEST(Runtime, StopDestroysSuspendedWorkAndClosesEveryFd) {
  const std::string dir =
      (std::filesystem::temp_directory_path() / ("runnel-stop-" + std::to_string(::getpid())))
          .string();
  std::filesystem::create_directories(dir);
  const size_t fds_before = CountOpenFds();
  bool body_done = false;
  uint64_t destroyed = 0;
  {
    auto rt = MakeRuntime(UringOptions{.shards = 2});
    Status s = rt->Run([&](Io& io) -> Task<void> {
      auto listener = co_await io.net().Listen(Address{"127.0.0.1", 0});
      if (!listener.ok()) {
        ADD_FAILURE() << listener.status().ToString();
        co_return;
      }
      const Address at = (*listener)->local();
      auto client = co_await io.net().Connect(at);
      auto server_side = co_await (*listener)->Accept();
      auto client2 = co_await io.net().Connect(at);
      auto server_side2 = co_await (*listener)->Accept();
      auto file = co_await io.fs().Open(dir + "/big", OpenOptions{.create = true});
      auto file2 = co_await io.fs().Open(dir + "/held", OpenOptions{.create = true});
      if (!client.ok() || !server_side.ok() || !client2.ok() || !server_side2.ok() || !file.ok() ||
          !file2.ok()) {
        ADD_FAILURE() << "setup failed";
        co_return;
      }
      constexpr uint64_t kBig = 64 << 20;
      EXPECT_TRUE((co_await (*file)->Truncate(kBig)).ok());
      io.Spawn(AcceptForever(std::move(*listener)));
      io.Spawn(RecvForever(std::move(*client)));
      io.Spawn(SleepLong(io, std::move(*file2)));
      io.Spawn(SendFileToNobody(std::move(*server_side2), std::move(*file), kBig));
      // Parked on another shard, and a Notify nobody signals.
      io.Spawn([](Io& io) -> Task<void> {
        co_await Invoke<int>(io.shards(), 1, [](Io& there) -> Task<int> {
          co_await there.Sleep(std::chrono::hours(1));
          co_return 0;
        });
      }(io));
      io.Spawn([](Io& io, std::unique_ptr<Socket> keep) -> Task<void> {
        Notify n(io.executor(), io.clock());
        co_await n.Wait();
      }(io, std::move(*server_side)));
      // The peer of the blocked send_file stays open and never reads.
      io.Spawn([](Io& io, std::unique_ptr<Socket> keep) -> Task<void> {
        co_await io.Sleep(std::chrono::hours(1));
      }(io, std::move(*client2)));
      // Let the spawned work reach its waits (the splice fills the socket buffers).
      co_await io.Sleep(std::chrono::milliseconds(100));
      body_done = true;
    });
    EXPECT_TRUE(s.ok()) << s.ToString();
    destroyed = rt->roots_destroyed();
  }
  EXPECT_TRUE(body_done);
  EXPECT_GE(destroyed, 7u);
  EXPECT_EQ(CountOpenFds(), fds_before);
  std::filesystem::remove_all(dir);
}

TEST(Runtime, RunLimitStopsAHungMain) {
  const size_t fds_before = CountOpenFds();
  {
    auto rt = MakeRuntime(UringOptions{.shards = 2});
    Status s = rt->Run([](Io& io) -> Task<void> { co_await io.Sleep(std::chrono::hours(1)); },
                       RunOn::kShard0, std::chrono::milliseconds(100));
    EXPECT_TRUE(s.Is(ErrorKind::kTimeout)) << s.ToString();
    EXPECT_EQ(rt->roots_destroyed(), 1u);
  }
  EXPECT_EQ(CountOpenFds(), fds_before);
}

TEST(Runtime, RequestStopFromAnotherThread) {
  auto rt = MakeRuntime(UringOptions{.shards = 3});
  std::atomic<bool> started{false};
  std::thread stopper([&] {
    while (!started.load()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
    rt->RequestStop();
  });
  Status s = rt->Run(
      [&started](Io& io) -> Task<void> {
        started.store(true);
        co_await io.Sleep(std::chrono::hours(1));
      },
      RunOn::kEveryShard);
  stopper.join();
  EXPECT_TRUE(s.ok()) << s.ToString();
  EXPECT_EQ(rt->roots_destroyed(), 3u);
}

// --- Pieces ------------------------------------------------------------------------------------

TEST(UringClock, FiresInDeadlineOrderAndForgetsCancelledTimers) {
  UringClock clock;
  std::vector<int> fired;
  const Instant past = clock.Now() - std::chrono::seconds(1);
  clock.StartTimer(past + std::chrono::milliseconds(3), [&] { fired.push_back(3); });
  clock.StartTimer(past + std::chrono::milliseconds(1), [&] { fired.push_back(1); });
  TimerId cancelled = clock.StartTimer(past, [&] { fired.push_back(0); });
  clock.StartTimer(past + std::chrono::milliseconds(2), [&] { fired.push_back(2); });
  EXPECT_TRUE(clock.CancelTimer(cancelled));
  EXPECT_EQ(clock.FireExpired(), 3u);
  EXPECT_EQ(fired, (std::vector<int>{1, 2, 3}));
  EXPECT_FALSE(clock.NextDeadline().has_value());

  // Long waits cancelled early must not pile up.
  const Instant far = clock.Now() + std::chrono::hours(1);
  for (int i = 0; i < 100000; i++) {
    TimerId id = clock.StartTimer(far + std::chrono::nanoseconds(i), [] {});
    ASSERT_TRUE(clock.CancelTimer(id));
  }
  EXPECT_EQ(clock.pending(), 0u);
  EXPECT_LE(clock.heap_entries(), 2 * clock.pending() + 65);
  EXPECT_FALSE(clock.NextDeadline().has_value());
}

TEST(SpscQueue, TwoThreadsTransferEverythingInOrder) {
  constexpr uintptr_t kItems = 2000000;
  SpscQueue q(64);
  std::thread producer([&] {
    for (uintptr_t i = 1; i <= kItems; i++) {
      while (!q.TryPush(reinterpret_cast<void*>(i))) std::this_thread::yield();
    }
  });
  uintptr_t expected = 1;
  bool in_order = true;
  while (expected <= kItems) {
    void* item;
    if (!q.TryPop(item)) {
      std::this_thread::yield();
      continue;
    }
    in_order &= reinterpret_cast<uintptr_t>(item) == expected;
    expected++;
  }
  producer.join();
  EXPECT_TRUE(in_order);
  void* extra;
  EXPECT_FALSE(q.TryPop(extra));
}

}  // namespace
}  // namespace runnel::uring
