// Producer state: Kafka's idempotence rules one by one, snapshots, replay, expiry, and a
// property against a model that keeps every accepted batch.
#include "engine/producer_state.h"

#include <gtest/gtest.h>
#include <rapidcheck/gtest.h>

#include <map>
#include <vector>

#include "engine/batch_builder.h"
#include "engine/varint.h"
#include "tests/storage/storage_test_util.h"

namespace runnel::engine {
namespace {

ProducerBatchInfo Batch(int64_t pid, int16_t epoch, int32_t seq, int32_t records = 1,
                        int64_t timestamp_ms = 0) {
  ProducerBatchInfo b;
  b.producer_id = ProducerId(pid);
  b.producer_epoch = ProducerEpoch(epoch);
  b.base_sequence = seq;
  b.last_offset_delta = records - 1;
  b.max_timestamp_ms = timestamp_ms;
  return b;
}

class ProducerStateTest : public ::testing::Test {
 protected:
  // Checks and, when accepted, records at the log end.
  ProducerCheck Append(const ProducerBatchInfo& b) {
    Result<ProducerCheck> c = table_.CheckAndRecord(b, log_end_);
    EXPECT_TRUE(c.ok()) << c.status().ToString();
    if (c->ok()) {
      accepted_.push_back({b, log_end_});
      log_end_ = Offset(log_end_.value() + b.last_offset_delta + 1);
    }
    return *c;
  }
  ProducerVerdict Verdict(const ProducerBatchInfo& b) { return Append(b).verdict; }

