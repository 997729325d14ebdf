// KafkaConnection: one simulated client connection to a Kafka broker, speaking the wire
// protocol with the generated codecs (runnel::protocol). Used by the broker workload's producers
// and consumers on the simulator's client node.
//
// One request at a time: Call sends a request and waits for its response. Any failure (connect,
// send, receive, a response that does not decode, a wrong correlation id, the timeout) closes
// the connection and returns the error; the next Call connects again. A timed-out exchange keeps
// running until the close makes it fail; it owns what it touches (shared socket and buffers).
//
// Owner: one client task on one shard. Not copyable.
#pragma once

#include <fmt/format.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "broker/protocol/request.h"
#include "io/io.h"

namespace runnel::sim {

// A decoded response and the frame its byte views (records) point into.
template <typename Resp>
struct Reply {
  std::shared_ptr<std::vector<uint8_t>> frame;
  Resp body;
};

class KafkaConnection {
 public:
  KafkaConnection(Io& io, Address broker, std::string client_id)
      : io_(io), broker_(std::move(broker)), client_id_(std::move(client_id)) {}
  KafkaConnection(const KafkaConnection&) = delete;
  KafkaConnection& operator=(const KafkaConnection&) = delete;
  ~KafkaConnection();

  bool connected() const { return socket_ != nullptr; }
  uint64_t connects() const { return connects_; }

  template <typename Resp, typename Req>
  Task<Result<Reply<Resp>>> Call(int16_t version, const Req& request, Duration timeout) {
    if (socket_ == nullptr) RUNNEL_CO_TRY(co_await Connect(timeout));
    protocol::RequestHeader header;
    header.request_api_key = Req::kApiKey;
    header.request_api_version = version;
    header.correlation_id = ++correlation_id_;
    header.client_id = client_id_;
    protocol::Writer w;
    Status encoded = protocol::EncodeRequestFrame(header, request, w);
    RUNNEL_ASSERT(encoded.ok(), "client request does not encode: {}", encoded.ToString());
    auto bytes = std::make_shared<std::vector<uint8_t>>(w.Flatten());
    Result<std::shared_ptr<std::vector<uint8_t>>> frame = co_await Exchange(bytes, timeout);
    if (!frame.ok()) co_return frame.status();
    Reply<Resp> reply;
    reply.frame = std::move(*frame);
    protocol::Reader r(*reply.frame);
    const protocol::ApiInfo* api = protocol::FindApi(Resp::kApiKey);
    Result<protocol::ResponseHeader> h =
        protocol::ResponseHeader::Decode(protocol::ResponseHeaderVersion(*api, version), r);
    Status status = h.status();
    if (status.ok() && h->correlation_id != header.correlation_id) {
      status = Status::Corruption(fmt::format("correlation id {} for request {}", h->correlation_id,
                                              header.correlation_id));
    }
    if (status.ok()) status = reply.body.DecodeFrom(version, r);
    if (status.ok() && !r.empty()) status = Status::Corruption("trailing bytes in the response");
    if (!status.ok()) {
      co_await Close();
      co_return status.WithContext(fmt::format("{} v{}", Resp::kName, version));
    }
    co_return reply;
  }

  Task<void> Close();

 private:
  Task<Status> Connect(Duration timeout);
  // Sends one frame and reads one response frame (size prefix removed); closes on failure.
  Task<Result<std::shared_ptr<std::vector<uint8_t>>>> Exchange(
      std::shared_ptr<std::vector<uint8_t>> request, Duration timeout);

  Io& io_;
  const Address broker_;
  const std::string client_id_;
  std::shared_ptr<Socket> socket_;
  int32_t correlation_id_ = 0;
  uint64_t connects_ = 0;
};

}  // namespace runnel::sim
