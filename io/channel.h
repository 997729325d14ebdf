// Channel<T>: a bounded FIFO between tasks of one shard. Send waits while the channel is full
// (back-pressure); Receive waits while it is empty. After Close, Send fails and Receive drains
// what is left, then yields kClosed.
#pragma once

#include <coroutine>
#include <deque>
#include <optional>

#include "io/status.h"
#include "io/task.h"

namespace runnel {

template <typename T>
class Channel {
 public:
  Channel(Executor& executor, size_t capacity_max)
      : executor_(executor), capacity_max_(capacity_max) {
    RUNNEL_ASSERT(capacity_max > 0, "channel capacity must be positive");
  }
  Channel(const Channel&) = delete;
  Channel& operator=(const Channel&) = delete;

  // Waits for room, then enqueues. kClosed if the channel is (or becomes) closed.
  Task<Status> Send(T value) {
    while (!closed_ && items_.size() >= capacity_max_) {
      co_await Park{senders_};
    }
    if (closed_) co_return Status::Closed("channel closed");
    items_.push_back(std::move(value));
    WakeOne(receivers_);
    co_return Status::Ok();
  }

  bool TrySend(T& value) {
    if (closed_ || items_.size() >= capacity_max_) return false;
    items_.push_back(std::move(value));
    WakeOne(receivers_);
    return true;
  }

  // Waits for an item. kClosed once closed and drained.
  Task<Result<T>> Receive() {
    while (items_.empty() && !closed_) {
      co_await Park{receivers_};
    }
    if (items_.empty()) co_return Status::Closed("channel closed");
    T v = std::move(items_.front());
    items_.pop_front();
    WakeOne(senders_);
    co_return std::move(v);
  }

  std::optional<T> TryReceive() {
    if (items_.empty()) return std::nullopt;
    T v = std::move(items_.front());
    items_.pop_front();
    WakeOne(senders_);
    return v;
  }

  void Close() {
    closed_ = true;
    while (!senders_.empty()) WakeOne(senders_);
    while (!receivers_.empty()) WakeOne(receivers_);
  }

  bool closed() const { return closed_; }
  size_t size() const { return items_.size(); }
  size_t capacity_max() const { return capacity_max_; }

 private:
  struct Park {
    std::deque<std::coroutine_handle<>>& q;
    bool await_ready() noexcept { return false; }
    void await_suspend(std::coroutine_handle<> h) { q.push_back(h); }
    void await_resume() noexcept {}
  };
  void WakeOne(std::deque<std::coroutine_handle<>>& q) {
    if (q.empty()) return;
    executor_.Schedule(q.front());
    q.pop_front();
  }

  Executor& executor_;
  size_t capacity_max_;
  bool closed_ = false;
  std::deque<T> items_;
  std::deque<std::coroutine_handle<>> senders_;
  std::deque<std::coroutine_handle<>> receivers_;
};

}  // namespace runnel
