// Log::Open and the recovery scan (rules in log_recovery.h).
#include "engine/log_recovery.h"

#include <fmt/format.h>

#include <algorithm>
#include <cstring>
#include <map>
#include <set>
#include <span>
#include <vector>

#include "engine/log.h"
#include "engine/partition_meta.h"
#include "engine/record_batch_format.h"
#include "engine/segment_format.h"
#include "engine/varint.h"

namespace runnel::engine {

namespace bf = batch_format;
namespace sf = segment_format;

namespace {
constexpr Offset kNoCompactedEnd{INT64_MAX};
}  // namespace

Task<Result<ScanResult>> ScanSegment(
    Segment& segment, uint64_t file_bytes, const ScanRules& rules, std::vector<std::byte>& buffer,
    const std::function<Status(const RecordBatchView&)>& on_batch) {
  ScanResult out;
  BatchReader reader(segment.log(), file_bytes, buffer, rules.chunk_bytes);
  Offset expected = rules.expected_next;
  const int64_t base = segment.base_offset().value();
  while (true) {
    // A read error is not corruption: the caller gives up rather than cutting the log.
    Result<std::optional<RecordBatchView>> next = co_await reader.Next();
    if (!next.ok()) {
      if (!next.status().Is(ErrorKind::kCorruption)) co_return std::move(next).status();
      out.stop = std::move(next).status();
      break;
    }
    if (!next->has_value()) break;
    const RecordBatchView& view = **next;
    const uint64_t position = reader.position() - view.size_bytes();
    const BatchInfo b = BatchInfo::From(view, position);
    auto stop = [&](std::string why) {
      out.stop = Status::Corruption(
          fmt::format("{} at position {}: {}", segment.path(sf::kLogSuffix), position, why));
    };
    if (b.base_offset.value() < base || b.last_offset < b.base_offset ||
        b.last_offset.value() - base > INT32_MAX || b.last_offset.value() >= kOffsetMax) {
      stop(fmt::format("batch [{}, {}] outside segment {}", b.base_offset.value(),
                       b.last_offset.value(), base));
      break;
    }
    if (b.base_offset < expected) {
      stop(fmt::format("offset {} after {}: offsets go back", b.base_offset.value(),
                       expected.value() - 1));
      break;
    }
    if (b.base_offset > expected && expected >= rules.compacted_end) {
      stop(fmt::format("offset {} after {}: a gap in an uncompacted log", b.base_offset.value(),
                       expected.value() - 1));
      break;
    }
    if (on_batch) RUNNEL_CO_TRY(on_batch(view));
    segment.Track(b, rules.index_interval_bytes);
    expected = b.next_offset();
    out.valid_bytes = reader.position();
    ++out.batches;
  }
  co_return out;
}

Task<Result<std::optional<uint64_t>>> ReplaySegment(Segment& segment, ProducerStateTable& producers,
                                                    Offset compacted_end,
                                                    std::vector<std::byte>& buffer,
                                                    size_t chunk_bytes, size_t& replayed) {
  const Offset from = producers.next_offset();
  if (segment.empty() || segment.next_offset() <= from) co_return std::optional<uint64_t>();
  OffsetIndex::Hit hit = segment.offset_index().Lookup(from);
  while (true) {
    BatchReader reader(segment.log(), segment.size_bytes(), buffer, chunk_bytes, hit.position);
    Offset expected = hit.offset;
    bool exact = hit.position > 0;
    std::optional<uint64_t> bad;
    while (true) {
      const uint64_t position = reader.position();
      Result<std::optional<RecordBatchView>> next = co_await reader.Next();
      if (!next.ok()) {
        if (!next.status().Is(ErrorKind::kCorruption)) co_return std::move(next).status();
        bad = position;
        break;
      }
      if (!next->has_value()) break;
      const RecordBatchView& b = **next;
      const bool gap = b.base_offset() > expected;
      if (b.base_offset() < expected || (gap && (exact || expected >= compacted_end)) ||
          b.last_offset() >= segment.next_offset()) {
        bad = position;
        break;
      }
      exact = false;
      expected = b.next_offset();
      if (b.base_offset() < producers.next_offset()) continue;
      RUNNEL_CO_TRY(producers.Replay(b));
      ++replayed;
    }
    if (!bad.has_value()) co_return std::optional<uint64_t>();
    // From an index position the index may be what is wrong: once more from the start.
    if (hit.position == 0) co_return bad;
    hit = OffsetIndex::Hit{segment.base_offset(), 0};
  }
}

// Runs the recovery rules of log_recovery.h on a freshly constructed Log.
class LogRecovery {
 public:
  explicit LogRecovery(Log& log)
      : log_(log), fs_(log.io_.fs()), dir_(log.dir_), report_(log.report_) {}

