// Clock: time as one node sees it. Production reads CLOCK_MONOTONIC / CLOCK_REALTIME and arms
// io_uring timeouts; the simulator returns virtual time with per-node offset and drift.
// Engine and broker code read time only through this interface.
#pragma once

#include <chrono>
#include <coroutine>
#include <cstdint>
#include <functional>
#include <memory>

#include "io/status.h"
#include "io/task.h"

namespace runnel {

using Duration = std::chrono::nanoseconds;
using std::chrono_literals::operator""ms;
using std::chrono_literals::operator""s;
using std::chrono_literals::operator""us;
using std::chrono_literals::operator""ns;

// A point on the node's monotonic clock (nanoseconds since an arbitrary origin).
struct Instant {
  Duration since_origin{0};
  friend auto operator<=>(const Instant&, const Instant&) = default;
  friend Instant operator+(Instant t, Duration d) { return Instant{t.since_origin + d}; }
  friend Instant operator-(Instant t, Duration d) { return Instant{t.since_origin - d}; }
  friend Duration operator-(Instant a, Instant b) { return a.since_origin - b.since_origin; }
};

// Wall-clock time in nanoseconds since the Unix epoch (may jump, may differ between nodes).
struct WallTime {
  int64_t unix_ns = 0;
  int64_t unix_ms() const { return unix_ns / 1000000; }
  friend auto operator<=>(const WallTime&, const WallTime&) = default;
};

// A timer armed with Clock::StartTimer; cancel it by id. Ids are never reused on one clock.
using TimerId = uint64_t;

class Clock {
 public:
  virtual ~Clock() = default;

  virtual Instant Now() = 0;
  virtual WallTime Wall() = 0;

  // Calls `fire` on this shard's loop at or after `deadline` unless cancelled first. `fire`
  // runs from the loop, not inline, and must not throw.
  virtual TimerId StartTimer(Instant deadline, std::function<void()> fire) = 0;
  // Returns true if the timer was pending (it will now never fire).
  virtual bool CancelTimer(TimerId id) = 0;

  // Suspends the calling task until `deadline` (a past deadline still yields to the loop once).
  struct SleepAwaiter {
    Clock& clock;
    Instant deadline;
    bool await_ready() noexcept { return false; }
    void await_suspend(std::coroutine_handle<> h) {
      clock.StartTimer(deadline, [h] { h.resume(); });
    }
    void await_resume() noexcept {}
  };
  SleepAwaiter SleepUntil(Instant deadline) { return SleepAwaiter{*this, deadline}; }
  SleepAwaiter Sleep(Duration d) { return SleepUntil(Now() + d); }
};

namespace detail {
template <typename T>
struct TimeoutState {
  std::optional<Result<T>> result;
  std::coroutine_handle<> waiter;
  TimerId timer = 0;
  bool finished = false;
};
}  // namespace detail

// Runs `task` with a deadline. If it does not finish within `d`, resolves with a kTimeout Status;
// the task itself keeps running to completion on `executor` and its result is dropped, so it must
// own (not borrow) what it touches. (The same contract as Seastar's with_timeout.) To stop the
// work itself, close what it waits on (a socket, a channel).
template <typename T>
Task<Result<T>> WithTimeout(Executor& executor, Clock& clock, Duration d, Task<Result<T>> task) {
  auto state = std::make_shared<detail::TimeoutState<T>>();
  struct Wait {
    detail::TimeoutState<T>* s;
    bool await_ready() noexcept { return s->finished; }
    void await_suspend(std::coroutine_handle<> h) noexcept { s->waiter = h; }
    void await_resume() noexcept {}
  };
  state->timer = clock.StartTimer(clock.Now() + d, [state, &executor] {
    if (state->finished) return;
    state->finished = true;
    state->result.emplace(Status::Timeout("operation timed out"));
    if (state->waiter) executor.Schedule(std::exchange(state->waiter, {}));
  });
  executor.Spawn([](std::shared_ptr<detail::TimeoutState<T>> s, Task<Result<T>> t, Clock& c,
                    Executor& ex) -> Task<void> {
    Result<T> r = co_await std::move(t);
    if (s->finished) co_return;
    s->finished = true;
    c.CancelTimer(s->timer);
    s->result.emplace(std::move(r));
    if (s->waiter) ex.Schedule(std::exchange(s->waiter, {}));
  }(state, std::move(task), clock, executor));
  co_await Wait{state.get()};
  co_return std::move(*state->result);
}

// The Status-returning form.
Task<Status> WithTimeout(Executor& executor, Clock& clock, Duration d, Task<Status> task);

}  // namespace runnel
