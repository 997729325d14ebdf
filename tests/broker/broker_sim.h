// Test harness: a runnel broker node (RunShard on each of its shards) and a one-shard client
// node on one SimWorld, plus the framing helpers a test client needs to speak the Kafka protocol
// with the generated codecs. The simulator is one thread, so a test may also look at the
// broker's per-shard state (shard()) between its requests.
#pragma once

#include <fmt/format.h>
#include <gtest/gtest.h>

#include <array>
#include <functional>
#include <memory>
#include <span>
#include <vector>

#include "broker/node.h"
#include "broker/protocol/gen/produce_request.h"
#include "broker/protocol/request.h"
#include "broker/server.h"
#include "sim/node.h"
#include "sim/world.h"

namespace runnel::broker {

class BrokerSim {
 public:
  static constexpr uint16_t kPort = 9092;

  // `configure` adjusts the broker's settings before it first starts.
  explicit BrokerSim(uint64_t seed, uint32_t shards = 2,
                     const std::function<void(BrokerConfig&)>& configure = {})
      : world_(seed) {
    config_.listen = Address(sim::SimWorld::AddressOf(1), kPort);
    config_.data_dir = "/data";
    config_.smp = shards;
    if (configure) configure(config_);
    sim::NodeOptions opts;
    opts.shards = shards;
    opts.boot = [this](sim::SimNode& n) {
      node_ = std::make_unique<Node>(config_, n.shard_count());
      for (ShardId s = 0; s < n.shard_count(); s++) n.Spawn(s, RunShard(n.io(s), *node_));
    };
    broker_ = world_.AddNode(std::move(opts));
    sim::NodeOptions client;
    client.shards = 1;
    client_ = world_.AddNode(std::move(client));
  }

  // Runs body on the client node until it finished.
  bool Run(std::function<Task<void>(Io&)> body) {
    bool done = false;
    world_.Spawn(client_, 0,
                 [](std::function<Task<void>(Io&)> body, Io& io, bool* done) -> Task<void> {
                   co_await body(io);
                   *done = true;
                 }(std::move(body), world_.node(client_).io(0), &done));
    sim::RunStop stop =
        world_.RunUntil([&] { return done; }, sim::RunLimits{.steps_max = 50'000'000});
    EXPECT_TRUE(done) << sim::RunStopName(stop) << " " << world_.failure();
    return done;
  }

  void Restart() {
    world_.StopNode(broker_);
    world_.StartNode(broker_);
  }

  Address address() const { return Address(sim::SimWorld::AddressOf(1), kPort); }
  BrokerConfig& config() { return config_; }
  uint32_t shard_count() const { return config_.smp; }
  Node& node() { return *node_; }
  // The broker's state of shard `s`.
  ShardState& shard(ShardId s) { return node_->Local(world_.node(broker_).io(s)); }

 private:
  sim::SimWorld world_;
  BrokerConfig config_;
  std::unique_ptr<Node> node_;
  sim::NodeId broker_ = 0;
  sim::NodeId client_ = 0;
};

// A connection to the broker at `addr`, retrying every 10 ms for a second while it starts.
inline Task<Result<std::unique_ptr<Socket>>> ConnectRetrying(Io& io, Address addr) {
  for (int i = 0; i < 100; i++) {
    Result<std::unique_ptr<Socket>> s = co_await io.net().Connect(addr);
    if (s.ok()) co_return s;
    co_await io.Sleep(std::chrono::milliseconds(10));
  }
  co_return Status::Refused("broker never accepted");
}

template <typename Req>
Task<Status> SendRequest(Socket& s, int16_t version, const Req& req, int32_t correlation_id) {
  protocol::RequestHeader h;
  h.request_api_key = Req::kApiKey;
  h.request_api_version = version;
  h.correlation_id = correlation_id;
  h.client_id = "broker-sim-test";
  protocol::Writer w;
  RUNNEL_CO_TRY(protocol::EncodeRequestFrame(h, req, w));
  std::vector<uint8_t> bytes = w.Flatten();
  co_return co_await s.Send(std::as_bytes(std::span(bytes)));
}

// One size-prefixed response frame (without the prefix).
inline Task<Result<std::vector<uint8_t>>> ReadFrame(Socket& s) {
  std::array<std::byte, 4> size_bytes;
  RUNNEL_CO_TRY(co_await RecvExactly(s, size_bytes));
  uint32_t size = 0;
  for (std::byte b : size_bytes) size = (size << 8) | static_cast<uint8_t>(b);
  std::vector<uint8_t> frame(size);
  RUNNEL_CO_TRY(co_await RecvExactly(s, std::as_writable_bytes(std::span(frame))));
  co_return frame;
}

// A decoded response and the frame it was decoded from (its records views point into it).
template <typename Resp>
struct DecodedResponse {
  std::vector<uint8_t> frame;
  Resp body;
};

// Reads one response to request `correlation_id` of `version` and decodes it.
template <typename Resp>
Task<Result<DecodedResponse<Resp>>> ReadDecoded(Socket& s, int16_t version,
                                                int32_t correlation_id) {
  DecodedResponse<Resp> out;
  RUNNEL_CO_ASSIGN_OR_RETURN(out.frame, co_await ReadFrame(s));
  protocol::Reader r(out.frame);
  RUNNEL_CO_ASSIGN_OR_RETURN(
      protocol::ResponseHeader h,
      protocol::ResponseHeader::Decode(
          protocol::ResponseHeaderVersion(*protocol::FindApi(Resp::kApiKey), version), r));
  if (h.correlation_id != correlation_id) {
    co_return Status::Corruption(
        fmt::format("correlation id {} for request {}", h.correlation_id, correlation_id));
  }
  RUNNEL_CO_TRY(out.body.DecodeFrom(version, r));
  if (!r.empty()) co_return Status::Corruption("trailing bytes in response");
  co_return out;
}

// A Produce request carrying one batch to one partition. The request points into `batch`, which
// must outlive it.
inline protocol::ProduceRequest OneBatchProduce(std::string topic, int32_t partition,
                                                const std::vector<std::byte>& batch, int16_t acks) {
  protocol::ProduceRequest req;
  req.acks = acks;
  req.timeout_ms = 5000;
  protocol::ProduceRequest::TopicProduceData t;
  t.name = std::move(topic);
  protocol::ProduceRequest::PartitionProduceData p;
  p.index = partition;
  p.records = protocol::RecordsView::Of(
      std::span(reinterpret_cast<const uint8_t*>(batch.data()), batch.size()));
  t.partition_data.push_back(std::move(p));
  req.topic_data.push_back(std::move(t));
  return req;
}

}  // namespace runnel::broker
