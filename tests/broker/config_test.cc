#include "broker/config.h"

#include <gtest/gtest.h>

#include <map>
#include <string>
#include <vector>

namespace runnel::broker {
namespace {

// Files the fake reader knows.
std::map<std::string, std::string>& Files() {
  static std::map<std::string, std::string> files;
  return files;
}

Result<CommandLine> Parse(std::vector<std::string_view> args) {
  return ParseCommandLine(args, [](const std::string& path) -> Result<std::string> {
    auto it = Files().find(path);
    if (it == Files().end()) return Status::NotFound("no such file " + path);
    return it->second;
  });
}

TEST(ConfigTest, DefaultsWorkOnALaptop) {
  Result<CommandLine> cl = Parse({});
  ASSERT_TRUE(cl.ok()) << cl.status().ToString();
  const BrokerConfig& c = cl->config;
  EXPECT_FALSE(cl->help);
  EXPECT_EQ(c.listen.ToString(), "127.0.0.1:9092");
  EXPECT_EQ(c.AdvertisedAddress().ToString(), "127.0.0.1:9092");
  EXPECT_EQ(c.data_dir, "./data");
  EXPECT_EQ(c.smp, 0u);
  EXPECT_EQ(c.num_partitions, 1);
  EXPECT_TRUE(c.auto_create_topics_enable);
  EXPECT_EQ(c.topic.retention_ms, 604800000);
  EXPECT_EQ(c.topic.cleanup_policy, CleanupPolicy::kDelete);
  EXPECT_EQ(c.log_level, LogLevel::kInfo);
}

TEST(ConfigTest, FlagsInBothForms) {
  Result<CommandLine> cl = Parse({"--listen",
                                  "127.0.0.1:19092",
                                  "--advertise=broker.example:9093",
                                  "--smp",
                                  "3",
                                  "--node-id=7",
                                  "--data-dir",
                                  "/tmp/x",
                                  "--num.partitions",
                                  "4",
                                  "--auto.create.topics.enable=false",
                                  "--retention.ms",
                                  "-1",
                                  "--cleanup.policy",
                                  "compact,delete",
                                  "--compression.type=zstd",
                                  "--message.timestamp.type",
                                  "LogAppendTime",
                                  "--log-level",
                                  "debug"});
  ASSERT_TRUE(cl.ok()) << cl.status().ToString();
  const BrokerConfig& c = cl->config;
  EXPECT_EQ(c.listen.port, 19092);
  EXPECT_EQ(c.AdvertisedAddress().host, "broker.example");
  EXPECT_EQ(c.AdvertisedAddress().port, 9093);
  EXPECT_EQ(c.smp, 3u);
  EXPECT_EQ(c.node_id, 7);
  EXPECT_EQ(c.data_dir, "/tmp/x");
  EXPECT_EQ(c.num_partitions, 4);
  EXPECT_FALSE(c.auto_create_topics_enable);
  EXPECT_EQ(c.topic.retention_ms, -1);
  EXPECT_EQ(c.topic.cleanup_policy, CleanupPolicy::kCompactDelete);
  EXPECT_EQ(c.topic.compression_type, TopicCompression::kZstd);
  EXPECT_EQ(c.topic.message_timestamp_type, TimestampType::kLogAppendTime);
  EXPECT_EQ(c.log_level, LogLevel::kDebug);
}

TEST(ConfigTest, TomlFileWithDottedKeysTablesAndFlagOverride) {
  Files()["/etc/runnel.toml"] = R"(
listen = "127.0.0.1:29092"
data-dir = "/var/lib/runnel"
smp = 2
"num.partitions" = 6
retention.ms = 1000
cleanup.policy = ["compact", "delete"]
auto.create.topics.enable = false
[segment]
bytes = 4096
)";
  Result<CommandLine> cl = Parse({"--config", "/etc/runnel.toml", "--smp", "5"});
  ASSERT_TRUE(cl.ok()) << cl.status().ToString();
  const BrokerConfig& c = cl->config;
  EXPECT_EQ(c.listen.port, 29092);
  EXPECT_EQ(c.data_dir, "/var/lib/runnel");
  EXPECT_EQ(c.smp, 5u) << "flags override the file";
  EXPECT_EQ(c.num_partitions, 6);
  EXPECT_EQ(c.topic.retention_ms, 1000);
  EXPECT_EQ(c.topic.segment_bytes, 4096);
  EXPECT_EQ(c.topic.cleanup_policy, CleanupPolicy::kCompactDelete);
  EXPECT_FALSE(c.auto_create_topics_enable);
}

TEST(ConfigTest, FlagBeforeConfigStillOverridesTheFile) {
  Files()["/a.toml"] = "num.partitions = 2\n";
  Result<CommandLine> cl = Parse({"--num.partitions", "9", "--config=/a.toml"});
  ASSERT_TRUE(cl.ok()) << cl.status().ToString();
  EXPECT_EQ(cl->config.num_partitions, 9);
}

void ExpectError(std::vector<std::string_view> args, std::string_view must_contain) {
  Result<CommandLine> cl = Parse(args);
  ASSERT_FALSE(cl.ok()) << "accepted: " << must_contain;
  EXPECT_NE(cl.status().message().find(must_contain), std::string::npos) << cl.status().message();
}

TEST(ConfigTest, UnknownAndInvalidSettingsNameTheKeyAndReason) {
  ExpectError({"--retention.mss", "5"}, "retention.mss: unknown setting");
  ExpectError({"--retention.ms=abc"}, "retention.ms: 'abc' is not an integer");
  ExpectError({"--retention.ms", "-2"}, "retention.ms: -2 is out of range");
  ExpectError({"--segment.bytes", "13"}, "segment.bytes: 13 is out of range");
  ExpectError({"--cleanup.policy", "forever"}, "cleanup.policy: 'forever'");
  ExpectError({"--compression.type", "brotli"}, "compression.type: 'brotli'");
  ExpectError({"--message.timestamp.type", "Now"}, "message.timestamp.type");
  ExpectError({"--auto.create.topics.enable", "yes"}, "auto.create.topics.enable: 'yes'");
  ExpectError({"--listen", "localhost:9092"}, "listen: host 'localhost' is not an IPv4");
  ExpectError({"--listen", "127.0.0.1"}, "listen: '127.0.0.1' is not host:port");
  ExpectError({"--smp", "0"}, "smp: 0 is out of range");
  ExpectError({"--log-level", "loud"}, "log-level: 'loud'");
  ExpectError({"--num.partitions"}, "num.partitions: missing value");
  ExpectError({"listen"}, "not a flag");
  ExpectError({"--config", "/missing.toml"}, "cannot read /missing.toml");
  ExpectError({"--socket.request.max.bytes", "209715200"}, "connection.max.inflight.bytes");
}

TEST(ConfigTest, TomlErrorsNameFileAndKey) {
  Files()["/bad1.toml"] = "retention.ms = \"soon\"\n";
  ExpectError({"--config", "/bad1.toml"}, "/bad1.toml: retention.ms: 'soon' is not an integer");
  Files()["/bad2.toml"] = "[topic]\nwhatever = 1\n";
  ExpectError({"--config", "/bad2.toml"}, "topic.whatever: unknown setting");
  Files()["/bad3.toml"] = "listen = \n";
  ExpectError({"--config", "/bad3.toml"}, "/bad3.toml:1:");
  Files()["/bad4.toml"] = "smp = 1.5\n";
  ExpectError({"--config", "/bad4.toml"}, "smp: expected a string");
}

TEST(ConfigTest, HelpListsEverySettingWithItsDefault) {
  Result<CommandLine> cl = Parse({"--smp", "2", "--help"});
  ASSERT_TRUE(cl.ok());
  EXPECT_TRUE(cl->help);
  std::string help = HelpText();
  BrokerConfig defaults;
  for (const auto& [name, value] : DescribeSettings(defaults)) {
    EXPECT_NE(help.find("--" + name + " "), std::string::npos) << name;
    // Every setting accepts its own described value back.
    if (name != "smp") {
      BrokerConfig c;
      EXPECT_TRUE(ApplySetting(c, name, value).ok()) << name << "=" << value;
    }
  }
  EXPECT_NE(help.find("--config"), std::string::npos);
  EXPECT_NE(help.find("(default 604800000)"), std::string::npos);
}

}  // namespace
}  // namespace runnel::broker
