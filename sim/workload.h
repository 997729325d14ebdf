// Workload: what a runnel-sim run does on the simulated cluster, and what it checks. The runner
// (runner.h) builds the world from the seed, lets the workload add its nodes and tasks, starts
// the FaultSchedule, runs until the workload is done, then lets it check its invariants.
// Workloads are registered in workloads/workloads.cc; later workloads (a broker cluster with
// Kafka clients) plug in the same way.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "io/status.h"
#include "sim/world.h"

namespace runnel::sim {

struct FaultOptions;

class Workload {
 public:
  virtual ~Workload() = default;
  virtual std::string_view name() const = 0;

  // Adds the workload's nodes (with their boot functions) to `world`. Called once, before the
  // faults start. The workload may keep `world` until the run ends.
  virtual void Setup(SimWorld& world) = 0;
  // The nodes the fault schedule may crash, partition, pause, skew.
  virtual std::vector<NodeId> nodes() const = 0;
  // Nodes among nodes() that are never crashed or stopped (e.g. the clients whose memory is the
  // model); the other faults still reach them.
  virtual std::vector<NodeId> never_crashed() const { return {}; }
  // Adjusts the fault mix (default or swarm-drawn) before the schedule starts, e.g. to leave out
  // faults the system under test does not claim to survive.
  virtual void AdjustFaults(FaultOptions& options) const {}
  // Faults stop and heal at world time `t`; from then on the workload must make progress.
  virtual void SetQuietFrom(Duration t) = 0;
  // The least time after the quiet point this workload needs to finish (its own liveness bound
  // plus its final work); a run gets at least this much whatever --time-max says.
  virtual Duration quiet_time_min() const { return Duration{0}; }
  // True once the workload did what it set out to do after the quiet point (the run stops).
  virtual bool Done() const = 0;
  // Final checks after the run; the world is still there (the workload may run it further).
  // Invariant violations found during the run are reported with SimWorld::Fail instead.
  virtual Status Finish(SimWorld& world) = 0;
  // A one-line account of what happened (for --verbose).
  virtual std::string Summary() const = 0;
};

// The registered workloads, by name ("io", ...).
std::vector<std::string> WorkloadNames();
// Null when no workload has that name. `seed` is the run's seed (for the workload's own draws).
std::unique_ptr<Workload> MakeWorkload(std::string_view name, uint64_t seed);

}  // namespace runnel::sim
