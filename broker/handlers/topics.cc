// CreateTopics (19), DeleteTopics (20), CreatePartitions (37): topic life cycle. Each request
// runs as one MetadataStore::Mutate on the controller shard: every topic of the request is
// checked against the state as it is then, and the state is persisted once before the reply.
#include <spdlog/spdlog.h>

#include <set>

#include "broker/handlers/groups.h"
#include "broker/handlers/handler.h"
#include "broker/partitions.h"
#include "broker/protocol/gen/create_partitions_request.h"
#include "broker/protocol/gen/create_partitions_response.h"
#include "broker/protocol/gen/create_topics_request.h"
#include "broker/protocol/gen/create_topics_response.h"
#include "broker/protocol/gen/delete_topics_request.h"
#include "broker/protocol/gen/delete_topics_response.h"
#include "broker/topic_ops.h"

namespace runnel::broker {

using protocol::ErrorCode;

namespace {

// __consumer_offsets is neither deleted nor resized: each group's coordinator partition is
// abs(hash(group)) % its partition count, which the coordinators fix when they load it. Kafka's
// kafka-topics tool refuses both for this topic; the code is the one Kafka's broker answers
// when it refuses an operation on an internal topic (Produce, DeleteRecords).
TopicError InternalTopicError(std::string_view what) {
  return {ErrorCode::kInvalidTopicException,
          fmt::format("{} is internal and cannot be {}: the groups' coordinators depend on it",
                      engine::group::kOffsetsTopic, what)};
}

}  // namespace

Task<Result<Response>> HandleCreateTopics(RequestContext& ctx) {
  using protocol::CreateTopicsRequest;
  using protocol::CreateTopicsResponse;
  RUNNEL_CO_ASSIGN_OR_RETURN(CreateTopicsRequest req,
                             protocol::DecodeRequestBody<CreateTopicsRequest>(ctx.frame));
  std::vector<NewTopic> wanted;
  std::vector<int> count(req.topics.size(), 0);
  for (const auto& t : req.topics) {
    NewTopic n;
    n.name = t.name;
    n.partitions = t.num_partitions;
    n.replication_factor = t.replication_factor;
    for (const auto& a : t.assignments) {
      if (a.partition_index != static_cast<int32_t>(n.assignments.size())) {
        n.assignments.clear();
        n.partitions = -2;  // rejected below as INVALID_REPLICA_ASSIGNMENT
        break;
      }
      n.assignments.push_back(a.broker_ids);
    }
    for (const auto& c : t.configs) n.configs.emplace_back(c.name, c.value);
    wanted.push_back(std::move(n));
  }
  std::vector<TopicError> errors(wanted.size());
  std::vector<TopicInfo> created(wanted.size());
  const BrokerConfig& config = ctx.node.config();
  const bool validate_only = req.validate_only;
  Status s =
      co_await ControllerCall<Status>(ctx.node, ctx.io, [&](MetadataStore& store) -> Task<Status> {
        std::function<Status(ClusterMetadata&)> change = [&](ClusterMetadata& meta) -> Status {
          std::set<std::string> names;
          for (size_t i = 0; i < wanted.size(); i++) {
            if (!names.insert(wanted[i].name).second) {
              errors[i] = {ErrorCode::kInvalidRequest, "topic named twice in one request"};
              continue;
            }
            if (wanted[i].partitions == -2) {
              errors[i] = {ErrorCode::kInvalidReplicaAssignment,
                           "assignments must list partitions 0, 1, ... in order"};
              continue;
            }
            errors[i] = ValidateNewTopic(meta, config, wanted[i], &created[i]);
            if (!errors[i].ok()) continue;
            created[i].id = store.NewTopicId();
            if (!validate_only) meta.topics.emplace(created[i].name, created[i]);
          }
          return Status::Ok();
        };
        co_return co_await store.Mutate(std::move(change));
      });
  if (!s.ok()) {
    for (auto& e : errors) {
      if (e.ok()) e = {ErrorCode::kKafkaStorageError, s.ToString()};
    }
  }
  CreateTopicsResponse resp;
  for (size_t i = 0; i < wanted.size(); i++) {
    CreateTopicsResponse::CreatableTopicResult r;
    r.name = wanted[i].name;
    r.error_code = errors[i].wire();
    r.error_message = errors[i].wire_message();
    if (errors[i].ok()) {
      if (!validate_only) r.topic_id = created[i].id;
      r.num_partitions = created[i].partitions;
      r.replication_factor = 1;
      std::vector<CreateTopicsResponse::CreatableTopicConfigs> configs;
      Result<TopicConfig> effective = EffectiveTopicConfig(config.topic, created[i].overrides);
      for (const TopicSettingInfo& info : TopicSettings()) {
        CreateTopicsResponse::CreatableTopicConfigs c;
        c.name = std::string(info.name);
        c.value = TopicSettingValue(effective.ok() ? *effective : config.topic, info.name);
        c.config_source = TopicConfigSource(config, created[i].overrides, info.name);
        configs.push_back(std::move(c));
      }
      r.configs = std::move(configs);
    }
    resp.topics.push_back(std::move(r));
  }
  co_return EncodeResponse(ctx, resp);
}

Task<Result<Response>> HandleDeleteTopics(RequestContext& ctx) {
  using protocol::DeleteTopicsRequest;
  using protocol::DeleteTopicsResponse;
  RUNNEL_CO_ASSIGN_OR_RETURN(DeleteTopicsRequest req,
                             protocol::DecodeRequestBody<DeleteTopicsRequest>(ctx.frame));
  struct Target {
    std::optional<std::string> name;
    protocol::Uuid id;
    TopicError error;
    int32_t partitions = 0;
  };
  std::vector<Target> targets;
  if (ctx.version() >= 6) {
    for (const auto& t : req.topics) targets.push_back({t.name, t.topic_id, {}, 0});
  } else {
    for (const auto& n : req.topic_names) targets.push_back({n, {}, {}, 0});
  }
  Status s =
      co_await ControllerCall<Status>(ctx.node, ctx.io, [&](MetadataStore& store) -> Task<Status> {
        std::function<Status(ClusterMetadata&)> change = [&](ClusterMetadata& meta) -> Status {
          for (Target& t : targets) {
            const TopicInfo* info = nullptr;
            if (t.name.has_value()) {
              auto it = meta.topics.find(*t.name);
              if (it != meta.topics.end()) info = &it->second;
            } else {
              info = meta.FindById(t.id);
            }
            if (info == nullptr) {
              t.error = t.name.has_value()
                            ? TopicError{ErrorCode::kUnknownTopicOrPartition, "no such topic"}
                            : TopicError{ErrorCode::kUnknownTopicId, "no topic with that id"};
              continue;
            }
            t.name = info->name;
            t.id = info->id;
            if (info->name == engine::group::kOffsetsTopic) {
              t.error = InternalTopicError("deleted");
              continue;
            }
            t.partitions = info->partitions;
            meta.topics.erase(*t.name);
          }
          return Status::Ok();
        };
        co_return co_await store.Mutate(std::move(change));
      });
  // The metadata no longer has the topics (durably); now their partitions' logs and
  // directories go, each on its owner shard. A failure here leaves an orphan directory that a
  // re-created topic never reads (its id differs); it is logged.
  if (s.ok()) {
    std::vector<Task<Status>> removals;
    for (const Target& t : targets) {
      if (!t.error.ok() || !t.name.has_value()) continue;
      TopicInfo gone;
      gone.name = *t.name;
      gone.id = t.id;
      for (int32_t p = 0; p < t.partitions; p++) {
        auto remove = [gone, p](ShardState& shard) -> Task<Status> {
          co_return co_await shard.partitions->Remove(gone, p);
        };
        removals.push_back(
            ShardCall<Status>(ctx.node, ctx.io, ctx.node.PartitionShard(gone.name, p), remove));
      }
    }
    std::vector<Status> removed = co_await WhenAll(std::move(removals));
    for (const Status& r : removed) {
      if (!r.ok()) spdlog::warn("deleting a partition directory: {}", r.ToString());
    }
    // The groups' committed offsets of the deleted topics go too (tombstoned).
    std::vector<std::string> deleted;
    for (const Target& t : targets) {
      if (t.error.ok() && t.name.has_value()) deleted.push_back(*t.name);
    }
    co_await RemoveDeletedTopicsOffsets(ctx.node, ctx.io, std::move(deleted));
  }
  DeleteTopicsResponse resp;
  for (Target& t : targets) {
    if (!s.ok() && t.error.ok()) t.error = {ErrorCode::kKafkaStorageError, s.ToString()};
    DeleteTopicsResponse::DeletableTopicResult r;
    r.name = ctx.version() >= 6 ? t.name : std::optional<std::string>(t.name.value_or(""));
    r.topic_id = t.id;
    r.error_code = t.error.wire();
    r.error_message = t.error.wire_message();
    resp.responses.push_back(std::move(r));
  }
  co_return EncodeResponse(ctx, resp);
}

Task<Result<Response>> HandleCreatePartitions(RequestContext& ctx) {
  using protocol::CreatePartitionsRequest;
  using protocol::CreatePartitionsResponse;
  RUNNEL_CO_ASSIGN_OR_RETURN(CreatePartitionsRequest req,
                             protocol::DecodeRequestBody<CreatePartitionsRequest>(ctx.frame));
  std::vector<TopicError> errors(req.topics.size());
  const bool validate_only = req.validate_only;
  Status s =
      co_await ControllerCall<Status>(ctx.node, ctx.io, [&](MetadataStore& store) -> Task<Status> {
        std::function<Status(ClusterMetadata&)> change = [&](ClusterMetadata& meta) -> Status {
          std::set<std::string> names;
          for (size_t i = 0; i < req.topics.size(); i++) {
            const auto& t = req.topics[i];
            if (!names.insert(t.name).second) {
              errors[i] = {ErrorCode::kInvalidRequest, "topic named twice in one request"};
              continue;
            }
            std::optional<std::vector<std::vector<int32_t>>> assignments;
            if (t.assignments.has_value()) {
              assignments.emplace();
              for (const auto& a : *t.assignments) assignments->push_back(a.broker_ids);
            }
            if (t.name == engine::group::kOffsetsTopic) {
              errors[i] = InternalTopicError("given partitions");
              continue;
            }
            errors[i] = ValidatePartitionIncrease(meta, meta.node_id, t.name, t.count, assignments);
            if (errors[i].ok() && !validate_only) meta.topics[t.name].partitions = t.count;
          }
          return Status::Ok();
        };
        co_return co_await store.Mutate(std::move(change));
      });
  CreatePartitionsResponse resp;
  for (size_t i = 0; i < req.topics.size(); i++) {
    if (!s.ok() && errors[i].ok()) errors[i] = {ErrorCode::kKafkaStorageError, s.ToString()};
    CreatePartitionsResponse::CreatePartitionsTopicResult r;
    r.name = req.topics[i].name;
    r.error_code = errors[i].wire();
    r.error_message = errors[i].wire_message();
    resp.results.push_back(std::move(r));
  }
  co_return EncodeResponse(ctx, resp);
}

}  // namespace runnel::broker
