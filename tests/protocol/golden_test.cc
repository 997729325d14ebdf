// Requests recorded from real clients (tests/protocol/record_golden.py: kcat/librdkafka 2.0.2,
// kafka-python 2.0.2, confluent-kafka 1.7.0) decode field by field to what those clients
// sent, and re-encode to the same bytes.
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <string_view>
#include <vector>

#include "broker/protocol/gen/messages.h"
#include "broker/protocol/gen/visit.h"
#include "broker/protocol/request.h"

namespace runnel::protocol {
namespace {

std::vector<uint8_t> ReadFile(const std::string& name) {
  std::ifstream in(std::string(RUNNEL_GOLDEN_DIR) + "/" + name, std::ios::binary);
  EXPECT_TRUE(in.good()) << name;
  return std::vector<uint8_t>(std::istreambuf_iterator<char>(in), {});
}

// A golden file holds one request frame, size prefix included.
struct Golden {
  std::vector<uint8_t> stream;
  std::vector<uint8_t> frame;
  RequestFrame request;
};

Golden Load(const std::string& name) {
  Golden g;
  g.stream = ReadFile(name);
  FrameReader frames;
  frames.Append(g.stream);
  auto next = frames.Next();
  EXPECT_TRUE(next.ok() && next->has_value()) << name;
  if (next.ok() && next->has_value()) g.frame.assign((*next)->begin(), (*next)->end());
  auto after = frames.Next();
  EXPECT_TRUE(after.ok() && !after->has_value()) << name << ": more than one frame";
  auto req = DecodeRequestHeader(g.frame);
  EXPECT_TRUE(req.ok()) << name << ": " << req.status().ToString();
  if (req.ok()) g.request = *req;
  return g;
}

template <typename T>
T Body(const Golden& g) {
  auto body = DecodeRequestBody<T>(g.request);
  EXPECT_TRUE(body.ok()) << T::kName << ": " << body.status().ToString();
  if (!body.ok()) return T{};
  // Lossless: header + body re-encode to the recorded frame.
  Writer w;
  EXPECT_TRUE(EncodeRequestFrame(g.request.header, *body, w).ok());
  EXPECT_EQ(w.Flatten(), g.stream) << T::kName << " does not re-encode to the recorded bytes";
  return std::move(body).value();
}

std::string_view AsText(const RecordsView& r) {
  return std::string_view(reinterpret_cast<const char*>(r.data()), r.size());
}

TEST(Golden, KcatApiVersionsV3) {
  Golden g = Load("kcat_00_ApiVersions_v3.bin");
  EXPECT_EQ(g.request.api_key(), 18);
  EXPECT_EQ(g.request.api_version(), 3);
  EXPECT_EQ(g.request.header_version, 2);
  EXPECT_EQ(g.request.header.correlation_id, 1);
  EXPECT_EQ(g.request.header.client_id, "golden-kcat");
  auto req = Body<ApiVersionsRequest>(g);
  EXPECT_EQ(req.client_software_name, "librdkafka");
  EXPECT_EQ(req.client_software_version, "2.0.2");
  EXPECT_TRUE(req.unknown_tagged_fields.empty());
}

TEST(Golden, KcatMetadataV4) {
  Golden g = Load("kcat_01_Metadata_v4.bin");
  EXPECT_EQ(g.request.api_key(), 3);
  EXPECT_EQ(g.request.api_version(), 4);
  EXPECT_EQ(g.request.header_version, 1);
  EXPECT_EQ(g.request.header.correlation_id, 2);
  auto req = Body<MetadataRequest>(g);
  ASSERT_TRUE(req.topics.has_value());  // an empty list: "all topics" in v4 is null or []
  EXPECT_TRUE(req.topics->empty());
  EXPECT_FALSE(req.allow_auto_topic_creation);
}

TEST(Golden, KafkaPythonApiVersionsV0ThenPipelinedMetadataV0) {
  Golden av = Load("kafka_python_00_ApiVersions_v0.bin");
  EXPECT_EQ(av.request.api_key(), 18);
  EXPECT_EQ(av.request.api_version(), 0);
  EXPECT_EQ(av.request.header_version, 1);
  EXPECT_EQ(av.request.header.client_id, "golden-kafka-python");
  auto req = Body<ApiVersionsRequest>(av);
  EXPECT_EQ(req.client_software_name, "");  // not in v0: the default

  Golden md = Load("kafka_python_01_Metadata_v0.bin");
  EXPECT_EQ(md.request.api_key(), 3);
  EXPECT_EQ(md.request.api_version(), 0);
  // Sent right behind ApiVersions on the same connection, before its response.
  EXPECT_EQ(md.request.header.correlation_id, av.request.header.correlation_id + 1);
  auto meta = Body<MetadataRequest>(md);
  ASSERT_TRUE(meta.topics.has_value());
  EXPECT_TRUE(meta.topics->empty());
  EXPECT_TRUE(meta.allow_auto_topic_creation);  // v0 cannot say: the schema default

  // The two frames back to back parse as one stream.
  std::vector<uint8_t> stream = av.stream;
  stream.insert(stream.end(), md.stream.begin(), md.stream.end());
  FrameReader frames;
  frames.Append(stream);
  int count = 0;
  while (true) {
    auto next = frames.Next();
    ASSERT_TRUE(next.ok());
    if (!next->has_value()) break;
    ++count;
  }
  EXPECT_EQ(count, 2);
}

void ExpectRecordBatch(const RecordsView& records, std::string_view key, std::string_view value) {
  ASSERT_FALSE(records.is_null());
  // RecordBatch v2: baseOffset(8) batchLength(4) partitionLeaderEpoch(4) magic(1).
  ASSERT_GT(records.size(), 61u);
  EXPECT_EQ(records.data()[16], 2) << "magic";
  uint32_t batch_length = (uint32_t{records.data()[8]} << 24) | (records.data()[9] << 16) |
                          (records.data()[10] << 8) | records.data()[11];
  EXPECT_EQ(batch_length + 12, records.size());
  EXPECT_NE(AsText(records).find(key), std::string_view::npos);
  EXPECT_NE(AsText(records).find(value), std::string_view::npos);
}

TEST(Golden, KafkaPythonProduceV7) {
  Golden g = Load("kafka_python_02_Produce_v7.bin");
  EXPECT_EQ(g.request.api_key(), 0);
  EXPECT_EQ(g.request.api_version(), 7);
  auto req = Body<ProduceRequest>(g);
  EXPECT_FALSE(req.transactional_id.has_value());
  EXPECT_EQ(req.acks, 1);
  EXPECT_EQ(req.timeout_ms, 5000);
  ASSERT_EQ(req.topic_data.size(), 1u);
  EXPECT_EQ(req.topic_data[0].name, "golden");
  ASSERT_EQ(req.topic_data[0].partition_data.size(), 1u);
  const auto& part = req.topic_data[0].partition_data[0];
  EXPECT_EQ(part.index, 0);
  ExpectRecordBatch(part.records, "k1", "hello from kafka-python");
  // The records view points into the frame (no copy).
  EXPECT_GE(part.records.data(), g.request.body.data());
  EXPECT_LE(part.records.data() + part.records.size(),
            g.request.body.data() + g.request.body.size());
}

TEST(Golden, KafkaPythonFetchV4) {
  Golden g = Load("kafka_python_consumer_00_Fetch_v4.bin");
  EXPECT_EQ(g.request.api_key(), 1);
  EXPECT_EQ(g.request.api_version(), 4);
  auto req = Body<FetchRequest>(g);
  EXPECT_EQ(req.replica_id, -1);
  EXPECT_EQ(req.max_wait_ms, 100);
  EXPECT_EQ(req.min_bytes, 1);
  EXPECT_EQ(req.max_bytes, 52428800);
  EXPECT_EQ(req.isolation_level, 0);
  EXPECT_EQ(req.session_epoch, -1);  // v4 has no sessions: the default
  ASSERT_EQ(req.topics.size(), 1u);
  EXPECT_EQ(req.topics[0].topic, "golden");
  ASSERT_EQ(req.topics[0].partitions.size(), 1u);
  EXPECT_EQ(req.topics[0].partitions[0].partition, 0);
  EXPECT_EQ(req.topics[0].partitions[0].fetch_offset, 5);  // the test seeks to 5
  EXPECT_EQ(req.topics[0].partitions[0].partition_max_bytes, 1048576);
}

TEST(Golden, ConfluentApiVersionsAndMetadata) {
  Golden av = Load("confluent_00_ApiVersions_v3.bin");
  EXPECT_EQ(av.request.api_version(), 3);
  EXPECT_EQ(av.request.header.client_id, "golden-confluent");
  auto req = Body<ApiVersionsRequest>(av);
  EXPECT_EQ(req.client_software_name, "confluent-kafka-python");
  EXPECT_EQ(req.client_software_version, "1.7.0-rdkafka-2.0.2");
  Golden md = Load("confluent_01_Metadata_v4.bin");
  EXPECT_EQ(md.request.api_version(), 4);
  auto meta = Body<MetadataRequest>(md);
  ASSERT_TRUE(meta.topics.has_value());
}

TEST(Golden, ConfluentCreateTopicsV4) {
  Golden g = Load("confluent_02_CreateTopics_v4.bin");
  EXPECT_EQ(g.request.api_key(), 19);
  EXPECT_EQ(g.request.api_version(), 4);
  auto req = Body<CreateTopicsRequest>(g);
  ASSERT_EQ(req.topics.size(), 1u);
  const auto& t = req.topics[0];
  EXPECT_EQ(t.name, "golden-new");
  EXPECT_EQ(t.num_partitions, 3);
  EXPECT_EQ(t.replication_factor, 1);
  EXPECT_TRUE(t.assignments.empty());
  ASSERT_EQ(t.configs.size(), 1u);
  EXPECT_EQ(t.configs[0].name, "retention.ms");
  EXPECT_EQ(t.configs[0].value, "60000");
  EXPECT_EQ(req.timeout_ms, 5000);
  EXPECT_FALSE(req.validate_only);
}

TEST(Golden, ConfluentInitProducerIdV4) {
  Golden g = Load("confluent_producer_00_InitProducerId_v4.bin");
  EXPECT_EQ(g.request.api_key(), 22);
  EXPECT_EQ(g.request.api_version(), 4);
  EXPECT_EQ(g.request.header_version, 2);
  auto req = Body<InitProducerIdRequest>(g);
  EXPECT_FALSE(req.transactional_id.has_value());  // idempotent, not transactional
  EXPECT_EQ(req.transaction_timeout_ms, -1);
  EXPECT_EQ(req.producer_id, -1);
  EXPECT_EQ(req.producer_epoch, -1);
}

TEST(Golden, ConfluentIdempotentProduceV7) {
  Golden g = Load("confluent_producer_01_Produce_v7.bin");
  EXPECT_EQ(g.request.api_version(), 7);
  auto req = Body<ProduceRequest>(g);
  EXPECT_EQ(req.acks, -1);  // idempotence forces acks=all
  ASSERT_EQ(req.topic_data.size(), 1u);
  ASSERT_EQ(req.topic_data[0].partition_data.size(), 1u);
  const RecordsView& records = req.topic_data[0].partition_data[0].records;
  ExpectRecordBatch(records, "k1", "hello from confluent-kafka");
  // The producer id InitProducerId returned (1000) is in the batch header at offset 43.
  int64_t pid = 0;
  for (int i = 0; i < 8; ++i) pid = (pid << 8) | records.data()[43 + i];
  EXPECT_EQ(pid, 1000);
}

TEST(Golden, EveryFileDecodesAndReencodes) {
  int files = 0;
  for (const auto& entry : std::filesystem::directory_iterator(RUNNEL_GOLDEN_DIR)) {
    if (entry.path().extension() != ".bin") continue;
    ++files;
    Golden g = Load(entry.path().filename().string());
    bool known = VisitRequestType(g.request.api_key(), [&]<typename T>() { (void)Body<T>(g); });
    EXPECT_TRUE(known) << entry.path();
  }
  EXPECT_EQ(files, 11);
}

}  // namespace
}  // namespace runnel::protocol
