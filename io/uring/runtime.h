// UringRuntime: the production node. It owns N shard threads; each shard has its own io_uring
// (Ring, its Executor), UringClock, UringFileSystem, UringNetwork, Rng seeded from the OS
// (getrandom), mailbox end (UringShards) and the Io that bundles them.
//
//   auto rt = UringRuntime::Create({.shards = 4});
//   if (!rt.ok()) { fprintf(stderr, "%s\n", rt.status().ToString().c_str()); return 1; }
//   Status s = (*rt)->Run([](Io& io) -> Task<void> { ... }, RunOn::kEveryShard);
//
// Life cycle: Create makes every ring, eventfd and Io on the calling thread (so a missing io_uring
// is reported before any thread starts, with the reason: see DescribeRingInitFailure). Run starts
// the shard threads, runs the main function, and returns once every main finished, RequestStop
// was called or the time limit passed. Then each shard cancels its in-flight operations and waits
// for them, the threads are joined, the roots still suspended are destroyed newest first (their
// sockets and files close), and the destructor closes the rings, eventfds and pipes: no
// descriptor outlives the runtime. Run is called at most once.
//
// Threads: Create, Run and the destructor on one (main) thread; RequestStop from any thread or a
// signal handler. Everything else runs on the shard threads, one loop per shard, with no locks.
#pragma once

#include <atomic>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "io/io.h"
#include "io/uring/mailbox.h"
#include "io/uring/ring.h"
#include "io/uring/uring_clock.h"
#include "io/uring/uring_file.h"
#include "io/uring/uring_net.h"

namespace runnel::uring {

struct UringOptions {
  uint32_t shards = 1;
  RingOptions ring{};
  // Capacity of each (sender, receiver) mailbox queue; a power of two. Posts beyond it wait in
  // the sender's overflow list.
  size_t mailbox_slots_max = 1024;
  // Every shard's files (uring_file.h: drop-behind).
  UringFileOptions files{};
};

enum class RunOn { kShard0, kEveryShard };

class UringRuntime {
 public:
  static Result<std::unique_ptr<UringRuntime>> Create(const UringOptions& options);
  ~UringRuntime();
  UringRuntime(const UringRuntime&) = delete;
  UringRuntime& operator=(const UringRuntime&) = delete;

  // Runs main(io) as a root task on shard 0 or on every shard, and stops the node when it (every
  // one of them) finished. Returns kTimeout if `limit` passed first, or the error that kept a
  // shard from starting.
  Status Run(std::function<Task<void>(Io&)> main, RunOn on = RunOn::kShard0,
             Duration limit = Duration::max());

  // Makes Run return soon: every shard stops. Async-signal-safe.
  void RequestStop();

  uint32_t shards() const { return static_cast<uint32_t>(shards_.size()); }
  // For tests and diagnostics; read after Run returned.
  uint64_t roots_destroyed() const { return roots_destroyed_; }
  uint64_t posts_overflowed() const;
  uint64_t posts_sent() const;

 private:
  struct Shard {
    std::unique_ptr<Ring> ring;
    UringClock clock;
    std::unique_ptr<UringFileSystem> fs;
    std::unique_ptr<UringNetwork> net;
    std::unique_ptr<Rng> rng;
    std::unique_ptr<UringShards> mailbox;
    std::unique_ptr<Io> io;
  };

  UringRuntime() = default;
  void ShardMain(ShardId id);
  void Loop(Shard& shard);
  Task<void> RunMain(Io& io);
  void StopAndNotify();
  void DestroyLeftovers();

  std::unique_ptr<MailboxHub> hub_;
  std::vector<std::unique_ptr<Shard>> shards_;
  std::atomic<uint64_t> root_seq_{0};
  std::function<Task<void>(Io&)> main_;
  std::atomic<uint32_t> mains_running_{0};
  std::atomic<bool> stop_{false};
  bool ran_ = false;
  std::mutex mu_;  // guards start_error_ and the stop wait, never the data path
  std::condition_variable cv_;
  Status start_error_;
  uint64_t roots_destroyed_ = 0;
};

}  // namespace runnel::uring
