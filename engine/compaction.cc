#include "engine/compaction.h"

#include <fmt/format.h>

#include <algorithm>
#include <map>
#include <string>
#include <string_view>
#include <unordered_map>

#include "engine/batch_builder.h"
#include "engine/segment_format.h"

namespace runnel::engine {

namespace sf = segment_format;

// Key -> the offset of its latest record. Keys are compared by their bytes; lookups take a
// string_view (no allocation per record).
class Log::KeyMap {
 public:
  struct Hash {
    using is_transparent = void;
    size_t operator()(std::string_view s) const { return std::hash<std::string_view>()(s); }
  };
  void Put(Bytes key, Offset offset) {
    const std::string_view k(reinterpret_cast<const char*>(key.data()), key.size());
    auto it = map_.find(k);
    if (it == map_.end()) {
      map_.emplace(std::string(k), offset.value());
    } else {
      it->second = offset.value();
    }
  }
  // The latest offset of `key`, or -1 when the map never saw it.
  int64_t Latest(Bytes key) const {
    auto it = map_.find(std::string_view(reinterpret_cast<const char*>(key.data()), key.size()));
    return it == map_.end() ? -1 : it->second;
  }
  size_t size() const { return map_.size(); }

  // The last batch of each producer seen in the mapped segments: it stays (perhaps emptied) so
  // that a replay of the log still knows the producer. Only batches in the cleanable range count:
  // a later batch elsewhere may not survive a crash.
  void PutProducerBatch(ProducerId id, Offset last) { last_batch_[id.value()] = last.value(); }
  bool IsProducersLast(ProducerId id, Offset last) const {
    auto it = last_batch_.find(id.value());
    return it != last_batch_.end() && it->second == last.value();
  }

