// ListOffsets, DeleteRecords and OffsetForLeaderEpoch: offset questions answered by each
// partition's owner shard.
//
// ListOffsets (key 2), versions 1-7: EARLIEST (-2: the log start), LATEST (-1: the high
// watermark), MAX_TIMESTAMP (-3: the first record with the largest timestamp) or the first
// record whose timestamp is at or after the one asked for. Each partition is answered by its
// owner shard.
#include "broker/handlers/handler.h"
#include "broker/partitions.h"
#include "broker/protocol/gen/delete_records_request.h"
#include "broker/protocol/gen/delete_records_response.h"
#include "broker/protocol/gen/error_codes.h"
#include "broker/protocol/gen/list_offsets_request.h"
#include "broker/protocol/gen/list_offsets_response.h"
#include "broker/protocol/gen/offset_for_leader_epoch_request.h"
#include "broker/protocol/gen/offset_for_leader_epoch_response.h"

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
  PartitionFanOut<OffsetAnswer> fan;
  for (const auto& t : req.topics) {
    for (const auto& p : t.partitions) {
      if (const TopicInfo* topic = FindPartition(meta, t.name, p.partition_index)) {
        fan.Start(LookUp(ctx.node, ctx.io, *topic, p.partition_index, p.timestamp));
      } else {
        fan.Answer({.error = ErrorCode::kUnknownTopicOrPartition});
      }
    }
  }
  std::vector<OffsetAnswer> answers = co_await fan.Run();
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

namespace {

// The leader epoch every append on this single node carries.
constexpr int32_t kLeaderEpoch = 0;

struct DeleteAnswer {
  ErrorCode error = ErrorCode::kNone;
  int64_t low_watermark = -1;
};

Task<DeleteAnswer> DeleteBelow(Node& node, Io& io, TopicInfo topic, int32_t partition,
                               int64_t offset) {
  const ShardId owner = node.PartitionShard(topic.name, partition);
  auto del = [topic = std::move(topic), partition,
              offset](ShardState& shard) -> Task<DeleteAnswer> {
    DeleteAnswer out;
    Result<engine::Log*> log = co_await shard.partitions->Get(topic, partition);
    if (!log.ok()) {
      out.error = ErrorCode::kKafkaStorageError;
      co_return out;
    }
    // -1: up to the high watermark.
    const int64_t target = offset == -1 ? (*log)->high_watermark().value() : offset;
    if (target < 0 || target > (*log)->high_watermark().value()) {
      out.error = ErrorCode::kOffsetOutOfRange;
      out.low_watermark = (*log)->log_start_offset().value();
      co_return out;
    }
    Result<engine::Offset> start = co_await (*log)->DeleteRecords(engine::Offset(target));
    if (!start.ok()) {
      out.error = start.status().Is(ErrorKind::kInvalidArgument) ? ErrorCode::kOffsetOutOfRange
                                                                 : ErrorCode::kKafkaStorageError;
      out.low_watermark = (*log)->log_start_offset().value();
      co_return out;
    }
    out.low_watermark = start->value();
    co_return out;
  };
  co_return co_await ShardCall<DeleteAnswer>(node, io, owner, std::move(del));
}

struct EpochAnswer {
  ErrorCode error = ErrorCode::kNone;
  int32_t leader_epoch = -1;
  int64_t end_offset = -1;
};

Task<EpochAnswer> EpochEnd(Node& node, Io& io, TopicInfo topic, int32_t partition,
                           int32_t leader_epoch) {
  const ShardId owner = node.PartitionShard(topic.name, partition);
  auto look = [topic = std::move(topic), partition,
               leader_epoch](ShardState& shard) -> Task<EpochAnswer> {
    EpochAnswer out;
    Result<engine::Log*> log = co_await shard.partitions->Get(topic, partition);
    if (!log.ok()) {
      out.error = ErrorCode::kKafkaStorageError;
      co_return out;
    }
    // Every batch carries epoch 0: asking for epoch 0 (or a later one, which we have not
    // reached) ends at the log end; an earlier one is undefined (-1, -1).
    if (leader_epoch >= kLeaderEpoch) {
      out.leader_epoch = kLeaderEpoch;
      out.end_offset = (*log)->log_end_offset().value();
    }
    co_return out;
  };
  co_return co_await ShardCall<EpochAnswer>(node, io, owner, std::move(look));
}

}  // namespace

