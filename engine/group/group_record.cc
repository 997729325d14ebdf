// Group: what is stored (MakeRecord and the one-writer store loop) and restored (Restore),
// and what DescribeGroups shows. The state machine itself is in group.cc.
#include <algorithm>

#include "engine/group/group.h"

namespace runnel::engine::group {

namespace {

// A failed write of a record nobody waits for is tried again after this, doubling up to the
// maximum while it keeps failing.
constexpr Duration kStoreRetryFirst = std::chrono::milliseconds(100);
constexpr Duration kStoreRetryMax = std::chrono::seconds(10);

int32_t ToMs(Duration d) {
  return static_cast<int32_t>(std::chrono::duration_cast<std::chrono::milliseconds>(d).count());
}

}  // namespace

// ---- durability --------------------------------------------------------------------------

GroupRecord Group::MakeRecord() const {
  GroupRecord r;
  r.group_id = id_;
  r.protocol_type = protocol_type_;
  r.generation = generation_;
  r.protocol_name = protocol_name_;
  if (!leader_.empty()) r.leader = leader_;
  r.current_state_timestamp_ms = ctx_.io.clock().Wall().unix_ms();
  if (state_ == GroupState::kEmpty || state_ == GroupState::kDead) return r;
  for (const auto& [id, m] : members_) {
    MemberRecord mr;
    mr.member_id = id;
    mr.group_instance_id = m.instance_id;
    mr.client_id = m.client_id;
    mr.client_host = m.client_host;
    mr.rebalance_timeout_ms = ToMs(m.rebalance_timeout);
    mr.session_timeout_ms = ToMs(m.session_timeout);
    const std::vector<uint8_t>* md = ChosenMetadata(m);
    if (md != nullptr) mr.subscription = *md;
    if (pending_assignment_.has_value()) {
      auto a = pending_assignment_->assignments.find(id);
      if (a != pending_assignment_->assignments.end()) mr.assignment = a->second;
    } else {
      mr.assignment = m.assignment;
    }
    r.members.push_back(std::move(mr));
  }
  return r;
}

// One writer per group: a record is made when its write starts, so the last write always
// carries the latest state, and writes of one group never overtake each other.
//
// A write the leader's SyncGroup waits for reports its failure there (the group rebalances).
// Any other write (the group became Empty, a static member's id changed) is tried again on
// its own after a backoff (RetryStoreLater) until it lands; a newer write started meanwhile
// takes its place, since it carries the latest state.
void Group::StoreInBackground() {
  store_dirty_ = true;
  if (store_running_) return;
  store_running_ = true;
  ctx_.io.Spawn(StoreLoop(this, alive_));
}

Task<void> Group::StoreLoop(Group* self, std::shared_ptr<bool> alive) {
  while (*alive && self->store_dirty_) {
    self->store_dirty_ = false;
    if (self->store_retry_timer_ != 0) {
      self->ctx_.io.clock().CancelTimer(std::exchange(self->store_retry_timer_, 0));
    }
    GroupRecord record = self->MakeRecord();
    const std::optional<int32_t> assignment_generation =
        self->pending_assignment_.has_value()
            ? std::optional<int32_t>(self->pending_assignment_->generation)
            : std::nullopt;
    Status s = co_await self->ctx_.store.StoreGroup(std::move(record));
    if (!*alive) co_return;
    if (s.ok()) {
      self->store_retry_backoff_ = Duration{0};
    } else {
      self->store_failures_++;
    }
    if (assignment_generation.has_value()) {
      self->OnAssignmentStored(*assignment_generation, s);
    } else if (!s.ok() && !self->store_dirty_) {
      self->RetryStoreLater();
    }
  }
  if (*alive) self->store_running_ = false;
}

void Group::RetryStoreLater() {
  Clock& clock = ctx_.io.clock();
  store_retry_backoff_ = store_retry_backoff_ == Duration{0}
                             ? kStoreRetryFirst
                             : std::min(2 * store_retry_backoff_, kStoreRetryMax);
  store_retry_timer_ = clock.StartTimer(clock.Now() + store_retry_backoff_, [this, alive = alive_] {
    if (!*alive) return;
    store_retry_timer_ = 0;
    // A deleted group stays deleted: its tombstone must remain the last record.
    if (state_ != GroupState::kDead) StoreInBackground();
  });
}

// ---- restore and describe ------------------------------------------------------------

void Group::Restore(const GroupRecord& record) {
  RUNNEL_ASSERT(members_.empty() && state_ != GroupState::kDead, "restoring a live group {}", id_);
  generation_ = record.generation;
  protocol_type_ = record.protocol_type;
  protocol_name_ = record.protocol_name;
  leader_ = record.leader.value_or("");
  for (const MemberRecord& mr : record.members) {
    Member m;
    m.id = mr.member_id;
    m.instance_id = mr.group_instance_id;
    m.client_id = mr.client_id;
    m.client_host = mr.client_host;
    m.session_timeout = std::chrono::milliseconds(mr.session_timeout_ms);
    m.rebalance_timeout = std::chrono::milliseconds(mr.rebalance_timeout_ms);
    m.protocol_type = record.protocol_type;
    if (record.protocol_name.has_value()) {
      ProtocolChoice p;
      p.name = *record.protocol_name;
      p.metadata = mr.subscription;
      m.protocols.push_back(std::move(p));
    }
    m.assignment = mr.assignment;
    m.join_seq = next_join_seq_++;
    if (m.instance_id.has_value()) static_members_[*m.instance_id] = m.id;
    members_.emplace(m.id, std::move(m));
  }
  if (members_.empty() || !protocol_name_.has_value()) {
    members_.clear();
    static_members_.clear();
    BecomeEmpty();
    return;
  }
  if (members_.count(leader_) == 0) leader_ = members_.begin()->first;
  state_ = GroupState::kStable;
  for (auto& [id, m] : members_) ScheduleHeartbeat(m);
}

GroupDescription Group::Describe() const {
  GroupDescription d;
  d.group_id = id_;
  d.state = state_;
  d.protocol_type = protocol_type_;
  const bool stable = state_ == GroupState::kStable;
  if (stable && protocol_name_.has_value()) d.protocol_name = *protocol_name_;
  for (const auto& [id, m] : members_) {
    MemberDescription md;
    md.member_id = id;
    md.group_instance_id = m.instance_id;
    md.client_id = m.client_id;
    md.client_host = m.client_host;
    if (stable) {
      const std::vector<uint8_t>* meta = ChosenMetadata(m);
      if (meta != nullptr) md.metadata = *meta;
      md.assignment = m.assignment;
    }
    d.members.push_back(std::move(md));
  }
  return d;
}

}  // namespace runnel::engine::group
