#include "sim/workloads/broker_node.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cstdlib>
#include <memory>
#include <utility>

#include "broker/node.h"
#include "broker/protocol/gen/error_codes.h"
#include "broker/server.h"

namespace runnel::sim {
namespace {

Task<void> Serve(Io& io, std::shared_ptr<broker::Node> node) {
  co_await broker::RunShard(io, *node);
}

}  // namespace

void BootSupervisedBroker(SimWorld& world, SimNode& n, const broker::BrokerConfig& config,
                          std::function<void()> on_failure_restart) {
  // The node's own id: the first boot runs inside AddNode, before its caller knows the id.
  const NodeId broker = n.id();
  // Owned by the node's root tasks: a crash destroys it with them, while its Io still exists.
  auto node = std::make_shared<broker::Node>(config, n.shard_count());
  const uint64_t incarnation = n.incarnation();
  node->SetStopper([&world, broker, incarnation, restarted = std::move(on_failure_restart)] {
    world.After(std::chrono::milliseconds(100), [&world, broker, incarnation, restarted] {
      if (!world.up(broker) || world.node(broker).incarnation() != incarnation) return;
      if (restarted) restarted();
      world.StopNode(broker);
      world.StartNode(broker);
    });
  });
  for (ShardId s = 0; s < n.shard_count(); s++) n.Spawn(s, Serve(n.io(s), node));
}

void OneCopyDiskFaults(FaultOptions& options) {
  options.disk_faults.bit_rot_probability = 0;
  options.disk_faults.latent_error_probability = 0;
}

void SetBrokerLogFromEnv() {
  spdlog::set_level(std::getenv("RUNNEL_SIM_BROKER_LOG") != nullptr ? spdlog::level::info
                                                                    : spdlog::level::off);
}

Duration ClientBackoff(Rng& rng, int attempt) {
  const int64_t cap_ms = std::min<int64_t>(500, int64_t{10} << std::min(attempt, 6));
  return std::chrono::milliseconds(rng.Range(5, cap_ms));
}

bool RetriableDataError(int16_t code) {
  using protocol::ErrorCode;
  switch (static_cast<ErrorCode>(code)) {
    case ErrorCode::kKafkaStorageError:
    case ErrorCode::kRequestTimedOut:
    case ErrorCode::kNotLeaderOrFollower:
    case ErrorCode::kUnknownTopicOrPartition:
    case ErrorCode::kNetworkException:
      return true;
    default:
      return false;
  }
}

}  // namespace runnel::sim
