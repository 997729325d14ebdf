// Io: the bundle of I/O one shard of one node sees: its executor, clock, file system, network,
// randomness and the node's cross-shard mailboxes. Engine and broker code receive an Io& and
// reach the outside world only through it; nothing in engine/ or broker/ may call the OS, read
// a clock, make a thread or draw unseeded randomness (scripts/check-determinism.sh).
//
// One Io per shard; it lives as long as the shard's loop. Production: io/uring/runtime.h.
// Simulation: sim/world.h gives each simulated node's shards their Io.
#pragma once

#include <string_view>

#include "io/channel.h"
#include "io/clock.h"
#include "io/file.h"
#include "io/net.h"
#include "io/rng.h"
#include "io/shards.h"
#include "io/status.h"
#include "io/sync.h"
#include "io/task.h"

namespace runnel {

// Simulation-only fault switches (FoundationDB's BUGGIFY): each named site, once enabled for a
// run, fires with some probability to push code into rare paths. Production never fires.
class Buggifier {
 public:
  virtual ~Buggifier() = default;
  virtual bool Fire(std::string_view site) = 0;
};

class Io {
 public:
  Io(Executor& executor, Clock& clock, FileSystem& fs, Network& net, Rng& rng, Shards& shards,
     Buggifier* buggifier = nullptr)
      : executor_(executor),
        clock_(clock),
        fs_(fs),
        net_(net),
        rng_(rng),
        shards_(shards),
        buggifier_(buggifier) {}
  Io(const Io&) = delete;
  Io& operator=(const Io&) = delete;

  Executor& executor() { return executor_; }
  Clock& clock() { return clock_; }
  FileSystem& fs() { return fs_; }
  Network& net() { return net_; }
  Rng& rng() { return rng_; }
  Shards& shards() { return shards_; }
  ShardId shard() const { return shards_.self(); }

  // Starts a detached task on this shard.
  void Spawn(Task<void> task) { executor_.Spawn(std::move(task)); }
  // co_await io.Sleep(10ms)
  auto Sleep(Duration d) { return clock_.Sleep(d); }
  // True only in simulation, when the named fault site is enabled and its coin comes up.
  bool Buggify(std::string_view site) { return buggifier_ != nullptr && buggifier_->Fire(site); }
  bool simulated() const { return buggifier_ != nullptr; }

 private:
  Executor& executor_;
  Clock& clock_;
  FileSystem& fs_;
  Network& net_;
  Rng& rng_;
  Shards& shards_;
  Buggifier* buggifier_;
};

inline Shards& ShardsOf(Io& io) { return io.shards(); }

}  // namespace runnel
