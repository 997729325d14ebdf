// Metadata (key 3), versions 0-12: brokers (this node at its advertised address), the cluster
// id, the controller (this node) and topics with their partitions; every partition is led by
// this node at leader epoch 0 with itself as the only replica. Missing topics are created when
// auto.create.topics.enable is on and the request allows it (v4+ field; always before v4).
#include <spdlog/spdlog.h>

#include "broker/handlers/groups.h"
#include "broker/handlers/handler.h"
#include "broker/protocol/gen/error_codes.h"
#include "broker/protocol/gen/metadata_request.h"
#include "broker/protocol/gen/metadata_response.h"
#include "broker/topic_ops.h"

namespace runnel::broker {

using protocol::ErrorCode;
using protocol::MetadataRequest;
using protocol::MetadataResponse;

namespace {

MetadataResponse::MetadataResponseTopic DescribeTopic(const TopicInfo& t, int32_t node_id) {
  MetadataResponse::MetadataResponseTopic out;
  out.name = t.name;
  out.topic_id = t.id;
  // The group coordinator's offsets topic (engine/group/offsets_topic.h) is internal.
  out.is_internal = t.name == engine::group::kOffsetsTopic;
  out.partitions.reserve(static_cast<size_t>(t.partitions));
  for (int32_t p = 0; p < t.partitions; p++) {
    MetadataResponse::MetadataResponsePartition part;
    part.partition_index = p;
    part.leader_id = node_id;
    part.leader_epoch = 0;
    part.replica_nodes = {node_id};
    part.isr_nodes = {node_id};
    out.partitions.push_back(std::move(part));
  }
  return out;
}

}  // namespace

Task<Result<Response>> HandleMetadata(RequestContext& ctx) {
  RUNNEL_CO_ASSIGN_OR_RETURN(MetadataRequest req,
                             protocol::DecodeRequestBody<MetadataRequest>(ctx.frame));
  const BrokerConfig& config = ctx.node.config();
  const int16_t version = ctx.version();
  // v0: an empty list means every topic; v1+: null means every topic, empty means none.
  const bool all_topics = !req.topics.has_value() || (version == 0 && req.topics->empty());
  const bool may_create = config.auto_create_topics_enable && req.allow_auto_topic_creation;

  ClusterMetadata meta = co_await SnapshotMetadata(ctx.node, ctx.io);
  if (!all_topics && may_create) {
    std::vector<std::string> missing;
    bool create_offsets_topic = false;
    for (const auto& t : *req.topics) {
      if (t.name.has_value() && IsValidTopicName(*t.name) && !meta.topics.contains(*t.name)) {
        // The offsets topic is the group coordinator's: made with its own partition count and
        // compaction, never with the auto-create defaults.
        if (*t.name == engine::group::kOffsetsTopic) {
          create_offsets_topic = true;
          continue;
        }
        missing.push_back(*t.name);
      }
    }
    const bool created = create_offsets_topic || !missing.empty();
    if (create_offsets_topic) (void)co_await EnsureOffsetsTopic(ctx.node, ctx.io);
    if (!missing.empty()) {
      Status s = co_await AutoCreateTopics(ctx.node, ctx.io, std::move(missing));
      if (!s.ok()) spdlog::warn("auto-create for {} failed: {}", ctx.peer.ToString(), s.ToString());
    }
    if (created) meta = co_await SnapshotMetadata(ctx.node, ctx.io);
  }

  MetadataResponse resp;
  const Address advertised = config.AdvertisedAddress();
  MetadataResponse::MetadataResponseBroker broker;
  broker.node_id = meta.node_id;
  broker.host = advertised.host;
  broker.port = advertised.port;
  resp.brokers.push_back(std::move(broker));
  resp.cluster_id = meta.cluster_id;
  resp.controller_id = meta.node_id;
  if (version >= 8 && version <= 10 && req.include_cluster_authorized_operations) {
    resp.cluster_authorized_operations = 0;
  }
  if (all_topics) {
    for (const auto& [name, t] : meta.topics) resp.topics.push_back(DescribeTopic(t, meta.node_id));
  } else {
    for (const auto& want : *req.topics) {
      const TopicInfo* t = nullptr;
      if (want.name.has_value()) {
        auto it = meta.topics.find(*want.name);
        if (it != meta.topics.end()) t = &it->second;
      } else {
        t = meta.FindById(want.topic_id);
      }
      if (t != nullptr) {
        resp.topics.push_back(DescribeTopic(*t, meta.node_id));
        continue;
      }
      MetadataResponse::MetadataResponseTopic missing;
      // Names are nullable in responses only from v12.
      missing.name = version >= 12 ? want.name : std::optional<std::string>(want.name.value_or(""));
      missing.topic_id = want.topic_id;
      if (!want.name.has_value()) {
        missing.error_code = static_cast<int16_t>(ErrorCode::kUnknownTopicId);
      } else if (!IsValidTopicName(*want.name)) {
        missing.error_code = static_cast<int16_t>(ErrorCode::kInvalidTopicException);
      } else {
        missing.error_code = static_cast<int16_t>(ErrorCode::kUnknownTopicOrPartition);
      }
      resp.topics.push_back(std::move(missing));
    }
  }
  if (version >= 8 && req.include_topic_authorized_operations) {
    for (auto& t : resp.topics) t.topic_authorized_operations = 0;
  }
  co_return EncodeResponse(ctx, resp);
}

}  // namespace runnel::broker
