// Fetch (key 1), versions 4-17, with incremental fetch sessions (KIP-227, v7+).
//
// Sessions (fetch_session.h): epoch 0 is a full fetch that opens a session when the cache has
// room (the response carries its id, else 0); epoch -1 is a full fetch without a session; a
// session id given with either closes that session first. Epoch E > 0 is incremental: the
// session (found on the shard its id names, through Invoke) must expect E; the request's
// partitions update or join the session, forgotten_topics_data leave it, and every partition of
// the session is read at the offset the session remembers. The incremental response carries only
// the partitions with something to say: records, an error, or a high watermark / last stable
// offset / log start offset other than the client was last told.
//
// Each partition is read on its owner shard up to its partition_max_bytes (the first batch
// whole, KIP-74) below the high watermark; the request's max_bytes caps the total. While fewer
// than min_bytes are available the fetch waits (up to max_wait_ms) for an append on any of its
// partitions, whichever shard owns it (fetch_wait.h), then reads again.
//
// Zero-copy: a partition's records go from the segment file to the socket with SendFile
// (Response::regions); the response header and fields are written with the Writer around them.
// Reads under kInlineBytesMax are copied instead (the Writer copies small records anyway).
//
// zstd (KIP-110): Fetch v10 is the first version that may return zstd batches. An older fetch
// gets the batches before the partition's first zstd one; a fetch that starts at a zstd batch
// gets UNSUPPORTED_COMPRESSION_TYPE for that partition (Kafka answers that to every old fetch
// of a topic whose compression.type is zstd; a "producer" topic may mix codecs, so here the
// batches decide).
#include <algorithm>
#include <map>

#include "broker/fetch_session.h"
#include "broker/fetch_wait.h"
#include "broker/handlers/handler.h"
#include "broker/partitions.h"
#include "broker/protocol/gen/error_codes.h"
#include "broker/protocol/gen/fetch_request.h"
#include "broker/protocol/gen/fetch_response.h"
#include "engine/compression.h"
#include "engine/record_batch_format.h"

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

// KIP-110: the first Fetch version that may carry zstd batches.
constexpr int16_t kZstdFetchVersionMin = 10;

