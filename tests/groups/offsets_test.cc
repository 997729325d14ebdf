// Committed offsets (commit, fetch, delete, retention expiry), group deletion, start-up replay,
// and the __consumer_offsets record formats and coordinator hash.
#include <gtest/gtest.h>

#include "engine/group/offsets_topic.h"
#include "tests/groups/group_test_util.h"

namespace runnel::engine::group::testing {
namespace {

using OffsetsTest = GroupFixture;

OffsetCommitRequest Standalone(std::string group, std::string topic, int32_t partition,
                               int64_t offset, std::string metadata = "") {
  OffsetCommitRequest r;
  r.group_id = std::move(group);
  CommittedOffset c;
  c.offset = offset;
  c.metadata = std::move(metadata);
  r.offsets.push_back({TopicPartition{std::move(topic), partition}, std::move(c)});
  return r;
}

TEST_F(OffsetsTest, StandaloneCommitIsStoredThenFetched) {
  OffsetCommitResult r = Await(manager_->CommitOffsets(Standalone("g", "t", 3, 42, "meta")));
  EXPECT_EQ(r.error, GroupError::kNone);
  ASSERT_EQ(r.partitions.size(), 1u);
  EXPECT_EQ(r.partitions[0], GroupError::kNone);
  EXPECT_EQ(store_.offset_writes(), 1u);
  std::vector<TopicPartition> asked = {{"t", 3}, {"t", 4}};
  auto got = manager_->FetchOffsets("g", asked);
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(got[0].second.offset, 42);
  EXPECT_EQ(got[0].second.metadata, "meta");
  EXPECT_GE(got[0].second.commit_timestamp_ms, 0);
  EXPECT_EQ(got[1].second.offset, -1) << "never committed";
  EXPECT_EQ(manager_->FetchOffsets("g", std::nullopt).size(), 1u);
  EXPECT_EQ(manager_->FetchOffsets("other", asked)[0].second.offset, -1);
  EXPECT_EQ(manager_->Find("g")->state(), GroupState::kEmpty);
}

TEST_F(OffsetsTest, CommitErrorsLoseNothing) {
  OffsetCommitRequest big = Standalone("g", "t", 0, 1, std::string(5000, 'x'));
  big.offsets.push_back({TopicPartition{"t", 1}, CommittedOffset{7, -1, "ok", -1}});
  OffsetCommitResult r = Await(manager_->CommitOffsets(big));
  EXPECT_EQ(r.partitions[0], GroupError::kOffsetMetadataTooLarge);
  EXPECT_EQ(r.partitions[1], GroupError::kNone) << "the other partition is still committed";
  auto got = manager_->FetchOffsets("g", std::nullopt);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].first.partition, 1);

  store_.FailWith(Status::Io("sync failed"));
  OffsetCommitResult failed = Await(manager_->CommitOffsets(Standalone("g", "t", 1, 99)));
  EXPECT_EQ(failed.partitions[0], GroupError::kCoordinatorNotAvailable);
  EXPECT_EQ(manager_->FetchOffsets("g", std::nullopt)[0].second.offset, 7)
      << "an offset that was not stored is not applied";

  OffsetCommitRequest ghost = Standalone("nope", "t", 0, 1);
  ghost.generation = 3;
  ghost.member_id = "m";
  EXPECT_EQ(Await(manager_->CommitOffsets(ghost)).error, GroupError::kIllegalGeneration);
}

TEST_F(OffsetsTest, MemberCommitsChecked) {
  auto [leader, follower] = StableOfTwo("g");
  OffsetCommitRequest c = Standalone("g", "t", 0, 10);
  EXPECT_EQ(Await(manager_->CommitOffsets(c)).error, GroupError::kUnknownMemberId)
      << "a generation -1 commit into a live group";
  c.member_id = follower;
  c.generation = 2;
  EXPECT_EQ(Await(manager_->CommitOffsets(c)).error, GroupError::kIllegalGeneration);
  c.generation = 1;
  EXPECT_EQ(Await(manager_->CommitOffsets(c)).error, GroupError::kNone);
  // Eager consumers commit while the group prepares a rebalance: allowed.
  auto j = Join(MakeJoin("g", leader));
  c.offsets[0].second.offset = 11;
  EXPECT_EQ(Await(manager_->CommitOffsets(c)).error, GroupError::kNone);
  EXPECT_EQ(manager_->FetchOffsets("g", std::nullopt)[0].second.offset, 11);
}

