// What every API handler sees and returns. A handler decodes its request body, does its work
// (moving to other shards with Invoke where partitions or metadata live elsewhere) and returns
// the whole response frame. A non-ok Result means the request was malformed or unsupported:
// the connection answers what came before it and then closes (only that connection).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "broker/node.h"
#include "broker/protocol/request.h"
#include "io/io.h"

namespace runnel::broker {

struct RequestContext {
  Io& io;
  Node& node;
  ShardState& shard;
  const protocol::RequestFrame& frame;
  const Address& peer;
  // Unique per connection on its shard (0: none); fetch long polls end when it closes.
  uint64_t connection_id = 0;
  // The whole request frame (frame.body points into it), owned by the connection until the
  // response is written, acks=0 Produce included. A handler may rewrite bytes of it in place
  // (Produce hands its records to Log::Append, which stamps offsets into them); empty when the
  // caller offers no writable frame.
  std::span<uint8_t> writable_frame = {};
  int16_t version() const { return frame.api_version(); }
  int32_t correlation_id() const { return frame.header.correlation_id; }
};

// A range of a file sent with Socket::SendFile at byte `at` of Response::bytes (zero-copy
// fetch). `keep` holds the file open (a log segment); it belongs to shard `owner` and is released
// there after the send.
struct ResponseRegion {
  size_t at = 0;
  File* file = nullptr;
  uint64_t position = 0;
  uint64_t length = 0;
  std::shared_ptr<void> keep;
  ShardId owner = 0;
};

// A response frame (size prefix included), or none (Produce with acks=0). With regions, the
// frame is bytes[0, r0.at) + r0's file bytes + bytes[r0.at, r1.at) + ... in order.
struct Response {
  std::vector<uint8_t> bytes;
  bool send = true;
  std::vector<ResponseRegion> regions;
};

template <typename T>
Result<Response> EncodeResponse(const RequestContext& ctx, const T& body) {
  protocol::Writer w(256);
  RUNNEL_TRY(protocol::EncodeResponseFrame(ctx.version(), ctx.correlation_id(), body, w));
  return Response{w.Flatten(), true, {}};
}

// The topic when `partition` of topic `name` exists in `meta`, else null.
inline const TopicInfo* FindPartition(const ClusterMetadata& meta, const std::string& name,
                                      int32_t partition) {
  auto it = meta.topics.find(name);
  if (it == meta.topics.end() || partition < 0 || partition >= it->second.partitions) {
    return nullptr;
  }
  return &it->second;
}

// One answer per requested partition, in request order: a partition is either answered at once
// (Answer: unknown, refused) or by a task (Start); Run awaits the tasks together (they run
// concurrently, e.g. on their owner shards) and returns every answer in the order added.
template <typename A>
class PartitionFanOut {
 public:
  void Answer(A a) { answers_.push_back(std::move(a)); }
  void Start(Task<A> task) {
    slots_.push_back(answers_.size());
    answers_.emplace_back();
    tasks_.push_back(std::move(task));
  }
  Task<std::vector<A>> Run() {
    std::vector<A> done = co_await WhenAll(std::move(tasks_));
    for (size_t i = 0; i < done.size(); i++) answers_[slots_[i]] = std::move(done[i]);
    co_return std::move(answers_);
  }

 private:
  std::vector<A> answers_;
  std::vector<size_t> slots_;
  std::vector<Task<A>> tasks_;
};

using Handler = Task<Result<Response>> (*)(RequestContext& ctx);

// Handlers, one file per API family.
Task<Result<Response>> HandleProduce(RequestContext& ctx);
Task<Result<Response>> HandleFetch(RequestContext& ctx);
Task<Result<Response>> HandleListOffsets(RequestContext& ctx);
Task<Result<Response>> HandleInitProducerId(RequestContext& ctx);
Task<Result<Response>> HandleDeleteRecords(RequestContext& ctx);
Task<Result<Response>> HandleOffsetForLeaderEpoch(RequestContext& ctx);
Task<Result<Response>> HandleApiVersions(RequestContext& ctx);
Task<Result<Response>> HandleMetadata(RequestContext& ctx);
Task<Result<Response>> HandleCreateTopics(RequestContext& ctx);
Task<Result<Response>> HandleDeleteTopics(RequestContext& ctx);
Task<Result<Response>> HandleCreatePartitions(RequestContext& ctx);
Task<Result<Response>> HandleDescribeConfigs(RequestContext& ctx);
Task<Result<Response>> HandleAlterConfigs(RequestContext& ctx);
Task<Result<Response>> HandleIncrementalAlterConfigs(RequestContext& ctx);
Task<Result<Response>> HandleDescribeCluster(RequestContext& ctx);

// The handler for an API key, or nullptr when this broker does not serve it yet.
Handler FindHandler(int16_t api_key);

}  // namespace runnel::broker
