// The connection's reader on a simulated broker: requests split anywhere in the stream (small
// ones read through the FrameReader, large ones received straight into their own buffer) come
// out whole and in order, and Produce stores exactly the bytes the client sent (the records are
// appended from the request's own buffer); a stream that ends inside a large request writes
// nothing and returns its admission.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "broker/protocol/gen/api_versions_request.h"
#include "broker/protocol/gen/api_versions_response.h"
#include "broker/protocol/gen/create_topics_request.h"
#include "broker/protocol/gen/create_topics_response.h"
#include "broker/protocol/gen/fetch_request.h"
#include "broker/protocol/gen/fetch_response.h"
#include "broker/protocol/gen/produce_request.h"
#include "broker/protocol/gen/produce_response.h"
#include "engine/batch_builder.h"
#include "engine/record_batch_format.h"
#include "tests/broker/broker_sim.h"

namespace runnel::broker {
namespace {

using namespace protocol;  // NOLINT: test brevity

constexpr int16_t kProduceVersion = 9;
constexpr int16_t kFetchVersion = 12;
constexpr int16_t kApiVersionsVersion = 3;

// One uncompressed batch of `records` records whose values add up to about `value_bytes`, each
// value distinct (so a batch stored with shifted or foreign bytes fails the comparison).
std::vector<std::byte> Batch(size_t records, size_t value_bytes, uint32_t seed) {
  engine::BatchBuilder b(engine::BatchOptions{});
  const size_t each = value_bytes / records;
  for (size_t i = 0; i < records; i++) {
    std::vector<std::byte> value(each);
    for (size_t k = 0; k < each; k++) value[k] = static_cast<std::byte>(seed + i * 31 + k * 7);
    b.Append(1'700'000'000'000, std::nullopt, engine::Bytes(value.data(), value.size()), {});
  }
  return b.Build().value();
}

std::vector<uint8_t> Encode(const RequestHeader& h, const auto& body) {
  Writer w;
  EXPECT_TRUE(EncodeRequestFrame(h, body, w).ok());
  return w.Flatten();
}

RequestHeader Header(int16_t key, int16_t version, int32_t id) {
  RequestHeader h;
  h.request_api_key = key;
  h.request_api_version = version;
  h.correlation_id = id;
  h.client_id = "connection-test";
  return h;
}

std::vector<uint8_t> ApiVersionsFrame(int32_t id) {
  ApiVersionsRequest req;
  req.client_software_name = "connection-test";
  req.client_software_version = "1";
  return Encode(Header(ApiVersionsRequest::kApiKey, kApiVersionsVersion, id), req);
}

std::vector<uint8_t> ProduceFrame(const std::string& topic, const std::vector<std::byte>& batch,
                                  int32_t id) {
  const ProduceRequest req = OneBatchProduce(topic, 0, batch, 1);
  return Encode(Header(ProduceRequest::kApiKey, kProduceVersion, id), req);
}

// Reads the three answers of an ApiVersions / Produce / ApiVersions stream; the produced batch's
// base offset, or an error.
Task<Result<int64_t>> ReadThree(Socket& s, int32_t first_id) {
  RUNNEL_CO_ASSIGN_OR_RETURN(
      auto v1, co_await ReadDecoded<ApiVersionsResponse>(s, kApiVersionsVersion, first_id));
  if (v1.body.error_code != 0) co_return Status::Corruption("ApiVersions error");
  RUNNEL_CO_ASSIGN_OR_RETURN(
      auto p, co_await ReadDecoded<ProduceResponse>(s, kProduceVersion, first_id + 1));
  const auto& pr = p.body.responses.at(0).partition_responses.at(0);
  if (pr.error_code != 0) co_return Status::Corruption(fmt::format("produce {}", pr.error_code));
  RUNNEL_CO_ASSIGN_OR_RETURN(
      auto v2, co_await ReadDecoded<ApiVersionsResponse>(s, kApiVersionsVersion, first_id + 2));
  if (v2.body.error_code != 0) co_return Status::Corruption("ApiVersions error");
  co_return pr.base_offset;
}

// The first stored batch at `offset` of partition 0, as the broker stored it.
Task<Result<std::vector<uint8_t>>> FetchBatch(Socket& s, const std::string& topic, int64_t offset,
                                              int32_t id) {
  FetchRequest req;
  req.max_wait_ms = 0;
  req.min_bytes = 1;
  req.max_bytes = 8 << 20;
  FetchRequest::FetchTopic t;
  t.topic = topic;
  FetchRequest::FetchPartition p;
  p.partition = 0;
  p.fetch_offset = offset;
  p.partition_max_bytes = 8 << 20;
  t.partitions.push_back(p);
  req.topics.push_back(std::move(t));
  RUNNEL_CO_TRY(co_await SendRequest(s, kFetchVersion, req, id));
  RUNNEL_CO_ASSIGN_OR_RETURN(auto a, co_await ReadDecoded<FetchResponse>(s, kFetchVersion, id));
  const auto& part = a.body.responses.at(0).partitions.at(0);
  if (part.error_code != 0) co_return Status::Corruption(fmt::format("fetch {}", part.error_code));
  const auto bytes = std::as_bytes(std::span(part.records.data(), part.records.size()));
  if (bytes.size() < engine::batch_format::kHeaderBytes) co_return std::vector<uint8_t>{};
  RUNNEL_CO_ASSIGN_OR_RETURN(size_t size, engine::BatchSizeFromPrefix(bytes));
  if (size > bytes.size()) co_return Status::Corruption("partial batch");
  co_return std::vector<uint8_t>(part.records.data(), part.records.data() + size);
}

// The batch as the client sent it equals the stored one from the attributes on (the part its
// CRC covers; the log rewrites only the base offset and leader epoch before it).
bool SameRecords(const std::vector<std::byte>& sent, const std::vector<uint8_t>& stored) {
  const size_t from = engine::batch_format::kAttributesOffset;
  return sent.size() == stored.size() &&
         std::memcmp(sent.data() + from, stored.data() + from, sent.size() - from) == 0;
}

Task<int16_t> CreateTopic(Socket& s, const std::string& name) {
  CreateTopicsRequest req;
  CreateTopicsRequest::CreatableTopic t;
  t.name = name;
  t.num_partitions = 1;
  t.replication_factor = -1;
  req.topics.push_back(std::move(t));
  EXPECT_TRUE((co_await SendRequest(s, 5, req, 1)).ok());
  auto a = co_await ReadDecoded<CreateTopicsResponse>(s, 5, 1);
  EXPECT_TRUE(a.ok()) << a.status().ToString();
  co_return a.ok() ? a->body.topics.at(0).error_code : int16_t{-1};
}

// Sends `stream` in the pieces `cuts` makes, letting the broker read each before the next.
Task<Status> SendInPieces(Io& io, Socket& s, const std::vector<uint8_t>& stream,
                          const std::vector<size_t>& cuts) {
  size_t at = 0;
  for (size_t i = 0; i <= cuts.size(); i++) {
    const size_t end = i < cuts.size() ? cuts[i] : stream.size();
    if (end <= at) continue;
    RUNNEL_CO_TRY(co_await s.Send(std::as_bytes(std::span(stream).subspan(at, end - at))));
    at = end;
    co_await io.Sleep(std::chrono::milliseconds(2));  // over the network's latency
  }
  co_return Status::Ok();
}

// ApiVersions, Produce of `batch`, ApiVersions as one byte stream, cut as `cuts` says, on a new
// connection; checks the answers and that the batch stored is the batch sent.
Task<void> RoundTrip(Io& io, BrokerSim& sim, const std::vector<std::byte>& batch,
                     const std::vector<size_t>& cuts, int64_t want_offset, std::string what) {
  auto sock = co_await ConnectRetrying(io, sim.address());
  EXPECT_TRUE(sock.ok()) << what;
  if (!sock.ok()) co_return;
  std::vector<uint8_t> stream = ApiVersionsFrame(1);
  const std::vector<uint8_t> produce = ProduceFrame("t", batch, 2);
  stream.insert(stream.end(), produce.begin(), produce.end());
  const std::vector<uint8_t> last = ApiVersionsFrame(3);
  stream.insert(stream.end(), last.begin(), last.end());
  EXPECT_TRUE((co_await SendInPieces(io, **sock, stream, cuts)).ok()) << what;
  Result<int64_t> offset = co_await ReadThree(**sock, 1);
  EXPECT_TRUE(offset.ok()) << what << ": " << offset.status().ToString();
  if (!offset.ok()) co_return;
  EXPECT_EQ(*offset, want_offset) << what;
  Result<std::vector<uint8_t>> stored = co_await FetchBatch(**sock, "t", *offset, 4);
  EXPECT_TRUE(stored.ok()) << what << ": " << stored.status().ToString();
  if (stored.ok()) {
    EXPECT_TRUE(SameRecords(batch, *stored)) << what;
  }
  (void)co_await (*sock)->Close();
}

// The size of the stream RoundTrip sends for `batch`.
size_t StreamBytes(const std::vector<std::byte>& batch) {
  return ApiVersionsFrame(1).size() * 2 + ProduceFrame("t", batch, 2).size();
}

TEST(ConnectionTest, SmallRequestsSplitAtEveryByteComeOutWhole) {
  BrokerSim sim(21);
  ASSERT_TRUE(sim.Run([&](Io& io) -> Task<void> {
    auto admin = co_await ConnectRetrying(io, sim.address());
    EXPECT_TRUE(admin.ok());
    if (!admin.ok()) co_return;
    EXPECT_EQ(co_await CreateTopic(**admin, "t"), 0);
    const std::vector<std::byte> batch = Batch(3, 200, 5);
    const size_t total = StreamBytes(batch);
    int64_t offset = 0;
    for (size_t k = 1; k < total; k++) {
      const std::vector<size_t> cuts = {k};
      co_await RoundTrip(io, sim, batch, cuts, offset, fmt::format("cut at {}", k));
      offset += 3;
    }
  }));
}

TEST(ConnectionTest, LargeRequestsSplitAroundEveryEdgeComeOutWhole) {
  BrokerSim sim(22);
  ASSERT_TRUE(sim.Run([&](Io& io) -> Task<void> {
    auto admin = co_await ConnectRetrying(io, sim.address());
    EXPECT_TRUE(admin.ok());
    if (!admin.ok()) co_return;
    EXPECT_EQ(co_await CreateTopic(**admin, "t"), 0);
    // Larger than the 64 KiB the reader asks of one Recv, so it is received into its own buffer.
    const std::vector<std::byte> batch = Batch(40, 200 * 1024, 9);
    const size_t first = ApiVersionsFrame(1).size();
    const size_t produce = ProduceFrame("t", batch, 2).size();
    const size_t total = StreamBytes(batch);
    // Cut points: around the first frame's end (the Produce's size prefix), the 64 KiB Recv
    // size, the Produce's end and the stream's end; each alone, then all of them at once.
    const std::vector<size_t> bases = {first, first + 4, 64 * 1024, first + produce, total - 1};
    std::vector<size_t> edges;
    for (size_t base : bases) {
      for (size_t d = 0; d < 7; d++) {
        const size_t k = base + d - 3;
        if (k >= 1 && k < total) edges.push_back(k);
      }
    }
    int64_t offset = 0;
    for (size_t k : edges) {
      const std::vector<size_t> cuts = {k};
      co_await RoundTrip(io, sim, batch, cuts, offset, fmt::format("cut at {}", k));
      offset += 40;
    }
    std::sort(edges.begin(), edges.end());
    edges.erase(std::unique(edges.begin(), edges.end()), edges.end());
    co_await RoundTrip(io, sim, batch, edges, offset, "every edge");
    offset += 40;
    // Many small pieces: the large frame's rest arrives over many receives.
    std::vector<size_t> pieces;
    for (size_t k = 1000; k < total; k += 1000) pieces.push_back(k);
    co_await RoundTrip(io, sim, batch, pieces, offset, "1000-byte pieces");
    offset += 40;
    // Large requests of changing sizes on one connection, pipelined: each is received into a
    // buffer a finished one may have used before, and is stored exactly as sent.
    auto sock = co_await ConnectRetrying(io, sim.address());
    EXPECT_TRUE(sock.ok());
    if (!sock.ok()) co_return;
    const std::vector<size_t> sizes = {150 * 1024, 300 * 1024, 100 * 1024, 299 * 1024, 70 * 1024};
    std::vector<std::vector<std::byte>> batches;
    for (size_t i = 0; i < sizes.size(); i++) {
      batches.push_back(Batch(20, sizes[i], static_cast<uint32_t>(100 + i)));
      const std::vector<uint8_t> frame = ProduceFrame("t", batches.back(), 10 + int32_t(i));
      EXPECT_TRUE((co_await (*sock)->Send(std::as_bytes(std::span(frame)))).ok());
    }
    for (size_t i = 0; i < sizes.size(); i++) {
      auto p = co_await ReadDecoded<ProduceResponse>(**sock, kProduceVersion, 10 + int32_t(i));
      EXPECT_TRUE(p.ok()) << i << ": " << p.status().ToString();
      if (!p.ok()) co_return;
      const auto& pr = p->body.responses.at(0).partition_responses.at(0);
      EXPECT_EQ(pr.error_code, 0) << i;
      EXPECT_EQ(pr.base_offset, offset + static_cast<int64_t>(20 * i)) << i;
    }
    for (size_t i = 0; i < sizes.size(); i++) {
      Result<std::vector<uint8_t>> stored =
          co_await FetchBatch(**sock, "t", offset + static_cast<int64_t>(20 * i), 100 + int32_t(i));
      EXPECT_TRUE(stored.ok() && SameRecords(batches[i], *stored)) << i;
    }
  }));
}

TEST(ConnectionTest, StreamEndingInsideALargeRequestWritesNothing) {
  BrokerSim sim(23);
  ASSERT_TRUE(sim.Run([&](Io& io) -> Task<void> {
    auto admin = co_await ConnectRetrying(io, sim.address());
    EXPECT_TRUE(admin.ok());
    if (!admin.ok()) co_return;
    EXPECT_EQ(co_await CreateTopic(**admin, "t"), 0);
    const std::vector<std::byte> batch = Batch(40, 200 * 1024, 3);
    const std::vector<uint8_t> produce = ProduceFrame("t", batch, 7);
    const std::vector<size_t> sent_bytes = {4, 100, 70 * 1024, produce.size() - 1};
    for (size_t sent : sent_bytes) {
      auto sock = co_await ConnectRetrying(io, sim.address());
      EXPECT_TRUE(sock.ok());
      if (!sock.ok()) co_return;
      EXPECT_TRUE((co_await (*sock)->Send(std::as_bytes(std::span(produce).first(sent)))).ok());
      co_await io.Sleep(std::chrono::milliseconds(1));
      EXPECT_TRUE((co_await (*sock)->ShutdownWrite()).ok());
      // The broker closes without an answer.
      EXPECT_FALSE((co_await ReadFrame(**sock)).ok()) << sent;
      (void)co_await (*sock)->Close();
    }
    // Nothing was stored: the first produce that completes gets offset 0.
    const std::vector<size_t> no_cuts;
    co_await RoundTrip(io, sim, batch, no_cuts, 0, "after the truncated ones");
    // Every admission came back (the shards' byte budgets are full again once the last
    // response has been written).
    co_await io.Sleep(std::chrono::milliseconds(10));
    for (ShardId s = 0; s < sim.shard_count(); s++) {
      EXPECT_EQ(sim.shard(s).request_bytes.available(),
                static_cast<uint64_t>(sim.config().queued_max_request_bytes))
          << "shard " << s;
    }
  }));
}

}  // namespace
}  // namespace runnel::broker
