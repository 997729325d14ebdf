// Zig-zag varints and big-endian integers as Kafka encodes them.
#include "engine/varint.h"

#include <gtest/gtest.h>
#include <rapidcheck/gtest.h>

#include <vector>

#include "tests/storage/storage_test_util.h"

namespace runnel::engine {
namespace {

std::vector<std::byte> Encode32(int32_t v) {
  std::vector<std::byte> out(kVarint32BytesMax);
  out.resize(PutVarint32(out.data(), v) - out.data());
  return out;
}
std::vector<std::byte> Encode64(int64_t v) {
  std::vector<std::byte> out(kVarint64BytesMax);
  out.resize(PutVarint64(out.data(), v) - out.data());
  return out;
}

TEST(Varint, KnownEncodings) {
  using testing::ToBytes;
  EXPECT_EQ(Encode32(0), ToBytes({0x00}));
  EXPECT_EQ(Encode32(-1), ToBytes({0x01}));
  EXPECT_EQ(Encode32(1), ToBytes({0x02}));
  EXPECT_EQ(Encode32(63), ToBytes({0x7e}));
  EXPECT_EQ(Encode32(-64), ToBytes({0x7f}));
  EXPECT_EQ(Encode32(64), ToBytes({0x80, 0x01}));
  EXPECT_EQ(Encode32(INT32_MAX), ToBytes({0xfe, 0xff, 0xff, 0xff, 0x0f}));
  EXPECT_EQ(Encode32(INT32_MIN), ToBytes({0xff, 0xff, 0xff, 0xff, 0x0f}));
  EXPECT_EQ(Encode64(INT64_MAX),
            ToBytes({0xfe, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01}));
  EXPECT_EQ(Encode64(INT64_MIN),
            ToBytes({0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01}));
  EXPECT_EQ(VarintSize32(INT32_MIN), 5u);
  EXPECT_EQ(VarintSize64(INT64_MIN), 10u);
  EXPECT_EQ(VarintSize64(-64), 1u);
  EXPECT_EQ(VarintSize64(64), 2u);
}

TEST(Varint, RejectsOverlongAndTruncated) {
  using testing::ToBytes;
  int32_t v32 = 7;
  int64_t v64 = 7;
  auto read32 = [&](const std::vector<std::byte>& b) {
    ByteReader r(b);
    return r.ReadVarint32(v32);
  };
  auto read64 = [&](const std::vector<std::byte>& b) {
    ByteReader r(b);
    return r.ReadVarint64(v64);
  };
  EXPECT_FALSE(read32({}));
  EXPECT_FALSE(read32(ToBytes({0x80})));
  EXPECT_FALSE(read32(ToBytes({0x80, 0x80, 0x80, 0x80, 0x80, 0x00})));  // 6 bytes
  EXPECT_FALSE(read32(ToBytes({0xff, 0xff, 0xff, 0xff, 0x1f})));        // bit 32 set
  EXPECT_TRUE(read32(ToBytes({0xff, 0xff, 0xff, 0xff, 0x0f})));
  EXPECT_EQ(v32, INT32_MIN);
  EXPECT_FALSE(read64(ToBytes({0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x00})));
  EXPECT_FALSE(read64(ToBytes({0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x03})));
  EXPECT_TRUE(read64(ToBytes({0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01})));
  EXPECT_EQ(v64, INT64_MIN);
}

TEST(Varint, FailedReadLeavesTheCursor) {
  const auto b = testing::ToBytes({0x02, 0x80});
  ByteReader r(b);
  int32_t v = 0;
  ASSERT_TRUE(r.ReadVarint32(v));
  EXPECT_EQ(v, 1);
  EXPECT_FALSE(r.ReadVarint32(v));
  EXPECT_EQ(r.remaining(), 1u);
  uint16_t u = 0;
  EXPECT_FALSE(r.ReadBe16(u));
  EXPECT_EQ(r.remaining(), 1u);
}

TEST(ByteOrder, BigEndian) {
  std::byte buf[8];
  StoreBe32(buf, 0x01020304u);
  EXPECT_EQ(buf[0], std::byte{1});
  EXPECT_EQ(buf[3], std::byte{4});
  EXPECT_EQ(LoadBe32(buf), 0x01020304u);
  StoreBe64(buf, 0x0102030405060708ull);
  EXPECT_EQ(buf[7], std::byte{8});
  EXPECT_EQ(LoadBe64(buf), 0x0102030405060708ull);
  StoreBe16(buf, 0xabcd);
  EXPECT_EQ(buf[0], std::byte{0xab});
  EXPECT_EQ(LoadBe16(buf), 0xabcd);
}

RC_GTEST_PROP(VarintProperty, RoundTrips, (int32_t a, int64_t b)) {
  const auto ea = Encode32(a);
  const auto eb = Encode64(b);
  RC_ASSERT(ea.size() == VarintSize32(a));
  RC_ASSERT(eb.size() == VarintSize64(b));
  std::vector<std::byte> both = ea;
  both.insert(both.end(), eb.begin(), eb.end());
  ByteReader r(both);
  int32_t ra = 0;
  int64_t rb = 0;
  RC_ASSERT(r.ReadVarint32(ra));
  RC_ASSERT(r.ReadVarint64(rb));
  RC_ASSERT(ra == a);
  RC_ASSERT(rb == b);
  RC_ASSERT(r.remaining() == 0u);
}

RC_GTEST_PROP(VarintProperty, TruncationIsDetected, (int64_t v)) {
  const auto e = Encode64(v);
  for (size_t n = 0; n < e.size(); ++n) {
    ByteReader r(e.data(), e.data() + n);
    int64_t out = 0;
    RC_ASSERT(!r.ReadVarint64(out));
  }
}

TEST(RapidcheckSeed, IsFixedUnlessOverridden) {
  ASSERT_TRUE(testing::kRapidcheckSeeded);
  const char* params = getenv("RC_PARAMS");
  ASSERT_NE(params, nullptr);
  EXPECT_NE(std::string(params).find("seed="), std::string::npos);
}

}  // namespace
}  // namespace runnel::engine