TEST_F(OffsetsTest, DeleteGroupOnlyWhenEmpty) {
  auto [leader, follower] = StableOfTwo("g");
  EXPECT_EQ(Await(manager_->DeleteGroup("g")), GroupError::kNonEmptyGroup);
  EXPECT_EQ(Await(manager_->DeleteGroup("missing")), GroupError::kGroupIdNotFound);
  EXPECT_EQ(Await(manager_->CommitOffsets(Standalone("s", "t", 0, 5))).error, GroupError::kNone);
  EXPECT_EQ(Await(manager_->DeleteGroup("s")), GroupError::kNone);
  EXPECT_EQ(manager_->Find("s"), nullptr);
  EXPECT_EQ(manager_->FetchOffsets("s", std::nullopt).size(), 0u);
  EXPECT_EQ(store_.removes(), 1u);
  EXPECT_EQ(manager_->List().size(), 1u);

  // A deletion the store could not make durable leaves the group as it was.
  EXPECT_EQ(Await(manager_->CommitOffsets(Standalone("kept", "t", 0, 8))).error, GroupError::kNone);
  store_.FailWith(Status::Io("sync failed"));
  EXPECT_EQ(Await(manager_->DeleteGroup("kept")), GroupError::kCoordinatorNotAvailable);
  ASSERT_NE(manager_->Find("kept"), nullptr);
  EXPECT_EQ(manager_->Find("kept")->state(), GroupState::kEmpty);
  EXPECT_EQ(manager_->FetchOffsets("kept", std::nullopt).at(0).second.offset, 8);
}

TEST_F(OffsetsTest, DeleteOffsetsRefusesSubscribedTopics) {
  // A consumer subscription naming topic "t": version 0, one topic.
  std::vector<uint8_t> sub = {0, 0, 0, 0, 0, 1, 0, 1, 't', 0, 0, 0, 0};
  JoinRequest j = MakeJoin("g", "");
  j.protocols[0].metadata = sub;
  auto a = Join(j);
  RunFor(config_.initial_rebalance_delay);
  ASSERT_TRUE(a.ready());
  auto s = Sync("g", a->member_id, 1, {{a->member_id, {}}});
  Settle();
  OffsetCommitRequest c = Standalone("g", "t", 0, 1);
  c.member_id = a->member_id;
  c.generation = 1;
  c.offsets.push_back({TopicPartition{"u", 0}, CommittedOffset{2, -1, "", -1}});
  ASSERT_EQ(Await(manager_->CommitOffsets(c)).error, GroupError::kNone);
  std::vector<TopicPartition> both = {{"t", 0}, {"u", 0}};
  OffsetDeleteResult r = Await(manager_->DeleteOffsets("g", both));
  EXPECT_EQ(r.error, GroupError::kNone);
  EXPECT_EQ(r.partitions[0], GroupError::kGroupSubscribedToTopic);
  EXPECT_EQ(r.partitions[1], GroupError::kNone);
  auto left = manager_->FetchOffsets("g", std::nullopt);
  ASSERT_EQ(left.size(), 1u);
  EXPECT_EQ(left[0].first.topic, "t");
  EXPECT_EQ(Await(manager_->DeleteOffsets("nope", both)).error, GroupError::kGroupIdNotFound);
  EXPECT_EQ(SubscribedTopics(sub), std::vector<std::string>{"t"});
  EXPECT_EQ(SubscribedTopics({0, 0, 0, 0, 0, 9}), std::nullopt) << "truncated";
}

