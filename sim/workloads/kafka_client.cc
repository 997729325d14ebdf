#include "sim/workloads/kafka_client.h"

#include <array>

namespace runnel::sim {
namespace {

// Kafka frames are below this (the broker's socket.request.max.bytes default); a bigger size
// prefix from the broker is a bug.
constexpr uint32_t kResponseBytesMax = 64 << 20;

Task<Result<std::shared_ptr<std::vector<uint8_t>>>> SendAndReceive(
    std::shared_ptr<Socket> socket, std::shared_ptr<std::vector<uint8_t>> request) {
  RUNNEL_CO_TRY(co_await socket->Send(std::as_bytes(std::span(*request))));
  std::array<std::byte, 4> size_bytes;
  RUNNEL_CO_TRY(co_await RecvExactly(*socket, size_bytes));
  uint32_t size = 0;
  for (std::byte b : size_bytes) size = (size << 8) | static_cast<uint8_t>(b);
  if (size > kResponseBytesMax) {
    co_return Status::Corruption(fmt::format("response frame of {} bytes", size));
  }
  auto frame = std::make_shared<std::vector<uint8_t>>(size);
  RUNNEL_CO_TRY(co_await RecvExactly(*socket, std::as_writable_bytes(std::span(*frame))));
  co_return frame;
}

Task<Result<std::unique_ptr<Socket>>> ConnectTo(Network& net, Address address) {
  co_return co_await net.Connect(address);
}

}  // namespace

KafkaConnection::~KafkaConnection() = default;

Task<Status> KafkaConnection::Connect(Duration timeout) {
  Result<std::unique_ptr<Socket>> s = co_await WithTimeout<std::unique_ptr<Socket>>(
      io_.executor(), io_.clock(), timeout, ConnectTo(io_.net(), broker_));
  if (!s.ok()) co_return s.status();
  socket_ = std::shared_ptr<Socket>(std::move(*s));
  connects_++;
  co_return Status::Ok();
}

Task<Result<std::shared_ptr<std::vector<uint8_t>>>> KafkaConnection::Exchange(
    std::shared_ptr<std::vector<uint8_t>> request, Duration timeout) {
  std::shared_ptr<Socket> socket = socket_;
  Result<std::shared_ptr<std::vector<uint8_t>>> frame =
      co_await WithTimeout<std::shared_ptr<std::vector<uint8_t>>>(
          io_.executor(), io_.clock(), timeout, SendAndReceive(socket, std::move(request)));
  if (!frame.ok()) co_await Close();
  co_return frame;
}

Task<void> KafkaConnection::Close() {
  std::shared_ptr<Socket> socket = std::move(socket_);
  socket_ = nullptr;
  if (socket != nullptr) (void)co_await socket->Close();
}

}  // namespace runnel::sim
