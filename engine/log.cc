// Log: appends (group commit), rolls, reads, truncation, flushes, checkpoints and close.
// Open and recovery are in log_recovery.cc, retention and DeleteRecords in retention.cc,
// compaction in compaction.cc.
#include "engine/log.h"

#include <fmt/format.h>

#include <algorithm>
#include <utility>

#include "engine/log_recovery.h"
#include "engine/partition_meta.h"
#include "engine/record_batch_format.h"
#include "engine/segment_format.h"

namespace runnel::engine {

namespace bf = batch_format;
namespace sf = segment_format;

std::string_view AppendOutcomeName(AppendOutcome outcome) {
  switch (outcome) {
    case AppendOutcome::kAppended:
      return "appended";
    case AppendOutcome::kDuplicate:
      return "duplicate";
    case AppendOutcome::kCorruptRecord:
      return "corrupt-record";
    case AppendOutcome::kInvalidRecord:
      return "invalid-record";
    case AppendOutcome::kRecordTooLarge:
      return "record-too-large";
    case AppendOutcome::kOutOfOrderSequence:
      return "out-of-order-sequence";
    case AppendOutcome::kInvalidProducerEpoch:
      return "invalid-producer-epoch";
    case AppendOutcome::kInvalidTxnState:
      return "invalid-txn-state";
  }
  return "unknown";
}

Log::Log(Io& io, std::string dir, LogConfig config, LogLimits limits, RecordReader* reader)
    : io_(io),
      dir_(std::move(dir)),
      config_(config),
      limits_(limits),
      own_reader_(reader != nullptr
                      ? nullptr
                      : std::make_unique<RecordReader>(limits.decompressed_bytes_max)),
      reader_(reader != nullptr ? *reader : *own_reader_),
      producers_(limits.producers),
      lock_(io.executor(), 1),
      committed_(io.executor(), io.clock()),
      sync_done_(io.executor(), io.clock()),
      idle_(io.executor(), io.clock()) {}

// Nothing asynchronous here: when the simulator crashes a node, the Log may be destroyed after
// the coroutines that were using it, and must not touch them.
Log::~Log() = default;

Status Log::Usable() const {
  if (closed_) return Status::Closed(fmt::format("log {} is closed", dir_));
  return fenced_;
}

Status Log::health() const { return Usable(); }

void Log::FileOpDone() {
  RUNNEL_ASSERT(file_ops_in_flight_ > 0, "log {}: a file operation ended twice", dir_);
  if (--file_ops_in_flight_ == 0) idle_.NotifyAll();
}

Task<void> Log::WaitIdle() {
  while (file_ops_in_flight_ > 0) co_await idle_.Wait();
}

Task<Status> Log::Lock(bool append) {
  if (append) {
    if (appends_waiting_ >= limits_.appends_waiting_max) {
      co_return Status::Limit(fmt::format("log {}: appends_waiting_max {} appends are waiting",
                                          dir_, limits_.appends_waiting_max));
    }
    ++appends_waiting_;
  }
  Status s = co_await lock_.Acquire();
  if (append) --appends_waiting_;
  if (!s.ok()) co_return s;
  if (Status u = Usable(); !u.ok()) {
    lock_.Release();
    co_return u;
  }
  co_return Status::Ok();
}

// Released explicitly on every path rather than by a guard object: a guard's destructor would
// run when a crash destroys the frame, and wake waiters whose frames are already gone.
void Log::Unlock() { lock_.Release(); }

void Log::Fence(const Status& cause) {
  if (!fenced_.ok()) return;
  fenced_ = Status::Io(
      fmt::format("log {} is fenced after {}; reopen it to recover", dir_, cause.ToString()));
  // Whoever waits for a commit or a sync round must learn it now.
  committed_.NotifyAll();
  sync_done_.NotifyAll();
}

Status Log::SetConfig(const LogConfig& config) {
  RUNNEL_TRY(config.Validate());
  config_ = config;
  return Status::Ok();
}

void Log::SetHighWatermark(Offset offset) {
  high_watermark_ = std::clamp(offset, log_start_, log_end_);
}

std::vector<Offset> Log::segment_bases() const {
  std::vector<Offset> out;
  out.reserve(segments_.size());
  for (const auto& [base, segment] : segments_) out.push_back(base);
  return out;
}

uint64_t Log::size_bytes() const {
  uint64_t total = 0;
  for (const auto& [base, segment] : segments_) total += segment->size_bytes();
  return total;
}

LogMemory Log::memory() const {
  LogMemory m;
  for (const auto& [base, segment] : segments_) {
    m.index_bytes += segment->index_memory_bytes();
    m.index_entries += segment->index_entries();
  }
  return m;
}

std::vector<std::shared_ptr<Segment>> Log::SegmentsFrom(Offset offset) const {
  std::vector<std::shared_ptr<Segment>> out;
  auto it = segments_.upper_bound(offset);
  if (it != segments_.begin()) --it;
  for (; it != segments_.end(); ++it) out.push_back(it->second);
  return out;
}

// --- Append -------------------------------------------------------------------------------

Task<Result<AppendResult>> Log::Append(std::span<std::byte> records, AppendOptions options) {
  RUNNEL_CO_TRY(Usable());
  AppendResult result;
  result.log_start_offset = log_start_;
  auto reject = [&result](AppendOutcome outcome, std::string message) {
    result.outcome = outcome;
    result.message = std::move(message);
    return result;
  };
  if (records.size() > config_.segment_bytes) {
    co_return reject(
        AppendOutcome::kRecordTooLarge,
        fmt::format("{} bytes exceed segment.bytes {}", records.size(), config_.segment_bytes));
  }
  // Validation is pure computation: it runs before the lock so appends queue only for the
  // write itself.
  std::vector<MutableRecordBatchView> batches;
  if (Status s = SplitBatches(records, limits_.append_batches_max, batches); !s.ok()) {
    co_return reject(
        s.Is(ErrorKind::kLimit) ? AppendOutcome::kRecordTooLarge : AppendOutcome::kCorruptRecord,
        s.message());
  }
  if (batches.empty()) co_return reject(AppendOutcome::kCorruptRecord, "no record batches");
  const bool compacted = Compacts(config_.cleanup_policy);
  for (const MutableRecordBatchView& b : batches) {
    if (b.size_bytes() > static_cast<size_t>(config_.max_message_bytes)) {
      co_return reject(AppendOutcome::kRecordTooLarge,
                       fmt::format("batch of {} bytes exceeds max.message.bytes {}", b.size_bytes(),
                                   config_.max_message_bytes));
    }
    if (!options.assign_offsets) continue;  // a follower stores what the leader validated
    Result<RecordsSummary> v = ValidateForAppend(b, reader_);
    if (!v.ok()) {
      co_return reject(v.status().Is(ErrorKind::kLimit) ? AppendOutcome::kRecordTooLarge
                                                        : AppendOutcome::kCorruptRecord,
                       v.status().message());
    }
    if (compacted) {
      Result<RecordIterator> it = reader_.Open(b);
      if (!it.ok()) co_return reject(AppendOutcome::kCorruptRecord, it.status().message());
      Record r;
      while (it->Next(r)) {
        if (!r.key.has_value()) {
          co_return reject(AppendOutcome::kInvalidRecord,
                           "compacted topic: a record without a key");
        }
      }
    }
  }

  RUNNEL_CO_TRY(co_await Lock(/*append=*/true));
  uint64_t seq = 0;
  Status s = co_await AppendLocked(batches, records, options, result, seq);
  Unlock();
  if (!s.ok()) co_return s;
  if (seq == 0) {
    if (result.outcome == AppendOutcome::kDuplicate) {
      RUNNEL_CO_TRY(co_await AwaitOriginal(result, options));
    }
    co_return result;
  }
  // The write runs outside the lock: the next appends reserve and write meanwhile.
  PendingWrite* w = FindPending(seq);
  std::shared_ptr<Segment> segment = w->segment;
  FileOpStarted();
  Status written = co_await segment->log().WriteAt(w->position, records);
  FileOpDone();
  w = FindPending(seq);
  RUNNEL_ASSERT(w != nullptr, "pending write {} vanished", seq);
  if (!written.ok()) {
    w->state = PendingWrite::State::kFailed;
    w->status = written;
    committed_.NotifyAll();
    co_return co_await WriteFailed(seq, written.WithContext(fmt::format("append to {}", dir_)));
  }
  w->state = PendingWrite::State::kWritten;
  CommitWritten();
  while (committed_seq_ < seq) {
    RUNNEL_CO_TRY(Usable());
    co_await committed_.Wait();
  }
  if (options.durable) {
    RUNNEL_CO_TRY(co_await WaitFlushed(Offset(result.last_offset.value() + 1)));
  }
  co_return result;
}

// A duplicate is answered with its original's offsets, so it must promise what the original's
// answer would have: the original may still be being written (not committed) or not yet synced.
Task<Status> Log::AwaitOriginal(const AppendResult& result, const AppendOptions& options) {
  const Offset end(result.last_offset.value() + 1);
  while (log_end_ < end) {
    RUNNEL_CO_TRY(Usable());
    const bool in_flight = std::any_of(pending_.begin(), pending_.end(),
                                       [&](const PendingWrite& w) { return w.next >= end; });
    if (!in_flight) {
      // The original's write failed and was cut back: the client must send the batch again.
      co_return Status::Io(
          fmt::format("log {}: the original of a duplicate batch (offsets up to {}) failed", dir_,
                      result.last_offset.value()));
    }
    co_await committed_.Wait();
  }
  if (options.durable) RUNNEL_CO_TRY(co_await WaitFlushed(end));
  co_return Status::Ok();
}

Task<Status> Log::AppendLocked(std::vector<MutableRecordBatchView>& batches,
                               std::span<std::byte> records, const AppendOptions& options,
                               AppendResult& result, uint64_t& seq) {
  if (pending_.size() >= limits_.appends_waiting_max) {
    co_return Status::Limit(fmt::format("log {}: appends_waiting_max {} writes are pending", dir_,
                                        limits_.appends_waiting_max));
  }
  // Offsets: assigned from the log end (past the pending writes), or the leader's (followers),
  // which must not go back.
  Offset first = NextOffset();
  Offset last = first;
  if (options.assign_offsets) {
    int64_t count = 0;
    for (const MutableRecordBatchView& b : batches) count += int64_t{b.last_offset_delta()} + 1;
    last = Offset(first.value() + count - 1);
  } else {
    first = batches.front().base_offset();
    Offset previous_next = NextOffset();
    for (const MutableRecordBatchView& b : batches) {
      if (b.last_offset() < b.base_offset() || b.last_offset().value() >= kOffsetMax) {
        result.outcome = AppendOutcome::kInvalidRecord;
        result.message =
            fmt::format("batch offsets [{}, {}]", b.base_offset().value(), b.last_offset().value());
        co_return Status::Ok();
      }
      if (b.base_offset() < previous_next) {
        result.outcome = AppendOutcome::kInvalidRecord;
        result.message = fmt::format("batch at offset {} is below the log end {}",
                                     b.base_offset().value(), previous_next.value());
        co_return Status::Ok();
      }
      previous_next = b.next_offset();
    }
    last = batches.back().last_offset();
    if (first > NextOffset() && first > compacted_end_) {
      // A follower of a compacted leader: the gap must not look like a torn log to recovery.
      compacted_end_ = first;
      RUNNEL_CO_TRY(co_await WriteMeta(false));
    }
  }

  // Roll before the producer state changes: the roll snapshots the state at the new base.
  if (MustRoll(*active(), NextPosition(), records.size(), first, last)) {
    RUNNEL_CO_TRY(co_await Roll(first));
  }

  struct Undo {
    ProducerId id;
    std::optional<ProducerEntry> before;
  };
  std::vector<Undo> undo;
  const Offset producers_next = producers_.next_offset();
  auto rollback = [&] {
    for (auto it = undo.rbegin(); it != undo.rend(); ++it) producers_.Restore(it->id, it->before);
    producers_.RestoreNextOffset(producers_next);
  };
  const int64_t now_ms = io_.clock().Wall().unix_ms();
  const bool log_append_time = config_.message_timestamp_type == TimestampType::kLogAppendTime;
  Offset next = first;
  for (MutableRecordBatchView& b : batches) {
    const ProducerBatchInfo info = ProducerBatchInfo::From(b);
    if (options.check_producers && info.has_producer_id()) {
      Result<ProducerCheck> check = producers_.Check(info);
      if (!check.ok()) {
        rollback();
        co_return std::move(check).status();
      }
      if (!check->ok()) {
        rollback();
        switch (check->verdict) {
          case ProducerVerdict::kDuplicate:
            result.outcome = AppendOutcome::kDuplicate;
            result.base_offset = check->duplicate_of->first_offset;
            result.last_offset = check->duplicate_of->last_offset;
            break;
          case ProducerVerdict::kOutOfOrderSequence:
            result.outcome = AppendOutcome::kOutOfOrderSequence;
            break;
          case ProducerVerdict::kInvalidProducerEpoch:
            result.outcome = AppendOutcome::kInvalidProducerEpoch;
            break;
          default:
            result.outcome = AppendOutcome::kInvalidTxnState;
            break;
        }
        result.message = std::move(check->message);
        co_return Status::Ok();
      }
    }
    if (options.assign_offsets) {
      b.SetBaseOffset(next);
      b.SetPartitionLeaderEpoch(options.leader_epoch);
      if (log_append_time) b.SetLogAppendTime(now_ms);
    }
    if (info.has_producer_id() && std::none_of(undo.begin(), undo.end(), [&](const Undo& u) {
          return u.id == info.producer_id;
        })) {
      const ProducerEntry* e = producers_.Find(info.producer_id);
      undo.push_back(Undo{info.producer_id, e ? std::optional<ProducerEntry>(*e) : std::nullopt});
    }
    Status recorded = options.check_producers ? producers_.Record(info, b.base_offset())
                                              : producers_.Replay(info, b.base_offset());
    if (!recorded.ok()) {
      rollback();
      co_return recorded;
    }
    next = b.next_offset();
  }

  // Reserve: the write itself happens outside the lock (Append).
  PendingWrite& w = pending_.emplace_back();
  w.seq = next_write_seq_++;
  w.segment = active();
  w.position =
      pending_.size() == 1 ? w.segment->size_bytes() : pending_[pending_.size() - 2].end_position;
  w.end_position = w.position + records.size();
  uint64_t at = w.position;
  w.batches.reserve(batches.size());
  for (const MutableRecordBatchView& b : batches) {
    w.batches.push_back(BatchInfo::From(b, at));
    at += b.size_bytes();
  }
  w.next = next;
  for (Undo& u : undo) w.undo.emplace_back(u.id, std::move(u.before));
  w.producers_next = producers_next;
  seq = w.seq;
  result.base_offset = batches.front().base_offset();
  result.last_offset = batches.back().last_offset();
  result.batch_count = batches.size();
  result.bytes = records.size();
  result.log_start_offset = log_start_;
  if (log_append_time && options.assign_offsets) result.log_append_time_ms = now_ms;
  co_return Status::Ok();
}

Log::PendingWrite* Log::FindPending(uint64_t seq) {
  if (pending_.empty() || seq < pending_.front().seq) return nullptr;
  const uint64_t i = seq - pending_.front().seq;
  return i < pending_.size() ? &pending_[i] : nullptr;
}

uint64_t Log::NextPosition() const {
  return pending_.empty() ? active()->size_bytes() : pending_.back().end_position;
}

void Log::CommitWritten() {
  bool advanced = false;
  while (!pending_.empty() && pending_.front().state == PendingWrite::State::kWritten) {
    PendingWrite& w = pending_.front();
    for (const BatchInfo& b : w.batches) w.segment->Track(b, config_.index_interval_bytes);
    log_end_ = w.next;
    committed_seq_ = w.seq;
    pending_.pop_front();
    advanced = true;
  }
  if (advanced) committed_.NotifyAll();
}

Task<Status> Log::WriteFailed(uint64_t seq, Status cause) {
  // Under the lock nobody reserves behind us while we decide.
  Status locked = co_await Lock(false);
  if (!locked.ok()) co_return cause;
  PendingWrite* w = FindPending(seq);
  if (w == nullptr || pending_.size() != 1) {
    // Later appends were written past it: only a reopen (recovery) can reconcile the file.
    Fence(cause);
    Unlock();
    committed_.NotifyAll();
    co_return cause;
  }
  for (auto it = w->undo.rbegin(); it != w->undo.rend(); ++it) {
    producers_.Restore(it->first, it->second);
  }
  producers_.RestoreNextOffset(w->producers_next);
  // Nothing, or part of the bytes, may have reached the file: cut it back so the next append
  // lands where this one should have. The log stays usable (ENOSPC passes when retention frees
  // space).
  std::shared_ptr<Segment> segment = w->segment;
  const uint64_t position = w->position;
  pending_.pop_front();
  FileOpStarted();
  Status cut = co_await segment->log().Truncate(position);
  FileOpDone();
  if (!cut.ok()) Fence(cut.WithContext("cutting back a failed append"));
  Unlock();
  committed_.NotifyAll();
  co_return cause;
}

Task<Status> Log::DrainWrites() {
  while (!pending_.empty()) {
    RUNNEL_CO_TRY(Usable());
    if (pending_.front().state == PendingWrite::State::kFailed) {
      // Its appender waits for the lock we hold: decide for it.
      Fence(pending_.front().status);
      co_return Usable();
    }
    co_await committed_.Wait();
  }
  co_return Usable();
}

bool Log::MustRoll(const Segment& active, uint64_t position, uint64_t bytes, Offset first,
                   Offset last) const {
  const int64_t base = active.base_offset().value();
  if (first.value() < base || last.value() - base > INT32_MAX) return true;
  if (position == 0) return false;
  if (position + bytes > config_.segment_bytes) return true;
  if (io_.clock().Wall().unix_ms() - active.created_wall_ms() > config_.segment_ms) return true;
  return active.offset_index().size() >= config_.index_entries_max() ||
         active.time_index().size() >= config_.index_entries_max();
}

Task<Status> Log::Roll(Offset base) {
  // The old segment must be complete (indexes, size) before it is closed.
  RUNNEL_CO_TRY(co_await DrainWrites());
  std::shared_ptr<Segment> old = active();
  const int64_t now_ms = io_.clock().Wall().unix_ms();
  if (old->empty()) {
    if (old->base_offset() == base) co_return Status::Ok();
    // An empty active segment whose base cannot hold `base`: replace it.
    RUNNEL_CO_ASSIGN_OR_RETURN(std::shared_ptr<Segment> fresh,
                               co_await Segment::Create(io_.fs(), dir_, base, now_ms));
    segments_.emplace(base, std::move(fresh));
    Status removed = co_await RemoveSegment(old);
    if (!removed.ok()) Fence(removed);
    co_return removed;
  }
  RUNNEL_CO_ASSIGN_OR_RETURN(std::shared_ptr<Segment> fresh,
                             co_await Segment::Create(io_.fs(), dir_, base, now_ms));
  segments_.emplace(base, std::move(fresh));
  dir_dirty_ = true;
  old->SealTimeIndex();
  old->set_closed(true);
  // The closed segment's index files become durable with the next sync round; until then the
  // recovery point stays at or below this segment.
  if (Status s = co_await old->WriteIndexFiles(io_.fs()); !s.ok()) {
    Fence(s);
    co_return s;
  }
  // Kafka's convention: a producer snapshot at every roll, so recovery replays at most the
  // active segment. A failed snapshot only makes a later recovery replay more.
  if (producers_.next_offset() == base) (void)co_await WriteSnapshot();
  co_return Status::Ok();
}

// --- Flush (group commit) -----------------------------------------------------------------

Task<Status> Log::WaitFlushed(Offset target) {
  while (true) {
    RUNNEL_CO_TRY(Usable());
    if (flushed_ >= target) co_return Status::Ok();
    if (target > log_end_) {
      co_return Status::Cancelled(fmt::format("log {}: truncated to {} before offset {} was synced",
                                              dir_, log_end_.value(), target.value() - 1));
    }
    if (!syncing_) {
      co_await SyncRound();
      continue;
    }
    co_await sync_done_.Wait();
  }
}

Task<void> Log::SyncRound() {
  RUNNEL_ASSERT(!syncing_, "two sync rounds at once");
  syncing_ = true;
  const Offset target = log_end_;
  const uint64_t truncations = truncations_;
  struct Item {
    std::shared_ptr<Segment> segment;
    uint64_t size;
  };
  std::vector<Item> items;
  for (const std::shared_ptr<Segment>& s : SegmentsFrom(recovery_point_)) {
    if (s->synced_bytes() < s->size_bytes() || (s->closed() && !s->index_files_durable())) {
      items.push_back(Item{s, s->size_bytes()});
    }
  }
  const bool dir = dir_dirty_;
  dir_dirty_ = false;
  Status status;
  for (Item& item : items) {
    Segment& s = *item.segment;
    if (item.size > s.synced_bytes()) {
      status = co_await s.log().Sync();
      if (!status.ok()) break;
      s.set_synced_bytes(std::max(s.synced_bytes(), item.size));
    }
    if (s.closed() && s.index_files_open()) {
      status = co_await s.SyncIndexFiles();
      if (!status.ok()) break;
      s.set_index_files_durable(true);
    }
  }
  if (status.ok() && dir) status = co_await io_.fs().SyncDir(dir_);
  if (!status.ok()) {
    if (dir) dir_dirty_ = true;
    // Linux fsync semantics: the writes the failed sync covered will never reach the disk
    // though they stay readable, and no later sync of this file can be trusted to cover them.
    // Nothing past the last good sync is acknowledged from here on: the log is fenced at once,
    // and the reopen writes again every byte it keeps from a segment not known durable
    // (log_recovery.h, rule 10).
    Fence(status.WithContext("sync"));
  } else if (truncations == truncations_) {
    flushed_ = std::max(flushed_, target);
    AdvanceRecoveryPoint();
  }
  syncing_ = false;
  sync_done_.NotifyAll();
}

void Log::AdvanceRecoveryPoint() {
  for (const std::shared_ptr<Segment>& s : SegmentsFrom(recovery_point_)) {
    const bool durable =
        s->closed() && s->synced_bytes() >= s->size_bytes() && s->index_files_durable();
    if (!durable) {
      recovery_point_ = std::max(recovery_point_, s->base_offset());
      return;
    }
  }
}

Task<Status> Log::Flush() {
  RUNNEL_CO_TRY(Usable());
  const Offset target = log_end_;
  // A round already running may have started before this call: let it finish, then make sure
  // one round starts after the call.
  while (syncing_) co_await sync_done_.Wait();
  RUNNEL_CO_TRY(Usable());
  const bool all_durable =
      flushed_ >= target && recovery_point_ >= active()->base_offset() && !dir_dirty_;
  if (!all_durable) co_await SyncRound();
  co_return Usable();
}

// --- Metadata and snapshots ---------------------------------------------------------------

Task<Status> Log::WriteMeta(bool clean) {
  PartitionMeta meta;
  meta.log_start = log_start_;
  meta.recovery_point = recovery_point_;
  meta.high_watermark = high_watermark_;
  meta.compacted_end = compacted_end_;
  meta.truncate_to = truncate_to_;
  meta.clean_shutdown = clean;
  co_return co_await WritePartitionMeta(io_.fs(), dir_, meta);
}

Task<Status> Log::WriteSnapshot() {
  const Offset at = producers_.next_offset();
  const std::vector<std::byte> bytes = producers_.EncodeSnapshot();
  RUNNEL_CO_TRY(
      co_await WriteFileAtomic(io_.fs(), sf::SegmentPath(dir_, at, sf::kSnapshotSuffix), bytes));
  snapshots_.insert(at);
  co_return co_await PruneSnapshots(std::nullopt);
}

Task<Status> Log::PruneSnapshots(std::optional<Offset> above) {
  Status first_error;
  auto remove = [&](Offset at) -> Task<void> {
    Status s = co_await io_.fs().Remove(sf::SegmentPath(dir_, at, sf::kSnapshotSuffix));
    if (!s.ok() && !s.Is(ErrorKind::kNotFound) && first_error.ok()) first_error = s;
    snapshots_.erase(at);
    dir_dirty_ = true;
  };
  if (above.has_value()) {
    while (!snapshots_.empty() && *snapshots_.rbegin() > *above) {
      co_await remove(*snapshots_.rbegin());
    }
  }
  while (snapshots_.size() > limits_.snapshots_retained_max) co_await remove(*snapshots_.begin());
  co_return first_error;
}

Task<Status> Log::RemoveSegment(std::shared_ptr<Segment> segment) {
  segments_.erase(segment->base_offset());
  dir_dirty_ = true;
  co_return co_await segment->RemoveFiles(io_.fs());
}

Task<Status> Log::Checkpoint() {
  RUNNEL_CO_TRY(co_await Flush());
  RUNNEL_CO_TRY(co_await Lock(false));
  Status s = co_await WriteMeta(false);
  Unlock();
  co_return s;
}

Task<Status> Log::Close() {
  RUNNEL_CO_TRY(co_await Lock(false));
  Status s = co_await DrainWrites();
  if (s.ok()) s = co_await Flush();
  if (!s.ok()) {
    Unlock();
    co_return s;
  }
  std::shared_ptr<Segment> a = active();
  a->SealTimeIndex();
  s = co_await a->WriteIndexFiles(io_.fs());
  if (s.ok()) s = co_await a->SyncIndexFiles();
  if (s.ok()) {
    a->set_index_files_durable(true);
    // Optional: without it the next Open replays from an older snapshot.
    if (snapshots_.empty() || *snapshots_.rbegin() != producers_.next_offset()) {
      (void)co_await WriteSnapshot();
    }
    recovery_point_ = a->base_offset();
    s = co_await WriteMeta(/*clean=*/true);
  }
  if (s.ok()) {
    closed_ = true;
  } else {
    Fence(s.WithContext("close"));
  }
  Unlock();
  co_return s;
}

// --- Reads --------------------------------------------------------------------------------

Task<Status> Log::ReadBatch(Segment& segment, const BatchInfo& info, std::vector<std::byte>& out) {
  out.resize(info.size_bytes);
  RUNNEL_CO_TRY(co_await ReadExactly(segment.log(), info.position, out));
  RUNNEL_CO_ASSIGN_OR_RETURN(RecordBatchView view, RecordBatchView::Parse(out));
  if (view.base_offset() != info.base_offset || view.last_offset() != info.last_offset) {
    co_return Status::Corruption(fmt::format("{}: batch at position {} changed",
                                             segment.path(sf::kLogSuffix), info.position));
  }
  co_return Status::Ok();
}

Task<Result<ReadResult>> Log::Read(Offset offset, ReadOptions options) {
  RUNNEL_CO_TRY(Usable());
  if (offset < log_start_ || offset > log_end_) {
    co_return Status::NotFound(fmt::format("offset {} out of range [{}, {}]", offset.value(),
                                           log_start_.value(), log_end_.value()));
  }
  ReadResult result;
  result.log_start_offset = log_start_;
  result.high_watermark = high_watermark_;
  result.log_end_offset = log_end_;
  result.next_offset = offset;
  const Offset end = std::min(options.end_offset.value_or(log_end_), log_end_);
  if (offset >= end) co_return result;

  bool done = false;
  bool first_segment = true;
  for (const std::shared_ptr<Segment>& segment : SegmentsFrom(offset)) {
    if (done) break;
    const uint64_t size = segment->size_bytes();
    if (segment->next_offset() <= offset || size == 0) {
      first_segment = false;
      continue;
    }
    const OffsetIndex::Hit hit = first_segment ? segment->offset_index().Lookup(offset)
                                               : OffsetIndex::Hit{segment->base_offset(), 0};
    first_segment = false;
    HeaderCursor cursor(segment->log(), segment->base_offset(), hit.position, size,
                        limits_.header_read_bytes);
    // baseOffset is outside the CRC: offsets are checked for plausibility as they are read. The
    // first batch must be the one the index entry names (or the segment's base); then each
    // follows the previous one, densely above the compacted end.
    Offset expected = hit.offset;
    bool from_index = hit.position > 0;
    bool exact = from_index;
    while (!done) {
      Result<std::optional<BatchInfo>> next = co_await cursor.Next();
      Status bad;
      if (!next.ok()) {
        bad = std::move(next).status();
      } else if (next->has_value()) {
        const BatchInfo& b = **next;
        if (b.base_offset < expected ||
            (b.base_offset > expected && (exact || expected >= compacted_end_))) {
          bad = Status::Corruption(fmt::format(
              "{}: batch at position {} has offset {}, expected {}", segment->path(sf::kLogSuffix),
              b.position, b.base_offset.value(), expected.value()));
        }
      }
      if (!bad.ok()) {
        if (bad.Is(ErrorKind::kCorruption) && from_index && exact) {
          // The index pointed at something that is not the batch it names: do not trust it.
          cursor = HeaderCursor(segment->log(), segment->base_offset(), 0, size,
                                limits_.header_read_bytes);
          expected = segment->base_offset();
          from_index = false;
          exact = false;
          continue;
        }
        if (result.batches.empty() || !bad.Is(ErrorKind::kCorruption)) co_return bad;
        done = true;
        break;
      }
      if (!next->has_value()) break;
      const BatchInfo& b = **next;
      exact = false;
      expected = b.next_offset();
      if (b.last_offset < offset) continue;
      if (b.last_offset >= end) {
        done = true;
        break;
      }
      const bool first = result.batches.empty();
      if (result.bytes + b.size_bytes > options.bytes_max && !(first && options.min_one_batch)) {
        done = true;
        break;
      }
      if (!result.regions.empty() && result.regions.back().segment == segment &&
          result.regions.back().position + result.regions.back().length == b.position) {
        result.regions.back().length += b.size_bytes;
      } else {
        result.regions.push_back(FileRegion{segment, &segment->log(), b.position, b.size_bytes});
      }
      result.batches.push_back(b);
      result.bytes += b.size_bytes;
      result.next_offset = b.next_offset();
      if (result.batches.size() >= limits_.read_batches_max) done = true;
    }
  }

  if (options.load_bytes || options.verify) {
    result.data.resize(result.bytes);
    size_t at = 0;
    for (const FileRegion& r : result.regions) {
      RUNNEL_CO_TRY(
          co_await ReadExactly(*r.file, r.position, std::span(result.data).subspan(at, r.length)));
      at += r.length;
    }
  }
  if (options.verify) {
    size_t at = 0;
    for (size_t i = 0; i < result.batches.size(); ++i) {
      const BatchInfo& b = result.batches[i];
      Result<RecordBatchView> view =
          RecordBatchView::Parse(Bytes(result.data).subspan(at, b.size_bytes));
      Status bad;
      if (!view.ok()) {
        bad = std::move(view).status();
      } else if (view->base_offset() != b.base_offset || view->last_offset() != b.last_offset) {
        bad = Status::Corruption("batch header changed between reads");
      }
      if (!bad.ok()) {
        if (i == 0) {
          co_return bad.WithContext(
              fmt::format("{}: batch at offset {}", dir_, b.base_offset.value()));
        }
        // Keep the good prefix; the caller's next read reports the bad batch.
        result.batches.resize(i);
        result.data.resize(at);
        result.bytes = at;
        result.next_offset = result.batches.back().next_offset();
        uint64_t left = at;
        size_t keep = 0;
        while (left > 0) {
          if (result.regions[keep].length >= left) {
            result.regions[keep].length = left;
            left = 0;
          } else {
            left -= result.regions[keep].length;
          }
          ++keep;
        }
        result.regions.resize(keep);
        break;
      }
      at += b.size_bytes;
    }
  }
  co_return result;
}

Task<Result<std::vector<BatchInfo>>> Log::ReadHeaders(Segment& segment, uint64_t end_position) {
  std::vector<BatchInfo> out;
  HeaderCursor cursor(segment.log(), segment.base_offset(), 0, end_position,
                      limits_.header_read_bytes);
  cursor.CheckSequence(segment.base_offset(), compacted_end_, segment.next_offset(), false);
  while (true) {
    RUNNEL_CO_ASSIGN_OR_RETURN(std::optional<BatchInfo> b, co_await cursor.Next());
    if (!b.has_value()) break;
    out.push_back(*b);
  }
  co_return out;
}

Task<Result<std::optional<TimestampOffset>>> Log::FirstRecordAtOrAfter(
    const std::shared_ptr<Segment>& segment, const BatchInfo& batch, int64_t timestamp_ms) {
  std::vector<std::byte> bytes;
  RUNNEL_CO_TRY(co_await ReadBatch(*segment, batch, bytes));
  const RecordBatchView view = *RecordBatchView::Parse(bytes);
  // No suspension from here on: the shared reader's scratch stays ours.
  RUNNEL_CO_ASSIGN_OR_RETURN(RecordIterator it, reader_.Open(view));
  Record r;
  while (it.Next(r)) {
    if (r.timestamp_ms >= timestamp_ms && r.offset >= log_start_) {
      co_return std::optional<TimestampOffset>(
          TimestampOffset{r.timestamp_ms, r.offset, view.partition_leader_epoch()});
    }
  }
  RUNNEL_CO_TRY(it.status());
  co_return std::optional<TimestampOffset>();
}

Task<Result<std::optional<TimestampOffset>>> Log::OffsetForTimestamp(int64_t timestamp_ms) {
  RUNNEL_CO_TRY(Usable());
  for (const std::shared_ptr<Segment>& segment : SegmentsFrom(log_start_)) {
    if (segment->empty() || segment->max_timestamp_ms() < timestamp_ms) continue;
    const Offset from = std::max(segment->time_index().Lookup(timestamp_ms).offset, log_start_);
    uint64_t start = segment->offset_index().Lookup(from).position;
    for (int attempt = 0; attempt < 2; ++attempt) {
      HeaderCursor cursor(segment->log(), segment->base_offset(), start, segment->size_bytes(),
                          limits_.header_read_bytes);
      Status failed;
      while (true) {
        Result<std::optional<BatchInfo>> next = co_await cursor.Next();
        if (!next.ok()) {
          failed = std::move(next).status();
          break;
        }
        if (!next->has_value()) break;
        const BatchInfo& b = **next;
        if (b.last_offset < log_start_ || b.max_timestamp_ms < timestamp_ms) continue;
        RUNNEL_CO_ASSIGN_OR_RETURN(std::optional<TimestampOffset> found,
                                   co_await FirstRecordAtOrAfter(segment, b, timestamp_ms));
        if (found.has_value()) co_return found;
      }
      if (failed.ok()) break;
      if (start == 0 || !failed.Is(ErrorKind::kCorruption)) co_return failed;
      start = 0;  // the index was wrong: scan the segment from its start
    }
  }
  co_return std::optional<TimestampOffset>();
}

Task<Result<std::optional<TimestampOffset>>> Log::OffsetOfMaxTimestamp() {
  RUNNEL_CO_TRY(Usable());
  std::shared_ptr<Segment> best;
  for (const std::shared_ptr<Segment>& segment : SegmentsFrom(log_start_)) {
    if (segment->empty()) continue;
    if (best == nullptr || segment->max_timestamp_ms() > best->max_timestamp_ms()) best = segment;
  }
  if (best == nullptr) co_return std::optional<TimestampOffset>();
  const Offset target = std::max(best->offset_of_max_timestamp(), log_start_);
  HeaderCursor cursor(best->log(), best->base_offset(),
                      best->offset_index().Lookup(target).position, best->size_bytes(),
                      limits_.header_read_bytes);
  while (true) {
    RUNNEL_CO_ASSIGN_OR_RETURN(std::optional<BatchInfo> b, co_await cursor.Next());
    if (!b.has_value()) break;
    if (b->last_offset < target || b->max_timestamp_ms < best->max_timestamp_ms()) continue;
    co_return co_await FirstRecordAtOrAfter(best, *b, best->max_timestamp_ms());
  }
  co_return std::optional<TimestampOffset>();
}

// --- Truncation ---------------------------------------------------------------------------

Task<Result<Offset>> Log::Truncate(Offset offset) {
  RUNNEL_CO_TRY(co_await Lock(false));
  Result<Offset> r = co_await TruncateLocked(offset);
  Unlock();
  co_return r;
}

// The truncation is written down in partition.meta before any file changes and cleared once it
// is durable: a crash, or a failed sync whose lost truncate a reopen would not see, then ends
// with recovery finishing it (log_recovery.h).
Task<Result<Offset>> Log::TruncateLocked(Offset offset) {
  RUNNEL_CO_TRY(co_await DrainWrites());
  if (offset >= log_end_) co_return log_end_;
  if (offset < log_start_) {
    co_return Status::InvalidArgument(
        fmt::format("truncate to {} below the log start {}", offset.value(), log_start_.value()));
  }
  std::shared_ptr<Segment> segment = SegmentsFrom(offset).front();
  RUNNEL_CO_ASSIGN_OR_RETURN(std::vector<BatchInfo> headers,
                             co_await ReadHeaders(*segment, segment->size_bytes()));
  uint64_t cut = segment->size_bytes();
  Offset new_end = offset;
  size_t keep = headers.size();
  for (size_t i = 0; i < headers.size(); ++i) {
    if (headers[i].last_offset >= offset) {
      cut = headers[i].position;
      new_end = std::min(offset, headers[i].base_offset);
      keep = i;
      break;
    }
  }
  const Offset old_recovery_point = recovery_point_;
  recovery_point_ = std::min(recovery_point_, segment->base_offset());
  truncate_to_ = new_end;
  if (Status s = co_await WriteMeta(false); !s.ok()) {
    recovery_point_ = old_recovery_point;
    truncate_to_.reset();
    co_return s;
  }
  // From here on a failure leaves it to recovery.
  auto fail = [this](Status s) {
    Fence(s.WithContext("truncate"));
    return s;
  };
  std::vector<std::shared_ptr<Segment>> later;
  for (auto it = segments_.upper_bound(segment->base_offset()); it != segments_.end(); ++it) {
    later.push_back(it->second);
  }
  for (auto it = later.rbegin(); it != later.rend(); ++it) {
    if (Status s = co_await RemoveSegment(*it); !s.ok()) co_return fail(s);
  }
  if (Status s = co_await segment->log().Truncate(cut); !s.ok()) co_return fail(s);
  // A failed sync fences at once (see SyncRound): the reopen finishes the truncation recorded in
  // partition.meta and writes again what it keeps below it.
  if (Status s = co_await segment->log().Sync(); !s.ok()) co_return fail(s);
  segment->ResetTo(0);
  for (size_t i = 0; i < keep; ++i) segment->Track(headers[i], config_.index_interval_bytes);
  segment->set_synced_bytes(cut);
  if (segment->closed()) {
    segment->set_closed(false);
    segment->set_index_files_durable(false);
    for (std::string_view suffix : {sf::kIndexSuffix, sf::kTimeIndexSuffix}) {
      Status s = co_await io_.fs().Remove(segment->path(suffix));
      if (!s.ok() && !s.Is(ErrorKind::kNotFound)) co_return fail(s);
    }
    dir_dirty_ = true;
  }
  log_end_ = new_end;
  flushed_ = std::min(flushed_, new_end);
  high_watermark_ = std::min(high_watermark_, new_end);
  ++truncations_;
  if (Status s = co_await PruneSnapshots(new_end); !s.ok()) co_return fail(s);
  if (dir_dirty_) {
    if (Status s = co_await io_.fs().SyncDir(dir_); !s.ok()) co_return fail(s);
    dir_dirty_ = false;
  }
  truncate_to_.reset();
  if (Status s = co_await WriteMeta(false); !s.ok()) co_return fail(s);
  if (Status s = co_await RebuildProducerState(); !s.ok()) co_return fail(s);
  co_return new_end;
}

Task<Status> Log::TruncateFullyAndStartAt(Offset offset) {
  RUNNEL_CO_TRY(co_await Lock(false));
  Status s = co_await TruncateFullyLocked(offset);
  Unlock();
  co_return s;
}

Task<Status> Log::TruncateFullyLocked(Offset offset) {
  RUNNEL_CO_TRY(co_await DrainWrites());
  if (offset.value() < 0 || offset.value() >= kOffsetMax) {
    co_return Status::InvalidArgument(fmt::format("restart at offset {}", offset.value()));
  }
  // Durable intent first: recovery drops everything at or above the truncation and below the
  // start, and restarts an empty log at the start.
  const Offset old_start = log_start_;
  const Offset old_recovery_point = recovery_point_;
  log_start_ = offset;
  recovery_point_ = std::min(recovery_point_, segments_.begin()->first);
  truncate_to_ = offset;
  if (Status s = co_await WriteMeta(false); !s.ok()) {
    log_start_ = old_start;
    recovery_point_ = old_recovery_point;
    truncate_to_.reset();
    co_return s;
  }
  auto fail = [this](Status s) {
    Fence(s.WithContext("truncate fully"));
    return s;
  };
  std::vector<std::shared_ptr<Segment>> old;
  for (const auto& [base, segment] : segments_) old.push_back(segment);
  segments_.clear();
  for (const std::shared_ptr<Segment>& segment : old) {
    if (Status s = co_await segment->RemoveFiles(io_.fs()); !s.ok()) co_return fail(s);
  }
  Result<std::shared_ptr<Segment>> fresh =
      co_await Segment::Create(io_.fs(), dir_, offset, io_.clock().Wall().unix_ms());
  if (!fresh.ok()) co_return fail(std::move(fresh).status());
  segments_.emplace(offset, *fresh);
  if (Status s = co_await PruneSnapshots(Offset(-1)); !s.ok()) co_return fail(s);
  if (Status s = co_await io_.fs().SyncDir(dir_); !s.ok()) co_return fail(s);
  dir_dirty_ = false;
  log_end_ = offset;
  flushed_ = offset;
  high_watermark_ = offset;
  recovery_point_ = offset;
  compacted_end_ = std::min(compacted_end_, offset);
  ++truncations_;
  producers_.Clear();
  producers_.RestoreNextOffset(offset);
  truncate_to_.reset();
  if (Status s = co_await WriteMeta(false); !s.ok()) co_return fail(s);
  co_return Status::Ok();
}

// --- Producer state -----------------------------------------------------------------------

Task<Status> Log::RebuildProducerState() {
  producers_ = ProducerStateTable(limits_.producers);
  for (auto it = snapshots_.rbegin(); it != snapshots_.rend(); ++it) {
    if (*it > log_end_) continue;
    Result<std::vector<std::byte>> bytes = co_await ReadFile(
        io_.fs(), sf::SegmentPath(dir_, *it, sf::kSnapshotSuffix), limits_.snapshot_bytes_max);
    if (!bytes.ok()) {
      if (bytes.status().Is(ErrorKind::kIo)) co_return std::move(bytes).status();
      ++report_.snapshots_rejected;
      continue;
    }
    Result<ProducerStateTable> table =
        ProducerStateTable::DecodeSnapshot(*bytes, limits_.producers);
    if (!table.ok() || table->next_offset() != *it) {
      ++report_.snapshots_rejected;
      continue;
    }
    producers_ = std::move(*table);
    report_.snapshot_loaded = *it;
    break;
  }
  RUNNEL_CO_TRY(co_await ReplayProducers(producers_.next_offset()));
  // A snapshot from below the log start may know producers whose later batches are gone.
  producers_.EvictBefore(log_start_);
  co_return Status::Ok();
}

Task<Status> Log::ReplayProducers(Offset from) {
  std::vector<std::byte> buffer;
  for (const std::shared_ptr<Segment>& segment : SegmentsFrom(from)) {
    RUNNEL_CO_ASSIGN_OR_RETURN(
        std::optional<uint64_t> bad,
        co_await ReplaySegment(*segment, producers_, compacted_end_, buffer,
                               limits_.header_read_bytes * 16, report_.batches_replayed));
    if (bad.has_value()) {
      co_return Status::Corruption(
          fmt::format("{}: a bad batch at position {}", segment->path(sf::kLogSuffix), *bad));
    }
  }
  co_return Status::Ok();
}

}  // namespace runnel::engine
