#include "engine/group/group.h"

#include <fmt/format.h>

#include <algorithm>

namespace runnel::engine::group {

namespace {

bool SameProtocols(const std::vector<ProtocolChoice>& a, const std::vector<ProtocolChoice>& b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); i++) {
    if (a[i].name != b[i].name || a[i].metadata != b[i].metadata) return false;
  }
  return true;
}

const std::vector<uint8_t>* MetadataFor(const std::vector<ProtocolChoice>& ps,
                                        const std::string& name) {
  for (const auto& p : ps) {
    if (p.name == name) return &p.metadata;
  }
  return nullptr;
}

JoinResult JoinError(GroupError error, std::string member_id = {}) {
  JoinResult r;
  r.error = error;
  r.member_id = std::move(member_id);
  return r;
}

SyncResult SyncError(GroupError error) {
  SyncResult r;
  r.error = error;
  return r;
}

}  // namespace

Group::Group(GroupContext& ctx, std::string group_id)
    : ctx_(ctx), id_(std::move(group_id)), alive_(std::make_shared<bool>(true)) {}

// No clock calls here: on the simulator a node's clock is gone before its state is destroyed.
// Timers that may still fire check `alive_` instead.
Group::~Group() { *alive_ = false; }

void Group::CancelTimers() {
  Clock& clock = ctx_.io.clock();
  if (join_timer_ != 0) clock.CancelTimer(std::exchange(join_timer_, 0));
  for (auto& [id, m] : members_) {
    if (m.heartbeat_timer != 0) clock.CancelTimer(std::exchange(m.heartbeat_timer, 0));
  }
  for (auto& [id, timer] : pending_) clock.CancelTimer(timer);
}

// ---- membership checks -------------------------------------------------------------------

GroupError Group::CheckMember(const std::string& member_id,
                              const std::optional<std::string>& instance_id) const {
  if (instance_id.has_value()) {
    auto it = static_members_.find(*instance_id);
    if (it != static_members_.end() && it->second != member_id) {
      return GroupError::kFencedInstanceId;
    }
  }
  if (members_.count(member_id) == 0) return GroupError::kUnknownMemberId;
  return GroupError::kNone;
}

std::set<std::string> Group::CandidateProtocols() const {
  std::set<std::string> out;
  bool first = true;
  for (const auto& [id, m] : members_) {
    std::set<std::string> names;
    for (const auto& p : m.protocols) names.insert(p.name);
    if (first) {
      out = std::move(names);
      first = false;
      continue;
    }
    std::set<std::string> both;
    std::set_intersection(out.begin(), out.end(), names.begin(), names.end(),
                          std::inserter(both, both.begin()));
    out = std::move(both);
  }
  return out;
}

bool Group::SupportsProtocols(const std::string& type,
                              const std::vector<ProtocolChoice>& ps) const {
  if (members_.empty()) return !type.empty() && !ps.empty();
  if (type != protocol_type_) return false;
  std::set<std::string> candidates = CandidateProtocols();
  return std::any_of(ps.begin(), ps.end(),
                     [&](const ProtocolChoice& p) { return candidates.count(p.name) > 0; });
}

// Every member votes for its most preferred protocol that all members support; the most votes
// win, ties go to the name first in order (deterministic).
std::string Group::SelectProtocol() const {
  std::set<std::string> candidates = CandidateProtocols();
  RUNNEL_ASSERT(!candidates.empty(), "group {} has no protocol all members support", id_);
  std::map<std::string, int> votes;
  for (const auto& [id, m] : members_) {
    for (const auto& p : m.protocols) {
      if (candidates.count(p.name) > 0) {
        votes[p.name]++;
        break;
      }
    }
  }
  std::string best;
  int best_votes = -1;
  for (const auto& [name, n] : votes) {
    if (n > best_votes) {
      best = name;
      best_votes = n;
    }
  }
  return best;
}

std::string Group::NewMemberId(const std::string& client_id) {
  uint64_t a = ctx_.io.rng().Next();
  uint64_t b = ctx_.io.rng().Next();
  return fmt::format("{}-{:08x}-{:04x}-{:04x}-{:04x}-{:012x}", client_id, a >> 32,
                     (a >> 16) & 0xffff, a & 0xffff, b >> 48, b & 0xffffffffffffULL);
}

const std::vector<uint8_t>* Group::ChosenMetadata(const Member& m) const {
  return protocol_name_.has_value() ? MetadataFor(m.protocols, *protocol_name_) : nullptr;
}

