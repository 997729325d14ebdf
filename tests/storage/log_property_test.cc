// The log against a model, over random operation sequences (rapidcheck; failures shrink to a
// minimal sequence and print the seed to replay with RC_PARAMS="seed=N").
//
// Operations: appends (non-durable, durable, several at once, idempotent-producer batches and
// their retries), reads (verified and zero-copy regions), ListOffsets by timestamp, flush,
// checkpoint, clock advances (rolling and expiring segments), high-watermark moves, retention,
// DeleteRecords, compaction, truncation above the high watermark, clean and unclean reopen, a
// crash at a random point of any of these or of recovery itself, bit rot, EIO and ENOSPC, and
// opens whose syncs fail (after a process exit).
//
// The model is the list of batches the log acknowledged, each durable or not. After every step:
// - every record read back equals the one appended at that offset (nothing invented, nothing
//   misplaced), offsets increase, and without compaction they are dense from the log start to
//   the log end;
// - every acknowledged batch is present, except what compaction may drop (a record with a later
//   one of the same key, a tombstone older than delete.retention.ms) and what bit rot made
//   unreadable; compaction keeps offsets and never touches the active segment;
// - a corrupted batch is never returned: a read that reaches it fails (or stops before it);
// - after a crash, every durable batch survives unless a bit-rotted batch before it (or a
//   truncation in flight) explains the cut; what survives is a prefix of what was written, and
//   batches whose append never resolved may appear (whole) or not;
// - idempotent producers: the next sequence is accepted and a retry of the last batch is
//   answered with its original offsets, across crashes (snapshots + replay).
#include <gtest/gtest.h>
#include <rapidcheck.h>
#include <rapidcheck/gtest.h>

#include <algorithm>
#include <cstdlib>
#include <iostream>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "engine/log.h"
#include "tests/storage/log_test_util.h"

