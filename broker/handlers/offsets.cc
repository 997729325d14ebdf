// ListOffsets (key 2), versions 1-7: EARLIEST (-2: the log start), LATEST (-1: the high
// watermark), MAX_TIMESTAMP (-3: the first record with the largest timestamp) or the first
// record whose timestamp is at or after the one asked for. Each partition is answered by its
// owner shard.
#include "broker/handlers/handler.h"
#include "broker/partitions.h"
#include "broker/protocol/gen/error_codes.h"
#include "broker/protocol/gen/list_offsets_request.h"
#include "broker/protocol/gen/list_offsets_response.h"

namespace runnel::broker {

using protocol::ErrorCode;
using protocol::ListOffsetsRequest;
using protocol::ListOffsetsResponse;

namespace {

constexpr int64_t kLatest = -1;
constexpr int64_t kEarliest = -2;
constexpr int64_t kMaxTimestamp = -3;

struct OffsetAnswer {
  ErrorCode error = ErrorCode::kNone;
  int64_t timestamp = -1;
  int64_t offset = -1;
  int32_t leader_epoch = -1;
};

Task<OffsetAnswer> LookUp(Node& node, Io& io, TopicInfo topic, int32_t partition,
                          int64_t timestamp) {
  const ShardId owner = node.PartitionShard(topic.name, partition);
  auto look = [topic = std::move(topic), partition,
               timestamp](ShardState& shard) -> Task<OffsetAnswer> {
    OffsetAnswer out;
    Result<engine::Log*> log = co_await shard.partitions->Get(topic, partition);
    if (!log.ok()) {
      out.error = ErrorCode::kKafkaStorageError;
      co_return out;
    }
    if (timestamp == kLatest || timestamp == kEarliest) {
      out.offset = timestamp == kLatest ? (*log)->high_watermark().value()
                                        : (*log)->log_start_offset().value();
      out.leader_epoch = 0;
      co_return out;
    }
    Result<std::optional<engine::TimestampOffset>> found =
        timestamp == kMaxTimestamp ? co_await (*log)->OffsetOfMaxTimestamp()
                                   : co_await (*log)->OffsetForTimestamp(timestamp);
    if (!found.ok()) {
      out.error = ErrorCode::kKafkaStorageError;
      co_return out;
    }
    if (found->has_value()) {
      out.timestamp = (*found)->timestamp_ms;
      out.offset = (*found)->offset.value();
      out.leader_epoch = (*found)->leader_epoch.value();
    }
    co_return out;
  };
  co_return co_await ShardCall<OffsetAnswer>(node, io, owner, std::move(look));
}

}  // namespace

Task<Result<Response>> HandleListOffsets(RequestContext& ctx) {
  RUNNEL_CO_ASSIGN_OR_RETURN(ListOffsetsRequest req,
                             protocol::DecodeRequestBody<ListOffsetsRequest>(ctx.frame));
  ClusterMetadata meta = co_await SnapshotMetadata(ctx.node, ctx.io);
  std::vector<OffsetAnswer> answers;
  std::vector<size_t> slot;
  std::vector<Task<OffsetAnswer>> tasks;
  for (const auto& t : req.topics) {
    auto it = meta.topics.find(t.name);
    for (const auto& p : t.partitions) {
      OffsetAnswer a;
      if (it == meta.topics.end() || p.partition_index < 0 ||
          p.partition_index >= it->second.partitions) {
        a.error = ErrorCode::kUnknownTopicOrPartition;
      } else {
        slot.push_back(answers.size());
        tasks.push_back(LookUp(ctx.node, ctx.io, it->second, p.partition_index, p.timestamp));
      }
      answers.push_back(a);
    }
  }
  std::vector<OffsetAnswer> done = co_await WhenAll(std::move(tasks));
  for (size_t i = 0; i < done.size(); i++) answers[slot[i]] = done[i];
  ListOffsetsResponse resp;
  size_t k = 0;
  for (const auto& t : req.topics) {
    ListOffsetsResponse::ListOffsetsTopicResponse tr;
    tr.name = t.name;
    for (const auto& p : t.partitions) {
      const OffsetAnswer& a = answers[k++];
      ListOffsetsResponse::ListOffsetsPartitionResponse pr;
      pr.partition_index = p.partition_index;
      pr.error_code = static_cast<int16_t>(a.error);
      pr.timestamp = a.timestamp;
      pr.offset = a.offset;
      if (ctx.version() >= 4) pr.leader_epoch = a.leader_epoch;
      tr.partitions.push_back(std::move(pr));
    }
    resp.topics.push_back(std::move(tr));
  }
  co_return EncodeResponse(ctx, resp);
}

}  // namespace runnel::broker
