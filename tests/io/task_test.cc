// Unit tests of the coroutine core (task.h, clock.h, sync.h, channel.h) on a virtual-time loop.
#include "io/task.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <string>
#include <vector>

#include "io/channel.h"
#include "io/clock.h"
#include "io/net.h"
#include "io/sync.h"
#include "tests/io/test_loop.h"

namespace runnel {
namespace {

using testing::TestLoop;

Task<int> Add(int a, int b) { co_return a + b; }

Task<int> Nested(int depth) {
  if (depth == 0) co_return 0;
  int below = co_await Nested(depth - 1);
  co_return below + 1;
}

TEST(Task, ReturnsValuesThroughNestedAwaits) {
  TestLoop loop;
  int got = -1;
  loop.RunTask([](int* out) -> Task<void> {
    *out = co_await Add(2, 3);
    *out += co_await Nested(10000);  // 10,000 frames deep fits the stack
  }(&got));
  EXPECT_EQ(got, 10005);
  EXPECT_EQ(loop.roots_live(), 0u);
}

// An address on the current stack (a coroutine's own locals live in its heap frame).
[[gnu::noinline]] uintptr_t StackAddress() {
  volatile char here = 0;
  return reinterpret_cast<uintptr_t>(&here);
}

// A loop awaiting tasks that end without suspending runs each one at the same stack depth: the
// awaiter goes on from its own await_suspend, not from inside the finished task (which without
// tail calls, as in ASan and -O0 builds, nested one level per iteration and overflowed the
// stack in log recovery's batch-by-batch scan).
TEST(Task, ALoopOfTasksEndingWithoutSuspendingKeepsTheStackFlat) {
  TestLoop loop;
  std::vector<uintptr_t> depths;
  loop.RunTask([](std::vector<uintptr_t>* depths) -> Task<void> {
    auto leaf = [](std::vector<uintptr_t>* depths, int i) -> Task<int> {
      depths->push_back(StackAddress());
      co_return i;
    };
    int64_t sum = 0;
    for (int i = 0; i < 200000; i++) sum += co_await leaf(depths, i);
    EXPECT_EQ(sum, int64_t{200000} * 199999 / 2);
  }(&depths));
  ASSERT_EQ(depths.size(), 200000u);
  EXPECT_EQ(*std::min_element(depths.begin(), depths.end()),
            *std::max_element(depths.begin(), depths.end()));
  EXPECT_EQ(loop.roots_live(), 0u);
}

TEST(Task, LazyUntilAwaited) {
  bool started = false;
  {
    auto t = [](bool* s) -> Task<void> {
      *s = true;
      co_return;
    }(&started);
    EXPECT_FALSE(started);
  }  // destroyed without running: frame freed (checked by ASan builds)
  EXPECT_FALSE(started);
}

TEST(Task, ResultAndStatusPropagate) {
  TestLoop loop;
  Status seen;
  loop.RunTask([](Status* out) -> Task<void> {
    auto fails = []() -> Task<Result<int>> { co_return Status::NotFound("nothing here"); };
    auto uses = [&]() -> Task<Status> {
      RUNNEL_CO_ASSIGN_OR_RETURN(int v, co_await fails());
      (void)v;
      co_return Status::Ok();
    };
    *out = co_await uses();
  }(&seen));
  EXPECT_TRUE(seen.Is(ErrorKind::kNotFound));
  EXPECT_EQ(seen.message(), "nothing here");
}

TEST(Task, SleepAdvancesVirtualTime) {
  TestLoop loop;
  std::vector<int> order;
  auto sleeper = [](TestLoop& l, std::vector<int>& o, int ms) -> Task<void> {
    co_await l.Sleep(std::chrono::milliseconds(ms));
    o.push_back(ms);
  };
  loop.Spawn(sleeper(loop, order, 30));
  loop.Spawn(sleeper(loop, order, 10));
  loop.Spawn(sleeper(loop, order, 20));
  loop.Run();
  EXPECT_EQ(order, (std::vector<int>{10, 20, 30}));
  EXPECT_EQ(loop.Now().since_origin, std::chrono::milliseconds(30));
}

TEST(WhenAll, CollectsResultsInOrderAndRunsConcurrently) {
  TestLoop loop;
  std::vector<int> got;
  loop.RunTask([](TestLoop& l, std::vector<int>& out) -> Task<void> {
    std::vector<Task<int>> ts;
    for (int i = 0; i < 5; i++) {
      ts.push_back([](TestLoop& l, int i) -> Task<int> {
        co_await l.Sleep(std::chrono::milliseconds(50 - i * 10));
        co_return i* i;
      }(l, i));
    }
    out = co_await WhenAll(std::move(ts));
  }(loop, got));
  EXPECT_EQ(got, (std::vector<int>{0, 1, 4, 9, 16}));
  // Concurrent: total time is the longest sleep, not the sum.
  EXPECT_EQ(loop.Now().since_origin, std::chrono::milliseconds(50));
}

TEST(WhenAll, EmptyAndSynchronousChildren) {
  TestLoop loop;
  size_t n = 99;
  loop.RunTask([](size_t& n) -> Task<void> {
    auto none = co_await WhenAll(std::vector<Task<int>>{});
    std::vector<Task<int>> sync;
    sync.push_back(Add(1, 1));
    sync.push_back(Add(2, 2));
    auto two = co_await WhenAll(std::move(sync));
    n = none.size() + two.size() + static_cast<size_t>(two[1]);
  }(n));
  EXPECT_EQ(n, 6u);
}

TEST(WithTimeout, TimesOutSlowTaskAndPassesFastOne) {
  TestLoop loop;
  Status slow_status, fast_status;
  loop.RunTask([](TestLoop& l, Status& slow, Status& fast) -> Task<void> {
    slow =
        co_await WithTimeout(l, l, std::chrono::milliseconds(5), [](TestLoop& l) -> Task<Status> {
          co_await l.Sleep(std::chrono::milliseconds(100));
          co_return Status::Ok();
        }(l));
    fast =
        co_await WithTimeout(l, l, std::chrono::milliseconds(100), [](TestLoop& l) -> Task<Status> {
          co_await l.Sleep(std::chrono::milliseconds(1));
          co_return Status::Io("fast failure");
        }(l));
  }(loop, slow_status, fast_status));
  EXPECT_TRUE(slow_status.Is(ErrorKind::kTimeout)) << slow_status.ToString();
  EXPECT_TRUE(fast_status.Is(ErrorKind::kIo)) << fast_status.ToString();
  EXPECT_EQ(loop.timers_pending(), 0u);  // the fast task's deadline timer was cancelled
  EXPECT_EQ(loop.roots_live(), 0u);      // the timed-out task still ran to completion
}

TEST(Semaphore, FifoAndClose) {
  TestLoop loop;
  Semaphore sem(loop, 2);
  std::vector<std::string> log;
  auto user = [](TestLoop& l, Semaphore& s, std::vector<std::string>& log, std::string name,
                 uint64_t n) -> Task<void> {
    Status st = co_await s.Acquire(n);
    log.push_back(name + (st.ok() ? "+" : "!"));
    if (!st.ok()) co_return;
    co_await l.Sleep(std::chrono::milliseconds(10));
    s.Release(n);
  };
  loop.Spawn(user(loop, sem, log, "a", 2));
  loop.Spawn(user(loop, sem, log, "b", 1));
  loop.Spawn(user(loop, sem, log, "c", 1));
  loop.Run();
  EXPECT_EQ(log, (std::vector<std::string>{"a+", "b+", "c+"}));
  EXPECT_EQ(sem.available(), 2u);

  log.clear();
  ASSERT_TRUE(sem.TryAcquire(2));
  loop.Spawn(user(loop, sem, log, "d", 1));
  loop.Run();
  EXPECT_TRUE(log.empty());
  sem.Close();
  loop.Run();
  EXPECT_EQ(log, (std::vector<std::string>{"d!"}));
}

TEST(Notify, WakesWaitersOrTimesOut) {
  TestLoop loop;
  Notify notify(loop, loop);
  std::vector<std::string> log;
  auto waiter = [](TestLoop& l, Notify& n, std::vector<std::string>& log, std::string name,
                   int timeout_ms) -> Task<void> {
    bool woke = co_await n.Wait(std::chrono::milliseconds(timeout_ms));
    log.push_back(name + (woke ? ":woken@" : ":timeout@") +
                  std::to_string(l.Now().since_origin.count() / 1000000));
  };
  loop.Spawn(waiter(loop, notify, log, "short", 5));
  loop.Spawn(waiter(loop, notify, log, "long", 500));
  loop.Spawn([](TestLoop& l, Notify& n) -> Task<void> {
    co_await l.Sleep(std::chrono::milliseconds(20));
    n.NotifyAll();
  }(loop, notify));
  loop.Run();
  EXPECT_EQ(log, (std::vector<std::string>{"short:timeout@5", "long:woken@20"}));
  EXPECT_EQ(loop.timers_pending(), 0u);
}

TEST(Gate, CloseWaitsForHolders) {
  TestLoop loop;
  Gate gate(loop);
  std::vector<std::string> log;
  loop.Spawn([](TestLoop& l, Gate& g, std::vector<std::string>& log) -> Task<void> {
    auto hold = g.Hold();
    EXPECT_TRUE(hold.ok());
    co_await l.Sleep(std::chrono::milliseconds(7));
    log.push_back("work done");
  }(loop, gate, log));
  loop.Spawn([](TestLoop& l, Gate& g, std::vector<std::string>& log) -> Task<void> {
    co_await Yield{l};
    co_await g.Close();
    log.push_back("closed@" + std::to_string(l.Now().since_origin.count() / 1000000));
    EXPECT_FALSE(g.Hold().ok());
  }(loop, gate, log));
  loop.Run();
  EXPECT_EQ(log, (std::vector<std::string>{"work done", "closed@7"}));
}

TEST(Channel, BackPressureAndCloseDrains) {
  TestLoop loop;
  Channel<int> ch(loop, 2);
  std::vector<int> got;
  Status final_status;
  loop.Spawn([](Channel<int>& c) -> Task<void> {
    for (int i = 0; i < 10; i++) {
      Status s = co_await c.Send(i);
      EXPECT_TRUE(s.ok());
      EXPECT_LE(c.size(), 2u);
    }
    c.Close();
  }(ch));
  loop.Spawn([](TestLoop& l, Channel<int>& c, std::vector<int>& got, Status& fin) -> Task<void> {
    for (;;) {
      co_await l.Sleep(std::chrono::milliseconds(1));
      Result<int> r = co_await c.Receive();
      if (!r.ok()) {
        fin = r.status();
        co_return;
      }
      got.push_back(*r);
    }
  }(loop, ch, got, final_status));
  loop.Run();
  EXPECT_EQ(got, (std::vector<int>{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}));
  EXPECT_TRUE(final_status.Is(ErrorKind::kClosed));
}

TEST(Status, ErrnoMappingAndContext) {
  EXPECT_TRUE(Status::FromErrno(ENOSPC, "write x").Is(ErrorKind::kNoSpace));
  EXPECT_TRUE(Status::FromErrno(ENOENT, "open x").Is(ErrorKind::kNotFound));
  EXPECT_TRUE(Status::FromErrno(ECONNRESET, "recv").Is(ErrorKind::kClosed));
  Status s = Status::Io("disk on fire").WithContext("segment 7");
  EXPECT_EQ(s.ToString(), "io: segment 7: disk on fire");
  EXPECT_EQ(Status().ToString(), "ok");
}

TEST(Address, ParseAndFormat) {
  auto a = Address::Parse("127.0.0.1:9092");
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(a->host, "127.0.0.1");
  EXPECT_EQ(a->port, 9092);
  EXPECT_EQ(a->ToString(), "127.0.0.1:9092");
  EXPECT_FALSE(Address::Parse("nohost").ok());
  EXPECT_FALSE(Address::Parse("h:99999").ok());
  EXPECT_FALSE(Address::Parse("h:12x").ok());
}

}  // namespace
}  // namespace runnel
