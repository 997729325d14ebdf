// The group APIs end to end on the simulator: a 2-shard broker (tests/broker/broker_sim.h) and
// a client speaking the wire protocol. Groups coordinated by either shard (requests are
// forwarded to the coordinator shard), KIP-394 joins, sync, heartbeat, commits with metadata,
// multi-group OffsetFetch, ListGroups with a state filter, DescribeGroups, LeaveGroup,
// DeleteGroups, and a restart that replays __consumer_offsets.
#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <set>
#include <tuple>

#include "broker/handlers/groups.h"
#include "broker/protocol/gen/create_partitions_request.h"
#include "broker/protocol/gen/create_partitions_response.h"
#include "broker/protocol/gen/create_topics_request.h"
#include "broker/protocol/gen/create_topics_response.h"
#include "broker/protocol/gen/delete_groups_request.h"
#include "broker/protocol/gen/delete_groups_response.h"
#include "broker/protocol/gen/delete_topics_request.h"
#include "broker/protocol/gen/delete_topics_response.h"
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
#include "broker/protocol/gen/offset_delete_request.h"
#include "broker/protocol/gen/offset_delete_response.h"
#include "broker/protocol/gen/offset_fetch_request.h"
#include "broker/protocol/gen/offset_fetch_response.h"
#include "broker/protocol/gen/sync_group_request.h"
#include "broker/protocol/gen/sync_group_response.h"
#include "engine/group/group.h"
#include "sim/disk.h"
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

constexpr int16_t kLoadInProgress = 14;  // COORDINATOR_LOAD_IN_PROGRESS

