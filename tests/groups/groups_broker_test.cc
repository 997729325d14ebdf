// The group APIs end to end on the simulator: a 2-shard broker (tests/broker/broker_sim.h) and
// a client speaking the wire protocol. Groups coordinated by either shard (requests are
// forwarded to the coordinator shard), KIP-394 joins, sync, heartbeat, commits with metadata,
// multi-group OffsetFetch, ListGroups with a state filter, DescribeGroups, LeaveGroup,
// DeleteGroups, and a restart that replays __consumer_offsets.
#include <gtest/gtest.h>

#include "broker/handlers/groups.h"
#include "broker/protocol/gen/delete_groups_request.h"
#include "broker/protocol/gen/delete_groups_response.h"
#include "broker/protocol/gen/describe_groups_request.h"
#include "broker/protocol/gen/describe_groups_response.h"
#include "broker/protocol/gen/find_coordinator_request.h"
#include "broker/protocol/gen/find_coordinator_response.h"
#include "broker/protocol/gen/heartbeat_request.h"
#include "broker/protocol/gen/heartbeat_response.h"
#include "broker/protocol/gen/join_group_request.h"
#include "broker/protocol/gen/join_group_response.h"
#include "broker/protocol/gen/leave_group_request.h"
#include "broker/protocol/gen/leave_group_response.h"
#include "broker/protocol/gen/list_groups_request.h"
#include "broker/protocol/gen/list_groups_response.h"
#include "broker/protocol/gen/offset_commit_request.h"
#include "broker/protocol/gen/offset_commit_response.h"
#include "broker/protocol/gen/offset_fetch_request.h"
#include "broker/protocol/gen/offset_fetch_response.h"
#include "broker/protocol/gen/sync_group_request.h"
#include "broker/protocol/gen/sync_group_response.h"
#include "tests/broker/broker_sim.h"