// ---- JoinGroup ---------------------------------------------------------------------------

void Group::Join(JoinRequest req, JoinCallback done) {
  if (state_ == GroupState::kDead) return done(JoinError(GroupError::kCoordinatorNotAvailable));
  if (!SupportsProtocols(req.protocol_type, req.protocols)) {
    return done(JoinError(GroupError::kInconsistentGroupProtocol, req.member_id));
  }
  if (req.member_id.empty()) return JoinUnknown(std::move(req), std::move(done));
  JoinKnown(std::move(req), std::move(done));
}

void Group::JoinUnknown(JoinRequest req, JoinCallback done) {
  if (req.group_instance_id.has_value()) {
    auto it = static_members_.find(*req.group_instance_id);
    if (it != static_members_.end()) {
      // A static member came back with a new process: it takes over its old member's place
      // (and assignment) under a new id; the old id is fenced.
      std::string old_id = it->second;
      std::string new_id = NewMemberId(req.client_id);
      auto node = members_.extract(old_id);
      Member& m = node.mapped();
      if (m.heartbeat_timer != 0) ctx_.io.clock().CancelTimer(std::exchange(m.heartbeat_timer, 0));
      if (m.join) std::exchange(m.join, {})(JoinError(GroupError::kFencedInstanceId, old_id));
      if (m.sync) std::exchange(m.sync, {})(SyncError(GroupError::kFencedInstanceId));
      m.id = new_id;
      node.key() = new_id;
      Member& placed = members_.insert(std::move(node)).position->second;
      it->second = new_id;
      if (leader_ == old_id) leader_ = new_id;
      const bool unchanged = SameProtocols(placed.protocols, req.protocols) &&
                             placed.protocol_type == req.protocol_type;
      if (state_ == GroupState::kStable && unchanged) {
        // Nothing the assignment depends on changed: no rebalance (KIP-345).
        placed.session_timeout = req.session_timeout;
        placed.rebalance_timeout = req.rebalance_timeout;
        ScheduleHeartbeat(placed);
        StoreInBackground();
        return done(CurrentJoinAnswer(placed));
      }
      return UpdateMemberAndRebalance(placed, std::move(req), std::move(done));
    }
  }
  if (members_.size() + pending_.size() >= ctx_.config.members_max) {
    return done(JoinError(GroupError::kGroupMaxSizeReached));
  }
  std::string member_id = NewMemberId(req.client_id);
  if (req.require_known_member_id && !req.group_instance_id.has_value()) {
    // KIP-394: hand out the id first; the member is admitted when it joins again with it.
    SchedulePendingExpiry(member_id, req.session_timeout);
    return done(JoinError(GroupError::kMemberIdRequired, member_id));
  }
  AddMemberAndRebalance(std::move(req), std::move(member_id), std::move(done));
}

void Group::JoinKnown(JoinRequest req, JoinCallback done) {
  auto pending = pending_.find(req.member_id);
  if (pending != pending_.end()) {
    ctx_.io.clock().CancelTimer(pending->second);
    pending_.erase(pending);
    std::string member_id = req.member_id;
    return AddMemberAndRebalance(std::move(req), std::move(member_id), std::move(done));
  }
  GroupError error = CheckMember(req.member_id, req.group_instance_id);
  if (error != GroupError::kNone) return done(JoinError(error, req.member_id));
  Member& m = members_.at(req.member_id);
  const bool unchanged =
      SameProtocols(m.protocols, req.protocols) && m.protocol_type == req.protocol_type;
  switch (state_) {
    case GroupState::kPreparingRebalance:
      return UpdateMemberAndRebalance(m, std::move(req), std::move(done));
    case GroupState::kCompletingRebalance:
      // A repeated join (the answer was lost): the same answer again, unless it changed.
      if (unchanged) return done(CurrentJoinAnswer(m));
      return UpdateMemberAndRebalance(m, std::move(req), std::move(done));
    case GroupState::kStable:
      // The leader rejoining (or anyone changing its subscription) starts a new generation;
      // a follower rejoining unchanged just gets the current one.
      if (m.id == leader_ || !unchanged) {
        return UpdateMemberAndRebalance(m, std::move(req), std::move(done));
      }
      ScheduleHeartbeat(m);
      return done(CurrentJoinAnswer(m));
    case GroupState::kEmpty:
    case GroupState::kDead:
      return done(JoinError(GroupError::kUnknownMemberId, req.member_id));
  }
}

