#include "broker/topic_ops.h"

#include <gtest/gtest.h>

#include "broker/metadata_store.h"

namespace runnel::broker {
namespace {

using protocol::ErrorCode;

ClusterMetadata WithTopic(std::string name, int32_t partitions) {
  ClusterMetadata m;
  m.cluster_id = "c1";
  m.node_id = 3;
  TopicInfo t;
  t.name = name;
  t.id.bytes[0] = 1;
  t.partitions = partitions;
  m.topics.emplace(name, t);
  return m;
}

TEST(TopicOpsTest, NewTopicDefaultsAndValidation) {
  BrokerConfig config;
  config.num_partitions = 4;
  ClusterMetadata m = WithTopic("existing", 1);
  TopicInfo out;
  NewTopic t;
  t.name = "fresh";
  ASSERT_TRUE(ValidateNewTopic(m, config, t, &out).ok());
  EXPECT_EQ(out.partitions, 4);
  EXPECT_TRUE(out.overrides.empty());

  t.name = "existing";
  EXPECT_EQ(ValidateNewTopic(m, config, t, &out).code, ErrorCode::kTopicAlreadyExists);
  t.name = "bad name";
  EXPECT_EQ(ValidateNewTopic(m, config, t, &out).code, ErrorCode::kInvalidTopicException);
  t.name = "ok";
  t.partitions = 0;
  EXPECT_EQ(ValidateNewTopic(m, config, t, &out).code, ErrorCode::kInvalidPartitions);
  t.partitions = 2;
  t.replication_factor = 3;
  EXPECT_EQ(ValidateNewTopic(m, config, t, &out).code, ErrorCode::kInvalidReplicationFactor);
  t.replication_factor = 1;
  t.configs = {{"retention.ms", "1000"}, {"cleanup.policy", "compact"}};
  ASSERT_TRUE(ValidateNewTopic(m, config, t, &out).ok());
  EXPECT_EQ(out.partitions, 2);
  EXPECT_EQ(out.overrides.at("retention.ms"), "1000");
  EXPECT_EQ(out.overrides.at("cleanup.policy"), "compact");
  t.configs = {{"retention.ms", "never"}};
  TopicError e = ValidateNewTopic(m, config, t, &out);
  EXPECT_EQ(e.code, ErrorCode::kInvalidConfig);
  EXPECT_NE(e.message.find("retention.ms"), std::string::npos);
  t.configs = {{"no.such.config", "1"}};
  EXPECT_EQ(ValidateNewTopic(m, config, t, &out).code, ErrorCode::kInvalidConfig);
}

TEST(TopicOpsTest, ExplicitAssignmentsMustNameThisNode) {
  BrokerConfig config;
  ClusterMetadata m = WithTopic("x", 1);
  TopicInfo out;
  NewTopic t;
  t.name = "assigned";
  t.assignments = {{3}, {3}, {3}};
  ASSERT_TRUE(ValidateNewTopic(m, config, t, &out).ok());
  EXPECT_EQ(out.partitions, 3);
  t.assignments = {{3}, {4}};
  EXPECT_EQ(ValidateNewTopic(m, config, t, &out).code, ErrorCode::kInvalidReplicaAssignment);
}

TEST(TopicOpsTest, PartitionIncrease) {
  ClusterMetadata m = WithTopic("t", 3);
  EXPECT_TRUE(ValidatePartitionIncrease(m, 3, "t", 5, std::nullopt).ok());
  EXPECT_EQ(ValidatePartitionIncrease(m, 3, "t", 3, std::nullopt).code,
            ErrorCode::kInvalidPartitions);
  EXPECT_EQ(ValidatePartitionIncrease(m, 3, "nope", 5, std::nullopt).code,
            ErrorCode::kUnknownTopicOrPartition);
  std::vector<std::vector<int32_t>> a = {{3}};
  EXPECT_EQ(ValidatePartitionIncrease(m, 3, "t", 5, a).code, ErrorCode::kInvalidReplicaAssignment);
  a = {{3}, {3}};
  EXPECT_TRUE(ValidatePartitionIncrease(m, 3, "t", 5, a).ok());
}

TEST(TopicOpsTest, ConfigChanges) {
  BrokerConfig config;
  TopicOverrides o = {{"retention.ms", "1000"}};
  // IncrementalAlterConfigs keeps other overrides.
  ASSERT_TRUE(ApplyConfigChanges(config, o, {{"segment.ms", ConfigOp::kSet, "5000"}}, false).ok());
  EXPECT_EQ(o.size(), 2u);
  ASSERT_TRUE(ApplyConfigChanges(config, o, {{"retention.ms", ConfigOp::kDelete, {}}}, false).ok());
  EXPECT_EQ(o, (TopicOverrides{{"segment.ms", "5000"}}));
  // APPEND and SUBTRACT work on the list setting, from the default "delete".
  ASSERT_TRUE(
      ApplyConfigChanges(config, o, {{"cleanup.policy", ConfigOp::kAppend, "compact"}}, false)
          .ok());
  EXPECT_EQ(o.at("cleanup.policy"), "compact,delete");
  ASSERT_TRUE(
      ApplyConfigChanges(config, o, {{"cleanup.policy", ConfigOp::kSubtract, "delete"}}, false)
          .ok());
  EXPECT_EQ(o.at("cleanup.policy"), "compact");
  EXPECT_EQ(ApplyConfigChanges(config, o, {{"retention.ms", ConfigOp::kAppend, "1"}}, false).code,
            ErrorCode::kInvalidConfig);
  // A failed change leaves the overrides untouched.
  TopicOverrides before = o;
  EXPECT_EQ(
      ApplyConfigChanges(
          config, o, {{"segment.ms", ConfigOp::kSet, "7"}, {"segment.bytes", ConfigOp::kSet, "1"}},
          false)
          .code,
      ErrorCode::kInvalidConfig);
  EXPECT_EQ(o, before);
  // AlterConfigs replaces the whole set.
  ASSERT_TRUE(
      ApplyConfigChanges(config, o, {{"retention.bytes", ConfigOp::kSet, "10"}}, true).ok());
  EXPECT_EQ(o, (TopicOverrides{{"retention.bytes", "10"}}));
}

TEST(TopicOpsTest, ConfigSource) {
  BrokerConfig config;
  config.topic.retention_ms = 5;
  TopicOverrides o = {{"segment.ms", "9"}};
  EXPECT_EQ(TopicConfigSource(config, o, "segment.ms"), kConfigSourceDynamicTopic);
  EXPECT_EQ(TopicConfigSource(config, o, "retention.ms"), kConfigSourceStaticBroker);
  EXPECT_EQ(TopicConfigSource(config, o, "retention.bytes"), kConfigSourceDefault);
}

TEST(MetadataFileTest, RoundTripAndCorruption) {
  ClusterMetadata m = WithTopic("orders", 12);
  TopicInfo t;
  t.name = "logs.v2";
  t.id.bytes = {0xde, 0xad, 0xbe, 0xef, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 0xff};
  t.partitions = 1;
  t.overrides = {{"retention.ms", "-1"}, {"cleanup.policy", "compact,delete"}};
  m.topics.emplace(t.name, t);
  std::string text = SerializeMetadata(m);
  Result<ClusterMetadata> back = ParseMetadata(text);
  ASSERT_TRUE(back.ok()) << back.status().ToString() << "\n" << text;
  EXPECT_EQ(*back, m);
  EXPECT_FALSE(ParseMetadata("format = 1\n").ok());
  EXPECT_FALSE(ParseMetadata(text.substr(0, text.size() / 2) + "[[[").ok());
  EXPECT_FALSE(ParseMetadata("format = 99\ncluster_id = 'x'\nnode_id = 0\n").ok());
}

TEST(MetadataFileTest, TopicNames) {
  EXPECT_TRUE(IsValidTopicName("a"));
  EXPECT_TRUE(IsValidTopicName("A-b_c.9"));
  EXPECT_FALSE(IsValidTopicName(""));
  EXPECT_FALSE(IsValidTopicName("."));
  EXPECT_FALSE(IsValidTopicName(".."));
  EXPECT_FALSE(IsValidTopicName("a/b"));
  EXPECT_FALSE(IsValidTopicName(std::string(250, 'x')));
  EXPECT_TRUE(IsValidTopicName(std::string(249, 'x')));
}

}  // namespace
}  // namespace runnel::broker