namespace runnel::engine {
namespace {

using testing::SimLogEnv;

constexpr char kDir[] = "/data/model-0";
constexpr int64_t kProducerId = 7;

enum class OpKind : uint8_t {
  kAppend,
  kAppendDurable,
  kAppendConcurrent,
  kAppendIdempotent,
  kRetryIdempotent,
  kRead,
  kOffsetForTimestamp,
  kFlush,
  kCheckpoint,
  kAdvanceTime,
  kAdvanceHighWatermark,
  kRetention,
  kDeleteRecords,
  kCompact,
  kTruncate,
  kReopen,
  kReopenClean,
  kCrash,
  kCrashDuring,
  kCrashDuringOpen,
  kBitRot,
  kIoErrors,
  kNoSpace,
  kSyncErrorsDuringOpen,
};

const char* OpName(OpKind k) {
  static const char* const kNames[] = {"Append",
                                       "AppendDurable",
                                       "AppendConcurrent",
                                       "AppendIdempotent",
                                       "RetryIdempotent",
                                       "Read",
                                       "OffsetForTimestamp",
                                       "Flush",
                                       "Checkpoint",
                                       "AdvanceTime",
                                       "AdvanceHighWatermark",
                                       "Retention",
                                       "DeleteRecords",
                                       "Compact",
                                       "Truncate",
                                       "Reopen",
                                       "ReopenClean",
                                       "Crash",
                                       "CrashDuring",
                                       "CrashDuringOpen",
                                       "BitRot",
                                       "IoErrors",
                                       "NoSpace",
                                       "SyncErrorsDuringOpen"};
  return kNames[static_cast<int>(k)];
}

// The operations a crash may interrupt, or faults may hit.
constexpr OpKind kInnerOps[] = {
    OpKind::kAppend,  OpKind::kAppendDurable, OpKind::kAppendConcurrent, OpKind::kAppendIdempotent,
    OpKind::kFlush,   OpKind::kCheckpoint,    OpKind::kRetention,        OpKind::kDeleteRecords,
    OpKind::kCompact, OpKind::kTruncate,      OpKind::kReopenClean};

struct Op {
  OpKind kind = OpKind::kAppend;
  uint32_t a = 0;
  uint32_t b = 0;
  uint32_t c = 0;
};

std::ostream& operator<<(std::ostream& os, const Op& op) {
  return os << OpName(op.kind) << "(" << op.a << "," << op.b << "," << op.c << ")";
}

struct Params {
  uint64_t seed = 1;
  uint32_t segment_bytes = 2048;
  CleanupPolicy policy = CleanupPolicy::kDelete;
  int64_t retention_ms = -1;
  int64_t retention_bytes = -1;
  int64_t delete_retention_ms = 0;
};

std::ostream& operator<<(std::ostream& os, const Params& p) {
  return os << "{seed " << p.seed << ", segment.bytes " << p.segment_bytes << ", "
            << CleanupPolicyName(p.policy) << ", retention.ms " << p.retention_ms
            << ", retention.bytes " << p.retention_bytes << ", delete.retention.ms "
            << p.delete_retention_ms << "}";
}

rc::Gen<Op> GenOp() {
  return rc::gen::build<Op>(rc::gen::set(&Op::kind, rc::gen::weightedElement<OpKind>({
                                                        {14, OpKind::kAppend},
                                                        {5, OpKind::kAppendDurable},
                                                        {3, OpKind::kAppendConcurrent},
                                                        {3, OpKind::kAppendIdempotent},
                                                        {1, OpKind::kRetryIdempotent},
                                                        {2, OpKind::kRead},
                                                        {1, OpKind::kOffsetForTimestamp},
                                                        {2, OpKind::kFlush},
                                                        {1, OpKind::kCheckpoint},
                                                        {2, OpKind::kAdvanceTime},
                                                        {3, OpKind::kAdvanceHighWatermark},
                                                        {2, OpKind::kRetention},
                                                        {1, OpKind::kDeleteRecords},
                                                        {3, OpKind::kCompact},
                                                        {2, OpKind::kTruncate},
                                                        {1, OpKind::kReopen},
                                                        {1, OpKind::kReopenClean},
                                                        {2, OpKind::kCrash},
                                                        {3, OpKind::kCrashDuring},
                                                        {1, OpKind::kCrashDuringOpen},
                                                        {1, OpKind::kBitRot},
                                                        {2, OpKind::kIoErrors},
                                                        {1, OpKind::kNoSpace},
                                                        {1, OpKind::kSyncErrorsDuringOpen},
                                                    })),
                            rc::gen::set(&Op::a, rc::gen::inRange<uint32_t>(0, 1u << 20)),
                            rc::gen::set(&Op::b, rc::gen::inRange<uint32_t>(0, 1u << 20)),
                            rc::gen::set(&Op::c, rc::gen::inRange<uint32_t>(0, 1u << 20)));
}

rc::Gen<Params> GenParams() {
  return rc::gen::build<Params>(
      rc::gen::set(&Params::seed, rc::gen::inRange<uint64_t>(1, 1u << 30)),
      rc::gen::set(&Params::segment_bytes, rc::gen::inRange<uint32_t>(400, 6000)),
      rc::gen::set(&Params::policy,
                   rc::gen::element(CleanupPolicy::kDelete, CleanupPolicy::kCompact,
                                    CleanupPolicy::kCompactDelete)),
      rc::gen::set(&Params::retention_ms, rc::gen::element<int64_t>(-1, 20'000, 90'000)),
      rc::gen::set(&Params::retention_bytes, rc::gen::element<int64_t>(-1, 2'000, 8'000)),
      rc::gen::set(&Params::delete_retention_ms, rc::gen::element<int64_t>(0, 5'000, 40'000)));
}

// --- The model ----------------------------------------------------------------------------

struct MRecord {
  std::optional<std::string> key;
  std::optional<std::string> value;
  int64_t timestamp_ms = 0;
  int64_t appended_ms = 0;  // wall clock at the append (tombstone expiry)
  bool operator==(const MRecord& o) const {
    return key == o.key && value == o.value && timestamp_ms == o.timestamp_ms;
  }
};

struct MBatch {
  int64_t base = 0;
  std::vector<MRecord> records;
  bool durable = false;
  bool rotten = false;
  bool idempotent = false;
  int32_t first_seq = -1;
  int64_t last() const { return base + static_cast<int64_t>(records.size()) - 1; }
};

// An append whose outcome is unknown (in flight at a crash, or failed on a fenced log): it may
// appear whole, at offsets the model learns from the log, or not at all.
struct Candidate {
  std::vector<MRecord> records;
  bool idempotent = false;
  int32_t first_seq = -1;
  std::vector<std::byte> bytes;
};

struct ProducerBatch {
  int64_t base = 0;
  int32_t first_seq = 0;
  int32_t count = 0;
  std::vector<std::byte> bytes;  // for retries
};

struct ActualBatch {
  int64_t base = 0;
  int64_t last = 0;
  std::vector<testing::StoredRecord> records;
};

// One prepared append: its bytes (kept alive while the append runs) and records.
struct Prepared {
  std::vector<std::byte> bytes;
  std::vector<MRecord> records;
  bool durable = false;
  bool idempotent = false;
  int32_t first_seq = -1;
};

template <typename T>
struct Slot {
  std::optional<T> value;
};

class LogModel {
 public:
  explicit LogModel(const Params& p) : params_(p), env_(p.seed), rng_(p.seed * 7919 + 1) {
    config_.segment_bytes = p.segment_bytes;
    config_.index_interval_bytes = 128;
    config_.cleanup_policy = p.policy;
    config_.retention_ms = p.retention_ms;
    config_.retention_bytes = p.retention_bytes;
    config_.delete_retention_ms = p.delete_retention_ms;
    config_.segment_ms = 60'000;
    log_ = OpenLog();
  }

  void Apply(const Op& op) {
    if (trace_) {
      std::cerr << "op " << op << " start " << start_ << " end " << end_ << " log ["
                << log_->log_start_offset().value() << ", " << log_->log_end_offset().value()
                << ") hw " << log_->high_watermark().value() << "\n";
    }
    if (!log_->health().ok() && op.kind != OpKind::kCrash && op.kind != OpKind::kCrashDuringOpen) {
      // A fenced log is reopened before anything else (the broker would do the same).
      Reopen(/*crash=*/false);
    }
    switch (op.kind) {
      case OpKind::kReopen:
        Reopen(false);
        break;
      case OpKind::kReopenClean:
        CloseAndReopen();
        break;
      case OpKind::kCrash:
        Reopen(true);
        break;
      case OpKind::kCrashDuring:
        CrashDuring(op);
        break;
      case OpKind::kCrashDuringOpen:
        CrashDuringOpen(op);
        break;
      case OpKind::kSyncErrorsDuringOpen:
        SyncErrorsDuringOpen(op);
        break;
      case OpKind::kBitRot:
        BitRot(op);
        break;
      case OpKind::kIoErrors: {
        sim::DiskFaults f;
        f.read_error_probability = (op.b & 1) ? 0.05 : 0;
        f.write_error_probability = (op.b & 2) ? 0.2 : 0;
        f.sync_error_probability = (op.b & 4) ? 0.3 : 0;
        env_.disk().SetFaults(f);
        faults_ = true;
        Exec(Op{kInnerOps[op.a % std::size(kInnerOps)], op.c, op.b >> 3, op.c >> 7});
        env_.disk().SetFaults({});
        faults_ = false;
        break;
      }
      case OpKind::kNoSpace: {
        env_.disk().SetCapacity(env_.disk().used_bytes() + op.b % 3000);
        faults_ = true;
        Exec(Op{kInnerOps[op.a % std::size(kInnerOps)], op.c, op.b >> 12, op.c >> 7});
        env_.disk().SetCapacity(uint64_t{1} << 40);
        faults_ = false;
        break;
      }
      default:
        Exec(op);
        break;
    }
    if (!log_->health().ok()) Reopen(false);
    Check();
  }