// A deleted topic's offsets go from every group: a standalone group left with none is removed
// (its record tombstoned too), a Stable group keeps its members, other topics' offsets stay. A
// group whose tombstones cannot be written keeps its offsets and is reported.
TEST_F(OffsetsTest, RemoveTopicOffsetsDropsADeletedTopicFromEveryGroup) {
  auto [leader, follower] = StableOfTwo("live");
  OffsetCommitRequest c = Standalone("live", "gone", 0, 3);
  c.member_id = follower;
  c.generation = 1;
  ASSERT_EQ(Await(manager_->CommitOffsets(c)).error, GroupError::kNone);
  ASSERT_EQ(Await(manager_->CommitOffsets(Standalone("only", "gone", 1, 4))).error,
            GroupError::kNone);
  OffsetCommitRequest mixed = Standalone("mixed", "gone", 0, 5);
  mixed.offsets.push_back({TopicPartition{"kept", 0}, CommittedOffset{6, -1, "", -1}});
  ASSERT_EQ(Await(manager_->CommitOffsets(mixed)).error, GroupError::kNone);
  const uint64_t removes = store_.removes();

  std::set<std::string> topics = {"gone", "never-committed"};
  TopicOffsetsRemoval r = Await(manager_->RemoveTopicOffsets(topics));
  EXPECT_EQ(r.dropped, 3u);
  EXPECT_TRUE(r.failed.empty());
  EXPECT_EQ(store_.removes(), removes + 3) << "one tombstone batch per group";
  EXPECT_EQ(manager_->Find("only"), nullptr) << "nothing left: the group is removed";
  ASSERT_NE(manager_->Find("live"), nullptr);
  EXPECT_EQ(manager_->Find("live")->state(), GroupState::kStable);
  EXPECT_EQ(manager_->Find("live")->size(), 2u);
  EXPECT_TRUE(manager_->FetchOffsets("live", std::nullopt).empty());
  auto left = manager_->FetchOffsets("mixed", std::nullopt);
  ASSERT_EQ(left.size(), 1u);
  EXPECT_EQ(left[0].first.topic, "kept");
  EXPECT_EQ(left[0].second.offset, 6);

  // Nothing to remove: no write at all.
  EXPECT_EQ(Await(manager_->RemoveTopicOffsets(topics)).dropped, 0u);
  EXPECT_EQ(store_.removes(), removes + 3);

  // A failed write keeps the offsets (memory agrees with the log) and names the group.
  std::set<std::string> kept = {"kept"};
  store_.FailWith(Status::Io("sync failed"));
  TopicOffsetsRemoval failed = Await(manager_->RemoveTopicOffsets(kept));
  EXPECT_EQ(failed.dropped, 0u);
  EXPECT_EQ(failed.failed, std::vector<std::string>{"mixed"});
  EXPECT_EQ(manager_->FetchOffsets("mixed", std::nullopt).size(), 1u);
}

TEST_F(OffsetsTest, RetentionExpiresStandaloneOffsetsByCommitTime) {
  config_.offsets_retention = 60min;
  manager_ = std::make_unique<GroupManager>(io(), config_, store_);
  ASSERT_EQ(Await(manager_->CommitOffsets(Standalone("s", "t", 0, 5))).error, GroupError::kNone);
  RunFor(30min);
  ASSERT_EQ(Await(manager_->CommitOffsets(Standalone("s", "t", 1, 6))).error, GroupError::kNone);
  RunFor(30min - 1ms);
  EXPECT_EQ(Await(manager_->ExpireOffsets()), 0u);
  RunFor(1ms);
  EXPECT_EQ(Await(manager_->ExpireOffsets()), 1u) << "only the older commit";
  ASSERT_NE(manager_->Find("s"), nullptr);
  RunFor(30min);
  EXPECT_EQ(Await(manager_->ExpireOffsets()), 1u);
  EXPECT_EQ(manager_->Find("s"), nullptr) << "nothing left: the group goes too";
}

TEST_F(OffsetsTest, RetentionOfAConsumerGroupCountsFromWhenItBecameEmpty) {
  config_.offsets_retention = 10min;
  manager_ = std::make_unique<GroupManager>(io(), config_, store_);
  auto [leader, follower] = StableOfTwo("g");
  OffsetCommitRequest c = Standalone("g", "t", 0, 10);
  c.member_id = leader;
  c.generation = 1;
  ASSERT_EQ(Await(manager_->CommitOffsets(c)).error, GroupError::kNone);
  // Alive for an hour: nothing expires however old the commit.
  for (int i = 0; i < 720; i++) {
    RunFor(5s);
    ASSERT_EQ(Heartbeat("g", leader, 1), GroupError::kNone);
    ASSERT_EQ(Heartbeat("g", follower, 1), GroupError::kNone);
  }
  EXPECT_EQ(Await(manager_->ExpireOffsets()), 0u);
  manager_->Leave("g", {{leader, std::nullopt}, {follower, std::nullopt}});
  ASSERT_EQ(manager_->Find("g")->state(), GroupState::kEmpty);
  RunFor(10min - 1ms);
  EXPECT_EQ(Await(manager_->ExpireOffsets()), 0u);
  RunFor(1ms);
  EXPECT_EQ(Await(manager_->ExpireOffsets()), 1u);
  EXPECT_EQ(manager_->Find("g"), nullptr);
}

