// The broker workload (a runnel node and Kafka clients on the simulator): a run under the default
// faults passes and does real work, one seed replays exactly, and different seeds explore
// different runs. (determinism_test.cc checks two runnel-sim processes agree.)
#include <gtest/gtest.h>

#include <set>
#include <string>
#include <utility>

#include "sim/runner.h"
#include "tests/sim/sim_test_util.h"

namespace runnel::sim {
namespace {

using testing::Count;

RunOptions Broker(uint64_t seed, bool swarm) {
  RunOptions o;
  o.seed = seed;
  o.workload = "broker";
  o.swarm = swarm;
  return o;
}

TEST(BrokerWorkload, ARunUnderFaultsPassesAndDoesWork) {
  const RunResult r = RunSeed(Broker(8, false));
  ASSERT_TRUE(r.ok) << r.failure;
  EXPECT_GT(Count(r.fault_stats, "crashes") + Count(r.fault_stats, "stops"), 0) << r.fault_stats;
  EXPECT_GT(Count(r.workload_summary, "acked"), 500) << r.workload_summary;
  EXPECT_GT(Count(r.workload_summary, "records_fetched"), 1000);
  EXPECT_GT(Count(r.workload_summary, "broker_boots"), 1);
  EXPECT_GT(Count(r.workload_summary, "retries"), 0);
}

// Seeds that found broker/engine bugs (sim/README.md): the data dir's name not durable (4), a
// duplicate acknowledged before its original was durable (337), a partition directory whose
// creation a process exit interrupted (swarm 1042).
TEST(BrokerWorkload, SeedsThatFoundBugsPass) {
  for (const auto& [seed, swarm] :
       {std::pair<uint64_t, bool>{4, false}, {337, false}, {1042, true}}) {
    const RunResult r = RunSeed(Broker(seed, swarm));
    EXPECT_TRUE(r.ok) << "seed " << seed << ": " << r.failure;
  }
}

TEST(BrokerWorkload, WithoutFaultsNothingIsRetried) {
  RunOptions o = Broker(3, false);
  o.faults = false;
  const RunResult r = RunSeed(o);
  ASSERT_TRUE(r.ok) << r.failure;
  EXPECT_EQ(Count(r.workload_summary, "retries"), 0) << r.workload_summary;
  EXPECT_EQ(Count(r.workload_summary, "may_duplicate"), 0);
  EXPECT_EQ(Count(r.workload_summary, "sent"), Count(r.workload_summary, "acked"));
}

TEST(BrokerWorkload, SameSeedSameRun) {
  for (bool swarm : {false, true}) {
    for (uint64_t seed : {5u, 77u}) {
      std::vector<std::string> trace_a, trace_b;
      RunOptions a = Broker(seed, swarm);
      a.trace_sink = [&](std::string_view l) { trace_a.emplace_back(l); };
      RunOptions b = Broker(seed, swarm);
      b.trace_sink = [&](std::string_view l) { trace_b.emplace_back(l); };
      const RunResult ra = RunSeed(a);
      const RunResult rb = RunSeed(b);
      EXPECT_TRUE(ra.ok) << ra.failure;
      EXPECT_EQ(ra.trace_hash, rb.trace_hash) << "seed " << seed;
      EXPECT_EQ(ra.workload_summary, rb.workload_summary);
      EXPECT_GT(trace_a.size(), 10000u);
      EXPECT_TRUE(trace_a == trace_b) << "seed " << seed << ": traces differ";
      EXPECT_EQ(RunSeed(Broker(seed, swarm)).trace_hash, ra.trace_hash);  // untraced too
    }
  }
}

TEST(BrokerWorkload, DifferentSeedsGiveDifferentRuns) {
  std::set<uint64_t> hashes;
  for (uint64_t seed = 1; seed <= 10; seed++)
    hashes.insert(RunSeed(Broker(seed, false)).trace_hash);
  EXPECT_EQ(hashes.size(), 10u);
}

}  // namespace
}  // namespace runnel::sim
