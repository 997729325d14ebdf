// A GroupManager on one simulated shard, driven from the test between SimWorld runs, with
// recorders for the answers that arrive through callbacks. Time is the simulator's virtual
// time, so "the session expires at exactly t" is checked to the nanosecond.
#pragma once

#include <gtest/gtest.h>

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "engine/group/group_manager.h"
#include "sim/node.h"
#include "sim/world.h"

namespace runnel::engine::group::testing {

using namespace std::chrono_literals;

inline std::vector<uint8_t> Bytes(std::string_view s) { return {s.begin(), s.end()}; }

// Where a callback's answer lands.
template <typename T>
struct Slot {
  std::shared_ptr<std::optional<T>> value = std::make_shared<std::optional<T>>();
  std::function<void(T)> Callback() {
    return [v = value](T r) {
      ASSERT_FALSE(v->has_value()) << "answered twice";
      *v = std::move(r);
    };
  }
  bool ready() const { return value->has_value(); }
  const T& get() const { return **value; }
  const T* operator->() const { return &**value; }
};

class GroupFixture : public ::testing::Test {
 protected:
  explicit GroupFixture(uint64_t seed = 7) : world_(seed) {
    config_.initial_rebalance_delay = 3000ms;
    config_.session_timeout_min = 1000ms;
    config_.session_timeout_max = 300000ms;
    node_ = world_.AddNode(sim::NodeOptions{});
    manager_ = std::make_unique<GroupManager>(io(), config_, store_);
  }
  ~GroupFixture() override { manager_.reset(); }

  Io& io() { return world_.node(node_).io(0); }
  Instant now() { return io().clock().Now(); }
  void RunFor(Duration d) { world_.RunFor(d); }
  // Lets spawned work (the group store) finish without moving time.
  void Settle() { world_.RunFor(0ns); }

  JoinRequest MakeJoin(std::string group, std::string member,
                       std::vector<std::string> protocols = {"range"}, Duration session = 10s,
                       Duration rebalance = 30s) {
    JoinRequest r;
    r.group_id = std::move(group);
    r.member_id = std::move(member);
    r.client_id = "client";
    r.client_host = "/127.0.0.1";
    r.session_timeout = session;
    r.rebalance_timeout = rebalance;
    r.protocol_type = "consumer";
    for (auto& p : protocols) r.protocols.push_back(ProtocolChoice{p, Bytes("meta-" + p)});
    return r;
  }

  Slot<JoinResult> Join(JoinRequest req) {
    Slot<JoinResult> s;
    manager_->Join(std::move(req), s.Callback());
    return s;
  }

  Slot<SyncResult> Sync(std::string group, std::string member, int32_t generation,
                        std::vector<std::pair<std::string, std::vector<uint8_t>>> a = {}) {
    SyncRequest r;
    r.group_id = std::move(group);
    r.member_id = std::move(member);
    r.generation = generation;
    r.assignments = std::move(a);
    Slot<SyncResult> s;
    manager_->Sync(std::move(r), s.Callback());
    return s;
  }

  GroupError Heartbeat(std::string group, std::string member, int32_t generation,
                       std::optional<std::string> instance = std::nullopt) {
    HeartbeatRequest r;
    r.group_id = std::move(group);
    r.member_id = std::move(member);
    r.generation = generation;
    r.group_instance_id = std::move(instance);
    return manager_->Heartbeat(r);
  }

  // Runs a manager coroutine to completion on the shard.
  template <typename T>
  T Await(Task<T> task) {
    std::optional<T> out;
    io().Spawn([](Task<T> t, std::optional<T>* out) -> Task<void> {
      out->emplace(co_await std::move(t));
    }(std::move(task), &out));
    world_.RunUntil([&] { return out.has_value(); });
    EXPECT_TRUE(out.has_value());
    return std::move(*out);
  }

  // Members joining together: the second one extends the initial delay once.
  Duration TwoDelays() const { return 2 * config_.initial_rebalance_delay; }

  // Two dynamic members joined within the initial delay, leader synced: a Stable generation.
  // Returns {leader id, follower id}.
  std::pair<std::string, std::string> StableOfTwo(const std::string& group) {
    auto a = Join(MakeJoin(group, ""));
    auto b = Join(MakeJoin(group, ""));
    RunFor(TwoDelays());
    EXPECT_TRUE(a.ready() && b.ready());
    if (!a.ready() || !b.ready()) return {};
    const std::string leader = a->leader;
    const std::string follower = a->member_id == leader ? b->member_id : a->member_id;
    auto fs = Sync(group, follower, a->generation);
    auto ls = Sync(group, leader, a->generation,
                   {{leader, Bytes("for-leader")}, {follower, Bytes("for-follower")}});
    Settle();
    EXPECT_TRUE(fs.ready() && ls.ready());
    EXPECT_EQ(manager_->Find(group)->state(), GroupState::kStable);
    return {leader, follower};
  }

  sim::SimWorld world_;
  sim::NodeId node_ = 0;
  GroupConfig config_;
  MemoryGroupStore store_;
  std::unique_ptr<GroupManager> manager_;
};

}  // namespace runnel::engine::group::testing
