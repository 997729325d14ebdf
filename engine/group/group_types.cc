#include "engine/group/group_types.h"

#include <cctype>

namespace runnel::engine::group {

std::string_view GroupStateName(GroupState state) {
  switch (state) {
    case GroupState::kEmpty:
      return "Empty";
    case GroupState::kPreparingRebalance:
      return "PreparingRebalance";
    case GroupState::kCompletingRebalance:
      return "CompletingRebalance";
    case GroupState::kStable:
      return "Stable";
    case GroupState::kDead:
      return "Dead";
  }
  return "Unknown";
}

std::optional<GroupState> ParseGroupState(std::string_view name) {
  for (GroupState s : {GroupState::kEmpty, GroupState::kPreparingRebalance,
                       GroupState::kCompletingRebalance, GroupState::kStable, GroupState::kDead}) {
    std::string_view want = GroupStateName(s);
    if (want.size() != name.size()) continue;
    bool same = true;
    for (size_t i = 0; i < want.size() && same; i++) {
      same = std::tolower(static_cast<unsigned char>(want[i])) ==
             std::tolower(static_cast<unsigned char>(name[i]));
    }
    if (same) return s;
  }
  return std::nullopt;
}

std::string_view GroupErrorName(GroupError error) {
  switch (error) {
    case GroupError::kNone:
      return "NONE";
    case GroupError::kUnknownServerError:
      return "UNKNOWN_SERVER_ERROR";
    case GroupError::kUnknownTopicOrPartition:
      return "UNKNOWN_TOPIC_OR_PARTITION";
    case GroupError::kOffsetMetadataTooLarge:
      return "OFFSET_METADATA_TOO_LARGE";
    case GroupError::kCoordinatorLoadInProgress:
      return "COORDINATOR_LOAD_IN_PROGRESS";
    case GroupError::kCoordinatorNotAvailable:
      return "COORDINATOR_NOT_AVAILABLE";
    case GroupError::kNotCoordinator:
      return "NOT_COORDINATOR";
    case GroupError::kIllegalGeneration:
      return "ILLEGAL_GENERATION";
    case GroupError::kInconsistentGroupProtocol:
      return "INCONSISTENT_GROUP_PROTOCOL";
    case GroupError::kInvalidGroupId:
      return "INVALID_GROUP_ID";
    case GroupError::kUnknownMemberId:
      return "UNKNOWN_MEMBER_ID";
    case GroupError::kInvalidSessionTimeout:
      return "INVALID_SESSION_TIMEOUT";
    case GroupError::kRebalanceInProgress:
      return "REBALANCE_IN_PROGRESS";
    case GroupError::kNonEmptyGroup:
      return "NON_EMPTY_GROUP";
    case GroupError::kGroupIdNotFound:
      return "GROUP_ID_NOT_FOUND";
    case GroupError::kMemberIdRequired:
      return "MEMBER_ID_REQUIRED";
    case GroupError::kGroupMaxSizeReached:
      return "GROUP_MAX_SIZE_REACHED";
    case GroupError::kFencedInstanceId:
      return "FENCED_INSTANCE_ID";
    case GroupError::kGroupSubscribedToTopic:
      return "GROUP_SUBSCRIBED_TO_TOPIC";
  }
  return "UNKNOWN";
}

}  // namespace runnel::engine::group