 private:
  // --- Operations --------------------------------------------------------------------------

  std::unique_ptr<Log> OpenLog() {
    Result<std::unique_ptr<Log>> log = env_.Run(Log::Open(env_.io(), kDir, config_));
    if (!log.ok()) RC_FAIL("open: " + log.status().ToString());
    return std::move(*log);
  }

  int64_t Now() { return env_.io().clock().Wall().unix_ms(); }

  Prepared Prepare(uint32_t shape, bool durable, bool idempotent) {
    Prepared p;
    p.durable = durable;
    const int count = 1 + static_cast<int>(shape % 5);
    const int64_t now = Now();
    const bool compacted = Compacts(config_.cleanup_policy);
    const uint32_t id = next_append_id_++;
    BatchOptions o;
    if (idempotent) {
      o.producer_id = ProducerId(kProducerId);
      o.producer_epoch = ProducerEpoch(0);
      o.base_sequence = next_seq_;
      p.idempotent = true;
      p.first_seq = next_seq_;
    }
    if ((shape >> 3) % 4 == 1) o.codec = Codec::kLz4;
    BatchBuilder builder(o);
    for (int i = 0; i < count; ++i) {
      MRecord r;
      r.key = "k" + std::to_string((shape >> 5) % 7 + static_cast<uint32_t>(i) * 3 % 11);
      if (!(compacted && (shape >> 9) % 8 == 0 && i == 0)) {
        r.value = "a" + std::to_string(id) + "-" + std::to_string(i) +
                  std::string((shape >> 12) % 40, 'x');
      }
      r.timestamp_ms = now + i;
      r.appended_ms = now;
      builder.Append(r.timestamp_ms, testing::AsNullable(r.key), testing::AsNullable(r.value));
      p.records.push_back(std::move(r));
    }
    p.bytes = builder.Build().value();
    return p;
  }

  // Applies what an append's result says to the model.
  void Resolve(const Prepared& p, const std::optional<Result<AppendResult>>& r) {
    if (!r.has_value() || !r->ok()) {
      candidates_.push_back(Candidate{p.records, p.idempotent, p.first_seq, p.bytes});
      return;
    }
    if (!(*r)->appended()) {
      // With a well-formed batch the only legitimate refusal is a duplicate of a retry.
      if ((*r)->outcome != AppendOutcome::kDuplicate) {
        RC_FAIL(std::string("append refused: ") + std::string(AppendOutcomeName((*r)->outcome)) +
                ": " + (*r)->message);
      }
      return;
    }
    const int64_t base = (*r)->base_offset.value();
    RC_ASSERT((*r)->last_offset.value() == base + static_cast<int64_t>(p.records.size()) - 1);
    RC_ASSERT(batches_.count(base) == 0);
    MBatch b;
    b.base = base;
    b.records = p.records;
    b.durable = p.durable;
    b.idempotent = p.idempotent;
    b.first_seq = p.first_seq;
    batches_[base] = b;
    end_ = std::max(end_, b.last() + 1);
    if (p.idempotent) {
      producer_history_.push_back(
          ProducerBatch{base, p.first_seq, static_cast<int32_t>(p.records.size()), p.bytes});
      std::sort(producer_history_.begin(), producer_history_.end(),
                [](const ProducerBatch& x, const ProducerBatch& y) { return x.base < y.base; });
      RecomputeSequence();
    }
  }

  void RecomputeSequence() {
    if (!producer_history_.empty()) {
      next_seq_ = producer_history_.back().first_seq + producer_history_.back().count;
    }
  }

  void MarkAllDurable() {
    for (auto& [base, b] : batches_) b.durable = true;
  }

