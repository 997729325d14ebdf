// The "sim-seed-N" harnesses: run contract test bodies in a fault-free SimWorld (seeds 1, 2 and
// 3, so three different interleavings and latency draws) on one node. TempDir is a fresh
// directory on the node's SimDisk (created durably); LoopbackHost is the node's address.
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <memory>
#include <string>

#include "sim/node.h"
#include "sim/world.h"
#include "tests/io/harness.h"

namespace runnel::testing {
namespace {

// A body that has not finished within these bounds has hung (virtual time and steps).
constexpr Duration kBodyTimeMax = std::chrono::hours(1);
constexpr uint64_t kBodyStepsMax = 200'000'000;

class SimHarness final : public Harness {
 public:
  explicit SimHarness(uint64_t seed) : seed_(seed), world_(seed) {
    node_ = world_.AddNode(sim::NodeOptions{.shards = 1});
  }

  std::string name() const override { return fmt::format("sim-seed-{}", seed_); }

  void Run(uint32_t shards, std::function<Task<void>(Io&)> body) override {
    // A fresh process with the requested shard count; the disk keeps what earlier runs wrote.
    if (world_.up(node_)) world_.StopNode(node_);
    world_.StartNode(node_, shards);
    bool done = false;
    world_.Spawn(node_, 0,
                 [](std::function<Task<void>(Io&)> body, Io& io, bool* done) -> Task<void> {
                   co_await body(io);
                   *done = true;
                 }(std::move(body), world_.node(node_).io(0), &done));
    const sim::RunStop stop = world_.RunUntil(
        [&] { return done; },
        sim::RunLimits{.steps_max = kBodyStepsMax, .time_max = world_.now() + kBodyTimeMax});
    EXPECT_TRUE(done) << name() << ": the body did not finish (" << sim::RunStopName(stop) << " at "
                      << world_.now().count() << "ns, " << world_.steps() << " steps)";
    // Whatever the body left running (timed-out tasks, acceptors) is destroyed here.
    world_.StopNode(node_);
  }

  std::string TempDir() override {
    const std::string dir = fmt::format("/tmp/runnel-io-{}", ++dirs_);
    Status s = world_.disk(node_).MakeDirsNow(dir);
    EXPECT_TRUE(s.ok()) << s.ToString();
    return dir;
  }

  std::string LoopbackHost() override { return sim::SimWorld::AddressOf(node_); }

 private:
  const uint64_t seed_;
  sim::SimWorld world_;
  sim::NodeId node_ = 0;
  int dirs_ = 0;
};

[[maybe_unused]] const bool kRegistered1 =
    RegisterHarness("sim-seed-1", [] { return std::make_unique<SimHarness>(1); });
[[maybe_unused]] const bool kRegistered2 =
    RegisterHarness("sim-seed-2", [] { return std::make_unique<SimHarness>(2); });
[[maybe_unused]] const bool kRegistered3 =
    RegisterHarness("sim-seed-3", [] { return std::make_unique<SimHarness>(3); });

}  // namespace
}  // namespace runnel::testing
