// SpscQueue: a bounded lock-free queue of pointers between exactly one producer thread and one
// consumer thread (Lamport's ring with cached indices). Used for the cross-shard mailboxes.
//
// Invariants: capacity is a power of two; head_ (consumer) and tail_ (producer) only grow;
// 0 <= tail_ - head_ <= capacity. The producer publishes a slot with a release store of tail_,
// the consumer frees it with a release store of head_.
#pragma once

#include <atomic>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <memory>

#include "io/assert.h"

namespace runnel::uring {

class SpscQueue {
 public:
  explicit SpscQueue(size_t slots_max) : mask_(slots_max - 1), slots_(new void*[slots_max]) {
    RUNNEL_ASSERT(slots_max >= 2 && std::has_single_bit(slots_max),
                  "SPSC queue size {} is not a power of two >= 2", slots_max);
  }
  SpscQueue(const SpscQueue&) = delete;
  SpscQueue& operator=(const SpscQueue&) = delete;

  // Producer side. False when full.
  bool TryPush(void* item) {
    const uint64_t tail = tail_.load(std::memory_order_relaxed);
    if (tail - head_cached_ > mask_) {
      head_cached_ = head_.load(std::memory_order_acquire);
      if (tail - head_cached_ > mask_) return false;
    }
    slots_[tail & mask_] = item;
    tail_.store(tail + 1, std::memory_order_release);
    return true;
  }

  // Consumer side. False when empty.
  bool TryPop(void*& item) {
    const uint64_t head = head_.load(std::memory_order_relaxed);
    if (head == tail_cached_) {
      tail_cached_ = tail_.load(std::memory_order_acquire);
      if (head == tail_cached_) return false;
    }
    item = slots_[head & mask_];
    head_.store(head + 1, std::memory_order_release);
    return true;
  }

  size_t slots_max() const { return mask_ + 1; }

 private:
  const uint64_t mask_;
  std::unique_ptr<void*[]> slots_;
  // Producer and consumer indices on their own cache lines; each side caches the other's index.
  alignas(64) std::atomic<uint64_t> tail_{0};
  uint64_t head_cached_ = 0;  // producer's view of head_
  alignas(64) std::atomic<uint64_t> head_{0};
  uint64_t tail_cached_ = 0;  // consumer's view of tail_
};

}  // namespace runnel::uring
