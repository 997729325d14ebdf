// Fetch (key 1), versions 4-17, without fetch sessions yet (every fetch is a full fetch and the
// response carries session id 0, which clients accept as "no session"). Each partition is read
// on its owner shard up to its partition_max_bytes (the first batch whole, KIP-74) below the
// high watermark; the request's max_bytes caps the total. While fewer than min_bytes are
// available the fetch waits (up to max_wait_ms) on the appended Notify of the first partition's
// shard, then reads again.
//
// The record bytes are copied through user space for now (ReadOptions::load_bytes); sending the
// segment file regions with Socket::SendFile is the next step (see broker/README.md).
#include <algorithm>

#include "broker/handlers/handler.h"
#include "broker/partitions.h"
#include "broker/protocol/gen/error_codes.h"
#include "broker/protocol/gen/fetch_request.h"
#include "broker/protocol/gen/fetch_response.h"

namespace runnel::broker {

using protocol::ErrorCode;
using protocol::FetchRequest;
using protocol::FetchResponse;

namespace {

struct PartitionRead {
  ErrorCode error = ErrorCode::kNone;
  int64_t high_watermark = -1;
  int64_t log_start_offset = -1;
  std::vector<std::byte> data;
};

Task<PartitionRead> ReadPartition(Node& node, Io& io, TopicInfo topic, int32_t partition,
                                  int64_t offset, uint64_t bytes_max) {
  const ShardId owner = node.PartitionShard(topic.name, partition);
  auto read = [topic = std::move(topic), partition, offset,
               bytes_max](ShardState& shard) -> Task<PartitionRead> {
    PartitionRead out;
    Result<engine::Log*> log = co_await shard.partitions->Get(topic, partition);
    if (!log.ok()) {
      out.error = ErrorCode::kKafkaStorageError;
      co_return out;
    }
    engine::ReadOptions options;
    options.bytes_max = bytes_max;
    options.end_offset = (*log)->high_watermark();
    options.load_bytes = true;
    Result<engine::ReadResult> r = co_await (*log)->Read(engine::Offset(offset), options);
    out.high_watermark = (*log)->high_watermark().value();
    out.log_start_offset = (*log)->log_start_offset().value();
    if (!r.ok()) {
      out.error = r.status().Is(ErrorKind::kNotFound) ? ErrorCode::kOffsetOutOfRange
                                                      : ErrorCode::kKafkaStorageError;
      co_return out;
    }
    out.data = std::move(r->data);
    co_return out;
  };
  co_return co_await ShardCall<PartitionRead>(node, io, owner, std::move(read));
}

// Waits on `owner`'s appended Notify for up to `timeout`, unless the partition's high watermark
// already moved past `seen_hwm`.
Task<bool> WaitForData(Node& node, Io& io, TopicInfo topic, int32_t partition, int64_t seen_hwm,
                       Duration timeout) {
  const ShardId owner = node.PartitionShard(topic.name, partition);
  auto wait = [topic = std::move(topic), partition, seen_hwm,
               timeout](ShardState& shard) -> Task<bool> {
    Result<engine::Log*> log = co_await shard.partitions->Get(topic, partition);
    if (log.ok() && (*log)->high_watermark().value() > seen_hwm) co_return true;
    co_return co_await shard.partitions->appended().Wait(timeout);
  };
  co_return co_await ShardCall<bool>(node, io, owner, std::move(wait));
}

}  // namespace

Task<Result<Response>> HandleFetch(RequestContext& ctx) {
  RUNNEL_CO_ASSIGN_OR_RETURN(FetchRequest req,
                             protocol::DecodeRequestBody<FetchRequest>(ctx.frame));
  ClusterMetadata meta = co_await SnapshotMetadata(ctx.node, ctx.io);
  const bool by_id = ctx.version() >= 13;
  const Instant deadline =
      ctx.io.clock().Now() + std::chrono::milliseconds(std::max<int32_t>(req.max_wait_ms, 0));

  struct Target {
    const TopicInfo* topic = nullptr;
    int32_t partition = 0;
    int64_t offset = 0;
    uint64_t bytes_max = 0;
    ErrorCode error = ErrorCode::kNone;
  };
  std::vector<Target> targets;
  for (const auto& t : req.topics) {
    const TopicInfo* info = nullptr;
    if (by_id) {
      info = meta.FindById(t.topic_id);
    } else {
      auto it = meta.topics.find(t.topic);
      if (it != meta.topics.end()) info = &it->second;
    }
    for (const auto& p : t.partitions) {
      Target target;
      target.topic = info;
      target.partition = p.partition;
      target.offset = p.fetch_offset;
      target.bytes_max = static_cast<uint64_t>(std::max<int32_t>(p.partition_max_bytes, 0));
      if (info == nullptr) {
        target.error = by_id ? ErrorCode::kUnknownTopicId : ErrorCode::kUnknownTopicOrPartition;
      } else if (p.partition < 0 || p.partition >= info->partitions) {
        target.error = ErrorCode::kUnknownTopicOrPartition;
      }
      targets.push_back(target);
    }
  }

  std::vector<PartitionRead> reads;
  while (true) {
    std::vector<Task<PartitionRead>> tasks;
    for (const Target& t : targets) {
      if (t.error != ErrorCode::kNone) continue;
      tasks.push_back(
          ReadPartition(ctx.node, ctx.io, *t.topic, t.partition, t.offset, t.bytes_max));
    }
    std::vector<PartitionRead> done = co_await WhenAll(std::move(tasks));
    reads.clear();
    size_t k = 0;
    uint64_t total = 0;
    bool any_error = false;
    for (const Target& t : targets) {
      if (t.error != ErrorCode::kNone) {
        PartitionRead r;
        r.error = t.error;
        reads.push_back(std::move(r));
        any_error = true;
        continue;
      }
      reads.push_back(std::move(done[k++]));
      total += reads.back().data.size();
      any_error = any_error || reads.back().error != ErrorCode::kNone;
    }
    const Instant now = ctx.io.clock().Now();
    if (total >= static_cast<uint64_t>(std::max<int32_t>(req.min_bytes, 1)) || any_error ||
        now >= deadline || targets.empty()) {
      break;
    }
    const Target& first = targets.front();
    bool woke = co_await WaitForData(ctx.node, ctx.io, *first.topic, first.partition,
                                     reads.front().high_watermark, deadline - now);
    if (!woke && ctx.io.clock().Now() >= deadline) {
      // Timed out: one last read below so that data that arrived on other shards is returned.
      continue;
    }
  }

  // The request's max_bytes caps the total; the first non-empty partition is always returned.
  uint64_t budget = static_cast<uint64_t>(std::max<int32_t>(req.max_bytes, 0));
  bool first_data = true;
  for (PartitionRead& r : reads) {
    if (r.data.empty()) continue;
    if (!first_data && r.data.size() > budget) {
      r.data.clear();
      continue;
    }
    budget -= std::min<uint64_t>(budget, r.data.size());
    first_data = false;
  }

  FetchResponse resp;
  resp.session_id = 0;
  size_t k = 0;
  for (const auto& t : req.topics) {
    FetchResponse::FetchableTopicResponse tr;
    tr.topic = t.topic;
    tr.topic_id = t.topic_id;
    for (const auto& p : t.partitions) {
      PartitionRead& r = reads[k++];
      FetchResponse::PartitionData pd;
      pd.partition_index = p.partition;
      pd.error_code = static_cast<int16_t>(r.error);
      pd.high_watermark = r.high_watermark;
      pd.last_stable_offset = r.high_watermark;
      pd.log_start_offset = r.log_start_offset;
      pd.aborted_transactions = std::nullopt;
      pd.records = protocol::RecordsView::Of(
          std::span(reinterpret_cast<const uint8_t*>(r.data.data()), r.data.size()));
      tr.partitions.push_back(std::move(pd));
    }
    resp.responses.push_back(std::move(tr));
  }
  co_return EncodeResponse(ctx, resp);
}

}  // namespace runnel::broker
