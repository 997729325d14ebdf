// FrameReader: frames split anywhere in the stream come out whole; oversize, negative and
// truncated frames are clear errors.
#include "broker/protocol/frame.h"

#include <gtest/gtest.h>

#include <vector>

namespace runnel::protocol {
namespace {

std::vector<uint8_t> Frame(const std::vector<uint8_t>& payload) {
  std::vector<uint8_t> out;
  uint32_t n = static_cast<uint32_t>(payload.size());
  for (int i = 3; i >= 0; --i) out.push_back(static_cast<uint8_t>(n >> (8 * i)));
  out.insert(out.end(), payload.begin(), payload.end());
  return out;
}

TEST(FrameReader, DefaultMaximumIsSocketRequestMaxBytes) {
  EXPECT_EQ(FrameReader().frame_bytes_max(), 104857600u);
}

TEST(FrameReader, SplitsFramesDeliveredByteByByte) {
  std::vector<uint8_t> stream;
  std::vector<std::vector<uint8_t>> payloads = {{1, 2, 3}, {}, std::vector<uint8_t>(1000, 9)};
  for (const auto& p : payloads) {
    auto f = Frame(p);
    stream.insert(stream.end(), f.begin(), f.end());
  }
  FrameReader reader;
  std::vector<std::vector<uint8_t>> got;
  for (uint8_t b : stream) {
    reader.Append(std::span<const uint8_t>(&b, 1));
    while (true) {
      auto next = reader.Next();
      ASSERT_TRUE(next.ok()) << next.status().ToString();
      if (!next->has_value()) break;
      got.emplace_back(next->value().begin(), next->value().end());
    }
  }
  EXPECT_EQ(got, payloads);
  EXPECT_TRUE(reader.Finish().ok());
}

TEST(FrameReader, ManyFramesInOneAppend) {
  std::vector<uint8_t> stream;
  for (int i = 0; i < 5; ++i) {
    auto f = Frame({static_cast<uint8_t>(i)});
    stream.insert(stream.end(), f.begin(), f.end());
  }
  FrameReader reader;
  reader.Append(stream);
  for (int i = 0; i < 5; ++i) {
    auto next = reader.Next();
    ASSERT_TRUE(next.ok());
    ASSERT_TRUE(next->has_value());
    EXPECT_EQ((**next)[0], i);
  }
  auto none = reader.Next();
  ASSERT_TRUE(none.ok());
  EXPECT_FALSE(none->has_value());
}

TEST(FrameReader, OversizeFrameIsALimitError) {
  FrameReader reader(/*frame_bytes_max=*/100);
  auto f = Frame(std::vector<uint8_t>(101, 0));
  reader.Append(std::span<const uint8_t>(f.data(), 4));  // only the prefix: fail early
  auto next = reader.Next();
  ASSERT_FALSE(next.ok());
  EXPECT_TRUE(next.status().Is(ErrorKind::kLimit));
  EXPECT_NE(next.status().message().find("101"), std::string::npos);
  EXPECT_FALSE(reader.Next().ok());  // stays failed

  FrameReader exact(100);
  auto g = Frame(std::vector<uint8_t>(100, 0));
  exact.Append(g);
  auto ok = exact.Next();
  ASSERT_TRUE(ok.ok());
  EXPECT_TRUE(ok->has_value());
}

TEST(FrameReader, NegativeSizeIsCorruption) {
  FrameReader reader;
  std::vector<uint8_t> b = {0xff, 0xff, 0xff, 0xfe};
  reader.Append(b);
  auto next = reader.Next();
  ASSERT_FALSE(next.ok());
  EXPECT_TRUE(next.status().Is(ErrorKind::kCorruption));
}

TEST(FrameReader, TruncatedFrameAtEndOfStream) {
  FrameReader reader;
  auto f = Frame({1, 2, 3, 4, 5});
  reader.Append(std::span<const uint8_t>(f.data(), 6));
  auto next = reader.Next();
  ASSERT_TRUE(next.ok());
  EXPECT_FALSE(next->has_value());
  EXPECT_EQ(reader.bytes_needed(), 3u);
  Status st = reader.Finish();
  EXPECT_TRUE(st.Is(ErrorKind::kCorruption));
  EXPECT_NE(st.message().find("truncated frame"), std::string::npos) << st.ToString();
  EXPECT_NE(st.message().find("2 of 5"), std::string::npos) << st.ToString();

  FrameReader prefix_only;
  prefix_only.Append(std::span<const uint8_t>(f.data(), 2));
  EXPECT_TRUE(prefix_only.Finish().Is(ErrorKind::kCorruption));
}

}  // namespace
}  // namespace runnel::protocol
