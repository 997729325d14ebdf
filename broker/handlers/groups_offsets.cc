// OffsetCommit (key 8, v2-9), OffsetFetch (9, v1-9; several groups from v8) and OffsetDelete
// (47, v0): committed offsets, kept by the group's coordinator shard and stored in
// __consumer_offsets (acks=all) before a commit is answered.
#include <map>

#include "broker/handlers/groups.h"
#include "broker/protocol/gen/offset_commit_request.h"
#include "broker/protocol/gen/offset_commit_response.h"
#include "broker/protocol/gen/offset_delete_request.h"
#include "broker/protocol/gen/offset_delete_response.h"
#include "broker/protocol/gen/offset_fetch_request.h"
#include "broker/protocol/gen/offset_fetch_response.h"

namespace runnel::broker {

namespace eg = engine::group;
using eg::GroupError;

namespace {

using Fetched = std::vector<std::pair<eg::TopicPartition, eg::CommittedOffset>>;

struct FetchAnswer {
  GroupError error = GroupError::kNone;
  Fetched offsets;
};

// The committed offsets of one group (all of them when `asked` is nullopt).
Task<FetchAnswer> FetchGroup(RequestContext& ctx, std::string group,
                             std::optional<std::vector<eg::TopicPartition>> asked) {
  auto run = [group, asked](GroupCoordinator& c) -> Task<FetchAnswer> {
    FetchAnswer a;
    a.offsets = c.manager().FetchOffsets(group, asked);
    co_return a;
  };
  auto fail = AnswerWithError<FetchAnswer>();
  co_return co_await GroupCall<FetchAnswer>(ctx, group, std::move(run), std::move(fail));
}

// Fills `topics` (v0-7 or v8+ element types) from the fetched offsets, grouped by topic in
// the order the topics first appear.
template <typename Topic>
void FillTopics(const Fetched& offsets, GroupError partition_error, std::vector<Topic>& topics) {
  std::map<std::string, size_t> slot;
  for (const auto& [tp, offset] : offsets) {
    auto [it, added] = slot.emplace(tp.topic, topics.size());
    if (added) {
      topics.emplace_back();
      topics.back().name = tp.topic;
    }
    auto& part = topics[it->second].partitions.emplace_back();
    part.partition_index = tp.partition;
    part.committed_offset = offset.offset;
    part.committed_leader_epoch = offset.leader_epoch;
    part.metadata = offset.metadata;
    part.error_code = Wire(partition_error);
  }
}

// Answers every partition of the request's topics with its error, in request order (errors
// past the end of `errors` take `rest`).
template <typename InTopic, typename OutTopic>
void EchoPartitionErrors(const std::vector<InTopic>& in, const std::vector<GroupError>& errors,
                         GroupError rest, std::vector<OutTopic>& out) {
  size_t i = 0;
  for (const auto& t : in) {
    auto& topic = out.emplace_back();
    topic.name = t.name;
    for (const auto& p : t.partitions) {
      auto& part = topic.partitions.emplace_back();
      part.partition_index = p.partition_index;
      part.error_code = Wire(i < errors.size() ? errors[i] : rest);
      i++;
    }
  }
}

}  // namespace

Task<Result<Response>> HandleOffsetCommit(RequestContext& ctx) {
  RUNNEL_CO_ASSIGN_OR_RETURN(protocol::OffsetCommitRequest req,
                             protocol::DecodeRequestBody<protocol::OffsetCommitRequest>(ctx.frame));
  // As Kafka: a partition that does not exist is answered UNKNOWN_TOPIC_OR_PARTITION and not
  // committed; the rest go to the coordinator (which is not asked at all if none is left). The
  // controller answers which exist (not a copy of all the metadata: commits are frequent).
  std::vector<std::pair<std::string, int32_t>> named;
  for (const auto& t : req.topics) {
    for (const auto& p : t.partitions) named.emplace_back(t.name, p.partition_index);
  }
  auto look_up = [named = std::move(named)](MetadataStore& store) -> Task<std::vector<bool>> {
    std::vector<bool> out;
    for (const auto& [topic, partition] : named) {
      out.push_back(FindPartition(store.state(), topic, partition) != nullptr);
    }
    co_return out;
  };
  const std::vector<bool> exists =
      co_await ControllerCall<std::vector<bool>>(ctx.node, ctx.io, std::move(look_up));
  eg::OffsetCommitRequest commit;
  commit.group_id = req.group_id;
  commit.generation = req.generation_id_or_member_epoch;
  commit.member_id = req.member_id;
  commit.group_instance_id = req.group_instance_id;
  size_t i = 0;
  for (const auto& t : req.topics) {
    for (const auto& p : t.partitions) {
      if (!exists[i++]) continue;
      eg::CommittedOffset c;
      c.offset = p.committed_offset;
      c.leader_epoch = p.committed_leader_epoch;
      c.metadata = p.committed_metadata.value_or("");
      commit.offsets.emplace_back(eg::TopicPartition{t.name, p.partition_index}, std::move(c));
    }
  }
  const size_t count = commit.offsets.size();
  eg::OffsetCommitResult r;
  if (count > 0) {
    auto run =
        [commit = std::move(commit)](GroupCoordinator& c) mutable -> Task<eg::OffsetCommitResult> {
      co_return co_await c.manager().CommitOffsets(std::move(commit));
    };
    auto fail = [count](GroupError e) {
      eg::OffsetCommitResult r;
      r.error = e;
      r.partitions.assign(count, e);
      return r;
    };
    r = co_await GroupCall<eg::OffsetCommitResult>(ctx, req.group_id, std::move(run),
                                                   std::move(fail));
  }
  std::vector<GroupError> errors;
  size_t next = 0;
  for (const bool known : exists) {
    if (!known) {
      errors.push_back(GroupError::kUnknownTopicOrPartition);
    } else {
      errors.push_back(next < r.partitions.size() ? r.partitions[next] : r.error);
      next++;
    }
  }
  protocol::OffsetCommitResponse resp;
  EchoPartitionErrors(req.topics, errors, r.error, resp.topics);
  co_return EncodeResponse(ctx, resp);
}

Task<Result<Response>> HandleOffsetFetch(RequestContext& ctx) {
  RUNNEL_CO_ASSIGN_OR_RETURN(protocol::OffsetFetchRequest req,
                             protocol::DecodeRequestBody<protocol::OffsetFetchRequest>(ctx.frame));
  const int16_t version = ctx.version();
  protocol::OffsetFetchResponse resp;
  if (version < 8) {
    std::optional<std::vector<eg::TopicPartition>> asked;
    if (req.topics.has_value()) {
      asked.emplace();
      for (const auto& t : *req.topics) {
        for (int32_t p : t.partition_indexes) asked->push_back(eg::TopicPartition{t.name, p});
      }
    }
    FetchAnswer a = co_await FetchGroup(ctx, req.group_id, std::move(asked));
    if (a.error != GroupError::kNone && version < 2) {
      // v1 has no top-level error: every partition asked carries it.
      for (const auto& t : req.topics.value_or(
               std::vector<protocol::OffsetFetchRequest::OffsetFetchRequestTopic>{})) {
        for (int32_t p : t.partition_indexes) {
          a.offsets.emplace_back(eg::TopicPartition{t.name, p}, eg::CommittedOffset{});
        }
      }
    }
    FillTopics(a.offsets, version < 2 ? a.error : GroupError::kNone, resp.topics);
    if (version >= 2) resp.error_code = Wire(a.error);
    co_return EncodeResponse(ctx, resp);
  }
  // v8+: several groups, each answered by its own coordinator shard.
  std::vector<Task<FetchAnswer>> tasks;
  for (const auto& g : req.groups) {
    std::optional<std::vector<eg::TopicPartition>> asked;
    if (g.topics.has_value()) {
      asked.emplace();
      for (const auto& t : *g.topics) {
        for (int32_t p : t.partition_indexes) asked->push_back(eg::TopicPartition{t.name, p});
      }
    }
    tasks.push_back(FetchGroup(ctx, g.group_id, std::move(asked)));
  }
  std::vector<FetchAnswer> answers = co_await WhenAll(std::move(tasks));
  for (size_t i = 0; i < req.groups.size(); i++) {
    auto& group = resp.groups.emplace_back();
    group.group_id = req.groups[i].group_id;
    group.error_code = Wire(answers[i].error);
    FillTopics(answers[i].offsets, GroupError::kNone, group.topics);
  }
  co_return EncodeResponse(ctx, resp);
}

Task<Result<Response>> HandleOffsetDelete(RequestContext& ctx) {
  RUNNEL_CO_ASSIGN_OR_RETURN(protocol::OffsetDeleteRequest req,
                             protocol::DecodeRequestBody<protocol::OffsetDeleteRequest>(ctx.frame));
  std::vector<eg::TopicPartition> tps;
  for (const auto& t : req.topics) {
    for (const auto& p : t.partitions) tps.push_back(eg::TopicPartition{t.name, p.partition_index});
  }
  const size_t count = tps.size();
  auto run = [group = req.group_id,
              tps = std::move(tps)](GroupCoordinator& c) mutable -> Task<eg::OffsetDeleteResult> {
    co_return co_await c.manager().DeleteOffsets(group, std::move(tps));
  };
  auto fail = [count](GroupError e) {
    eg::OffsetDeleteResult r;
    r.error = e;
    r.partitions.assign(count, GroupError::kNone);
    return r;
  };
  eg::OffsetDeleteResult r = co_await GroupCall<eg::OffsetDeleteResult>(
      ctx, req.group_id, std::move(run), std::move(fail));
  protocol::OffsetDeleteResponse resp;
  resp.error_code = Wire(r.error);
  if (r.error == GroupError::kNone) {
    EchoPartitionErrors(req.topics, r.partitions, GroupError::kNone, resp.topics);
  }
  co_return EncodeResponse(ctx, resp);
}

}  // namespace runnel::broker
