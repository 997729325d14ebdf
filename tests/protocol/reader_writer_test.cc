// Reader/Writer primitives: encodings match the Kafka wire format byte for byte, varints
// round-trip over their whole range, and every malformed input is a Status, not a crash.
#include <gtest/gtest.h>
#include <rapidcheck.h>
#include <rapidcheck/gtest.h>

#include <limits>
#include <vector>

#include "broker/protocol/reader.h"
#include "broker/protocol/writer.h"

namespace runnel::protocol {
namespace {

std::vector<uint8_t> Bytes(std::initializer_list<int> v) {
  std::vector<uint8_t> out;
  for (int b : v) out.push_back(static_cast<uint8_t>(b));
  return out;
}

TEST(Writer, FixedWidthIsBigEndian) {
  Writer w;
  w.WriteInt16(0x0102);
  w.WriteInt32(-2);
  w.WriteInt64(0x0102030405060708);
  w.WriteUint16(0xfffe);
  w.WriteBool(true);
  EXPECT_EQ(w.Flatten(),
            Bytes({1, 2, 0xff, 0xff, 0xff, 0xfe, 1, 2, 3, 4, 5, 6, 7, 8, 0xff, 0xfe, 1}));
}

TEST(Writer, VarintsMatchKafka) {
  Writer w;
  w.WriteUvarint(300);  // ac 02
  w.WriteVarint(-1);    // 01
  w.WriteVarint(1);     // 02
  w.WriteVarlong(-65);  // 81 01
  EXPECT_EQ(w.Flatten(), Bytes({0xac, 0x02, 0x01, 0x02, 0x81, 0x01}));
  EXPECT_EQ(UvarintSize(300), 2u);
  EXPECT_EQ(UvarintSize(std::numeric_limits<uint32_t>::max()), 5u);
  EXPECT_EQ(VarlongSize(std::numeric_limits<int64_t>::min()), 10u);
}

TEST(Writer, StringsClassicAndCompact) {
  Writer w;
  ASSERT_TRUE(w.WriteString(false, "ab", "s").ok());
  ASSERT_TRUE(w.WriteString(true, "ab", "s").ok());
  w.WriteNullString(false);
  w.WriteNullString(true);
  EXPECT_EQ(w.Flatten(), Bytes({0, 2, 'a', 'b', 3, 'a', 'b', 0xff, 0xff, 0}));
  std::string big(40000, 'x');
  EXPECT_TRUE(w.WriteString(false, big, "big").Is(ErrorKind::kInvalidArgument));
  EXPECT_TRUE(w.WriteString(true, big, "big").ok());
}

RC_GTEST_PROP(ReaderWriter, VarintsRoundTrip, (uint32_t u, int32_t i, uint64_t ul, int64_t il)) {
  Writer w;
  w.WriteUvarint(u);
  w.WriteVarint(i);
  w.WriteUvarlong(ul);
  w.WriteVarlong(il);
  RC_ASSERT(w.size() == UvarintSize(u) + VarintSize(i) + UvarintSize(ul) + VarlongSize(il));
  std::vector<uint8_t> bytes = w.Flatten();
  Reader r(bytes);
  uint32_t u2 = 0;
  int32_t i2 = 0;
  uint64_t ul2 = 0;
  int64_t il2 = 0;
  RC_ASSERT(r.ReadUvarint(&u2).ok());
  RC_ASSERT(r.ReadVarint(&i2).ok());
  RC_ASSERT(r.ReadUvarlong(&ul2).ok());
  RC_ASSERT(r.ReadVarlong(&il2).ok());
  RC_ASSERT(u2 == u);
  RC_ASSERT(i2 == i);
  RC_ASSERT(ul2 == ul);
  RC_ASSERT(il2 == il);
  RC_ASSERT(r.empty());
}

TEST(Reader, TruncatedFixedWidth) {
  std::vector<uint8_t> b = Bytes({1, 2, 3});
  Reader r(b);
  int32_t v = 0;
  Status st = r.ReadInt32(&v);
  EXPECT_TRUE(st.Is(ErrorKind::kCorruption)) << st.ToString();
  EXPECT_EQ(r.position(), 0u);
  Uuid u;
  EXPECT_TRUE(r.ReadUuid(&u).Is(ErrorKind::kCorruption));
}

TEST(Reader, VarintOverFiveBytesIsAnError) {
  std::vector<uint8_t> six = Bytes({0x80, 0x80, 0x80, 0x80, 0x80, 0x01});
  Reader r(six);
  uint32_t v = 0;
  EXPECT_TRUE(r.ReadUvarint(&v).Is(ErrorKind::kCorruption));
  // Five bytes whose last one carries more than 32 bits.
  std::vector<uint8_t> wide = Bytes({0xff, 0xff, 0xff, 0xff, 0x1f});
  Reader r2(wide);
  EXPECT_TRUE(r2.ReadUvarint(&v).Is(ErrorKind::kCorruption));
  std::vector<uint8_t> max = Bytes({0xff, 0xff, 0xff, 0xff, 0x0f});
  Reader r3(max);
  ASSERT_TRUE(r3.ReadUvarint(&v).ok());
  EXPECT_EQ(v, std::numeric_limits<uint32_t>::max());
  std::vector<uint8_t> cut = Bytes({0x80, 0x80});
  Reader r4(cut);
  EXPECT_TRUE(r4.ReadUvarint(&v).Is(ErrorKind::kCorruption));
}

TEST(Reader, VarlongOverTenBytesIsAnError) {
  std::vector<uint8_t> eleven(10, 0x80);
  eleven.push_back(0x01);
  Reader r(eleven);
  uint64_t v = 0;
  EXPECT_TRUE(r.ReadUvarlong(&v).Is(ErrorKind::kCorruption));
  std::vector<uint8_t> ten(9, 0xff);
  ten.push_back(0x01);
  Reader r2(ten);
  ASSERT_TRUE(r2.ReadUvarlong(&v).ok());
  EXPECT_EQ(v, std::numeric_limits<uint64_t>::max());
}

TEST(Reader, LengthsPastTheEnd) {
  std::vector<uint8_t> s = Bytes({0, 5, 'a', 'b'});
  Reader r(s);
  std::string out;
  Status st = r.ReadString(false, &out, "s");
  EXPECT_TRUE(st.Is(ErrorKind::kCorruption));
  EXPECT_NE(st.message().find("past the end"), std::string::npos) << st.ToString();

  std::vector<uint8_t> arr = Bytes({0, 0, 0, 9, 1});
  Reader r2(arr);
  int32_t n = 0;
  EXPECT_TRUE(r2.ReadArrayLength(false, &n).Is(ErrorKind::kCorruption));

  std::vector<uint8_t> compact = Bytes({0x7f, 'a'});  // compact length 126
  Reader r3(compact);
  EXPECT_TRUE(r3.ReadString(true, &out, "s").Is(ErrorKind::kCorruption));
}

TEST(Reader, NegativeLengthsOtherThanMinusOne) {
  std::vector<uint8_t> s = Bytes({0xff, 0xfe});  // -2
  Reader r(s);
  std::optional<std::string> out;
  Status st = r.ReadNullableString(false, &out);
  EXPECT_TRUE(st.Is(ErrorKind::kCorruption));
  EXPECT_NE(st.message().find("negative"), std::string::npos) << st.ToString();

  std::vector<uint8_t> b = Bytes({0x80, 0, 0, 0});  // INT32_MIN
  Reader r2(b);
  std::optional<std::vector<uint8_t>> bytes;
  EXPECT_TRUE(r2.ReadNullableBytes(false, &bytes).Is(ErrorKind::kCorruption));
  Reader r3(b);
  int32_t n = 0;
  EXPECT_TRUE(r3.ReadArrayLength(false, &n).Is(ErrorKind::kCorruption));

  std::vector<uint8_t> null = Bytes({0xff, 0xff});
  Reader r4(null);
  ASSERT_TRUE(r4.ReadNullableString(false, &out).ok());
  EXPECT_FALSE(out.has_value());
  Reader r5(null);
  std::string s2;
  EXPECT_TRUE(r5.ReadString(false, &s2, "s").Is(ErrorKind::kCorruption));
}

TEST(Writer, RecordsAreBorrowedNotCopied) {
  std::vector<uint8_t> records(1 << 20, 7);
  Writer w;
  w.WriteInt32(42);
  ASSERT_TRUE(w.WriteRecords(false, RecordsView::Of(records), "r").ok());
  w.WriteInt16(3);
  EXPECT_EQ(w.size(), 4 + 4 + records.size() + 2);
  EXPECT_EQ(w.bytes_copied(), 10u);
  EXPECT_EQ(w.bytes_borrowed(), records.size());
  auto slices = w.Slices();
  ASSERT_EQ(slices.size(), 3u);
  EXPECT_EQ(slices[0].size(), 8u);
  EXPECT_EQ(slices[1].data(), records.data());
  EXPECT_EQ(slices[2].size(), 2u);
  // Small records are copied.
  Writer small;
  std::vector<uint8_t> few(10, 1);
  ASSERT_TRUE(small.WriteRecords(true, RecordsView::Of(few), "r").ok());
  EXPECT_EQ(small.bytes_copied(), 11u);
}

TEST(Reader, RecordsPointIntoTheBuffer) {
  std::vector<uint8_t> b = Bytes({0, 0, 0, 3, 9, 8, 7, 0xff, 0xff, 0xff, 0xff});
  Reader r(b);
  RecordsView rec;
  ASSERT_TRUE(r.ReadRecords(false, &rec).ok());
  EXPECT_FALSE(rec.is_null());
  EXPECT_EQ(rec.data(), b.data() + 4);
  EXPECT_EQ(rec.size(), 3u);
  ASSERT_TRUE(r.ReadRecords(false, &rec).ok());
  EXPECT_TRUE(rec.is_null());
}

}  // namespace
}  // namespace runnel::protocol
