#include "broker/handlers/groups.h"
#include "broker/handlers/handler.h"

namespace runnel::broker {

Handler FindHandler(int16_t api_key) {
  switch (api_key) {
    case 0:
      return HandleProduce;
    case 1:
      return HandleFetch;
    case 2:
      return HandleListOffsets;
    case 3:
      return HandleMetadata;
    case 8:
      return HandleOffsetCommit;
    case 9:
      return HandleOffsetFetch;
    case 10:
      return HandleFindCoordinator;
    case 11:
      return HandleJoinGroup;
    case 12:
      return HandleHeartbeat;
    case 13:
      return HandleLeaveGroup;
    case 14:
      return HandleSyncGroup;
    case 15:
      return HandleDescribeGroups;
    case 16:
      return HandleListGroups;
    case 18:
      return HandleApiVersions;
    case 19:
      return HandleCreateTopics;
    case 20:
      return HandleDeleteTopics;
    case 21:
      return HandleDeleteRecords;
    case 22:
      return HandleInitProducerId;
    case 23:
      return HandleOffsetForLeaderEpoch;
    case 32:
      return HandleDescribeConfigs;
    case 33:
      return HandleAlterConfigs;
    case 37:
      return HandleCreatePartitions;
    case 42:
      return HandleDeleteGroups;
    case 44:
      return HandleIncrementalAlterConfigs;
    case 47:
      return HandleOffsetDelete;
    case 60:
      return HandleDescribeCluster;
    default:
      return nullptr;
  }
}

}  // namespace runnel::broker
