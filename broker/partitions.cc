#include "broker/partitions.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

namespace runnel::broker {

engine::LogConfig ToLogConfig(const TopicConfig& c) {
  engine::LogConfig out;
  out.segment_bytes = static_cast<uint64_t>(c.segment_bytes);
  out.segment_ms = c.segment_ms;
  out.retention_ms = c.retention_ms;
  out.retention_bytes = c.retention_bytes;
  switch (c.cleanup_policy) {
    case CleanupPolicy::kDelete:
      out.cleanup_policy = engine::CleanupPolicy::kDelete;
      break;
    case CleanupPolicy::kCompact:
      out.cleanup_policy = engine::CleanupPolicy::kCompact;
      break;
    case CleanupPolicy::kCompactDelete:
      out.cleanup_policy = engine::CleanupPolicy::kCompactDelete;
      break;
  }
  out.delete_retention_ms = c.delete_retention_ms;
  out.max_message_bytes = static_cast<int32_t>(c.max_message_bytes);
  out.message_timestamp_type = c.message_timestamp_type == TimestampType::kLogAppendTime
                                   ? engine::TimestampType::kLogAppendTime
                                   : engine::TimestampType::kCreateTime;
  return out;
}

PartitionRegistry::PartitionRegistry(Io& io, const BrokerConfig& config)
    : io_(io),
      config_(config),
      open_lock_(io.executor(), 1),
      appended_(io.executor(), io.clock()),
      reader_(engine::LogLimits{}.decompressed_bytes_max) {}

engine::Log* PartitionRegistry::FindOpen(const std::string& topic, int32_t partition) const {
  if (closed_) return nullptr;
  auto it = logs_.find(std::make_pair(topic, partition));
  return it == logs_.end() ? nullptr : it->second.log.get();
}

Task<Result<engine::Log*>> PartitionRegistry::Get(const TopicInfo& topic, int32_t partition) {
  const auto key = std::make_pair(topic.name, partition);
  RUNNEL_CO_TRY(co_await open_lock_.Acquire());
  if (closed_) {
    open_lock_.Release();
    co_return Status::Cancelled("shutting down");
  }
  auto it = logs_.find(key);
  if (it != logs_.end() && !(it->second.topic_id == topic.id)) {
    // The topic was deleted and created again: the old log is not this one.
    Status s = co_await it->second.log->Close();
    (void)s;
    logs_.erase(it);
    it = logs_.end();
  }
  if (it != logs_.end() && !it->second.log->health().ok()) {
    // A failed sync fenced the log: only a reopen (recovery from what the disk holds) makes the
    // partition usable again.
    spdlog::warn("shard {}: reopening {}: {}", io_.shard(), it->second.log->dir(),
                 it->second.log->health().ToString());
    // Its writes already in flight land first, so that the reopen reads the files as they stay.
    co_await it->second.log->WaitIdle();
    fenced_.push_back(std::move(it->second.log));
    logs_.erase(it);
    it = logs_.end();
  }
  Result<TopicConfig> effective = EffectiveTopicConfig(config_.topic, topic.overrides);
  if (!effective.ok()) {
    open_lock_.Release();
    co_return effective.status();
  }
  if (it == logs_.end()) {
    std::string dir = JoinPath(config_.data_dir,
                               fmt::format("{}-{}-{}", topic.name, partition, topic.id.ToHex()));
    Result<std::unique_ptr<engine::Log>> log = co_await engine::Log::Open(
        io_, dir, ToLogConfig(*effective), engine::LogLimits{}, &reader_);
    if (!log.ok()) {
      open_lock_.Release();
      co_return log.status().WithContext(dir);
    }
    (*log)->SetHighWatermark((*log)->log_end_offset());
    spdlog::info("shard {}: opened {} at offsets [{}, {}){}", io_.shard(), dir,
                 (*log)->log_start_offset().value(), (*log)->log_end_offset().value(),
                 (*log)->recovery_report().clean_shutdown ? " (clean shutdown)" : "");
    Entry e;
    e.topic_id = topic.id;
    e.overrides = topic.overrides;
    e.log = std::move(*log);
    it = logs_.emplace(key, std::move(e)).first;
  } else if (it->second.overrides != topic.overrides) {
    Status s = it->second.log->SetConfig(ToLogConfig(*effective));
    if (!s.ok()) {
      open_lock_.Release();
      co_return s;
    }
    it->second.overrides = topic.overrides;
  }
  engine::Log* log = it->second.log.get();
  open_lock_.Release();
  co_return log;
}

Task<Status> PartitionRegistry::Remove(const TopicInfo& topic, int32_t partition) {
  RUNNEL_CO_TRY(co_await open_lock_.Acquire());
  auto it = logs_.find(std::make_pair(topic.name, partition));
  if (it != logs_.end() && it->second.topic_id == topic.id) {
    Status s = co_await it->second.log->Close();
    (void)s;  // the directory goes anyway
    logs_.erase(it);
  }
  std::string dir =
      JoinPath(config_.data_dir, fmt::format("{}-{}-{}", topic.name, partition, topic.id.ToHex()));
  Status status;
  Result<bool> exists = co_await io_.fs().Exists(dir);
  if (!exists.ok()) {
    status = exists.status();
  } else if (*exists) {
    Result<std::vector<DirEntry>> entries = co_await io_.fs().List(dir);
    if (!entries.ok()) status = entries.status();
    for (size_t i = 0; status.ok() && i < entries->size(); i++) {
      status = co_await io_.fs().Remove(JoinPath(dir, (*entries)[i].name));
    }
    if (status.ok()) status = co_await io_.fs().Remove(dir);
    if (status.ok()) status = co_await io_.fs().SyncDir(config_.data_dir);
  }
  open_lock_.Release();
  co_return status;
}

Task<void> PartitionRegistry::Maintain() {
  // Keys first: the map may change while a pass suspends.
  std::vector<std::pair<std::string, int32_t>> keys;
  for (const auto& [key, e] : logs_) keys.push_back(key);
  for (const auto& key : keys) {
    auto it = logs_.find(key);
    if (it == logs_.end()) continue;
    engine::Log* log = it->second.log.get();
    const engine::CleanupPolicy policy = log->config().cleanup_policy;
    if (engine::Deletes(policy)) {
      Result<engine::RetentionResult> r = co_await log->ApplyRetention();
      if (!r.ok()) {
        spdlog::warn("retention {}-{}: {}", key.first, key.second, r.status().ToString());
      } else if (r->segments_deleted > 0) {
        spdlog::info("retention {}-{}: {} segment(s), {} bytes deleted; log start {}", key.first,
                     key.second, r->segments_deleted, r->bytes_deleted,
                     r->log_start_offset.value());
      }
    }
    if (engine::Compacts(policy)) {
      Result<engine::CompactionResult> r = co_await log->Compact();
      if (!r.ok()) {
        spdlog::warn("compaction {}-{}: {}", key.first, key.second, r.status().ToString());
      } else if (r->segments_cleaned > 0) {
        spdlog::info("compaction {}-{}: {} segment(s), {} -> {} bytes", key.first, key.second,
                     r->segments_cleaned, r->bytes_before, r->bytes_after);
      }
    }
    Status s = co_await log->Checkpoint();
    if (!s.ok()) spdlog::warn("checkpoint {}-{}: {}", key.first, key.second, s.ToString());
  }
}

Task<void> PartitionRegistry::CloseAll() {
  // Under the open lock, so no open runs concurrently; appends in flight finish first (the
  // log's write lock orders Close after them).
  Status locked = co_await open_lock_.Acquire();
  if (!locked.ok()) co_return;
  closed_ = true;
  for (auto& [key, e] : logs_) {
    Status s = co_await e.log->Close();
    if (!s.ok()) spdlog::warn("closing {}-{}: {}", key.first, key.second, s.ToString());
  }
  open_lock_.Release();
}

}  // namespace runnel::broker
