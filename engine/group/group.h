// Group: one consumer group's classic rebalance state machine (Empty, PreparingRebalance,
// CompletingRebalance, Stable, Dead), its members, generations and committed offsets.
//
// Owned by the GroupManager of the shard that owns the group's __consumer_offsets partition;
// every call comes from that shard's loop. Timers (session expiry, rebalance completion, the
// initial rebalance delay, pending-member expiry) run on the shard's Io clock, so on the
// simulator they fire at exactly the virtual instant they are due.
//
// Callbacks (JoinCallback, SyncCallback) are called at most once each, from the shard's loop or
// inline in the call that completes them; a callback must not call back into the group.
//
// Durability: the group record is handed to the GroupStore when a leader's assignment arrives
// (members hear the assignment only after it is stored) and when the group becomes empty.
#pragma once

#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "engine/group/group_store.h"
#include "engine/group/group_types.h"
#include "io/io.h"

namespace runnel::engine::group {

// What every group of one shard shares.
struct GroupContext {
  Io& io;
  const GroupConfig& config;
  GroupStore& store;
};

class Group {
 public:
  Group(GroupContext& ctx, std::string group_id);
  ~Group();
  Group(const Group&) = delete;
  Group& operator=(const Group&) = delete;

  void Join(JoinRequest req, JoinCallback done);
  void Sync(SyncRequest req, SyncCallback done);
  GroupError Heartbeat(const HeartbeatRequest& req);
  LeaveResult Leave(const std::vector<LeaveMember>& members);
  // Checks an OffsetCommit against the membership (the caller stores and applies it).
  GroupError CheckCommit(const OffsetCommitRequest& req);

  // Marks the group Dead: pending joins and syncs fail with COORDINATOR_NOT_AVAILABLE, timers
  // stop. Used by DeleteGroups and on unload.
  void Kill();
  // Restores the group from its record (start-up replay): members come back Stable with fresh
  // session timers, or the group is Empty.
  void Restore(const GroupRecord& record);
  GroupRecord MakeRecord() const;

  const std::string& id() const { return id_; }
  GroupState state() const { return state_; }
  int32_t generation() const { return generation_; }
  const std::string& protocol_type() const { return protocol_type_; }
  const std::optional<std::string>& protocol_name() const { return protocol_name_; }
  const std::string& leader() const { return leader_; }
  size_t size() const { return members_.size(); }
  bool has_member(const std::string& member_id) const { return members_.count(member_id) > 0; }
  size_t pending_members() const { return pending_.size(); }
  uint64_t store_failures() const { return store_failures_; }
  GroupDescription Describe() const;
  // Wall-clock ms since the group last became Empty (for offsets.retention.minutes), or -1.
  int64_t empty_since_ms() const { return empty_since_ms_; }

  // Committed offsets, applied after the store acknowledged them.
  std::map<TopicPartition, CommittedOffset>& offsets() { return offsets_; }
  const std::map<TopicPartition, CommittedOffset>& offsets() const { return offsets_; }

 private:
  struct Member {
    std::string id;
    std::optional<std::string> instance_id;
    std::string client_id;
    std::string client_host;
    Duration session_timeout{0};
    Duration rebalance_timeout{0};
    std::string protocol_type;
    std::vector<ProtocolChoice> protocols;
    std::vector<uint8_t> assignment;
    uint64_t join_seq = 0;  // order of arrival: the oldest member becomes leader
    JoinCallback join;      // set while awaiting the JoinGroup answer
    SyncCallback sync;      // set while awaiting the SyncGroup answer
    TimerId heartbeat_timer = 0;
    uint64_t heartbeat_seq = 0;  // which ScheduleHeartbeat the pending timer belongs to
  };
  // The leader's assignment while the store makes it durable.
  struct PendingAssignment {
    int32_t generation = 0;
    std::map<std::string, std::vector<uint8_t>> assignments;
  };

  GroupError CheckMember(const std::string& member_id,
                         const std::optional<std::string>& instance_id) const;
  bool SupportsProtocols(const std::string& type, const std::vector<ProtocolChoice>& ps) const;
  std::set<std::string> CandidateProtocols() const;
  std::string SelectProtocol() const;
  // The member's metadata for the group's chosen protocol (nullptr when none is chosen).
  const std::vector<uint8_t>* ChosenMetadata(const Member& m) const;
  std::string NewMemberId(const std::string& client_id);

  void JoinUnknown(JoinRequest req, JoinCallback done);
  void JoinKnown(JoinRequest req, JoinCallback done);
  void AddMemberAndRebalance(JoinRequest req, std::string member_id, JoinCallback done);
  void UpdateMemberAndRebalance(Member& m, JoinRequest req, JoinCallback done);
  JoinResult CurrentJoinAnswer(const Member& m) const;
  void PrepareRebalance();
  void ScheduleJoinTimer(Duration delay);
  void OnJoinTimer();
  void MaybeCompleteJoin();
  bool AllMembersJoined() const;
  void CompleteJoin();
  Duration RebalanceTimeoutMax() const;
  void OnAssignmentStored(int32_t generation, Status status);
  void CancelTimers();
  void FailPendingSyncs(GroupError error);
  void RemoveMember(const std::string& member_id);
  void AfterMemberRemoved();
  void ScheduleHeartbeat(Member& m);
  void OnHeartbeatExpired(const std::string& member_id, uint64_t seq);
  void SchedulePendingExpiry(const std::string& member_id, Duration timeout);
  void BecomeEmpty();
  void StoreInBackground();
  static Task<void> StoreLoop(Group* self, std::shared_ptr<bool> alive);
  void RetryStoreLater();

  GroupContext& ctx_;
  std::string id_;
  GroupState state_ = GroupState::kEmpty;
  int32_t generation_ = 0;
  std::string protocol_type_;
  std::optional<std::string> protocol_name_;
  std::string leader_;
  std::map<std::string, Member> members_;
  std::map<std::string, std::string> static_members_;  // instance id -> member id
  std::map<std::string, TimerId> pending_;             // KIP-394 ids handed out, not yet joined
  uint64_t next_join_seq_ = 0;
  TimerId join_timer_ = 0;
  bool initial_delay_ = false;     // the join timer is the initial rebalance delay
  bool new_member_added_ = false;  // during the initial delay
  Duration initial_delay_remaining_{0};
  int64_t empty_since_ms_ = -1;
  uint64_t heartbeat_seq_ = 0;
  std::optional<PendingAssignment> pending_assignment_;
  bool store_dirty_ = false;    // the group changed since the running write made its record
  bool store_running_ = false;  // StoreLoop is running
  uint64_t store_failures_ = 0;
  TimerId store_retry_timer_ = 0;  // a failed write nobody waits for, tried again
  Duration store_retry_backoff_{0};
  std::map<TopicPartition, CommittedOffset> offsets_;
  std::shared_ptr<bool> alive_;  // false once destroyed: background stores check it
};

}  // namespace runnel::engine::group
