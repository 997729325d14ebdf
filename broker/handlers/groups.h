// Consumer groups in the broker: the per-shard GroupCoordinator (engine/group's GroupManager
// plus the __consumer_offsets log store), how a group finds its coordinator shard, and the
// group API handlers (groups_*.cc).
//
// A group belongs to partition abs(javaHash(group)) % N of __consumer_offsets (N: the topic's
// partition count, offsets.topic.num.partitions when the broker creates it) and so to that
// partition's owner shard (Node::PartitionShard). Every group request moves there with
// ShardCall; requests naming several groups (DescribeGroups, DeleteGroups, OffsetFetch v8+) fan
// out, ListGroups asks every shard.
//
// Ownership: ShardState::groups, created on first use on its shard and touched only there.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "broker/handlers/handler.h"
#include "broker/metadata_store.h"
#include "engine/group/group_manager.h"
#include "engine/group/offsets_topic.h"

namespace runnel::broker {

engine::group::GroupConfig GroupConfigOf(const BrokerConfig& config);

// Where groups' records go: the group's __consumer_offsets partition log, appended durably
// (acks=all: synced before the task resolves). Lives on its shard beside the GroupManager.
class OffsetsLogStore final : public engine::group::GroupStore {
 public:
  OffsetsLogStore(Io& io, Node& node, ShardState& shard);
  // The topic as it was when the coordinator loaded (its id and partition count).
  void set_topic(TopicInfo topic) { topic_ = std::move(topic); }
  const TopicInfo& topic() const { return topic_; }

  Task<Status> StoreGroup(engine::group::GroupRecord record) override;
  Task<Status> StoreOffsets(std::string group_id, engine::group::OffsetEntries offsets) override;
  Task<Status> RemoveOffsets(std::string group_id,
                             std::vector<engine::group::TopicPartition> offsets,
                             bool group_too) override;

 private:
  // One batch of (key, value) records (a null value is a tombstone) to the group's partition.
  using Record = std::pair<std::vector<uint8_t>, std::optional<std::vector<uint8_t>>>;
  Task<Status> Append(const std::string& group_id, std::vector<Record> records);

  Io& io_;
  Node& node_;
  ShardState& shard_;
  TopicInfo topic_;
};

class GroupCoordinator {
 public:
  GroupCoordinator(Io& io, Node& node, ShardState& shard);
  GroupCoordinator(const GroupCoordinator&) = delete;
  GroupCoordinator& operator=(const GroupCoordinator&) = delete;

  engine::group::GroupManager& manager() { return manager_; }
  Io& io() { return io_; }
  // The offsets topic as this shard last saw it (EnsureOffsetsTopic's cache).
  const std::optional<TopicInfo>& offsets_topic() const { return offsets_topic_; }
  void set_offsets_topic(TopicInfo topic) { offsets_topic_ = std::move(topic); }
  // Resolves once this shard's __consumer_offsets partitions were read back into the manager
  // (the first call does it; later ones wait for it). Not ok: the coordinator cannot serve.
  Task<Status> Ready();
  // The start-up replay (StartGroupCoordinator): Ready(), during which loading() is true.
  Task<Status> Replay();
  // True while the start-up replay runs: group requests answer COORDINATOR_LOAD_IN_PROGRESS
  // (clients retry) instead of waiting for it. A load a request started itself (the offsets
  // topic was just created, or an earlier load failed) is awaited instead.
  bool loading() const { return load_state_ == LoadState::kLoading && replaying_; }

 private:
  Task<Status> Load();
  Task<Status> LoadPartition(const TopicInfo& topic, int32_t partition, uint64_t& records);
  Task<void> ExpiryLoop();

