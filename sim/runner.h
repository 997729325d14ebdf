// RunSeed: one simulated run from one seed — the world, a workload, a fault schedule, the
// invariant checks — and the replay command that reproduces it. Used by runnel-sim (main.cc) and
// by the tests.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

#include "io/clock.h"
#include "sim/world.h"

namespace runnel::sim {

struct RunOptions {
  uint64_t seed = 1;
  std::string workload = "io";
  bool faults = true;
  // Draws the fault kinds and rates from the seed too (swarm testing).
  bool swarm = false;
  bool buggify = true;
  // Faults run until fault_time; the workload must then finish within quiet_time_max.
  Duration fault_time = std::chrono::seconds(20);
  Duration quiet_time_max = std::chrono::seconds(30);
  uint64_t steps_max = 20'000'000;
  // Receives the event trace (empty: no trace).
  std::function<void(std::string_view)> trace_sink;
};

struct RunResult {
  uint64_t seed = 0;
  bool ok = false;
  std::string failure;  // empty when ok
  uint64_t trace_hash = 0;
  uint64_t steps = 0;
  Duration sim_time{0};
  std::string faults;       // the fault mix
  std::string fault_stats;  // what the schedule injected
  std::string workload_summary;
};

RunResult RunSeed(const RunOptions& options);

// "runnel-sim --seed N [--swarm] ..." with every option that changes the run.
std::string ReplayCommand(const RunOptions& options);

}  // namespace runnel::sim
