// The classic rebalance state machine on simulated time: joins, KIP-394 member ids,
// generations, leader election, protocol selection, the initial rebalance delay, session and
// rebalance timeouts firing exactly when due, leave, static membership and the errors.
#include <gtest/gtest.h>

#include "tests/groups/group_test_util.h"

namespace runnel::engine::group::testing {
namespace {

using GroupTest = GroupFixture;

TEST_F(GroupTest, FirstJoinV4GetsMemberIdRequiredThenJoins) {
  JoinRequest first = MakeJoin("g", "");
  first.require_known_member_id = true;
  auto a = Join(first);
  ASSERT_TRUE(a.ready());
  EXPECT_EQ(a->error, GroupError::kMemberIdRequired);
  EXPECT_EQ(a->member_id.rfind("client-", 0), 0u) << a->member_id;
  EXPECT_EQ(manager_->Find("g")->pending_members(), 1u);
  EXPECT_EQ(manager_->Find("g")->size(), 0u);

  auto b = Join(MakeJoin("g", a->member_id));
  EXPECT_FALSE(b.ready());  // the initial rebalance delay holds it
  RunFor(config_.initial_rebalance_delay);
  ASSERT_TRUE(b.ready());
  EXPECT_EQ(b->error, GroupError::kNone);
  EXPECT_EQ(b->member_id, a->member_id);
  EXPECT_EQ(b->generation, 1);
  EXPECT_EQ(b->leader, a->member_id);
  EXPECT_EQ(b->protocol_name, "range");
  ASSERT_EQ(b->members.size(), 1u);
  EXPECT_EQ(b->members[0].metadata, Bytes("meta-range"));
  EXPECT_EQ(manager_->Find("g")->state(), GroupState::kCompletingRebalance);
}

TEST_F(GroupTest, InitialDelayFiresExactlyAndExtendsWhileMembersArrive) {
  auto a = Join(MakeJoin("g", ""));
  RunFor(config_.initial_rebalance_delay - 1ns);
  EXPECT_FALSE(a.ready());
  RunFor(1ns);
  ASSERT_TRUE(a.ready());
  EXPECT_EQ(a->generation, 1);

  // A second group: a member arriving during the delay extends it by one more delay.
  auto b = Join(MakeJoin("h", ""));
  RunFor(2000ms);
  auto c = Join(MakeJoin("h", ""));
  RunFor(1000ms);  // the first delay ends, a member was added: wait another 3000 ms
  EXPECT_FALSE(b.ready());
  RunFor(3000ms - 1ns);
  EXPECT_FALSE(b.ready());
  EXPECT_FALSE(c.ready());
  RunFor(1ns);
  ASSERT_TRUE(b.ready() && c.ready());
  EXPECT_EQ(b->generation, 1);
  EXPECT_EQ(b->leader, c->leader);
  EXPECT_EQ(b->leader, b->member_id) << "the first to join leads";
  EXPECT_EQ(b->members.size(), 2u);
  EXPECT_TRUE(c->members.empty()) << "followers get no member list";
}

TEST_F(GroupTest, InitialDelayIsBoundedByTheRebalanceTimeout) {
  // Rebalance timeout 5 s, delay 3 s: the extension is cut to the 2 s that remain.
  auto a = Join(MakeJoin("g", "", {"range"}, 10s, 5s));
  RunFor(1000ms);
  auto b = Join(MakeJoin("g", "", {"range"}, 10s, 5s));
  RunFor(2000ms);
  EXPECT_FALSE(a.ready());
  RunFor(2000ms - 1ns);
  EXPECT_FALSE(a.ready());
  RunFor(1ns);
  EXPECT_TRUE(a.ready() && b.ready());
}

TEST_F(GroupTest, LeaderSyncHandsOutAssignmentsAfterTheStore) {
  auto a = Join(MakeJoin("g", ""));
  auto b = Join(MakeJoin("g", ""));
  RunFor(TwoDelays());
  ASSERT_TRUE(a.ready() && b.ready());
  const std::string leader = a->leader;
  const std::string follower = a->member_id == leader ? b->member_id : a->member_id;
  auto fs = Sync("g", follower, 1);
  EXPECT_FALSE(fs.ready()) << "a follower waits for the leader";
  const uint64_t writes = store_.group_writes();
  auto ls = Sync("g", leader, 1, {{leader, Bytes("L")}, {follower, Bytes("F")}, {"gone", {}}});
  EXPECT_FALSE(ls.ready()) << "nobody hears the assignment before it is stored";
  Settle();
  ASSERT_TRUE(fs.ready() && ls.ready());
  EXPECT_EQ(store_.group_writes(), writes + 1);
  EXPECT_EQ(fs->error, GroupError::kNone);
  EXPECT_EQ(fs->assignment, Bytes("F"));
  EXPECT_EQ(ls->assignment, Bytes("L"));
  EXPECT_EQ(manager_->Find("g")->state(), GroupState::kStable);
  // A late sync in Stable gets the same assignment at once.
  auto again = Sync("g", follower, 1);
  ASSERT_TRUE(again.ready());
  EXPECT_EQ(again->assignment, Bytes("F"));
  GroupRecord record = manager_->Find("g")->MakeRecord();
  EXPECT_EQ(record.generation, 1);
  EXPECT_EQ(record.members.size(), 2u);
}

TEST_F(GroupTest, StoreFailureFailsTheSyncAndRebalances) {
  auto a = Join(MakeJoin("g", ""));
  RunFor(config_.initial_rebalance_delay);
  ASSERT_TRUE(a.ready());
  store_.FailWith(Status::Io("disk on fire"));
  auto s = Sync("g", a->member_id, 1, {{a->member_id, Bytes("x")}});
  Settle();
  ASSERT_TRUE(s.ready());
  EXPECT_EQ(s->error, GroupError::kCoordinatorNotAvailable);
  EXPECT_EQ(manager_->Find("g")->state(), GroupState::kPreparingRebalance);
}

TEST_F(GroupTest, ProtocolSelectionByVotesAmongCommonProtocols) {
  auto a = Join(MakeJoin("g", "", {"range", "roundrobin"}));
  auto b = Join(MakeJoin("g", "", {"range", "roundrobin"}));
  auto c = Join(MakeJoin("g", "", {"roundrobin", "range"}));
  RunFor(TwoDelays());
  ASSERT_TRUE(a.ready());
  EXPECT_EQ(a->protocol_name, "range") << "two votes beat one";

  auto d = Join(MakeJoin("h", "", {"range", "roundrobin"}));
  auto e = Join(MakeJoin("h", "", {"roundrobin"}));
  // Nothing in common with the members: refused at once.
  auto f = Join(MakeJoin("h", "", {"sticky"}));
  ASSERT_TRUE(f.ready());
  EXPECT_EQ(f->error, GroupError::kInconsistentGroupProtocol);
  JoinRequest other_type = MakeJoin("h", "", {"roundrobin"});
  other_type.protocol_type = "connect";
  auto g = Join(other_type);
  ASSERT_TRUE(g.ready());
  EXPECT_EQ(g->error, GroupError::kInconsistentGroupProtocol);
  RunFor(TwoDelays());
  ASSERT_TRUE(d.ready() && e.ready());
  EXPECT_EQ(d->protocol_name, "roundrobin") << "the only protocol every member supports";
  EXPECT_EQ(d->members.size() + e->members.size(), 2u);
}

TEST_F(GroupTest, SessionExpiresExactlyAtTheDeadline) {
  auto [leader, follower] = StableOfTwo("g");
  // The leader heartbeats every 3 s; the follower's last sign of life was its sync, just now.
  const Instant synced = now();
  for (int i = 0; i < 3; i++) {
    RunFor(3s);
    EXPECT_EQ(Heartbeat("g", leader, 1), GroupError::kNone);
  }
  RunFor(synced + 10s - now() - 1ns);
  EXPECT_TRUE(manager_->Find("g")->has_member(follower));
  RunFor(1ns);
  EXPECT_FALSE(manager_->Find("g")->has_member(follower)) << "expired at exactly 10 s";
  EXPECT_EQ(manager_->Find("g")->state(), GroupState::kPreparingRebalance);
  EXPECT_EQ(Heartbeat("g", leader, 1), GroupError::kRebalanceInProgress);
  EXPECT_EQ(Heartbeat("g", follower, 1), GroupError::kUnknownMemberId);
  // The leader is the only member left: its rejoin completes the generation at once.
  auto j = Join(MakeJoin("g", leader));
  ASSERT_TRUE(j.ready());
  EXPECT_EQ(j->generation, 2);
  EXPECT_EQ(j->leader, leader);
  EXPECT_EQ(j->members.size(), 1u);
}

TEST_F(GroupTest, HeartbeatsKeepAMemberAlivePastManySessions) {
  auto [leader, follower] = StableOfTwo("g");
  for (int i = 0; i < 20; i++) {
    RunFor(9s);
    EXPECT_EQ(Heartbeat("g", leader, 1), GroupError::kNone);
    EXPECT_EQ(Heartbeat("g", follower, 1), GroupError::kNone);
  }
  EXPECT_EQ(manager_->Find("g")->state(), GroupState::kStable);
  EXPECT_EQ(manager_->Find("g")->size(), 2u);
}

TEST_F(GroupTest, RebalanceTimeoutDropsMembersThatDoNotRejoin) {
  auto [leader, follower] = StableOfTwo("g");
  // The leader rejoins (new generation); the follower keeps heartbeating but never rejoins.
  const Instant start = now();
  auto j = Join(MakeJoin("g", leader));
  EXPECT_FALSE(j.ready());
  EXPECT_EQ(Heartbeat("g", follower, 1), GroupError::kRebalanceInProgress);
  while (now() + 5s < start + 30s) {
    RunFor(5s);
    EXPECT_EQ(Heartbeat("g", follower, 1), GroupError::kRebalanceInProgress);
  }
  RunFor(start + 30s - now() - 1ns);
  EXPECT_FALSE(j.ready());
  RunFor(1ns);
  ASSERT_TRUE(j.ready()) << "the rebalance timeout (30 s) completes the join";
  EXPECT_EQ(j->generation, 2);
  EXPECT_EQ(j->members.size(), 1u);
  EXPECT_EQ(Heartbeat("g", follower, 1), GroupError::kUnknownMemberId);
}

TEST_F(GroupTest, JoinCompletesEarlyWhenEveryoneRejoined) {
  auto [leader, follower] = StableOfTwo("g");
  auto a = Join(MakeJoin("g", leader));
  EXPECT_FALSE(a.ready());
  auto b = Join(MakeJoin("g", follower));
  ASSERT_TRUE(a.ready() && b.ready());
  EXPECT_EQ(a->generation, 2);
  EXPECT_EQ(b->generation, 2);
  // The old generation is over.
  EXPECT_EQ(Heartbeat("g", follower, 1), GroupError::kIllegalGeneration);
  auto s = Sync("g", follower, 1);
  ASSERT_TRUE(s.ready());
  EXPECT_EQ(s->error, GroupError::kIllegalGeneration);
}

TEST_F(GroupTest, FollowerRejoiningUnchangedInStableKeepsTheGeneration) {
  auto [leader, follower] = StableOfTwo("g");
  auto b = Join(MakeJoin("g", follower));
  ASSERT_TRUE(b.ready());
  EXPECT_EQ(b->generation, 1);
  EXPECT_EQ(manager_->Find("g")->state(), GroupState::kStable);
  auto changed = Join(MakeJoin("g", follower, {"range", "roundrobin"}));
  EXPECT_FALSE(changed.ready()) << "a changed subscription rebalances";
  EXPECT_EQ(manager_->Find("g")->state(), GroupState::kPreparingRebalance);
}

TEST_F(GroupTest, PendingMemberIdExpiresAfterItsSessionTimeout) {
  auto [leader, follower] = StableOfTwo("g");
  JoinRequest newcomer = MakeJoin("g", "", {"range"}, 4s);
  newcomer.require_known_member_id = true;
  auto n = Join(newcomer);
  ASSERT_TRUE(n.ready());
  EXPECT_EQ(n->error, GroupError::kMemberIdRequired);
  const Instant handed_out = now();
  auto a = Join(MakeJoin("g", leader));
  auto b = Join(MakeJoin("g", follower));
  EXPECT_FALSE(a.ready()) << "the pending member is waited for";
  RunFor(handed_out + 4s - now() - 1ns);
  EXPECT_FALSE(a.ready());
  RunFor(1ns);
  ASSERT_TRUE(a.ready() && b.ready());
  EXPECT_EQ(a->generation, 2);
  EXPECT_EQ(manager_->Find("g")->pending_members(), 0u);
  // Its id is no longer good.
  auto late = Join(MakeJoin("g", n->member_id));
  ASSERT_TRUE(late.ready());
  EXPECT_EQ(late->error, GroupError::kUnknownMemberId);
}

TEST_F(GroupTest, SyncTimeoutRemovesMembersThatNeverSync) {
  auto a = Join(MakeJoin("g", "", {"range"}, 60s, 20s));
  auto b = Join(MakeJoin("g", "", {"range"}, 60s, 20s));
  RunFor(TwoDelays());
  ASSERT_TRUE(a.ready() && b.ready());
  const std::string leader = a->leader;
  const std::string follower = a->member_id == leader ? b->member_id : a->member_id;
  auto fs = Sync("g", follower, 1);
  RunFor(20s - 1ns);
  EXPECT_EQ(manager_->Find("g")->size(), 2u);
  RunFor(1ns);
  EXPECT_FALSE(manager_->Find("g")->has_member(leader)) << "the leader never synced";
  ASSERT_TRUE(fs.ready());
  EXPECT_EQ(fs->error, GroupError::kRebalanceInProgress);
}

TEST_F(GroupTest, LeaveBatchedMembers) {
  auto [leader, follower] = StableOfTwo("g");
  std::vector<LeaveMember> leaving = {{leader, std::nullopt}, {"nobody", std::nullopt}};
  LeaveResult r = manager_->Leave("g", leaving);
  EXPECT_EQ(r.error, GroupError::kNone);
  ASSERT_EQ(r.members.size(), 2u);
  EXPECT_EQ(r.members[0], GroupError::kNone);
  EXPECT_EQ(r.members[1], GroupError::kUnknownMemberId);
  EXPECT_EQ(manager_->Find("g")->state(), GroupState::kPreparingRebalance);
  EXPECT_EQ(manager_->Find("g")->leader(), follower) << "the oldest remaining member leads";
  auto j = Join(MakeJoin("g", follower));
  ASSERT_TRUE(j.ready());
  EXPECT_EQ(j->generation, 2);
  EXPECT_EQ(j->leader, follower);
  // The last member leaves: after the (immediate) rebalance the group is Empty.
  LeaveResult last = manager_->Leave("g", {{follower, std::nullopt}});
  EXPECT_EQ(last.members[0], GroupError::kNone);
  EXPECT_EQ(manager_->Find("g")->state(), GroupState::kEmpty);
  EXPECT_EQ(manager_->Find("g")->generation(), 3);
  LeaveResult unknown_group = manager_->Leave("nope", {{follower, std::nullopt}});
  EXPECT_EQ(unknown_group.error, GroupError::kUnknownMemberId);
}

// The record written when a group becomes Empty is not waited for by anyone: a failed write
// is tried again on its own after 100 ms, then 200 ms, 400 ms, ... (doubling) until it lands,
// and not again after that.
TEST_F(GroupTest, AFailedEmptyRecordIsRetriedUntilItLands) {
  auto [leader, follower] = StableOfTwo("g");
  const uint64_t writes = store_.group_writes();
  store_.FailWith(Status::Io("disk failed"));
  std::vector<LeaveMember> both = {{leader, std::nullopt}, {follower, std::nullopt}};
  manager_->Leave("g", both);
  Settle();
  Group* g = manager_->Find("g");
  ASSERT_NE(g, nullptr);
  ASSERT_EQ(g->state(), GroupState::kEmpty);
  ASSERT_EQ(g->store_failures(), 1u) << "the Empty record's first write";
  // Retried at +100 ms and +200 ms after that, exactly.
  RunFor(100ms - 1ns);
  EXPECT_EQ(g->store_failures(), 1u);
  RunFor(1ns);
  EXPECT_EQ(g->store_failures(), 2u);
  RunFor(200ms - 1ns);
  EXPECT_EQ(g->store_failures(), 2u);
  RunFor(1ns);
  EXPECT_EQ(g->store_failures(), 3u);
  // The disk is back: the next try (+400 ms) lands, and that is the last write.
  store_.FailWith(Status::Ok());
  RunFor(400ms - 1ns);
  EXPECT_EQ(store_.group_writes(), writes);
  RunFor(1ns);
  EXPECT_EQ(store_.group_writes(), writes + 1);
  EXPECT_EQ(g->store_failures(), 3u);
  RunFor(1h);
  EXPECT_EQ(store_.group_writes(), writes + 1);
  EXPECT_EQ(g->state(), GroupState::kEmpty);
}

// A failed background write is superseded by a newer one (it carries the latest state): the
// retry timer goes, and the backoff starts over after a write lands.
TEST_F(GroupTest, ANewerWriteReplacesTheRetry) {
  JoinRequest sj = MakeJoin("g", "");
  sj.group_instance_id = "instance-a";
  auto first = Join(sj);
  RunFor(config_.initial_rebalance_delay);
  ASSERT_TRUE(first.ready());
  auto synced = Sync("g", first->member_id, first->generation, {{first->member_id, Bytes("a")}});
  Settle();
  ASSERT_TRUE(synced.ready());
  ASSERT_EQ(manager_->Find("g")->state(), GroupState::kStable);
  const uint64_t writes = store_.group_writes();
  // A static member restarting unchanged gets a new id without a rebalance: a background write.
  store_.FailWith(Status::Io("disk failed"));
  auto again = Join(sj);
  Settle();
  ASSERT_TRUE(again.ready());
  Group* g = manager_->Find("g");
  ASSERT_EQ(g->store_failures(), 1u);
  // Before its retry (+100 ms) the member restarts again: that write runs at once and lands.
  RunFor(50ms);
  store_.FailWith(Status::Ok());
  auto third = Join(sj);
  Settle();
  ASSERT_TRUE(third.ready());
  EXPECT_EQ(store_.group_writes(), writes + 1);
  RunFor(900ms);  // past every retry the first failure could have scheduled; within the session
  EXPECT_EQ(store_.group_writes(), writes + 1) << "the superseded retry does not write again";
  EXPECT_EQ(g->state(), GroupState::kStable);
  EXPECT_EQ(g->store_failures(), 1u);
}

TEST_F(GroupTest, LeaveWhileAwaitingJoinAnswersTheJoin) {
  auto a = Join(MakeJoin("g", ""));
  auto b = Join(MakeJoin("g", ""));
  RunFor(1s);
  ASSERT_FALSE(a.ready());
  GroupDescription d = manager_->Describe("g");
  ASSERT_EQ(d.members.size(), 2u);
  LeaveResult r = manager_->Leave("g", {{d.members[0].member_id, std::nullopt}});
  EXPECT_EQ(r.members[0], GroupError::kNone);
  const bool a_left = a.ready();
  const auto& left = a_left ? a : b;
  ASSERT_TRUE(left.ready());
  EXPECT_EQ(left->error, GroupError::kUnknownMemberId);
  RunFor(TwoDelays());
  const auto& stayed = a_left ? b : a;
  ASSERT_TRUE(stayed.ready());
  EXPECT_EQ(stayed->members.size(), 1u);
}

TEST_F(GroupTest, StaticMemberRestartKeepsItsPlaceAndFencesTheOldId) {
  JoinRequest s = MakeJoin("g", "");
  s.group_instance_id = "instance-1";
  s.require_known_member_id = true;  // static members are admitted without the extra round
  auto a = Join(s);
  auto b = Join(MakeJoin("g", ""));
  RunFor(TwoDelays());
  ASSERT_TRUE(a.ready() && b.ready());
  ASSERT_EQ(a->error, GroupError::kNone);
  const std::string old_id = a->member_id;
  const std::string leader = a->leader;
  const std::string follower = leader == old_id ? b->member_id : old_id;
  auto sf = Sync("g", follower, 1, {});
  auto sl = Sync("g", leader, 1, {{old_id, Bytes("static")}, {b->member_id, Bytes("dyn")}});
  Settle();
  ASSERT_EQ(manager_->Find("g")->state(), GroupState::kStable);

  // The static member restarts: a join without member id but with its instance id.
  auto again = Join(s);
  ASSERT_TRUE(again.ready()) << "no rebalance for an unchanged static member";
  EXPECT_EQ(again->error, GroupError::kNone);
  EXPECT_NE(again->member_id, old_id);
  EXPECT_EQ(again->generation, 1);
  EXPECT_EQ(manager_->Find("g")->state(), GroupState::kStable);
  auto sync_new = Sync("g", again->member_id, 1);
  ASSERT_TRUE(sync_new.ready());
  EXPECT_EQ(sync_new->assignment, Bytes("static")) << "the assignment stays with the instance";
  EXPECT_EQ(Heartbeat("g", old_id, 1, "instance-1"), GroupError::kFencedInstanceId);
  EXPECT_EQ(Heartbeat("g", again->member_id, 1, "instance-1"), GroupError::kNone);

  // A static member leaves by instance id; a wrong member id for the instance is fenced.
  LeaveResult fenced = manager_->Leave("g", {{old_id, "instance-1"}});
  EXPECT_EQ(fenced.members[0], GroupError::kFencedInstanceId);
  LeaveResult ok = manager_->Leave("g", {{"", "instance-1"}});
  EXPECT_EQ(ok.members[0], GroupError::kNone);
  EXPECT_FALSE(manager_->Find("g")->has_member(again->member_id));
}

TEST_F(GroupTest, RequestErrors) {
  JoinRequest bad_session = MakeJoin("g", "", {"range"}, 500ms);
  auto a = Join(bad_session);
  ASSERT_TRUE(a.ready());
  EXPECT_EQ(a->error, GroupError::kInvalidSessionTimeout);
  auto b = Join(MakeJoin("", ""));
  EXPECT_EQ(b->error, GroupError::kInvalidGroupId);
  auto c = Join(MakeJoin("nope", "some-member"));
  EXPECT_EQ(c->error, GroupError::kUnknownMemberId);
  EXPECT_EQ(manager_->Find("nope"), nullptr) << "a failed join leaves no group behind";
  EXPECT_EQ(Heartbeat("nope", "m", 1), GroupError::kUnknownMemberId);

  auto d = Join(MakeJoin("g", ""));
  RunFor(1s);
  ASSERT_FALSE(d.ready());
  GroupDescription desc = manager_->Describe("g");
  const std::string member = desc.members.at(0).member_id;
  auto early = Sync("g", member, 0);
  ASSERT_TRUE(early.ready());
  EXPECT_EQ(early->error, GroupError::kRebalanceInProgress);
  RunFor(config_.initial_rebalance_delay);
  ASSERT_TRUE(d.ready());
  EXPECT_EQ(Heartbeat("g", member, 7), GroupError::kIllegalGeneration);
  EXPECT_EQ(Heartbeat("g", "stranger", 1), GroupError::kUnknownMemberId);
  EXPECT_EQ(Heartbeat("g", member, 1), GroupError::kNone) << "CompletingRebalance accepts it";
  OffsetCommitRequest commit;
  commit.group_id = "g";
  commit.member_id = member;
  commit.generation = 1;
  commit.offsets.push_back({TopicPartition{"t", 0}, CommittedOffset{5, -1, "", -1}});
  OffsetCommitResult r = Await(manager_->CommitOffsets(commit));
  EXPECT_EQ(r.error, GroupError::kRebalanceInProgress);
  auto wrong_type = Sync("g", member, 1);
  (void)wrong_type;
}

TEST_F(GroupTest, DescribeAndListShowStatesAndMembers) {
  auto [leader, follower] = StableOfTwo("g");
  auto lonely = Join(MakeJoin("h", ""));
  std::vector<GroupListing> list = manager_->List();
  ASSERT_EQ(list.size(), 2u);
  EXPECT_EQ(list[0].group_id, "g");
  EXPECT_EQ(list[0].state, GroupState::kStable);
  EXPECT_EQ(list[0].protocol_type, "consumer");
  EXPECT_EQ(list[1].state, GroupState::kPreparingRebalance);
  GroupDescription d = manager_->Describe("g");
  EXPECT_EQ(d.state, GroupState::kStable);
  EXPECT_EQ(d.protocol_name, "range");
  ASSERT_EQ(d.members.size(), 2u);
  for (const auto& m : d.members) {
    EXPECT_EQ(m.metadata, Bytes("meta-range"));
    EXPECT_EQ(m.assignment, Bytes(m.member_id == leader ? "for-leader" : "for-follower"));
    EXPECT_EQ(m.client_host, "/127.0.0.1");
  }
  GroupDescription missing = manager_->Describe("missing");
  EXPECT_EQ(missing.error, GroupError::kNone);
  EXPECT_EQ(missing.state, GroupState::kDead);
  EXPECT_EQ(GroupStateName(GroupState::kCompletingRebalance), "CompletingRebalance");
  EXPECT_EQ(ParseGroupState("stable"), GroupState::kStable);
  EXPECT_EQ(ParseGroupState("bogus"), std::nullopt);
}

TEST_F(GroupTest, SameSeedSameMemberIds) {
  auto a = Join(MakeJoin("g", ""));
  RunFor(config_.initial_rebalance_delay);
  ASSERT_TRUE(a.ready());
  sim::SimWorld other(7);
  sim::NodeId n = other.AddNode(sim::NodeOptions{});
  MemoryGroupStore store;
  GroupManager m(other.node(n).io(0), config_, store);
  Slot<JoinResult> b;
  m.Join(MakeJoin("g", ""), b.Callback());
  other.RunFor(config_.initial_rebalance_delay);
  ASSERT_TRUE(b.ready());
  EXPECT_EQ(a->member_id, b->member_id);
}

}  // namespace
}  // namespace runnel::engine::group::testing
