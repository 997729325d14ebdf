// TestLoop: a minimal single-threaded Executor + Clock for unit tests of io/ primitives that need
// neither disk nor network. Time is virtual and advances to the next timer when nothing is ready.
#pragma once

#include <deque>
#include <functional>
#include <map>
#include <utility>

#include "io/clock.h"
#include "io/task.h"

namespace runnel::testing {

class TestLoop final : public Executor, public Clock {
 public:
  void Schedule(std::coroutine_handle<> h) override { ready_.push_back(h); }

  Instant Now() override { return now_; }
  WallTime Wall() override { return WallTime{now_.since_origin.count()}; }
  TimerId StartTimer(Instant deadline, std::function<void()> fire) override {
    TimerId id = ++next_timer_;
    timers_.emplace(std::make_pair(deadline, id), std::move(fire));
    return id;
  }
  bool CancelTimer(TimerId id) override {
    for (auto it = timers_.begin(); it != timers_.end(); ++it) {
      if (it->first.second == id) {
        timers_.erase(it);
        return true;
      }
    }
    return false;
  }

  // Runs until nothing is ready and no timer is pending.
  void Run() {
    for (;;) {
      while (!ready_.empty()) {
        auto h = ready_.front();
        ready_.pop_front();
        h.resume();
      }
      if (timers_.empty()) return;
      auto it = timers_.begin();
      now_ = std::max(now_, it->first.first);
      auto fire = std::move(it->second);
      timers_.erase(it);
      fire();
    }
  }

  // Spawns `t` and runs the loop to quiescence.
  void RunTask(Task<void> t) {
    Spawn(std::move(t));
    Run();
  }

  size_t timers_pending() const { return timers_.size(); }

 private:
  std::deque<std::coroutine_handle<>> ready_;
  std::map<std::pair<Instant, TimerId>, std::function<void()>> timers_;
  Instant now_{};
  TimerId next_timer_ = 0;
};

}  // namespace runnel::testing
