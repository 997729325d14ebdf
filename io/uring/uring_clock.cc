#include "io/uring/uring_clock.h"

#include <time.h>

#include <algorithm>

namespace runnel::uring {
namespace {

int64_t ReadClockNs(clockid_t id) {
  timespec ts{};
  clock_gettime(id, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1000000000 + ts.tv_nsec;
}

}  // namespace

Instant UringClock::Now() { return Instant{Duration(ReadClockNs(CLOCK_MONOTONIC))}; }

WallTime UringClock::Wall() { return WallTime{ReadClockNs(CLOCK_REALTIME)}; }

TimerId UringClock::StartTimer(Instant deadline, std::function<void()> fire) {
  RUNNEL_ASSERT(live_.size() < kTimersMax, "{} timers pending on one shard (kTimersMax)",
                live_.size());
  TimerId id = ++next_id_;
  live_.emplace(id, std::move(fire));
  heap_.push_back(Entry{deadline, id});
  std::push_heap(heap_.begin(), heap_.end(), Later{});
  return id;
}

bool UringClock::CancelTimer(TimerId id) {
  if (live_.erase(id) == 0) return false;
  MaybeCompact();
  return true;
}

void UringClock::DropStaleTop() {
  while (!heap_.empty() && !live_.contains(heap_.front().id)) {
    std::pop_heap(heap_.begin(), heap_.end(), Later{});
    heap_.pop_back();
  }
}

void UringClock::MaybeCompact() {
  // Long-polling waits are usually cancelled long before their deadline; without this their
  // entries would pile up in the heap.
  if (heap_.size() <= 64 || heap_.size() <= 2 * live_.size()) return;
  std::erase_if(heap_, [this](const Entry& e) { return !live_.contains(e.id); });
  std::make_heap(heap_.begin(), heap_.end(), Later{});
}

size_t UringClock::FireExpired() {
  DropStaleTop();
  if (heap_.empty()) return 0;
  const Instant now = Now();
  size_t fired = 0;
  while (!heap_.empty() && heap_.front().deadline <= now) {
    TimerId id = heap_.front().id;
    std::pop_heap(heap_.begin(), heap_.end(), Later{});
    heap_.pop_back();
    auto it = live_.find(id);
    if (it == live_.end()) continue;  // cancelled
    std::function<void()> fire = std::move(it->second);
    live_.erase(it);
    // The callback may start or cancel timers; the heap is consistent at this point.
    fire();
    fired++;
  }
  return fired;
}

std::optional<Instant> UringClock::NextDeadline() {
  DropStaleTop();
  if (heap_.empty()) return std::nullopt;
  return heap_.front().deadline;
}

void UringClock::Clear() {
  // Move out first: destroying a callback may destroy state whose destructor cancels a timer.
  auto live = std::move(live_);
  live_.clear();
  heap_.clear();
  live.clear();
}

}  // namespace runnel::uring
