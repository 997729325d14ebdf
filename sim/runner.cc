#include "sim/runner.h"

#include <fmt/format.h>

#include <algorithm>

#include "sim/faults.h"
#include "sim/workload.h"

namespace runnel::sim {

RunResult RunSeed(const RunOptions& options) {
  RunResult result;
  result.seed = options.seed;
  std::unique_ptr<Workload> workload = MakeWorkload(options.workload, options.seed);
  if (workload == nullptr) {
    result.failure = fmt::format("no workload named '{}'", options.workload);
    return result;
  }
  WorldOptions world_options;
  world_options.buggify.enabled = options.buggify;
  // The workload outlives the world: frames destroyed with the world may refer to it.
  SimWorld world(options.seed, world_options);
  if (options.trace_sink) world.SetTraceSink(options.trace_sink);
  workload->Setup(world);

  FaultOptions fault_options = FaultOptions::None();
  if (options.faults) {
    Rng swarm_rng(world.DeriveSeed("swarm"));
    fault_options = options.swarm ? FaultOptions::Swarm(
                                        swarm_rng, static_cast<uint32_t>(workload->nodes().size()))
                                  : FaultOptions{};
  }
  if (options.faults) workload->AdjustFaults(fault_options);
  fault_options.end = options.fault_time;
  result.faults = fault_options.Describe();
  FaultSchedule faults(world, workload->nodes(), fault_options, world.DeriveSeed("faults"));
  faults.NeverCrash(workload->never_crashed());
  faults.Start();
  workload->SetQuietFrom(options.fault_time);

  const Duration quiet_time_max = std::max(options.quiet_time_max, workload->quiet_time_min());
  const RunStop stop = world.RunUntil(
      [&] { return workload->Done(); },
      RunLimits{.steps_max = options.steps_max, .time_max = options.fault_time + quiet_time_max});
  if (world.failed()) {
    result.failure = world.failure();
  } else if (stop != RunStop::kPredicate) {
    result.failure = fmt::format(
        "liveness: the workload did not finish within {}s of the faults healing ({} at {}ns "
        "after {} steps)",
        std::chrono::duration_cast<std::chrono::seconds>(quiet_time_max).count(), RunStopName(stop),
        world.now_ns(), world.steps());
  } else {
    Status s = workload->Finish(world);
    if (!s.ok()) result.failure = s.ToString();
  }
  result.ok = result.failure.empty();
  result.trace_hash = world.trace_hash();
  result.steps = world.steps();
  result.sim_time = world.now();
  result.fault_stats = faults.stats().Describe();
  result.workload_summary = workload->Summary();
  return result;
}

std::string ReplayCommand(const RunOptions& options) {
  std::string cmd = fmt::format("runnel-sim --seed {}", options.seed);
  if (options.workload != "io") cmd += " --workload " + options.workload;
  if (options.swarm) cmd += " --swarm";
  if (!options.faults) cmd += " --no-faults";
  if (!options.buggify) cmd += " --no-buggify";
  const RunOptions defaults;
  if (options.steps_max != defaults.steps_max)
    cmd += fmt::format(" --steps-max {}", options.steps_max);
  if (options.fault_time != defaults.fault_time) {
    cmd += fmt::format(" --fault-time {}", options.fault_time.count() / 1'000'000'000.0);
  }
  if (options.quiet_time_max != defaults.quiet_time_max) {
    cmd += fmt::format(" --time-max {}",
                       (options.fault_time + options.quiet_time_max).count() / 1'000'000'000.0);
  }
  return cmd;
}

}  // namespace runnel::sim
