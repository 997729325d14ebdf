// Cross-shard mailboxes in production. A post is a coroutine handle: the frame itself travels and
// is resumed on the target shard's thread.
//
// MailboxHub: shared by all shards of one runtime. One bounded SPSC queue per ordered
// (sender, receiver) pair, one eventfd per receiver. A sender pushes, then at the end of its loop
// turn wakes each receiver it posted to: `wake_pending` is exchanged to true and only the sender
// that flipped it writes the eventfd. The receiver keeps an io_uring read armed on its eventfd;
// when it completes it exchanges `wake_pending` back to false (acquire: it then sees every push
// made before the flag was set) and drains its queues. Receivers also drain on every loop turn, so
// a busy shard needs no eventfd traffic at all.
//
// UringShards: one shard's end (implements io/shards.h). A post to a full queue is not lost: it
// waits, in order, in the sender's overflow list for that receiver and is retried each loop turn.
// Overflow is bounded by the number of suspended coroutines (a frame is posted once at a time).
//
// Thread: the hub is created and destroyed on the main thread; each UringShards is used only by
// its shard's thread. Nothing is locked.
#pragma once

#include <atomic>
#include <coroutine>
#include <cstdint>
#include <deque>
#include <memory>
#include <vector>

#include "io/shards.h"
#include "io/status.h"
#include "io/uring/ring.h"
#include "io/uring/spsc_queue.h"

namespace runnel::uring {

class MailboxHub {
 public:
  // `slots_max`: capacity of each (sender, receiver) queue, a power of two.
  static Result<std::unique_ptr<MailboxHub>> Create(uint32_t shards, size_t slots_max);
  ~MailboxHub();
  MailboxHub(const MailboxHub&) = delete;
  MailboxHub& operator=(const MailboxHub&) = delete;

  uint32_t shards() const { return shards_; }
  SpscQueue& Queue(ShardId from, ShardId to) { return *queues_[from * shards_ + to]; }
  // Makes shard `to` drain its mailboxes soon. Any thread.
  void Wake(ShardId to);
  // Writes shard `to`'s eventfd unconditionally (stop requests). Async-signal-safe.
  void ForceWake(ShardId to);
  int eventfd(ShardId id) const { return receivers_[id].eventfd; }
  std::atomic<bool>& wake_pending(ShardId id) { return receivers_[id].wake_pending; }

 private:
  struct alignas(64) Receiver {
    int eventfd = -1;
    std::atomic<bool> wake_pending{false};
  };
  explicit MailboxHub(uint32_t shards) : shards_(shards), receivers_(shards) {}

  uint32_t shards_;
  std::vector<Receiver> receivers_;
  std::vector<std::unique_ptr<SpscQueue>> queues_;  // [from * shards_ + to]; null when from == to
};

class UringShards final : public Shards {
 public:
  UringShards(MailboxHub& hub, ShardId self, Ring& ring);
  UringShards(const UringShards&) = delete;
  UringShards& operator=(const UringShards&) = delete;

  // The Io of every shard, indexed by id (set once, before any shard runs).
  void SetIos(std::vector<Io*> ios) { ios_ = std::move(ios); }

  ShardId self() const override { return self_; }
  uint32_t count() const override { return hub_.shards(); }
  void Post(ShardId to, std::coroutine_handle<> h) override;
  Io& IoOf(ShardId id) override;

  // Loop hooks (shard thread). Start arms the eventfd read. Pump moves posts received into the
  // ring's ready queue, retries overflowed posts and wakes the shards posted to; it returns true
  // while some post still waits in an overflow list.
  void Start();
  bool Pump();

  uint64_t posts_sent() const { return posts_sent_; }
  uint64_t posts_received() const { return posts_received_; }
  uint64_t posts_overflowed() const { return posts_overflowed_; }

 private:
  struct EventfdRead : Completion {
    UringShards* owner = nullptr;
    uint64_t value = 0;
  };
  static void OnEventfd(Completion* c, int32_t res, uint32_t flags);
  void Arm();
  void Drain();

  MailboxHub& hub_;
  const ShardId self_;
  Ring& ring_;
  std::vector<Io*> ios_;
  EventfdRead read_;
  std::vector<std::deque<void*>> overflow_;  // per receiver, FIFO
  std::vector<uint8_t> dirty_;               // receivers posted to since the last Pump
  uint64_t posts_sent_ = 0;
  uint64_t posts_received_ = 0;
  uint64_t posts_overflowed_ = 0;
};

}  // namespace runnel::uring
