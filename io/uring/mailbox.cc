#include "io/uring/mailbox.h"

#include <sys/eventfd.h>
#include <unistd.h>

#include <cerrno>

#include "io/io.h"

namespace runnel::uring {

Result<std::unique_ptr<MailboxHub>> MailboxHub::Create(uint32_t shards, size_t slots_max) {
  RUNNEL_ASSERT(shards > 0, "a runtime needs at least one shard");
  std::unique_ptr<MailboxHub> hub(new MailboxHub(shards));
  for (Receiver& r : hub->receivers_) {
    // Blocking on purpose: io_uring arms a poll for a blocking eventfd, while a non-blocking one
    // would make the read fail with EAGAIN instead of waiting.
    r.eventfd = ::eventfd(0, EFD_CLOEXEC);
    if (r.eventfd < 0) return Status::FromErrno(errno, "eventfd for a shard mailbox");
  }
  hub->queues_.resize(static_cast<size_t>(shards) * shards);
  for (ShardId from = 0; from < shards; from++) {
    for (ShardId to = 0; to < shards; to++) {
      if (from != to) hub->queues_[from * shards + to] = std::make_unique<SpscQueue>(slots_max);
    }
  }
  return hub;
}

MailboxHub::~MailboxHub() {
  for (Receiver& r : receivers_) {
    if (r.eventfd >= 0) ::close(r.eventfd);
  }
}

void MailboxHub::Wake(ShardId to) {
  if (!receivers_[to].wake_pending.exchange(true, std::memory_order_acq_rel)) ForceWake(to);
}

void MailboxHub::ForceWake(ShardId to) {
  uint64_t one = 1;
  // Cannot fail short of a counter overflow (2^64 - 2 unread wake-ups).
  while (::write(receivers_[to].eventfd, &one, sizeof(one)) < 0 && errno == EINTR) {
  }
}

UringShards::UringShards(MailboxHub& hub, ShardId self, Ring& ring)
    : hub_(hub), self_(self), ring_(ring), overflow_(hub.shards()), dirty_(hub.shards(), 0) {
  read_.owner = this;
  read_.on_cqe = &OnEventfd;
}

Io& UringShards::IoOf(ShardId id) {
  RUNNEL_ASSERT(id < ios_.size(), "shard {} of {}", id, ios_.size());
  return *ios_[id];
}

void UringShards::Post(ShardId to, std::coroutine_handle<> h) {
  RUNNEL_ASSERT(to < hub_.shards(), "post to shard {} of {}", to, hub_.shards());
  if (to == self_) {
    ring_.Schedule(h);
    return;
  }
  posts_sent_++;
  std::deque<void*>& waiting = overflow_[to];
  // Keep order: once something waits in overflow, later posts queue behind it.
  if (!waiting.empty() || !hub_.Queue(self_, to).TryPush(h.address())) {
    waiting.push_back(h.address());
    posts_overflowed_++;
  }
  dirty_[to] = 1;
}

void UringShards::Start() { Arm(); }

void UringShards::Arm() {
  if (ring_.stopping()) return;
  io_uring_sqe* sqe = ring_.GetSqe();
  io_uring_prep_read(sqe, hub_.eventfd(self_), &read_.value, sizeof(read_.value), 0);
  ring_.Track(sqe, &read_);
}

void UringShards::OnEventfd(Completion* c, int32_t res, uint32_t flags) {
  UringShards* self = static_cast<EventfdRead*>(c)->owner;
  if (res == -ECANCELED || self->ring_.stopping()) return;
  // Clear before draining: a sender that still sees `true` pushed before this exchange, and its
  // push is visible to the drain below; a sender that sees `false` writes the eventfd again.
  self->hub_.wake_pending(self->self_).exchange(false, std::memory_order_acq_rel);
  self->Drain();
  self->Arm();
}

void UringShards::Drain() {
  for (ShardId from = 0; from < hub_.shards(); from++) {
    if (from == self_) continue;
    SpscQueue& q = hub_.Queue(from, self_);
    void* item;
    while (q.TryPop(item)) {
      posts_received_++;
      ring_.Schedule(std::coroutine_handle<>::from_address(item));
    }
  }
}

bool UringShards::Pump() {
  Drain();
  bool waiting = false;
  for (ShardId to = 0; to < hub_.shards(); to++) {
    std::deque<void*>& q = overflow_[to];
    if (!q.empty()) {
      SpscQueue& out = hub_.Queue(self_, to);
      while (!q.empty() && out.TryPush(q.front())) q.pop_front();
      waiting |= !q.empty();
      dirty_[to] = 1;
    }
    if (dirty_[to]) {
      dirty_[to] = 0;
      hub_.Wake(to);
    }
  }
  return waiting;
}

}  // namespace runnel::uring
