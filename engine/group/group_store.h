// GroupStore: where the coordinator makes group metadata and committed offsets durable. The
// broker's implementation appends records to the group's __consumer_offsets partition with
// acks=all durability (broker/group_log.cc); MemoryGroupStore keeps nothing (units, and a
// broker before its offsets topic is ready).
//
// Durability contract: when a Store*/Remove* task resolves ok, the change survives a crash and
// is seen by GroupManager::Replay at the next start. Calls come from the coordinator's shard.
#pragma once

#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "engine/group/group_types.h"
#include "io/status.h"
#include "io/task.h"

namespace runnel::engine::group {

// One member as the group metadata record keeps it.
struct MemberRecord {
  std::string member_id;
  std::optional<std::string> group_instance_id;
  std::string client_id;
  std::string client_host;
  int32_t rebalance_timeout_ms = 0;
  int32_t session_timeout_ms = 0;
  std::vector<uint8_t> subscription;  // the metadata for the chosen protocol
  std::vector<uint8_t> assignment;
};

// A group's metadata after a generation completed (or the group became empty).
struct GroupRecord {
  std::string group_id;
  std::string protocol_type;
  int32_t generation = 0;
  std::optional<std::string> protocol_name;
  std::optional<std::string> leader;
  int64_t current_state_timestamp_ms = -1;  // wall clock when the record was made
  std::vector<MemberRecord> members;
};

using OffsetEntries = std::vector<std::pair<TopicPartition, CommittedOffset>>;

class GroupStore {
 public:
  virtual ~GroupStore() = default;
  virtual Task<Status> StoreGroup(GroupRecord record) = 0;
  virtual Task<Status> StoreOffsets(std::string group_id, OffsetEntries offsets) = 0;
  // Tombstones for the listed offsets and, with `group_too`, the group record.
  virtual Task<Status> RemoveOffsets(std::string group_id, std::vector<TopicPartition> offsets,
                                     bool group_too) = 0;
};

class MemoryGroupStore final : public GroupStore {
 public:
  Task<Status> StoreGroup(GroupRecord record) override;
  Task<Status> StoreOffsets(std::string group_id, OffsetEntries offsets) override;
  Task<Status> RemoveOffsets(std::string group_id, std::vector<TopicPartition> offsets,
                             bool group_too) override;
  uint64_t group_writes() const { return group_writes_; }
  uint64_t offset_writes() const { return offset_writes_; }
  uint64_t removes() const { return removes_; }
  // Fails every later call with `status` (units exercise the error paths).
  void FailWith(Status status) { fail_ = std::move(status); }

 private:
  uint64_t group_writes_ = 0;
  uint64_t offset_writes_ = 0;
  uint64_t removes_ = 0;
  Status fail_;
};

}  // namespace runnel::engine::group
