// FaultSchedule: draws faults from the seed and injects them into a SimWorld over a run:
// node crashes (power loss) and process restarts, partitions (both ways, one way, isolation)
// and heals, connection resets, network latency spikes, disk fault bursts (EIO on read, write
// and sync, latent sector errors, bit rot, a nearly full disk), clock skew (wall jumps, drift)
// and pauses. Each enabled kind fires at exponentially distributed intervals until
// FaultOptions::end; then everything heals: partitions and network faults cleared, disks
// healthy again, every down node restarted (latent bad sectors and rotten bytes stay: they are
// on the medium). The run after `end` is the quiet period in which liveness is checked.
//
// --swarm (FaultOptions::Swarm) also draws which kinds are enabled and their rates, so that
// different seeds explore different fault mixes (swarm testing).
//
// Owner: the runner; lives as long as its SimWorld. All events are world events (node 0).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "io/clock.h"
#include "io/rng.h"
#include "sim/disk.h"
#include "sim/network.h"
#include "sim/world.h"

namespace runnel::sim {

struct FaultOptions {
  // Crashes (power loss) and process stops, then a restart after a downtime.
  bool crash = true;
  Duration crash_every = std::chrono::seconds(6);
  Duration down_min = std::chrono::milliseconds(50);
  Duration down_max = std::chrono::seconds(3);
  double stop_probability = 0.3;  // a process exit instead of a power loss
  uint32_t down_at_once_max = 1;  // nodes down at the same time

  bool partition = true;
  Duration partition_every = std::chrono::seconds(5);
  Duration partition_min = std::chrono::milliseconds(100);
  Duration partition_max = std::chrono::seconds(4);
  double one_way_probability = 0.3;
  double isolate_probability = 0.2;

  bool reset = true;
  Duration reset_every = std::chrono::seconds(4);

  bool net_noise = true;  // windows of latency spikes and random resets
  Duration net_noise_every = std::chrono::seconds(8);
  Duration net_noise_max = std::chrono::seconds(2);
  NetFaults net_noise_faults{.reset_probability = 0.002, .spike_probability = 0.02};

  bool disk = true;
  Duration disk_every = std::chrono::seconds(6);
  Duration disk_burst_min = std::chrono::milliseconds(100);
  Duration disk_burst_max = std::chrono::seconds(2);
  DiskFaults disk_faults{.read_error_probability = 0.01,
                         .write_error_probability = 0.01,
                         .sync_error_probability = 0.05,
                         .latent_error_probability = 0.002,
                         .bit_rot_probability = 0.001};
  double disk_full_probability = 0.2;  // a burst also leaves only a little free space
  uint64_t disk_full_free_bytes = 64 * 1024;

  bool clock = true;
  Duration clock_every = std::chrono::seconds(5);
  Duration wall_jump_max = std::chrono::seconds(10);
  int64_t drift_ppm_max = 500;

  bool pause = true;
  Duration pause_every = std::chrono::seconds(8);
  Duration pause_min = std::chrono::milliseconds(10);
  Duration pause_max = std::chrono::seconds(2);

  // No fault starts at or after `end`; at `end` everything heals.
  Duration end = std::chrono::seconds(20);

  // Nothing enabled.
  static FaultOptions None();
  // Draws the enabled kinds and their rates from `rng` (swarm testing).
  static FaultOptions Swarm(Rng& rng, uint32_t nodes);
  // "crash/6s partition/5s ..." for reports.
  std::string Describe() const;
};

struct FaultStats {
  uint64_t crashes = 0;
  uint64_t stops = 0;
  uint64_t restarts = 0;
  uint64_t partitions = 0;
  uint64_t heals = 0;
  uint64_t resets = 0;
  uint64_t net_noise = 0;
  uint64_t disk_bursts = 0;
  uint64_t disk_full = 0;
  uint64_t wall_jumps = 0;
  uint64_t drifts = 0;
  uint64_t pauses = 0;
  std::string Describe() const;
};

class FaultSchedule {
 public:
  FaultSchedule(SimWorld& world, std::vector<NodeId> nodes, FaultOptions options, uint64_t seed);
  FaultSchedule(const FaultSchedule&) = delete;
  FaultSchedule& operator=(const FaultSchedule&) = delete;

  // Schedules the first occurrence of every enabled kind and the final heal at options.end.
  void Start();
  // Crashes and stops never pick these nodes (other faults still do). Call before Start.
  void NeverCrash(std::vector<NodeId> nodes) { never_crashed_ = std::move(nodes); }

  const FaultOptions& options() const { return options_; }
  const FaultStats& stats() const { return stats_; }
  // True once the final heal ran.
  bool healed() const { return healed_; }

 private:
  enum class Kind : uint8_t { kCrash, kPartition, kReset, kNetNoise, kDisk, kClock, kPause };
  Duration Interval(Kind kind) const;
  void ScheduleNext(Kind kind);
  void Fire(Kind kind);
  void Crash();
  void Partition();
  void Reset();
  void NetNoise();
  void Disk();
  void Clock();
  void Pause();
  void HealEverything();
  Duration Between(Duration lo, Duration hi);
  // A random node that is up (0 if none); with `crashable`, only those not in never_crashed_.
  NodeId PickUp(bool crashable = false);

  SimWorld& world_;
  const std::vector<NodeId> nodes_;
  const FaultOptions options_;
  Rng rng_;
  FaultStats stats_;
  bool healed_ = false;
  uint64_t net_noise_epoch_ = 0;
  std::vector<uint64_t> disk_epoch_;       // by node index
  std::vector<uint64_t> capacity_before_;  // by node index
  std::vector<NodeId> never_crashed_;
};

}  // namespace runnel::sim
