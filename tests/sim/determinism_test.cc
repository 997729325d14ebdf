// Determinism of whole runs: one seed replays exactly (in this process and in two runnel-sim
// processes), and different seeds explore different executions.
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <cstdio>
#include <set>
#include <string>

#include "sim/runner.h"

namespace runnel::sim {
namespace {

using namespace std::chrono_literals;

RunOptions Short(uint64_t seed, bool swarm) {
  RunOptions o;
  o.seed = seed;
  o.swarm = swarm;
  o.fault_time = 4s;
  o.quiet_time_max = 30s;
  return o;
}

TEST(Determinism, SameSeedSameRunInProcess) {
  for (bool swarm : {false, true}) {
    for (uint64_t seed : {1u, 9u, 1234u}) {
      std::vector<std::string> trace_a, trace_b;
      RunOptions a = Short(seed, swarm);
      a.trace_sink = [&](std::string_view l) { trace_a.emplace_back(l); };
      RunOptions b = Short(seed, swarm);
      b.trace_sink = [&](std::string_view l) { trace_b.emplace_back(l); };
      const RunResult ra = RunSeed(a);
      const RunResult rb = RunSeed(b);
      EXPECT_TRUE(ra.ok) << ra.failure;
      EXPECT_EQ(ra.trace_hash, rb.trace_hash) << "seed " << seed;
      EXPECT_EQ(ra.steps, rb.steps);
      EXPECT_EQ(ra.workload_summary, rb.workload_summary);
      EXPECT_GT(trace_a.size(), 1000u);
      EXPECT_TRUE(trace_a == trace_b) << "seed " << seed << ": traces differ";
      // Tracing does not change the run.
      EXPECT_EQ(RunSeed(Short(seed, swarm)).trace_hash, ra.trace_hash);
    }
  }
}

TEST(Determinism, DifferentSeedsGiveDifferentRuns) {
  std::set<uint64_t> hashes;
  for (uint64_t seed = 1; seed <= 50; seed++) {
    const RunResult r = RunSeed(Short(seed, false));
    EXPECT_TRUE(r.ok) << "seed " << seed << ": " << r.failure;
    hashes.insert(r.trace_hash);
  }
  EXPECT_GE(hashes.size(), 48u);
}

std::string RunSim(const std::string& args) {
  const std::string cmd = std::string(RUNNEL_SIM_BINARY) + " " + args + " 2>&1";
  FILE* p = popen(cmd.c_str(), "r");
  EXPECT_NE(p, nullptr) << cmd;
  if (p == nullptr) return "";
  std::string out;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof(buf), p)) > 0) out.append(buf, n);
  const int status = pclose(p);
  EXPECT_EQ(status, 0) << cmd << "\n" << out;
  return out;
}

// The line runnel-sim --trace-hash prints for the in-process run of `o`.
std::string HashLine(const RunOptions& o) {
  return fmt::format("seed {} trace-hash {:016x}", o.seed, RunSeed(o).trace_hash);
}

TEST(Determinism, RunnelSimPrintsTheSameHashInTwoProcesses) {
  const std::string a = RunSim("--seeds 3..6 --trace-hash");
  const std::string b = RunSim("--seeds 3..6 --trace-hash");
  EXPECT_NE(a.find("seed 3 trace-hash "), std::string::npos) << a;
  EXPECT_NE(a.find("seed 6 trace-hash "), std::string::npos) << a;
  EXPECT_EQ(a, b);
  const std::string swarm_a = RunSim("--seed 11 --swarm --trace-hash");
  const std::string swarm_b = RunSim("--replay 11 --swarm --trace-hash");
  EXPECT_EQ(swarm_a, swarm_b);
  // The process agrees with the in-process run.
  RunOptions o;
  o.seed = 11;
  o.swarm = true;
  EXPECT_NE(swarm_a.find(HashLine(o)), std::string::npos) << swarm_a;
}

// Seeds 11..13 and swarm seed 21 of `workload` in two processes print the same hashes, and
// seed 12 the hash of the in-process run.
void ExpectWorkloadHashesAgree(const std::string& workload) {
  const std::string seeds = fmt::format("--workload {} --seeds 11..13 --trace-hash", workload);
  const std::string a = RunSim(seeds);
  const std::string b = RunSim(seeds);
  EXPECT_NE(a.find("seed 13 trace-hash "), std::string::npos) << a;
  EXPECT_EQ(a, b);
  const std::string swarm_a =
      RunSim(fmt::format("--workload {} --seed 21 --swarm --trace-hash", workload));
  const std::string swarm_b =
      RunSim(fmt::format("--workload {} --replay 21 --swarm --trace-hash", workload));
  EXPECT_EQ(swarm_a, swarm_b);
  RunOptions o;
  o.seed = 12;
  o.workload = workload;
  EXPECT_NE(a.find(HashLine(o)), std::string::npos) << a;
}

TEST(Determinism, BrokerWorkloadPrintsTheSameHashInTwoProcesses) {
  ExpectWorkloadHashesAgree("broker");
}

TEST(Determinism, GroupWorkloadPrintsTheSameHashInTwoProcesses) {
  ExpectWorkloadHashesAgree("group");
}

TEST(Determinism, RunnelSimTraceIsIdenticalAcrossProcesses) {
  const std::string a = RunSim("--seed 5 --trace --fault-time 3 --time-max 30");
  const std::string b = RunSim("--seed 5 --trace --fault-time 3 --time-max 30");
  EXPECT_GT(a.size(), 10000u);
  EXPECT_EQ(a, b);
}

}  // namespace
}  // namespace runnel::sim
