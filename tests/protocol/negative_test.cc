// Malformed input: every truncation of every message is a Status error (never a crash or an
// over-read; run under ASan to see the latter), unknown API keys and versions are errors, and
// bytes after a body are reported.
#include <gtest/gtest.h>
#include <rapidcheck.h>

#include <string_view>

#include "broker/protocol/gen/arbitrary.h"
#include "broker/protocol/gen/visit.h"
#include "broker/protocol/request.h"

namespace runnel::protocol {
namespace {

// Encodes a generated value and checks that every strict prefix fails to decode.
// The property body; kept out of the rc::check lambda so that rapidcheck's machinery is
// instantiated once, not once per message type.
template <typename T>
void TruncationProperty(int16_t version) {
  {
    const T x = testing::DrawMessage<T>(version);
    Writer w;
    RC_ASSERT(x.Encode(version, w).ok());
    const std::vector<uint8_t> bytes = w.Flatten();
    for (size_t n = 0; n < bytes.size(); ++n) {
      // A copy of exactly n bytes, so ASan sees any read past the end.
      std::vector<uint8_t> prefix(bytes.begin(), bytes.begin() + static_cast<ptrdiff_t>(n));
      Reader r(prefix);
      Result<T> y = T::Decode(version, r);
      // A prefix can only decode if the message legitimately ends early: never, since all
      // fields are mandatory at a given version.
      RC_ASSERT(!y.ok());
      RC_ASSERT(y.status().Is(ErrorKind::kCorruption));
    }
  }
}

bool RunProperty(const std::string& description, void (*property)(int16_t), int16_t version) {
  return rc::check(description, [property, version] { property(version); });
}

template <typename T>
bool CheckTruncations(int16_t version) {
  return RunProperty(fmt::format("{} v{} truncations", T::kName, version), &TruncationProperty<T>,
                     version);
}

TEST(Negative, EveryTruncationOfEveryMessageIsAnError) {
  int checked = 0;
  int failed = 0;
  ForEachMessageType([&]<typename T>() {
    // The lowest, the first flexible and the highest version cover the encodings.
    std::vector<int16_t> versions = {T::kMinVersion, T::kMaxVersion};
    if (T::kFirstFlexibleVersion >= 0) versions.push_back(T::kFirstFlexibleVersion);
    for (int16_t v : versions) {
      ++checked;
      if (!CheckTruncations<T>(v)) ++failed;
    }
  });
  EXPECT_GT(checked, 186 * 2);
  EXPECT_EQ(failed, 0);
}

std::vector<uint8_t> Header(int16_t key, int16_t version, int32_t correlation_id) {
  RequestHeader h;
  h.request_api_key = key;
  h.request_api_version = version;
  h.correlation_id = correlation_id;
  h.client_id = "t";
  Writer w;
  const ApiInfo* api = FindApi(key);
  int16_t hv = api ? RequestHeaderVersion(*api, version) : 1;
  EXPECT_TRUE(h.Encode(hv, w).ok());
  return w.Flatten();
}

TEST(Negative, UnknownApiKey) {
  auto frame = Header(1000, 0, 1);
  auto req = DecodeRequestHeader(frame);
  ASSERT_FALSE(req.ok());
  EXPECT_TRUE(req.status().Is(ErrorKind::kUnsupported));
  EXPECT_NE(req.status().message().find("1000"), std::string::npos);
  auto neg = Header(-3, 0, 1);
  EXPECT_FALSE(DecodeRequestHeader(neg).ok());
}

TEST(Negative, UnknownVersionReachesTheBrokerThenFailsTheBody) {
  auto frame = Header(ProduceRequest::kApiKey, 12, 9);  // Produce has 0-11
  auto req = DecodeRequestHeader(frame);
  ASSERT_TRUE(req.ok()) << req.status().ToString();
  EXPECT_EQ(req->header.correlation_id, 9);  // so UNSUPPORTED_VERSION can be answered
  EXPECT_FALSE(req->api->IsValid(12));
  auto body = DecodeRequestBody<ProduceRequest>(*req);
  ASSERT_FALSE(body.ok());
  EXPECT_TRUE(body.status().Is(ErrorKind::kUnsupported));
  auto negative = Header(ProduceRequest::kApiKey, -1, 9);
  EXPECT_TRUE(DecodeRequestHeader(negative).status().Is(ErrorKind::kUnsupported));
  // Encoding an unknown version is an error too.
  Writer w;
  EXPECT_TRUE(ProduceRequest{}.Encode(12, w).Is(ErrorKind::kUnsupported));
  EXPECT_TRUE(ProduceRequest{}.Encode(-1, w).Is(ErrorKind::kUnsupported));
}

TEST(Negative, TruncatedHeader) {
  auto frame = Header(3, 1, 1);
  for (size_t n = 0; n < frame.size(); ++n) {
    std::vector<uint8_t> prefix(frame.begin(), frame.begin() + static_cast<ptrdiff_t>(n));
    auto req = DecodeRequestHeader(prefix);
    EXPECT_FALSE(req.ok()) << n;
  }
}

TEST(Negative, TrailingBytesAfterTheBody) {
  auto frame = Header(ApiVersionsRequest::kApiKey, 0, 1);
  frame.push_back(0x42);
  auto req = DecodeRequestHeader(frame);
  ASSERT_TRUE(req.ok());
  auto body = DecodeRequestBody<ApiVersionsRequest>(*req);
  ASSERT_FALSE(body.ok());
  EXPECT_TRUE(body.status().Is(ErrorKind::kCorruption));
}

TEST(Negative, HugeArrayCountWithFewBytes) {
  // MetadataRequest v1: topics count 0x7fffffff followed by 3 bytes.
  std::vector<uint8_t> bytes = {0x7f, 0xff, 0xff, 0xff, 0, 1, 'a'};
  Reader r(bytes);
  auto m = MetadataRequest::Decode(1, r);
  ASSERT_FALSE(m.ok());
  EXPECT_TRUE(m.status().Is(ErrorKind::kCorruption));
  // Compact (v9+): uvarint count just under the remaining bytes, elements truncated.
  std::vector<uint8_t> compact = {0x04, 0, 0, 0};
  Reader r2(compact);
  EXPECT_FALSE(MetadataRequest::Decode(9, r2).ok());
}

TEST(Negative, TaggedFieldSizePastTheEnd) {
  // ApiVersionsRequest v3: two empty compact strings, then 1 tagged field: tag 0, size 100.
  std::vector<uint8_t> bytes = {1, 1, 1, 0, 100, 1};
  Reader r(bytes);
  auto m = ApiVersionsRequest::Decode(3, r);
  ASSERT_FALSE(m.ok());
  EXPECT_NE(m.status().message().find("past the end"), std::string::npos) << m.status().ToString();
}

TEST(Negative, KnownTaggedFieldWithWrongSize) {
  // FetchRequest v12 with tag 0 (ClusterId, compact nullable string) whose declared size
  // (3) is longer than the string it holds (1 byte: null).
  FetchRequest f;
  Writer w;
  ASSERT_TRUE(f.Encode(12, w).ok());
  auto bytes = w.Flatten();
  ASSERT_EQ(bytes.back(), 0);  // empty tagged fields
  bytes.back() = 1;
  bytes.insert(bytes.end(), {0, 3, 0, 0, 0});
  Reader r(bytes);
  auto m = FetchRequest::Decode(12, r);
  ASSERT_FALSE(m.ok());
  EXPECT_NE(m.status().message().find("unread"), std::string::npos) << m.status().ToString();
}

}  // namespace
}  // namespace runnel::protocol
