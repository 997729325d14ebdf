#include "broker/server.h"

#include <spdlog/spdlog.h>

#include "broker/connection.h"
#include "broker/fetch_wait.h"
#include "broker/handlers/groups.h"
#include "broker/partitions.h"

namespace runnel::broker {

namespace {

// The shard's background pass over its logs, every log.retention.check.interval.ms.
Task<void> MaintenanceLoop(Io& io, Node& node) {
  const Duration interval =
      std::chrono::milliseconds(node.config().log_retention_check_interval_ms);
  while (true) {
    co_await io.Sleep(interval);
    co_await node.Local(io).partitions->Maintain();
  }
}

// Shard 0: waits for a stop request (SIGTERM/SIGINT, polled), then closes every shard's logs
// (clean shutdown: the next start skips the recovery scan) and stops the process.
Task<void> StopWatcher(Io& io, Node& node) {
  constexpr Duration kPollInterval = std::chrono::milliseconds(50);
  while (!node.StopRequested()) co_await io.Sleep(kPollInterval);
  spdlog::info("stopping: closing the partition logs of {} shard(s)", node.shard_count());
  for (ShardId s = 0; s < node.shard_count(); s++) {
    auto close = [](ShardState& shard) -> Task<int> {
      co_await shard.partitions->CloseAll();
      co_return 0;
    };
    (void)co_await ShardCall<int>(node, io, s, close);
  }
  node.Stop();
}

// Waits until the controller shard's listener is bound (it may have picked the port).
Task<void> WaitForControllerListener(Io& io, Node& node) {
  auto wait = [](ShardState& controller) -> Task<int> {
    while (!controller.listening) (void)co_await controller.listening_changed.Wait();
    co_return 0;
  };
  (void)co_await ShardCall<int>(node, io, kControllerShard, wait);
}

}  // namespace

Task<void> RunShard(Io& io, Node& node) {
  ShardState& shard = node.Local(io);
  const BrokerConfig& config = node.config();
  if (io.shard() == kControllerShard) {
    Status s = co_await shard.metadata->Load();
    if (!s.ok()) {
      spdlog::error("cannot load the broker metadata from {}: {}", config.data_dir, s.ToString());
      node.Fail();
      co_return;
    }
    spdlog::info("cluster {} node {}: {} topic(s) in {}", shard.metadata->state().cluster_id,
                 config.node_id, shard.metadata->state().topics.size(), config.data_dir);
  }
  // Consumer groups come back from __consumer_offsets in the background.
  io.Spawn(StartGroupCoordinator(io, node));
  // The controller shard binds first; the others follow once it has (with port 0 they take the
  // port it got). They read the listen address only after hearing back from it, through the
  // mailboxes, so SetBoundPort's write is ordered before their reads.
  if (io.shard() != kControllerShard) co_await WaitForControllerListener(io, node);
  ListenOptions options;
  options.reuse_port = true;
  const Address listen_at = config.listen;
  Result<std::unique_ptr<Listener>> listener = co_await io.net().Listen(listen_at, options);
  if (!listener.ok()) {
    spdlog::error("shard {}: cannot listen on {}: {}", io.shard(), listen_at.ToString(),
                  listener.status().ToString());
    node.Fail();
    co_return;
  }
  if (io.shard() == kControllerShard) {
    if (listen_at.port == 0) node.SetBoundPort((*listener)->local().port);
    shard.listening = true;
    shard.listening_changed.NotifyAll();
  }
  io.Spawn(MaintenanceLoop(io, node));
  io.Spawn(shard.fetch_waits->Run());
  if (io.shard() == kControllerShard && node.has_stop_source()) io.Spawn(StopWatcher(io, node));
  if (io.shard() == kControllerShard) {
    spdlog::info("runnel listening on {} ({} shard(s)), advertising {}",
                 (*listener)->local().ToString(), node.shard_count(),
                 config.AdvertisedAddress().ToString());
  }
  while (true) {
    Result<std::unique_ptr<Socket>> socket = co_await (*listener)->Accept();
    if (!socket.ok()) {
      if (socket.status().Is(ErrorKind::kClosed) || socket.status().Is(ErrorKind::kCancelled)) {
        break;
      }
      // Out of descriptors and the like: say so, back off a little, keep serving.
      spdlog::warn("shard {}: accept failed: {}", io.shard(), socket.status().ToString());
      co_await io.Sleep(std::chrono::milliseconds(10));
      continue;
    }
    shard.connections_accepted++;
    if (shard.connections >= config.max_connections) {
      spdlog::warn("shard {}: max.connections ({}) reached; closing {}", io.shard(),
                   config.max_connections, (*socket)->peer().ToString());
      Status s = co_await (*socket)->Close();
      (void)s;
      continue;
    }
    io.Spawn(ServeConnection(io, node, std::move(*socket)));
  }
}

}  // namespace runnel::broker