TEST_F(OffsetsTest, ReplayRestoresGroupsAndOffsets) {
  GroupRecord rec;
  rec.group_id = "g";
  rec.protocol_type = "consumer";
  rec.generation = 4;
  rec.protocol_name = "range";
  rec.leader = "m1";
  MemberRecord m1;
  m1.member_id = "m1";
  m1.client_id = "c";
  m1.session_timeout_ms = 10000;
  m1.rebalance_timeout_ms = 30000;
  m1.subscription = Bytes("sub");
  m1.assignment = Bytes("asg");
  rec.members.push_back(m1);
  manager_->ReplayOffset("g", {"t", 0}, CommittedOffset{1, -1, "", 1});
  manager_->ReplayGroup(rec);
  manager_->ReplayOffset("g", {"t", 0}, CommittedOffset{2, -1, "x", 2});
  manager_->ReplayOffset("g", {"t", 1}, CommittedOffset{3, -1, "", 3});
  manager_->ReplayOffsetTombstone("g", {"t", 1});
  manager_->ReplayOffset("gone", {"t", 0}, CommittedOffset{9, -1, "", 3});
  manager_->ReplayGroupTombstone("gone");
  ASSERT_EQ(manager_->group_count(), 1u);
  Group* g = manager_->Find("g");
  EXPECT_EQ(g->state(), GroupState::kStable);
  EXPECT_EQ(g->generation(), 4);
  auto offsets = manager_->FetchOffsets("g", std::nullopt);
  ASSERT_EQ(offsets.size(), 1u);
  EXPECT_EQ(offsets[0].second.offset, 2);
  EXPECT_EQ(offsets[0].second.metadata, "x");
  // The restored member gets its assignment and, silent, expires after its session.
  auto s = Sync("g", "m1", 4);
  ASSERT_TRUE(s.ready());
  EXPECT_EQ(s->assignment, Bytes("asg"));
  RunFor(10s);
  EXPECT_FALSE(g->has_member("m1"));
}

TEST(OffsetsTopic, JavaHashAndCoordinatorPartition) {
  // Expected values computed independently from UTF-16 code units (Java's String.hashCode).
  EXPECT_EQ(JavaStringHash(""), 0);
  EXPECT_EQ(JavaStringHash("a"), 97);
  EXPECT_EQ(JavaStringHash("my-group"), -1906497762);
  EXPECT_EQ(OffsetsPartitionFor("my-group", 50), 12);
  EXPECT_EQ(OffsetsPartitionFor("console-consumer-12345", 50), 6);
  EXPECT_EQ(JavaStringHash("gr\xc3\xbcppe"), -1233264812);  // "grüppe"
  EXPECT_EQ(JavaStringHash("g\xf0\x9f\x98\x80"), 1871882);  // a surrogate pair
  EXPECT_EQ(OffsetsPartitionFor("g\xf0\x9f\x98\x80", 50), 32);
  EXPECT_EQ(JavaStringHash("polygenelubricants"), INT32_MIN);
  EXPECT_EQ(OffsetsPartitionFor("polygenelubricants", 50), 0) << "Kafka's abs(MIN_VALUE) is 0";
}

