// FindCoordinator (key 10, v0-5, batched keys from v4), JoinGroup (11, v0-9), SyncGroup (14,
// v0-5), Heartbeat (12, v0-4) and LeaveGroup (13, v0-5, batched members from v3): the classic
// group membership protocol, answered by the group's coordinator shard (groups.h).
#include "broker/handlers/groups.h"
#include "broker/protocol/gen/error_codes.h"
#include "broker/protocol/gen/find_coordinator_request.h"
#include "broker/protocol/gen/find_coordinator_response.h"
#include "broker/protocol/gen/heartbeat_request.h"
#include "broker/protocol/gen/heartbeat_response.h"
#include "broker/protocol/gen/join_group_request.h"
#include "broker/protocol/gen/join_group_response.h"
#include "broker/protocol/gen/leave_group_request.h"
#include "broker/protocol/gen/leave_group_response.h"
#include "broker/protocol/gen/sync_group_request.h"
#include "broker/protocol/gen/sync_group_response.h"

namespace runnel::broker {

namespace eg = engine::group;
using eg::GroupError;
using protocol::ErrorCode;

namespace {

constexpr int8_t kKeyTypeGroup = 0;

// Kafka names a member's host "/<ip>".
std::string ClientHost(const RequestContext& ctx) { return "/" + ctx.peer.host; }

// The answer for one key (v4+) or the whole response (v0-3): the fields are named alike.
template <typename Out>
void FillCoordinator(Out& out, ErrorCode error, const std::string& message, int32_t node_id,
                     const Address& advertised) {
  out.error_code = static_cast<int16_t>(error);
  if (error != ErrorCode::kNone) {
    out.error_message = message;
    out.node_id = -1;
    out.port = -1;
    return;
  }
  out.error_message = std::nullopt;
  out.node_id = node_id;
  out.host = advertised.host;
  out.port = advertised.port;
}

}  // namespace

Task<Result<Response>> HandleFindCoordinator(RequestContext& ctx) {
  RUNNEL_CO_ASSIGN_OR_RETURN(
      protocol::FindCoordinatorRequest req,
      protocol::DecodeRequestBody<protocol::FindCoordinatorRequest>(ctx.frame));
  protocol::FindCoordinatorResponse resp;
  const Address advertised = ctx.node.config().AdvertisedAddress();
  // This single node coordinates every group; the offsets topic must exist for it to serve.
  ErrorCode error = ErrorCode::kNone;
  std::string message;
  if (req.key_type != kKeyTypeGroup) {
    error = ErrorCode::kCoordinatorNotAvailable;
    message = "transactions are not served by this broker";
  } else {
    Result<TopicInfo> topic = co_await EnsureOffsetsTopic(ctx.node, ctx.io);
    if (!topic.ok()) {
      error = ErrorCode::kCoordinatorNotAvailable;
      message = topic.status().message();
    }
  }
  const int32_t node_id = ctx.node.config().node_id;
  if (ctx.version() < 4) {
    FillCoordinator(resp, error, message, node_id, advertised);
    co_return EncodeResponse(ctx, resp);
  }
  for (const std::string& key : req.coordinator_keys) {
    protocol::FindCoordinatorResponse::Coordinator c;
    c.key = key;
    FillCoordinator(c, error, message, node_id, advertised);
    resp.coordinators.push_back(std::move(c));
  }
  co_return EncodeResponse(ctx, resp);
}

Task<Result<Response>> HandleJoinGroup(RequestContext& ctx) {
  RUNNEL_CO_ASSIGN_OR_RETURN(protocol::JoinGroupRequest req,
                             protocol::DecodeRequestBody<protocol::JoinGroupRequest>(ctx.frame));
  const int16_t version = ctx.version();
  eg::JoinRequest join;
  join.group_id = req.group_id;
  join.member_id = req.member_id;
  join.group_instance_id = req.group_instance_id;
  join.client_id = ctx.frame.header.client_id.value_or("");
  join.client_host = ClientHost(ctx);
  join.session_timeout = std::chrono::milliseconds(req.session_timeout_ms);
  // v0 has no rebalance timeout: the session timeout serves for both (as in Kafka).
  join.rebalance_timeout = std::chrono::milliseconds(version >= 1 && req.rebalance_timeout_ms >= 0
                                                         ? req.rebalance_timeout_ms
                                                         : req.session_timeout_ms);
  join.protocol_type = req.protocol_type;
  for (auto& p : req.protocols) {
    eg::ProtocolChoice c;
    c.name = std::move(p.name);
    c.metadata = std::move(p.metadata);
    join.protocols.push_back(std::move(c));
  }
  join.require_known_member_id = version >= 4;
  auto run = ViaCallback<eg::JoinResult>(std::move(join), &eg::GroupManager::Join);
  auto fail = [member = req.member_id](GroupError e) {
    eg::JoinResult r;
    r.error = e;
    r.member_id = member;
    return r;
  };
  eg::JoinResult r =
      co_await GroupCall<eg::JoinResult>(ctx, req.group_id, std::move(run), std::move(fail));
  protocol::JoinGroupResponse resp;
  resp.error_code = Wire(r.error);
  resp.generation_id = r.generation;
  resp.protocol_type =
      r.protocol_type.empty() ? std::nullopt : std::optional<std::string>(r.protocol_type);
  // Nullable from v7; before that an empty string stands for "none".
  resp.protocol_name =
      version >= 7 ? r.protocol_name : std::optional<std::string>(r.protocol_name.value_or(""));
  resp.leader = r.leader;
  resp.member_id = r.member_id;
  for (auto& m : r.members) {
    protocol::JoinGroupResponse::JoinGroupResponseMember member;
    member.member_id = std::move(m.member_id);
    member.group_instance_id = std::move(m.group_instance_id);
    member.metadata = std::move(m.metadata);
    resp.members.push_back(std::move(member));
  }
  co_return EncodeResponse(ctx, resp);
}

Task<Result<Response>> HandleSyncGroup(RequestContext& ctx) {
  RUNNEL_CO_ASSIGN_OR_RETURN(protocol::SyncGroupRequest req,
                             protocol::DecodeRequestBody<protocol::SyncGroupRequest>(ctx.frame));
  eg::SyncRequest sync;
  sync.group_id = req.group_id;
  sync.member_id = std::move(req.member_id);
  sync.group_instance_id = std::move(req.group_instance_id);
  sync.generation = req.generation_id;
  sync.protocol_type = std::move(req.protocol_type);
  sync.protocol_name = std::move(req.protocol_name);
  for (auto& a : req.assignments) {
    sync.assignments.emplace_back(std::move(a.member_id), std::move(a.assignment));
  }
  auto run = ViaCallback<eg::SyncResult>(std::move(sync), &eg::GroupManager::Sync);
  auto fail = [](GroupError e) {
    eg::SyncResult r;
    // A loading coordinator lost any rebalance in progress: the member joins again (Kafka
    // answers REBALANCE_IN_PROGRESS; older clients do not know COORDINATOR_LOAD_IN_PROGRESS
    // in SyncGroup).
    r.error = e == GroupError::kCoordinatorLoadInProgress ? GroupError::kRebalanceInProgress : e;
    return r;
  };
  eg::SyncResult r =
      co_await GroupCall<eg::SyncResult>(ctx, req.group_id, std::move(run), std::move(fail));
  protocol::SyncGroupResponse resp;
  resp.error_code = Wire(r.error);
  if (r.error == GroupError::kNone) {
    resp.protocol_type = r.protocol_type;
    resp.protocol_name = r.protocol_name;
  }
  resp.assignment = std::move(r.assignment);
  co_return EncodeResponse(ctx, resp);
}

Task<Result<Response>> HandleHeartbeat(RequestContext& ctx) {
  RUNNEL_CO_ASSIGN_OR_RETURN(protocol::HeartbeatRequest req,
                             protocol::DecodeRequestBody<protocol::HeartbeatRequest>(ctx.frame));
  eg::HeartbeatRequest hb;
  hb.group_id = req.group_id;
  hb.member_id = std::move(req.member_id);
  hb.group_instance_id = std::move(req.group_instance_id);
  hb.generation = req.generation_id;
  auto run = [hb = std::move(hb)](GroupCoordinator& c) -> Task<GroupError> {
    co_return c.manager().Heartbeat(hb);
  };
  auto fail = [](GroupError e) {
    // While the coordinator loads, Kafka answers heartbeats blindly with no error.
    return e == GroupError::kCoordinatorLoadInProgress ? GroupError::kNone : e;
  };
  GroupError e = co_await GroupCall<GroupError>(ctx, req.group_id, std::move(run), std::move(fail));
  protocol::HeartbeatResponse resp;
  resp.error_code = Wire(e);
  co_return EncodeResponse(ctx, resp);
}

Task<Result<Response>> HandleLeaveGroup(RequestContext& ctx) {
  RUNNEL_CO_ASSIGN_OR_RETURN(protocol::LeaveGroupRequest req,
                             protocol::DecodeRequestBody<protocol::LeaveGroupRequest>(ctx.frame));
  const bool batched = ctx.version() >= 3;
  std::vector<eg::LeaveMember> leaving;
  if (batched) {
    for (const auto& m : req.members) {
      eg::LeaveMember l;
      l.member_id = m.member_id;
      l.group_instance_id = m.group_instance_id;
      leaving.push_back(std::move(l));
    }
  } else {
    eg::LeaveMember l;
    l.member_id = req.member_id;
    leaving.push_back(std::move(l));
  }
  auto run = [group = req.group_id, leaving](GroupCoordinator& c) -> Task<eg::LeaveResult> {
    co_return c.manager().Leave(group, leaving);
  };
  auto fail = [](GroupError e) {
    eg::LeaveResult r;
    r.error = e;  // no member list: the request failed as a whole (as Kafka answers)
    return r;
  };
  eg::LeaveResult r =
      co_await GroupCall<eg::LeaveResult>(ctx, req.group_id, std::move(run), std::move(fail));
  protocol::LeaveGroupResponse resp;
  resp.error_code = Wire(r.error);
  if (batched && (r.error == GroupError::kNone || !r.members.empty())) {
    for (size_t i = 0; i < leaving.size(); i++) {
      protocol::LeaveGroupResponse::MemberResponse m;
      m.member_id = leaving[i].member_id;
      m.group_instance_id = leaving[i].group_instance_id;
      m.error_code = i < r.members.size() ? Wire(r.members[i]) : Wire(r.error);
      resp.members.push_back(std::move(m));
    }
  } else if (r.error == GroupError::kNone && !r.members.empty()) {
    // One member, no per-member list before v3: its error is the request's.
    resp.error_code = Wire(r.members[0]);
  }
  co_return EncodeResponse(ctx, resp);
}

}  // namespace runnel::broker
