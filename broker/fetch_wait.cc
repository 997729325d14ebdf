#include "broker/fetch_wait.h"

#include "broker/node.h"
#include "broker/partitions.h"

namespace runnel::broker {

namespace {

// Posts "wait `wait` may go on" to its home shard. Runs as its own root task on the owner shard
// (the watcher must not suspend between checking and waiting again); owns its arguments.
Task<void> PostWake(Node& node, Io& io, ShardId home, uint64_t wait) {
  auto wake = [&node, wait](Io& there) -> Task<int> {
    node.Local(there).fetch_waits->Wake(wait);
    co_return 0;
  };
  (void)co_await Invoke<int>(io.shards(), home, wake);
}

}  // namespace

FetchWaits::FetchWaits(Io& io, Node& node, PartitionRegistry& partitions)
    : io_(io), node_(node), partitions_(partitions) {}

uint64_t FetchWaits::Open(uint64_t connection) {
  const uint64_t id = next_wait_++;
  auto w = std::make_unique<PendingWait>(io_);
  w->connection = connection;
  w->woken = connection != 0 && IsClosed(connection);
  waits_.emplace(id, std::move(w));
  return id;
}

Task<bool> FetchWaits::Wait(uint64_t id, Duration timeout) {
  auto it = waits_.find(id);
  RUNNEL_ASSERT(it != waits_.end(), "wait {} is not open", id);
  PendingWait& w = *it->second;
  if (w.woken) co_return true;
  // The entry stays in waits_ until Close, so `w` outlives this wait.
  co_return co_await w.notify.Wait(timeout);
}

void FetchWaits::Wake(uint64_t id) {
  auto it = waits_.find(id);
  if (it == waits_.end()) return;  // it ended already (timed out): nothing to do
  it->second->woken = true;
  it->second->notify.NotifyAll();
}

void FetchWaits::Close(uint64_t id) { waits_.erase(id); }

void FetchWaits::ConnectionClosed(uint64_t connection) {
  if (connection == 0) return;
  closed_connections_.insert(connection);
  for (auto& [id, w] : waits_) {
    if (w->connection != connection) continue;
    w->woken = true;
    w->notify.NotifyAll();
  }
}

bool FetchWaits::Moved(const std::vector<WatchedPartition>& partitions) const {
  for (const WatchedPartition& p : partitions) {
    const engine::Log* log = partitions_.FindOpen(p.topic.name, p.partition);
    // A log closed or removed since the read: let the fetch read again and see why.
    if (log == nullptr || log->high_watermark().value() > p.seen_high_watermark) return true;
  }
  return false;
}

bool FetchWaits::Watch(ShardId home, uint64_t wait, std::vector<WatchedPartition> partitions) {
  if (Moved(partitions)) return false;
  watches_[{home, wait}] = std::move(partitions);
  return true;
}

void FetchWaits::Unwatch(ShardId home, uint64_t wait) { watches_.erase({home, wait}); }

void FetchWaits::CheckWatches() {
  for (auto it = watches_.begin(); it != watches_.end();) {
    if (!Moved(it->second)) {
      ++it;
      continue;
    }
    const auto [home, wait] = it->first;
    it = watches_.erase(it);
    io_.Spawn(PostWake(node_, io_, home, wait));
  }
}

Task<void> FetchWaits::Run() {
  // State, not events: after every wake-up the watched high watermarks are compared with what
  // the fetches saw, and nothing suspends between that check and the next Wait, so an append
  // that happened while this task was queued is still seen.
  while (true) {
    (void)co_await partitions_.appended().Wait();
    CheckWatches();
  }
}

Task<void> WaitForAppend(Node& node, Io& io, uint64_t connection,
                         std::map<ShardId, std::vector<WatchedPartition>> by_owner,
                         Duration timeout) {
  FetchWaits& home_waits = *node.Local(io).fetch_waits;
  const ShardId home = io.shard();
  const uint64_t wait = home_waits.Open(connection);
  std::vector<Task<bool>> watches;
  std::vector<ShardId> owners;
  for (auto& [owner, partitions] : by_owner) {
    owners.push_back(owner);
    auto watch = [home, wait,
                  partitions = std::move(partitions)](ShardState& shard) mutable -> Task<bool> {
      // Open the logs first (they normally are: the fetch just read them); then check and
      // register without suspending in between.
      for (const WatchedPartition& p : partitions) {
        Result<engine::Log*> log = co_await shard.partitions->Get(p.topic, p.partition);
        if (!log.ok()) co_return false;
      }
      co_return shard.fetch_waits->Watch(home, wait, std::move(partitions));
    };
    watches.push_back(ShardCall<bool>(node, io, owner, std::move(watch)));
  }
  std::vector<bool> registered = co_await WhenAll(std::move(watches));
  bool all_registered = true;
  for (bool r : registered) all_registered = all_registered && r;
  if (all_registered) (void)co_await home_waits.Wait(wait, timeout);
  home_waits.Close(wait);
  // Remove the watches that did not fire (a fired one is gone already; Unwatch is then a no-op).
  std::vector<Task<int>> removals;
  for (size_t i = 0; i < owners.size(); i++) {
    if (!registered[i]) continue;
    auto unwatch = [home, wait](ShardState& shard) -> Task<int> {
      shard.fetch_waits->Unwatch(home, wait);
      co_return 0;
    };
    removals.push_back(ShardCall<int>(node, io, owners[i], unwatch));
  }
  (void)co_await WhenAll(std::move(removals));
}

}  // namespace runnel::broker
