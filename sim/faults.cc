#include "sim/faults.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>

#include "sim/node.h"

namespace runnel::sim {
namespace {

std::string Seconds(Duration d) {
  return fmt::format("{:.1f}s", static_cast<double>(d.count()) / 1e9);
}

// Log-uniform in [lo, hi]: rates spread over orders of magnitude.
Duration LogUniform(Rng& rng, Duration lo, Duration hi) {
  const double a = std::log(static_cast<double>(lo.count()));
  const double b = std::log(static_cast<double>(hi.count()));
  return Duration(static_cast<int64_t>(std::exp(a + (b - a) * rng.Real())));
}

}  // namespace

FaultOptions FaultOptions::None() {
  FaultOptions o;
  o.crash = o.partition = o.reset = o.net_noise = o.disk = o.clock = o.pause = false;
  return o;
}

FaultOptions FaultOptions::Swarm(Rng& rng, uint32_t nodes) {
  using std::chrono::milliseconds;
  using std::chrono::seconds;
  FaultOptions o;
  auto kind = [&rng](bool* enabled, Duration* every) {
    *enabled = rng.Chance(0.5);
    *every = LogUniform(rng, milliseconds(300), seconds(20));
  };
  kind(&o.crash, &o.crash_every);
  kind(&o.partition, &o.partition_every);
  kind(&o.reset, &o.reset_every);
  kind(&o.net_noise, &o.net_noise_every);
  kind(&o.disk, &o.disk_every);
  kind(&o.clock, &o.clock_every);
  kind(&o.pause, &o.pause_every);
  o.stop_probability = rng.Real();
  o.down_at_once_max = nodes <= 1 ? 1 : static_cast<uint32_t>(1 + rng.Uniform(nodes - 1));
  o.down_max = LogUniform(rng, milliseconds(100), seconds(6));
  o.partition_max = LogUniform(rng, milliseconds(200), seconds(8));
  o.one_way_probability = rng.Real() * 0.6;
  o.isolate_probability = rng.Real() * 0.5;
  o.net_noise_faults.reset_probability = rng.Real() * 0.01;
  o.net_noise_faults.spike_probability = rng.Real() * 0.1;
  const double scale = std::exp(std::log(0.1) + std::log(30.0) * rng.Real());  // 0.1x .. 3x
  o.disk_faults.read_error_probability *= scale;
  o.disk_faults.write_error_probability *= scale;
  o.disk_faults.sync_error_probability *= scale;
  o.disk_faults.latent_error_probability *= scale;
  o.disk_faults.bit_rot_probability *= scale;
  o.disk_full_probability = rng.Real() * 0.5;
  o.wall_jump_max = LogUniform(rng, milliseconds(10), seconds(60));
  o.drift_ppm_max = rng.Range(0, 5000);
  o.pause_max = LogUniform(rng, milliseconds(20), seconds(4));
  return o;
}

std::string FaultOptions::Describe() const {
  std::string out;
  auto add = [&out](bool on, const char* name, Duration every) {
    if (!on) return;
    if (!out.empty()) out += " ";
    out += fmt::format("{}/{}", name, Seconds(every));
  };
  add(crash, "crash", crash_every);
  add(partition, "partition", partition_every);
  add(reset, "reset", reset_every);
  add(net_noise, "net-noise", net_noise_every);
  add(disk, "disk", disk_every);
  add(clock, "clock", clock_every);
  add(pause, "pause", pause_every);
  return out.empty() ? "none" : out + " until " + Seconds(end);
}

std::string FaultStats::Describe() const {
  return fmt::format(
      "crashes={} stops={} restarts={} partitions={} heals={} resets={} net_noise={} "
      "disk_bursts={} disk_full={} wall_jumps={} drifts={} pauses={}",
      crashes, stops, restarts, partitions, heals, resets, net_noise, disk_bursts, disk_full,
      wall_jumps, drifts, pauses);
}

FaultSchedule::FaultSchedule(SimWorld& world, std::vector<NodeId> nodes, FaultOptions options,
                             uint64_t seed)
    : world_(world),
      nodes_(std::move(nodes)),
      options_(options),
      rng_(seed),
      disk_epoch_(nodes_.size(), 0),
      capacity_before_(nodes_.size(), 0) {
  for (size_t i = 0; i < nodes_.size(); i++) {
    capacity_before_[i] = world_.disk(nodes_[i]).options().capacity_bytes;
  }
}

void FaultSchedule::Start() {
  const std::pair<bool, Kind> kinds[] = {
      {options_.crash, Kind::kCrash}, {options_.partition, Kind::kPartition},
      {options_.reset, Kind::kReset}, {options_.net_noise, Kind::kNetNoise},
      {options_.disk, Kind::kDisk},   {options_.clock, Kind::kClock},
      {options_.pause, Kind::kPause},
  };
  for (const auto& [enabled, kind] : kinds) {
    if (enabled && !nodes_.empty()) ScheduleNext(kind);
  }
  world_.At(std::max(options_.end, world_.now()), [this] { HealEverything(); });
}

Duration FaultSchedule::Interval(Kind kind) const {
  switch (kind) {
    case Kind::kCrash:
      return options_.crash_every;
    case Kind::kPartition:
      return options_.partition_every;
    case Kind::kReset:
      return options_.reset_every;
    case Kind::kNetNoise:
      return options_.net_noise_every;
    case Kind::kDisk:
      return options_.disk_every;
    case Kind::kClock:
      return options_.clock_every;
    case Kind::kPause:
      return options_.pause_every;
  }
  return std::chrono::seconds(1);
}

void FaultSchedule::ScheduleNext(Kind kind) {
  // Exponential inter-arrival times (a Poisson process per kind).
  const double mean = static_cast<double>(Interval(kind).count());
  const double wait = -mean * std::log(1.0 - rng_.Real());
  const Duration at = world_.now() + Duration(static_cast<int64_t>(std::min(wait, 1e15)));
  if (at >= options_.end) return;
  world_.At(at, [this, kind] { Fire(kind); });
}

void FaultSchedule::Fire(Kind kind) {
  if (healed_ || world_.now() >= options_.end) return;
  switch (kind) {
    case Kind::kCrash:
      Crash();
      break;
    case Kind::kPartition:
      Partition();
      break;
    case Kind::kReset:
      Reset();
      break;
    case Kind::kNetNoise:
      NetNoise();
      break;
    case Kind::kDisk:
      Disk();
      break;
    case Kind::kClock:
      Clock();
      break;
    case Kind::kPause:
      Pause();
      break;
  }
  ScheduleNext(kind);
}

Duration FaultSchedule::Between(Duration lo, Duration hi) {
  return Duration(rng_.Range(lo.count(), std::max(lo, hi).count()));
}

NodeId FaultSchedule::PickUp(bool crashable) {
  std::vector<NodeId> up;
  for (NodeId n : nodes_) {
    const bool spared = crashable && std::find(never_crashed_.begin(), never_crashed_.end(), n) !=
                                         never_crashed_.end();
    if (world_.up(n) && !spared) up.push_back(n);
  }
  return up.empty() ? 0 : up[rng_.Uniform(up.size())];
}

void FaultSchedule::Crash() {
  uint32_t down = 0;
  for (NodeId n : nodes_) down += world_.up(n) ? 0 : 1;
  if (down >= options_.down_at_once_max) return;
  const NodeId n = PickUp(/*crashable=*/true);
  if (n == 0) return;
  if (rng_.Chance(options_.stop_probability)) {
    stats_.stops++;
    world_.StopNode(n);
  } else {
    stats_.crashes++;
    world_.CrashNode(n);
  }
  world_.After(Between(options_.down_min, options_.down_max), [this, n] {
    if (world_.up(n)) return;
    stats_.restarts++;
    world_.StartNode(n);
  });
}

void FaultSchedule::Partition() {
  if (nodes_.size() < 2) return;
  const NodeId a = nodes_[rng_.Uniform(nodes_.size())];
  const Duration lasts = Between(options_.partition_min, options_.partition_max);
  stats_.partitions++;
  if (rng_.Chance(options_.isolate_probability)) {
    for (NodeId b : nodes_) {
      if (b != a) world_.network().Partition(a, b);
    }
    world_.After(lasts, [this, a] {
      stats_.heals++;
      for (NodeId b : nodes_) {
        if (b != a) world_.network().Heal(a, b);
      }
    });
    return;
  }
  NodeId b = a;
  while (b == a) b = nodes_[rng_.Uniform(nodes_.size())];
  world_.network().Partition(a, b, rng_.Chance(options_.one_way_probability));
  world_.After(lasts, [this, a, b] {
    stats_.heals++;
    world_.network().Heal(a, b);
  });
}

void FaultSchedule::Reset() {
  const NodeId a = nodes_[rng_.Uniform(nodes_.size())];
  const NodeId b = rng_.Chance(0.5) ? 0 : nodes_[rng_.Uniform(nodes_.size())];
  stats_.resets++;
  world_.network().ResetConnections(a, b == a ? 0 : b);
}

void FaultSchedule::NetNoise() {
  stats_.net_noise++;
  world_.TraceNote("network noise on");
  world_.network().SetFaults(options_.net_noise_faults);
  const uint64_t epoch = ++net_noise_epoch_;
  world_.After(Between(Duration(0), options_.net_noise_max), [this, epoch] {
    if (epoch != net_noise_epoch_) return;
    world_.TraceNote("network noise off");
    world_.network().SetFaults(NetFaults{});
  });
}

void FaultSchedule::Disk() {
  const size_t i = rng_.Uniform(nodes_.size());
  const NodeId n = nodes_[i];
  SimDisk& disk = world_.disk(n);
  stats_.disk_bursts++;
  world_.TraceNote(fmt::format("disk faults on node {}", n));
  disk.SetFaults(options_.disk_faults);
  if (rng_.Chance(options_.disk_full_probability)) {
    stats_.disk_full++;
    disk.SetCapacity(disk.used_bytes() + options_.disk_full_free_bytes);
  }
  const uint64_t epoch = ++disk_epoch_[i];
  world_.After(Between(options_.disk_burst_min, options_.disk_burst_max), [this, i, epoch] {
    if (epoch != disk_epoch_[i]) return;
    world_.TraceNote(fmt::format("disk faults off on node {}", nodes_[i]));
    SimDisk& d = world_.disk(nodes_[i]);
    d.SetFaults(DiskFaults{});
    d.SetCapacity(capacity_before_[i]);
  });
}

void FaultSchedule::Clock() {
  const NodeId n = nodes_[rng_.Uniform(nodes_.size())];
  if (!world_.up(n)) return;
  if (rng_.Chance(0.5)) {
    stats_.wall_jumps++;
    const int64_t max = options_.wall_jump_max.count();
    world_.JumpWall(n, Duration(rng_.Range(-max, max)));
  } else {
    stats_.drifts++;
    world_.SetClockDrift(n, rng_.Range(-options_.drift_ppm_max, options_.drift_ppm_max));
  }
}

void FaultSchedule::Pause() {
  const NodeId n = PickUp();
  if (n == 0) return;
  stats_.pauses++;
  world_.PauseNode(n, Between(options_.pause_min, options_.pause_max));
}

void FaultSchedule::HealEverything() {
  healed_ = true;
  world_.TraceNote("faults end: heal everything");
  world_.network().HealAll();
  world_.network().SetFaults(NetFaults{});
  net_noise_epoch_++;
  for (size_t i = 0; i < nodes_.size(); i++) {
    disk_epoch_[i]++;
    SimDisk& d = world_.disk(nodes_[i]);
    d.SetFaults(DiskFaults{});
    d.SetCapacity(capacity_before_[i]);
    if (!world_.up(nodes_[i])) {
      stats_.restarts++;
      world_.StartNode(nodes_[i]);
    }
  }
}

}  // namespace runnel::sim