  Io& io_;
  Node& node_;
  ShardState& shard_;
  OffsetsLogStore store_;
  engine::group::GroupManager manager_;
  enum class LoadState : uint8_t { kNotStarted, kLoading, kLoaded, kFailed };
  LoadState load_state_ = LoadState::kNotStarted;
  bool replaying_ = false;
  Notify loaded_;
  std::optional<TopicInfo> offsets_topic_;
};

// This shard's coordinator (created on first use).
GroupCoordinator& Groups(ShardState& shard);

// Started by RunShard on every shard: once the metadata is loaded, if __consumer_offsets exists,
// replays this shard's partitions of it (so groups and offsets are back, and the expiry loop
// runs, before any client asks). A shard with no offsets partition does nothing.
Task<void> StartGroupCoordinator(Io& io, Node& node);

// The __consumer_offsets topic, created (compacted, offsets.topic.num.partitions partitions)
// if it does not exist yet. Cached per shard after the first look-up.
Task<Result<TopicInfo>> EnsureOffsetsTopic(Node& node, Io& io);

// After DeleteTopics: every coordinator shard drops its groups' committed offsets of `topics`,
// writing tombstones so they stay gone after a restart (Kafka's handleDeletedPartitions).
// Failures are logged; the offsets then stay until OffsetDelete, DeleteGroups or retention.
Task<void> RemoveDeletedTopicsOffsets(Node& node, Io& io, std::vector<std::string> topics);

// The shard coordinating `group_id`, given the offsets topic's partition count.
ShardId CoordinatorShard(Node& node, std::string_view group_id, int32_t partitions);

// Runs fn(GroupCoordinator&) on the coordinator shard of `group_id` once it is loaded; a
// failure to find or load it answers `on_error(error)` instead, and so does a coordinator still
// replaying its partitions at start-up (COORDINATOR_LOAD_IN_PROGRESS, as Kafka answers; each
// handler's on_error maps it to what Kafka sends for that API).
template <typename T, typename Fn, typename OnError>
Task<T> GroupCall(RequestContext& ctx, std::string group_id, Fn fn, OnError on_error) {
  Result<TopicInfo> topic = co_await EnsureOffsetsTopic(ctx.node, ctx.io);
  if (!topic.ok()) co_return on_error(engine::group::GroupError::kCoordinatorNotAvailable);
  const ShardId shard = CoordinatorShard(ctx.node, group_id, topic->partitions);
  auto call = [fn = std::move(fn), on_error](ShardState& there) mutable -> Task<T> {
    GroupCoordinator& coordinator = Groups(there);
    if (coordinator.loading()) {
      co_return on_error(engine::group::GroupError::kCoordinatorLoadInProgress);
    }
    Status ready = co_await coordinator.Ready();
    if (!ready.ok()) co_return on_error(engine::group::GroupError::kCoordinatorNotAvailable);
    co_return co_await fn(coordinator);
  };
  co_return co_await ShardCall<T>(ctx.node, ctx.io, shard, std::move(call));
}

// A callback's answer awaited by a handler coroutine on the coordinator shard.
template <typename T>
class Reply {
 public:
  explicit Reply(Executor& executor) : state_(std::make_shared<State>()) {
    state_->executor = &executor;
  }
  Reply(const Reply&) = delete;
  Reply& operator=(const Reply&) = delete;
  ~Reply() { state_->waiter = {}; }  // a destroyed handler is never resumed

  std::function<void(T)> Callback() {
    return [s = state_](T value) {
      if (s->value.has_value()) return;
      s->value.emplace(std::move(value));
      if (s->waiter) s->executor->Schedule(std::exchange(s->waiter, {}));
    };
  }
  bool await_ready() const noexcept { return state_->value.has_value(); }
  void await_suspend(std::coroutine_handle<> h) noexcept { state_->waiter = h; }
  T await_resume() { return std::move(*state_->value); }

 private:
  struct State {
    std::optional<T> value;
    std::coroutine_handle<> waiter;
    Executor* executor = nullptr;
  };
  std::shared_ptr<State> state_;
};

inline int16_t Wire(engine::group::GroupError e) { return static_cast<int16_t>(e); }

// GroupCall's on_error for answers that carry an `error` field.
template <typename T>
auto AnswerWithError() {
  return [](engine::group::GroupError e) {
    T r;
    r.error = e;
    return r;
  };
}

// GroupCall's fn for the manager calls that answer through a callback (Join, Sync): calls
// (manager.*method)(req, callback) on the coordinator shard and waits for the callback.
template <typename T, typename Req, typename Method>
auto ViaCallback(Req req, Method method) {
  return [req = std::move(req), method](GroupCoordinator& c) mutable -> Task<T> {
    Reply<T> reply(c.io().executor());
    (c.manager().*method)(std::move(req), reply.Callback());
    co_return co_await reply;
  };
}

Task<Result<Response>> HandleFindCoordinator(RequestContext& ctx);
Task<Result<Response>> HandleJoinGroup(RequestContext& ctx);
Task<Result<Response>> HandleSyncGroup(RequestContext& ctx);
Task<Result<Response>> HandleHeartbeat(RequestContext& ctx);
Task<Result<Response>> HandleLeaveGroup(RequestContext& ctx);
Task<Result<Response>> HandleOffsetCommit(RequestContext& ctx);
Task<Result<Response>> HandleOffsetFetch(RequestContext& ctx);
Task<Result<Response>> HandleListGroups(RequestContext& ctx);
Task<Result<Response>> HandleDescribeGroups(RequestContext& ctx);
Task<Result<Response>> HandleDeleteGroups(RequestContext& ctx);
Task<Result<Response>> HandleOffsetDelete(RequestContext& ctx);

}  // namespace runnel::broker