// The bytes of the batches of `batches` before the first zstd one (all of them if none is).
uint64_t BytesBeforeZstd(const std::vector<engine::BatchInfo>& batches) {
  uint64_t bytes = 0;
  for (const engine::BatchInfo& b : batches) {
    if ((b.attributes & engine::batch_format::kAttrCompressionMask) ==
        static_cast<uint16_t>(engine::Codec::kZstd)) {
      break;
    }
    bytes += b.size_bytes;
  }
  return bytes;
}

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
                                  int64_t offset, uint64_t bytes_max, bool zstd_ok) {
  const ShardId owner = node.PartitionShard(topic.name, partition);
  auto read = [topic = std::move(topic), partition, offset, bytes_max,
               zstd_ok](ShardState& shard) -> Task<PartitionRead> {
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
    // An old fetch reads up to the first zstd batch (each read returns fewer bytes).
    while (!zstd_ok && r.ok()) {
      const uint64_t usable = BytesBeforeZstd(r->batches);
      if (usable == r->bytes) break;
      if (usable == 0) {
        out.error = ErrorCode::kUnsupportedCompressionType;
        co_return out;
      }
      options.bytes_max = usable;
      options.min_one_batch = false;
      r = co_await (*log)->Read(engine::Offset(offset), options);
    }
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

// One partition of the fetch: how the client names it, where it is read and what the session
// remembers of it.
struct Target {
  SessionPartitionKey key;
  const TopicInfo* topic = nullptr;
  int64_t offset = 0;
  int32_t max_bytes = 0;
  ErrorCode error = ErrorCode::kNone;
  CachedPartition cached;  // incremental fetches: what the client was last told
};

// The session's answer to an incremental request, from its owner shard.
struct SessionView {
  ErrorCode error = ErrorCode::kNone;
  int32_t id = 0;     // 0: the session ended (everything forgotten); answer sessionless
  int32_t epoch = 0;  // the epoch the session expects next
  bool uses_topic_ids = false;
  SessionPartitions partitions;
};

// The partitions of a request in its own order (duplicates: the last one counts for the
// session; each is answered).
struct RequestedPartition {
  SessionPartitionKey key;
  int64_t offset = 0;
  int32_t max_bytes = 0;
};

std::vector<RequestedPartition> RequestedPartitions(const FetchRequest& req, bool by_id) {
  std::vector<RequestedPartition> out;
  for (const auto& t : req.topics) {
    for (const auto& p : t.partitions) {
      RequestedPartition r;
      r.key.topic = by_id ? std::string() : t.topic;
      r.key.topic_id = by_id ? t.topic_id : protocol::Uuid{};
      r.key.partition = p.partition;
      r.offset = p.fetch_offset;
      r.max_bytes = p.partition_max_bytes;
      out.push_back(std::move(r));
    }
  }
  return out;
}

std::vector<SessionPartitionKey> ForgottenPartitions(const FetchRequest& req, bool by_id) {
  std::vector<SessionPartitionKey> out;
  for (const auto& t : req.forgotten_topics_data) {
    for (int32_t partition : t.partitions) {
      SessionPartitionKey key;
      key.topic = by_id ? std::string() : t.topic;
      key.topic_id = by_id ? t.topic_id : protocol::Uuid{};
      key.partition = partition;
      out.push_back(std::move(key));
    }
  }
  return out;
}

// Closes session `id` (a full fetch naming it); unknown ids are ignored.
Task<void> CloseSession(Node& node, Io& io, int32_t id) {
  if (id <= 0) co_return;
  auto close = [id](ShardState& shard) -> Task<int> {
    shard.fetch_sessions->Remove(id);
    co_return 0;
  };
  (void)co_await ShardCall<int>(node, io, SessionOwner(id, node.shard_count()), close);
}

// Checks and applies an incremental request on the session's shard: the epoch must be the one
// the session expects; the request's partitions join or update the session, forgotten ones
// leave it; then the epoch moves on. Returns every partition of the session.
Task<SessionView> UpdateSession(Node& node, Io& io, int32_t id, int32_t epoch, bool by_id,
                                std::vector<RequestedPartition> requested,
                                std::vector<SessionPartitionKey> forgotten) {
  if (id <= 0) {
    SessionView view;
    view.error = ErrorCode::kFetchSessionIdNotFound;
    co_return view;
  }
  auto update = [id, epoch, by_id, requested = std::move(requested),
                 forgotten = std::move(forgotten)](ShardState& shard) -> Task<SessionView> {
    SessionView view;
    FetchSessionCache& cache = *shard.fetch_sessions;
    FetchSession* s = cache.Find(id);
    if (s == nullptr) {
      view.error = ErrorCode::kFetchSessionIdNotFound;
      co_return view;
    }
    if (s->epoch != epoch) {
      view.error = ErrorCode::kInvalidFetchSessionEpoch;
      co_return view;
    }
    if (s->uses_topic_ids != by_id) {
      view.error = ErrorCode::kFetchSessionTopicIdError;
      co_return view;
    }
    for (const RequestedPartition& r : requested) {
      auto [it, added] = s->partitions.try_emplace(r.key);
      if (added) it->second.order = s->next_order++;
      it->second.fetch_offset = r.offset;
      it->second.max_bytes = r.max_bytes;
    }
    for (const SessionPartitionKey& key : forgotten) s->partitions.erase(key);
    if (s->partitions.empty()) {
      cache.Remove(id);
      co_return view;  // id 0: sessionless from here on
    }
    cache.Touch(*s, shard.io.clock().Now());
    s->epoch = NextSessionEpoch(s->epoch);
    view.id = id;
    view.epoch = s->epoch;
    view.uses_topic_ids = s->uses_topic_ids;
    view.partitions = s->partitions;
    co_return view;
  };
  co_return co_await ShardCall<SessionView>(node, io, SessionOwner(id, node.shard_count()),
                                            std::move(update));
}

// Remembers what an incremental response told the client, if the session is still at the
// epoch this request gave it (a later request has newer news otherwise). Partitions in
// `returned_records` move to the end of the session's read order.
Task<void> RecordSent(Node& node, Io& io, int32_t id, int32_t epoch, SessionPartitions sent,
                      std::vector<SessionPartitionKey> returned_records) {
  auto record = [id, epoch, sent = std::move(sent),
                 returned_records = std::move(returned_records)](ShardState& shard) -> Task<int> {
    FetchSession* s = shard.fetch_sessions->Find(id);
    if (s == nullptr || s->epoch != epoch) co_return 0;
    for (const auto& [key, told] : sent) {
      auto it = s->partitions.find(key);
      if (it == s->partitions.end()) continue;
      it->second.high_watermark = told.high_watermark;
      it->second.last_stable_offset = told.last_stable_offset;
      it->second.log_start_offset = told.log_start_offset;
    }
    for (const SessionPartitionKey& key : returned_records) {
      auto it = s->partitions.find(key);
      if (it != s->partitions.end()) it->second.order = s->next_order++;
    }
    co_return 0;
  };
  (void)co_await ShardCall<int>(node, io, SessionOwner(id, node.shard_count()), std::move(record));
}

// Opens a session holding `partitions` on the connection's shard or, when that shard's share
// of the cache is full (and nothing there may be evicted), on the next shard with room, so the
// whole max.incremental.fetch.session.cache.slots serves; 0 when no shard has room.
Task<int32_t> CreateSession(RequestContext& ctx, bool by_id, const SessionPartitions& partitions) {
  const uint32_t shards = ctx.node.shard_count();
  for (uint32_t i = 0; i < shards; i++) {
    auto create = [by_id, partitions](ShardState& shard) -> Task<int32_t> {
      co_return shard.fetch_sessions->MaybeCreate(shard.io.rng(), shard.io.clock().Now(), by_id,
                                                  partitions);
    };
    const ShardId target = static_cast<ShardId>((ctx.io.shard() + i) % shards);
    const int32_t id = co_await ShardCall<int32_t>(ctx.node, ctx.io, target, std::move(create));
    if (id != 0) co_return id;
  }
  co_return 0;
}

// Resolves a partition against the metadata.
Target MakeTarget(const ClusterMetadata& meta, bool by_id, SessionPartitionKey key, int64_t offset,
                  int32_t max_bytes) {
  Target t;
  t.offset = offset;
  t.max_bytes = max_bytes;
  if (by_id) {
    t.topic = meta.FindById(key.topic_id);
  } else if (auto it = meta.topics.find(key.topic); it != meta.topics.end()) {
    t.topic = &it->second;
  }
  if (t.topic == nullptr) {
    t.error = by_id ? ErrorCode::kUnknownTopicId : ErrorCode::kUnknownTopicOrPartition;
  } else if (key.partition < 0 || key.partition >= t.topic->partitions) {
    t.error = ErrorCode::kUnknownTopicOrPartition;
  }
  t.key = std::move(key);
  return t;
}

// What the client would be told about a partition.
CachedPartition Told(const Target& t, const PartitionRead& r) {
  CachedPartition c;
  c.fetch_offset = t.offset;
  c.max_bytes = t.max_bytes;
  if (r.error == ErrorCode::kNone) {
    c.high_watermark = r.high_watermark;
    c.last_stable_offset = r.high_watermark;
    c.log_start_offset = r.log_start_offset;
  }
  return c;
}

// Reads every partition, waiting for min_bytes (or an error) until the deadline.
Task<std::vector<PartitionRead>> ReadAll(RequestContext& ctx, const std::vector<Target>& targets,
                                         int32_t min_bytes, Instant deadline) {
  std::vector<PartitionRead> reads;
  while (true) {
    std::vector<Task<PartitionRead>> tasks;
    for (const Target& t : targets) {
      if (t.error != ErrorCode::kNone) continue;
      tasks.push_back(ReadPartition(ctx.node, ctx.io, *t.topic, t.key.partition, t.offset,
                                    static_cast<uint64_t>(std::max<int32_t>(t.max_bytes, 0)),
                                    ctx.version() >= kZstdFetchVersionMin));
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
    if (total >= static_cast<uint64_t>(std::max<int32_t>(min_bytes, 1)) || any_error ||
        now >= deadline || targets.empty()) {
      co_return reads;
    }
    // Wait for an append on any of the partitions (on whichever shard owns it), then read again.
    std::map<ShardId, std::vector<WatchedPartition>> by_owner;
    for (size_t i = 0; i < targets.size(); i++) {
      WatchedPartition w;
      w.topic = *targets[i].topic;
      w.partition = targets[i].key.partition;
      w.seen_high_watermark = reads[i].high_watermark;
      by_owner[ctx.node.PartitionShard(w.topic.name, w.partition)].push_back(std::move(w));
    }
    co_await WaitForAppend(ctx.node, ctx.io, ctx.connection_id, std::move(by_owner),
                           deadline - now);
    if (ctx.connection_id != 0 && ctx.shard.fetch_waits->IsClosed(ctx.connection_id)) {
      co_return reads;  // nobody to answer; the writer drops the response
    }
  }
}

// Gives a dropped read's segment references back to their shard (zero-length regions).
void Drop(PartitionRead& r, Response& out) {
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
}

Result<Response> SessionError(const RequestContext& ctx, ErrorCode error) {
  FetchResponse resp;
  resp.error_code = static_cast<int16_t>(error);
  resp.session_id = 0;
  return EncodeResponse(ctx, resp);
}

}  // namespace

Task<Result<Response>> HandleFetch(RequestContext& ctx) {
  RUNNEL_CO_ASSIGN_OR_RETURN(FetchRequest req,
                             protocol::DecodeRequestBody<FetchRequest>(ctx.frame));
  ClusterMetadata meta = co_await SnapshotMetadata(ctx.node, ctx.io);
  const bool by_id = ctx.version() >= 13;
  const Instant deadline =
      ctx.io.clock().Now() + std::chrono::milliseconds(std::max<int32_t>(req.max_wait_ms, 0));
  // Before v7 the request has no session fields: the defaults (id 0, epoch -1) are sessionless.
  const bool full = req.session_epoch == 0 || req.session_epoch == -1;

  std::vector<Target> targets;
  SessionView session;
  if (full) {
    co_await CloseSession(ctx.node, ctx.io, req.session_id);
    for (RequestedPartition& r : RequestedPartitions(req, by_id)) {
      targets.push_back(MakeTarget(meta, by_id, std::move(r.key), r.offset, r.max_bytes));
    }
  } else {
    session =
        co_await UpdateSession(ctx.node, ctx.io, req.session_id, req.session_epoch, by_id,
                               RequestedPartitions(req, by_id), ForgottenPartitions(req, by_id));
    if (session.error != ErrorCode::kNone) co_return SessionError(ctx, session.error);
    for (const auto& [key, cached] : session.partitions) {
      Target t = MakeTarget(meta, by_id, key, cached.fetch_offset, cached.max_bytes);
      t.cached = cached;
      targets.push_back(std::move(t));
    }
    // The session's read order: partitions that returned records last go last.
    std::stable_sort(targets.begin(), targets.end(), [](const Target& a, const Target& b) {
      return a.cached.order < b.cached.order;
    });
  }

  std::vector<PartitionRead> reads = co_await ReadAll(ctx, targets, req.min_bytes, deadline);

  // The request's max_bytes caps the total; the first non-empty partition is always returned.
  Response out;
  uint64_t budget = static_cast<uint64_t>(std::max<int32_t>(req.max_bytes, 0));
  bool first_data = true;
  for (PartitionRead& r : reads) {
    if (r.size() == 0) continue;
    if (!first_data && r.size() > budget) {
      Drop(r, out);
      continue;
    }
    budget -= std::min<uint64_t>(budget, r.size());
    first_data = false;
  }

  // Which partitions the response carries: all of a full fetch; of an incremental one those with
  // records, an error, or offsets the client has not been told yet.
  std::vector<size_t> answered;
  SessionPartitions told;
  std::vector<SessionPartitionKey> returned_records;
  for (size_t i = 0; i < targets.size(); i++) {
    CachedPartition now = Told(targets[i], reads[i]);
    if (reads[i].size() > 0) returned_records.push_back(targets[i].key);
    if (full || session.id == 0) {
      now.order = i;  // a new session reads in the request's order
      answered.push_back(i);
      told[targets[i].key] = now;
      continue;
    }
    const CachedPartition& before = targets[i].cached;
    if (reads[i].size() > 0 || reads[i].error != ErrorCode::kNone ||
        now.high_watermark != before.high_watermark ||
        now.last_stable_offset != before.last_stable_offset ||
        now.log_start_offset != before.log_start_offset) {
      answered.push_back(i);
      told[targets[i].key] = now;
    }
  }

  FetchResponse resp;
  if (full && req.session_epoch == 0) {
    // A new session remembers every partition and what this response tells about it.
    resp.session_id = co_await CreateSession(ctx, by_id, told);
  } else if (!full && session.id != 0) {
    resp.session_id = session.id;
    co_await RecordSent(ctx.node, ctx.io, session.id, session.epoch, std::move(told),
                        std::move(returned_records));
  }
  for (size_t i : answered) {
    const Target& t = targets[i];
    PartitionRead& r = reads[i];
    if (resp.responses.empty() || resp.responses.back().topic != t.key.topic ||
        !(resp.responses.back().topic_id == t.key.topic_id)) {
      FetchResponse::FetchableTopicResponse tr;
      tr.topic = t.key.topic;
      tr.topic_id = t.key.topic_id;
      resp.responses.push_back(std::move(tr));
    }
    FetchResponse::PartitionData pd;
    pd.partition_index = t.key.partition;
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
    resp.responses.back().partitions.push_back(std::move(pd));
  }
  protocol::Writer w(1024);
  RUNNEL_CO_TRY(protocol::EncodeResponseFrame(ctx.version(), ctx.correlation_id(), resp, w));
  // Owned slices become bytes; each hole becomes the next zero-copy partition's file regions.
  std::vector<ResponseRegion> releases = std::move(out.regions);
  out.regions.clear();
  size_t next = 0;
  for (std::span<const uint8_t> slice : w.Slices()) {
    if (slice.data() != kRecordsHole) {
      out.bytes.insert(out.bytes.end(), slice.begin(), slice.end());
      continue;
    }
    while (next < answered.size() && reads[answered[next]].region_bytes == 0) next++;
    RUNNEL_ASSERT(next < answered.size(), "a records hole without a zero-copy read");
    PartitionRead& r = reads[answered[next++]];
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
