// The simulated clocks. NodeClock turns world time into one node's monotonic and wall time;
// SimClock is the io Clock one shard sees (the simulated twin of the io_uring shard clock).
#pragma once

#include <cstdint>
#include <functional>

#include "io/clock.h"
#include "io/shards.h"

namespace runnel::sim {

class SimNode;

// Wall time of world time 0: 2024-01-01T00:00:00Z.
inline constexpr int64_t kWallEpochNs = 1'704'067'200'000'000'000;
// A world time that is never reached (timers past it never fire).
inline constexpr int64_t kNeverNs = INT64_MAX / 4;

// One node's clocks as functions of world time:
//   mono(t) = anchor_mono + (t - anchor_world) * (1e6 + drift_ppm) / 1e6
//   wall(t) = mono(t) + wall_minus_mono
// Invariant: mono never decreases while the node is up (drift changes re-anchor at the current
// time; |drift_ppm| < 1e5). The wall clock may jump either way. Owned by its SimNode.
class NodeClock {
 public:
  NodeClock(int64_t mono_origin_ns, int64_t wall_minus_mono_ns);

  int64_t Mono(int64_t world_ns) const;
  int64_t Wall(int64_t world_ns) const { return Mono(world_ns) + wall_minus_mono_ns_; }
  // The earliest world time >= now_world_ns at which Mono reaches mono_ns (kNeverNs if that is
  // beyond any reachable time).
  int64_t WorldWhen(int64_t mono_ns, int64_t now_world_ns) const;

  void SetDrift(int64_t ppm, int64_t now_world_ns);
  int64_t drift_ppm() const { return drift_ppm_; }
  void JumpWall(int64_t delta_ns) { wall_minus_mono_ns_ += delta_ns; }
  // Makes wall(now) = kWallEpochNs + now + offset.
  void SetWallOffset(int64_t offset_ns, int64_t now_world_ns);
  // A reboot: monotonic restarts at `mono_origin_ns`; the wall clock continues where it was.
  void Reboot(int64_t mono_origin_ns, int64_t now_world_ns);

 private:
  int64_t anchor_world_ns_ = 0;
  int64_t anchor_mono_ns_ = 0;
  int64_t drift_ppm_ = 0;
  int64_t wall_minus_mono_ns_ = 0;
};

// The Clock of one simulated shard. Timers are world events on this shard; a node that goes
// down drops them. Owned by its SimShard.
class SimClock final : public Clock {
 public:
  SimClock(SimNode& node, ShardId shard) : node_(node), shard_(shard) {}

  Instant Now() override;
  WallTime Wall() override;
  TimerId StartTimer(Instant deadline, std::function<void()> fire) override;
  bool CancelTimer(TimerId id) override;

 private:
  void Arm(TimerId id, int64_t deadline_mono_ns, std::function<void()> fire);

  SimNode& node_;
  const ShardId shard_;
};

}  // namespace runnel::sim
