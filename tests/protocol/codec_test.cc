// Generated-codec semantics that round trips alone do not show: defaults of absent fields,
// non-ignorable fields a version cannot carry, nulls, tagged fields (known and unknown),
// headers, and zero-copy records.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <vector>

#include "broker/protocol/gen/messages.h"
#include "broker/protocol/request.h"

namespace runnel::protocol {
namespace {

template <typename T>
std::vector<uint8_t> EncodeOk(const T& x, int16_t v) {
  Writer w;
  Status st = x.Encode(v, w);
  EXPECT_TRUE(st.ok()) << st.ToString();
  EXPECT_EQ(w.size(), x.Size(v));
  return w.Flatten();
}

template <typename T>
T DecodeOk(const std::vector<uint8_t>& bytes, int16_t v) {
  Reader r(bytes);
  Result<T> x = T::Decode(v, r);
  EXPECT_TRUE(x.ok()) << x.status().ToString();
  EXPECT_TRUE(r.empty());
  return x.ok() ? std::move(x).value() : T{};
}

TEST(Codec, SchemaDefaultsForFieldsAbsentFromAVersion) {
  FetchRequest f;
  EXPECT_EQ(f.replica_id, -1);
  EXPECT_EQ(f.max_bytes, 0x7fffffff);
  EXPECT_EQ(f.session_epoch, -1);
  EXPECT_FALSE(f.cluster_id.has_value());  // default "null"
  f.max_wait_ms = 500;
  f.max_bytes = 1234;  // 3+, ignorable: dropped at v2
  auto bytes = EncodeOk(f, 2);
  FetchRequest back = DecodeOk<FetchRequest>(bytes, 2);
  EXPECT_EQ(back.max_wait_ms, 500);
  EXPECT_EQ(back.max_bytes, 0x7fffffff);  // the default, not 1234
  EXPECT_EQ(back.isolation_level, 0);
}

TEST(Codec, NonIgnorableFieldAVersionCannotCarryIsAnError) {
  FetchRequest f;
  f.forgotten_topics_data.emplace_back();  // 7+, not ignorable
  Writer w;
  Status st = f.Encode(6, w);
  EXPECT_TRUE(st.Is(ErrorKind::kUnsupported)) << st.ToString();
  EXPECT_NE(st.message().find("ForgottenTopicsData"), std::string::npos);
  Writer w7;
  EXPECT_TRUE(f.Encode(7, w7).ok());

  // A non-ignorable tagged field (ReplicaState, 15+) in v14.
  FetchRequest g;
  g.replica_state.replica_id = 3;
  Writer w14;
  EXPECT_TRUE(g.Encode(14, w14).Is(ErrorKind::kUnsupported));
  Writer w15;
  EXPECT_TRUE(g.Encode(15, w15).ok());
}

TEST(Codec, NullOnlyWhereTheVersionAllowsIt) {
  MetadataRequest m;  // Topics nullable from v1
  m.topics.reset();
  Writer w0;
  EXPECT_TRUE(m.Encode(0, w0).Is(ErrorKind::kInvalidArgument));
  auto bytes = EncodeOk(m, 1);
  EXPECT_EQ(bytes, (std::vector<uint8_t>{0xff, 0xff, 0xff, 0xff}));
  EXPECT_FALSE(DecodeOk<MetadataRequest>(bytes, 1).topics.has_value());
  // The same bytes in v0 mean a null the version forbids.
  Reader r(bytes);
  EXPECT_FALSE(MetadataRequest::Decode(0, r).ok());
}

TEST(Codec, UnknownTaggedFieldsSurviveDecodeEncode) {
  // ApiVersionsRequest v3: ClientSoftwareName "a", ClientSoftwareVersion "b", then two
  // tagged fields: tag 5 (unknown) with 2 bytes and tag 9 (unknown) with 0 bytes.
  std::vector<uint8_t> bytes = {2, 'a', 2, 'b', 2, 5, 2, 0xca, 0xfe, 9, 0};
  ApiVersionsRequest req = DecodeOk<ApiVersionsRequest>(bytes, 3);
  EXPECT_EQ(req.client_software_name, "a");
  ASSERT_EQ(req.unknown_tagged_fields.size(), 2u);
  EXPECT_EQ(req.unknown_tagged_fields[0].tag, 5u);
  EXPECT_EQ(req.unknown_tagged_fields[0].data, (std::vector<uint8_t>{0xca, 0xfe}));
  EXPECT_EQ(EncodeOk(req, 3), bytes);
}

TEST(Codec, Float64ComparesByBitsSoNaNSurvivesARoundTrip) {
  // A quota value is a float64 on the wire; any 8 bytes decode, NaN among them. Equality is
  // by bits (as Kafka's Double.compare), so decode(encode(x)) == x even for NaN, while 0.0
  // and -0.0 differ as their bytes do.
  AlterClientQuotasRequest req;
  auto& entry = req.entries.emplace_back();
  auto& op = entry.ops.emplace_back();
  op.key = "producer_byte_rate";
  op.value = std::numeric_limits<double>::quiet_NaN();
  AlterClientQuotasRequest again = DecodeOk<AlterClientQuotasRequest>(EncodeOk(req, 1), 1);
  EXPECT_TRUE(std::isnan(again.entries[0].ops[0].value));
  EXPECT_EQ(again, req);
  AlterClientQuotasRequest negative_zero = req;
  op.value = 0.0;
  negative_zero.entries[0].ops[0].value = -0.0;
  EXPECT_FALSE(negative_zero == req);
}

TEST(Codec, KnownTaggedFieldsWrittenOnlyWhenNotDefault) {
  ApiVersionsResponse resp;
  resp.error_code = 0;
  auto plain = EncodeOk(resp, 3);
  // error_code(2) + compact array (1) + throttle(4) + tagged count (1)
  EXPECT_EQ(plain.size(), 8u);
  EXPECT_EQ(plain.back(), 0);
  resp.finalized_features_epoch = 7;  // tag 1, default -1
  auto tagged = EncodeOk(resp, 3);
  ASSERT_EQ(tagged.size(), 8u + 1 + 1 + 8);
  EXPECT_EQ(tagged[7], 1);  // one tagged field
  EXPECT_EQ(tagged[8], 1);  // tag 1
  EXPECT_EQ(tagged[9], 8);  // 8 bytes of int64
  EXPECT_EQ(DecodeOk<ApiVersionsResponse>(tagged, 3).finalized_features_epoch, 7);
  // In v2 the tagged field does not exist; it is ignorable, so it is simply dropped.
  auto v2 = EncodeOk(resp, 2);
  EXPECT_EQ(DecodeOk<ApiVersionsResponse>(v2, 2).finalized_features_epoch, -1);
}

TEST(Codec, RequestHeaderClientIdStaysNonCompactInV2) {
  RequestHeader h;
  h.request_api_key = 18;
  h.request_api_version = 3;
  h.correlation_id = 1;
  h.client_id = "abc";
  auto bytes = EncodeOk(h, 2);
  EXPECT_EQ(bytes, (std::vector<uint8_t>{0, 18, 0, 3, 0, 0, 0, 1, 0, 3, 'a', 'b', 'c', 0}));
  auto v0 = EncodeOk(h, 0);  // v0 has no ClientId (ignorable): dropped
  EXPECT_EQ(v0.size(), 8u);
  h.client_id.reset();
  auto null_id = EncodeOk(h, 1);
  EXPECT_EQ(null_id, (std::vector<uint8_t>{0, 18, 0, 3, 0, 0, 0, 1, 0xff, 0xff}));
}

TEST(Codec, ResponseFramesUseTheRightHeader) {
  ApiVersionsResponse av;
  Writer w;
  ASSERT_TRUE(EncodeResponseFrame(3, 77, av, w).ok());
  auto bytes = w.Flatten();
  // size(4) + correlation id(4), no tagged-field byte in the header (v0) + body.
  ASSERT_EQ(bytes.size(), 4 + 4 + av.Size(3));
  EXPECT_EQ(bytes[7], 77);
  MetadataResponse md;
  Writer w2;
  ASSERT_TRUE(EncodeResponseFrame(9, 5, md, w2).ok());
  EXPECT_EQ(w2.size(), 4 + 4 + 1 + md.Size(9));  // header v1: + empty tagged fields
}

TEST(Codec, RequestFrameRoundTrip) {
  RequestHeader h;
  h.request_api_key = ProduceRequest::kApiKey;
  h.request_api_version = 9;
  h.correlation_id = 12;
  h.client_id = "rdkafka";
  ProduceRequest p;
  p.acks = -1;
  p.timeout_ms = 1500;
  std::vector<uint8_t> records(4096, 0x5a);
  auto& topic = p.topic_data.emplace_back();
  topic.name = "t";
  auto& part = topic.partition_data.emplace_back();
  part.index = 2;
  part.records = RecordsView::Of(records);
  Writer w;
  ASSERT_TRUE(EncodeRequestFrame(h, p, w).ok());
  EXPECT_LT(w.bytes_copied(), 64u);  // the 4 KiB of records were not copied
  auto bytes = w.Flatten();
  FrameReader frames;
  frames.Append(bytes);
  auto frame = frames.Next();
  ASSERT_TRUE(frame.ok());
  ASSERT_TRUE(frame->has_value());
  auto req = DecodeRequestHeader(**frame);
  ASSERT_TRUE(req.ok()) << req.status().ToString();
  EXPECT_EQ(req->header_version, 2);
  EXPECT_EQ(req->header, h);
  auto body = DecodeRequestBody<ProduceRequest>(*req);
  ASSERT_TRUE(body.ok()) << body.status().ToString();
  EXPECT_EQ(*body, p);
  // Decoded records point into the frame: no copy on the way in either.
  const RecordsView& got = body->topic_data[0].partition_data[0].records;
  EXPECT_GE(got.data(), (**frame).data());
  EXPECT_LE(got.data() + got.size(), (**frame).data() + (**frame).size());
}

}  // namespace
}  // namespace runnel::protocol
