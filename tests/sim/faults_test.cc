// FaultSchedule: each enabled kind is injected, disabled kinds are not, swarm mixes differ by
// seed, and at the end everything is healed.
#include "sim/faults.h"

#include <gtest/gtest.h>

#include <set>
#include <string>

#include "sim/node.h"
#include "sim/world.h"

namespace runnel::sim {
namespace {

using namespace std::chrono_literals;

struct Cluster {
  SimWorld world;
  std::vector<NodeId> nodes;
  explicit Cluster(uint64_t seed, int n = 4) : world(seed) {
    for (int i = 0; i < n; i++) nodes.push_back(world.AddNode(NodeOptions{.shards = 2}));
  }
};

FaultOptions Busy() {
  FaultOptions o;
  o.crash_every = o.partition_every = o.reset_every = o.net_noise_every = o.disk_every =
      o.clock_every = o.pause_every = 500ms;
  o.down_at_once_max = 2;
  o.end = 30s;
  return o;
}

TEST(FaultSchedule, InjectsEveryEnabledKindThenHealsEverything) {
  Cluster c(1);
  std::vector<uint64_t> downs(5, 0);
  c.world.OnNodeDown([&](NodeId n, DownKind) { downs[n]++; });
  FaultSchedule faults(c.world, c.nodes, Busy(), 77);
  faults.Start();
  bool saw_partition = false, saw_disk_faults = false, saw_down = false;
  for (int i = 0; i < 290; i++) {
    c.world.RunFor(100ms);
    saw_partition |= c.world.network().partitioned();
    for (NodeId n : c.nodes) {
      saw_disk_faults |= c.world.disk(n).faults().any();
      saw_down |= !c.world.up(n);
    }
  }
  const FaultStats& s = faults.stats();
  EXPECT_GT(s.crashes, 0u);
  EXPECT_GT(s.stops, 0u);
  EXPECT_GT(s.restarts, 0u);
  EXPECT_GT(s.partitions, 0u);
  EXPECT_GT(s.heals, 0u);
  EXPECT_GT(s.resets, 0u);
  EXPECT_GT(s.net_noise, 0u);
  EXPECT_GT(s.disk_bursts, 0u);
  EXPECT_GT(s.wall_jumps + s.drifts, 0u);
  EXPECT_GT(s.pauses, 0u);
  EXPECT_TRUE(saw_partition && saw_disk_faults && saw_down);
  c.world.RunFor(2s);  // past the end
  EXPECT_TRUE(faults.healed());
  EXPECT_FALSE(c.world.network().partitioned());
  EXPECT_FALSE(c.world.network().options().faults.any());
  for (NodeId n : c.nodes) {
    EXPECT_TRUE(c.world.up(n)) << n;
    EXPECT_FALSE(c.world.disk(n).faults().any()) << n;
    EXPECT_EQ(c.world.disk(n).options().capacity_bytes, DiskOptions{}.capacity_bytes);
  }
  // Nothing new after the end (heals of earlier partitions may still come due).
  auto started = [](const FaultStats& f) {
    return f.crashes + f.stops + f.partitions + f.resets + f.net_noise + f.disk_bursts +
           f.wall_jumps + f.drifts + f.pauses;
  };
  const uint64_t before = started(s);
  c.world.RunFor(30s);
  EXPECT_EQ(started(faults.stats()), before);
}

TEST(FaultSchedule, NeverTakesDownMoreNodesThanAllowed) {
  Cluster c(2, 5);
  FaultOptions o = FaultOptions::None();
  o.crash = true;
  o.crash_every = 100ms;
  o.down_min = 1s;
  o.down_max = 3s;
  o.down_at_once_max = 2;
  o.end = 20s;
  FaultSchedule faults(c.world, c.nodes, o, 5);
  faults.Start();
  uint32_t most_down = 0;
  for (int i = 0; i < 200; i++) {
    c.world.RunFor(100ms);
    uint32_t down = 0;
    for (NodeId n : c.nodes) down += c.world.up(n) ? 0 : 1;
    most_down = std::max(most_down, down);
  }
  EXPECT_EQ(most_down, 2u);
  EXPECT_EQ(faults.stats().partitions + faults.stats().disk_bursts + faults.stats().pauses, 0u);
}

TEST(FaultSchedule, NoneInjectsNothing) {
  Cluster c(3);
  FaultOptions o = FaultOptions::None();
  o.end = 10s;
  FaultSchedule faults(c.world, c.nodes, o, 1);
  faults.Start();
  c.world.RunFor(20s);
  EXPECT_EQ(faults.stats().Describe(), FaultStats{}.Describe());
  EXPECT_EQ(o.Describe(), "none");
}

TEST(FaultSchedule, SwarmDrawsDifferentMixesPerSeed) {
  std::set<std::string> mixes;
  std::set<std::string> kinds_seen;
  for (uint64_t seed = 1; seed <= 30; seed++) {
    Rng rng(seed);
    FaultOptions o = FaultOptions::Swarm(rng, 4);
    mixes.insert(o.Describe());
    EXPECT_GE(o.down_at_once_max, 1u);
    EXPECT_LE(o.down_at_once_max, 3u);
    if (o.crash) kinds_seen.insert("crash");
    if (!o.crash) kinds_seen.insert("no-crash");
    if (o.disk) kinds_seen.insert("disk");
    if (!o.disk) kinds_seen.insert("no-disk");
  }
  EXPECT_GE(mixes.size(), 28u);
  EXPECT_EQ(kinds_seen.size(), 4u);
}

}  // namespace
}  // namespace runnel::sim
