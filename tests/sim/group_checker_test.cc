// GroupChecker (sim/checkers/group_checker.h) against planted histories: each invariant it
// promises is broken once on purpose and must be reported, and a clean history (with a reset,
// reads racing commits and a static member taking over) must pass.
#include "sim/checkers/group_checker.h"

#include <gtest/gtest.h>

#include <map>
#include <string>
#include <vector>

namespace runnel::sim {
namespace {

constexpr char kGroup[] = "g";

// A checker of 3 partitions whose high watermarks are all 100.
GroupChecker Checker() {
  GroupChecker c(3);
  for (int32_t p = 0; p < 3; p++) c.HighWatermark(p, 100);
  return c;
}

Status Commit(GroupChecker& c, int32_t partition, int64_t offset) {
  c.CommitSending(kGroup, partition, offset);
  return c.CommitAcked(kGroup, partition, offset);
}

TEST(GroupChecker, ACleanHistoryPasses) {
  GroupChecker c = Checker();
  EXPECT_TRUE(Commit(c, 0, 10).ok());
  EXPECT_TRUE(Commit(c, 0, 20).ok());
  // A read sent before the commit of 30 was acknowledged may see 20 or 30.
  const GroupChecker::ReadToken before = c.ReadStarting(kGroup);
  EXPECT_TRUE(Commit(c, 0, 30).ok());
  EXPECT_TRUE(c.ReadBack(before, 0, 20).ok());
  EXPECT_TRUE(c.ReadBack(before, 0, 30).ok());
  EXPECT_TRUE(c.ReadBack(before, 1, -1).ok());  // never committed
  // A reset lowers the floor on purpose.
  c.Resetting(kGroup, 0, 5);
  EXPECT_TRUE(Commit(c, 0, 5).ok());
  EXPECT_TRUE(c.ReadBack(c.ReadStarting(kGroup), 0, 5).ok());
  EXPECT_EQ(c.floor(kGroup, 0), 5);
  // A static member's new id takes over its instance's partitions in the same generation.
  const std::map<std::string, std::vector<int32_t>> plan = {{"a", {0, 1}}, {"b", {2}}};
  c.LeaderAssigned(kGroup, 1, plan);
  EXPECT_TRUE(c.Assigned(kGroup, 1, "a", "member a", {0, 1}).ok());
  EXPECT_TRUE(c.Assigned(kGroup, 1, "b", "instance i", {2}).ok());
  EXPECT_TRUE(c.Assigned(kGroup, 1, "b2", "instance i", {2}).ok());
  // The next generation may move partitions.
  EXPECT_TRUE(c.Assigned(kGroup, 2, "b2", "instance i", {0, 1, 2}).ok());
  EXPECT_EQ(c.stats().commits_acked, 4u);
  EXPECT_EQ(c.stats().generations, 2u);
}

TEST(GroupChecker, ACommittedOffsetThatGoesBackIsReported) {
  GroupChecker c = Checker();
  ASSERT_TRUE(Commit(c, 1, 40).ok());
  const Status s = c.ReadBack(c.ReadStarting(kGroup), 1, 30);
  EXPECT_TRUE(s.Is(ErrorKind::kCorruption));
  EXPECT_NE(s.message().find("went back"), std::string::npos) << s.message();
  // Lost altogether (read back as none) is going back too.
  EXPECT_FALSE(c.ReadBack(c.ReadStarting(kGroup), 1, -1).ok());
  // But not after a reset below it.
  c.Resetting(kGroup, 1, 0);
  c.CommitSending(kGroup, 1, 0);
  EXPECT_TRUE(c.ReadBack(c.ReadStarting(kGroup), 1, 0).ok());
}

TEST(GroupChecker, AnOffsetNobodyCommittedIsReported) {
  GroupChecker c = Checker();
  ASSERT_TRUE(Commit(c, 0, 10).ok());
  const Status s = c.ReadBack(c.ReadStarting(kGroup), 0, 11);
  EXPECT_FALSE(s.ok());
  EXPECT_NE(s.message().find("no member committed"), std::string::npos) << s.message();
  c.CommitSending(kGroup, 2, 7);
  EXPECT_FALSE(c.CommitAcked(kGroup, 2, 8).ok()) << "acknowledged but never sent";
}

TEST(GroupChecker, AnOffsetAboveTheHighWatermarkIsReported) {
  GroupChecker c = Checker();
  c.CommitSending(kGroup, 0, 101);
  Status s = c.CommitAcked(kGroup, 0, 101);
  EXPECT_FALSE(s.ok());
  EXPECT_NE(s.message().find("above the high watermark"), std::string::npos) << s.message();
  // Read back above the high watermark (the commit was sent, its answer lost).
  c.CommitSending(kGroup, 1, 150);
  s = c.ReadBack(c.ReadStarting(kGroup), 1, 150);
  EXPECT_FALSE(s.ok());
  EXPECT_NE(s.message().find("above the high watermark"), std::string::npos) << s.message();
  // Once a fetch saw the partition that far, the same offset is fine.
  c.HighWatermark(1, 150);
  EXPECT_TRUE(c.ReadBack(c.ReadStarting(kGroup), 1, 150).ok());
}

TEST(GroupChecker, TwoOwnersOfAPartitionInOneGenerationAreReported) {
  GroupChecker c = Checker();
  ASSERT_TRUE(c.Assigned(kGroup, 3, "a", "member a", {0, 1}).ok());
  const Status s = c.Assigned(kGroup, 3, "b", "member b", {1, 2});
  EXPECT_FALSE(s.ok());
  EXPECT_NE(s.message().find("assigned to both member a and member b"), std::string::npos)
      << s.message();
  // Another group may own the same partition.
  EXPECT_TRUE(c.Assigned("other", 3, "b", "member b", {1, 2}).ok());
}

TEST(GroupChecker, AnAnswerThatIsNotTheLeadersPlanIsReported) {
  GroupChecker c = Checker();
  const std::map<std::string, std::vector<int32_t>> plan = {{"a", {0}}, {"b", {1, 2}}};
  c.LeaderAssigned(kGroup, 1, plan);
  EXPECT_TRUE(c.Assigned(kGroup, 1, "b", "member b", {2, 1}).ok());  // order does not matter
  const Status s = c.Assigned(kGroup, 1, "a", "member a", {});
  EXPECT_FALSE(s.ok());
  EXPECT_NE(s.message().find("not what the leader assigned"), std::string::npos) << s.message();
}

TEST(GroupChecker, APartitionThatDoesNotExistIsReported) {
  GroupChecker c = Checker();
  EXPECT_FALSE(c.Assigned(kGroup, 1, "a", "member a", {3}).ok());
  EXPECT_FALSE(c.ReadBack(c.ReadStarting(kGroup), 7, -1).ok());
}

}  // namespace
}  // namespace runnel::sim