void Group::AddMemberAndRebalance(JoinRequest req, std::string member_id, JoinCallback done) {
  if (members_.empty()) protocol_type_ = req.protocol_type;
  Member m;
  m.id = member_id;
  m.instance_id = req.group_instance_id;
  m.client_id = std::move(req.client_id);
  m.client_host = std::move(req.client_host);
  m.session_timeout = req.session_timeout;
  m.rebalance_timeout = req.rebalance_timeout;
  m.protocol_type = std::move(req.protocol_type);
  m.protocols = std::move(req.protocols);
  m.join_seq = next_join_seq_++;
  m.join = std::move(done);
  if (m.instance_id.has_value()) static_members_[*m.instance_id] = member_id;
  if (leader_.empty()) leader_ = member_id;
  members_.emplace(member_id, std::move(m));
  if (state_ == GroupState::kPreparingRebalance && initial_delay_) new_member_added_ = true;
  if (state_ != GroupState::kPreparingRebalance) PrepareRebalance();
  MaybeCompleteJoin();
}

void Group::UpdateMemberAndRebalance(Member& m, JoinRequest req, JoinCallback done) {
  m.session_timeout = req.session_timeout;
  m.rebalance_timeout = req.rebalance_timeout;
  m.protocol_type = std::move(req.protocol_type);
  m.protocols = std::move(req.protocols);
  m.client_id = std::move(req.client_id);
  m.client_host = std::move(req.client_host);
  // A second join while the first still waits: the first is superseded (the client retries).
  if (m.join) std::exchange(m.join, {})(JoinError(GroupError::kRebalanceInProgress, m.id));
  m.join = std::move(done);
  if (state_ != GroupState::kPreparingRebalance) PrepareRebalance();
  MaybeCompleteJoin();
}

JoinResult Group::CurrentJoinAnswer(const Member& m) const {
  JoinResult r;
  r.generation = generation_;
  r.protocol_type = protocol_type_;
  r.protocol_name = protocol_name_;
  r.leader = leader_;
  r.member_id = m.id;
  if (m.id == leader_) {
    std::vector<const Member*> order;
    for (const auto& [id, other] : members_) order.push_back(&other);
    std::sort(order.begin(), order.end(),
              [](const Member* a, const Member* b) { return a->join_seq < b->join_seq; });
    for (const Member* other : order) {
      JoinMember jm;
      jm.member_id = other->id;
      jm.group_instance_id = other->instance_id;
      const std::vector<uint8_t>* md = ChosenMetadata(*other);
      if (md != nullptr) jm.metadata = *md;
      r.members.push_back(std::move(jm));
    }
  }
  return r;
}

// ---- rebalance ---------------------------------------------------------------------------

Duration Group::RebalanceTimeoutMax() const {
  Duration out{0};
  for (const auto& [id, m] : members_) out = std::max(out, m.rebalance_timeout);
  return out;
}

void Group::PrepareRebalance() {
  RUNNEL_ASSERT(state_ != GroupState::kDead, "rebalancing dead group {}", id_);
  if (state_ == GroupState::kCompletingRebalance) {
    FailPendingSyncs(GroupError::kRebalanceInProgress);
  }
  const Duration rebalance_timeout = RebalanceTimeoutMax();
  if (state_ == GroupState::kEmpty) {
    // The first rebalance of an empty group waits group.initial.rebalance.delay.ms for more
    // members, and again for as long as new ones keep arriving (bounded by the rebalance
    // timeout), so a consumer fleet starting together gets one generation, not one each.
    initial_delay_ = true;
    new_member_added_ = false;
    const Duration delay = ctx_.config.initial_rebalance_delay;
    initial_delay_remaining_ = std::max(rebalance_timeout - delay, Duration{0});
    state_ = GroupState::kPreparingRebalance;
    ScheduleJoinTimer(delay);
    return;
  }
  initial_delay_ = false;
  state_ = GroupState::kPreparingRebalance;
  ScheduleJoinTimer(rebalance_timeout);
}

void Group::ScheduleJoinTimer(Duration delay) {
  Clock& clock = ctx_.io.clock();
  if (join_timer_ != 0) clock.CancelTimer(join_timer_);
  join_timer_ = clock.StartTimer(clock.Now() + delay, [this, alive = alive_] {
    if (!*alive) return;
    join_timer_ = 0;
    OnJoinTimer();
  });
}

