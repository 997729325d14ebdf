// runnel-sim: runs simulated workloads under seeded faults and checks their invariants.
//
//   runnel-sim --seed 42                 one run; prints its summary
//   runnel-sim --seeds 1..500            many runs; prints each failure with its replay command
//   runnel-sim --seed 42 --trace         prints every executed event
//   runnel-sim --seed 42 --trace-hash    prints the trace hash (equal across runs of one seed)
//   runnel-sim --replay 42               the same as --seed 42
//   runnel-sim --seeds 1..100 --swarm    also draws the fault mix from each seed
//
// Exits 0 when every run passed, 1 when a run failed, 2 on bad usage.
#include <fmt/format.h>

#include <charconv>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "sim/runner.h"
#include "sim/workload.h"

namespace runnel::sim {
namespace {

constexpr std::string_view kUsage = R"(usage: runnel-sim [options]
  --seed N            run seed N (default 1)
  --replay N          the same as --seed N: reproduces a reported failure exactly
  --seeds A..B        run seeds A to B inclusive; print failures with their replay command
  --swarm             draw the enabled fault kinds and their rates from the seed as well
  --no-faults         run the workload without injected faults
  --no-buggify        disable Buggify sites
  --workload NAME     the workload to run (default io; --list-workloads lists them)
  --trace             print every executed event (one line each) to stdout
  --trace-hash        print the trace hash of each run
  --steps-max N       stop a run after N steps (a failure: nothing finished)
  --time-max S        bound a run to S seconds of simulated time (default 50)
  --fault-time S      inject faults during the first S simulated seconds (default 20)
  --verbose           print a summary line for every run
  --help
)";

bool ParseU64(std::string_view text, uint64_t* out) {
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), *out);
  return ec == std::errc() && ptr == text.data() + text.size();
}

bool ParseSeconds(std::string_view text, Duration* out) {
  char* end = nullptr;
  const std::string s(text);
  const double v = std::strtod(s.c_str(), &end);
  if (end != s.c_str() + s.size() || v < 0) return false;
  *out = Duration(static_cast<int64_t>(v * 1e9));
  return true;
}

int Usage(const std::string& error) {
  std::fprintf(stderr, "runnel-sim: %s\n%.*s", error.c_str(), static_cast<int>(kUsage.size()),
               kUsage.data());
  return 2;
}

int Main(int argc, char** argv) {
  RunOptions options;
  uint64_t first = 1, last = 1;
  bool many = false, print_hash = false, trace = false, verbose = false;
  Duration time_max = options.fault_time + options.quiet_time_max;
  std::vector<std::string> args(argv + 1, argv + argc);
  for (size_t i = 0; i < args.size(); i++) {
    std::string flag = args[i];
    std::string value;
    const size_t eq = flag.find('=');
    const bool inline_value = flag.rfind("--", 0) == 0 && eq != std::string::npos;
    if (inline_value) {
      value = flag.substr(eq + 1);
      flag = flag.substr(0, eq);
    }
    auto next = [&](std::string* out) {
      if (inline_value) {
        *out = value;
        return true;
      }
      if (i + 1 >= args.size()) return false;
      *out = args[++i];
      return true;
    };
    std::string v;
    if (flag == "--help" || flag == "-h") {
      std::fwrite(kUsage.data(), 1, kUsage.size(), stdout);
      return 0;
    } else if (flag == "--seed" || flag == "--replay") {
      if (!next(&v) || !ParseU64(v, &first)) return Usage(flag + " needs a number");
      last = first;
      many = false;
    } else if (flag == "--seeds") {
      const size_t dots = next(&v) ? v.find("..") : std::string::npos;
      if (dots == std::string::npos || !ParseU64(v.substr(0, dots), &first) ||
          !ParseU64(v.substr(dots + 2), &last) || last < first) {
        return Usage("--seeds needs A..B with A <= B");
      }
      many = true;
    } else if (flag == "--swarm") {
      options.swarm = true;
    } else if (flag == "--no-faults") {
      options.faults = false;
    } else if (flag == "--no-buggify") {
      options.buggify = false;
    } else if (flag == "--workload") {
      if (!next(&options.workload)) return Usage("--workload needs a name");
    } else if (flag == "--list-workloads") {
      for (const std::string& name : WorkloadNames()) std::printf("%s\n", name.c_str());
      return 0;
    } else if (flag == "--trace") {
      trace = true;
    } else if (flag == "--trace-hash") {
      print_hash = true;
    } else if (flag == "--steps-max") {
      if (!next(&v) || !ParseU64(v, &options.steps_max)) return Usage("--steps-max needs a number");
    } else if (flag == "--time-max") {
      if (!next(&v) || !ParseSeconds(v, &time_max)) return Usage("--time-max needs seconds");
    } else if (flag == "--fault-time") {
      if (!next(&v) || !ParseSeconds(v, &options.fault_time)) {
        return Usage("--fault-time needs seconds");
      }
    } else if (flag == "--verbose" || flag == "-v") {
      verbose = true;
    } else {
      return Usage("unknown option " + args[i]);
    }
  }
  if (time_max <= options.fault_time) return Usage("--time-max must exceed --fault-time");
  options.quiet_time_max = time_max - options.fault_time;
  if (MakeWorkload(options.workload, 0) == nullptr) {
    return Usage("no workload named '" + options.workload + "'");
  }
  if (trace) {
    options.trace_sink = [](std::string_view line) {
      std::fwrite(line.data(), 1, line.size(), stdout);
      std::fputc('\n', stdout);
    };
  }

  uint64_t failures = 0;
  for (uint64_t seed = first;; seed++) {
    options.seed = seed;
    const RunResult r = RunSeed(options);
    if (print_hash)
      std::printf("seed %llu trace-hash %016llx\n", static_cast<unsigned long long>(seed),
                  static_cast<unsigned long long>(r.trace_hash));
    if (!r.ok) {
      failures++;
      std::printf("seed %llu: FAIL: %s\n  faults: %s\n  injected: %s\n  reproduce with: %s\n",
                  static_cast<unsigned long long>(seed), r.failure.c_str(), r.faults.c_str(),
                  r.fault_stats.c_str(), ReplayCommand(options).c_str());
    } else if (verbose || !many) {
      std::printf(
          "seed %llu: ok, %llu steps, %.1fs simulated\n  faults: %s\n  injected: %s\n  %s\n",
          static_cast<unsigned long long>(seed), static_cast<unsigned long long>(r.steps),
          static_cast<double>(r.sim_time.count()) / 1e9, r.faults.c_str(), r.fault_stats.c_str(),
          r.workload_summary.c_str());
    }
    std::fflush(stdout);
    if (seed == last) break;
  }
  if (many) {
    std::printf("runnel-sim: %llu seeds (%llu..%llu), %llu failed\n",
                static_cast<unsigned long long>(last - first + 1),
                static_cast<unsigned long long>(first), static_cast<unsigned long long>(last),
                static_cast<unsigned long long>(failures));
  }
  return failures == 0 ? 0 : 1;
}

}  // namespace
}  // namespace runnel::sim

int main(int argc, char** argv) { return runnel::sim::Main(argc, argv); }
