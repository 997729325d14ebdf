// Produce (key 0), versions 3-11. Each partition's records go to the shard that owns the
// partition (ShardCall), where its Log validates and appends them: acks=1 resolves once the
// batches are written, acks=all (-1) once they are synced — concurrent acks=all appends share
// one sync (the log's group commit). acks=0 appends and sends no response.
//
// A topic whose compression.type is not "producer" gets its batches in that codec: batches in
// another codec are rewritten (engine/recompress.h) on the connection's shard before they go to
// the owner shard, as Kafka's LogValidator does. Such a batch gives up zero-copy storage of the
// client's bytes (decompress, check, compress; the log then validates the new batch as any
// other). A batch that does not convert (corrupt: CORRUPT_MESSAGE; over max.message.bytes or
// the decompression bound: MESSAGE_TOO_LARGE) fails its partition and nothing of it is written.
#include <algorithm>

#include "broker/handlers/handler.h"
#include "broker/partitions.h"
#include "broker/protocol/gen/error_codes.h"
#include "broker/protocol/gen/produce_request.h"
#include "broker/protocol/gen/produce_response.h"
#include "engine/recompress.h"
#include "engine/record_batch_format.h"

namespace runnel::broker {

using protocol::ErrorCode;
using protocol::ProduceRequest;
using protocol::ProduceResponse;

namespace {

// KIP-110: the first Produce version that may carry zstd batches.
constexpr int16_t kZstdProduceVersionMin = 7;

struct PartitionOutcome {
  ErrorCode error = ErrorCode::kNone;
  std::string message;
  int64_t base_offset = -1;
  int64_t log_append_time_ms = -1;
  int64_t log_start_offset = -1;
};

ErrorCode ToErrorCode(engine::AppendOutcome outcome) {
  switch (outcome) {
    case engine::AppendOutcome::kAppended:
    case engine::AppendOutcome::kDuplicate:
      return ErrorCode::kNone;
    case engine::AppendOutcome::kCorruptRecord:
      return ErrorCode::kCorruptMessage;
    case engine::AppendOutcome::kInvalidRecord:
      return ErrorCode::kInvalidRecord;
    case engine::AppendOutcome::kRecordTooLarge:
      return ErrorCode::kMessageTooLarge;
    case engine::AppendOutcome::kOutOfOrderSequence:
      return ErrorCode::kOutOfOrderSequenceNumber;
    case engine::AppendOutcome::kInvalidProducerEpoch:
      return ErrorCode::kInvalidProducerEpoch;
    case engine::AppendOutcome::kInvalidTxnState:
      return ErrorCode::kInvalidTxnState;
  }
  return ErrorCode::kUnknownServerError;
}

// A log error (Status) as the client sees it.
ErrorCode StatusError(const Status& s) {
  if (s.Is(ErrorKind::kLimit)) return ErrorCode::kRequestTimedOut;  // retriable back-pressure
  return ErrorCode::kKafkaStorageError;
}

// Appends `records` on the partition's owner shard. `records` is either a span into the
// request frame (which outlives this task: the handler awaits it) or, after a codec conversion,
// `converted`'s bytes; the owner shard's log rewrites header fields in place either way.
Task<PartitionOutcome> ProducePartition(Node& node, Io& io, TopicInfo topic, int32_t partition,
                                        std::span<std::byte> records,
                                        std::vector<std::byte> converted, bool durable) {
  const ShardId owner = node.PartitionShard(topic.name, partition);
  auto append = [topic = std::move(topic), partition, records, converted = std::move(converted),
                 durable](ShardState& shard) mutable -> Task<PartitionOutcome> {
    if (!converted.empty()) records = std::span(converted);
    PartitionOutcome out;
    Result<engine::Log*> log = co_await shard.partitions->Get(topic, partition);
    if (!log.ok()) {
      out.error = StatusError(log.status());
      out.message = log.status().ToString();
      co_return out;
    }
    engine::AppendOptions options;
    options.durable = durable;
    options.leader_epoch = engine::LeaderEpoch(0);
    Result<engine::AppendResult> r = co_await (*log)->Append(records, options);
    if (!r.ok()) {
      out.error = StatusError(r.status());
      out.message = r.status().ToString();
      co_return out;
    }
    out.error = ToErrorCode(r->outcome);
    out.message = r->message;
    out.log_start_offset = r->log_start_offset.value();
    if (out.error == ErrorCode::kNone) {
      out.base_offset = r->base_offset.value();
      out.log_append_time_ms = r->log_append_time_ms;
      // One node: what is written is committed. A durable append exposes only what is synced
      // (the flushed offset covers it now), so with acks=all no consumer reads a record that a
      // failed sync of a later round takes back; other appends expose what is written (Kafka's
      // acks=0/1 behaviour).
      (*log)->SetHighWatermark(durable
                                   ? std::max((*log)->high_watermark(), (*log)->flushed_offset())
                                   : (*log)->log_end_offset());
      shard.partitions->appended().NotifyAll();
    }
    co_return out;
  };
  co_return co_await ShardCall<PartitionOutcome>(node, io, owner, std::move(append));
}

// Whether some batch of `records` is zstd (attribute bits 0-2 == 4), by walking the headers
// (no CRC: a batch with bad framing is left to the log, which refuses it).
bool HasZstdBatch(std::span<const std::byte> records) {
  namespace bf = engine::batch_format;
  size_t at = 0;
  while (records.size() - at >= bf::kHeaderBytes) {
    Result<size_t> size = engine::BatchSizeFromPrefix(records.subspan(at));
    if (!size.ok() || *size > records.size() - at) return false;
    const uint16_t attributes = static_cast<uint16_t>(
        (std::to_integer<uint16_t>(records[at + bf::kAttributesOffset]) << 8) |
        std::to_integer<uint16_t>(records[at + bf::kAttributesOffset + 1]));
    if ((attributes & bf::kAttrCompressionMask) == static_cast<uint16_t>(engine::Codec::kZstd)) {
      return true;
    }
    at += *size;
  }
  return false;
}

// The codec a topic's batches are stored in; nullopt keeps the producer's.
std::optional<engine::Codec> TargetCodec(TopicCompression c) {
  switch (c) {
    case TopicCompression::kProducer:
      return std::nullopt;
    case TopicCompression::kUncompressed:
      return engine::Codec::kNone;
    case TopicCompression::kGzip:
      return engine::Codec::kGzip;
    case TopicCompression::kSnappy:
      return engine::Codec::kSnappy;
    case TopicCompression::kLz4:
      return engine::Codec::kLz4;
    case TopicCompression::kZstd:
      return engine::Codec::kZstd;
  }
  return std::nullopt;
}

// Rewrites `records` in `codec` into `converted` when some batch uses another (`converted`
// stays empty when none does). An error is the partition's answer; nothing may be appended.
std::optional<PartitionOutcome> ConvertRecords(std::span<const std::byte> records,
                                               engine::Codec codec, const TopicConfig& topic_config,
                                               engine::BatchRecompressor& recompressor,
                                               std::vector<std::byte>& converted) {
  const engine::LogLimits log_limits;
  engine::RecompressLimits limits;
  limits.batch_count_max = log_limits.append_batches_max;
  limits.batch_bytes_max = static_cast<size_t>(topic_config.max_message_bytes);
  limits.output_bytes_max = static_cast<size_t>(topic_config.segment_bytes);
  Result<bool> r = engine::RecompressBatches(records, codec, limits, recompressor, converted);
  if (!r.ok()) {
    PartitionOutcome out;
    out.error =
        r.status().Is(ErrorKind::kLimit) ? ErrorCode::kMessageTooLarge : ErrorCode::kCorruptMessage;
    out.message = r.status().message();
    return out;
  }
  RUNNEL_ASSERT(*r == !converted.empty(), "RecompressBatches: converted {} with {} bytes out", *r,
                converted.size());
  return std::nullopt;
}

// The records of one partition as a writable span of the request frame they were decoded from
// (no copy: Log::Append stamps offsets into the client's bytes where they lie).
std::span<std::byte> WritableRecords(const RequestContext& ctx, const protocol::RecordsView& r) {
  const uint8_t* begin = ctx.writable_frame.data();
  const uint8_t* end = begin + ctx.writable_frame.size();
  RUNNEL_ASSERT(r.data() >= begin && r.data() + r.size() <= end,
                "Produce records ({} bytes) outside the {}-byte request frame", r.size(),
                ctx.writable_frame.size());
  const size_t at = static_cast<size_t>(r.data() - begin);
  return std::as_writable_bytes(ctx.writable_frame.subspan(at, r.size()));
}

}  // namespace

Task<Result<Response>> HandleProduce(RequestContext& ctx) {
  RUNNEL_CO_ASSIGN_OR_RETURN(ProduceRequest req,
                             protocol::DecodeRequestBody<ProduceRequest>(ctx.frame));
  ClusterMetadata meta = co_await SnapshotMetadata(ctx.node, ctx.io);
  const bool valid_acks = req.acks == 0 || req.acks == 1 || req.acks == -1;
  // Outcomes in request order; the appends run concurrently (one task per partition).
  PartitionFanOut<PartitionOutcome> fan;
  // Made on first use: its codec contexts serve every converted batch of this request.
  std::optional<engine::BatchRecompressor> recompressor;
  for (const auto& t : req.topic_data) {
    auto it = meta.topics.find(t.name);
    std::optional<engine::Codec> target;
    TopicConfig topic_config;
    if (it != meta.topics.end()) {
      // Invalid stored overrides cannot happen (they were validated when set); if they did,
      // the partition's log refuses to open with the reason, so nothing is converted here.
      Result<TopicConfig> effective =
          EffectiveTopicConfig(ctx.node.config().topic, it->second.overrides);
      if (effective.ok()) {
        topic_config = *effective;
        target = TargetCodec(topic_config.compression_type);
      }
    }
    for (const auto& p : t.partition_data) {
      PartitionOutcome out;
      if (!valid_acks) {
        out.error = ErrorCode::kInvalidRequiredAcks;
      } else if (FindPartition(meta, t.name, p.index) == nullptr) {
        out.error = ErrorCode::kUnknownTopicOrPartition;
      } else if (p.records.is_null() || p.records.size() == 0) {
        out.error = ErrorCode::kCorruptMessage;
        out.message = "no records";
      } else if (ctx.version() < kZstdProduceVersionMin &&
                 HasZstdBatch(std::as_bytes(std::span(p.records.data(), p.records.size())))) {
        // KIP-110: zstd needs Produce v7, as with Kafka (a consumer old enough to use an
        // older Produce could not read it back).
        out.error = ErrorCode::kUnsupportedCompressionType;
        out.message = "zstd batches need Produce v7 or later";
      } else {
        const std::span<std::byte> records = WritableRecords(ctx, p.records);
        std::vector<std::byte> converted;
        if (target.has_value()) {
          if (!recompressor.has_value()) {
            recompressor.emplace(engine::LogLimits{}.decompressed_bytes_max);
          }
          std::optional<PartitionOutcome> refused =
              ConvertRecords(records, *target, topic_config, *recompressor, converted);
          // A conversion is CPU work on this shard's loop (milliseconds for a large gzip
          // batch): let the shard's other connections run before the next partition.
          co_await Yield{ctx.io.executor()};
          if (refused.has_value()) {
            fan.Answer(std::move(*refused));
            continue;
          }
        }
        fan.Start(ProducePartition(ctx.node, ctx.io, it->second, p.index, records,
                                   std::move(converted), req.acks == -1));
        continue;
      }
      fan.Answer(std::move(out));
    }
  }
  std::vector<PartitionOutcome> outcomes = co_await fan.Run();
  if (req.acks == 0) co_return Response{{}, false, {}};

  ProduceResponse resp;
  size_t k = 0;
  for (const auto& t : req.topic_data) {
    ProduceResponse::TopicProduceResponse tr;
    tr.name = t.name;
    for (const auto& p : t.partition_data) {
      const PartitionOutcome& out = outcomes[k++];
      ProduceResponse::PartitionProduceResponse pr;
      pr.index = p.index;
      pr.error_code = static_cast<int16_t>(out.error);
      pr.base_offset = out.base_offset;
      pr.log_append_time_ms = out.log_append_time_ms;
      pr.log_start_offset = out.log_start_offset;
      if (out.error != ErrorCode::kNone && !out.message.empty()) pr.error_message = out.message;
      tr.partition_responses.push_back(std::move(pr));
    }
    resp.responses.push_back(std::move(tr));
  }
  co_return EncodeResponse(ctx, resp);
}

}  // namespace runnel::broker
