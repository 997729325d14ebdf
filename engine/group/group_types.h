// The vocabulary of the consumer group coordinator (engine/group/): states, errors, and the
// requests and answers of the classic group protocol, free of any wire format. The broker's
// handlers translate Kafka requests into these and back.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "io/clock.h"

namespace runnel::engine::group {

// Group states of the classic rebalance protocol (Kafka's names, in ListGroups/DescribeGroups).
enum class GroupState : uint8_t {
  kEmpty,                // no members; offsets may still be kept
  kPreparingRebalance,   // collecting JoinGroups for the next generation
  kCompletingRebalance,  // generation chosen; waiting for the leader's SyncGroup
  kStable,               // assignment handed out; members heartbeat
  kDead,                 // deleted (or being unloaded); every request is refused
};
std::string_view GroupStateName(GroupState state);
// The state named `name` as ListGroups filters spell it (case-insensitive), if any.
std::optional<GroupState> ParseGroupState(std::string_view name);

// What went wrong, as the client must hear it. The values are Kafka's wire error codes on
// purpose, so the broker maps them with a cast; the engine never sees the wire enum.
enum class GroupError : int16_t {
  kNone = 0,
  kUnknownServerError = -1,
  kUnknownTopicOrPartition = 3,  // OffsetCommit of a partition that does not exist (broker)
  kOffsetMetadataTooLarge = 12,
  kCoordinatorLoadInProgress = 14,
  kCoordinatorNotAvailable = 15,
  kNotCoordinator = 16,
  kIllegalGeneration = 22,
  kInconsistentGroupProtocol = 23,
  kInvalidGroupId = 24,
  kUnknownMemberId = 25,
  kInvalidSessionTimeout = 26,
  kRebalanceInProgress = 27,
  kNonEmptyGroup = 68,
  kGroupIdNotFound = 69,
  kMemberIdRequired = 79,
  kGroupMaxSizeReached = 81,
  kFencedInstanceId = 82,
  kGroupSubscribedToTopic = 86,
};
std::string_view GroupErrorName(GroupError error);

// Coordinator settings (broker flags group.* and offsets.*).
struct GroupConfig {
  // group.initial.rebalance.delay.ms: how long the first rebalance of an empty group waits for
  // more members (extended by the same amount while members keep arriving, up to the
  // rebalance timeout).
  Duration initial_rebalance_delay = std::chrono::milliseconds(3000);
  Duration session_timeout_min = std::chrono::milliseconds(6000);  // group.min.session.timeout.ms
  Duration session_timeout_max =
      std::chrono::milliseconds(1800000);  // group.max.session.timeout.ms
  // group.max.size: members per group (Kafka's default is unbounded; a limit on everything).
  size_t members_max = 10000;
  // offset.metadata.max.bytes: the metadata string of one committed offset.
  size_t offset_metadata_bytes_max = 4096;
  // offsets.retention.minutes: offsets of a group that has been empty this long are dropped.
  Duration offsets_retention = std::chrono::minutes(7 * 24 * 60);
};

struct ProtocolChoice {
  std::string name;
  std::vector<uint8_t> metadata;
};

struct JoinRequest {
  std::string group_id;
  std::string member_id;                         // "" on a first join
  std::optional<std::string> group_instance_id;  // static membership (KIP-345)
  std::string client_id;
  std::string client_host;
  Duration session_timeout{0};
  Duration rebalance_timeout{0};
  std::string protocol_type;
  std::vector<ProtocolChoice> protocols;
  // JoinGroup v4+: a first join gets MEMBER_ID_REQUIRED with its id and must join again (KIP-394).
  bool require_known_member_id = false;
};

struct JoinMember {
  std::string member_id;
  std::optional<std::string> group_instance_id;
  std::vector<uint8_t> metadata;
};

struct JoinResult {
  GroupError error = GroupError::kNone;
  int32_t generation = -1;
  std::string protocol_type;
  std::optional<std::string> protocol_name;
  std::string leader;
  std::string member_id;
  std::vector<JoinMember> members;  // only the leader's answer lists them
};
using JoinCallback = std::function<void(JoinResult)>;

struct SyncRequest {
  std::string group_id;
  std::string member_id;
  std::optional<std::string> group_instance_id;
  int32_t generation = -1;
  std::optional<std::string> protocol_type;  // v5+: checked when given
  std::optional<std::string> protocol_name;
  // The leader's assignment: member id -> bytes (followers send none).
  std::vector<std::pair<std::string, std::vector<uint8_t>>> assignments;
};

struct SyncResult {
  GroupError error = GroupError::kNone;
  std::string protocol_type;
  std::optional<std::string> protocol_name;
  std::vector<uint8_t> assignment;
};
using SyncCallback = std::function<void(SyncResult)>;

struct HeartbeatRequest {
  std::string group_id;
  std::string member_id;
  std::optional<std::string> group_instance_id;
  int32_t generation = -1;
};

struct LeaveMember {
  std::string member_id;
  std::optional<std::string> group_instance_id;
};

struct LeaveResult {
  GroupError error = GroupError::kNone;  // the whole request
  std::vector<GroupError> members;       // one per LeaveMember, in order
};

struct TopicPartition {
  std::string topic;
  int32_t partition = 0;
  friend auto operator<=>(const TopicPartition&, const TopicPartition&) = default;
};

struct CommittedOffset {
  int64_t offset = -1;
  int32_t leader_epoch = -1;
  std::string metadata;
  int64_t commit_timestamp_ms = -1;
};

struct OffsetCommitRequest {
  std::string group_id;
  int32_t generation = -1;  // -1 with member "" : a commit outside group management
  std::string member_id;
  std::optional<std::string> group_instance_id;
  std::vector<std::pair<TopicPartition, CommittedOffset>> offsets;
};

struct OffsetCommitResult {
  GroupError error = GroupError::kNone;  // when set, every partition failed with it
  std::vector<GroupError> partitions;    // one per request offset, in order
};

struct MemberDescription {
  std::string member_id;
  std::optional<std::string> group_instance_id;
  std::string client_id;
  std::string client_host;
  std::vector<uint8_t> metadata;    // for the chosen protocol; Stable groups only
  std::vector<uint8_t> assignment;  // Stable groups only
};

struct GroupDescription {
  GroupError error = GroupError::kNone;
  std::string group_id;
  GroupState state = GroupState::kDead;
  std::string protocol_type;
  std::string protocol_name;  // Stable groups only
  std::vector<MemberDescription> members;
};

struct GroupListing {
  std::string group_id;
  std::string protocol_type;
  GroupState state = GroupState::kEmpty;
};

}  // namespace runnel::engine::group
