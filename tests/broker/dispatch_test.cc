// Request dispatch end to end on the simulator: a broker node (2 shards, RunShard on each) and a
// client node speaking the Kafka protocol with the generated codecs over SimNetwork.
#include <gtest/gtest.h>

#include <memory>

#include "broker/handlers/handler.h"
#include "broker/node.h"
#include "broker/protocol/gen/api_versions_request.h"
#include "broker/protocol/gen/api_versions_response.h"
#include "broker/protocol/gen/create_partitions_request.h"
#include "broker/protocol/gen/create_partitions_response.h"
#include "broker/protocol/gen/create_topics_request.h"
#include "broker/protocol/gen/create_topics_response.h"
#include "broker/protocol/gen/delete_topics_request.h"
#include "broker/protocol/gen/delete_topics_response.h"
#include "broker/protocol/gen/describe_cluster_request.h"
#include "broker/protocol/gen/describe_cluster_response.h"
#include "broker/protocol/gen/describe_configs_request.h"
#include "broker/protocol/gen/describe_configs_response.h"
#include "broker/protocol/gen/error_codes.h"
#include "broker/protocol/gen/incremental_alter_configs_request.h"
#include "broker/protocol/gen/incremental_alter_configs_response.h"
#include "broker/protocol/gen/metadata_request.h"
#include "broker/protocol/gen/metadata_response.h"
#include "broker/protocol/request.h"
#include "tests/broker/broker_sim.h"