namespace runnel::broker {
namespace {

using namespace protocol;  // NOLINT: test brevity

constexpr int32_t kOffsetsPartitions = 4;

template <typename Resp, typename Req>
Task<Result<Resp>> Call(Socket& s, int16_t version, Req req, int32_t correlation_id) {
  RUNNEL_CO_TRY(co_await SendRequest(s, version, req, correlation_id));
  RUNNEL_CO_ASSIGN_OR_RETURN(DecodedResponse<Resp> r,
                             co_await ReadDecoded<Resp>(s, version, correlation_id));
  co_return std::move(r.body);
}

Task<Result<std::unique_ptr<Socket>>> Connect(Io& io, Address addr) {
  for (int i = 0; i < 100; i++) {
    Result<std::unique_ptr<Socket>> s = co_await io.net().Connect(addr);
    if (s.ok()) co_return s;
    co_await io.Sleep(std::chrono::milliseconds(10));
  }
  co_return Status::Refused("broker never accepted");
}

JoinGroupRequest Join(std::string group, std::string member) {
  JoinGroupRequest j;
  j.group_id = std::move(group);
  j.member_id = std::move(member);
  j.session_timeout_ms = 10000;
  j.rebalance_timeout_ms = 20000;
  j.protocol_type = "consumer";
  JoinGroupRequest::JoinGroupRequestProtocol p;
  p.name = "range";
  p.metadata = {1, 2, 3};
  j.protocols.push_back(std::move(p));
  return j;
}

OffsetCommitRequest Commit(std::string group, std::string member, int32_t generation,
                           int64_t offset) {
  OffsetCommitRequest c;
  c.group_id = std::move(group);
  c.member_id = std::move(member);
  c.generation_id_or_member_epoch = generation;
  OffsetCommitRequest::OffsetCommitRequestTopic t;
  t.name = "orders";
  for (int32_t p = 0; p < 2; p++) {
    OffsetCommitRequest::OffsetCommitRequestPartition part;
    part.partition_index = p;
    part.committed_offset = offset + p;
    part.committed_metadata = "meta-" + std::to_string(p);
    t.partitions.push_back(std::move(part));
  }
  c.topics.push_back(std::move(t));
  return c;
}

OffsetFetchRequest FetchAll(std::string group) {
  OffsetFetchRequest f;
  f.group_id = std::move(group);
  f.topics = std::nullopt;  // every committed offset (v2+)
  return f;
}

// Group names whose coordinators are shard 0 and shard 1 of `sim`.
std::pair<std::string, std::string> GroupsOnBothShards(BrokerSim& sim) {
  std::string on[2];
  for (int i = 0; on[0].empty() || on[1].empty(); i++) {
    std::string g = "group-" + std::to_string(i);
    ShardId s = CoordinatorShard(sim.node(), g, kOffsetsPartitions);
    if (on[s].empty()) on[s] = g;
  }
  return {on[0], on[1]};
}

void Configure(BrokerConfig& c) {
  c.offsets_topic_num_partitions = kOffsetsPartitions;
  c.group_initial_rebalance_delay_ms = 100;
}

// Joins `group` as a new member the KIP-394 way, syncs as its leader with `assignment`.
// Returns {member id, generation} ("" on failure).
Task<std::pair<std::string, int32_t>> JoinAndSync(Socket& s, std::string group,
                                                  std::vector<uint8_t> assignment) {
  std::pair<std::string, int32_t> out{"", -1};
  auto first = co_await Call<JoinGroupResponse>(s, 5, Join(group, ""), 10);
  EXPECT_TRUE(first.ok());
  if (!first.ok()) co_return out;
  EXPECT_EQ(first->error_code, 79) << "MEMBER_ID_REQUIRED";
  auto joined = co_await Call<JoinGroupResponse>(s, 5, Join(group, first->member_id), 11);
  EXPECT_TRUE(joined.ok());
  if (!joined.ok()) co_return out;
  EXPECT_EQ(joined->error_code, 0);
  EXPECT_EQ(joined->leader, first->member_id);
  EXPECT_EQ(joined->protocol_name, "range");
  EXPECT_EQ(joined->members.size(), 1u);
  SyncGroupRequest sync;
  sync.group_id = group;
  sync.member_id = joined->member_id;
  sync.generation_id = joined->generation_id;
  SyncGroupRequest::SyncGroupRequestAssignment a;
  a.member_id = joined->member_id;
  a.assignment = std::move(assignment);
  sync.assignments.push_back(a);
  auto synced = co_await Call<SyncGroupResponse>(s, 3, sync, 12);
  EXPECT_TRUE(synced.ok());
  if (!synced.ok()) co_return out;
  EXPECT_EQ(synced->error_code, 0);
  EXPECT_EQ(synced->assignment, a.assignment);
  out = {joined->member_id, joined->generation_id};
  co_return out;
}

TEST(GroupsBrokerTest, MembershipOffsetsAndListingsSurviveARestart) {
  BrokerSim sim(11, 2, Configure);
  auto [g0, g1] = GroupsOnBothShards(sim);
  std::string members[2];
  sim.Run([&](Io& io) -> Task<void> {
    auto sock = co_await Connect(io, sim.address());
    EXPECT_TRUE(sock.ok());
    if (!sock.ok()) co_return;
    Socket& s = **sock;
    const ListGroupsRequest list_none;
    auto none = co_await Call<ListGroupsResponse>(s, 4, list_none, 1);
    EXPECT_TRUE(none.ok() && none->groups.empty() && none->error_code == 0);
    EXPECT_FALSE(sim.node().Metadata(sim.shard(0).io).state().topics.contains("__consumer_offsets"))
        << "listing groups does not create the offsets topic";
    FindCoordinatorRequest find;
    find.key = g0;
    auto coordinator = co_await Call<FindCoordinatorResponse>(s, 3, find, 1);
    EXPECT_TRUE(coordinator.ok());
    if (coordinator.ok()) {
      EXPECT_EQ(coordinator->error_code, 0);
      EXPECT_EQ(coordinator->port, BrokerSim::kPort);
    }
    FindCoordinatorRequest batch;
    batch.coordinator_keys = {g0, g1};
    auto both = co_await Call<FindCoordinatorResponse>(s, 4, batch, 2);
    EXPECT_TRUE(both.ok());
    if (both.ok()) {
      EXPECT_EQ(both->coordinators.size(), 2u);
      for (const auto& c : both->coordinators) EXPECT_EQ(c.error_code, 0) << c.key;
    }
    const std::string groups[2] = {g0, g1};
    for (int i = 0; i < 2; i++) {
      const std::vector<uint8_t> assignment = {static_cast<uint8_t>(i), 9};
      auto [member, generation] = co_await JoinAndSync(s, groups[i], assignment);
      EXPECT_EQ(generation, 1);
      members[i] = member;
      HeartbeatRequest hb;
      hb.group_id = groups[i];
      hb.member_id = member;
      hb.generation_id = generation;
      auto beat = co_await Call<HeartbeatResponse>(s, 3, hb, 20);
      EXPECT_TRUE(beat.ok() && beat->error_code == 0);
      hb.generation_id = 7;
      auto stale = co_await Call<HeartbeatResponse>(s, 3, hb, 21);
      EXPECT_TRUE(stale.ok() && stale->error_code == 22) << "ILLEGAL_GENERATION";
      auto committed = co_await Call<OffsetCommitResponse>(
          s, 7, Commit(groups[i], member, generation, 100 * (i + 1)), 22);
      EXPECT_TRUE(committed.ok());
      if (committed.ok()) {
        for (const auto& p : committed->topics.at(0).partitions) EXPECT_EQ(p.error_code, 0);
      }
      auto wrong = co_await Call<OffsetCommitResponse>(s, 7, Commit(groups[i], "x", 1, 5), 23);
      EXPECT_TRUE(wrong.ok());
      if (wrong.ok()) {
        EXPECT_EQ(wrong->topics.at(0).partitions.at(0).error_code, 25);
      }
    }
  });
  auto check_offsets = [&](Io& io) -> Task<void> {
    auto sock = co_await Connect(io, sim.address());
    EXPECT_TRUE(sock.ok());
    if (!sock.ok()) co_return;
    Socket& s = **sock;
    auto one = co_await Call<OffsetFetchResponse>(s, 5, FetchAll(g0), 30);
    EXPECT_TRUE(one.ok());
    if (one.ok()) {
      EXPECT_EQ(one->error_code, 0);
      EXPECT_EQ(one->topics.size(), 1u);
      if (one->topics.size() == 1) {
        const auto& parts = one->topics[0].partitions;
        EXPECT_EQ(parts.size(), 2u);
        EXPECT_EQ(parts.at(1).committed_offset, 101);
        EXPECT_EQ(parts.at(1).metadata, "meta-1");
      }
    }
    OffsetFetchRequest multi;
    for (const std::string& g : {g0, g1, std::string("nobody")}) {
      OffsetFetchRequest::OffsetFetchRequestGroup fg;
      fg.group_id = g;
      fg.topics = std::nullopt;
      multi.groups.push_back(std::move(fg));
    }
    auto many = co_await Call<OffsetFetchResponse>(s, 8, multi, 31);
    EXPECT_TRUE(many.ok());
    if (many.ok() && many->groups.size() == 3) {
      EXPECT_EQ(many->groups[1].topics.at(0).partitions.at(0).committed_offset, 200);
      EXPECT_TRUE(many->groups[2].topics.empty());
      EXPECT_EQ(many->groups[2].error_code, 0);
    } else {
      ADD_FAILURE() << "multi-group OffsetFetch";
    }
    ListGroupsRequest list;
    list.states_filter = {"Stable"};
    auto listed = co_await Call<ListGroupsResponse>(s, 4, list, 32);
    EXPECT_TRUE(listed.ok());
    if (listed.ok()) {
      EXPECT_EQ(listed->groups.size(), 2u);
      for (const auto& g : listed->groups) EXPECT_EQ(g.group_state, "Stable") << g.group_id;
    }
    DescribeGroupsRequest describe;
    describe.groups = {g1};
    auto described = co_await Call<DescribeGroupsResponse>(s, 5, describe, 33);
    EXPECT_TRUE(described.ok());
    if (described.ok() && described->groups.size() == 1) {
      const auto& d = described->groups[0];
      EXPECT_EQ(d.group_state, "Stable");
      EXPECT_EQ(d.protocol_data, "range");
      EXPECT_EQ(d.members.size(), 1u);
      if (d.members.size() == 1) {
        EXPECT_EQ(d.members[0].member_id, members[1]);
        EXPECT_EQ(d.members[0].member_assignment, (std::vector<uint8_t>{1, 9}));
      }
    }
  };
  sim.Run(check_offsets);
  sim.Restart();
  sim.Run(check_offsets);  // replayed from __consumer_offsets: members, assignments, offsets

  // The members leave; the empty groups are deleted, and stay deleted across a restart.
  sim.Run([&](Io& io) -> Task<void> {
    auto sock = co_await Connect(io, sim.address());
    EXPECT_TRUE(sock.ok());
    if (!sock.ok()) co_return;
    Socket& s = **sock;
    DeleteGroupsRequest del;
    del.groups_names = {g0, g1, "nobody"};
    auto busy = co_await Call<DeleteGroupsResponse>(s, 1, del, 40);
    EXPECT_TRUE(busy.ok());
    if (busy.ok()) {
      EXPECT_EQ(busy->results.at(0).error_code, 68) << "NON_EMPTY_GROUP";
    }
    const std::string groups[2] = {g0, g1};
    for (int i = 0; i < 2; i++) {
      LeaveGroupRequest leave;
      leave.group_id = groups[i];
      LeaveGroupRequest::MemberIdentity m;
      m.member_id = members[i];
      leave.members.push_back(m);
      m.member_id = "stranger";
      leave.members.push_back(m);
      auto left = co_await Call<LeaveGroupResponse>(s, 3, leave, 41);
      EXPECT_TRUE(left.ok());
      if (left.ok() && left->members.size() == 2) {
        EXPECT_EQ(left->members[0].error_code, 0);
        EXPECT_EQ(left->members[1].error_code, 25);
      }
    }
    auto deleted = co_await Call<DeleteGroupsResponse>(s, 1, del, 42);
    EXPECT_TRUE(deleted.ok());
    if (deleted.ok() && deleted->results.size() == 3) {
      EXPECT_EQ(deleted->results[0].error_code, 0);
      EXPECT_EQ(deleted->results[1].error_code, 0);
      EXPECT_EQ(deleted->results[2].error_code, 69) << "GROUP_ID_NOT_FOUND";
    }
  });
  sim.Restart();
  sim.Run([&](Io& io) -> Task<void> {
    auto sock = co_await Connect(io, sim.address());
    EXPECT_TRUE(sock.ok());
    if (!sock.ok()) co_return;
    const ListGroupsRequest list;
    auto listed = co_await Call<ListGroupsResponse>(**sock, 4, list, 50);
    EXPECT_TRUE(listed.ok());
    if (listed.ok()) {
      EXPECT_TRUE(listed->groups.empty()) << listed->groups.size();
    }
    auto gone = co_await Call<OffsetFetchResponse>(**sock, 5, FetchAll(g0), 51);
    EXPECT_TRUE(gone.ok());
    if (gone.ok()) {
      EXPECT_TRUE(gone->topics.empty());
    }
  });
}

TEST(GroupsBrokerTest, GroupSettingsParseValidateAndReachTheCoordinator) {
  BrokerConfig c;
  EXPECT_EQ(c.group_initial_rebalance_delay_ms, 3000);
  EXPECT_EQ(c.offsets_topic_num_partitions, 50);
  EXPECT_TRUE(ApplySetting(c, "group.initial.rebalance.delay.ms", "0").ok());
  EXPECT_TRUE(ApplySetting(c, "group.min.session.timeout.ms", "1000").ok());
  EXPECT_TRUE(ApplySetting(c, "offsets.retention.minutes", "60").ok());
  EXPECT_TRUE(ApplySetting(c, "offset.metadata.max.bytes", "10").ok());
  EXPECT_FALSE(ApplySetting(c, "offsets.topic.num.partitions", "0").ok());
  EXPECT_FALSE(ApplySetting(c, "group.max.size", "-1").ok());
  EXPECT_TRUE(Validate(c).ok());
  engine::group::GroupConfig g = GroupConfigOf(c);
  EXPECT_EQ(g.initial_rebalance_delay, std::chrono::milliseconds(0));
  EXPECT_EQ(g.session_timeout_min, std::chrono::milliseconds(1000));
  EXPECT_EQ(g.offsets_retention, std::chrono::minutes(60));
  EXPECT_EQ(g.offset_metadata_bytes_max, 10u);
  EXPECT_TRUE(ApplySetting(c, "group.max.session.timeout.ms", "999").ok());
  Status bad = Validate(c);
  EXPECT_FALSE(bad.ok());
  EXPECT_NE(bad.message().find("group.min.session.timeout.ms"), std::string::npos) << bad.message();
  bool listed = false;
  for (const auto& [name, value] : DescribeSettings(c)) {
    if (name == "offsets.retention.minutes") listed = value == "60";
  }
  EXPECT_TRUE(listed) << "DescribeConfigs (BROKER) shows the group settings";
}

// Acknowledged commits survive a power loss: a client joins a group (its SyncGroup answer means
// the generation is stored), then commits offsets 1, 2, 3, ... one after the other while the broker
// node loses power at a seed-chosen moment (unsynced writes are kept, dropped or torn). After the
// restart the committed offset is the last acknowledged one or the one in flight, never older (a
// committed offset never goes back).
TEST(GroupsBrokerTest, AcknowledgedCommitsSurvivePowerLoss) {
  for (uint64_t seed = 1; seed <= 8; seed++) {
    sim::SimWorld world(seed);
    BrokerConfig config;
    config.listen = Address(sim::SimWorld::AddressOf(1), BrokerSim::kPort);
    config.data_dir = "/data";
    config.smp = 2;
    Configure(config);
    std::unique_ptr<Node> node;
    sim::NodeOptions opts;
    opts.shards = 2;
    opts.boot = [&](sim::SimNode& n) {
      node = std::make_unique<Node>(config, n.shard_count());
      for (ShardId s = 0; s < n.shard_count(); s++) n.Spawn(s, RunShard(n.io(s), *node));
    };
    const sim::NodeId broker = world.AddNode(std::move(opts));
    const sim::NodeId client = world.AddNode(sim::NodeOptions{});
    const Address addr = config.listen;
    auto acked = std::make_shared<int64_t>(0);
    world.Spawn(client, 0, [](Io& io, Address addr, std::shared_ptr<int64_t> acked) -> Task<void> {
      auto sock = co_await Connect(io, addr);
      if (!sock.ok()) co_return;
      const std::vector<uint8_t> assignment = {4, 2};
      auto [member, generation] = co_await JoinAndSync(**sock, "crash-members", assignment);
      EXPECT_EQ(generation, 1);
      for (int64_t i = 1; i <= 100000; i++) {
        auto r =
            co_await Call<OffsetCommitResponse>(**sock, 7, Commit("crash-group", "", -1, i), 1);
        if (!r.ok() || r->topics.at(0).partitions.at(0).error_code != 0) co_return;
        *acked = i;
      }
    }(world.node(client).io(0), addr, acked));
    // Run until a seed-dependent number of commits was acknowledged, then cut the power.
    const int64_t target = 5 + static_cast<int64_t>(seed * 7 % 23);
    world.RunUntil([&] { return *acked >= target; }, sim::RunLimits{.steps_max = 20'000'000});
    ASSERT_GE(*acked, target) << "seed " << seed;
    const int64_t acked_at_crash = *acked;
    world.CrashNode(broker);
    world.StartNode(broker);
    auto fetched = std::make_shared<int64_t>(-2);
    bool done = false;
    world.Spawn(
        client, 0,
        [](Io& io, Address addr, std::shared_ptr<int64_t> out, bool* done) -> Task<void> {
          auto sock = co_await Connect(io, addr);
          if (sock.ok()) {
            auto r = co_await Call<OffsetFetchResponse>(**sock, 5, FetchAll("crash-group"), 2);
            if (r.ok() && !r->topics.empty()) *out = r->topics[0].partitions.at(0).committed_offset;
            // The generation was acknowledged (SyncGroup answered) before the crash.
            DescribeGroupsRequest describe;
            describe.groups = {"crash-members"};
            auto d = co_await Call<DescribeGroupsResponse>(**sock, 5, describe, 3);
            EXPECT_TRUE(d.ok() && d->groups.size() == 1);
            if (d.ok() && d->groups.size() == 1) {
              EXPECT_EQ(d->groups[0].group_state, "Stable");
              EXPECT_EQ(d->groups[0].members.size(), 1u);
              if (d->groups[0].members.size() == 1) {
                EXPECT_EQ(d->groups[0].members[0].member_assignment, (std::vector<uint8_t>{4, 2}));
              }
            }
          }
          *done = true;
        }(world.node(client).io(0), addr, fetched, &done));
    world.RunUntil([&] { return done; }, sim::RunLimits{.steps_max = 20'000'000});
    ASSERT_TRUE(done) << "seed " << seed;
    EXPECT_GE(*fetched, acked_at_crash) << "seed " << seed << ": an acknowledged commit was lost";
    EXPECT_LE(*fetched, acked_at_crash + 1) << "seed " << seed;
  }
}

}  // namespace
}  // namespace runnel::broker