  Task<Status> Run();

 private:
  struct Found {
    std::shared_ptr<Segment> segment;
    uint64_t file_bytes = 0;
  };

  Task<Status> PrepareDirectory();
  Task<Status> ListAndClean();
  Task<Status> CompleteSwap(Offset base);
  Task<Status> RemoveNamed(const std::string& name);
  Task<Status> RemoveSegmentFiles(Offset base);
  Task<Result<bool>> LoadTrusted(Found& found);
  Task<Status> LoadSnapshot(Offset at_most);
  // Replays the batch headers of segments_[from, to) after the producer table's next offset.
  // nullopt when done; else where a bad batch was found (segment index and position).
  struct BadBatch {
    size_t segment = 0;
    uint64_t position = 0;
    std::string reason;
  };
  Task<Result<std::optional<BadBatch>>> ReplayBatches(size_t from, size_t to);
  Task<Status> Scan(size_t start);
  // Ends the log at `position` of segments_[i]: cuts the file, drops later segments, and
  // rescans what is left of the segment.
  Task<Status> CutAt(size_t i, uint64_t position, std::string reason);
  // Finishes a truncation partition.meta says was in progress.
  Task<Status> FinishTruncation(Offset to);
  Offset CurrentEnd() const;
  // Writes the segment's bytes again where they are, restates its size and syncs it (rule 10).
  Task<Status> Rewrite(Segment& s);
  Task<Status> Finish(size_t trusted);