namespace runnel::broker {
namespace {

using namespace protocol;  // NOLINT: test brevity
using sim::NodeId;
using sim::SimWorld;

Task<Result<std::unique_ptr<Socket>>> Connect(Io& io, Address addr) {
  // The broker may still be starting: retry for a while.
  for (int i = 0; i < 100; i++) {
    Result<std::unique_ptr<Socket>> s = co_await io.net().Connect(addr);
    if (s.ok()) co_return s;
    co_await io.Sleep(std::chrono::milliseconds(10));
  }
  co_return Status::Refused("broker never accepted");
}

// ApiVersions v9 (above what we speak): header v2 with version 9, then a v3 body.
Task<Status> SendApiVersionsAbove(Socket& s, int32_t correlation_id) {
  RequestHeader h;
  h.request_api_key = ApiVersionsRequest::kApiKey;
  h.request_api_version = 9;
  h.correlation_id = correlation_id;
  h.client_id = "future-client";
  ApiVersionsRequest body;
  body.client_software_name = "future";
  body.client_software_version = "9";
  Writer w;
  w.WriteInt32(0);
  RUNNEL_CO_TRY(h.Encode(2, w));
  RUNNEL_CO_TRY(body.Encode(3, w));
  w.PatchInt32(0, static_cast<int32_t>(w.size() - 4));
  std::vector<uint8_t> bytes = w.Flatten();
  co_return co_await s.Send(std::as_bytes(std::span(bytes)));
}

template <typename Resp>
Task<Result<Resp>> ReadResponse(Socket& s, int16_t version, int32_t correlation_id,
                                int16_t header_version = -1) {
  RUNNEL_CO_ASSIGN_OR_RETURN(std::vector<uint8_t> frame, co_await ReadFrame(s));
  Reader r(frame);
  if (header_version < 0) header_version = ResponseHeaderVersion(*FindApi(Resp::kApiKey), version);
  RUNNEL_CO_ASSIGN_OR_RETURN(ResponseHeader h, ResponseHeader::Decode(header_version, r));
  if (h.correlation_id != correlation_id) {
    co_return Status::Corruption(
        fmt::format("correlation id {} for request {}", h.correlation_id, correlation_id));
  }
  RUNNEL_CO_ASSIGN_OR_RETURN(Resp resp, Resp::Decode(version, r));
  if (!r.empty()) co_return Status::Corruption("trailing bytes in response");
  co_return resp;
}

template <typename Resp, typename Req>
Task<Result<Resp>> Call(Socket& s, int16_t version, const Req& req, int32_t correlation_id) {
  RUNNEL_CO_TRY(co_await SendRequest(s, version, req, correlation_id));
  co_return co_await ReadResponse<Resp>(s, version, correlation_id);
}

// One optional config (name empty: none). Plain strings, no braced lists: GCC 12 mishandles
// initializer lists of string literals inside coroutines.
CreateTopicsRequest CreateRequest(std::string name, int32_t partitions, std::string config_name,
                                  std::string config_value, bool validate_only) {
  std::vector<std::pair<std::string, std::string>> configs;
  if (!config_name.empty()) configs.emplace_back(config_name, config_value);
  CreateTopicsRequest req;
  CreateTopicsRequest::CreatableTopic t;
  t.name = std::move(name);
  t.num_partitions = partitions;
  t.replication_factor = -1;
  for (auto& [k, v] : configs) {
    CreateTopicsRequest::CreatableTopicConfig c;
    c.name = k;
    c.value = v;
    t.configs.push_back(std::move(c));
  }
  req.topics.push_back(std::move(t));
  req.validate_only = validate_only;
  return req;
}

// `names` is comma-separated ("" for an empty, non-null list).
MetadataRequest MetadataFor(std::string csv, bool auto_create) {
  std::vector<std::string> names;
  for (size_t start = 0; start < csv.size();) {
    size_t comma = csv.find(',', start);
    if (comma == std::string::npos) comma = csv.size();
    names.push_back(csv.substr(start, comma - start));
    start = comma + 1;
  }
  MetadataRequest req;
  req.topics.emplace();
  for (auto& n : names) {
    MetadataRequest::MetadataRequestTopic t;
    t.name = n;
    req.topics->push_back(std::move(t));
  }
  req.allow_auto_topic_creation = auto_create;
  return req;
}

TEST(DispatchTest, ApiVersionsListsServedApisAndDowngradesNewerClients) {
  BrokerSim sim(1);
  sim.Run([&](Io& io) -> Task<void> {
    auto sock = co_await Connect(io, sim.address());
    EXPECT_TRUE(sock.ok());
    if (!sock.ok()) co_return;
    ApiVersionsRequest req;
    req.client_software_name = "test";
    req.client_software_version = "1";
    auto resp = co_await Call<ApiVersionsResponse>(**sock, 3, req, 1);
    EXPECT_TRUE(resp.ok()) << resp.status().ToString();
    if (!resp.ok()) co_return;
    EXPECT_EQ(resp->error_code, 0);
    std::map<int16_t, std::pair<int16_t, int16_t>> apis;
    for (const auto& a : resp->api_keys) apis[a.api_key] = {a.min_version, a.max_version};
    EXPECT_EQ(apis.at(18), std::make_pair(int16_t{0}, int16_t{4}));
    EXPECT_EQ(apis.at(3), std::make_pair(int16_t{0}, int16_t{12}));
    EXPECT_TRUE(apis.contains(19));
    EXPECT_TRUE(apis.contains(60));
    // Advertised only when served.
    for (const auto& [key, range] : apis) EXPECT_NE(FindHandler(key), nullptr) << key;

    // A version above ours: v0-format UNSUPPORTED_VERSION with our ApiVersions range, header v0.
    EXPECT_TRUE((co_await SendApiVersionsAbove(**sock, 2)).ok());
    auto down = co_await ReadResponse<ApiVersionsResponse>(**sock, 0, 2, 0);
    EXPECT_TRUE(down.ok()) << down.status().ToString();
    if (!down.ok()) co_return;
    EXPECT_EQ(down->error_code, static_cast<int16_t>(ErrorCode::kUnsupportedVersion));
    EXPECT_EQ(down->api_keys.size(), 1u);
    if ((down->api_keys.size()) != (1u)) co_return;
    EXPECT_EQ(down->api_keys[0].api_key, 18);
    EXPECT_EQ(down->api_keys[0].max_version, 4);
  });
}

TEST(DispatchTest, PipelinedRequestsAreAnsweredInOrder) {
  BrokerSim sim(2);
  sim.Run([&](Io& io) -> Task<void> {
    auto sock = co_await Connect(io, sim.address());
    EXPECT_TRUE(sock.ok());
    if (!sock.ok()) co_return;
    // kafka-python's probe: ApiVersions v0 with Metadata v0 right behind it, then more.
    // Named locals: GCC 12 destroys aggregate temporaries inside co_await twice (io/README.md).
    const ApiVersionsRequest versions_req;
    const MetadataRequest all_v0;
    EXPECT_TRUE((co_await SendRequest(**sock, 0, versions_req, 10)).ok());
    EXPECT_TRUE((co_await SendRequest(**sock, 0, all_v0, 11)).ok());
    for (int i = 0; i < 20; i++) {
      EXPECT_TRUE((co_await SendRequest(**sock, 1, MetadataFor("", true), 100 + i)).ok());
    }
    auto v = co_await ReadResponse<ApiVersionsResponse>(**sock, 0, 10);
    EXPECT_TRUE(v.ok()) << v.status().ToString();
    auto m = co_await ReadResponse<MetadataResponse>(**sock, 0, 11);
    EXPECT_TRUE(m.ok()) << m.status().ToString();
    if (m.ok()) {
      EXPECT_EQ(m->brokers.size(), 1u);
      if ((m->brokers.size()) != (1u)) co_return;
      EXPECT_EQ(m->brokers[0].host, SimWorld::AddressOf(1));
      EXPECT_EQ(m->brokers[0].port, BrokerSim::kPort);
    }
    for (int i = 0; i < 20; i++) {
      auto r = co_await ReadResponse<MetadataResponse>(**sock, 1, 100 + i);
      EXPECT_TRUE(r.ok()) << i << ": " << r.status().ToString();
      if (r.ok()) {
        EXPECT_TRUE(r->topics.empty());
      }
    }
  });
}

TEST(DispatchTest, TopicLifecycleAcrossShardsAndRestart) {
  BrokerSim sim(3);
  auto created_id_holder = std::make_shared<Uuid>();
  Uuid* created_id_ptr = created_id_holder.get();
  sim.Run([&](Io& io) -> Task<void> {
    // Two connections; with two shards they may land on either; metadata lives on shard 0.
    auto a = co_await Connect(io, sim.address());
    auto b = co_await Connect(io, sim.address());
    EXPECT_TRUE(a.ok() && b.ok());
    if (!a.ok() || !b.ok()) co_return;
    auto created = co_await Call<CreateTopicsResponse>(
        **a, 7, CreateRequest("orders", 3, "retention.ms", "1000", false), 1);
    EXPECT_TRUE(created.ok()) << created.status().ToString();
    if (!created.ok()) co_return;
    EXPECT_EQ(created->topics.size(), 1u);
    if ((created->topics.size()) != (1u)) co_return;
    EXPECT_EQ(created->topics[0].error_code, 0);
    EXPECT_EQ(created->topics[0].num_partitions, 3);
    EXPECT_FALSE(created->topics[0].topic_id.IsZero());
    *created_id_ptr = created->topics[0].topic_id;

    auto again =
        co_await Call<CreateTopicsResponse>(**b, 4, CreateRequest("orders", 1, "", "", false), 2);
    EXPECT_TRUE(again.ok());
    if (again.ok()) {
      EXPECT_EQ(again->topics[0].error_code, static_cast<int16_t>(ErrorCode::kTopicAlreadyExists));
    }
    auto validate = co_await Call<CreateTopicsResponse>(
        **b, 5, CreateRequest("dry", 2, "", "", /*validate_only=*/true), 3);
    EXPECT_TRUE(validate.ok());
    auto bad = co_await Call<CreateTopicsResponse>(
        **b, 5, CreateRequest("bad", 2, "cleanup.policy", "sometimes", false), 4);
    EXPECT_TRUE(bad.ok());
    if (bad.ok()) {
      EXPECT_EQ(bad->topics[0].error_code, static_cast<int16_t>(ErrorCode::kInvalidConfig));
    }

    auto meta = co_await Call<MetadataResponse>(**b, 12, MetadataFor("orders,dry,bad", false), 5);
    EXPECT_TRUE(meta.ok()) << meta.status().ToString();
    if (!meta.ok()) co_return;
    EXPECT_EQ(meta->topics.size(), 3u);
    if ((meta->topics.size()) != (3u)) co_return;
    EXPECT_EQ(meta->topics[0].error_code, 0);
    EXPECT_EQ(meta->topics[0].partitions.size(), 3u);
    EXPECT_EQ(meta->topics[0].topic_id.ToHex(), created_id_ptr->ToHex());
    EXPECT_EQ(meta->topics[1].error_code,
              static_cast<int16_t>(ErrorCode::kUnknownTopicOrPartition));
    EXPECT_EQ(meta->topics[2].error_code,
              static_cast<int16_t>(ErrorCode::kUnknownTopicOrPartition));

    CreatePartitionsRequest grow;
    CreatePartitionsRequest::CreatePartitionsTopic g;
    g.name = "orders";
    g.count = 5;
    g.assignments = std::nullopt;
    grow.topics.push_back(g);
    auto grown = co_await Call<CreatePartitionsResponse>(**a, 3, grow, 6);
    EXPECT_TRUE(grown.ok()) << grown.status().ToString();
    if (grown.ok()) {
      EXPECT_EQ(grown->results[0].error_code, 0);
    }

    IncrementalAlterConfigsRequest alter;
    IncrementalAlterConfigsRequest::AlterConfigsResource res;
    res.resource_type = 2;
    res.resource_name = "orders";
    IncrementalAlterConfigsRequest::AlterableConfig set;
    set.name = "cleanup.policy";
    set.config_operation = 0;
    set.value = "compact";
    res.configs.push_back(set);
    alter.resources.push_back(res);
    auto altered = co_await Call<IncrementalAlterConfigsResponse>(**b, 1, alter, 7);
    EXPECT_TRUE(altered.ok()) << altered.status().ToString();
    if (altered.ok()) {
      EXPECT_EQ(altered->responses[0].error_code, 0);
    }

    auto auto_created = co_await Call<MetadataResponse>(**a, 4, MetadataFor("auto1", true), 8);
    EXPECT_TRUE(auto_created.ok());
    if (auto_created.ok()) {
      EXPECT_EQ(auto_created->topics[0].error_code, 0);
      EXPECT_EQ(auto_created->topics[0].partitions.size(), 1u);
    }
  });

  sim.Restart();
  sim.Run([&](Io& io) -> Task<void> {
    auto a = co_await Connect(io, sim.address());
    EXPECT_TRUE(a.ok());
    if (!a.ok()) co_return;
    auto meta = co_await Call<MetadataResponse>(**a, 1, MetadataFor("", true), 1);
    // v1 with an empty (non-null) list means no topics; null means all.
    EXPECT_TRUE(meta.ok());
    if (meta.ok()) {
      EXPECT_TRUE(meta->topics.empty());
    }
    MetadataRequest all;
    all.topics = std::nullopt;
    auto every = co_await Call<MetadataResponse>(**a, 10, all, 2);
    EXPECT_TRUE(every.ok()) << every.status().ToString();
    if (!every.ok()) co_return;
    EXPECT_EQ(every->topics.size(), 2u);
    if ((every->topics.size()) != (2u)) co_return;
    EXPECT_EQ(every->topics[0].name, "auto1");
    EXPECT_EQ(every->topics[1].name, "orders");
    EXPECT_EQ(every->topics[1].partitions.size(), 5u);
    EXPECT_EQ(every->topics[1].topic_id.ToHex(), created_id_ptr->ToHex());

    DescribeConfigsRequest describe;
    DescribeConfigsRequest::DescribeConfigsResource r;
    r.resource_type = 2;
    r.resource_name = "orders";
    r.configuration_keys = std::vector<std::string>{"retention.ms", "cleanup.policy"};
    describe.resources.push_back(r);
    auto configs = co_await Call<DescribeConfigsResponse>(**a, 4, describe, 3);
    EXPECT_TRUE(configs.ok()) << configs.status().ToString();
    if (!configs.ok()) co_return;
    EXPECT_EQ(configs->results[0].configs.size(), 2u);
    if ((configs->results[0].configs.size()) != (2u)) co_return;
    EXPECT_EQ(configs->results[0].configs[0].name, "cleanup.policy");
    EXPECT_EQ(configs->results[0].configs[0].value, "compact");
    EXPECT_EQ(configs->results[0].configs[1].name, "retention.ms");
    EXPECT_EQ(configs->results[0].configs[1].value, "1000");
    EXPECT_EQ(configs->results[0].configs[1].config_source, 1);

    DeleteTopicsRequest del;
    DeleteTopicsRequest::DeleteTopicState d;
    d.name = std::nullopt;
    d.topic_id = *created_id_ptr;
    del.topics.push_back(d);
    auto deleted = co_await Call<DeleteTopicsResponse>(**a, 6, del, 4);
    EXPECT_TRUE(deleted.ok()) << deleted.status().ToString();
    if (deleted.ok()) {
      EXPECT_EQ(deleted->responses[0].error_code, 0);
      EXPECT_EQ(deleted->responses[0].name, "orders");
    }
    const DescribeClusterRequest cluster_req;
    auto cluster = co_await Call<DescribeClusterResponse>(**a, 1, cluster_req, 5);
    EXPECT_TRUE(cluster.ok());
    if (cluster.ok()) {
      EXPECT_EQ(cluster->brokers.size(), 1u);
      EXPECT_FALSE(cluster->cluster_id.empty());
    }
  });
}

TEST(DispatchTest, MalformedRequestClosesOnlyThatConnection) {
  BrokerSim sim(4);
  sim.Run([&](Io& io) -> Task<void> {
    auto good = co_await Connect(io, sim.address());
    auto bad = co_await Connect(io, sim.address());
    EXPECT_TRUE(good.ok() && bad.ok());
    if (!good.ok() || !bad.ok()) co_return;
    // A valid request, then a frame with an unknown API key: the first is answered, then the
    // connection closes.
    const ApiVersionsRequest versions_req;
    EXPECT_TRUE((co_await SendRequest(**bad, 0, versions_req, 1)).ok());
    std::vector<uint8_t> junk = {0, 0, 0, 8, 0x7f, 0x7f, 0, 0, 0, 0, 0, 2};
    EXPECT_TRUE((co_await (*bad)->Send(std::as_bytes(std::span(junk)))).ok());
    auto first = co_await ReadResponse<ApiVersionsResponse>(**bad, 0, 1);
    EXPECT_TRUE(first.ok()) << first.status().ToString();
    auto after = co_await ReadFrame(**bad);
    EXPECT_FALSE(after.ok());
    // A frame larger than socket.request.max.bytes also closes.
    auto huge = co_await Connect(io, sim.address());
    std::vector<uint8_t> big = {0x7f, 0xff, 0xff, 0xff};
    EXPECT_TRUE((co_await (*huge)->Send(std::as_bytes(std::span(big)))).ok());
    EXPECT_FALSE((co_await ReadFrame(**huge)).ok());
    // The healthy connection keeps working.
    auto resp = co_await Call<MetadataResponse>(**good, 1, MetadataFor("", true), 2);
    EXPECT_TRUE(resp.ok()) << resp.status().ToString();
  });
}

}  // namespace
}  // namespace runnel::broker
