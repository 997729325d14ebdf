#include "engine/group/group_manager.h"

#include <algorithm>

namespace runnel::engine::group {

namespace {

// Big-endian reads for the consumer protocol's subscription bytes.
struct ByteCursor {
  const std::vector<uint8_t>& b;
  size_t at = 0;
  bool Need(size_t n) const { return at + n <= b.size(); }
  std::optional<int32_t> Int(size_t width) {
    if (!Need(width)) return std::nullopt;
    uint32_t v = 0;
    for (size_t i = 0; i < width; i++) v = (v << 8) | b[at + i];
    at += width;
    if (width == 2) return static_cast<int16_t>(v);
    return static_cast<int32_t>(v);
  }
};

}  // namespace

std::optional<std::vector<std::string>> SubscribedTopics(const std::vector<uint8_t>& metadata) {
  // ConsumerProtocolSubscription: int16 version, then (every version) an int32 count of int16
  // length-prefixed topic names. Later fields are not needed here.
  ByteCursor c{metadata};
  std::optional<int32_t> version = c.Int(2);
  std::optional<int32_t> count = c.Int(4);
  if (!version || !count || *version < 0 || *count < 0) return std::nullopt;
  std::vector<std::string> topics;
  for (int32_t i = 0; i < *count; i++) {
    std::optional<int32_t> len = c.Int(2);
    if (!len || *len < 0 || !c.Need(static_cast<size_t>(*len))) return std::nullopt;
    topics.emplace_back(reinterpret_cast<const char*>(metadata.data() + c.at),
                        static_cast<size_t>(*len));
    c.at += static_cast<size_t>(*len);
  }
  return topics;
}

GroupManager::GroupManager(Io& io, GroupConfig config, GroupStore& store)
    : io_(io), config_(config), ctx_{io, config_, store} {}

GroupManager::~GroupManager() = default;

Group* GroupManager::Find(const std::string& group_id) {
  auto it = groups_.find(group_id);
  return it == groups_.end() ? nullptr : it->second.get();
}

const Group* GroupManager::Find(const std::string& group_id) const {
  auto it = groups_.find(group_id);
  return it == groups_.end() ? nullptr : it->second.get();
}

Group& GroupManager::GetOrCreate(const std::string& group_id) {
  auto it = groups_.find(group_id);
  if (it == groups_.end()) {
    it = groups_.emplace(group_id, std::make_unique<Group>(ctx_, group_id)).first;
  }
  return *it->second;
}

// A group that a failed first join created (nothing joined, nothing committed) is not kept.
void GroupManager::EraseIfUnused(const std::string& group_id) {
  auto it = groups_.find(group_id);
  if (it == groups_.end()) return;
  const Group& g = *it->second;
  if (g.state() == GroupState::kEmpty && g.size() == 0 && g.pending_members() == 0 &&
      g.generation() == 0 && g.offsets().empty()) {
    groups_.erase(it);
  }
}

void GroupManager::Join(JoinRequest req, JoinCallback done) {
  JoinResult fail;
  fail.member_id = req.member_id;
  if (req.group_id.empty()) {
    fail.error = GroupError::kInvalidGroupId;
    return done(std::move(fail));
  }
  if (req.session_timeout < config_.session_timeout_min ||
      req.session_timeout > config_.session_timeout_max) {
    fail.error = GroupError::kInvalidSessionTimeout;
    return done(std::move(fail));
  }
  Group* existing = Find(req.group_id);
  if (existing == nullptr && !req.member_id.empty()) {
    fail.error = GroupError::kUnknownMemberId;
    return done(std::move(fail));
  }
  Group& g = GetOrCreate(req.group_id);
  std::string group_id = req.group_id;
  g.Join(std::move(req), std::move(done));
  EraseIfUnused(group_id);
}

void GroupManager::Sync(SyncRequest req, SyncCallback done) {
  Group* g = Find(req.group_id);
  if (g == nullptr) {
    SyncResult r;
    r.error = req.group_id.empty() ? GroupError::kInvalidGroupId : GroupError::kUnknownMemberId;
    return done(std::move(r));
  }
  g->Sync(std::move(req), std::move(done));
}

GroupError GroupManager::Heartbeat(const HeartbeatRequest& req) {
  if (req.group_id.empty()) return GroupError::kInvalidGroupId;
  Group* g = Find(req.group_id);
  if (g == nullptr) return GroupError::kUnknownMemberId;
  return g->Heartbeat(req);
}

LeaveResult GroupManager::Leave(const std::string& group_id,
                                const std::vector<LeaveMember>& members) {
  Group* g = Find(group_id);
  if (g == nullptr || group_id.empty()) {
    LeaveResult r;
    r.error = group_id.empty() ? GroupError::kInvalidGroupId : GroupError::kUnknownMemberId;
    r.members.assign(members.size(), r.error);
    return r;
  }
  return g->Leave(members);
}

Task<OffsetCommitResult> GroupManager::CommitOffsets(OffsetCommitRequest req) {
  OffsetCommitResult out;
  out.partitions.assign(req.offsets.size(), GroupError::kNone);
  auto fail_all = [&out](GroupError e) {
    out.error = e;
    std::fill(out.partitions.begin(), out.partitions.end(), e);
  };
  if (req.group_id.empty()) {
    fail_all(GroupError::kInvalidGroupId);
    co_return out;
  }
  Group* g = Find(req.group_id);
  if (g == nullptr) {
    if (req.generation >= 0 || !req.member_id.empty()) {
      // A generation of a group this coordinator does not know.
      fail_all(GroupError::kIllegalGeneration);
      co_return out;
    }
    g = &GetOrCreate(req.group_id);
  }
  GroupError check = g->CheckCommit(req);
  if (check != GroupError::kNone) {
    fail_all(check);
    co_return out;
  }
  OffsetEntries accepted;
  std::vector<size_t> slots;
  const int64_t now_ms = io_.clock().Wall().unix_ms();
  for (size_t i = 0; i < req.offsets.size(); i++) {
    auto& [tp, offset] = req.offsets[i];
    if (offset.metadata.size() > config_.offset_metadata_bytes_max) {
      out.partitions[i] = GroupError::kOffsetMetadataTooLarge;
      continue;
    }
    if (offset.commit_timestamp_ms < 0) offset.commit_timestamp_ms = now_ms;
    accepted.emplace_back(tp, offset);
    slots.push_back(i);
  }
  if (accepted.empty()) co_return out;
  const std::string group_id = req.group_id;
  Status stored = co_await ctx_.store.StoreOffsets(group_id, accepted);
  if (!stored.ok()) {
    for (size_t i : slots) out.partitions[i] = GroupError::kCoordinatorNotAvailable;
    co_return out;
  }
  // The group may have been deleted while the write was in flight; the offsets were written
  // after its tombstone, so they live on (as they would after a replay).
  Group& applied = GetOrCreate(group_id);
  for (auto& [tp, offset] : accepted) applied.offsets()[tp] = std::move(offset);
  co_return out;
}

std::vector<std::pair<TopicPartition, CommittedOffset>> GroupManager::FetchOffsets(
    const std::string& group_id, const std::optional<std::vector<TopicPartition>>& asked) const {
  std::vector<std::pair<TopicPartition, CommittedOffset>> out;
  const Group* g = Find(group_id);
  if (!asked.has_value()) {
    if (g != nullptr) {
      for (const auto& [tp, offset] : g->offsets()) out.emplace_back(tp, offset);
    }
    return out;
  }
  for (const TopicPartition& tp : *asked) {
    CommittedOffset none;
    if (g != nullptr) {
      auto it = g->offsets().find(tp);
      if (it != g->offsets().end()) none = it->second;
    }
    out.emplace_back(tp, std::move(none));
  }
  return out;
}

std::vector<GroupListing> GroupManager::List() const {
  std::vector<GroupListing> out;
  for (const auto& [id, g] : groups_) {
    if (g->state() == GroupState::kDead) continue;
    GroupListing l;
    l.group_id = id;
    l.protocol_type = g->protocol_type();
    l.state = g->state();
    out.push_back(std::move(l));
  }
  return out;
}

GroupDescription GroupManager::Describe(const std::string& group_id) const {
  const Group* g = Find(group_id);
  if (g == nullptr) {
    GroupDescription d;
    d.group_id = group_id;
    d.state = GroupState::kDead;
    if (group_id.empty()) d.error = GroupError::kInvalidGroupId;
    return d;
  }
  return g->Describe();
}

Task<GroupError> GroupManager::DeleteGroup(std::string group_id) {
  if (group_id.empty()) co_return GroupError::kInvalidGroupId;
  Group* g = Find(group_id);
  if (g == nullptr || g->state() == GroupState::kDead) co_return GroupError::kGroupIdNotFound;
  if (g->state() != GroupState::kEmpty) co_return GroupError::kNonEmptyGroup;
  std::vector<TopicPartition> tps;
  for (const auto& [tp, offset] : g->offsets()) tps.push_back(tp);
  // Dead at once, so nothing joins or commits while the tombstones are written.
  GroupRecord record = g->MakeRecord();
  std::map<TopicPartition, CommittedOffset> offsets = std::move(g->offsets());
  g->Kill();
  groups_.erase(group_id);
  Status s = co_await ctx_.store.RemoveOffsets(group_id, std::move(tps), /*group_too=*/true);
  if (s.ok()) co_return GroupError::kNone;
  // Not durably deleted: bring the group back as it was (unless something recreated it), so
  // memory and the log agree and the client may retry.
  if (Find(group_id) == nullptr) {
    Group& back = GetOrCreate(group_id);
    back.offsets() = std::move(offsets);
    back.Restore(record);
  }
  co_return GroupError::kCoordinatorNotAvailable;
}

Task<OffsetDeleteResult> GroupManager::DeleteOffsets(std::string group_id,
                                                     std::vector<TopicPartition> tps) {
  OffsetDeleteResult out;
  out.partitions.assign(tps.size(), GroupError::kNone);
  Group* g = Find(group_id);
  if (group_id.empty()) {
    out.error = GroupError::kInvalidGroupId;
    co_return out;
  }
  if (g == nullptr || g->state() == GroupState::kDead) {
    out.error = GroupError::kGroupIdNotFound;
    co_return out;
  }
  // Offsets of topics the live members consume cannot go (they would be re-committed).
  std::set<std::string> subscribed;
  if (g->state() != GroupState::kEmpty) {
    if (g->protocol_type() != "consumer") {
      out.error = GroupError::kNonEmptyGroup;
      co_return out;
    }
    GroupDescription d = g->Describe();
    for (const auto& m : d.members) {
      std::optional<std::vector<std::string>> topics = SubscribedTopics(m.metadata);
      if (topics.has_value()) subscribed.insert(topics->begin(), topics->end());
    }
    if (g->state() != GroupState::kStable) {
      // Subscriptions are only known for certain in a stable generation.
      out.error = GroupError::kRebalanceInProgress;
      co_return out;
    }
  }
  std::vector<TopicPartition> removing;
  for (size_t i = 0; i < tps.size(); i++) {
    if (subscribed.count(tps[i].topic) > 0) {
      out.partitions[i] = GroupError::kGroupSubscribedToTopic;
      continue;
    }
    if (g->offsets().count(tps[i]) > 0) removing.push_back(tps[i]);
  }
  if (removing.empty()) co_return out;
  std::vector<TopicPartition> tombstones = removing;
  Status s = co_await ctx_.store.RemoveOffsets(group_id, std::move(tombstones), false);
  if (!s.ok()) {
    out.error = GroupError::kCoordinatorNotAvailable;
    co_return out;
  }
  g = Find(group_id);
  if (g != nullptr) {
    for (const auto& tp : removing) g->offsets().erase(tp);
  }
  co_return out;
}

Task<size_t> GroupManager::ExpireOffsets() {
  const int64_t now_ms = io_.clock().Wall().unix_ms();
  const int64_t retention_ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(config_.offsets_retention).count();
  size_t dropped = 0;
  std::vector<std::string> ids;
  for (const auto& [id, g] : groups_) ids.push_back(id);
  for (const std::string& id : ids) {
    Group* g = Find(id);
    if (g == nullptr || g->state() != GroupState::kEmpty) continue;
    std::vector<TopicPartition> expired;
    // A consumer group loses everything once it has been empty for the retention; a standalone
    // group (commits only, no protocol) loses each offset that old.
    const bool consumer = !g->protocol_type().empty();
    const bool past =
        !consumer || (g->empty_since_ms() >= 0 && g->empty_since_ms() + retention_ms <= now_ms);
    for (const auto& [tp, offset] : g->offsets()) {
      if (consumer ? past : offset.commit_timestamp_ms + retention_ms <= now_ms) {
        expired.push_back(tp);
      }
    }
    const bool drop_group = past && expired.size() == g->offsets().size();
    if (expired.empty() && !drop_group) continue;
    std::vector<TopicPartition> tombstones = expired;
    Status s = co_await ctx_.store.RemoveOffsets(id, std::move(tombstones), drop_group);
    if (!s.ok()) continue;  // tried again at the next pass
    g = Find(id);
    if (g == nullptr || g->state() != GroupState::kEmpty) continue;
    for (const auto& tp : expired) {
      if (g->offsets().erase(tp) > 0) dropped++;
    }
    if (drop_group && g->offsets().empty()) {
      g->Kill();
      groups_.erase(id);
    }
  }
  co_return dropped;
}

Task<TopicOffsetsRemoval> GroupManager::RemoveTopicOffsets(std::set<std::string> topics) {
  TopicOffsetsRemoval out;
  std::vector<std::string> ids;
  for (const auto& [id, g] : groups_) ids.push_back(id);
  for (const std::string& id : ids) {
    Group* g = Find(id);
    if (g == nullptr) continue;
    std::vector<TopicPartition> gone;
    for (const auto& [tp, offset] : g->offsets()) {
      if (topics.contains(tp.topic)) gone.push_back(tp);
    }
    if (gone.empty()) continue;
    const bool drop_group = g->state() == GroupState::kEmpty && g->size() == 0 &&
                            g->pending_members() == 0 && gone.size() == g->offsets().size();
    std::vector<TopicPartition> tombstones = gone;
    Status s = co_await ctx_.store.RemoveOffsets(id, std::move(tombstones), drop_group);
    if (!s.ok()) {
      out.failed.push_back(id);
      continue;
    }
    g = Find(id);
    if (g == nullptr) continue;
    for (const auto& tp : gone) out.dropped += g->offsets().erase(tp);
    if (drop_group && g->state() == GroupState::kEmpty && g->size() == 0 && g->offsets().empty()) {
      g->Kill();
      groups_.erase(id);
    }
  }
  co_return out;
}

void GroupManager::ReplayGroup(const GroupRecord& record) {
  auto it = groups_.find(record.group_id);
  std::map<TopicPartition, CommittedOffset> offsets;
  if (it != groups_.end()) {
    offsets = std::move(it->second->offsets());
    groups_.erase(it);
  }
  Group& g = GetOrCreate(record.group_id);
  g.offsets() = std::move(offsets);
  g.Restore(record);
}

void GroupManager::ReplayGroupTombstone(const std::string& group_id) {
  auto it = groups_.find(group_id);
  if (it == groups_.end()) return;
  it->second->Kill();
  groups_.erase(it);
}

void GroupManager::ReplayOffset(const std::string& group_id, const TopicPartition& tp,
                                const CommittedOffset& offset) {
  GetOrCreate(group_id).offsets()[tp] = offset;
}

void GroupManager::ReplayOffsetTombstone(const std::string& group_id, const TopicPartition& tp) {
  Group* g = Find(group_id);
  if (g != nullptr) g->offsets().erase(tp);
}

}  // namespace runnel::engine::group
