// KafkaLogChecker: good histories pass, and each kind of bad history (a lost acknowledged
// record, an invented one, altered bytes, a gap, a changed offset, an unexplained duplicate, a
// high watermark going back or hiding an acknowledged record) is reported.
#include "sim/checkers/kafka_log_checker.h"

#include <gtest/gtest.h>

#include <vector>

namespace runnel::sim {
namespace {

using Fetched = KafkaLogChecker::FetchedRecord;

// Owns the bytes the FetchedRecord views point at.
struct Records {
  std::vector<std::vector<std::byte>> keys, values;
  std::vector<Fetched> list;
  void Add(int64_t offset, RecordId id, int32_t partition, size_t size) {
    keys.push_back(KafkaLogChecker::MakeKey(id));
    values.push_back(KafkaLogChecker::MakeValue(id, partition, size));
    Refresh(offset);
  }
  void AddRaw(int64_t offset, std::vector<std::byte> key, std::vector<std::byte> value) {
    keys.push_back(std::move(key));
    values.push_back(std::move(value));
    Refresh(offset);
  }

 private:
  void Refresh(int64_t offset) {
    offsets.push_back(offset);
    list.clear();
    for (size_t i = 0; i < keys.size(); i++) {
      list.push_back(Fetched{offsets[i], std::span<const std::byte>(keys[i]),
                             std::span<const std::byte>(values[i])});
    }
  }
  std::vector<int64_t> offsets;
};

constexpr RecordId kA{1, 0}, kB{1, 1}, kC{2, 0};

// Three records sent to partition 0 and acknowledged at 0, 1, 2.
KafkaLogChecker ThreeAcked() {
  KafkaLogChecker c(2);
  c.Sending(kA, 0, 40);
  c.Sending(kB, 0, 100);
  c.Sending(kC, 0, 24);
  EXPECT_TRUE(c.Acked(kA, 0).ok());
  EXPECT_TRUE(c.Acked(kB, 1).ok());
  EXPECT_TRUE(c.Acked(kC, 2).ok());
  return c;
}

Records Good() {
  Records r;
  r.Add(0, kA, 0, 40);
  r.Add(1, kB, 0, 100);
  r.Add(2, kC, 0, 24);
  return r;
}

TEST(KafkaLogChecker, AGoodHistoryPasses) {
  KafkaLogChecker c = ThreeAcked();
  const int reader = c.AddReader();
  c.FetchSent(reader);
  EXPECT_TRUE(c.FetchedHighWatermark(reader, 0, 3).ok());
  Records r = Good();
  EXPECT_TRUE(c.Fetched(0, 0, r.list).ok());
  // Fetching again from the middle (the batch starts earlier) sees the same records.
  EXPECT_TRUE(c.Fetched(0, 1, r.list).ok());
  EXPECT_TRUE(c.CheckComplete(0, 3).ok());
  EXPECT_TRUE(c.CheckComplete(1, 0).ok());
  EXPECT_EQ(c.stats().records_fetched, 5u);
  EXPECT_EQ(c.acked_end(0), 3);
}

TEST(KafkaLogChecker, ALostAcknowledgedRecordFails) {
  KafkaLogChecker c = ThreeAcked();
  Records r;
  r.Add(0, kA, 0, 40);
  r.Add(1, kB, 0, 100);
  ASSERT_TRUE(c.Fetched(0, 0, r.list).ok());
  EXPECT_FALSE(c.CheckComplete(0, 2).ok());  // the log ends before acknowledged offset 2
  // Another record where the acknowledged one should be.
  KafkaLogChecker d = ThreeAcked();
  d.Sending(RecordId{3, 0}, 0, 30);
  Records wrong;
  wrong.Add(0, kA, 0, 40);
  wrong.Add(1, kB, 0, 100);
  wrong.Add(2, RecordId{3, 0}, 0, 30);
  EXPECT_FALSE(d.Fetched(0, 0, wrong.list).ok());
}

TEST(KafkaLogChecker, AnInventedOrAlteredRecordFails) {
  {
    KafkaLogChecker c = ThreeAcked();
    Records r;
    r.Add(0, RecordId{9, 9}, 0, 40);  // never sent
    EXPECT_FALSE(c.Fetched(0, 0, r.list).ok());
  }
  {
    KafkaLogChecker c = ThreeAcked();
    Records r;
    std::vector<std::byte> value = KafkaLogChecker::MakeValue(kA, 0, 40);
    value[30] ^= std::byte{1};  // one bit of the body
    r.AddRaw(0, KafkaLogChecker::MakeKey(kA), value);
    EXPECT_FALSE(c.Fetched(0, 0, r.list).ok());
  }
  {
    KafkaLogChecker c = ThreeAcked();
    Records r;
    r.AddRaw(0, KafkaLogChecker::MakeKey(kC), KafkaLogChecker::MakeValue(kA, 0, 40));
    EXPECT_FALSE(c.Fetched(0, 0, r.list).ok());  // the key of another producer
  }
  {
    KafkaLogChecker c = ThreeAcked();
    Records r;
    r.Add(0, kA, 1, 40);  // the right record in the wrong partition
    EXPECT_FALSE(c.Fetched(1, 0, r.list).ok());
  }
}

TEST(KafkaLogChecker, AGapInOffsetsFails) {
  KafkaLogChecker c = ThreeAcked();
  Records r;
  r.Add(0, kA, 0, 40);
  r.Add(2, kC, 0, 24);
  EXPECT_FALSE(c.Fetched(0, 0, r.list).ok());
  // A fetch that starts past the asked offset is a gap too.
  KafkaLogChecker d = ThreeAcked();
  Records late;
  late.Add(1, kB, 0, 100);
  EXPECT_FALSE(d.Fetched(0, 0, late.list).ok());
}

TEST(KafkaLogChecker, AnOffsetWhoseRecordChangesFails) {
  KafkaLogChecker c(1);
  c.Sending(kA, 0, 40);
  c.Sending(kB, 0, 40);
  Records first;
  first.Add(0, kA, 0, 40);
  ASSERT_TRUE(c.Fetched(0, 0, first.list).ok());  // read, though never acknowledged
  Records second;
  second.Add(0, kB, 0, 40);
  EXPECT_FALSE(c.Fetched(0, 0, second.list).ok());
}

TEST(KafkaLogChecker, DuplicatesOnlyWhenAllowed) {
  KafkaLogChecker c(1);
  c.Sending(kA, 0, 40);
  Records twice;
  twice.Add(0, kA, 0, 40);
  twice.Add(1, kA, 0, 40);
  EXPECT_FALSE(c.Fetched(0, 0, twice.list).ok());

  KafkaLogChecker d(1);
  d.Sending(kA, 0, 40);
  d.MayDuplicate(kA);  // sent again after an unknown outcome, without idempotence
  EXPECT_TRUE(d.Fetched(0, 0, twice.list).ok());
  EXPECT_EQ(d.stats().duplicates_seen, 1u);
  // An acknowledgement at a second offset is fine then, and not before.
  EXPECT_TRUE(d.Acked(kA, 0).ok());
  EXPECT_TRUE(d.Acked(kA, 1).ok());
  KafkaLogChecker e(1);
  e.Sending(kA, 0, 40);
  EXPECT_TRUE(e.Acked(kA, 0).ok());
  EXPECT_FALSE(e.Acked(kA, 1).ok());
  // Two records acknowledged at one offset.
  KafkaLogChecker f(1);
  f.Sending(kA, 0, 40);
  f.Sending(kB, 0, 40);
  EXPECT_TRUE(f.Acked(kA, 0).ok());
  EXPECT_FALSE(f.Acked(kB, 0).ok());
  // An acknowledgement for a record never sent.
  EXPECT_FALSE(f.Acked(RecordId{7, 7}, 3).ok());
}

TEST(KafkaLogChecker, HighWatermarksNeverGoBackAndCoverAcknowledgements) {
  KafkaLogChecker c = ThreeAcked();
  const int r1 = c.AddReader();
  const int r2 = c.AddReader();
  c.FetchSent(r1);
  EXPECT_TRUE(c.FetchedHighWatermark(r1, 0, 5).ok());
  c.FetchSent(r1);
  EXPECT_FALSE(c.FetchedHighWatermark(r1, 0, 4).ok());  // went back for this reader
  c.FetchSent(r2);
  EXPECT_FALSE(c.FetchedHighWatermark(r2, 0, 2).ok());  // offset 2 was acknowledged before
  // Before the acknowledgements, a low watermark is fine.
  KafkaLogChecker d(1);
  const int r = d.AddReader();
  d.FetchSent(r);
  d.Sending(kA, 0, 40);
  EXPECT_TRUE(d.Acked(kA, 0).ok());
  EXPECT_TRUE(d.FetchedHighWatermark(r, 0, 0).ok());
  // The final read must reach every watermark a reader saw.
  KafkaLogChecker e = ThreeAcked();
  const int re = e.AddReader();
  e.FetchSent(re);
  ASSERT_TRUE(e.FetchedHighWatermark(re, 0, 3).ok());
  Records good = Good();
  ASSERT_TRUE(e.Fetched(0, 0, good.list).ok());
  EXPECT_TRUE(e.CheckComplete(0, 3).ok());
  KafkaLogChecker g = ThreeAcked();
  const int rg = g.AddReader();
  g.FetchSent(rg);
  ASSERT_TRUE(g.FetchedHighWatermark(rg, 0, 4).ok());
  ASSERT_TRUE(g.Fetched(0, 0, good.list).ok());
  EXPECT_FALSE(g.CheckComplete(0, 3).ok());
}

}  // namespace
}  // namespace runnel::sim
