// GroupManager: the consumer groups one shard coordinates — those whose __consumer_offsets
// partition that shard owns — with their committed offsets. It validates requests, creates and
// deletes groups, stores offsets through the GroupStore before applying them, expires the
// offsets of long-empty groups (offsets.retention.minutes) and rebuilds everything from the
// stored records at start-up (Replay*).
//
// Lives on its shard; every call comes from that shard's loop. Join/Sync answer through their
// callbacks (possibly much later: a join waits for the rebalance); the rest answer directly.
#pragma once

#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "engine/group/group.h"
#include "engine/group/group_store.h"
#include "engine/group/group_types.h"
#include "io/io.h"

namespace runnel::engine::group {

struct OffsetDeleteResult {
  GroupError error = GroupError::kNone;  // the whole request
  std::vector<GroupError> partitions;    // one per partition asked, in order
};

struct TopicOffsetsRemoval {
  size_t dropped = 0;               // offsets removed
  std::vector<std::string> failed;  // groups whose tombstones could not be written
};

class GroupManager {
 public:
  GroupManager(Io& io, GroupConfig config, GroupStore& store);
  ~GroupManager();
  GroupManager(const GroupManager&) = delete;
  GroupManager& operator=(const GroupManager&) = delete;

  void Join(JoinRequest req, JoinCallback done);
  void Sync(SyncRequest req, SyncCallback done);
  GroupError Heartbeat(const HeartbeatRequest& req);
  LeaveResult Leave(const std::string& group_id, const std::vector<LeaveMember>& members);
  // Stores the accepted offsets, then applies them; the answer comes after the store.
  Task<OffsetCommitResult> CommitOffsets(OffsetCommitRequest req);
  // Committed offsets of the partitions asked for (all of the group's with nullopt); a
  // partition without a commit has offset -1.
  std::vector<std::pair<TopicPartition, CommittedOffset>> FetchOffsets(
      const std::string& group_id, const std::optional<std::vector<TopicPartition>>& asked) const;
  std::vector<GroupListing> List() const;
  // A group that does not exist is described as Dead with no error (as Kafka does).
  GroupDescription Describe(const std::string& group_id) const;
  // Empty groups only (NON_EMPTY_GROUP otherwise); the offsets and the group are tombstoned.
  Task<GroupError> DeleteGroup(std::string group_id);
  Task<OffsetDeleteResult> DeleteOffsets(std::string group_id, std::vector<TopicPartition> tps);
  // Drops offsets past offsets.retention.minutes: every offset of a consumer group empty for
  // that long, and each offset of a standalone group (no protocol) committed that long ago. A
  // group left with neither members nor offsets is removed. Returns the offsets dropped.
  Task<size_t> ExpireOffsets();
  // The topics were deleted: every group's committed offsets of them are tombstoned, then
  // dropped (as Kafka's handleDeletedPartitions); an Empty group left without offsets is
  // removed with them. A group whose write fails keeps its offsets and is named in `failed`.
  Task<TopicOffsetsRemoval> RemoveTopicOffsets(std::set<std::string> topics);

  // Start-up replay, in log order (a later record replaces an earlier one; a tombstone removes).
  void ReplayGroup(const GroupRecord& record);
  void ReplayGroupTombstone(const std::string& group_id);
  void ReplayOffset(const std::string& group_id, const TopicPartition& tp,
                    const CommittedOffset& offset);
  void ReplayOffsetTombstone(const std::string& group_id, const TopicPartition& tp);

  Group* Find(const std::string& group_id);
  const Group* Find(const std::string& group_id) const;
  size_t group_count() const { return groups_.size(); }
  const GroupConfig& config() const { return config_; }

 private:
  Group& GetOrCreate(const std::string& group_id);
  void EraseIfUnused(const std::string& group_id);

  Io& io_;
  GroupConfig config_;
  GroupContext ctx_;
  std::map<std::string, std::unique_ptr<Group>> groups_;
};

// The topics a "consumer" protocol subscription (ConsumerProtocolSubscription, any version)
// names, or nullopt when the bytes do not parse.
std::optional<std::vector<std::string>> SubscribedTopics(const std::vector<uint8_t>& metadata);

}  // namespace runnel::engine::group
