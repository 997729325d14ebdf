// ListGroups (key 16, v0-5: states filter from v4, types filter from v5), DescribeGroups (15,
// v0-5) and DeleteGroups (42, v0-2). ListGroups asks every shard (each coordinates the groups
// of the __consumer_offsets partitions it owns); the others go to each group's coordinator.
#include <algorithm>
#include <set>

#include "broker/handlers/groups.h"
#include "broker/protocol/gen/delete_groups_request.h"
#include "broker/protocol/gen/delete_groups_response.h"
#include "broker/protocol/gen/describe_groups_request.h"
#include "broker/protocol/gen/describe_groups_response.h"
#include "broker/protocol/gen/error_codes.h"
#include "broker/protocol/gen/list_groups_request.h"
#include "broker/protocol/gen/list_groups_response.h"

namespace runnel::broker {

namespace eg = engine::group;
using eg::GroupError;

namespace {

// The classic protocol's groups are all of Kafka's type "classic" (KIP-848 names).
constexpr std::string_view kClassicType = "classic";

struct Listing {
  GroupError error = GroupError::kNone;
  std::vector<eg::GroupListing> groups;
};

Task<Listing> ListShard(Node& node, Io& io, ShardId shard) {
  auto list = [](ShardState& there) -> Task<Listing> {
    Listing out;
    GroupCoordinator& c = Groups(there);
    if (c.loading()) {
      // Kafka lists the groups it has loaded and reports the load at the top level.
      out.error = GroupError::kCoordinatorLoadInProgress;
      co_return out;
    }
    Status ready = co_await c.Ready();
    if (!ready.ok()) {
      out.error = GroupError::kCoordinatorNotAvailable;
      co_return out;
    }
    out.groups = c.manager().List();
    co_return out;
  };
  co_return co_await ShardCall<Listing>(node, io, shard, std::move(list));
}

Task<eg::GroupDescription> DescribeOne(RequestContext& ctx, std::string group) {
  auto run = [group](GroupCoordinator& c) -> Task<eg::GroupDescription> {
    co_return c.manager().Describe(group);
  };
  auto fail = [group](GroupError e) {
    eg::GroupDescription d;
    d.group_id = group;
    d.error = e;
    return d;
  };
  co_return co_await GroupCall<eg::GroupDescription>(ctx, group, std::move(run), std::move(fail));
}

Task<GroupError> DeleteOne(RequestContext& ctx, std::string group) {
  auto run = [group](GroupCoordinator& c) -> Task<GroupError> {
    co_return co_await c.manager().DeleteGroup(group);
  };
  auto fail = [](GroupError e) { return e; };
  co_return co_await GroupCall<GroupError>(ctx, group, std::move(run), std::move(fail));
}

bool Matches(const std::vector<std::string>& filter, std::string_view value) {
  if (filter.empty()) return true;
  return std::any_of(filter.begin(), filter.end(), [&](const std::string& f) {
    return f.size() == value.size() &&
           std::equal(f.begin(), f.end(), value.begin(), [](char a, char b) {
             return std::tolower(static_cast<unsigned char>(a)) ==
                    std::tolower(static_cast<unsigned char>(b));
           });
  });
}

}  // namespace

Task<Result<Response>> HandleListGroups(RequestContext& ctx) {
  RUNNEL_CO_ASSIGN_OR_RETURN(protocol::ListGroupsRequest req,
                             protocol::DecodeRequestBody<protocol::ListGroupsRequest>(ctx.frame));
  protocol::ListGroupsResponse resp;
  for (const std::string& s : req.states_filter) {
    if (!eg::ParseGroupState(s).has_value()) {
      resp.error_code = static_cast<int16_t>(protocol::ErrorCode::kInvalidRequest);
      co_return EncodeResponse(ctx, resp);
    }
  }
  if (!Groups(ctx.shard).offsets_topic().has_value()) {
    // No offsets topic, no groups: listing them does not create it.
    ClusterMetadata meta = co_await SnapshotMetadata(ctx.node, ctx.io);
    if (!meta.topics.contains(std::string(eg::kOffsetsTopic))) co_return EncodeResponse(ctx, resp);
  }
  Result<TopicInfo> topic = co_await EnsureOffsetsTopic(ctx.node, ctx.io);
  if (!topic.ok()) {
    resp.error_code = Wire(GroupError::kCoordinatorNotAvailable);
    co_return EncodeResponse(ctx, resp);
  }
  // Only shards that own a partition of the offsets topic coordinate anything.
  std::set<ShardId> shards;
  for (int32_t p = 0; p < topic->partitions; p++) {
    shards.insert(ctx.node.PartitionShard(topic->name, p));
  }
  std::vector<Task<Listing>> tasks;
  for (ShardId s : shards) tasks.push_back(ListShard(ctx.node, ctx.io, s));
  std::vector<Listing> listings = co_await WhenAll(std::move(tasks));
  for (const Listing& l : listings) {
    if (l.error != GroupError::kNone) resp.error_code = Wire(l.error);
    for (const eg::GroupListing& g : l.groups) {
      const std::string_view state = eg::GroupStateName(g.state);
      if (!Matches(req.states_filter, state) || !Matches(req.types_filter, kClassicType)) {
        continue;
      }
      auto& out = resp.groups.emplace_back();
      out.group_id = g.group_id;
      out.protocol_type = g.protocol_type;
      out.group_state = std::string(state);
      out.group_type = std::string(kClassicType);
    }
  }
  std::sort(resp.groups.begin(), resp.groups.end(),
            [](const auto& a, const auto& b) { return a.group_id < b.group_id; });
  co_return EncodeResponse(ctx, resp);
}

Task<Result<Response>> HandleDescribeGroups(RequestContext& ctx) {
  RUNNEL_CO_ASSIGN_OR_RETURN(
      protocol::DescribeGroupsRequest req,
      protocol::DecodeRequestBody<protocol::DescribeGroupsRequest>(ctx.frame));
  std::vector<Task<eg::GroupDescription>> tasks;
  for (const std::string& g : req.groups) tasks.push_back(DescribeOne(ctx, g));
  std::vector<eg::GroupDescription> described = co_await WhenAll(std::move(tasks));
  protocol::DescribeGroupsResponse resp;
  for (eg::GroupDescription& d : described) {
    auto& g = resp.groups.emplace_back();
    g.error_code = Wire(d.error);
    g.group_id = std::move(d.group_id);
    // A group that could not be described has no state (Kafka's "").
    g.group_state = d.error == GroupError::kNone ? std::string(eg::GroupStateName(d.state)) : "";
    g.protocol_type = std::move(d.protocol_type);
    g.protocol_data = std::move(d.protocol_name);
    for (eg::MemberDescription& m : d.members) {
      auto& member = g.members.emplace_back();
      member.member_id = std::move(m.member_id);
      member.group_instance_id = std::move(m.group_instance_id);
      member.client_id = std::move(m.client_id);
      member.client_host = std::move(m.client_host);
      member.member_metadata = std::move(m.metadata);
      member.member_assignment = std::move(m.assignment);
    }
  }
  co_return EncodeResponse(ctx, resp);
}

Task<Result<Response>> HandleDeleteGroups(RequestContext& ctx) {
  RUNNEL_CO_ASSIGN_OR_RETURN(protocol::DeleteGroupsRequest req,
                             protocol::DecodeRequestBody<protocol::DeleteGroupsRequest>(ctx.frame));
  std::vector<Task<GroupError>> tasks;
  for (const std::string& g : req.groups_names) tasks.push_back(DeleteOne(ctx, g));
  std::vector<GroupError> errors = co_await WhenAll(std::move(tasks));
  protocol::DeleteGroupsResponse resp;
  for (size_t i = 0; i < req.groups_names.size(); i++) {
    auto& r = resp.results.emplace_back();
    r.group_id = req.groups_names[i];
    r.error_code = Wire(errors[i]);
  }
  co_return EncodeResponse(ctx, resp);
}

}  // namespace runnel::broker