  ProducerStateTable table_;
  Offset log_end_{0};
  std::vector<std::pair<ProducerBatchInfo, Offset>> accepted_;
};

TEST_F(ProducerStateTest, NonIdempotentBatchesAlwaysPass) {
  ProducerBatchInfo b;  // producer id -1
  b.last_offset_delta = 4;
  EXPECT_EQ(Verdict(b), ProducerVerdict::kOk);
  EXPECT_EQ(Verdict(b), ProducerVerdict::kOk);
  EXPECT_EQ(table_.size(), 0u);
  EXPECT_EQ(table_.next_offset(), Offset(10));
}

TEST_F(ProducerStateTest, InOrderSequencesAreAccepted) {
  EXPECT_EQ(Verdict(Batch(1, 0, 0, 3)), ProducerVerdict::kOk);
  EXPECT_EQ(Verdict(Batch(1, 0, 3, 2)), ProducerVerdict::kOk);
  EXPECT_EQ(Verdict(Batch(1, 0, 5, 1)), ProducerVerdict::kOk);
  const ProducerEntry* e = table_.Find(ProducerId(1));
  ASSERT_NE(e, nullptr);
  EXPECT_EQ(e->batch_count, 3);
  EXPECT_EQ(e->last_batch()->last_sequence, 5);
  EXPECT_EQ(e->last_batch()->first_offset, Offset(5));
  EXPECT_EQ(e->last_batch()->last_offset, Offset(5));
}

TEST_F(ProducerStateTest, GapsAndRepeatsAreOutOfOrder) {
  ASSERT_EQ(Verdict(Batch(1, 0, 0, 3)), ProducerVerdict::kOk);
  EXPECT_EQ(Verdict(Batch(1, 0, 4, 1)), ProducerVerdict::kOutOfOrderSequence);  // gap
  EXPECT_EQ(Verdict(Batch(1, 0, 2, 1)), ProducerVerdict::kOutOfOrderSequence);  // overlaps
  EXPECT_EQ(Verdict(Batch(1, 0, 0, 2)), ProducerVerdict::kOutOfOrderSequence);  // not exact
  const ProducerCheck c = Append(Batch(1, 0, 9, 1));
  EXPECT_NE(c.message.find("does not follow 2"), std::string::npos) << c.message;
}

TEST_F(ProducerStateTest, RetriesOfTheLastFiveBatchesAreDuplicates) {
  for (int i = 0; i < 7; ++i) ASSERT_EQ(Verdict(Batch(1, 0, i * 2, 2)), ProducerVerdict::kOk);
  // Batches 2..6 are retained; each retry is answered with its original offsets.
  for (int i = 2; i < 7; ++i) {
    const ProducerCheck c = Append(Batch(1, 0, i * 2, 2));
    ASSERT_EQ(c.verdict, ProducerVerdict::kDuplicate) << i;
    ASSERT_TRUE(c.duplicate_of.has_value());
    EXPECT_EQ(c.duplicate_of->first_offset, Offset(i * 2));
    EXPECT_EQ(c.duplicate_of->last_offset, Offset(i * 2 + 1));
  }
  // Older ones have been forgotten: out of order, as in Kafka.
  EXPECT_EQ(Verdict(Batch(1, 0, 2, 2)), ProducerVerdict::kOutOfOrderSequence);
  EXPECT_EQ(Verdict(Batch(1, 0, 0, 2)), ProducerVerdict::kOutOfOrderSequence);
  // A duplicate did not change state: the next in-order batch still fits.
  EXPECT_EQ(Verdict(Batch(1, 0, 14, 1)), ProducerVerdict::kOk);
  EXPECT_EQ(log_end_, Offset(15));
}

TEST_F(ProducerStateTest, EpochRules) {
  ASSERT_EQ(Verdict(Batch(1, 5, 0, 3)), ProducerVerdict::kOk);
  EXPECT_EQ(Verdict(Batch(1, 4, 3, 1)), ProducerVerdict::kInvalidProducerEpoch);
  EXPECT_EQ(Verdict(Batch(1, 4, 0, 3)), ProducerVerdict::kInvalidProducerEpoch);
  // A new epoch must start at sequence 0 ...
  EXPECT_EQ(Verdict(Batch(1, 6, 3, 1)), ProducerVerdict::kOutOfOrderSequence);
  EXPECT_EQ(Verdict(Batch(1, 6, 0, 1)), ProducerVerdict::kOk);
  // ... and forgets the old epoch's batches.
  EXPECT_EQ(table_.Find(ProducerId(1))->batch_count, 1);
  EXPECT_EQ(Verdict(Batch(1, 5, 0, 3)), ProducerVerdict::kInvalidProducerEpoch);
  EXPECT_EQ(Verdict(Batch(1, 6, 1, 1)), ProducerVerdict::kOk);
}

TEST_F(ProducerStateTest, UnknownProducersMayStartAnywhere) {
  // Kafka >= 2.5 (KIP-360): no state, no sequence check (state may have been removed by
  // retention); the next batch must then follow.
  EXPECT_EQ(Verdict(Batch(9, 2, 1234, 2)), ProducerVerdict::kOk);
  EXPECT_EQ(Verdict(Batch(9, 2, 1237, 1)), ProducerVerdict::kOutOfOrderSequence);
  EXPECT_EQ(Verdict(Batch(9, 2, 1236, 1)), ProducerVerdict::kOk);
}

TEST_F(ProducerStateTest, SequencesWrapAtInt32Max) {
  ASSERT_EQ(Verdict(Batch(1, 0, INT32_MAX - 1, 3)), ProducerVerdict::kOk);  // ..MAX-1, MAX, 0
  EXPECT_EQ(table_.Find(ProducerId(1))->last_batch()->last_sequence, 0);
  EXPECT_EQ(Verdict(Batch(1, 0, 1, 1)), ProducerVerdict::kOk);
  ASSERT_EQ(Verdict(Batch(2, 0, INT32_MAX, 1)), ProducerVerdict::kOk);
  EXPECT_EQ(Verdict(Batch(2, 0, 1, 1)), ProducerVerdict::kOutOfOrderSequence);
  EXPECT_EQ(Verdict(Batch(2, 0, 0, 1)), ProducerVerdict::kOk);
  // The wrapped batch is still recognised as a duplicate.
  EXPECT_EQ(Verdict(Batch(1, 0, INT32_MAX - 1, 3)), ProducerVerdict::kDuplicate);
}

TEST_F(ProducerStateTest, Transactions) {
  ProducerBatchInfo t = Batch(1, 0, 0, 2);
  t.transactional = true;
  ASSERT_EQ(Verdict(t), ProducerVerdict::kOk);
  EXPECT_EQ(table_.Find(ProducerId(1))->txn_first_offset, Offset(0));
  t.base_sequence = 2;
  ASSERT_EQ(Verdict(t), ProducerVerdict::kOk);
  EXPECT_EQ(table_.Find(ProducerId(1))->txn_first_offset, Offset(0));
  EXPECT_EQ(Verdict(Batch(1, 0, 4, 1)), ProducerVerdict::kInvalidTxnState);
  // The coordinator's commit marker (a control batch, no sequence) closes it.
  ProducerBatchInfo marker = Batch(1, 0, kNoSequence, 1);
  marker.control = true;
  ASSERT_EQ(Verdict(marker), ProducerVerdict::kOk);
  EXPECT_FALSE(table_.Find(ProducerId(1))->txn_first_offset.has_value());
  EXPECT_EQ(Verdict(Batch(1, 0, 4, 1)), ProducerVerdict::kOk);
  // A marker from an older epoch is fenced.
  marker.producer_epoch = ProducerEpoch(-1);
  EXPECT_EQ(Verdict(marker), ProducerVerdict::kInvalidProducerEpoch);
}

TEST_F(ProducerStateTest, ProducersMaxIsALimit) {
  ProducerStateTable small(ProducerStateLimits{.producers_max = 2});
  ASSERT_TRUE(small.CheckAndRecord(Batch(1, 0, 0), Offset(0)).ok());
  ASSERT_TRUE(small.CheckAndRecord(Batch(2, 0, 0), Offset(1)).ok());
  EXPECT_TRUE(small.CheckAndRecord(Batch(3, 0, 0), Offset(2)).status().Is(ErrorKind::kLimit));
  EXPECT_TRUE(small.CheckAndRecord(Batch(1, 0, 1), Offset(2)).ok());  // known producers still fine
  EXPECT_EQ(small.size(), 2u);
}

TEST_F(ProducerStateTest, ExpiryKeepsOpenTransactions) {
  ASSERT_EQ(Verdict(Batch(1, 0, 0, 1, 1000)), ProducerVerdict::kOk);
  ProducerBatchInfo t = Batch(2, 0, 0, 1, 1000);
  t.transactional = true;
  ASSERT_EQ(Verdict(t), ProducerVerdict::kOk);
  ASSERT_EQ(Verdict(Batch(3, 0, 0, 1, 5000)), ProducerVerdict::kOk);
  EXPECT_EQ(table_.RemoveExpired(/*now_ms=*/5999, /*expiration_ms=*/5000), 0u);
  EXPECT_EQ(table_.RemoveExpired(6000, 5000), 1u);  // producer 1 only
  EXPECT_EQ(table_.Find(ProducerId(1)), nullptr);
  EXPECT_NE(table_.Find(ProducerId(2)), nullptr);
  EXPECT_NE(table_.Find(ProducerId(3)), nullptr);
}

TEST_F(ProducerStateTest, SnapshotRoundTripAndReplayEquivalence) {
  for (int i = 0; i < 8; ++i) Append(Batch(1, 0, i * 3, 3, 100 + i));
  Append(Batch(2, 7, 100, 1, 50));
  ProducerBatchInfo t = Batch(3, 1, 0, 2, 60);
  t.transactional = true;
  Append(t);
  const std::vector<std::byte> snap = table_.EncodeSnapshot();
  Result<ProducerStateTable> decoded = ProducerStateTable::DecodeSnapshot(snap);
  ASSERT_TRUE(decoded.ok()) << decoded.status().ToString();
  EXPECT_TRUE(*decoded == table_);
  EXPECT_EQ(decoded->EncodeSnapshot(), snap);
  // Rebuilding by replaying the accepted batches in order gives the same table.
  ProducerStateTable replayed;
  for (const auto& [b, offset] : accepted_) ASSERT_TRUE(replayed.Replay(b, offset).ok());
  EXPECT_TRUE(replayed == table_);
  // Replay out of order is corruption.
  EXPECT_TRUE(replayed.Replay(Batch(1, 0, 0), Offset(0)).Is(ErrorKind::kCorruption));
}

TEST_F(ProducerStateTest, ReplayFromBatchBytes) {
  // Real batches in a "log": replaying their views matches the live table.
  std::vector<std::vector<std::byte>> log;
  for (int i = 0; i < 6; ++i) {
    BatchOptions o;
    o.base_offset = log_end_;
    o.producer_id = ProducerId(40 + i % 2);
    o.producer_epoch = ProducerEpoch(0);
    o.base_sequence = (i / 2) * 2;
    BatchBuilder b(o);
    b.Append(10 * i, std::nullopt, testing::ToBytes("a"));
    b.Append(10 * i + 1, std::nullopt, testing::ToBytes("b"));
    log.push_back(b.Build().value());
    Result<RecordBatchView> v = RecordBatchView::Parse(log.back());
    ASSERT_TRUE(v.ok());
    ASSERT_EQ(Verdict(ProducerBatchInfo::From(*v)), ProducerVerdict::kOk);
  }
  ProducerStateTable replayed;
  for (const auto& bytes : log) {
    ASSERT_TRUE(replayed.Replay(RecordBatchView::Parse(bytes).value()).ok());
  }
  EXPECT_TRUE(replayed == table_);
  EXPECT_EQ(replayed.next_offset(), Offset(12));
}

TEST_F(ProducerStateTest, SnapshotCorruptionIsDetected) {
  for (int i = 0; i < 3; ++i) Append(Batch(i + 1, 0, 0, 2));
  const std::vector<std::byte> snap = table_.EncodeSnapshot();
  // Every single bit flip.
  for (size_t bit = 0; bit < snap.size() * 8; ++bit) {
    std::vector<std::byte> bad = snap;
    bad[bit / 8] ^= std::byte{1} << (bit % 8);
    Result<ProducerStateTable> d = ProducerStateTable::DecodeSnapshot(bad);
    ASSERT_FALSE(d.ok()) << "bit " << bit;
  }
  // Every truncation.
  for (size_t n = 0; n < snap.size(); ++n) {
    ASSERT_FALSE(ProducerStateTable::DecodeSnapshot(std::span(snap).first(n)).ok()) << n;
  }
  // A future version is unsupported rather than corrupt (CRC still valid: it does not cover it).
  std::vector<std::byte> future = snap;
  StoreBe16(future.data() + 4, 2);
  EXPECT_TRUE(ProducerStateTable::DecodeSnapshot(future).status().Is(ErrorKind::kUnsupported));
  // More producers than this table may hold.
  EXPECT_TRUE(ProducerStateTable::DecodeSnapshot(snap, ProducerStateLimits{.producers_max = 2})
                  .status()
                  .Is(ErrorKind::kLimit));
}

// ---- property: the table against a model ------------------------------------------------------
//
// The model keeps every batch accepted in the producer's current epoch (unbounded) and applies
// the rules as stated in producer_state.h; a retry is a duplicate iff it exactly matches one of
// the last five accepted batches.
struct ModelProducer {
  int16_t epoch = -1;
  std::vector<std::pair<int32_t, int32_t>> seqs;  // (first, last) in the current epoch
  std::vector<int64_t> first_offsets;
};

ProducerVerdict ModelCheck(const std::map<int64_t, ModelProducer>& model,
                           const ProducerBatchInfo& b, std::optional<int64_t>* dup_offset) {
  auto it = model.find(b.producer_id.value());
  const ModelProducer empty;
  const ModelProducer& p = it == model.end() ? empty : it->second;
  const int32_t last_seq = SequenceAdd(b.base_sequence, b.last_offset_delta);
  if (b.producer_epoch.value() == p.epoch) {
    const size_t n = p.seqs.size();
    for (size_t i = n > 5 ? n - 5 : 0; i < n; ++i) {
      if (p.seqs[i] == std::make_pair(b.base_sequence, last_seq)) {
        *dup_offset = p.first_offsets[i];
        return ProducerVerdict::kDuplicate;
      }
    }
  }
  if (b.producer_epoch.value() < p.epoch) return ProducerVerdict::kInvalidProducerEpoch;
  if (p.epoch == -1) return ProducerVerdict::kOk;
  if (b.producer_epoch.value() > p.epoch) {
    return b.base_sequence == 0 ? ProducerVerdict::kOk : ProducerVerdict::kOutOfOrderSequence;
  }
  const int32_t expected = p.seqs.empty() ? 0 : SequenceAdd(p.seqs.back().second, 1);
  return b.base_sequence == expected ? ProducerVerdict::kOk : ProducerVerdict::kOutOfOrderSequence;
}

RC_GTEST_PROP(ProducerStateProperty, MatchesTheModel, ()) {
  ProducerStateTable table;
  std::map<int64_t, ModelProducer> model;
  std::vector<std::pair<ProducerBatchInfo, Offset>> log;
  int64_t log_end = 0;
  const int steps = *rc::gen::inRange(1, 120);
  for (int step = 0; step < steps; ++step) {
    const int64_t pid = *rc::gen::inRange<int64_t>(0, 3);
    const ModelProducer& p = model[pid];
    const int16_t epoch = static_cast<int16_t>(
        std::max<int>(0, p.epoch + *rc::gen::weightedElement<int>({{8, 0}, {1, 1}, {1, -1}})));
    const int32_t next = p.seqs.empty() ? 0 : SequenceAdd(p.seqs.back().second, 1);
    // Mostly the next sequence; sometimes a retry, a gap, zero, or a value near the wrap.
    int32_t seq = next;
    switch (*rc::gen::weightedElement<int>({{6, 0}, {2, 1}, {1, 2}, {1, 3}, {1, 4}})) {
      case 1:
        if (!p.seqs.empty()) {
          seq = p.seqs[p.seqs.size() - 1 -
                       *rc::gen::inRange<size_t>(0, std::min<size_t>(7, p.seqs.size()))]
                    .first;
        }
        break;
      case 2:
        seq = SequenceAdd(next, *rc::gen::inRange(1, 4));
        break;
      case 3:
        seq = 0;
        break;
      case 4:
        seq = INT32_MAX - *rc::gen::inRange(0, 3);
        break;
    }
    const int32_t records = *rc::gen::inRange(1, 4);
    ProducerBatchInfo b = Batch(pid, epoch, seq, records, step);
    // A retry must carry the same range as the original to be a duplicate; make it so when
    // the sequence matches a retained batch.
    for (const auto& [first, last] : p.seqs) {
      if (first == seq && epoch == p.epoch)
        b.last_offset_delta = static_cast<int32_t>(
            (int64_t{last} - first + (int64_t{INT32_MAX} + 1)) % (int64_t{INT32_MAX} + 1));
    }

    std::optional<int64_t> dup;
    const ProducerVerdict want = ModelCheck(model, b, &dup);
    Result<ProducerCheck> got = table.CheckAndRecord(b, Offset(log_end));
    RC_LOG() << "step " << step << ": pid " << pid << " epoch " << epoch << " seq " << seq
             << " records " << b.last_offset_delta + 1 << " -> want " << ProducerVerdictName(want)
             << ", got " << (got.ok() ? ProducerVerdictName(got->verdict) : got.status().ToString())
             << "\n";
    RC_ASSERT(got.ok());
    RC_ASSERT(got->verdict == want);
    if (want == ProducerVerdict::kDuplicate) {
      RC_ASSERT(got->duplicate_of->first_offset == Offset(*dup));
    }
    if (want == ProducerVerdict::kOk) {
      ModelProducer& mp = model[pid];
      if (mp.epoch != epoch) {
        mp.epoch = epoch;
        mp.seqs.clear();
        mp.first_offsets.clear();
      }
      mp.seqs.push_back({b.base_sequence, b.last_sequence()});
      mp.first_offsets.push_back(log_end);
      log.push_back({b, Offset(log_end)});
      log_end += records;
    }
  }
  // Snapshots and replay reproduce the table exactly.
  Result<ProducerStateTable> decoded = ProducerStateTable::DecodeSnapshot(table.EncodeSnapshot());
  RC_ASSERT(decoded.ok());
  RC_ASSERT(*decoded == table);
  ProducerStateTable replayed;
  for (const auto& [b, offset] : log) RC_ASSERT(replayed.Replay(b, offset).ok());
  RC_ASSERT(replayed == table);
}

}  // namespace
}  // namespace runnel::engine
