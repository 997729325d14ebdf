// Single-shard synchronization for Task coroutines: Semaphore, Notify (a condition with
// timeout) and Gate (waits for in-flight work at shutdown). Not thread-safe: each object
// belongs to one shard. Waiters are woken through the Executor, never resumed inline, so a
// Release() never runs another task's code on the caller's stack.
//
// Destructors do not assert "no waiters": when the simulator crashes a node it destroys the
// node's suspended frames and objects in no particular order.
#pragma once

#include <coroutine>
#include <cstdint>
#include <deque>
#include <list>

#include "io/clock.h"
#include "io/status.h"
#include "io/task.h"

namespace runnel {

// Counts units (requests, bytes); Acquire waits in FIFO order until `n` units are free.
class Semaphore {
 public:
  Semaphore(Executor& executor, uint64_t units) : executor_(executor), available_(units) {}
  Semaphore(const Semaphore&) = delete;
  Semaphore& operator=(const Semaphore&) = delete;

  // Waits until `n` units are available and takes them. Fails with kClosed after Close().
  auto Acquire(uint64_t n = 1) {
    struct Awaiter {
      Semaphore& s;
      uint64_t n;
      Waiter w{};
      bool await_ready() noexcept {
        if (s.closed_) return true;
        if (s.waiters_.empty() && s.available_ >= n) {
          s.available_ -= n;
          w.granted = true;
          return true;
        }
        return false;
      }
      void await_suspend(std::coroutine_handle<> h) noexcept {
        w.n = n;
        w.h = h;
        s.waiters_.push_back(&w);
      }
      Status await_resume() noexcept {
        if (!w.granted) return Status::Closed("semaphore closed");
        return Status::Ok();
      }
    };
    return Awaiter{*this, n};
  }
  bool TryAcquire(uint64_t n = 1) {
    if (closed_ || !waiters_.empty() || available_ < n) return false;
    available_ -= n;
    return true;
  }
  void Release(uint64_t n = 1) {
    available_ += n;
    Wake();
  }
  // Fails every current and future waiter with kClosed.
  void Close() {
    closed_ = true;
    while (!waiters_.empty()) {
      Waiter* w = waiters_.front();
      waiters_.pop_front();
      executor_.Schedule(w->h);
    }
  }
  uint64_t available() const { return available_; }
  size_t waiting() const { return waiters_.size(); }

 private:
  struct Waiter {
    uint64_t n = 0;
    std::coroutine_handle<> h;
    bool granted = false;
  };
  void Wake() {
    while (!waiters_.empty() && waiters_.front()->n <= available_) {
      Waiter* w = waiters_.front();
      waiters_.pop_front();
      available_ -= w->n;
      w->granted = true;
      executor_.Schedule(w->h);
    }
  }
  Executor& executor_;
  uint64_t available_;
  bool closed_ = false;
  std::deque<Waiter*> waiters_;
};

// Notify: tasks wait until someone calls NotifyAll (or a timeout passes). Used for long-polling
// fetches and for waking writers. A notification wakes only tasks already waiting.
class Notify {
 public:
  Notify(Executor& executor, Clock& clock) : executor_(executor), clock_(clock) {}
  Notify(const Notify&) = delete;
  Notify& operator=(const Notify&) = delete;

  // Resolves true when notified, false when `timeout` passed first.
  auto Wait(Duration timeout) {
    struct Awaiter {
      Notify& n;
      Duration timeout;
      Waiter w{};
      std::list<Waiter*>::iterator it{};
      bool await_ready() noexcept { return false; }
      void await_suspend(std::coroutine_handle<> h) {
        w.h = h;
        it = n.waiters_.insert(n.waiters_.end(), &w);
        Notify* np = &n;
        Waiter* wp = &w;
        auto pos = it;
        w.timer = n.clock_.StartTimer(n.clock_.Now() + timeout, [np, wp, pos] {
          np->waiters_.erase(pos);
          wp->notified = false;
          np->executor_.Schedule(wp->h);
        });
      }
      bool await_resume() noexcept { return w.notified; }
    };
    return Awaiter{*this, timeout};
  }
  // Waits without a deadline.
  auto Wait() { return Wait(Duration::max() / 4); }

  void NotifyAll() {
    while (!waiters_.empty()) {
      Waiter* w = waiters_.front();
      waiters_.pop_front();
      clock_.CancelTimer(w->timer);
      w->notified = true;
      executor_.Schedule(w->h);
    }
  }
  size_t waiting() const { return waiters_.size(); }

 private:
  struct Waiter {
    std::coroutine_handle<> h;
    TimerId timer = 0;
    bool notified = false;
  };
  Executor& executor_;
  Clock& clock_;
  std::list<Waiter*> waiters_;
};

// Gate: counts work in progress so shutdown can wait for it. Enter fails once Close started;
// Close resolves when every holder has left.
class Gate {
 public:
  explicit Gate(Executor& executor) : executor_(executor) {}
  Gate(const Gate&) = delete;
  Gate& operator=(const Gate&) = delete;

  [[nodiscard]] Status Enter() {
    if (closing_) return Status::Cancelled("shutting down");
    count_++;
    return Status::Ok();
  }
  void Leave() {
    RUNNEL_ASSERT(count_ > 0, "Gate::Leave without Enter");
    if (--count_ == 0 && closer_) executor_.Schedule(std::exchange(closer_, {}));
  }
  bool closing() const { return closing_; }
  uint64_t count() const { return count_; }

  // RAII holder: `auto hold = gate.Hold(); if (!hold.ok()) ...`
  class Holder {
   public:
    Holder() = default;
    explicit Holder(Gate* g) : g_(g) {}
    Holder(Holder&& o) noexcept : g_(std::exchange(o.g_, nullptr)) {}
    Holder& operator=(Holder&& o) noexcept {
      if (this != &o) {
        if (g_) g_->Leave();
        g_ = std::exchange(o.g_, nullptr);
      }
      return *this;
    }
    ~Holder() {
      if (g_) g_->Leave();
    }
    bool ok() const { return g_ != nullptr; }

   private:
    Gate* g_ = nullptr;
  };
  Holder Hold() { return Enter().ok() ? Holder(this) : Holder(); }

  // Refuses new entries and resolves when the count reaches zero. Call once.
  auto Close() {
    struct Awaiter {
      Gate& g;
      bool await_ready() noexcept {
        RUNNEL_ASSERT(!g.closing_, "Gate closed twice");
        g.closing_ = true;
        return g.count_ == 0;
      }
      void await_suspend(std::coroutine_handle<> h) noexcept { g.closer_ = h; }
      void await_resume() noexcept {}
    };
    return Awaiter{*this};
  }

 private:
  Executor& executor_;
  uint64_t count_ = 0;
  bool closing_ = false;
  std::coroutine_handle<> closer_;
};

}  // namespace runnel
