#include "broker/node.h"

#include "broker/fetch_session.h"
#include "broker/fetch_wait.h"
#include "broker/handlers/groups.h"
#include "broker/partitions.h"

namespace runnel::broker {

ShardState::ShardState(Io& io_in, Node& node_in)
    : io(io_in),
      node(node_in),
      requests(io_in.executor(), static_cast<uint64_t>(node_in.config().queued_max_requests)),
      request_bytes(io_in.executor(),
                    static_cast<uint64_t>(node_in.config().queued_max_request_bytes)),
      partitions(std::make_unique<PartitionRegistry>(io_in, node_in.config())),
      fetch_sessions(std::make_unique<FetchSessionCache>(
          io_in.shard(), node_in.shard_count(),
          SessionSlotsOfShard(node_in.config().max_incremental_fetch_session_cache_slots,
                              io_in.shard(), node_in.shard_count()))),
      fetch_waits(std::make_unique<FetchWaits>(io_in, node_in, *partitions)),
      listening_changed(io_in.executor(), io_in.clock()) {}

ShardState::~ShardState() = default;

Node::Node(BrokerConfig config, uint32_t shard_count) : config_(std::move(config)) {
  RUNNEL_ASSERT(shard_count > 0, "a node needs at least one shard");
  shards_.resize(shard_count);
}

ShardState& Node::Local(Io& io) {
  ShardId id = io.shard();
  RUNNEL_ASSERT(id < shards_.size(), "shard {} of {}", id, shards_.size());
  if (!shards_[id]) {
    shards_[id] = std::make_unique<ShardState>(io, *this);
    if (id == kControllerShard) {
      shards_[id]->metadata =
          std::make_unique<MetadataStore>(io, config_.data_dir, config_.node_id);
    }
  }
  RUNNEL_ASSERT(&shards_[id]->io == &io, "shard {} state used with another Io", id);
  return *shards_[id];
}

MetadataStore& Node::Metadata(Io& controller_io) {
  RUNNEL_ASSERT(controller_io.shard() == kControllerShard, "metadata lives on shard 0");
  return *Local(controller_io).metadata;
}

void Node::Fail() {
  failed_.store(true);
  if (stop_) stop_();
}

ShardId Node::PartitionShard(std::string_view topic, int32_t partition) const {
  uint64_t h = 14695981039346656037ull;
  auto mix = [&h](uint8_t b) {
    h ^= b;
    h *= 1099511628211ull;
  };
  for (char c : topic) mix(static_cast<uint8_t>(c));
  for (int i = 0; i < 4; i++)
    mix(static_cast<uint8_t>(static_cast<uint32_t>(partition) >> (8 * i)));
  return static_cast<ShardId>(h % shards_.size());
}

Task<ClusterMetadata> SnapshotMetadata(Node& node, Io& io) {
  co_return co_await ControllerCall<ClusterMetadata>(
      node, io, [](MetadataStore& store) -> Task<ClusterMetadata> { co_return store.state(); });
}

}  // namespace runnel::broker
