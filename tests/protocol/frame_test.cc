// FrameReader: frames split anywhere in the stream come out whole; oversize, negative and
// truncated frames are clear errors.
#include "broker/protocol/frame.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <optional>
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

// The connection's way of reading (broker/connection.cc): the stream arrives in pieces; whole
// frames come from Next(), and a frame still incomplete is taken out with TakePartialFrame and
// its rest read straight from the stream, after which the reader continues at the next frame.
std::vector<std::vector<uint8_t>> ReadLikeTheConnection(const std::vector<uint8_t>& stream,
                                                        const std::vector<size_t>& cuts) {
  FrameReader reader;
  std::vector<std::vector<uint8_t>> got;
  size_t at = 0;  // stream bytes handed over so far
  size_t cut = 0;
  while (at < stream.size()) {
    const size_t end = cut < cuts.size() ? cuts[cut++] : stream.size();
    if (end <= at) continue;
    reader.Append(std::span(stream).subspan(at, end - at));
    at = end;
    while (true) {
      auto next = reader.Next();
      EXPECT_TRUE(next.ok()) << next.status().ToString();
      if (!next.ok()) return got;
      if (next->has_value()) {
        got.emplace_back(next->value().begin(), next->value().end());
        continue;
      }
      std::optional<size_t> size = reader.partial_frame_bytes();
      if (!size.has_value()) break;
      std::vector<uint8_t> frame(*size, 0xee);
      const size_t have = reader.TakePartialFrame(frame);
      EXPECT_LT(have, *size);
      EXPECT_EQ(reader.buffered_bytes(), 0u);
      const size_t rest = *size - have;
      EXPECT_LE(at + rest, stream.size());
      if (at + rest > stream.size()) return got;
      std::copy_n(stream.begin() + static_cast<std::ptrdiff_t>(at), rest,
                  frame.begin() + static_cast<std::ptrdiff_t>(have));
      at += rest;
      while (cut < cuts.size() && cuts[cut] <= at) cut++;
      got.push_back(std::move(frame));
    }
  }
  EXPECT_TRUE(reader.Finish().ok());
  return got;
}

std::vector<std::vector<uint8_t>> MixedPayloads() {
  std::vector<uint8_t> large(3000);
  for (size_t i = 0; i < large.size(); i++) large[i] = static_cast<uint8_t>(i * 7 + 1);
  return {{1, 2, 3}, {}, large, {4}, std::vector<uint8_t>(17, 5)};
}

std::vector<uint8_t> StreamOf(const std::vector<std::vector<uint8_t>>& payloads) {
  std::vector<uint8_t> stream;
  for (const auto& p : payloads) {
    auto f = Frame(p);
    stream.insert(stream.end(), f.begin(), f.end());
  }
  return stream;
}

TEST(FrameReader, TakingPartialFramesSplitAtEveryBoundary) {
  const auto payloads = MixedPayloads();
  const std::vector<uint8_t> stream = StreamOf(payloads);
  for (size_t k = 1; k < stream.size(); k++) {
    std::vector<size_t> one_cut = {k};
    EXPECT_EQ(ReadLikeTheConnection(stream, one_cut), payloads) << "split at " << k;
  }
  // Two cuts: every first cut with a second one 1, 2, 5 and 4 + 1 bytes later.
  for (size_t k = 1; k < stream.size(); k++) {
    for (size_t d : {1, 2, 5}) {
      std::vector<size_t> cuts = {k, k + d};
      EXPECT_EQ(ReadLikeTheConnection(stream, cuts), payloads) << "cuts " << k << ", " << k + d;
    }
  }
  // Byte by byte.
  std::vector<size_t> every;
  for (size_t k = 1; k < stream.size(); k++) every.push_back(k);
  EXPECT_EQ(ReadLikeTheConnection(stream, every), payloads);
}

TEST(FrameReader, NoPartialFrameUntilItsSizeIsKnownAndChecked) {
  FrameReader reader(/*frame_bytes_max=*/100);
  auto f = Frame(std::vector<uint8_t>(50, 3));
  reader.Append(std::span<const uint8_t>(f.data(), 3));
  EXPECT_FALSE(reader.partial_frame_bytes().has_value());  // 3 of 4 size bytes
  reader.Append(std::span<const uint8_t>(f.data() + 3, 1));
  ASSERT_TRUE(reader.Next().ok());
  EXPECT_EQ(reader.partial_frame_bytes(), std::optional<size_t>(50));
  reader.Append(std::span<const uint8_t>(f.data() + 4, 50));
  EXPECT_FALSE(reader.partial_frame_bytes().has_value());  // complete: Next() returns it
  auto whole = reader.Next();
  ASSERT_TRUE(whole.ok() && whole->has_value());
  EXPECT_EQ(whole->value().size(), 50u);

  // Oversize and negative sizes are never offered as partial frames.
  FrameReader small(/*frame_bytes_max=*/10);
  auto g = Frame(std::vector<uint8_t>(11, 0));
  small.Append(std::span<const uint8_t>(g.data(), 6));
  EXPECT_FALSE(small.Next().ok());
  EXPECT_FALSE(small.partial_frame_bytes().has_value());
  FrameReader negative;
  std::vector<uint8_t> b = {0xff, 0xff, 0xff, 0xfe, 1};
  negative.Append(b);
  EXPECT_FALSE(negative.Next().ok());
  EXPECT_FALSE(negative.partial_frame_bytes().has_value());
}

}  // namespace
}  // namespace runnel::protocol