  // Runs one operation to completion (no crash).
  void Exec(const Op& op) {
    switch (op.kind) {
      case OpKind::kAppend:
      case OpKind::kAppendDurable:
      case OpKind::kAppendIdempotent: {
        const bool durable = op.kind == OpKind::kAppendDurable || (op.c & 1);
        const bool idempotent = op.kind == OpKind::kAppendIdempotent;
        Prepared p = Prepare(op.a, durable, idempotent);
        if (idempotent) next_seq_ += static_cast<int32_t>(p.records.size());
        auto r = env_.Run(log_->Append(p.bytes, AppendOptions{.durable = durable}));
        if (idempotent && !(r.ok() && r->appended()))
          next_seq_ -= static_cast<int32_t>(p.records.size());
        Resolve(p, r);
        if (!faults_ && !(r.ok() && r->appended())) {
          RC_FAIL("append failed without a fault: " +
                  (r.ok() ? r->message : r.status().ToString()));
        }
        break;
      }
      case OpKind::kAppendConcurrent: {
        const int n = 2 + static_cast<int>(op.a % 6);
        std::vector<Prepared> ps;
        for (int i = 0; i < n; ++i)
          ps.push_back(Prepare(op.b + static_cast<uint32_t>(i) * 977, (op.c >> i) & 1, false));
        std::vector<Result<AppendResult>> rs = env_.Run(
            [](Log& log, std::vector<Prepared>& ps) -> Task<std::vector<Result<AppendResult>>> {
              std::vector<Task<Result<AppendResult>>> tasks;
              for (Prepared& p : ps)
                tasks.push_back(log.Append(p.bytes, AppendOptions{.durable = p.durable}));
              co_return co_await WhenAll(std::move(tasks));
            }(*log_, ps));
        for (int i = 0; i < n; ++i) {
          if (!faults_) RC_ASSERT((rs[i].ok() && rs[i]->appended()));
          Resolve(ps[i], std::optional<Result<AppendResult>>(std::move(rs[i])));
        }
        break;
      }
      case OpKind::kRetryIdempotent: {
        // (Rot may have hit the batch or the producer's state.)
        if (producer_history_.empty() || AnyRotten()) break;
        const ProducerBatch& last = producer_history_.back();
        if (batches_.count(last.base) == 0) break;
        {
          // Still in the log (compaction keeps it, perhaps emptied)? Rot may hide it.
          auto r = env_.Run(
              log_->Read(Offset(std::max(last.base, start_)), ReadOptions{.bytes_max = 1}));
          RC_ASSERT(r.ok());
          if (r->batches.empty() || r->batches.front().base_offset.value() != last.base) {
            RC_ASSERT(last.base < start_);
            break;
          }
        }
        std::vector<std::byte> bytes = last.bytes;
        auto r = env_.Run(log_->Append(bytes));
        if (!r.ok()) {
          RC_ASSERT(faults_);
          break;
        }
        RC_ASSERT(r->outcome == AppendOutcome::kDuplicate);
        RC_ASSERT(r->base_offset.value() == last.base);
        break;
      }
      case OpKind::kRead:
        CheckRegions(op);
        break;
      case OpKind::kOffsetForTimestamp:
        CheckTimestamps(op);
        break;
      case OpKind::kFlush:
      case OpKind::kCheckpoint: {
        Status s = env_.Run(op.kind == OpKind::kFlush ? log_->Flush() : log_->Checkpoint());
        if (s.ok()) {
          MarkAllDurable();
        } else {
          RC_ASSERT(faults_);
        }
        break;
      }
      case OpKind::kAdvanceTime:
        env_.world().RunFor(std::chrono::milliseconds(1000 + (op.a % 40) * 1000));
        break;
      case OpKind::kAdvanceHighWatermark: {
        const int64_t hw = log_->high_watermark().value();
        const int64_t to = (op.a & 1) ? end_ : hw + static_cast<int64_t>(op.b % (end_ - hw + 1));
        log_->SetHighWatermark(Offset(to));
        RC_ASSERT(log_->high_watermark().value() == to);
        break;
      }
      case OpKind::kRetention: {
        auto r = env_.Run(log_->ApplyRetention());
        if (!r.ok()) {
          RC_ASSERT(faults_);
          deletion_pending_ = true;
          if (log_->health().ok()) SetStart(log_->log_start_offset().value());
          break;
        }
        RC_ASSERT(r->log_start_offset == log_->log_start_offset());
        RC_ASSERT(r->log_start_offset.value() <= log_->high_watermark().value());
        SetStart(r->log_start_offset.value());
        break;
      }
      case OpKind::kDeleteRecords: {
        const int64_t hw = log_->high_watermark().value();
        const int64_t to = start_ + static_cast<int64_t>(op.a % (hw - start_ + 1));
        auto r = env_.Run(log_->DeleteRecords(Offset(to)));
        if (!r.ok()) {
          RC_ASSERT(faults_);
          deletion_pending_ = true;
          if (log_->health().ok()) SetStart(log_->log_start_offset().value());
          break;
        }
        RC_ASSERT(r->value() == std::max(to, start_));
        SetStart(r->value());
        break;
      }
      case OpKind::kCompact: {
        auto r = env_.Run(log_->Compact());
        if (!r.ok()) {
          // A rotten batch in a cleanable segment stops the cleaner; so do injected faults.
          RC_ASSERT((faults_ || (r.status().Is(ErrorKind::kCorruption) && AnyRotten())));
        }
        break;
      }
      case OpKind::kTruncate: {
        // Only what is above the high watermark may be truncated (replication's rule), at a
        // batch boundary.
        const int64_t hw = log_->high_watermark().value();
        std::vector<int64_t> boundaries{end_};
        for (const auto& [base, b] : batches_) {
          if (base >= hw) boundaries.push_back(base);
        }
        const int64_t to = boundaries[op.a % boundaries.size()];
        auto r = env_.Run(log_->Truncate(Offset(to)));
        if (trace_) std::cerr << "  truncate " << to << ": " << r.status().ToString() << "\n";
        if (!r.ok()) {
          RC_ASSERT((faults_ || AnyRotten()));
          truncate_pending_ = std::min(truncate_pending_.value_or(INT64_MAX), to);
          break;
        }
        RC_ASSERT(r->value() == to);
        TruncateModel(to);
        break;
      }
      case OpKind::kReopenClean:
        CloseAndReopen();
        break;
      default:
        RC_FAIL(std::string("not an inner operation: ") + OpName(op.kind));
    }
  }

  void SetStart(int64_t start) {
    RC_ASSERT(start >= start_);
    start_ = start;
    for (auto it = batches_.begin(); it != batches_.end();) {
      it = it->second.last() < start_ ? batches_.erase(it) : std::next(it);
    }
  }

  void TruncateModel(int64_t to) {
    for (auto it = batches_.begin(); it != batches_.end();) {
      it = it->second.last() >= to ? batches_.erase(it) : std::next(it);
    }
    rot_bases_.erase(rot_bases_.lower_bound(to), rot_bases_.end());
    std::erase_if(producer_history_, [to](const ProducerBatch& b) { return b.base >= to; });
    RecomputeSequence();
    end_ = to;
  }

  bool AnyRotten() const { return !rot_bases_.empty() || rot_cut_; }

