// Fetch (key 1), versions 4-17, without fetch sessions yet (every fetch is a full fetch and the
// response carries session id 0, which clients accept as "no session"). Each partition is read
// on its owner shard up to its partition_max_bytes (the first batch whole, KIP-74) below the
// high watermark; the request's max_bytes caps the total. While fewer than min_bytes are
// available the fetch waits (up to max_wait_ms) on the appended Notify of the first partition's
// shard, then reads again.
//
// Zero-copy: a partition's records go from the segment file to the socket with SendFile
// (Response::regions); the response header and fields are written with the Writer around them.
// Reads under kInlineBytesMax are copied instead (the Writer copies small records anyway).
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

// Reads smaller than this are copied into the response; larger ones are sent from the file.
constexpr uint64_t kInlineBytesMax = protocol::Writer::kBorrowBytesMin;

// Where a zero-copy partition's records go in the encoded response: the Writer borrows (does
// not read) records views of kBorrowBytesMin bytes or more, so each is a view of this marker
// with the region's length, found again by address in Writer::Slices().
const uint8_t kRecordsHole[1] = {0};

struct PartitionRead {
  ErrorCode error = ErrorCode::kNone;
  int64_t high_watermark = -1;
  int64_t log_start_offset = -1;
  std::vector<std::byte> data;              // small reads
  std::vector<engine::FileRegion> regions;  // large reads (zero-copy)
  uint64_t region_bytes = 0;
  ShardId owner = 0;
  uint64_t size() const { return data.size() + region_bytes; }
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
    Result<engine::ReadResult> r = co_await (*log)->Read(engine::Offset(offset), options);
    if (r.ok() && r->bytes > 0 && r->bytes < kInlineBytesMax) {
      options.load_bytes = true;
      r = co_await (*log)->Read(engine::Offset(offset), options);
    }
    out.high_watermark = (*log)->high_watermark().value();
    out.log_start_offset = (*log)->log_start_offset().value();
    if (!r.ok()) {
      out.error = r.status().Is(ErrorKind::kNotFound) ? ErrorCode::kOffsetOutOfRange
                                                      : ErrorCode::kKafkaStorageError;
      co_return out;
    }
    out.owner = shard.io.shard();
    if (!r->data.empty()) {
      out.data = std::move(r->data);
    } else {
      out.region_bytes = r->bytes;
      out.regions = std::move(r->regions);
    }
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
      total += reads.back().size();
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
  Response out;
  for (PartitionRead& r : reads) {
    if (r.size() == 0) continue;
    if (!first_data && r.size() > budget) {
      // Dropped: its segment references still go back to their shard (a zero-length region).
      for (engine::FileRegion& region : r.regions) {
        ResponseRegion release;
        release.file = region.file;
        release.keep = std::move(region.segment);
        release.owner = r.owner;
        out.regions.push_back(std::move(release));
      }
      r.regions.clear();
      r.region_bytes = 0;
      r.data.clear();
      continue;
    }
    budget -= std::min<uint64_t>(budget, r.size());
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
      if (r.region_bytes > 0) {
        pd.records = protocol::RecordsView::Of(std::span(kRecordsHole, r.region_bytes));
      } else {
        pd.records = protocol::RecordsView::Of(
            std::span(reinterpret_cast<const uint8_t*>(r.data.data()), r.data.size()));
      }
      tr.partitions.push_back(std::move(pd));
    }
    resp.responses.push_back(std::move(tr));
  }
  protocol::Writer w(1024);
  RUNNEL_CO_TRY(protocol::EncodeResponseFrame(ctx.version(), ctx.correlation_id(), resp, w));
  // Owned slices become bytes; each hole becomes the next zero-copy partition's file regions.
  std::vector<ResponseRegion> releases = std::move(out.regions);
  out.regions.clear();
  size_t next_read = 0;
  for (std::span<const uint8_t> slice : w.Slices()) {
    if (slice.data() != kRecordsHole) {
      out.bytes.insert(out.bytes.end(), slice.begin(), slice.end());
      continue;
    }
    while (next_read < reads.size() && reads[next_read].region_bytes == 0) next_read++;
    RUNNEL_ASSERT(next_read < reads.size(), "a records hole without a zero-copy read");
    PartitionRead& r = reads[next_read++];
    RUNNEL_ASSERT(slice.size() == r.region_bytes, "hole of {} bytes for {} region bytes",
                  slice.size(), r.region_bytes);
    for (engine::FileRegion& region : r.regions) {
      ResponseRegion part;
      part.at = out.bytes.size();
      part.file = region.file;
      part.position = region.position;
      part.length = region.length;
      part.keep = std::move(region.segment);
      part.owner = r.owner;
      out.regions.push_back(std::move(part));
    }
  }
  for (ResponseRegion& release : releases) {
    release.at = out.bytes.size();
    out.regions.push_back(std::move(release));
  }
  co_return out;
}

}  // namespace runnel::broker
