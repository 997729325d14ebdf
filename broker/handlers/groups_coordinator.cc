// The per-shard group coordinator: the offsets topic, the log-backed GroupStore, start-up
// replay of this shard's __consumer_offsets partitions and the offsets expiry loop.
#include <fmt/ranges.h>
#include <spdlog/spdlog.h>

#include <set>

#include "broker/handlers/groups.h"
#include "broker/partitions.h"
#include "broker/topic_ops.h"
#include "engine/batch_builder.h"
#include "engine/record_batch.h"

namespace runnel::broker {

namespace eg = engine::group;

namespace {

// Largest decompressed batch read back from __consumer_offsets.
constexpr size_t kReplayBatchBytesMax = 64 << 20;
// __consumer_offsets segments (Kafka's offsets.topic.segment.bytes default).
constexpr std::string_view kOffsetsSegmentBytes = "104857600";

std::vector<uint8_t> ToVector(engine::Bytes b) {
  const auto* p = reinterpret_cast<const uint8_t*>(b.data());
  return std::vector<uint8_t>(p, p + b.size());
}

engine::Bytes AsBytes(const std::vector<uint8_t>& v) {
  return engine::Bytes(reinterpret_cast<const std::byte*>(v.data()), v.size());
}

}  // namespace

eg::GroupConfig GroupConfigOf(const BrokerConfig& config) {
  eg::GroupConfig g;
  g.initial_rebalance_delay = std::chrono::milliseconds(config.group_initial_rebalance_delay_ms);
  g.session_timeout_min = std::chrono::milliseconds(config.group_min_session_timeout_ms);
  g.session_timeout_max = std::chrono::milliseconds(config.group_max_session_timeout_ms);
  g.members_max = static_cast<size_t>(config.group_max_size);
  g.offset_metadata_bytes_max = static_cast<size_t>(config.offset_metadata_max_bytes);
  g.offsets_retention = std::chrono::minutes(config.offsets_retention_minutes);
  return g;
}

ShardId CoordinatorShard(Node& node, std::string_view group_id, int32_t partitions) {
  return node.PartitionShard(eg::kOffsetsTopic, eg::OffsetsPartitionFor(group_id, partitions));
}

GroupCoordinator& Groups(ShardState& shard) {
  if (!shard.groups) shard.groups = std::make_unique<GroupCoordinator>(shard.io, shard.node, shard);
  return *shard.groups;
}

Task<void> StartGroupCoordinator(Io& io, Node& node) {
  ClusterMetadata meta = co_await SnapshotMetadata(node, io);
  auto it = meta.topics.find(std::string(eg::kOffsetsTopic));
  if (it == meta.topics.end()) co_return;
  for (int32_t p = 0; p < it->second.partitions; p++) {
    if (node.PartitionShard(it->first, p) != io.shard()) continue;
    Status s = co_await Groups(node.Local(io)).Replay();
    (void)s;  // logged by Ready; the next group request retries
    co_return;
  }
}

Task<void> RemoveDeletedTopicsOffsets(Node& node, Io& io, std::vector<std::string> topics) {
  if (topics.empty()) co_return;
  ClusterMetadata meta = co_await SnapshotMetadata(node, io);
  auto it = meta.topics.find(std::string(eg::kOffsetsTopic));
  if (it == meta.topics.end()) co_return;  // no offsets topic: nothing was ever committed
  std::set<ShardId> shards;
  for (int32_t p = 0; p < it->second.partitions; p++) {
    shards.insert(node.PartitionShard(it->first, p));
  }
  const std::set<std::string> gone(topics.begin(), topics.end());
  std::vector<Task<eg::TopicOffsetsRemoval>> tasks;
  for (ShardId shard : shards) {
    auto drop = [gone](ShardState& there) -> Task<eg::TopicOffsetsRemoval> {
      GroupCoordinator& c = Groups(there);
      Status ready = co_await c.Ready();
      eg::TopicOffsetsRemoval none;
      if (!ready.ok()) co_return none;  // logged by Ready
      std::set<std::string> topics = gone;
      co_return co_await c.manager().RemoveTopicOffsets(std::move(topics));
    };
    tasks.push_back(ShardCall<eg::TopicOffsetsRemoval>(node, io, shard, std::move(drop)));
  }
  std::vector<eg::TopicOffsetsRemoval> removed = co_await WhenAll(std::move(tasks));
  size_t total = 0;
  for (const eg::TopicOffsetsRemoval& r : removed) {
    total += r.dropped;
    for (const std::string& g : r.failed) {
      spdlog::warn("group {}: the committed offsets of deleted topics {} could not be removed", g,
                   fmt::join(topics, ", "));
    }
  }
  if (total > 0) {
    spdlog::info("removed {} committed offsets of deleted topics {}", total,
                 fmt::join(topics, ", "));
  }
}

Task<Result<TopicInfo>> EnsureOffsetsTopic(Node& node, Io& io) {
  GroupCoordinator& local = Groups(node.Local(io));
  if (local.offsets_topic().has_value()) co_return *local.offsets_topic();
  const BrokerConfig& config = node.config();
  TopicInfo found;
  auto ensure = [&config, &found](MetadataStore& store) -> Task<Status> {
    std::function<Status(ClusterMetadata&)> change = [&](ClusterMetadata& meta) -> Status {
      auto it = meta.topics.find(std::string(eg::kOffsetsTopic));
      if (it != meta.topics.end()) {
        found = it->second;
        return Status::Ok();
      }
      NewTopic t;
      t.name = std::string(eg::kOffsetsTopic);
      t.partitions = config.offsets_topic_num_partitions;
      t.configs.emplace_back("cleanup.policy", "compact");
      t.configs.emplace_back("segment.bytes", std::string(kOffsetsSegmentBytes));
      TopicInfo info;
      TopicError e = ValidateNewTopic(meta, config, t, &info);
      if (!e.ok()) return Status::InvalidArgument(e.message);
      info.id = store.NewTopicId();
      found = info;
      meta.topics.emplace(info.name, std::move(info));
      return Status::Ok();
    };
    co_return co_await store.Mutate(std::move(change));
  };
  Status s = co_await ControllerCall<Status>(node, io, std::move(ensure));
  if (!s.ok()) {
    spdlog::warn("creating {} failed: {}", eg::kOffsetsTopic, s.ToString());
    co_return s;
  }
  local.set_offsets_topic(found);
  co_return found;
}

// ---- OffsetsLogStore ---------------------------------------------------------------------

OffsetsLogStore::OffsetsLogStore(Io& io, Node& node, ShardState& shard)
    : io_(io), node_(node), shard_(shard) {}

Task<Status> OffsetsLogStore::Append(const std::string& group_id, std::vector<Record> records) {
  RUNNEL_ASSERT(topic_.partitions > 0, "the offsets topic is not loaded");
  const int32_t partition = eg::OffsetsPartitionFor(group_id, topic_.partitions);
  RUNNEL_ASSERT(node_.PartitionShard(topic_.name, partition) == io_.shard(),
                "group {} stored on shard {}, not its coordinator", group_id, io_.shard());
  Result<engine::Log*> log = co_await shard_.partitions->Get(topic_, partition);
  if (!log.ok()) co_return log.status();
  engine::BatchOptions options;
  engine::BatchBuilder builder(options);
  const int64_t now_ms = io_.clock().Wall().unix_ms();
  for (const auto& [key, value] : records) {
    engine::NullableBytes v;
    if (value.has_value()) v = AsBytes(*value);
    builder.Append(now_ms, AsBytes(key), v);
  }
  std::vector<std::byte> batch;
  RUNNEL_CO_TRY(builder.Build(batch));
  engine::AppendOptions append;
  append.durable = true;  // acks=all: synced before the coordinator answers
  append.leader_epoch = engine::LeaderEpoch(0);
  Result<engine::AppendResult> r = co_await (*log)->Append(batch, append);
  if (!r.ok()) co_return r.status();
  if (!r->appended()) {
    co_return Status::InvalidArgument(
        fmt::format("{}-{} refused a group record: {}", topic_.name, partition, r->message));
  }
  co_return Status::Ok();
}

Task<Status> OffsetsLogStore::StoreGroup(eg::GroupRecord record) {
  std::vector<Record> records;
  records.emplace_back(eg::EncodeGroupKey(record.group_id), eg::EncodeGroupValue(record));
  co_return co_await Append(record.group_id, std::move(records));
}

Task<Status> OffsetsLogStore::StoreOffsets(std::string group_id, eg::OffsetEntries offsets) {
  std::vector<Record> records;
  for (const auto& [tp, offset] : offsets) {
    records.emplace_back(eg::EncodeOffsetKey(group_id, tp), eg::EncodeOffsetValue(offset));
  }
  co_return co_await Append(group_id, std::move(records));
}

Task<Status> OffsetsLogStore::RemoveOffsets(std::string group_id,
                                            std::vector<eg::TopicPartition> offsets,
                                            bool group_too) {
  std::vector<Record> records;
  for (const auto& tp : offsets) {
    records.emplace_back(eg::EncodeOffsetKey(group_id, tp), std::nullopt);
  }
  if (group_too) records.emplace_back(eg::EncodeGroupKey(group_id), std::nullopt);
  if (records.empty()) co_return Status::Ok();
  co_return co_await Append(group_id, std::move(records));
}

// ---- GroupCoordinator --------------------------------------------------------------------

GroupCoordinator::GroupCoordinator(Io& io, Node& node, ShardState& shard)
    : io_(io),
      node_(node),
      shard_(shard),
      store_(io, node, shard),
      manager_(io, GroupConfigOf(node.config()), store_),
      loaded_(io.executor(), io.clock()) {}

Task<Status> GroupCoordinator::Ready() {
  while (load_state_ == LoadState::kLoading) co_await loaded_.Wait();
  if (load_state_ == LoadState::kLoaded) co_return Status::Ok();
  // Not started, or failed before (a transient error is retried by the next request).
  load_state_ = LoadState::kLoading;
  Status s = co_await Load();
  load_state_ = s.ok() ? LoadState::kLoaded : LoadState::kNotStarted;
  loaded_.NotifyAll();
  if (!s.ok())
    spdlog::warn("shard {}: group coordinator load failed: {}", io_.shard(), s.ToString());
  co_return s;
}

Task<Status> GroupCoordinator::Replay() {
  replaying_ = true;
  Status s = co_await Ready();
  replaying_ = false;
  co_return s;
}

Task<Status> GroupCoordinator::Load() {
  Result<TopicInfo> topic = co_await EnsureOffsetsTopic(node_, io_);
  if (!topic.ok()) co_return topic.status();
  store_.set_topic(*topic);
  uint64_t records = 0;
  int32_t partitions = 0;
  for (int32_t p = 0; p < topic->partitions; p++) {
    if (node_.PartitionShard(topic->name, p) != io_.shard()) continue;
    RUNNEL_CO_TRY(co_await LoadPartition(*topic, p, records));
    partitions++;
  }
  if (records > 0) {
    spdlog::info("shard {}: loaded {} group records from {} partitions of {} ({} groups)",
                 io_.shard(), records, partitions, topic->name, manager_.group_count());
  }
  io_.Spawn(ExpiryLoop());
  co_return Status::Ok();
}

Task<Status> GroupCoordinator::LoadPartition(const TopicInfo& topic, int32_t partition,
                                             uint64_t& records) {
  Result<engine::Log*> opened = co_await shard_.partitions->Get(topic, partition);
  if (!opened.ok()) co_return opened.status();
  engine::Log& log = **opened;
  engine::RecordReader reader(kReplayBatchBytesMax);
  engine::Offset next = log.log_start_offset();
  while (next < log.high_watermark()) {
    engine::ReadOptions options;
    options.verify = true;
    Result<engine::ReadResult> read = co_await log.Read(next, options);
    if (!read.ok()) co_return read.status();
    if (read->batches.empty()) break;
    engine::BatchSplitter split(engine::Bytes(read->data.data(), read->data.size()));
    while (std::optional<engine::RecordBatchView> batch = split.Next()) {
      if (batch->is_control()) continue;
      Result<engine::RecordIterator> it = reader.Open(*batch);
      if (!it.ok()) co_return it.status();
      engine::Record rec;
      while (it->Next(rec)) {
        if (!rec.key.has_value()) continue;
        std::optional<std::vector<uint8_t>> value;
        if (rec.value.has_value()) value = ToVector(*rec.value);
        Result<eg::OffsetsRecord> decoded = eg::DecodeOffsetsRecord(ToVector(*rec.key), value);
        if (!decoded.ok()) {
          // Not ours to interpret (a newer record type): skip it, keep the rest.
          spdlog::warn("{}-{} offset {}: {}", topic.name, partition, rec.offset.value(),
                       decoded.status().ToString());
          continue;
        }
        records++;
        if (decoded->kind == eg::OffsetsRecord::Kind::kOffset) {
          if (decoded->offset.has_value()) {
            manager_.ReplayOffset(decoded->group_id, decoded->tp, *decoded->offset);
          } else {
            manager_.ReplayOffsetTombstone(decoded->group_id, decoded->tp);
          }
        } else if (decoded->group.has_value()) {
          manager_.ReplayGroup(*decoded->group);
        } else {
          manager_.ReplayGroupTombstone(decoded->group_id);
        }
      }
      if (!it->status().ok()) co_return it->status();
    }
    next = read->next_offset;
  }
  co_return Status::Ok();
}

Task<void> GroupCoordinator::ExpiryLoop() {
  const Duration interval =
      std::chrono::milliseconds(node_.config().offsets_retention_check_interval_ms);
  for (;;) {
    co_await io_.Sleep(interval);
    size_t dropped = co_await manager_.ExpireOffsets();
    if (dropped > 0) spdlog::info("shard {}: {} expired offsets removed", io_.shard(), dropped);
  }
}

}  // namespace runnel::broker