  void CloseAndReopen() {
    Status s = env_.Run(log_->Close());
    if (s.ok()) {
      MarkAllDurable();
    } else {
      RC_ASSERT(faults_);
    }
    env_.disk().SetFaults({});
    env_.disk().SetCapacity(uint64_t{1} << 40);
    env_.Stop(log_);
    log_ = OpenLog();
    Reconcile(/*expect_all=*/s.ok());
    RC_ASSERT((!s.ok() || log_->recovery_report().clean_shutdown));
  }

  // A process restart keeps everything a healthy log wrote; a crash keeps what was durable.
  void Reopen(bool crash) {
    const bool expect_all = !crash && log_->health().ok();
    env_.disk().SetFaults({});
    env_.disk().SetCapacity(uint64_t{1} << 40);
    if (crash) {
      env_.Crash(log_);
    } else {
      env_.Stop(log_);
    }
    log_ = OpenLog();
    Reconcile(expect_all);
  }

  // Starts `op` as tasks on the node, runs a random number of steps, then cuts the power.
  void CrashDuring(const Op& op) {
    const OpKind inner = kInnerOps[op.a % std::size(kInnerOps)];
    const uint32_t steps = op.b % 3000;
    std::vector<Prepared> appends;
    std::vector<std::shared_ptr<Slot<Result<AppendResult>>>> append_slots;
    auto status_slot = std::make_shared<Slot<Status>>();
    auto offset_slot = std::make_shared<Slot<Result<Offset>>>();
    std::optional<int64_t> truncating;
    bool deleting = false;
    bool flushing = false;
    auto spawn_append = [&](Prepared p) { appends.push_back(std::move(p)); };
    switch (inner) {
      case OpKind::kAppend:
      case OpKind::kAppendDurable:
        spawn_append(Prepare(op.c, inner == OpKind::kAppendDurable, false));
        break;
      case OpKind::kAppendIdempotent: {
        Prepared p = Prepare(op.c, op.c & 1, true);
        next_seq_ += static_cast<int32_t>(p.records.size());
        spawn_append(std::move(p));
        break;
      }
      case OpKind::kAppendConcurrent:
        for (int i = 0; i < 2 + static_cast<int>(op.c % 5); ++i) {
          spawn_append(Prepare(op.c + static_cast<uint32_t>(i) * 131, (op.c >> i) & 1, false));
        }
        break;
      case OpKind::kFlush:
        flushing = true;
        Spawn(log_->Flush(), status_slot);
        break;
      case OpKind::kCheckpoint:
        flushing = true;
        Spawn(log_->Checkpoint(), status_slot);
        break;
      case OpKind::kReopenClean:
        flushing = true;
        Spawn(log_->Close(), status_slot);
        break;
      case OpKind::kRetention:
        deleting = true;
        Spawn([](Log& log) -> Task<Status> { co_return (co_await log.ApplyRetention()).status(); }(
                               *log_),
              status_slot);
        break;
      case OpKind::kDeleteRecords: {
        deleting = true;
        const int64_t hw = log_->high_watermark().value();
        const int64_t to = start_ + static_cast<int64_t>(op.c % (hw - start_ + 1));
        Spawn(log_->DeleteRecords(Offset(to)), offset_slot);
        break;
      }
      case OpKind::kCompact:
        Spawn([](Log& log) -> Task<Status> { co_return (co_await log.Compact()).status(); }(*log_),
              status_slot);
        break;
      case OpKind::kTruncate: {
        const int64_t hw = log_->high_watermark().value();
        std::vector<int64_t> boundaries{end_};
        for (const auto& [base, b] : batches_) {
          if (base >= hw) boundaries.push_back(base);
        }
        truncating = boundaries[op.c % boundaries.size()];
        Spawn(log_->Truncate(Offset(*truncating)), offset_slot);
        break;
      }
      default:
        break;
    }
    for (Prepared& p : appends) {
      auto slot = std::make_shared<Slot<Result<AppendResult>>>();
      append_slots.push_back(slot);
      Spawn(log_->Append(p.bytes, AppendOptions{.durable = p.durable}), slot);
    }
    auto done = [&] {
      for (auto& s : append_slots) {
        if (!s->value.has_value()) return false;
      }
      return (status_slot->value.has_value() || offset_slot->value.has_value() ||
              (!flushing && !deleting && !truncating && inner != OpKind::kCompact));
    };
    for (uint32_t i = 0; i < steps && !done(); ++i) {
      if (!env_.world().Step()) break;
    }
    // What finished before the power went counts.
    for (size_t i = 0; i < appends.size(); ++i) Resolve(appends[i], append_slots[i]->value);
    if (flushing && status_slot->value.has_value() && status_slot->value->ok()) MarkAllDurable();
    if (truncating.has_value()) {
      if (offset_slot->value.has_value() && offset_slot->value->ok()) {
        TruncateModel(*truncating);
      } else {
        truncate_pending_ = std::min(truncate_pending_.value_or(INT64_MAX), *truncating);
      }
    }
    if (deleting) deletion_pending_ = true;
    Reopen(/*crash=*/true);
  }

  void CrashDuringOpen(const Op& op) {
    env_.Crash(log_);
    auto slot = std::make_shared<Slot<Result<std::unique_ptr<Log>>>>();
    Spawn(Log::Open(env_.io(), kDir, config_), slot);
    const uint32_t steps = op.a % 2000;
    for (uint32_t i = 0; i < steps && !slot->value.has_value(); ++i) {
      if (!env_.world().Step()) break;
    }
    env_.world().CrashNode(env_.node());
    slot.reset();  // a log that finished opening dies with the process
    env_.world().StartNode(env_.node());
    log_ = OpenLog();
    Reconcile(false);
  }