void Group::OnJoinTimer() {
  if (state_ == GroupState::kCompletingRebalance) {
    // Members that never sent SyncGroup within the rebalance timeout are gone: rebalance
    // without them (otherwise one dead member would hold the group forever).
    std::vector<std::string> silent;
    for (const auto& [id, m] : members_) {
      if (!m.sync) silent.push_back(id);
    }
    for (const auto& id : silent) RemoveMember(id);
    if (!silent.empty()) AfterMemberRemoved();
    return;
  }
  if (state_ != GroupState::kPreparingRebalance) return;
  if (initial_delay_ && new_member_added_ && initial_delay_remaining_ > Duration{0}) {
    new_member_added_ = false;
    const Duration delay = std::min(ctx_.config.initial_rebalance_delay, initial_delay_remaining_);
    initial_delay_remaining_ -= delay;
    ScheduleJoinTimer(delay);
    return;
  }
  CompleteJoin();
}

bool Group::AllMembersJoined() const {
  if (!pending_.empty()) return false;
  return std::all_of(members_.begin(), members_.end(),
                     [](const auto& kv) { return static_cast<bool>(kv.second.join); });
}

void Group::MaybeCompleteJoin() {
  if (state_ != GroupState::kPreparingRebalance || initial_delay_) return;
  if (AllMembersJoined()) CompleteJoin();
}

void Group::CompleteJoin() {
  RUNNEL_ASSERT(state_ == GroupState::kPreparingRebalance, "group {} completes a join in {}", id_,
                GroupStateName(state_));
  if (join_timer_ != 0) ctx_.io.clock().CancelTimer(std::exchange(join_timer_, 0));
  initial_delay_ = false;
  // Dynamic members that did not rejoin in time are out; static ones keep their place until
  // their session expires.
  std::vector<std::string> gone;
  for (const auto& [id, m] : members_) {
    if (!m.join && !m.instance_id.has_value()) gone.push_back(id);
  }
  for (const auto& id : gone) RemoveMember(id);
  generation_++;
  if (members_.empty()) {
    protocol_name_.reset();
    leader_.clear();
    BecomeEmpty();
    StoreInBackground();
    return;
  }
  protocol_name_ = SelectProtocol();
  // The leader must be a member that rejoined: only it receives the member list.
  auto leader = members_.find(leader_);
  if (leader == members_.end() || !leader->second.join) {
    const Member* best = nullptr;
    for (const auto& [id, m] : members_) {
      if (m.join && (best == nullptr || m.join_seq < best->join_seq)) best = &m;
    }
    if (best != nullptr) leader_ = best->id;
  }
  state_ = GroupState::kCompletingRebalance;
  empty_since_ms_ = -1;
  Duration sync_timeout = RebalanceTimeoutMax();
  for (auto& [id, m] : members_) {
    if (!m.join) continue;
    JoinResult answer = CurrentJoinAnswer(m);
    ScheduleHeartbeat(m);
    std::exchange(m.join, {})(std::move(answer));
  }
  ScheduleJoinTimer(sync_timeout);
}

// ---- SyncGroup ---------------------------------------------------------------------------

void Group::Sync(SyncRequest req, SyncCallback done) {
  if (state_ == GroupState::kDead) return done(SyncError(GroupError::kCoordinatorNotAvailable));
  GroupError error = CheckMember(req.member_id, req.group_instance_id);
  if (error != GroupError::kNone) return done(SyncError(error));
  if (req.generation != generation_) return done(SyncError(GroupError::kIllegalGeneration));
  if ((req.protocol_type.has_value() && *req.protocol_type != protocol_type_) ||
      (req.protocol_name.has_value() && req.protocol_name != protocol_name_)) {
    return done(SyncError(GroupError::kInconsistentGroupProtocol));
  }
  Member& m = members_.at(req.member_id);
  switch (state_) {
    case GroupState::kEmpty:
    case GroupState::kDead:
      return done(SyncError(GroupError::kUnknownMemberId));
    case GroupState::kPreparingRebalance:
      return done(SyncError(GroupError::kRebalanceInProgress));
    case GroupState::kCompletingRebalance: {
      if (m.sync) std::exchange(m.sync, {})(SyncError(GroupError::kRebalanceInProgress));
      m.sync = std::move(done);
      ScheduleHeartbeat(m);
      if (m.id == leader_ && !pending_assignment_.has_value()) {
        std::map<std::string, std::vector<uint8_t>> assignments;
        for (auto& [member, bytes] : req.assignments) {
          if (members_.count(member) > 0) assignments[member] = std::move(bytes);
        }
        for (const auto& [id, other] : members_) assignments.try_emplace(id);
        pending_assignment_ = PendingAssignment{generation_, std::move(assignments)};
        StoreInBackground();
      }
      return;
    }
    case GroupState::kStable: {
      ScheduleHeartbeat(m);
      SyncResult r;
      r.protocol_type = protocol_type_;
      r.protocol_name = protocol_name_;
      r.assignment = m.assignment;
      return done(std::move(r));
    }
  }
}