// DeleteRecords (key 21), versions 0-2: moves each partition's log start up to the offset
// (-1: the high watermark), durably, and reports the new low watermark.
Task<Result<Response>> HandleDeleteRecords(RequestContext& ctx) {
  using protocol::DeleteRecordsRequest;
  using protocol::DeleteRecordsResponse;
  RUNNEL_CO_ASSIGN_OR_RETURN(DeleteRecordsRequest req,
                             protocol::DecodeRequestBody<DeleteRecordsRequest>(ctx.frame));
  ClusterMetadata meta = co_await SnapshotMetadata(ctx.node, ctx.io);
  PartitionFanOut<DeleteAnswer> fan;
  for (const auto& t : req.topics) {
    for (const auto& p : t.partitions) {
      if (const TopicInfo* topic = FindPartition(meta, t.name, p.partition_index)) {
        fan.Start(DeleteBelow(ctx.node, ctx.io, *topic, p.partition_index, p.offset));
      } else {
        fan.Answer({.error = ErrorCode::kUnknownTopicOrPartition});
      }
    }
  }
  std::vector<DeleteAnswer> answers = co_await fan.Run();
  DeleteRecordsResponse resp;
  size_t k = 0;
  for (const auto& t : req.topics) {
    DeleteRecordsResponse::DeleteRecordsTopicResult tr;
    tr.name = t.name;
    for (const auto& p : t.partitions) {
      const DeleteAnswer& a = answers[k++];
      DeleteRecordsResponse::DeleteRecordsPartitionResult pr;
      pr.partition_index = p.partition_index;
      pr.low_watermark = a.low_watermark;
      pr.error_code = static_cast<int16_t>(a.error);
      tr.partitions.push_back(pr);
    }
    resp.topics.push_back(std::move(tr));
  }
  co_return EncodeResponse(ctx, resp);
}

// OffsetForLeaderEpoch (key 23), versions 2-4: the end offset of the requested leader epoch.
Task<Result<Response>> HandleOffsetForLeaderEpoch(RequestContext& ctx) {
  using protocol::OffsetForLeaderEpochRequest;
  using protocol::OffsetForLeaderEpochResponse;
  RUNNEL_CO_ASSIGN_OR_RETURN(OffsetForLeaderEpochRequest req,
                             protocol::DecodeRequestBody<OffsetForLeaderEpochRequest>(ctx.frame));
  ClusterMetadata meta = co_await SnapshotMetadata(ctx.node, ctx.io);
  PartitionFanOut<EpochAnswer> fan;
  for (const auto& t : req.topics) {
    for (const auto& p : t.partitions) {
      const TopicInfo* topic = FindPartition(meta, t.topic, p.partition);
      if (topic == nullptr) {
        fan.Answer({.error = ErrorCode::kUnknownTopicOrPartition});
      } else if (p.current_leader_epoch > kLeaderEpoch) {
        fan.Answer({.error = ErrorCode::kUnknownLeaderEpoch});
      } else {
        fan.Start(EpochEnd(ctx.node, ctx.io, *topic, p.partition, p.leader_epoch));
      }
    }
  }
  std::vector<EpochAnswer> answers = co_await fan.Run();
  OffsetForLeaderEpochResponse resp;
  size_t k = 0;
  for (const auto& t : req.topics) {
    OffsetForLeaderEpochResponse::OffsetForLeaderTopicResult tr;
    tr.topic = t.topic;
    for (const auto& p : t.partitions) {
      const EpochAnswer& a = answers[k++];
      OffsetForLeaderEpochResponse::EpochEndOffset pr;
      pr.partition = p.partition;
      pr.error_code = static_cast<int16_t>(a.error);
      pr.leader_epoch = a.leader_epoch;
      pr.end_offset = a.end_offset;
      tr.partitions.push_back(pr);
    }
    resp.topics.push_back(std::move(tr));
  }
  co_return EncodeResponse(ctx, resp);
}

}  // namespace runnel::broker