  // The process exits; the next one or two opens fail because every sync fails (which loses the
  // files' unsynced writes for good, though they stay readable); then one succeeds. Reconcile
  // takes what it serves as durable, so a later crash checks that it is (issue 5).
  void SyncErrorsDuringOpen(const Op& op) {
    const bool expect_all = log_->health().ok();
    env_.disk().SetFaults({});
    env_.disk().SetCapacity(uint64_t{1} << 40);
    env_.Stop(log_);
    for (uint32_t i = 0; i <= op.a % 2; ++i) {
      env_.disk().SetFaults(sim::DiskFaults{.sync_error_probability = 1});
      Result<std::unique_ptr<Log>> failed = env_.Run(Log::Open(env_.io(), kDir, config_));
      env_.disk().SetFaults({});
      RC_ASSERT(!failed.ok());  // every open syncs at least its active segment
      RC_ASSERT(failed.status().Is(ErrorKind::kIo));
    }
    log_ = OpenLog();
    Reconcile(expect_all);
  }

  template <typename T>
  void Spawn(Task<T> task, std::shared_ptr<Slot<T>> slot) {
    env_.world().Spawn(env_.node(), 0, [](Task<T> t, std::shared_ptr<Slot<T>> s) -> Task<void> {
      s->value.emplace(co_await std::move(t));
    }(std::move(task), std::move(slot)));
  }

  void BitRot(const Op& op) {
    std::vector<MBatch*> live;
    for (auto& [base, b] : batches_) {
      if (!b.rotten && b.last() >= start_) live.push_back(&b);
    }
    if (live.empty()) return;
    MBatch& victim = *live[op.a % live.size()];
    auto r =
        env_.Run(log_->Read(Offset(std::max(victim.base, start_)), ReadOptions{.bytes_max = 1}));
    if (!r.ok() || r->batches.empty()) return;  // behind earlier rot
    const BatchInfo& info = r->batches.front();
    if (info.base_offset.value() != victim.base) return;  // compacted away
    // baseOffset is outside the CRC; only the dense (uncompacted) log can catch a flip there.
    // partitionLeaderEpoch (bytes 12-15) is outside the CRC and unchecked, as in Kafka.
    const uint32_t from = Compacts(config_.cleanup_policy) ? 8 : 0;
    uint32_t at = from + op.b % (info.size_bytes - from);
    if (at >= 12 && at < 16) at = 16;
    const std::string path = r->regions.front().segment->path(".log");
    RC_ASSERT(env_.disk().InjectBitRot(path, info.position + at, static_cast<int>(op.c % 8)).ok());
    victim.rotten = true;
    rot_bases_.insert(victim.base);
  }

  // --- Checks ------------------------------------------------------------------------------

  // After a reopen: the log must be a prefix of the model that keeps every durable batch
  // (unless rot or a truncation in flight explains the cut), plus perhaps in-flight appends.
  void Reconcile(bool expect_all) {
    const int64_t start = log_->log_start_offset().value();
    const int64_t end = log_->log_end_offset().value();
    if (trace_) {
      const RecoveryReport& r = log_->recovery_report();
      std::cerr << "  reopened [" << start << ", " << end << ") clean " << r.clean_shutdown
                << " trusted " << r.segments_trusted << " scanned " << r.segments_scanned
                << " cut: " << r.truncation_reason << " meta: " << r.meta_problem << " snapshot "
                << (r.snapshot_loaded ? r.snapshot_loaded->value() : -1) << " replayed "
                << r.batches_replayed << "\n";
    }
    RC_ASSERT(start >= start_);
    if (!deletion_pending_ && start != start_) {
      RC_FAIL("log start moved from " + std::to_string(start_) + " to " + std::to_string(start));
    }
    SetStart(start);
    int64_t durable_end = start_;
    for (const auto& [base, b] : batches_) {
      if (b.durable || expect_all) durable_end = std::max(durable_end, b.last() + 1);
    }
    if (end < durable_end) {
      bool explained =
          truncate_pending_.has_value() && end >= std::min(*truncate_pending_, durable_end);
      // Recovery cut the log at a rotten batch (and, below the start, restarted it there). In a
      // compacted log the cut is where the last batch before it ended, maybe before gaps.
      if (rot_bases_.count(end) > 0) explained = true;
      if (Compacts(config_.cleanup_policy) && rot_bases_.lower_bound(end) != rot_bases_.end()) {
        explained = true;
      }
      if (end == start && !rot_bases_.empty() && *rot_bases_.begin() <= start) explained = true;
      if (!explained) {
        RC_FAIL("durable batches lost: log end " + std::to_string(end) + ", durable end " +
                std::to_string(durable_end));
      }
      rot_cut_ = true;
    }
    for (const auto& [base, b] : batches_) {
      // (A log cut below its start restarts empty at the start, which may fall inside a batch.)
      if (base < end && b.last() >= end && end != start) {
        RC_FAIL("log end " + std::to_string(end) + " inside the batch at " + std::to_string(base));
      }
    }
    for (auto it = batches_.begin(); it != batches_.end();) {
      // An empty log (perhaps restarted at its start) keeps nothing.
      it = it->first >= end || end == start ? batches_.erase(it) : std::next(it);
    }
    rot_bases_.erase(rot_bases_.lower_bound(end), rot_bases_.end());
    std::erase_if(producer_history_, [end](const ProducerBatch& b) { return b.base >= end; });
    end_ = std::max(end, start_);
    truncate_pending_.reset();
    deletion_pending_ = false;
    // Recovery syncs what it accepted.
    MarkAllDurable();
    // Producer state: whatever survived decides the next sequence.
    RecomputeSequence();
  }