void Group::OnAssignmentStored(int32_t generation, Status status) {
  if (!pending_assignment_.has_value() || pending_assignment_->generation != generation) return;
  PendingAssignment pending = std::move(*pending_assignment_);
  pending_assignment_.reset();
  if (state_ != GroupState::kCompletingRebalance || generation_ != generation) return;
  if (!status.ok()) {
    // Not durable: nobody may act on it. Everyone rejoins.
    FailPendingSyncs(GroupError::kCoordinatorNotAvailable);
    PrepareRebalance();
    return;
  }
  if (join_timer_ != 0) ctx_.io.clock().CancelTimer(std::exchange(join_timer_, 0));
  for (auto& [id, m] : members_) {
    auto it = pending.assignments.find(id);
    m.assignment = it == pending.assignments.end() ? std::vector<uint8_t>{} : it->second;
  }
  state_ = GroupState::kStable;
  for (auto& [id, m] : members_) {
    if (!m.sync) continue;
    SyncResult r;
    r.protocol_type = protocol_type_;
    r.protocol_name = protocol_name_;
    r.assignment = m.assignment;
    std::exchange(m.sync, {})(std::move(r));
  }
}

void Group::FailPendingSyncs(GroupError error) {
  pending_assignment_.reset();
  for (auto& [id, m] : members_) {
    m.assignment.clear();
    if (m.sync) std::exchange(m.sync, {})(SyncError(error));
  }
}

// ---- Heartbeat, LeaveGroup, commits ------------------------------------------------------

GroupError Group::Heartbeat(const HeartbeatRequest& req) {
  if (state_ == GroupState::kDead) return GroupError::kCoordinatorNotAvailable;
  GroupError error = CheckMember(req.member_id, req.group_instance_id);
  if (error != GroupError::kNone) return error;
  if (req.generation != generation_) return GroupError::kIllegalGeneration;
  Member& m = members_.at(req.member_id);
  switch (state_) {
    case GroupState::kEmpty:
    case GroupState::kDead:
      return GroupError::kUnknownMemberId;
    case GroupState::kPreparingRebalance:
      ScheduleHeartbeat(m);
      return GroupError::kRebalanceInProgress;
    case GroupState::kCompletingRebalance:
    case GroupState::kStable:
      ScheduleHeartbeat(m);
      return GroupError::kNone;
  }
  return GroupError::kNone;
}

LeaveResult Group::Leave(const std::vector<LeaveMember>& leaving) {
  LeaveResult out;
  if (state_ == GroupState::kDead) {
    out.error = GroupError::kCoordinatorNotAvailable;
    out.members.assign(leaving.size(), out.error);
    return out;
  }
  bool removed = false;
  for (const LeaveMember& l : leaving) {
    std::string member_id = l.member_id;
    if (l.group_instance_id.has_value()) {
      auto it = static_members_.find(*l.group_instance_id);
      if (it == static_members_.end()) {
        out.members.push_back(GroupError::kUnknownMemberId);
        continue;
      }
      if (!member_id.empty() && member_id != it->second) {
        out.members.push_back(GroupError::kFencedInstanceId);
        continue;
      }
      member_id = it->second;
    }
    auto pending = pending_.find(member_id);
    if (pending != pending_.end()) {
      ctx_.io.clock().CancelTimer(pending->second);
      pending_.erase(pending);
      out.members.push_back(GroupError::kNone);
      removed = true;
      continue;
    }
    if (members_.count(member_id) == 0) {
      out.members.push_back(GroupError::kUnknownMemberId);
      continue;
    }
    RemoveMember(member_id);
    out.members.push_back(GroupError::kNone);
    removed = true;
  }
  if (removed) AfterMemberRemoved();
  return out;
}

