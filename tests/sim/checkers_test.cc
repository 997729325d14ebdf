// The checkers used by runnel-sim workloads: they must reject what they exist to catch.
#include <gtest/gtest.h>

#include <vector>

#include "sim/checkers/record_log.h"
#include "sim/checkers/stream_checker.h"

namespace runnel::sim {
namespace {

std::vector<std::byte> Payload(size_t n, uint8_t v) {
  return std::vector<std::byte>(n, std::byte{v});
}

LogFileModel ThreeRecords(uint64_t synced_records) {
  LogFileModel m;
  for (uint64_t seq = 1; seq <= 3; seq++) {
    auto rec = EncodeRecord(seq, Payload(100, static_cast<uint8_t>(seq)));
    m.written.insert(m.written.end(), rec.begin(), rec.end());
    if (seq == synced_records) m.synced_bytes = m.written.size();
  }
  return m;
}

TEST(RecordLogChecker, AcceptsTornOrDroppedUnsyncedTails) {
  LogFileModel m = ThreeRecords(1);
  LogCheck check;
  // Everything written.
  EXPECT_TRUE(CheckLogFile(m, m.written, false, &check).ok());
  EXPECT_EQ(check.valid_records, 3u);
  // Only the synced record.
  std::vector<std::byte> cut(m.written.begin(), m.written.begin() + m.synced_bytes);
  EXPECT_TRUE(CheckLogFile(m, cut, false, &check).ok());
  EXPECT_EQ(check.valid_records, 1u);
  // A torn tail followed by zeros.
  std::vector<std::byte> torn(m.written.begin(), m.written.begin() + m.synced_bytes + 50);
  torn.resize(torn.size() + 300, std::byte{0});
  EXPECT_TRUE(CheckLogFile(m, torn, false, &check).ok());
  EXPECT_EQ(check.valid_records, 1u);
}

TEST(RecordLogChecker, RejectsLostSyncedBytes) {
  LogFileModel m = ThreeRecords(2);
  LogCheck check;
  std::vector<std::byte> lost(m.written.begin(), m.written.begin() + m.synced_bytes - 1);
  EXPECT_FALSE(CheckLogFile(m, lost, false, &check).ok());
  std::vector<std::byte> changed = m.written;
  changed[10] ^= std::byte{1};
  EXPECT_FALSE(CheckLogFile(m, changed, false, &check).ok());
  // With bit rot possible, a change the checksum catches is detected corruption, not a failure.
  EXPECT_TRUE(CheckLogFile(m, changed, true, &check).ok());
  EXPECT_TRUE(check.corruption_detected);
}

TEST(RecordLogChecker, RejectsInventedOrMisplacedRecords) {
  LogFileModel m = ThreeRecords(1);
  LogCheck check;
  // A valid record that was never written (different payload) after the synced prefix.
  std::vector<std::byte> invented(m.written.begin(), m.written.begin() + m.synced_bytes);
  auto other = EncodeRecord(2, Payload(100, 0xee));
  invented.insert(invented.end(), other.begin(), other.end());
  EXPECT_FALSE(CheckLogFile(m, invented, false, &check).ok());
  // Records 1 and 3 without 2: record 3 is valid but not at its written position.
  auto r1 = EncodeRecord(1, Payload(100, 1));
  auto r3 = EncodeRecord(3, Payload(100, 3));
  std::vector<std::byte> misplaced = r1;
  misplaced.insert(misplaced.end(), r3.begin(), r3.end());
  EXPECT_FALSE(CheckLogFile(m, misplaced, true, &check).ok());
}

TEST(StreamChecker, AcceptsAnyChunkingOfThePrefix) {
  StreamChecker c(42);
  std::vector<std::byte> sent(1000);
  StreamChecker::Fill(42, 0, sent);
  EXPECT_EQ(sent[17], StreamChecker::ByteAt(42, 17));
  c.Sent(1000);
  EXPECT_TRUE(c.Received(std::span(sent).subspan(0, 1)).ok());
  EXPECT_TRUE(c.Received(std::span(sent).subspan(1, 600)).ok());
  EXPECT_TRUE(c.Received(std::span(sent).subspan(601, 399)).ok());
  EXPECT_EQ(c.received(), 1000u);
}

TEST(StreamChecker, RejectsReorderingLossAndExcess) {
  std::vector<std::byte> sent(100);
  StreamChecker::Fill(7, 0, sent);
  {
    StreamChecker c(7);
    c.Sent(100);
    std::vector<std::byte> swapped = sent;
    std::swap(swapped[10], swapped[11]);
    if (swapped[10] != sent[10]) {
      EXPECT_FALSE(c.Received(swapped).ok());
    }
  }
  {
    StreamChecker c(7);
    c.Sent(100);
    EXPECT_FALSE(c.Received(std::span(sent).subspan(1, 50)).ok());  // a byte skipped
  }
  {
    StreamChecker c(7);
    c.Sent(50);
    EXPECT_FALSE(c.Received(sent).ok());  // more than was sent
  }
}

}  // namespace
}  // namespace runnel::sim
