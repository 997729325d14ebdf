// UringClock: a shard's Clock in production. Now() reads CLOCK_MONOTONIC and Wall() reads
// CLOCK_REALTIME. Timers live in a min-heap ordered by (deadline, id); the shard loop fires the
// expired ones each turn and, when idle, hands the earliest deadline to the ring as its wait
// timeout, so no timer needs an SQE of its own.
//
// Owner and thread: one per shard, created by UringRuntime and used only by that shard's thread
// (and by the main thread after the shard stopped, to drop what is left). Not thread-safe.
//
// Invariants: every live timer has exactly one heap entry with its id; cancelled timers leave a
// stale heap entry that is skipped when it reaches the top, and the heap is rebuilt when stale
// entries outnumber live ones, so it stays within twice the live count (plus a constant).
#pragma once

#include <functional>
#include <optional>
#include <unordered_map>
#include <vector>

#include "io/clock.h"

namespace runnel::uring {

class UringClock final : public Clock {
 public:
  // Timers pending at once on one shard; more is a leak in the caller.
  static constexpr size_t kTimersMax = size_t{1} << 22;

  UringClock() = default;
  UringClock(const UringClock&) = delete;
  UringClock& operator=(const UringClock&) = delete;

  Instant Now() override;
  WallTime Wall() override;
  TimerId StartTimer(Instant deadline, std::function<void()> fire) override;
  bool CancelTimer(TimerId id) override;

  // Runs the callbacks of the timers whose deadline is at or before now. Returns how many fired.
  size_t FireExpired();
  // The earliest pending deadline, if any timer is pending.
  std::optional<Instant> NextDeadline();
  // Drops every pending timer without firing it (shutdown).
  void Clear();
  size_t pending() const { return live_.size(); }
  size_t heap_entries() const { return heap_.size(); }

 private:
  struct Entry {
    Instant deadline;
    TimerId id;
  };
  // std::push_heap builds a max-heap; "later" as less-than puts the earliest deadline on top.
  struct Later {
    bool operator()(const Entry& a, const Entry& b) const {
      if (a.deadline != b.deadline) return a.deadline > b.deadline;
      return a.id > b.id;
    }
  };
  void DropStaleTop();
  void MaybeCompact();

  std::vector<Entry> heap_;
  std::unordered_map<TimerId, std::function<void()>> live_;
  TimerId next_id_ = 0;
};

}  // namespace runnel::uring