GroupError Group::CheckCommit(const OffsetCommitRequest& req) {
  if (state_ == GroupState::kDead) return GroupError::kCoordinatorNotAvailable;
  // Offsets kept for a group that does not use group management (or commits from an admin).
  if (req.generation < 0 && req.member_id.empty() && state_ == GroupState::kEmpty) {
    return GroupError::kNone;
  }
  GroupError error = CheckMember(req.member_id, req.group_instance_id);
  if (error != GroupError::kNone) return error;
  if (req.generation != generation_) return GroupError::kIllegalGeneration;
  switch (state_) {
    case GroupState::kCompletingRebalance:
      return GroupError::kRebalanceInProgress;
    case GroupState::kPreparingRebalance:
    case GroupState::kStable:
      // Eager rebalancing consumers commit before they rejoin: allowed while preparing.
      ScheduleHeartbeat(members_.at(req.member_id));
      return GroupError::kNone;
    default:
      return GroupError::kUnknownMemberId;
  }
}

// ---- member removal and timers -----------------------------------------------------------

void Group::RemoveMember(const std::string& member_id) {
  auto it = members_.find(member_id);
  RUNNEL_ASSERT(it != members_.end(), "removing unknown member {} of {}", member_id, id_);
  Member m = std::move(it->second);
  members_.erase(it);
  if (m.heartbeat_timer != 0) ctx_.io.clock().CancelTimer(m.heartbeat_timer);
  if (m.instance_id.has_value()) {
    auto s = static_members_.find(*m.instance_id);
    if (s != static_members_.end() && s->second == member_id) static_members_.erase(s);
  }
  if (leader_ == member_id) {
    leader_.clear();
    const Member* best = nullptr;
    for (const auto& [id, other] : members_) {
      if (best == nullptr || other.join_seq < best->join_seq) best = &other;
    }
    if (best != nullptr) leader_ = best->id;
  }
  if (m.join) m.join(JoinError(GroupError::kUnknownMemberId, member_id));
  if (m.sync) m.sync(SyncError(GroupError::kUnknownMemberId));
}

void Group::AfterMemberRemoved() {
  switch (state_) {
    case GroupState::kStable:
    case GroupState::kCompletingRebalance:
      PrepareRebalance();
      MaybeCompleteJoin();
      return;
    case GroupState::kPreparingRebalance:
      MaybeCompleteJoin();
      return;
    default:
      return;
  }
}

void Group::ScheduleHeartbeat(Member& m) {
  Clock& clock = ctx_.io.clock();
  if (m.heartbeat_timer != 0) clock.CancelTimer(m.heartbeat_timer);
  const uint64_t seq = ++heartbeat_seq_;
  m.heartbeat_seq = seq;
  m.heartbeat_timer =
      clock.StartTimer(clock.Now() + m.session_timeout, [this, alive = alive_, id = m.id, seq] {
        if (*alive) OnHeartbeatExpired(id, seq);
      });
}

void Group::OnHeartbeatExpired(const std::string& member_id, uint64_t seq) {
  auto it = members_.find(member_id);
  if (it == members_.end() || it->second.heartbeat_seq != seq) return;
  Member& m = it->second;
  m.heartbeat_timer = 0;
  // A member waiting for its JoinGroup answer is bounded by the rebalance timeout instead.
  if (m.join) return;
  RemoveMember(member_id);
  AfterMemberRemoved();
}

void Group::SchedulePendingExpiry(const std::string& member_id, Duration timeout) {
  Clock& clock = ctx_.io.clock();
  pending_[member_id] = clock.StartTimer(clock.Now() + timeout, [this, alive = alive_, member_id] {
    if (*alive && pending_.erase(member_id) > 0) MaybeCompleteJoin();
  });
}

void Group::BecomeEmpty() {
  state_ = GroupState::kEmpty;
  empty_since_ms_ = ctx_.io.clock().Wall().unix_ms();
}

// ---- life cycle --------------------------------------------------------------------------

void Group::Kill() {
  CancelTimers();
  pending_.clear();
  pending_assignment_.reset();
  std::map<std::string, Member> members = std::move(members_);
  members_.clear();
  static_members_.clear();
  state_ = GroupState::kDead;
  for (auto& [id, m] : members) {
    if (m.join) m.join(JoinError(GroupError::kCoordinatorNotAvailable, id));
    if (m.sync) m.sync(SyncError(GroupError::kCoordinatorNotAvailable));
  }
}

}  // namespace runnel::engine::group