 private:
  std::unordered_map<std::string, int64_t, Hash, std::equal_to<>> map_;
  std::map<int64_t, int64_t> last_batch_;
};

struct Log::CleanGroup {
  std::vector<std::shared_ptr<Segment>> sources;
  std::shared_ptr<Segment> cleaned;  // "<base>.log.cleaned" and its indexes
  std::optional<BatchInfo> last;     // the last batch written to it
};

Task<Result<CompactionResult>> Log::Compact() {
  RUNNEL_CO_TRY(Usable());
  CompactionResult result;
  if (!Compacts(config_.cleanup_policy) || compacting_) co_return result;
  compacting_ = true;
  Status s = co_await CompactPass(result);
  compacting_ = false;
  if (!s.ok()) co_return s;
  co_return result;
}

Task<Status> Log::CompactPass(CompactionResult& result) {
  // Cleanable: closed segments wholly below the high watermark (a truncation never removes the
  // records that made others obsolete) and below the recovery point (a crash never loses them).
  std::vector<std::shared_ptr<Segment>> closed;
  for (auto it = segments_.begin(); it != segments_.end(); ++it) {
    auto next = std::next(it);
    if (next == segments_.end()) break;
    if (!it->second->closed() || next->first > high_watermark_ || next->first > recovery_point_) {
      break;
    }
    closed.push_back(it->second);
  }
  if (closed.empty()) co_return Status::Ok();

  // 1. The key map, over whole segments only.
  KeyMap latest;
  size_t cleanable = 0;
  std::vector<std::byte> buffer;
  for (const std::shared_ptr<Segment>& segment : closed) {
    BatchReader reader(segment->log(), segment->size_bytes(), buffer, limits_.scan_chunk_bytes);
    bool full = false;
    while (!full) {
      RUNNEL_CO_ASSIGN_OR_RETURN(std::optional<RecordBatchView> view, co_await reader.Next());
      if (!view.has_value()) break;
      if (view->has_producer_id())
        latest.PutProducerBatch(view->producer_id(), view->last_offset());
      if (view->is_control()) continue;
      // No suspension between Open and the end of the iteration: the reader's scratch is ours.
      RUNNEL_CO_ASSIGN_OR_RETURN(RecordIterator it, reader_.Open(*view));
      Record r;
      while (it.Next(r)) {
        if (r.key.has_value()) latest.Put(*r.key, r.offset);
      }
      RUNNEL_CO_TRY(it.status());
      full = latest.size() >= limits_.compaction_keys_max;
    }
    // A segment whose keys did not all fit is not cleaned; the keys of it that did fit are
    // newer records, so what they make the pass drop is still superseded.
    if (full) break;
    ++cleanable;
  }

  // 2. Groups that each fit one segment.
  std::vector<CleanGroup> groups;
  uint64_t group_bytes = 0;
  for (size_t i = 0; i < cleanable; ++i) {
    const std::shared_ptr<Segment>& s = closed[i];
    const bool fits =
        !groups.empty() && group_bytes + s->size_bytes() <= config_.segment_bytes &&
        s->next_offset().value() - 1 - groups.back().sources.front()->base_offset().value() <=
            INT32_MAX;
    if (!fits) {
      groups.emplace_back();
      group_bytes = 0;
    }
    groups.back().sources.push_back(s);
    group_bytes += s->size_bytes();
  }

  // 3 and 4, one group at a time.
  for (CleanGroup& group : groups) {
    Status s = co_await CleanInto(group, latest, result);
    if (s.ok()) {
      RUNNEL_CO_TRY(co_await Lock(false));
      s = co_await SwapIn(group, result);
      Unlock();
    }
    if (!s.ok()) {
      // Whatever was written as *.cleaned is dropped (recovery would drop it too).
      if (group.cleaned != nullptr) (void)co_await group.cleaned->RemoveFiles(io_.fs());
      co_return s;
    }
  }
  co_return Status::Ok();
}

Task<Status> Log::CleanInto(CleanGroup& group, const KeyMap& latest, CompactionResult& result) {
  const Offset base = group.sources.front()->base_offset();
  const int64_t now_ms = io_.clock().Wall().unix_ms();
  RUNNEL_CO_ASSIGN_OR_RETURN(
      group.cleaned,
      co_await Segment::Create(io_.fs(), dir_, base, now_ms, std::string(sf::kCleanedSuffix)));
  Segment& out = *group.cleaned;
  std::vector<std::byte> pending;  // output not yet written
  pending.reserve(limits_.compaction_write_bytes);
  uint64_t written = 0;
  auto write_pending = [&]() -> Task<Status> {
    if (pending.empty()) co_return Status::Ok();
    RUNNEL_CO_TRY(co_await out.log().WriteAt(written, pending));
    written += pending.size();
    pending.clear();
    co_return Status::Ok();
  };
  std::vector<std::byte> buffer;
  std::vector<std::byte> rebuilt;
  std::vector<RecordHeader> headers;
  BatchBuilder builder{BatchOptions{}};

  for (const std::shared_ptr<Segment>& source : group.sources) {
    result.bytes_before += source->size_bytes();
    BatchReader reader(source->log(), source->size_bytes(), buffer, limits_.scan_chunk_bytes);
    while (true) {
      RUNNEL_CO_ASSIGN_OR_RETURN(std::optional<RecordBatchView> next, co_await reader.Next());
      if (!next.has_value()) break;
      const RecordBatchView& view = *next;
      Bytes emit = view.bytes();
      if (!view.is_control()) {
        // First pass over the records: what stays, and whether a horizon must be set.
        int32_t kept = 0;
        int32_t kept_tombstones = 0;
        int32_t dropped_tombstones = 0;
        const bool horizon_passed = view.has_delete_horizon() && view.base_timestamp() <= now_ms;
        auto stays = [&](const Record& r) {
          if (!r.key.has_value()) return false;
          const int64_t l = latest.Latest(*r.key);
          if (l >= 0 && l != r.offset.value()) return false;
          if (!r.value.has_value() && horizon_passed) {
            ++dropped_tombstones;
            return false;
          }
          return true;
        };
        {
          RUNNEL_CO_ASSIGN_OR_RETURN(RecordIterator it, reader_.Open(view));
          Record r;
          while (it.Next(r)) {
            if (!stays(r)) continue;
            ++kept;
            if (!r.value.has_value()) ++kept_tombstones;
          }
          RUNNEL_CO_TRY(it.status());
        }
        const bool needs_horizon = kept_tombstones > 0 && !view.has_delete_horizon();
        result.records_removed += static_cast<uint64_t>(view.record_count() - kept);
        result.tombstones_removed += static_cast<uint64_t>(dropped_tombstones);
        if (kept != view.record_count() || needs_horizon) {
          BatchOptions o;
          o.codec = view.codec();
          o.base_offset = view.base_offset();
          o.partition_leader_epoch = view.partition_leader_epoch();
          o.producer_id = view.producer_id();
          o.producer_epoch = view.producer_epoch();
          o.base_sequence = view.base_sequence();
          o.transactional = view.is_transactional();
          o.timestamp_type = view.timestamp_type();
          if (o.timestamp_type == TimestampType::kLogAppendTime) {
            o.log_append_time_ms = view.max_timestamp();
          }
          if (kept_tombstones > 0) {
            o.delete_horizon_ms = view.has_delete_horizon() ? view.base_timestamp()
                                                            : now_ms + config_.delete_retention_ms;
          }
          bool keep_batch = kept > 0;
          if (kept == 0) {
            // A producer's last batch stays, empty, so that replaying the log keeps its state.
            keep_batch = view.has_producer_id() &&
                         latest.IsProducersLast(view.producer_id(), view.last_offset());
            o.codec = Codec::kNone;
            o.base_timestamp_ms = view.base_timestamp();
          }
          if (!keep_batch) continue;
          builder.Reset(o);
          if (kept > 0) {
            // Second pass: rebuild with the records that stay, at their offsets. The dropped
            // tombstone count is already taken; `stays` is re-run for the decision only.
            const int32_t dropped_before = dropped_tombstones;
            RUNNEL_CO_ASSIGN_OR_RETURN(RecordIterator it, reader_.Open(view));
            Record r;
            while (it.Next(r)) {
              if (!stays(r)) continue;
              headers.clear();
              RecordHeader h;
              HeaderIterator hi = r.headers();
              while (hi.Next(h)) headers.push_back(h);
              builder.AppendAt(r.offset_delta, r.timestamp_ms, r.key, r.value, headers);
            }
            RUNNEL_CO_TRY(it.status());
            dropped_tombstones = dropped_before;
          }
          builder.set_last_offset_delta(view.last_offset_delta());
          RUNNEL_CO_TRY(builder.Build(rebuilt));
          emit = Bytes(rebuilt);
        }
      }
      // Append `emit` to the output and track it.
      Result<RecordBatchView> out_view = RecordBatchView::Parse(emit);
      RUNNEL_ASSERT(out_view.ok(), "compaction produced an invalid batch: {}",
                    out_view.status().ToString());
      const BatchInfo info = BatchInfo::From(*out_view, written + pending.size());
      if (pending.size() + emit.size() > limits_.compaction_write_bytes) {
        RUNNEL_CO_TRY(co_await write_pending());
      }
      if (emit.size() > limits_.compaction_write_bytes) {
        RUNNEL_CO_TRY(co_await out.log().WriteAt(written, emit));
        written += emit.size();
      } else {
        pending.insert(pending.end(), emit.begin(), emit.end());
      }
      out.Track(info, config_.index_interval_bytes);
      group.last = info;
    }
  }
  RUNNEL_CO_TRY(co_await write_pending());
  RUNNEL_CO_TRY(co_await out.log().Sync());
  out.SealTimeIndex();
  RUNNEL_CO_TRY(co_await out.WriteIndexFiles(io_.fs()));
  RUNNEL_CO_TRY(co_await out.SyncIndexFiles());
  result.bytes_after += out.size_bytes();
  co_return Status::Ok();
}

Task<Status> Log::SwapIn(CleanGroup& group, CompactionResult& result) {
  RUNNEL_CO_TRY(Usable());
  // A truncation or retention that touched the group while it was being cleaned wins.
  for (const std::shared_ptr<Segment>& s : group.sources) {
    auto it = segments_.find(s->base_offset());
    if (it == segments_.end() || it->second != s || !s->closed()) {
      result.abandoned = true;
      co_return co_await group.cleaned->RemoveFiles(io_.fs());
    }
  }
  const Offset base = group.sources.front()->base_offset();
  auto after = segments_.upper_bound(group.sources.back()->base_offset());
  RUNNEL_ASSERT(after != segments_.end(), "a closed segment is the last one");
  const Offset group_end = after->first;

  // Recovery must accept the gaps of the cleaned segment before the swap can commit.
  if (compacted_end_ < group_end) {
    const Offset old = compacted_end_;
    compacted_end_ = group_end;
    if (Status s = co_await WriteMeta(false); !s.ok()) {
      compacted_end_ = old;
      co_return s;
    }
  }
  const std::string log_path = sf::SegmentPath(dir_, base, sf::kLogSuffix);
  const std::string cleaned = std::string(sf::kCleanedSuffix);
  const std::string swap = log_path + std::string(sf::kSwapSuffix);
  RUNNEL_CO_TRY(co_await io_.fs().Rename(log_path + cleaned, swap));
  // From the commit on, a failure leaves the directory for recovery to finish.
  auto fail = [this](Status s) {
    Fence(s.WithContext("compaction swap"));
    return s;
  };
  if (Status s = co_await io_.fs().SyncDir(dir_); !s.ok()) co_return fail(s);
  for (const std::shared_ptr<Segment>& s : group.sources) {
    if (Status r = co_await RemoveSegment(s); !r.ok()) co_return fail(r);
  }
  for (std::string_view suffix : {sf::kIndexSuffix, sf::kTimeIndexSuffix}) {
    const std::string final_path = sf::SegmentPath(dir_, base, suffix);
    if (Status s = co_await io_.fs().Rename(final_path + cleaned, final_path); !s.ok()) {
      co_return fail(s);
    }
  }
  if (Status s = co_await io_.fs().Rename(swap, log_path); !s.ok()) co_return fail(s);
  if (Status s = co_await io_.fs().SyncDir(dir_); !s.ok()) co_return fail(s);
  dir_dirty_ = false;

  Result<std::shared_ptr<Segment>> fresh = co_await Segment::Open(io_.fs(), dir_, base);
  if (!fresh.ok()) co_return fail(std::move(fresh).status());
  std::shared_ptr<Segment> segment = std::move(*fresh);
  const Segment& out = *group.cleaned;
  if (group.last.has_value()) {
    segment->AdoptIndexes(out.offset_index(), out.time_index(), *group.last, out.size_bytes());
  }
  segment->set_created_wall_ms(out.created_wall_ms());
  segment->set_closed(true);
  segment->set_synced_bytes(segment->size_bytes());
  segment->set_index_files_durable(true);
  segments_.emplace(base, std::move(segment));
  group.cleaned.reset();
  result.segments_cleaned += group.sources.size();
  ++result.segments_written;
  co_return Status::Ok();
}

}  // namespace runnel::engine
