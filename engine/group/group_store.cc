#include "engine/group/group_store.h"

namespace runnel::engine::group {

Task<Status> MemoryGroupStore::StoreGroup(GroupRecord record) {
  (void)record;
  if (!fail_.ok()) co_return fail_;
  group_writes_++;
  co_return Status::Ok();
}

Task<Status> MemoryGroupStore::StoreOffsets(std::string group_id, OffsetEntries offsets) {
  (void)group_id;
  (void)offsets;
  if (!fail_.ok()) co_return fail_;
  offset_writes_++;
  co_return Status::Ok();
}

Task<Status> MemoryGroupStore::RemoveOffsets(std::string group_id,
                                             std::vector<TopicPartition> offsets, bool group_too) {
  (void)group_id;
  (void)offsets;
  (void)group_too;
  if (!fail_.ok()) co_return fail_;
  removes_++;
  co_return Status::Ok();
}

}  // namespace runnel::engine::group