TEST(OffsetsTopic, RecordsRoundTripInKafkasFormat) {
  std::vector<uint8_t> key = EncodeOffsetKey("g", TopicPartition{"t", 2});
  const std::vector<uint8_t> want_key = {0, 1, 0, 1, 'g', 0, 1, 't', 0, 0, 0, 2};
  EXPECT_EQ(key, want_key);
  CommittedOffset c{123, 5, "meta", 1700000000000};
  std::vector<uint8_t> value = EncodeOffsetValue(c);
  EXPECT_EQ(value.size(), 2u + 8 + 4 + 2 + 4 + 8);
  EXPECT_EQ(value[1], 3) << "value version 3";
  Result<OffsetsRecord> r = DecodeOffsetsRecord(key, value);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->kind, OffsetsRecord::Kind::kOffset);
  EXPECT_EQ(r->group_id, "g");
  EXPECT_EQ(r->tp, (TopicPartition{"t", 2}));
  EXPECT_EQ(r->offset->offset, 123);
  EXPECT_EQ(r->offset->leader_epoch, 5);
  EXPECT_EQ(r->offset->metadata, "meta");
  EXPECT_EQ(r->offset->commit_timestamp_ms, 1700000000000);
  Result<OffsetsRecord> tomb = DecodeOffsetsRecord(key, std::nullopt);
  ASSERT_TRUE(tomb.ok());
  EXPECT_FALSE(tomb->offset.has_value());

  // A version 1 value (Kafka 0.10-2.0) still reads: offset, metadata, commit, expire.
  const std::vector<uint8_t> v1 = {0, 1, 0, 0, 0, 0, 0, 0, 0, 9, 0, 0, 0, 0,
                                   0, 0, 0, 0, 0, 7, 0, 0, 0, 0, 0, 0, 0, 8};
  Result<OffsetsRecord> old = DecodeOffsetsRecord(key, v1);
  ASSERT_TRUE(old.ok()) << old.status().ToString();
  EXPECT_EQ(old->offset->offset, 9);
  EXPECT_EQ(old->offset->commit_timestamp_ms, 7);
  EXPECT_EQ(old->offset->leader_epoch, -1);

  GroupRecord g;
  g.group_id = "grp";
  g.protocol_type = "consumer";
  g.generation = 7;
  g.protocol_name = "range";
  g.leader = "m";
  g.current_state_timestamp_ms = 55;
  MemberRecord m;
  m.member_id = "m";
  m.group_instance_id = "i";
  m.client_id = "c";
  m.client_host = "/1.2.3.4";
  m.rebalance_timeout_ms = 300;
  m.session_timeout_ms = 100;
  m.subscription = {1, 2};
  m.assignment = {3};
  g.members.push_back(m);
  std::vector<uint8_t> gkey = EncodeGroupKey("grp");
  EXPECT_EQ(gkey, (std::vector<uint8_t>{0, 2, 0, 3, 'g', 'r', 'p'}));
  Result<OffsetsRecord> gr = DecodeOffsetsRecord(gkey, EncodeGroupValue(g));
  ASSERT_TRUE(gr.ok()) << gr.status().ToString();
  ASSERT_TRUE(gr->group.has_value());
  EXPECT_EQ(gr->group->generation, 7);
  EXPECT_EQ(gr->group->protocol_name, "range");
  EXPECT_EQ(gr->group->current_state_timestamp_ms, 55);
  ASSERT_EQ(gr->group->members.size(), 1u);
  EXPECT_EQ(gr->group->members[0].group_instance_id, "i");
  EXPECT_EQ(gr->group->members[0].rebalance_timeout_ms, 300);
  EXPECT_EQ(gr->group->members[0].assignment, (std::vector<uint8_t>{3}));
  GroupRecord empty;
  empty.group_id = "e";
  empty.protocol_type = "consumer";
  empty.generation = 2;
  Result<OffsetsRecord> er = DecodeOffsetsRecord(EncodeGroupKey("e"), EncodeGroupValue(empty));
  ASSERT_TRUE(er.ok());
  EXPECT_FALSE(er->group->protocol_name.has_value());
  EXPECT_FALSE(er->group->leader.has_value());
}

TEST(OffsetsTopic, MalformedRecordsAreCorruption) {
  std::vector<uint8_t> key = EncodeOffsetKey("g", TopicPartition{"t", 2});
  EXPECT_EQ(DecodeOffsetsRecord({0, 9, 0, 0}, std::nullopt).status().kind(),
            ErrorKind::kCorruption);
  std::vector<uint8_t> cut(key.begin(), key.end() - 1);
  EXPECT_EQ(DecodeOffsetsRecord(cut, std::nullopt).status().kind(), ErrorKind::kCorruption);
  std::vector<uint8_t> value = EncodeOffsetValue(CommittedOffset{1, 2, "m", 3});
  value.push_back(0);
  EXPECT_EQ(DecodeOffsetsRecord(key, value).status().kind(), ErrorKind::kCorruption)
      << "trailing bytes";
  std::vector<uint8_t> future = EncodeOffsetValue(CommittedOffset{1, 2, "m", 3});
  future[1] = 9;
  EXPECT_EQ(DecodeOffsetsRecord(key, future).status().kind(), ErrorKind::kCorruption);
  std::vector<uint8_t> gv = {0, 3, 0, 1, 'c', 0, 0, 0, 1,    0xff, 0xff, 0xff, 0xff,
                             0, 0, 0, 0, 0,   0, 0, 0, 0x7f, 0xff, 0xff, 0xff};
  EXPECT_EQ(DecodeOffsetsRecord(EncodeGroupKey("g"), gv).status().kind(), ErrorKind::kCorruption)
      << "a member count larger than the bytes";
}

}  // namespace
}  // namespace runnel::engine::group::testing