  // Reads the whole log through verified reads.
  std::vector<ActualBatch> ReadActual(std::vector<int64_t>& unreadable) {
    std::vector<ActualBatch> out;
    int64_t at = start_;
    const int64_t end = log_->log_end_offset().value();
    while (at < end) {
      auto r = env_.Run(log_->Read(
          Offset(at), ReadOptions{.bytes_max = 256 + rng_.Uniform(8192), .verify = true}));
      // Nothing before the end: a rotten header may make its batch look as if it ended past
      // the log end. Without rot the checks after the reads find what is missing.
      if (r.ok() && r->batches.empty() && !AnyRotten()) break;
      if (!r.ok() || r->batches.empty()) {
        RC_ASSERT((r.ok() || r.status().Is(ErrorKind::kCorruption)));
        unreadable.push_back(at);
        if (trace_) {
          std::cerr << "  unreadable at " << at << ": "
                    << (r.ok() ? "nothing returned" : r.status().ToString()) << "\n";
        }
        // Skip to the next batch the model knows after `at`. Past the last one, a failed append
        // the reopen kept (a candidate) may follow: probe offset by offset up to the log end.
        auto it = batches_.upper_bound(at);
        at = it == batches_.end() ? at + 1 : it->first;
        continue;
      }
      size_t pos = 0;
      for (const BatchInfo& info : r->batches) {
        if (trace_) {
          std::cerr << "  read at " << at << ": batch [" << info.base_offset.value() << ", "
                    << info.last_offset.value() << "] at " << info.position << "\n";
        }
        ActualBatch a;
        a.base = info.base_offset.value();
        a.last = info.last_offset.value();
        a.records = testing::DecodeRecords(Bytes(r->data).subspan(pos, info.size_bytes));
        pos += info.size_bytes;
        out.push_back(std::move(a));
      }
      RC_ASSERT(r->next_offset.value() > at);
      at = r->next_offset.value();
    }
    return out;
  }

  void Check() {
    RC_ASSERT(log_->health().ok());
    RC_ASSERT(log_->log_start_offset().value() == start_);
    RC_ASSERT(log_->log_start_offset() <= log_->high_watermark());
    RC_ASSERT(log_->high_watermark() <= log_->log_end_offset());
    std::vector<int64_t> unreadable;
    const std::vector<ActualBatch> actual = ReadActual(unreadable);
    const bool compacted = Compacts(config_.cleanup_policy);
    const int64_t now = Now();
    // Each key's latest offset in the model (for what compaction may drop).
    std::map<std::string, int64_t> latest;
    for (const auto& [base, b] : batches_) {
      for (size_t i = 0; i < b.records.size(); ++i) {
        if (b.records[i].key) latest[*b.records[i].key] = base + static_cast<int64_t>(i);
      }
    }
    auto droppable = [&](const MRecord& r, int64_t offset) {
      if (!compacted) return false;
      // After rot cut the log, the record that made this one obsolete may be the one lost.
      if (rot_cut_) return true;
      if (!r.key.has_value()) return true;
      if (latest[*r.key] != offset) return true;
      return !r.value.has_value() && now - r.appended_ms >= config_.delete_retention_ms;
    };
    const int64_t active_base = log_->segment_bases().back().value();
    int64_t previous_last = INT64_MIN;
    std::set<int64_t> seen;
    for (const ActualBatch& a : actual) {
      RC_ASSERT(a.base > previous_last);
      RC_ASSERT(a.last >= start_);
      RC_ASSERT(a.last < log_->log_end_offset().value());
      previous_last = a.last;
      auto it = batches_.find(a.base);
      if (it == batches_.end()) {
        // Only an append whose outcome was unknown may show up unannounced, and whole.
        auto c = std::find_if(candidates_.begin(), candidates_.end(), [&](const Candidate& c) {
          if (static_cast<int64_t>(c.records.size()) != a.last - a.base + 1) return false;
          if (a.records.size() != c.records.size()) return false;
          for (size_t i = 0; i < c.records.size(); ++i) {
            const auto& s = a.records[i];
            if (s.offset != a.base + static_cast<int64_t>(i) || s.key != c.records[i].key ||
                s.value != c.records[i].value || s.timestamp_ms != c.records[i].timestamp_ms) {
              return false;
            }
          }
          return true;
        });
        if (c == candidates_.end()) {
          std::ostringstream os;
          os << "a batch nobody appended at offset " << a.base;
          for (const auto& s : a.records) os << " " << s;
          RC_FAIL(os.str());
        }
        MBatch b;
        b.base = a.base;
        b.records = c->records;
        b.durable = true;
        b.idempotent = c->idempotent;
        b.first_seq = c->first_seq;
        if (c->idempotent) {
          producer_history_.push_back(ProducerBatch{
              a.base, c->first_seq, static_cast<int32_t>(c->records.size()), c->bytes});
          std::sort(producer_history_.begin(), producer_history_.end(),
                    [](const ProducerBatch& x, const ProducerBatch& y) { return x.base < y.base; });
          RecomputeSequence();
        }
        candidates_.erase(c);
        it = batches_.emplace(a.base, std::move(b)).first;
        end_ = std::max(end_, a.last + 1);
      }
      const MBatch& m = it->second;
      RC_ASSERT(a.last == m.last());
      seen.insert(a.base);
      size_t next = 0;
      for (const testing::StoredRecord& s : a.records) {
        RC_ASSERT((s.offset >= m.base && s.offset <= m.last()));
        const size_t index = static_cast<size_t>(s.offset - m.base);
        RC_ASSERT(index >= next);
        for (size_t skipped = next; skipped < index; ++skipped) {
          const int64_t offset = m.base + static_cast<int64_t>(skipped);
          if (offset >= start_ && !droppable(m.records[skipped], offset)) {
            RC_FAIL("record " + std::to_string(offset) +
                    " dropped though it is the latest of its key");
          }
        }
        next = index + 1;
        const MRecord& want = m.records[index];
        RC_ASSERT(s.key == want.key);
        RC_ASSERT(s.value == want.value);
        RC_ASSERT(s.timestamp_ms == want.timestamp_ms);
      }
      for (size_t skipped = next; skipped < m.records.size(); ++skipped) {
        const int64_t offset = m.base + static_cast<int64_t>(skipped);
        if (offset >= start_ && !droppable(m.records[skipped], offset)) {
          RC_FAIL("record " + std::to_string(offset) +
                  " dropped though it is the latest of its key");
        }
      }
      // Compaction never touches the active segment (unless a cut made a compacted segment the
      // last one).
      if (a.base >= active_base && !rot_cut_) RC_ASSERT((a.records.size() == m.records.size()));
    }
    // Unresolved appends the log did not keep are gone for good, unless rot hid part of the log
    // from the reads (a reopen may have kept one behind it: it is checked once readable).
    if (unreadable.empty()) candidates_.clear();
    RC_ASSERT(log_->log_end_offset().value() == end_);
    // Batches the reads did not return: unreadable behind rot, or dropped whole by compaction.
    int64_t expected_next = start_;
    for (const auto& [base, b] : batches_) {
      if (!compacted) {
        // Dense: every batch starts where the previous ended.
        RC_ASSERT(base <= expected_next);
        expected_next = b.last() + 1;
      }
      if (seen.count(base) > 0 || b.last() < start_) continue;
      const bool rot_before = !rot_bases_.empty() && *rot_bases_.begin() <= base;
      if (rot_before) continue;
      RC_ASSERT((base < active_base || rot_cut_));
      for (size_t i = 0; i < b.records.size(); ++i) {
        const int64_t offset = base + static_cast<int64_t>(i);
        if (offset >= start_ && !droppable(b.records[i], offset)) {
          RC_FAIL("batch at " + std::to_string(base) + " is missing");
        }
      }
    }
    if (!compacted && !batches_.empty()) RC_ASSERT((expected_next == end_));
    // The producer accepts its next sequence: checked by the next idempotent append.
  }