  Log& log_;
  FileSystem& fs_;
  const std::string& dir_;
  RecoveryReport& report_;
  std::set<Offset> logs_;
  std::set<Offset> index_files_;
  std::set<Offset> time_index_files_;
  std::set<Offset> swaps_;
  std::optional<PartitionMeta> meta_;
  std::vector<Found> segments_;
  std::vector<std::byte> buffer_;
  size_t scanned_from_ = SIZE_MAX;  // segments from here on were scanned (need index files)
};

Task<Status> LogRecovery::PrepareDirectory() {
  RUNNEL_CO_ASSIGN_OR_RETURN(bool exists, co_await fs_.Exists(dir_));
  if (!exists) RUNNEL_CO_TRY(co_await MakeDirs(fs_, dir_));
  // Even when it exists: a process that stopped between the mkdir and this sync left a name
  // that a later power loss takes away, with the whole log.
  co_return co_await fs_.SyncDir(ParentDir(dir_));
}

Task<Status> LogRecovery::RemoveNamed(const std::string& name) {
  Status s = co_await fs_.Remove(JoinPath(dir_, name));
  if (!s.ok() && !s.Is(ErrorKind::kNotFound)) co_return s;
  ++report_.leftovers_removed;
  co_return Status::Ok();
}

Task<Status> LogRecovery::RemoveSegmentFiles(Offset base) {
  for (std::string_view suffix : {sf::kLogSuffix, sf::kIndexSuffix, sf::kTimeIndexSuffix}) {
    Status s = co_await fs_.Remove(sf::SegmentPath(dir_, base, suffix));
    if (!s.ok() && !s.Is(ErrorKind::kNotFound)) co_return s;
  }
  logs_.erase(base);
  index_files_.erase(base);
  time_index_files_.erase(base);
  co_return Status::Ok();
}

Task<Status> LogRecovery::ListAndClean() {
  RUNNEL_CO_ASSIGN_OR_RETURN(std::vector<DirEntry> entries, co_await fs_.List(dir_));
  std::vector<std::string> leftovers;
  for (const DirEntry& e : entries) {
    if (e.is_dir) continue;
    const sf::ParsedName p = sf::ParseFileName(e.name);
    switch (p.kind) {
      case sf::FileKind::kLog:
        logs_.insert(p.offset);
        break;
      case sf::FileKind::kIndex:
        index_files_.insert(p.offset);
        break;
      case sf::FileKind::kTimeIndex:
        time_index_files_.insert(p.offset);
        break;
      case sf::FileKind::kSnapshot:
        log_.snapshots_.insert(p.offset);
        break;
      case sf::FileKind::kTmp:
      case sf::FileKind::kCleaned:
        leftovers.push_back(e.name);
        break;
      case sf::FileKind::kSwap:
        if (p.inner == sf::FileKind::kLog) {
          swaps_.insert(p.offset);
        } else {
          leftovers.push_back(e.name);  // only the .log is ever swapped in
        }
        break;
      case sf::FileKind::kMeta:
      case sf::FileKind::kUnknown:
        break;  // not ours to judge
    }
  }
  for (const std::string& name : leftovers) RUNNEL_CO_TRY(co_await RemoveNamed(name));
  for (Offset base : swaps_) RUNNEL_CO_TRY(co_await CompleteSwap(base));
  co_return Status::Ok();
}

Task<Status> LogRecovery::CompleteSwap(Offset base) {
  const std::string swap =
      sf::SegmentPath(dir_, base, sf::kLogSuffix) + std::string(sf::kSwapSuffix);
  RUNNEL_CO_ASSIGN_OR_RETURN(std::shared_ptr<Segment> s,
                             co_await Segment::Open(fs_, dir_, base, std::string(sf::kSwapSuffix)));
  RUNNEL_CO_ASSIGN_OR_RETURN(uint64_t size, co_await s->log().Size());
  ScanRules rules{base, kNoCompactedEnd, log_.config_.index_interval_bytes,
                  log_.limits_.scan_chunk_bytes};
  RUNNEL_CO_ASSIGN_OR_RETURN(ScanResult scan, co_await ScanSegment(*s, size, rules, buffer_, {}));
  const Offset end = std::max(s->next_offset(), Offset(base.value() + 1));
  RUNNEL_CO_TRY(co_await s->log().Close());
  s.reset();
  // The old segments the swap replaces, and any index file of its base (old, or renamed from
  // the cleaned output before the crash: either way not known to match).
  std::vector<Offset> replaced;
  for (auto it = logs_.lower_bound(base); it != logs_.end() && *it < end; ++it)
    replaced.push_back(*it);
  for (Offset b : replaced) RUNNEL_CO_TRY(co_await RemoveSegmentFiles(b));
  RUNNEL_CO_TRY(co_await RemoveSegmentFiles(base));
  RUNNEL_CO_TRY(co_await fs_.Rename(swap, sf::SegmentPath(dir_, base, sf::kLogSuffix)));
  RUNNEL_CO_TRY(co_await fs_.SyncDir(dir_));
  logs_.insert(base);
  ++report_.swaps_completed;
  (void)scan;
  co_return Status::Ok();
}

Task<Result<bool>> LogRecovery::LoadTrusted(Found& found) {
  Segment& s = *found.segment;
  const Offset base = s.base_offset();
  if (index_files_.count(base) == 0 || time_index_files_.count(base) == 0) co_return false;
  const size_t entries_max = static_cast<size_t>(found.file_bytes / bf::kHeaderBytes + 1);
  Result<std::vector<std::byte>> index_bytes =
      co_await ReadFile(fs_, s.path(sf::kIndexSuffix), entries_max * sf::kOffsetIndexEntryBytes);
  if (!index_bytes.ok()) {
    if (index_bytes.status().Is(ErrorKind::kIo)) co_return std::move(index_bytes).status();
    co_return false;
  }
  Result<OffsetIndex> index =
      OffsetIndex::Decode(base, *index_bytes, found.file_bytes, entries_max);
  if (!index.ok()) co_return false;
  // The headers from the last index entry to the end of the file: the last batch, and proof
  // that the file ends on a batch boundary where the index says batches are.
  const uint64_t from = index->empty() ? 0 : index->entries().back().position;
  const Offset first =
      index->empty() ? base : Offset(base.value() + index->entries().back().relative_offset);
  HeaderCursor cursor(s.log(), base, from, found.file_bytes, log_.limits_.header_read_bytes);
  cursor.CheckSequence(first, meta_.has_value() ? meta_->compacted_end : kNoCompactedEnd,
                       Offset(INT64_MAX), !index->empty());
  std::optional<BatchInfo> last_batch;
  while (true) {
    Result<std::optional<BatchInfo>> b = co_await cursor.Next();
    if (!b.ok()) {
      if (b.status().Is(ErrorKind::kIo)) co_return std::move(b).status();
      co_return false;
    }
    if (!b->has_value()) break;
    last_batch = **b;
  }
  if (!last_batch.has_value()) {
    // An empty segment (the active one, or a compaction output that kept nothing).
    co_return found.file_bytes == 0 && index->empty();
  }
  Result<std::vector<std::byte>> time_bytes =
      co_await ReadFile(fs_, s.path(sf::kTimeIndexSuffix), entries_max * sf::kTimeIndexEntryBytes);
  if (!time_bytes.ok()) {
    if (time_bytes.status().Is(ErrorKind::kIo)) co_return std::move(time_bytes).status();
    co_return false;
  }
  Result<TimeIndex> time =
      TimeIndex::Decode(base, *time_bytes, last_batch->base_offset, entries_max);
  if (!time.ok()) co_return false;
  s.AdoptIndexes(std::move(*index), std::move(*time), *last_batch, found.file_bytes);
  co_return true;
}

Task<Status> LogRecovery::LoadSnapshot(Offset at_most) {
  ProducerStateTable& producers = log_.producers_;
  producers = ProducerStateTable(log_.limits_.producers);
  report_.snapshot_loaded.reset();
  for (auto it = log_.snapshots_.rbegin(); it != log_.snapshots_.rend(); ++it) {
    if (*it > at_most) continue;
    Result<std::vector<std::byte>> bytes = co_await ReadFile(
        fs_, sf::SegmentPath(dir_, *it, sf::kSnapshotSuffix), log_.limits_.snapshot_bytes_max);
    if (!bytes.ok()) {
      if (bytes.status().Is(ErrorKind::kIo)) co_return std::move(bytes).status();
      ++report_.snapshots_rejected;
      continue;
    }
    Result<ProducerStateTable> table =
        ProducerStateTable::DecodeSnapshot(*bytes, log_.limits_.producers);
    if (!table.ok() || table->next_offset() != *it) {
      ++report_.snapshots_rejected;
      continue;
    }
    producers = std::move(*table);
    report_.snapshot_loaded = *it;
    break;
  }
  co_return Status::Ok();
}

Task<Result<std::optional<LogRecovery::BadBatch>>> LogRecovery::ReplayBatches(size_t from,
                                                                              size_t to) {
  const Offset compacted_end = meta_.has_value() ? meta_->compacted_end : kNoCompactedEnd;
  for (size_t i = from; i < to; ++i) {
    RUNNEL_CO_ASSIGN_OR_RETURN(
        std::optional<uint64_t> bad,
        co_await ReplaySegment(*segments_[i].segment, log_.producers_, compacted_end, buffer_,
                               log_.limits_.scan_chunk_bytes, report_.batches_replayed));
    if (bad.has_value()) {
      co_return std::optional<BadBatch>(
          BadBatch{i, *bad,
                   fmt::format("a bad batch at position {} of segment {}", *bad,
                               segments_[i].segment->base_offset().value())});
    }
  }
  co_return std::optional<BadBatch>();
}

Offset LogRecovery::CurrentEnd() const {
  if (segments_.empty()) {
    return meta_.has_value() ? meta_->log_start : Offset(0);
  }
  return segments_.back().segment->next_offset();
}

Task<Status> LogRecovery::CutAt(size_t i, uint64_t position, std::string reason) {
  Found& f = segments_[i];
  Segment& s = *f.segment;
  if (report_.truncation_reason.empty()) report_.truncation_reason = std::move(reason);
  report_.bytes_truncated += f.file_bytes - position;
  RUNNEL_CO_TRY(co_await s.log().Truncate(position));
  RUNNEL_CO_TRY(co_await s.log().Sync());
  f.file_bytes = position;
  for (size_t j = segments_.size(); j > i + 1; --j) {
    Found& gone = segments_[j - 1];
    report_.bytes_truncated += gone.file_bytes;
    const Offset b = gone.segment->base_offset();
    gone.segment.reset();
    RUNNEL_CO_TRY(co_await RemoveSegmentFiles(b));
    ++report_.segments_deleted;
  }
  segments_.resize(i + 1);
  scanned_from_ = std::min(scanned_from_, i);
  // What is left is rescanned: validated again and re-indexed.
  const Offset compacted_end = meta_.has_value() ? meta_->compacted_end : kNoCompactedEnd;
  s.ResetTo(0);
  ScanRules rules{s.base_offset(), compacted_end, log_.config_.index_interval_bytes,
                  log_.limits_.scan_chunk_bytes};
  RUNNEL_CO_ASSIGN_OR_RETURN(ScanResult scan,
                             co_await ScanSegment(s, f.file_bytes, rules, buffer_, {}));
  if (!scan.stop.ok()) co_return co_await CutAt(i, scan.valid_bytes, scan.stop.message());
  co_return Status::Ok();
}

Task<Status> LogRecovery::FinishTruncation(Offset to) {
  size_t i = 0;
  while (i + 1 < segments_.size() && segments_[i + 1].segment->base_offset() <= to) ++i;
  Found& f = segments_[i];
  Segment& s = *f.segment;
  HeaderCursor cursor(s.log(), s.base_offset(), 0, f.file_bytes, log_.limits_.header_read_bytes);
  cursor.CheckSequence(s.base_offset(), meta_.has_value() ? meta_->compacted_end : kNoCompactedEnd,
                       s.next_offset(), false);
  uint64_t cut = f.file_bytes;
  while (true) {
    Result<std::optional<BatchInfo>> b = co_await cursor.Next();
    if (!b.ok()) {
      if (!b.status().Is(ErrorKind::kCorruption)) co_return std::move(b).status();
      cut = cursor.position();
      break;
    }
    if (!b->has_value()) break;
    if ((*b)->last_offset >= to) {
      cut = (*b)->position;
      break;
    }
  }
  co_return co_await CutAt(i, cut, fmt::format("finishing a truncation to {}", to.value()));
}

Task<Status> LogRecovery::Scan(size_t start) {
  ProducerStateTable& producers = log_.producers_;
  const Offset compacted_end = meta_.has_value() ? meta_->compacted_end : kNoCompactedEnd;
  const std::function<Status(const RecordBatchView&)> replay =
      [&producers, this](const RecordBatchView& batch) {
        if (batch.base_offset() < producers.next_offset()) return Status::Ok();
        ++report_.batches_replayed;
        return producers.Replay(batch);
      };
  scanned_from_ = std::min(scanned_from_, start);
  for (size_t i = start; i < segments_.size(); ++i) {
    Found& f = segments_[i];
    Segment& s = *f.segment;
    s.ResetTo(0);
    const Offset expected = i == 0 ? s.base_offset() : segments_[i - 1].segment->next_offset();
    const bool gap_allowed = expected < compacted_end && s.base_offset() > expected;
    if (s.base_offset() != expected && !gap_allowed) {
      // The first segment (or batch) that does not fit ends the log.
      const std::string reason =
          fmt::format("segment {} does not start at {}, where the previous one ends",
                      s.base_offset().value(), expected.value());
      if (i == 0) co_return Status::Ok();  // cannot happen: the first segment sets the start
      RUNNEL_CO_TRY(co_await CutAt(i - 1, segments_[i - 1].file_bytes, reason));
      break;
    }
    // The first batch is held to the segment's base, as a read holds it: above the base only
    // below the compacted end, wherever the previous segment ended.
    ScanRules rules{s.base_offset(), compacted_end, log_.config_.index_interval_bytes,
                    log_.limits_.scan_chunk_bytes};
    RUNNEL_CO_ASSIGN_OR_RETURN(ScanResult scan,
                               co_await ScanSegment(s, f.file_bytes, rules, buffer_, replay));
    ++report_.segments_scanned;
    report_.bytes_scanned += scan.valid_bytes;
    report_.batches_scanned += scan.batches;
    if (scan.stop.ok()) continue;
    RUNNEL_CO_TRY(co_await CutAt(i, scan.valid_bytes, scan.stop.message()));
    break;
  }
  co_return Status::Ok();
}

Task<Status> LogRecovery::Run() {
  RUNNEL_CO_TRY(co_await PrepareDirectory());
  RUNNEL_CO_TRY(co_await ListAndClean());

  Result<std::optional<PartitionMeta>> meta = co_await ReadPartitionMeta(fs_, dir_);
  if (!meta.ok()) {
    if (meta.status().Is(ErrorKind::kIo)) co_return std::move(meta).status();
    report_.meta_problem = meta.status().ToString();
  } else if (meta->has_value()) {
    meta_ = **meta;
    report_.meta_found = true;
    report_.clean_shutdown = meta_->clean_shutdown;
  } else {
    report_.meta_problem = "partition.meta is missing";
  }

  for (Offset base : logs_) {
    RUNNEL_CO_ASSIGN_OR_RETURN(std::shared_ptr<Segment> s, co_await Segment::Open(fs_, dir_, base));
    RUNNEL_CO_ASSIGN_OR_RETURN(uint64_t size, co_await s->log().Size());
    segments_.push_back(Found{std::move(s), size});
  }
  report_.segments_found = segments_.size();

  // Segments wholly below the log start: a deletion that crashed after its meta write.
  Offset log_start = meta_.has_value()   ? meta_->log_start
                     : segments_.empty() ? Offset(0)
                                         : segments_.front().segment->base_offset();
  size_t drop = 0;
  while (drop + 1 < segments_.size() && segments_[drop + 1].segment->base_offset() <= log_start) {
    ++drop;
  }
  for (size_t i = 0; i < drop; ++i) {
    const Offset b = segments_[i].segment->base_offset();
    segments_[i].segment.reset();
    RUNNEL_CO_TRY(co_await RemoveSegmentFiles(b));
    ++report_.segments_deleted;
  }
  segments_.erase(segments_.begin(), segments_.begin() + static_cast<ptrdiff_t>(drop));

  // Trusted segments: below the recovery point, or all after a clean shutdown.
  size_t trusted = 0;
  if (meta_.has_value()) {
    if (meta_->clean_shutdown) {
      trusted = segments_.size();
    } else {
      while (trusted < segments_.size() &&
             segments_[trusted].segment->base_offset() <= meta_->recovery_point) {
        ++trusted;
      }
      trusted = trusted == 0 ? 0 : trusted - 1;  // the segment holding the point is scanned
    }
  }
  for (size_t i = 0; i < trusted; ++i) {
    Found& f = segments_[i];
    RUNNEL_CO_ASSIGN_OR_RETURN(bool ok, co_await LoadTrusted(f));
    if (ok && i > 0) {
      const Offset expected = segments_[i - 1].segment->next_offset();
      const Offset base = f.segment->base_offset();
      ok = base == expected || (base > expected && expected < meta_->compacted_end);
    }
    if (!ok) {
      ++report_.indexes_rebuilt;
      trusted = i;
      break;
    }
    ++report_.segments_trusted;
  }

  // Producer state: the newest snapshot, the trusted segments' headers after it, then the scan.
  // A bad batch in a trusted segment makes it (and what follows) scanned instead.
  RUNNEL_CO_TRY(co_await LoadSnapshot(Offset(INT64_MAX)));
  RUNNEL_CO_ASSIGN_OR_RETURN(std::optional<BadBatch> bad, co_await ReplayBatches(0, trusted));
  if (bad.has_value()) {
    trusted = bad->segment;
    ++report_.indexes_rebuilt;
    report_.segments_trusted = trusted;
  }
  RUNNEL_CO_TRY(co_await Scan(trusted));
  // Also when the files already look truncated: after a failed sync they may only look so
  // (the page cache has the truncation, the disk not); cutting again and syncing makes it real.
  if (meta_.has_value() && meta_->truncate_to.has_value() && !segments_.empty()) {
    RUNNEL_CO_TRY(co_await FinishTruncation(*meta_->truncate_to));
  }
  // A snapshot past where the log now ends: an older one and a replay over the whole log, which
  // cuts the log at any bad batch it meets in a trusted segment.
  while (log_.producers_.next_offset() > CurrentEnd()) {
    RUNNEL_CO_TRY(co_await LoadSnapshot(CurrentEnd()));
    RUNNEL_CO_ASSIGN_OR_RETURN(bad, co_await ReplayBatches(0, segments_.size()));
    if (bad.has_value()) RUNNEL_CO_TRY(co_await CutAt(bad->segment, bad->position, bad->reason));
  }
  buffer_ = {};
  co_return co_await Finish(std::min(trusted, scanned_from_));
}

// A scanned segment's bytes are what the file shows, which after a failed fsync is not what
// the disk holds: Linux marks the pages that failed to write back clean (the error is reported
// once), so they stay readable until evicted or a power loss, and a later fsync succeeds without
// writing them. Nothing on disk says whether an earlier process (or an earlier Open of this
// one) saw such a failure, so every byte recovery accepts from a scanned segment is written
// again, which dirties it, and then synced; the size too, in case a truncation was lost the same
// way. Trusted segments need none of this: the recovery point moved past them only after a
// successful sync of everything they hold.
Task<Status> LogRecovery::Rewrite(Segment& s) {
  const uint64_t size = s.size_bytes();
  std::vector<std::byte> chunk(
      static_cast<size_t>(std::min<uint64_t>(size, log_.limits_.scan_chunk_bytes)));
  for (uint64_t at = 0; at < size;) {
    const std::span<std::byte> part =
        std::span(chunk).first(static_cast<size_t>(std::min<uint64_t>(chunk.size(), size - at)));
    RUNNEL_CO_TRY(co_await ReadExactly(s.log(), at, part));
    RUNNEL_CO_TRY(co_await s.log().WriteAt(at, part));
    at += part.size();
  }
  report_.bytes_rewritten += size;
  RUNNEL_CO_TRY(co_await s.log().Truncate(size));
  co_return co_await s.log().Sync();
}

Task<Status> LogRecovery::Finish(size_t trusted) {
  Log& log = log_;
  const int64_t now_ms = log.io_.clock().Wall().unix_ms();
  Offset log_start = meta_.has_value()   ? meta_->log_start
                     : segments_.empty() ? Offset(0)
                                         : segments_.front().segment->base_offset();
  if (segments_.empty()) {
    RUNNEL_CO_ASSIGN_OR_RETURN(std::shared_ptr<Segment> s,
                               co_await Segment::Create(fs_, dir_, log_start, now_ms));
    segments_.push_back(Found{std::move(s), 0});
  }
  Offset log_end = segments_.back().segment->next_offset();
  if (log_end < log_start) {
    // The start had moved past data a crash then lost: restart the log at the start.
    for (Found& f : segments_) {
      const Offset b = f.segment->base_offset();
      f.segment.reset();
      RUNNEL_CO_TRY(co_await RemoveSegmentFiles(b));
      ++report_.segments_deleted;
    }
    segments_.clear();
    RUNNEL_CO_ASSIGN_OR_RETURN(std::shared_ptr<Segment> s,
                               co_await Segment::Create(fs_, dir_, log_start, now_ms));
    segments_.push_back(Found{std::move(s), 0});
    trusted = 0;
    log_end = log_start;
    // The producer history went with the log (as Kafka's truncateFullyAndStartAt).
    log.producers_ = ProducerStateTable(log.limits_.producers);
    log.producers_.RestoreNextOffset(log_start);
    report_.snapshot_loaded.reset();
    const size_t snapshots = log.snapshots_.size();
    RUNNEL_CO_TRY(co_await log.PruneSnapshots(Offset(-1)));
    report_.leftovers_removed += snapshots;
  }
  log_start = std::max(log_start, segments_.front().segment->base_offset());

  // Make what recovery accepted durable: it may have been unsynced in the page cache of a
  // process that exited, or lost by a failed sync (Rewrite), and closed segments that were
  // scanned get fresh index files.
  for (size_t i = 0; i < segments_.size(); ++i) {
    Found& f = segments_[i];
    Segment& s = *f.segment;
    const bool last = i + 1 == segments_.size();
    s.set_closed(!last);
    if (i >= trusted) {
      RUNNEL_CO_TRY(co_await Rewrite(s));
      if (!last) {
        s.SealTimeIndex();
        RUNNEL_CO_TRY(co_await s.WriteIndexFiles(fs_));
        RUNNEL_CO_TRY(co_await s.SyncIndexFiles());
      }
    }
    s.set_synced_bytes(s.size_bytes());
    s.set_index_files_durable(!last || i < trusted);
  }
  // Index files without a .log.
  for (Offset b : index_files_) {
    if (logs_.count(b) == 0)
      RUNNEL_CO_TRY(co_await RemoveNamed(sf::OffsetName(b) + std::string(sf::kIndexSuffix)));
  }
  for (Offset b : time_index_files_) {
    if (logs_.count(b) == 0) {
      RUNNEL_CO_TRY(co_await RemoveNamed(sf::OffsetName(b) + std::string(sf::kTimeIndexSuffix)));
    }
  }

  for (Found& f : segments_) log.segments_.emplace(f.segment->base_offset(), f.segment);
  segments_.clear();
  log.log_start_ = log_start;
  log.log_end_ = log_end;
  log.flushed_ = log_end;
  log.high_watermark_ =
      std::clamp(meta_.has_value() ? meta_->high_watermark : Offset(0), log_start, log_end);
  log.compacted_end_ = meta_.has_value() ? std::min(meta_->compacted_end, log_end) : log_end;
  log.recovery_point_ = log.active()->base_offset();

  // The active segment's age counts from its first batch (Kafka's segment.ms rule), or from now.
  std::shared_ptr<Segment> active = log.active();
  active->set_created_wall_ms(now_ms);
  if (!active->empty()) {
    HeaderCursor cursor(active->log(), active->base_offset(), 0, active->size_bytes(),
                        bf::kHeaderBytes);
    Result<std::optional<BatchInfo>> first = co_await cursor.Next();
    if (!first.ok() && first.status().Is(ErrorKind::kIo)) co_return std::move(first).status();
    if (first.ok() && first->has_value() && (*first)->max_timestamp_ms >= 0 &&
        (*first)->max_timestamp_ms <= now_ms) {
      active->set_created_wall_ms((*first)->max_timestamp_ms);
    }
  }
  RUNNEL_ASSERT(log.producers_.next_offset() <= log_end, "producer state at {} past the log end {}",
                log.producers_.next_offset().value(), log_end.value());
  // A snapshot from below the log start may know producers whose later batches are gone.
  log.producers_.EvictBefore(log_start);
  const size_t before = log.snapshots_.size();
  RUNNEL_CO_TRY(co_await log.PruneSnapshots(log_end));
  report_.leftovers_removed += before - log.snapshots_.size();

  RUNNEL_CO_TRY(co_await fs_.SyncDir(dir_));
  log.dir_dirty_ = false;
  co_return co_await log.WriteMeta(/*clean=*/false);
}

Task<Result<std::unique_ptr<Log>>> Log::Open(Io& io, std::string dir, LogConfig config,
                                             LogLimits limits, RecordReader* reader) {
  RUNNEL_CO_TRY(config.Validate());
  std::unique_ptr<Log> log(new Log(io, std::move(dir), config, limits, reader));
  LogRecovery recovery(*log);
  RUNNEL_CO_TRY(co_await recovery.Run());
  co_return std::move(log);
}

}  // namespace runnel::engine