// After a restart the coordinators replay __consumer_offsets and answer group requests with
// COORDINATOR_LOAD_IN_PROGRESS meanwhile; ListGroups asks every coordinator shard. Waits until
// it answers without that error (true) or gives up after ~10 s of virtual time.
Task<bool> AwaitCoordinatorsLoaded(Io& io, Socket& s) {
  for (int i = 0; i < 1000; i++) {
    const ListGroupsRequest list;
    auto listed = co_await Call<ListGroupsResponse>(s, 4, list, 900);
    if (!listed.ok()) co_return false;
    if (listed->error_code != kLoadInProgress) co_return true;
    co_await io.Sleep(std::chrono::milliseconds(10));
  }
  co_return false;
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

Task<int16_t> CreateTopic(Socket& s, std::string name, int32_t partitions) {
  CreateTopicsRequest c;
  CreateTopicsRequest::CreatableTopic t;
  t.name = std::move(name);
  t.num_partitions = partitions;
  t.replication_factor = 1;
  c.topics.push_back(std::move(t));
  auto r = co_await Call<CreateTopicsResponse>(s, 5, c, 62);
  if (!r.ok() || r->topics.size() != 1) co_return int16_t{-2};
  co_return r->topics[0].error_code;
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
    EXPECT_EQ(co_await CreateTopic(s, "orders", 2), 0);  // commits name existing partitions
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
    EXPECT_TRUE(co_await AwaitCoordinatorsLoaded(io, s));
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
    EXPECT_TRUE(co_await AwaitCoordinatorsLoaded(io, s));
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
    EXPECT_TRUE(co_await AwaitCoordinatorsLoaded(io, **sock));
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

// A 2-shard broker node and a one-shard client node on a SimWorld of the test's own: unlike
// BrokerSim, the test picks the broker's disk and crashes or restarts the node itself.
struct OwnWorld {
  explicit OwnWorld(uint64_t seed, sim::DiskOptions disk = {}) : world(seed) {
    config.listen = Address(sim::SimWorld::AddressOf(1), BrokerSim::kPort);
    config.data_dir = "/data";
    config.smp = 2;
    Configure(config);
    sim::NodeOptions opts;
    opts.shards = 2;
    opts.disk = disk;
    opts.boot = [this](sim::SimNode& n) {
      node = std::make_unique<Node>(config, n.shard_count());
      for (ShardId s = 0; s < n.shard_count(); s++) n.Spawn(s, RunShard(n.io(s), *node));
    };
    broker = world.AddNode(std::move(opts));
    client = world.AddNode(sim::NodeOptions{});
  }
  OwnWorld(const OwnWorld&) = delete;
  OwnWorld& operator=(const OwnWorld&) = delete;

  // Runs body on the client node until it finished.
  void Run(std::function<Task<void>(Io&)> body) {
    bool done = false;
    world.Spawn(client, 0,
                [](std::function<Task<void>(Io&)> body, Io& io, bool* done) -> Task<void> {
                  co_await body(io);
                  *done = true;
                }(std::move(body), world.node(client).io(0), &done));
    world.RunUntil([&] { return done; }, sim::RunLimits{.steps_max = 50'000'000});
    EXPECT_TRUE(done) << world.failure();
  }

  sim::SimWorld world;
  BrokerConfig config;
  std::unique_ptr<Node> node;
  sim::NodeId broker = 0;
  sim::NodeId client = 0;
};

// Acknowledged commits survive a power loss: a client joins a group (its SyncGroup answer means
// the generation is stored), then commits offsets 1, 2, 3, ... one after the other while the broker
// node loses power at a seed-chosen moment (unsynced writes are kept, dropped or torn). After the
// restart the committed offset is the last acknowledged one or the one in flight, never older (a
// committed offset never goes back).
TEST(GroupsBrokerTest, AcknowledgedCommitsSurvivePowerLoss) {
  for (uint64_t seed = 1; seed <= 8; seed++) {
    OwnWorld own(seed);
    sim::SimWorld& world = own.world;
    const sim::NodeId broker = own.broker;
    const sim::NodeId client = own.client;
    const Address addr = own.config.listen;
    auto acked = std::make_shared<int64_t>(0);
    world.Spawn(client, 0, [](Io& io, Address addr, std::shared_ptr<int64_t> acked) -> Task<void> {
      auto sock = co_await Connect(io, addr);
      if (!sock.ok()) co_return;
      const std::vector<uint8_t> assignment = {4, 2};
      EXPECT_EQ(co_await CreateTopic(**sock, "orders", 2), 0);
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
            EXPECT_TRUE(co_await AwaitCoordinatorsLoaded(io, **sock));
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

// One committed offset to write (a constructor, not an aggregate: io/README.md's GCC 12 note).
struct Committed {
  Committed(std::string t, int32_t p, int64_t o) : topic(std::move(t)), partition(p), offset(o) {}
  std::string topic;
  int32_t partition = 0;
  int64_t offset = 0;
};

using Partitions = std::vector<std::pair<std::string, int32_t>>;
using Offsets = std::vector<int64_t>;

// A standalone commit (no generation, no member) of `offsets` for `group`; true if every
// partition was accepted.
// Commits as a standalone group (no member); the error code of each partition, in order.
Task<std::vector<int16_t>> CommitStandaloneErrors(Socket& s, std::string group,
                                                  std::vector<Committed> offsets) {
  OffsetCommitRequest c;
  c.group_id = std::move(group);
  c.generation_id_or_member_epoch = -1;
  for (const Committed& o : offsets) {
    if (c.topics.empty() || c.topics.back().name != o.topic) {
      c.topics.emplace_back();
      c.topics.back().name = o.topic;
    }
    OffsetCommitRequest::OffsetCommitRequestPartition part;
    part.partition_index = o.partition;
    part.committed_offset = o.offset;
    c.topics.back().partitions.push_back(part);
  }
  std::vector<int16_t> errors;
  auto r = co_await Call<OffsetCommitResponse>(s, 7, c, 60);
  if (!r.ok()) co_return errors;
  for (const auto& t : r->topics) {
    for (const auto& p : t.partitions) errors.push_back(p.error_code);
  }
  co_return errors;
}

Task<bool> CommitStandalone(Socket& s, std::string group, std::vector<Committed> offsets) {
  const size_t count = offsets.size();
  std::vector<int16_t> errors = co_await CommitStandaloneErrors(s, std::move(group), offsets);
  const bool all_ok = std::all_of(errors.begin(), errors.end(), [](int16_t e) { return e == 0; });
  co_return errors.size() == count&& all_ok;
}

// The committed offset of each of `asked` for `group` (-1: none); empty on an error.
Task<Offsets> FetchCommitted(Socket& s, std::string group, Partitions asked) {
  OffsetFetchRequest f;
  f.group_id = std::move(group);
  f.topics.emplace();
  for (const auto& [topic, partition] : asked) {
    if (f.topics->empty() || f.topics->back().name != topic) {
      f.topics->emplace_back();
      f.topics->back().name = topic;
    }
    f.topics->back().partition_indexes.push_back(partition);
  }
  Offsets out;
  auto r = co_await Call<OffsetFetchResponse>(s, 5, f, 61);
  if (!r.ok() || r->error_code != 0) co_return out;
  for (const auto& t : r->topics) {
    for (const auto& p : t.partitions) out.push_back(p.committed_offset);
  }
  co_return out;
}

// The names ListGroups answers, or nullopt if it failed.
Task<std::optional<std::set<std::string>>> GroupNames(Socket& s) {
  const ListGroupsRequest list;
  auto listed = co_await Call<ListGroupsResponse>(s, 4, list, 66);
  std::optional<std::set<std::string>> names;
  if (!listed.ok()) co_return names;
  names.emplace();
  for (const auto& g : listed->groups) names->insert(g.group_id);
  co_return names;
}

Task<int16_t> DeleteTopic(Socket& s, std::string name) {
  DeleteTopicsRequest d;
  d.topic_names.push_back(std::move(name));
  d.timeout_ms = 10000;
  auto r = co_await Call<DeleteTopicsResponse>(s, 4, d, 63);
  if (!r.ok() || r->responses.size() != 1) co_return int16_t{-2};
  co_return r->responses[0].error_code;
}

// Deleting a topic removes the groups' committed offsets of it (Kafka writes tombstones for
// them): OffsetFetch shows none, a restart does not bring them back, a re-created topic of the
// same name starts without them. Other topics' offsets stay; a standalone group left with no
// offsets is gone; a Stable consumer group keeps its members. __consumer_offsets itself can be
// neither deleted nor given partitions (INVALID_TOPIC_EXCEPTION), and groups keep working.
TEST(GroupsBrokerTest, DeletingATopicRemovesItsCommittedOffsets) {
  BrokerSim sim(21, 2, Configure);
  auto [g0, g1] = GroupsOnBothShards(sim);
  const std::string consumer = "consumers";  // a Stable consumer group committing to t
  const Partitions t_and_keep = {{"t", 0}, {"t", 1}, {"keep", 0}};
  const Partitions t0 = {{"t", 0}};
  const Partitions t01 = {{"t", 0}, {"t", 1}};
  const Offsets none_and_keep = {-1, -1, 12};
  std::string member;
  int32_t generation = -1;
  sim.Run([&](Io& io) -> Task<void> {
    auto sock = co_await Connect(io, sim.address());
    EXPECT_TRUE(sock.ok());
    if (!sock.ok()) co_return;
    Socket& s = **sock;
    EXPECT_EQ(co_await CreateTopic(s, "t", 2), 0);
    EXPECT_EQ(co_await CreateTopic(s, "keep", 1), 0);
    // g0: offsets of t and keep; g1 (the other shard): offsets of t only.
    std::vector<Committed> both;
    both.emplace_back("t", 0, 10);
    both.emplace_back("t", 1, 11);
    both.emplace_back("keep", 0, 12);
    EXPECT_TRUE(co_await CommitStandalone(s, g0, both));
    std::vector<Committed> only_t;
    only_t.emplace_back("t", 0, 20);
    EXPECT_TRUE(co_await CommitStandalone(s, g1, only_t));
    const std::vector<uint8_t> assignment = {7};
    std::tie(member, generation) = co_await JoinAndSync(s, consumer, assignment);
    OffsetCommitRequest c = Commit(consumer, member, generation, 30);
    c.topics[0].name = "t";
    auto committed = co_await Call<OffsetCommitResponse>(s, 7, c, 64);
    EXPECT_TRUE(committed.ok() && committed->topics.at(0).partitions.at(0).error_code == 0);
    Offsets got = co_await FetchCommitted(s, g0, t_and_keep);
    EXPECT_EQ(got, (Offsets{10, 11, 12}));

    EXPECT_EQ(co_await DeleteTopic(s, "t"), 0);
    got = co_await FetchCommitted(s, g0, t_and_keep);
    EXPECT_EQ(got, none_and_keep);
    got = co_await FetchCommitted(s, g1, t0);
    EXPECT_EQ(got, (Offsets{-1}));
    got = co_await FetchCommitted(s, consumer, t01);
    EXPECT_EQ(got, (Offsets{-1, -1}));
    // The consumer group is still Stable with its member; g1 (nothing left) is gone.
    HeartbeatRequest hb;
    hb.group_id = consumer;
    hb.member_id = member;
    hb.generation_id = generation;
    auto beat = co_await Call<HeartbeatResponse>(s, 3, hb, 65);
    EXPECT_TRUE(beat.ok() && beat->error_code == 0);
    const std::set<std::string> g0_and_consumer = {g0, consumer};
    std::optional<std::set<std::string>> listed = co_await GroupNames(s);
    EXPECT_EQ(listed, g0_and_consumer);

    // The offsets topic stays as it is.
    EXPECT_EQ(co_await DeleteTopic(s, "__consumer_offsets"), 17) << "INVALID_TOPIC_EXCEPTION";
    CreatePartitionsRequest more;
    CreatePartitionsRequest::CreatePartitionsTopic grow;
    grow.name = "__consumer_offsets";
    grow.count = kOffsetsPartitions * 2;
    grow.assignments = std::nullopt;
    more.topics.push_back(grow);
    more.timeout_ms = 10000;
    auto grown = co_await Call<CreatePartitionsResponse>(s, 1, more, 67);
    EXPECT_TRUE(grown.ok() && grown->results.size() == 1);
    if (grown.ok() && grown->results.size() == 1) {
      EXPECT_EQ(grown->results[0].error_code, 17) << "INVALID_TOPIC_EXCEPTION";
      EXPECT_TRUE(grown->results[0].error_message.has_value());
    }
    const auto& topics = sim.node().Metadata(sim.shard(0).io).state().topics;
    EXPECT_TRUE(topics.contains("__consumer_offsets"));
    if (topics.contains("__consumer_offsets")) {
      EXPECT_EQ(topics.at("__consumer_offsets").partitions, kOffsetsPartitions);
    }
    // ... while other topics still grow.
    grow.name = "keep";
    grow.count = 2;
    more.topics.clear();
    more.topics.push_back(grow);
    auto kept = co_await Call<CreatePartitionsResponse>(s, 1, more, 68);
    EXPECT_TRUE(kept.ok() && kept->results.size() == 1 && kept->results[0].error_code == 0);
    got = co_await FetchCommitted(s, g0, t_and_keep);
    EXPECT_EQ(got, none_and_keep);
  });
  sim.Restart();
  sim.Run([&](Io& io) -> Task<void> {
    auto sock = co_await Connect(io, sim.address());
    EXPECT_TRUE(sock.ok());
    if (!sock.ok()) co_return;
    Socket& s = **sock;
    EXPECT_TRUE(co_await AwaitCoordinatorsLoaded(io, s));
    // The tombstones were replayed: still none.
    Offsets got = co_await FetchCommitted(s, g0, t_and_keep);
    EXPECT_EQ(got, none_and_keep);
    got = co_await FetchCommitted(s, g1, t0);
    EXPECT_EQ(got, (Offsets{-1}));
    got = co_await FetchCommitted(s, consumer, t01);
    EXPECT_EQ(got, (Offsets{-1, -1}));
    // A new topic of the same name starts with no committed offsets ...
    EXPECT_EQ(co_await CreateTopic(s, "t", 2), 0);
    got = co_await FetchCommitted(s, g0, t_and_keep);
    EXPECT_EQ(got, none_and_keep);
    // ... and takes commits as any topic.
    std::vector<Committed> again;
    again.emplace_back("t", 1, 5);
    EXPECT_TRUE(co_await CommitStandalone(s, g1, again));
    got = co_await FetchCommitted(s, g1, t01);
    EXPECT_EQ(got, (Offsets{-1, 5}));
  });
}

// As Kafka: a commit for a partition that does not exist is answered UNKNOWN_TOPIC_OR_PARTITION
// and stored nowhere; the request's other partitions are committed. A request naming only such
// partitions never reaches the coordinator, so it does not create the group.
TEST(GroupsBrokerTest, CommitsForPartitionsThatDoNotExistAreRefused) {
  BrokerSim sim(23, 2, Configure);
  auto [g0, g1] = GroupsOnBothShards(sim);
  sim.Run([&](Io& io) -> Task<void> {
    auto sock = co_await Connect(io, sim.address());
    EXPECT_TRUE(sock.ok());
    if (!sock.ok()) co_return;
    Socket& s = **sock;
    EXPECT_EQ(co_await CreateTopic(s, "orders", 2), 0);
    std::vector<Committed> mixed;
    mixed.emplace_back("orders", 0, 5);
    mixed.emplace_back("orders", 2, 6);  // past the topic's partitions
    mixed.emplace_back("nosuch", 0, 7);
    mixed.emplace_back("orders", 1, 8);  // a topic named twice: its own block
    const std::vector<int16_t> mixed_errors = {0, 3, 3, 0};
    std::vector<int16_t> errors = co_await CommitStandaloneErrors(s, g0, mixed);
    EXPECT_EQ(errors, mixed_errors);
    const Partitions asked = {{"orders", 0}, {"orders", 1}, {"orders", 2}, {"nosuch", 0}};
    const Offsets stored = {5, 8, -1, -1};
    Offsets got = co_await FetchCommitted(s, g0, asked);
    EXPECT_EQ(got, stored);
    std::vector<Committed> unknown;
    unknown.emplace_back("nosuch", 1, 9);
    const std::vector<int16_t> unknown_errors = {3};
    errors = co_await CommitStandaloneErrors(s, g1, unknown);
    EXPECT_EQ(errors, unknown_errors);
    const std::set<std::string> only_g0 = {g0};
    std::optional<std::set<std::string>> listed = co_await GroupNames(s);
    EXPECT_EQ(listed, only_g0);
  });
}

// Sends `req`; its answer if `loading()` held both when it was sent and when the answer came,
// nullopt otherwise (the answer then says nothing about the load).
template <typename Resp, typename Req>
Task<std::optional<Resp>> DuringLoad(Socket& s, int16_t version, Req req, int32_t id,
                                     const std::function<bool()>& loading) {
  const bool before = loading();
  Result<Resp> r = co_await Call<Resp>(s, version, std::move(req), id);
  std::optional<Resp> out;
  if (before && loading() && r.ok()) out = std::move(*r);
  co_return out;
}

// While a shard replays its __consumer_offsets partitions at start-up, requests for its groups
// answer what Kafka answers during a coordinator load instead of waiting: JoinGroup,
// OffsetCommit, OffsetFetch, DescribeGroups, ListGroups (top level), DeleteGroups, OffsetDelete
// and LeaveGroup COORDINATOR_LOAD_IN_PROGRESS; SyncGroup REBALANCE_IN_PROGRESS; Heartbeat no
// error; FindCoordinator is unaffected. Nothing refused changes anything: once loaded, the group,
// its member and its offsets are as before the restart. The disk's reads are slow (100-200 ms),
// so the load lasts long enough; a request counts only if the coordinator was loading both when
// it was sent and when its answer arrived, and every API must be seen so at least once.
TEST(GroupsBrokerTest, RequestsDuringTheStartUpLoadAnswerLoadInProgress) {
  sim::DiskOptions slow_reads;
  slow_reads.read_latency_min = std::chrono::milliseconds(100);
  slow_reads.read_latency_max = std::chrono::milliseconds(200);
  OwnWorld own(31, slow_reads);
  sim::SimWorld& world = own.world;
  std::unique_ptr<Node>& node = own.node;
  const sim::NodeId broker = own.broker;
  const Address addr = own.config.listen;
  auto run = [&own](std::function<Task<void>(Io&)> body) { own.Run(std::move(body)); };
  const std::string group = "loading-members";
  const ShardId shard = CoordinatorShard(*node, group, kOffsetsPartitions);
  std::string standalone;  // a standalone group of the same coordinator shard
  for (int i = 0; standalone.empty(); i++) {
    std::string g = "standalone-" + std::to_string(i);
    if (CoordinatorShard(*node, g, kOffsetsPartitions) == shard) standalone = g;
  }
  const Partitions orders = {{"orders", 0}, {"orders", 1}};
  const Partitions orders0 = {{"orders", 0}};
  std::string member;
  int32_t generation = -1;
  run([&](Io& io) -> Task<void> {
    auto sock = co_await Connect(io, addr);
    EXPECT_TRUE(sock.ok());
    if (!sock.ok()) co_return;
    Socket& s = **sock;
    EXPECT_EQ(co_await CreateTopic(s, "orders", 2), 0);
    const std::vector<uint8_t> assignment = {3};
    std::tie(member, generation) = co_await JoinAndSync(s, group, assignment);
    auto committed =
        co_await Call<OffsetCommitResponse>(s, 7, Commit(group, member, generation, 100), 70);
    EXPECT_TRUE(committed.ok() && committed->topics.at(0).partitions.at(0).error_code == 0);
    std::vector<Committed> seven;
    seven.emplace_back("orders", 0, 7);
    EXPECT_TRUE(co_await CommitStandalone(s, standalone, seven));
  });
  ASSERT_EQ(generation, 1);
  world.StopNode(broker);
  world.StartNode(broker);

  const std::function<bool()> loading = [&] {
    if (!world.node(broker).up()) return false;
    ShardState& state = node->Local(world.node(broker).io(shard));
    return state.groups != nullptr && state.groups->loading();
  };
  std::map<std::string, int> seen;  // API -> answers checked while loading
  run([&](Io& io) -> Task<void> {
    auto sock = co_await Connect(io, addr);
    EXPECT_TRUE(sock.ok());
    if (!sock.ok()) co_return;
    Socket& s = **sock;
    EXPECT_TRUE(loading()) << "the load ended before the client connected: nothing to test";
    int32_t id = 100;
    // Each API in turn, as long as the load lasts (a few rounds at most).
    for (int round = 0; round < 3 && loading(); round++) {
      FindCoordinatorRequest find;
      find.key = group;
      auto found = co_await DuringLoad<FindCoordinatorResponse>(s, 3, find, id++, loading);
      if (found.has_value()) {
        EXPECT_EQ(found->error_code, 0) << "FindCoordinator is not affected by the load";
        seen["FindCoordinator"]++;
      }
      auto joined =
          co_await DuringLoad<JoinGroupResponse>(s, 5, Join(group, member), id++, loading);
      if (joined.has_value()) {
        EXPECT_EQ(joined->error_code, kLoadInProgress);
        EXPECT_EQ(joined->member_id, member);
        seen["JoinGroup"]++;
      }
      SyncGroupRequest sync;
      sync.group_id = group;
      sync.member_id = member;
      sync.generation_id = generation;
      auto synced = co_await DuringLoad<SyncGroupResponse>(s, 3, sync, id++, loading);
      if (synced.has_value()) {
        EXPECT_EQ(synced->error_code, 27) << "REBALANCE_IN_PROGRESS";
        seen["SyncGroup"]++;
      }
      HeartbeatRequest hb;
      hb.group_id = group;
      hb.member_id = "nobody-knows-me";  // an unknown member: answered blindly all the same
      hb.generation_id = 99;
      auto beat = co_await DuringLoad<HeartbeatResponse>(s, 3, hb, id++, loading);
      if (beat.has_value()) {
        EXPECT_EQ(beat->error_code, 0);
        seen["Heartbeat"]++;
      }
      auto commit = co_await DuringLoad<OffsetCommitResponse>(
          s, 7, Commit(group, member, generation, 500), id++, loading);
      if (commit.has_value()) {
        for (const auto& p : commit->topics.at(0).partitions) {
          EXPECT_EQ(p.error_code, kLoadInProgress);
        }
        seen["OffsetCommit"]++;
      }
      auto fetched = co_await DuringLoad<OffsetFetchResponse>(s, 5, FetchAll(group), id++, loading);
      if (fetched.has_value()) {
        EXPECT_EQ(fetched->error_code, kLoadInProgress);
        EXPECT_TRUE(fetched->topics.empty());
        seen["OffsetFetch v5"]++;
      }
      OffsetFetchRequest v1;
      v1.group_id = group;
      v1.topics.emplace();
      v1.topics->emplace_back();
      v1.topics->back().name = "orders";
      v1.topics->back().partition_indexes = {0, 1};
      auto fetched_v1 = co_await DuringLoad<OffsetFetchResponse>(s, 1, v1, id++, loading);
      if (fetched_v1.has_value()) {
        // v1 has no top-level error: each partition asked carries it.
        EXPECT_EQ(fetched_v1->topics.size(), 1u);
        for (const auto& t : fetched_v1->topics) {
          EXPECT_EQ(t.partitions.size(), 2u);
          for (const auto& p : t.partitions) {
            EXPECT_EQ(p.error_code, kLoadInProgress);
            EXPECT_EQ(p.committed_offset, -1);
          }
        }
        seen["OffsetFetch v1"]++;
      }
      OffsetFetchRequest v8;
      OffsetFetchRequest::OffsetFetchRequestGroup fg;
      fg.group_id = group;
      fg.topics = std::nullopt;
      v8.groups.push_back(fg);
      auto fetched_v8 = co_await DuringLoad<OffsetFetchResponse>(s, 8, v8, id++, loading);
      if (fetched_v8.has_value()) {
        EXPECT_EQ(fetched_v8->groups.size(), 1u);
        for (const auto& g : fetched_v8->groups) EXPECT_EQ(g.error_code, kLoadInProgress);
        seen["OffsetFetch v8"]++;
      }
      DescribeGroupsRequest describe;
      describe.groups = {group};
      auto described = co_await DuringLoad<DescribeGroupsResponse>(s, 5, describe, id++, loading);
      if (described.has_value()) {
        EXPECT_EQ(described->groups.size(), 1u);
        for (const auto& g : described->groups) {
          EXPECT_EQ(g.error_code, kLoadInProgress);
          EXPECT_EQ(g.group_state, "");
          EXPECT_TRUE(g.members.empty());
        }
        seen["DescribeGroups"]++;
      }
      const ListGroupsRequest list;
      auto listed = co_await DuringLoad<ListGroupsResponse>(s, 4, list, id++, loading);
      if (listed.has_value()) {
        EXPECT_EQ(listed->error_code, kLoadInProgress);
        for (const auto& g : listed->groups) EXPECT_NE(g.group_id, group);
        seen["ListGroups"]++;
      }
      DeleteGroupsRequest del;
      del.groups_names = {standalone};
      auto deleted = co_await DuringLoad<DeleteGroupsResponse>(s, 1, del, id++, loading);
      if (deleted.has_value()) {
        EXPECT_EQ(deleted->results.size(), 1u);
        for (const auto& r : deleted->results) EXPECT_EQ(r.error_code, kLoadInProgress);
        seen["DeleteGroups"]++;
      }
      OffsetDeleteRequest odel;
      odel.group_id = standalone;
      odel.topics.emplace_back();
      odel.topics.back().name = "orders";
      odel.topics.back().partitions.emplace_back();
      auto odeleted = co_await DuringLoad<OffsetDeleteResponse>(s, 0, odel, id++, loading);
      if (odeleted.has_value()) {
        EXPECT_EQ(odeleted->error_code, kLoadInProgress);
        EXPECT_TRUE(odeleted->topics.empty());
        seen["OffsetDelete"]++;
      }
      LeaveGroupRequest leave;
      leave.group_id = group;
      LeaveGroupRequest::MemberIdentity m;
      m.member_id = member;
      leave.members.push_back(m);
      auto left = co_await DuringLoad<LeaveGroupResponse>(s, 3, leave, id++, loading);
      if (left.has_value()) {
        EXPECT_EQ(left->error_code, kLoadInProgress);
        EXPECT_TRUE(left->members.empty());
        seen["LeaveGroup"]++;
      }
    }

    // Loaded: nothing refused above changed anything.
    EXPECT_TRUE(co_await AwaitCoordinatorsLoaded(io, s));
    EXPECT_FALSE(loading());
    HeartbeatRequest hb;
    hb.group_id = group;
    hb.member_id = member;
    hb.generation_id = generation;
    auto beat = co_await Call<HeartbeatResponse>(s, 3, hb, id++);
    EXPECT_TRUE(beat.ok() && beat->error_code == 0) << "the member is still in the group";
    Offsets got = co_await FetchCommitted(s, group, orders);
    EXPECT_EQ(got, (Offsets{100, 101})) << "the commit refused during the load was not applied";
    got = co_await FetchCommitted(s, standalone, orders0);
    EXPECT_EQ(got, (Offsets{7}));
    DescribeGroupsRequest describe;
    describe.groups = {group};
    auto described = co_await Call<DescribeGroupsResponse>(s, 5, describe, id++);
    EXPECT_TRUE(described.ok() && described->groups.size() == 1);
    if (described.ok() && described->groups.size() == 1) {
      EXPECT_EQ(described->groups[0].error_code, 0);
      EXPECT_EQ(described->groups[0].group_state, "Stable");
      EXPECT_EQ(described->groups[0].members.size(), 1u);
    }
    DeleteGroupsRequest del;
    del.groups_names = {standalone};
    auto deleted = co_await Call<DeleteGroupsResponse>(s, 1, del, id++);
    EXPECT_TRUE(deleted.ok() && deleted->results.size() == 1 &&
                deleted->results[0].error_code == 0);
  });
  for (const char* api : {"FindCoordinator", "JoinGroup", "SyncGroup", "Heartbeat", "OffsetCommit",
                          "OffsetFetch v5", "OffsetFetch v1", "OffsetFetch v8", "DescribeGroups",
                          "ListGroups", "DeleteGroups", "OffsetDelete", "LeaveGroup"}) {
    EXPECT_GE(seen[api], 1) << api << " was never answered while the coordinator loaded";
  }
}

// The record written when a group becomes Empty is retried on its own: the last member leaves
// while every disk write fails (nothing of the record reaches the file), the disk recovers, and
// within the backoff the record lands without anything else happening to the group. After a
// restart the group is Empty; had the record been lost, the replay would bring back the
// departed member in a Stable group. (With failed syncs instead, the log's reopen writes the
// still-readable record again by itself, so they would not tell the retry apart.)
TEST(GroupsBrokerTest, AnEmptyRecordFailedByTheDiskIsWrittenLater) {
  OwnWorld own(41);
  const std::string group = "leaving-members";
  const ShardId shard = CoordinatorShard(*own.node, group, kOffsetsPartitions);
  auto failures = [&]() -> uint64_t {
    ShardState& state = own.node->Local(own.world.node(own.broker).io(shard));
    if (state.groups == nullptr) return 0;
    const engine::group::Group* g = state.groups->manager().Find(group);
    return g == nullptr ? 0 : g->store_failures();
  };
  own.Run([&](Io& io) -> Task<void> {
    auto sock = co_await Connect(io, own.config.listen);
    EXPECT_TRUE(sock.ok());
    if (!sock.ok()) co_return;
    Socket& s = **sock;
    const std::vector<uint8_t> assignment = {5};
    auto [member, generation] = co_await JoinAndSync(s, group, assignment);
    EXPECT_EQ(generation, 1);
    sim::DiskFaults broken;
    broken.write_error_probability = 1;
    own.world.node(own.broker).disk().SetFaults(broken);
    LeaveGroupRequest leave;
    leave.group_id = group;
    LeaveGroupRequest::MemberIdentity m;
    m.member_id = member;
    leave.members.push_back(m);
    auto left = co_await Call<LeaveGroupResponse>(s, 3, leave, 80);
    EXPECT_TRUE(left.ok() && left->error_code == 0);
    co_await io.Sleep(std::chrono::milliseconds(50));
    EXPECT_GE(failures(), 1u) << "the Empty record's write failed on the broken disk";
    own.world.node(own.broker).disk().SetFaults(sim::DiskFaults{});
    const uint64_t failed = failures();
    co_await io.Sleep(std::chrono::seconds(20));  // past the longest backoff
    EXPECT_EQ(failures(), failed) << "the retry after the disk recovered landed";
  });
  own.world.StopNode(own.broker);
  own.world.StartNode(own.broker);
  own.Run([&](Io& io) -> Task<void> {
    auto sock = co_await Connect(io, own.config.listen);
    EXPECT_TRUE(sock.ok());
    if (!sock.ok()) co_return;
    Socket& s = **sock;
    EXPECT_TRUE(co_await AwaitCoordinatorsLoaded(io, s));
    DescribeGroupsRequest describe;
    describe.groups = {group};
    auto described = co_await Call<DescribeGroupsResponse>(s, 5, describe, 81);
    EXPECT_TRUE(described.ok() && described->groups.size() == 1);
    if (described.ok() && described->groups.size() == 1) {
      EXPECT_EQ(described->groups[0].group_state, "Empty");
      EXPECT_TRUE(described->groups[0].members.empty());
    }
  });
}

}  // namespace
}  // namespace runnel::broker