  void CheckRegions(const Op& op) {
    if (end_ == start_) return;
    const int64_t at = start_ + static_cast<int64_t>(op.a % (end_ - start_));
    const uint64_t bytes_max = 1 + op.b % 10000;
    auto plain =
        env_.Run(log_->Read(Offset(at), ReadOptions{.bytes_max = bytes_max, .load_bytes = true}));
    RC_ASSERT((plain.ok() || AnyRotten()));
    if (!plain.ok()) return;
    uint64_t total = 0;
    std::vector<std::byte> via_regions;
    for (const FileRegion& region : plain->regions) {
      std::vector<std::byte> bytes(region.length);
      RC_ASSERT(env_.Run(ReadExactly(*region.file, region.position, bytes)).ok());
      via_regions.insert(via_regions.end(), bytes.begin(), bytes.end());
      total += region.length;
    }
    RC_ASSERT(total == plain->bytes);
    RC_ASSERT(via_regions == plain->data);
    if (!plain->batches.empty()) {
      RC_ASSERT(
          (plain->batches.front().base_offset.value() <= at || Compacts(config_.cleanup_policy)));
      RC_ASSERT(plain->batches.front().last_offset.value() >= at);
      RC_ASSERT((plain->bytes <= bytes_max || plain->batches.size() == 1));
    }
  }

  void CheckTimestamps(const Op& op) {
    if (AnyRotten() || end_ == start_) return;
    std::vector<int64_t> unreadable;
    const std::vector<ActualBatch> actual = ReadActual(unreadable);
    std::vector<testing::StoredRecord> records;
    for (const ActualBatch& a : actual) {
      for (const auto& r : a.records) {
        if (r.offset >= start_) records.push_back(r);
      }
    }
    if (records.empty()) return;
    int64_t lo = INT64_MAX;
    int64_t hi = INT64_MIN;
    for (const auto& r : records) {
      lo = std::min(lo, r.timestamp_ms);
      hi = std::max(hi, r.timestamp_ms);
    }
    const int64_t t = lo - 1 + static_cast<int64_t>(op.a % static_cast<uint32_t>(hi - lo + 3));
    std::optional<int64_t> want;
    for (const auto& r : records) {
      if (r.timestamp_ms >= t) {
        want = r.offset;
        break;
      }
    }
    auto got = env_.Run(log_->OffsetForTimestamp(t));
    RC_ASSERT(got.ok());
    RC_ASSERT(got->has_value() == want.has_value());
    if (want.has_value()) RC_ASSERT((*got)->offset.value() == *want);
  }

  const Params params_;
  const bool trace_ = std::getenv("RUNNEL_LOG_MODEL_TRACE") != nullptr;
  LogConfig config_;
  SimLogEnv env_;
  Rng rng_;
  std::unique_ptr<Log> log_;
  bool faults_ = false;
  uint32_t next_append_id_ = 0;

  std::map<int64_t, MBatch> batches_;
  int64_t start_ = 0;
  int64_t end_ = 0;
  std::vector<Candidate> candidates_;
  std::optional<int64_t> truncate_pending_;
  bool deletion_pending_ = false;
  bool rot_cut_ = false;
  // Batches a bit flipped in that may still be on disk (also below the log start).
  std::set<int64_t> rot_bases_;
  std::vector<ProducerBatch> producer_history_;
  int32_t next_seq_ = 0;
};

RC_GTEST_PROP(LogPropertyTest, LogEqualsTheModel, ()) {
  const Params params = *GenParams();
  const std::vector<Op> ops = *rc::gen::container<std::vector<Op>>(GenOp());
  RC_TAG(CleanupPolicyName(params.policy));
  LogModel model(params);
  for (const Op& op : ops) model.Apply(op);
}

}  // namespace
}  // namespace runnel::engine
