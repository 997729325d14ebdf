#include "io/uring/runtime.h"

#include <fmt/format.h>
#include <pthread.h>
#include <signal.h>
#include <sys/random.h>

#include <algorithm>
#include <cerrno>
#include <chrono>

namespace runnel::uring {
namespace {

// While a post waits in an overflow list the loop wakes at least this often to retry it.
constexpr Duration kOverflowRetryWait = std::chrono::microseconds(50);
// How often Run's waiting thread looks at the stop flag (RequestStop may come from a signal
// handler, which cannot notify a condition variable).
constexpr auto kStopPollInterval = std::chrono::milliseconds(20);

Result<uint64_t> SeedFromOs() {
  uint64_t seed = 0;
  ssize_t n;
  do {
    n = ::getrandom(&seed, sizeof(seed), 0);
  } while (n < 0 && errno == EINTR);
  if (n != static_cast<ssize_t>(sizeof(seed))) return Status::FromErrno(errno, "getrandom");
  return seed;
}

}  // namespace

Result<std::unique_ptr<UringRuntime>> UringRuntime::Create(const UringOptions& options) {
  if (options.shards == 0) return Status::InvalidArgument("a runtime needs at least one shard");
  // A peer that resets a connection must surface as an error, not kill the process. Sends use
  // MSG_NOSIGNAL; splice into a socket has no such flag.
  struct sigaction old {};
  if (::sigaction(SIGPIPE, nullptr, &old) == 0 && old.sa_handler == SIG_DFL) {
    ::signal(SIGPIPE, SIG_IGN);
  }
  std::unique_ptr<UringRuntime> rt(new UringRuntime());
  RUNNEL_ASSIGN_OR_RETURN(rt->hub_, MailboxHub::Create(options.shards, options.mailbox_slots_max));
  for (ShardId id = 0; id < options.shards; id++) {
    auto shard = std::make_unique<Shard>();
    RUNNEL_ASSIGN_OR_RETURN(shard->ring, Ring::Create(options.ring, &rt->root_seq_));
    RUNNEL_ASSIGN_OR_RETURN(uint64_t seed, SeedFromOs());
    shard->fs = std::make_unique<UringFileSystem>(*shard->ring, options.files);
    shard->net = std::make_unique<UringNetwork>(*shard->ring);
    shard->rng = std::make_unique<Rng>(seed);
    shard->mailbox = std::make_unique<UringShards>(*rt->hub_, id, *shard->ring);
    shard->io = std::make_unique<Io>(*shard->ring, shard->clock, *shard->fs, *shard->net,
                                     *shard->rng, *shard->mailbox);
    rt->shards_.push_back(std::move(shard));
  }
  std::vector<Io*> ios;
  for (auto& s : rt->shards_) ios.push_back(s->io.get());
  for (auto& s : rt->shards_) s->mailbox->SetIos(ios);
  return rt;
}

UringRuntime::~UringRuntime() {
  // Run already destroyed the suspended roots; what is left are the objects themselves. Io and
  // the mailboxes refer to the rest, so they go first; each Ring closes its io_uring.
  for (auto& s : shards_) {
    s->io.reset();
    s->mailbox.reset();
    s->net.reset();
    s->fs.reset();
    s->clock.Clear();
    s->ring.reset();
  }
  shards_.clear();
  hub_.reset();
}

Status UringRuntime::Run(std::function<Task<void>(Io&)> main, RunOn on, Duration limit) {
  RUNNEL_ASSERT(!ran_, "UringRuntime::Run is called once");
  ran_ = true;
  main_ = std::move(main);
  mains_running_.store(on == RunOn::kShard0 ? 1 : shards(), std::memory_order_relaxed);
  for (ShardId id = 0; id < shards(); id++) {
    if (on == RunOn::kEveryShard || id == 0) shards_[id]->ring->Spawn(RunMain(*shards_[id]->io));
  }
  std::vector<std::thread> threads;
  threads.reserve(shards());
  for (ShardId id = 0; id < shards(); id++) threads.emplace_back([this, id] { ShardMain(id); });

  const auto start = std::chrono::steady_clock::now();
  const bool limited = limit != Duration::max();
  bool timed_out = false;
  {
    std::unique_lock lock(mu_);
    while (!stop_.load(std::memory_order_acquire)) {
      auto wake = std::chrono::steady_clock::now() + kStopPollInterval;
      if (limited) {
        auto deadline = start + limit;
        if (std::chrono::steady_clock::now() >= deadline) {
          timed_out = true;
          break;
        }
        wake = std::min(wake, deadline);
      }
      cv_.wait_until(lock, wake);
    }
  }
  if (timed_out) RequestStop();
  for (std::thread& t : threads) t.join();
  DestroyLeftovers();
  if (timed_out) {
    return Status::Timeout(
        fmt::format("the runtime's main did not finish within {} ms",
                    std::chrono::duration_cast<std::chrono::milliseconds>(limit).count()));
  }
  std::lock_guard lock(mu_);
  return start_error_;
}

void UringRuntime::RequestStop() {
  stop_.store(true, std::memory_order_release);
  for (ShardId id = 0; id < hub_->shards(); id++) hub_->ForceWake(id);
}

void UringRuntime::StopAndNotify() {
  RequestStop();
  std::lock_guard lock(mu_);
  cv_.notify_all();
}

Task<void> UringRuntime::RunMain(Io& io) {
  co_await main_(io);
  if (mains_running_.fetch_sub(1, std::memory_order_acq_rel) == 1) StopAndNotify();
}

void UringRuntime::ShardMain(ShardId id) {
  Shard& shard = *shards_[id];
  // "runnel-shard-N" in top -H, perf and gdb (the kernel keeps 15 characters).
  const std::string name = fmt::format("runnel-shard-{}", id);
  ::pthread_setname_np(::pthread_self(), name.substr(0, 15).c_str());
  Status enabled = shard.ring->Enable();
  if (!enabled.ok()) {
    {
      std::lock_guard lock(mu_);
      if (start_error_.ok()) start_error_ = enabled.WithContext(fmt::format("shard {}", id));
    }
    StopAndNotify();
    shard.ring->StopAndDrain();
    return;
  }
  shard.mailbox->Start();
  Loop(shard);
  shard.ring->StopAndDrain();
}

void UringRuntime::Loop(Shard& s) {
  for (;;) {
    s.ring->RunReady();
    s.clock.FireExpired();
    const bool overflow = s.mailbox->Pump();
    if (stop_.load(std::memory_order_acquire)) return;
    const bool block = !s.ring->has_ready();
    Duration wait = Duration::max();
    if (block) {
      if (std::optional<Instant> next = s.clock.NextDeadline()) {
        wait = std::max(Duration::zero(), *next - s.clock.Now());
      }
      if (overflow) wait = std::min(wait, kOverflowRetryWait);
    }
    s.ring->Poll(block, wait);
  }
}

void UringRuntime::DestroyLeftovers() {
  // Every shard thread has joined and no operation is in flight, so no frame is running or
  // referenced by the kernel. Newest first: a task usually borrows from the one that spawned it.
  std::vector<std::pair<uint64_t, std::coroutine_handle<>>> roots;
  for (auto& s : shards_) s->ring->CollectRoots(roots);
  std::sort(roots.begin(), roots.end(),
            [](const auto& a, const auto& b) { return a.first > b.first; });
  for (auto& [seq, h] : roots) h.destroy();
  roots_destroyed_ = roots.size();
  for (auto& s : shards_) {
    s->ring->ForgetAll();
    s->clock.Clear();
  }
}

uint64_t UringRuntime::posts_overflowed() const {
  uint64_t n = 0;
  for (const auto& s : shards_) n += s->mailbox->posts_overflowed();
  return n;
}

uint64_t UringRuntime::posts_sent() const {
  uint64_t n = 0;
  for (const auto& s : shards_) n += s->mailbox->posts_sent();
  return n;
}

}  // namespace runnel::uring
