// Fetch sessions (KIP-227) and cross-shard long polling, end to end on the simulator: a broker
// node (several shards, RunShard on each) and a client node speaking Fetch / Produce /
// CreateTopics with the generated codecs over SimNetwork. The test reaches into the broker's
// Node (one simulator thread) to see which shard accepted a connection and what the session
// caches and long-poll registries hold.
#include "broker/fetch_session.h"

#include <gtest/gtest.h>

#include <limits>
#include <memory>
#include <set>

#include "broker/fetch_wait.h"
#include "broker/node.h"
#include "broker/protocol/gen/create_topics_request.h"
#include "broker/protocol/gen/create_topics_response.h"
#include "broker/protocol/gen/delete_records_request.h"
#include "broker/protocol/gen/delete_records_response.h"
#include "broker/protocol/gen/error_codes.h"
#include "broker/protocol/gen/fetch_request.h"
#include "broker/protocol/gen/fetch_response.h"
#include "broker/protocol/gen/produce_request.h"
#include "broker/protocol/gen/produce_response.h"
#include "broker/protocol/request.h"
#include "engine/batch_builder.h"
#include "tests/broker/broker_sim.h"

namespace runnel::broker {
namespace {

using namespace protocol;  // NOLINT: test brevity

constexpr int16_t kFetchVersion = 12;  // by topic name, flexible
constexpr int16_t kFetchVersionIds = 13;

// Sets max.incremental.fetch.session.cache.slots.
std::function<void(BrokerConfig&)> Slots(int64_t slots) {
  return [slots](BrokerConfig& c) { c.max_incremental_fetch_session_cache_slots = slots; };
}

// A client connection and the shard that accepted it.
struct Client {
  std::unique_ptr<Socket> socket;
  ShardId shard = 0;
  int32_t next_correlation = 1;
};

uint64_t AcceptedTotal(BrokerSim& sim, std::vector<uint64_t>* per_shard) {
  uint64_t total = 0;
  per_shard->clear();
  for (ShardId s = 0; s < sim.shard_count(); s++) {
    per_shard->push_back(sim.shard(s).connections_accepted);
    total += per_shard->back();
  }
  return total;
}

// Connects (retrying while the broker starts) and finds out which shard accepted.
Task<Result<Client>> Connect(BrokerSim& sim, Io& io) {
  for (int i = 0; i < 100; i++) {
    std::vector<uint64_t> before;
    AcceptedTotal(sim, &before);
    Result<std::unique_ptr<Socket>> s = co_await io.net().Connect(sim.address());
    if (!s.ok()) {
      co_await io.Sleep(std::chrono::milliseconds(10));
      continue;
    }
    Client c;
    c.socket = std::move(*s);
    // The accept completes on the broker shortly after the connect: wait for the count to move.
    for (int j = 0; j < 1000; j++) {
      std::vector<uint64_t> after;
      AcceptedTotal(sim, &after);
      for (ShardId k = 0; k < after.size(); k++) {
        if (after[k] != before[k]) {
          c.shard = k;
          co_return c;
        }
      }
      co_await io.Sleep(std::chrono::microseconds(100));
    }
    co_return Status::Corruption("accept not seen");
  }
  co_return Status::Refused("broker never accepted");
}

// Connects until a connection lands on shard `want`.
Task<Result<Client>> ConnectToShard(BrokerSim& sim, Io& io, ShardId want) {
  for (int i = 0; i < 64; i++) {
    RUNNEL_CO_ASSIGN_OR_RETURN(Client c, co_await Connect(sim, io));
    if (c.shard == want) co_return c;
    Status s = co_await c.socket->Close();
    (void)s;
  }
  co_return Status::Corruption("no connection reached the shard");
}

template <typename Resp>
using Answer = DecodedResponse<Resp>;

template <typename Resp>
Task<Result<Answer<Resp>>> Receive(Client& c, int16_t version, int32_t correlation_id) {
  co_return co_await ReadDecoded<Resp>(*c.socket, version, correlation_id);
}

template <typename Resp, typename Req>
Task<Result<Answer<Resp>>> Call(Client& c, int16_t version, const Req& req) {
  const int32_t id = c.next_correlation++;
  RUNNEL_CO_TRY(co_await SendRequest(*c.socket, version, req, id));
  co_return co_await Receive<Resp>(c, version, id);
}

// The top-level error code of a fetch; -1 when the exchange itself failed. A session error
// comes with session id 0 and no partitions.
Task<int16_t> FetchErrorOf(Client& c, int16_t version, const FetchRequest& req) {
  auto r = co_await Call<FetchResponse>(c, version, req);
  EXPECT_TRUE(r.ok()) << r.status().ToString();
  if (!r.ok()) co_return int16_t{-1};
  if (r->body.error_code != 0) {
    EXPECT_EQ(r->body.session_id, 0);
    EXPECT_TRUE(r->body.responses.empty());
  }
  co_return r->body.error_code;
}

int16_t Err(ErrorCode e) { return static_cast<int16_t>(e); }

Task<Status> CreateTopic(Client& c, std::string name, int32_t partitions) {
  CreateTopicsRequest req;
  CreateTopicsRequest::CreatableTopic t;
  t.name = std::move(name);
  t.num_partitions = partitions;
  t.replication_factor = -1;
  req.topics.push_back(std::move(t));
  RUNNEL_CO_ASSIGN_OR_RETURN(auto resp, co_await Call<CreateTopicsResponse>(c, 5, req));
  if (resp.body.topics.size() != 1 || resp.body.topics[0].error_code != 0) {
    co_return Status::Corruption("create topic failed");
  }
  co_return Status::Ok();
}

// Produces `count` records of `value_bytes` bytes each (one batch) and returns the base offset.
Task<Result<int64_t>> Produce(Client& c, std::string topic, int32_t partition, int count,
                              size_t value_bytes = 16) {
  engine::BatchBuilder builder(engine::BatchOptions{});
  std::vector<std::byte> value(value_bytes, std::byte{'v'});
  for (int i = 0; i < count; i++) builder.Append(1000 + i, std::nullopt, engine::Bytes(value));
  RUNNEL_CO_ASSIGN_OR_RETURN(std::vector<std::byte> batch, builder.Build());
  const ProduceRequest req = OneBatchProduce(std::move(topic), partition, batch, -1);
  RUNNEL_CO_ASSIGN_OR_RETURN(auto resp, co_await Call<ProduceResponse>(c, 9, req));
  const auto& pr = resp.body.responses.at(0).partition_responses.at(0);
  if (pr.error_code != 0)
    co_return Status::Corruption(fmt::format("produce error {}", pr.error_code));
  co_return pr.base_offset;
}

// A fetch request: `parts` are (partition, fetch offset) of one topic.
FetchRequest FetchOf(std::string topic, std::vector<std::pair<int32_t, int64_t>> parts,
                     int32_t session_id, int32_t epoch) {
  FetchRequest req;
  req.max_wait_ms = 0;
  req.min_bytes = 1;
  req.max_bytes = 1 << 20;
  req.session_id = session_id;
  req.session_epoch = epoch;
  if (!parts.empty()) {
    FetchRequest::FetchTopic t;
    t.topic = std::move(topic);
    for (auto [partition, offset] : parts) {
      FetchRequest::FetchPartition p;
      p.partition = partition;
      p.fetch_offset = offset;
      p.partition_max_bytes = 1 << 20;
      t.partitions.push_back(p);
    }
    req.topics.push_back(std::move(t));
  }
  return req;
}

void Forget(FetchRequest& req, std::string topic, int32_t partition) {
  FetchRequest::ForgottenTopic f;
  f.topic = std::move(topic);
  f.partitions.push_back(partition);
  req.forgotten_topics_data.push_back(std::move(f));
}

// Partition index -> (records in the response, high watermark, error code).
struct Seen {
  int64_t records = 0;
  int64_t high_watermark = -1;
  int64_t log_start_offset = -1;
  int16_t error = 0;
};

int64_t CountRecords(const RecordsView& records) {
  int64_t n = 0;
  std::span<const std::byte> bytes(reinterpret_cast<const std::byte*>(records.data()),
                                   records.size());
  while (bytes.size() >= 12) {
    uint32_t len = 0;
    for (int i = 8; i < 12; i++) len = (len << 8) | static_cast<uint8_t>(bytes[i]);
    if (bytes.size() < 12 + len) break;
    Result<engine::RecordBatchView> batch = engine::RecordBatchView::Parse(bytes.first(12 + len));
    if (!batch.ok()) return -1;
    n += batch->record_count();
    bytes = bytes.subspan(12 + len);
  }
  return n;
}

std::map<int32_t, Seen> Partitions(const FetchResponse& resp) {
  std::map<int32_t, Seen> out;
  for (const auto& t : resp.responses) {
    for (const auto& p : t.partitions) {
      Seen s;
      s.records = CountRecords(p.records);
      s.high_watermark = p.high_watermark;
      s.log_start_offset = p.log_start_offset;
      s.error = p.error_code;
      out[p.partition_index] = s;
    }
  }
  return out;
}

#define CO_ASSERT_OK(expr)                                  \
  do {                                                      \
    const auto& _r = (expr);                                \
    EXPECT_TRUE(_r.ok()) << #expr << ": " << _r.ToString(); \
    if (!_r.ok()) co_return;                                \
  } while (0)

// Names a Result's status for CO_ASSERT_OK.
template <typename T>
Status StatusOf(const Result<T>& r) {
  return r.ok() ? Status::Ok() : r.status();
}

// The cache alone: ids name their shard, epochs wrap, slots split over the shards.
TEST(FetchSessionCacheTest, IdsNameTheirShardEpochsWrapSlotsSplit) {
  Rng rng(7);
  FetchSessionCache cache(/*shard=*/2, /*shard_count=*/3, /*slots_max=*/50);
  std::set<int32_t> ids;
  for (int i = 0; i < 50; i++) {
    SessionPartitions parts;
    parts[SessionPartitionKey{"t", Uuid{}, i}] = CachedPartition{};
    const int32_t id = cache.MaybeCreate(rng, Instant{}, false, std::move(parts));
    EXPECT_GT(id, 0);
    EXPECT_EQ(SessionOwner(id, 3), 2u);
    ids.insert(id);
    FetchSession* s = cache.Find(id);
    EXPECT_TRUE(s != nullptr && s->epoch == 1 && s->partitions.size() == 1u);
  }
  EXPECT_EQ(ids.size(), 50u);
  // Full, nothing old enough to evict: no session.
  EXPECT_EQ(cache.MaybeCreate(rng, Instant{}, false, SessionPartitions{}), 0);
  EXPECT_TRUE(cache.Remove(*ids.begin()));
  EXPECT_FALSE(cache.Remove(*ids.begin()));
  EXPECT_EQ(cache.size(), 49u);

  EXPECT_EQ(NextSessionEpoch(0), 1);
  EXPECT_EQ(NextSessionEpoch(41), 42);
  EXPECT_EQ(NextSessionEpoch(std::numeric_limits<int32_t>::max()), 1);
  EXPECT_EQ(NextSessionEpoch(-1), -1);

  EXPECT_EQ(SessionSlotsOfShard(1000, 0, 3), 334u);
  EXPECT_EQ(SessionSlotsOfShard(1000, 1, 3), 333u);
  EXPECT_EQ(SessionSlotsOfShard(1000, 2, 3), 333u);
  EXPECT_EQ(SessionSlotsOfShard(1, 1, 2), 0u);
  EXPECT_EQ(SessionSlotsOfShard(0, 0, 1), 0u);
  FetchSessionCache none(0, 1, 0);
  EXPECT_EQ(none.MaybeCreate(rng, Instant{}, false, SessionPartitions{}), 0);
}

TEST(FetchSessionTest, FullIncrementalForgottenFinal) {
  BrokerSim sim(11, 2);
  sim.Run([&](Io& io) -> Task<void> {
    auto c = co_await Connect(sim, io);
    CO_ASSERT_OK(StatusOf(c));
    CO_ASSERT_OK(co_await CreateTopic(*c, "t", 2));
    CO_ASSERT_OK(StatusOf(co_await Produce(*c, "t", 0, 3)));

    // Full fetch, epoch 0: a new session; every partition answered.
    const FetchRequest full = FetchOf("t", {{0, 0}, {1, 0}}, 0, 0);
    auto r1 = co_await Call<FetchResponse>(*c, kFetchVersion, full);
    CO_ASSERT_OK(StatusOf(r1));
    const int32_t id = r1->body.session_id;
    EXPECT_GT(id, 0);
    EXPECT_EQ(SessionOwner(id, 2), c->shard);  // created where the connection is
    auto seen = Partitions(r1->body);
    EXPECT_EQ(seen.size(), 2u);
    EXPECT_EQ(seen[0].records, 3);
    EXPECT_EQ(seen[0].high_watermark, 3);
    EXPECT_EQ(seen[1].records, 0);

    // Incremental, epoch 1, p0 moved past its records: nothing changed, nothing answered.
    const FetchRequest inc1 = FetchOf("t", {{0, 3}}, id, 1);
    auto r2 = co_await Call<FetchResponse>(*c, kFetchVersion, inc1);
    CO_ASSERT_OK(StatusOf(r2));
    EXPECT_EQ(r2->body.error_code, 0);
    EXPECT_EQ(r2->body.session_id, id);
    EXPECT_TRUE(r2->body.responses.empty());

    // Records on p1 (which the client did not name again): answered from the session's offset.
    CO_ASSERT_OK(StatusOf(co_await Produce(*c, "t", 1, 2)));
    const FetchRequest inc2 = FetchOf("t", {}, id, 2);
    auto r3 = co_await Call<FetchResponse>(*c, kFetchVersion, inc2);
    CO_ASSERT_OK(StatusOf(r3));
    seen = Partitions(r3->body);
    EXPECT_EQ(seen.size(), 1u);
    EXPECT_EQ(seen[1].records, 2);
    EXPECT_EQ(seen[1].high_watermark, 2);
    // The session's offset for p1 moves only by what a request says: asked again, same records.
    const FetchRequest inc3 = FetchOf("t", {}, id, 3);
    auto r4 = co_await Call<FetchResponse>(*c, kFetchVersion, inc3);
    CO_ASSERT_OK(StatusOf(r4));
    seen = Partitions(r4->body);
    EXPECT_EQ(seen.size(), 1u);
    EXPECT_EQ(seen[1].records, 2);

    // p1 forgotten: new records there are not reported any more.
    FetchRequest inc4 = FetchOf("t", {}, id, 4);
    Forget(inc4, "t", 1);
    auto r5 = co_await Call<FetchResponse>(*c, kFetchVersion, inc4);
    CO_ASSERT_OK(StatusOf(r5));
    EXPECT_TRUE(r5->body.responses.empty());
    CO_ASSERT_OK(StatusOf(co_await Produce(*c, "t", 1, 1)));
    const FetchRequest inc5 = FetchOf("t", {}, id, 5);
    auto r6 = co_await Call<FetchResponse>(*c, kFetchVersion, inc5);
    CO_ASSERT_OK(StatusOf(r6));
    EXPECT_TRUE(r6->body.responses.empty());
    EXPECT_EQ(sim.shard(c->shard).fetch_sessions->size(), 1u);

    // Final (epoch -1) naming the session: closes it, answers a full sessionless fetch.
    const FetchRequest final_req = FetchOf("t", {{0, 0}, {1, 0}}, id, -1);
    auto r7 = co_await Call<FetchResponse>(*c, kFetchVersion, final_req);
    CO_ASSERT_OK(StatusOf(r7));
    EXPECT_EQ(r7->body.session_id, 0);
    seen = Partitions(r7->body);
    EXPECT_EQ(seen.size(), 2u);
    EXPECT_EQ(seen[1].records, 3);
    EXPECT_EQ(sim.shard(c->shard).fetch_sessions->size(), 0u);
    const FetchRequest after = FetchOf("t", {}, id, 6);
    EXPECT_EQ(co_await FetchErrorOf(*c, kFetchVersion, after),
              Err(ErrorCode::kFetchSessionIdNotFound));
  });
}

// Session ids come from the shard's Rng: the same seed opens the same session ids.
TEST(FetchSessionTest, SameSeedSameSessionIds) {
  std::vector<int32_t> runs[2];
  for (auto& ids : runs) {
    BrokerSim sim(21, 2);
    sim.Run([&](Io& io) -> Task<void> {
      auto c = co_await Connect(sim, io);
      CO_ASSERT_OK(StatusOf(c));
      CO_ASSERT_OK(co_await CreateTopic(*c, "d", 1));
      for (int i = 0; i < 3; i++) {
        const FetchRequest full = FetchOf("d", {{0, 0}}, 0, 0);
        auto r = co_await Call<FetchResponse>(*c, kFetchVersion, full);
        CO_ASSERT_OK(StatusOf(r));
        ids.push_back(r->body.session_id);
      }
    });
  }
  EXPECT_EQ(runs[0].size(), 3u);
  EXPECT_EQ(runs[0], runs[1]);
  EXPECT_EQ(std::set<int32_t>(runs[0].begin(), runs[0].end()).size(), 3u);
}

TEST(FetchSessionTest, EpochErrorsAndUnknownIds) {
  BrokerSim sim(12, 2);
  sim.Run([&](Io& io) -> Task<void> {
    auto c = co_await Connect(sim, io);
    CO_ASSERT_OK(StatusOf(c));
    CO_ASSERT_OK(co_await CreateTopic(*c, "e", 1));
    const FetchRequest full = FetchOf("e", {{0, 0}}, 0, 0);
    auto r1 = co_await Call<FetchResponse>(*c, kFetchVersion, full);
    CO_ASSERT_OK(StatusOf(r1));
    const int32_t id = r1->body.session_id;
    EXPECT_GT(id, 0);

    // Epoch 2 while the session expects 1.
    const FetchRequest skip = FetchOf("e", {}, id, 2);
    EXPECT_EQ(co_await FetchErrorOf(*c, kFetchVersion, skip),
              Err(ErrorCode::kInvalidFetchSessionEpoch));
    // An unknown id (same owner shard, so the lookup happens there), and id 0 with an epoch.
    const FetchRequest unknown = FetchOf("e", {}, id > 2000 ? id - 2000 : id + 2000, 1);
    EXPECT_EQ(co_await FetchErrorOf(*c, kFetchVersion, unknown),
              Err(ErrorCode::kFetchSessionIdNotFound));
    const FetchRequest zero = FetchOf("e", {}, 0, 3);
    EXPECT_EQ(co_await FetchErrorOf(*c, kFetchVersion, zero),
              Err(ErrorCode::kFetchSessionIdNotFound));
    // The session is intact: epoch 1 works, then 2; replaying 2 fails.
    for (int32_t epoch : {1, 2}) {
      const FetchRequest ok = FetchOf("e", {}, id, epoch);
      auto r = co_await Call<FetchResponse>(*c, kFetchVersion, ok);
      CO_ASSERT_OK(StatusOf(r));
      EXPECT_EQ(r->body.error_code, 0) << epoch;
      EXPECT_EQ(r->body.session_id, id);
    }
    const FetchRequest replay = FetchOf("e", {}, id, 2);
    EXPECT_EQ(co_await FetchErrorOf(*c, kFetchVersion, replay),
              Err(ErrorCode::kInvalidFetchSessionEpoch));
    // A session opened by name cannot go on by topic id (v13).
    const FetchRequest by_id = FetchOf("", {}, id, 3);
    EXPECT_EQ(co_await FetchErrorOf(*c, kFetchVersionIds, by_id),
              Err(ErrorCode::kFetchSessionTopicIdError));
    // Epoch 0 with the id: closes it and opens a new one.
    const FetchRequest reopen = FetchOf("e", {{0, 0}}, id, 0);
    auto r2 = co_await Call<FetchResponse>(*c, kFetchVersion, reopen);
    CO_ASSERT_OK(StatusOf(r2));
    EXPECT_GT(r2->body.session_id, 0);
    EXPECT_NE(r2->body.session_id, id);
    const FetchRequest old = FetchOf("e", {}, id, 3);
    EXPECT_EQ(co_await FetchErrorOf(*c, kFetchVersion, old),
              Err(ErrorCode::kFetchSessionIdNotFound));
  });
}

TEST(FetchSessionTest, SessionReachedFromAnotherShard) {
  BrokerSim sim(13, 2);
  sim.Run([&](Io& io) -> Task<void> {
    auto a = co_await ConnectToShard(sim, io, 0);
    CO_ASSERT_OK(StatusOf(a));
    auto b = co_await ConnectToShard(sim, io, 1);
    CO_ASSERT_OK(StatusOf(b));
    CO_ASSERT_OK(co_await CreateTopic(*a, "x", 2));
    const FetchRequest full = FetchOf("x", {{0, 0}, {1, 0}}, 0, 0);
    auto r1 = co_await Call<FetchResponse>(*a, kFetchVersion, full);
    CO_ASSERT_OK(StatusOf(r1));
    const int32_t id = r1->body.session_id;
    EXPECT_EQ(SessionOwner(id, 2), 0u);
    EXPECT_EQ(sim.shard(0).fetch_sessions->size(), 1u);
    EXPECT_EQ(sim.shard(1).fetch_sessions->size(), 0u);
    // The consumer reconnects and lands on shard 1: the session is still its.
    CO_ASSERT_OK(StatusOf(co_await Produce(*b, "x", 1, 4)));
    const FetchRequest inc = FetchOf("x", {}, id, 1);
    auto r2 = co_await Call<FetchResponse>(*b, kFetchVersion, inc);
    CO_ASSERT_OK(StatusOf(r2));
    EXPECT_EQ(r2->body.error_code, 0);
    EXPECT_EQ(r2->body.session_id, id);
    auto seen = Partitions(r2->body);
    EXPECT_EQ(seen.size(), 1u);
    EXPECT_EQ(seen[1].records, 4);
    // And back on shard 0 with the next epoch.
    const FetchRequest inc2 = FetchOf("x", {{1, 4}}, id, 2);
    auto r3 = co_await Call<FetchResponse>(*a, kFetchVersion, inc2);
    CO_ASSERT_OK(StatusOf(r3));
    EXPECT_EQ(r3->body.error_code, 0);
    EXPECT_TRUE(r3->body.responses.empty());
  });
}

TEST(FetchSessionTest, ChangedHighWatermarkIsSentWithoutRecords) {
  BrokerSim sim(14, 2);
  sim.Run([&](Io& io) -> Task<void> {
    auto c = co_await Connect(sim, io);
    CO_ASSERT_OK(StatusOf(c));
    CO_ASSERT_OK(co_await CreateTopic(*c, "h", 2));
    const FetchRequest full = FetchOf("h", {{0, 0}, {1, 0}}, 0, 0);
    auto r1 = co_await Call<FetchResponse>(*c, kFetchVersion, full);
    CO_ASSERT_OK(StatusOf(r1));
    const int32_t id = r1->body.session_id;
    EXPECT_GT(id, 0);
    EXPECT_EQ(Partitions(r1->body)[1].high_watermark, 0);
    // Records on both; max_bytes 1 lets only the first partition's records through, so p1 is
    // answered for its new high watermark alone.
    CO_ASSERT_OK(StatusOf(co_await Produce(*c, "h", 0, 2)));
    CO_ASSERT_OK(StatusOf(co_await Produce(*c, "h", 1, 5)));
    FetchRequest inc = FetchOf("h", {}, id, 1);
    inc.max_bytes = 1;
    auto r2 = co_await Call<FetchResponse>(*c, kFetchVersion, inc);
    CO_ASSERT_OK(StatusOf(r2));
    auto seen = Partitions(r2->body);
    EXPECT_EQ(seen.size(), 2u);
    EXPECT_EQ(seen[0].records, 2);
    EXPECT_EQ(seen[1].records, 0);
    EXPECT_EQ(seen[1].high_watermark, 5);
    // p0 moves past its records; p1's high watermark was told: nothing to say about either...
    FetchRequest inc2 = FetchOf("h", {{0, 2}}, id, 2);
    inc2.max_bytes = 1;
    auto r3 = co_await Call<FetchResponse>(*c, kFetchVersion, inc2);
    CO_ASSERT_OK(StatusOf(r3));
    seen = Partitions(r3->body);
    // ...except p1's records, which the first-partition rule now lets through.
    EXPECT_EQ(seen.size(), 1u);
    EXPECT_EQ(seen[1].records, 5);
    // A moved log start offset is news too.
    DeleteRecordsRequest del;
    DeleteRecordsRequest::DeleteRecordsTopic dt;
    dt.name = "h";
    DeleteRecordsRequest::DeleteRecordsPartition dp;
    dp.partition_index = 0;
    dp.offset = 1;
    dt.partitions.push_back(dp);
    del.topics.push_back(std::move(dt));
    auto deleted = co_await Call<DeleteRecordsResponse>(*c, 2, del);
    CO_ASSERT_OK(StatusOf(deleted));
    FetchRequest inc3 = FetchOf("h", {{1, 5}}, id, 3);
    auto r4 = co_await Call<FetchResponse>(*c, kFetchVersion, inc3);
    CO_ASSERT_OK(StatusOf(r4));
    seen = Partitions(r4->body);
    EXPECT_EQ(seen.size(), 1u);
    EXPECT_EQ(seen[0].records, 0);
    EXPECT_EQ(seen[0].log_start_offset, 1);
  });
}

// Under max_bytes the first partition with records is the only one returned; a partition that
// returned records moves to the end of the session's order, so the others get their turn.
TEST(FetchSessionTest, PartitionsThatReturnedRecordsGoLast) {
  BrokerSim sim(20, 2);
  sim.Run([&](Io& io) -> Task<void> {
    auto c = co_await Connect(sim, io);
    CO_ASSERT_OK(StatusOf(c));
    CO_ASSERT_OK(co_await CreateTopic(*c, "o", 2));
    const FetchRequest full = FetchOf("o", {{0, 0}, {1, 0}}, 0, 0);
    auto r1 = co_await Call<FetchResponse>(*c, kFetchVersion, full);
    CO_ASSERT_OK(StatusOf(r1));
    const int32_t id = r1->body.session_id;
    EXPECT_GT(id, 0);
    CO_ASSERT_OK(StatusOf(co_await Produce(*c, "o", 0, 2)));
    CO_ASSERT_OK(StatusOf(co_await Produce(*c, "o", 1, 3)));
    // Session order p0, p1 (the request's): p0's records.
    FetchRequest inc1 = FetchOf("o", {}, id, 1);
    inc1.max_bytes = 1;
    auto r2 = co_await Call<FetchResponse>(*c, kFetchVersion, inc1);
    CO_ASSERT_OK(StatusOf(r2));
    auto seen = Partitions(r2->body);
    EXPECT_EQ(seen[0].records, 2);
    EXPECT_EQ(seen[1].records, 0);
    // p0 has new records again, but it went last: p1's turn.
    CO_ASSERT_OK(StatusOf(co_await Produce(*c, "o", 0, 4)));
    FetchRequest inc2 = FetchOf("o", {{0, 2}}, id, 2);
    inc2.max_bytes = 1;
    auto r3 = co_await Call<FetchResponse>(*c, kFetchVersion, inc2);
    CO_ASSERT_OK(StatusOf(r3));
    seen = Partitions(r3->body);
    EXPECT_EQ(seen[1].records, 3);
    EXPECT_EQ(seen[0].records, 0);
    EXPECT_EQ(seen[0].high_watermark, 6);  // answered for its new high watermark alone
    // And then p0 again.
    FetchRequest inc3 = FetchOf("o", {{1, 3}}, id, 3);
    inc3.max_bytes = 1;
    auto r4 = co_await Call<FetchResponse>(*c, kFetchVersion, inc3);
    CO_ASSERT_OK(StatusOf(r4));
    seen = Partitions(r4->body);
    EXPECT_EQ(seen.size(), 1u);
    EXPECT_EQ(seen[0].records, 4);
  });
}

TEST(FetchSessionTest, FullCacheAnswersSessionlessAndEvictsAsKafkaDoes) {
  BrokerSim sim(15, 1, Slots(1));
  sim.Run([&](Io& io) -> Task<void> {
    auto c = co_await Connect(sim, io);
    CO_ASSERT_OK(StatusOf(c));
    CO_ASSERT_OK(co_await CreateTopic(*c, "f", 3));
    const FetchRequest one = FetchOf("f", {{0, 0}}, 0, 0);
    auto r1 = co_await Call<FetchResponse>(*c, kFetchVersion, one);
    CO_ASSERT_OK(StatusOf(r1));
    const int32_t first = r1->body.session_id;
    EXPECT_GT(first, 0);
    // Full: a second session is answered sessionless, never with an error.
    auto r2 = co_await Call<FetchResponse>(*c, kFetchVersion, one);
    CO_ASSERT_OK(StatusOf(r2));
    EXPECT_EQ(r2->body.error_code, 0);
    EXPECT_EQ(r2->body.session_id, 0);
    EXPECT_EQ(Partitions(r2->body).size(), 1u);

    // 100 s later the session is used; 30 s after that it is 130 s old but not idle: only a
    // session with more partitions may take its place.
    co_await io.Sleep(std::chrono::seconds(100));
    const FetchRequest use = FetchOf("f", {}, first, 1);
    auto r3 = co_await Call<FetchResponse>(*c, kFetchVersion, use);
    CO_ASSERT_OK(StatusOf(r3));
    EXPECT_EQ(r3->body.error_code, 0);
    co_await io.Sleep(std::chrono::seconds(30));
    auto r4 = co_await Call<FetchResponse>(*c, kFetchVersion, one);
    CO_ASSERT_OK(StatusOf(r4));
    EXPECT_EQ(r4->body.session_id, 0);
    const FetchRequest two = FetchOf("f", {{0, 0}, {1, 0}}, 0, 0);
    auto r5 = co_await Call<FetchResponse>(*c, kFetchVersion, two);
    CO_ASSERT_OK(StatusOf(r5));
    const int32_t second = r5->body.session_id;
    EXPECT_GT(second, 0);
    EXPECT_EQ(sim.shard(0).fetch_sessions->evictions(), 1u);
    const FetchRequest old = FetchOf("f", {}, first, 2);
    EXPECT_EQ(co_await FetchErrorOf(*c, kFetchVersion, old),
              Err(ErrorCode::kFetchSessionIdNotFound));

    // Idle for more than 120 s: the least recently used session goes, whatever its size.
    co_await io.Sleep(std::chrono::seconds(121));
    auto r7 = co_await Call<FetchResponse>(*c, kFetchVersion, one);
    CO_ASSERT_OK(StatusOf(r7));
    EXPECT_GT(r7->body.session_id, 0);
    EXPECT_NE(r7->body.session_id, second);
    EXPECT_EQ(sim.shard(0).fetch_sessions->evictions(), 2u);
    EXPECT_EQ(sim.shard(0).fetch_sessions->size(), 1u);
  });
}

// Two slots over two shards: one each. When the connection's shard is full the session opens
// on the other one; when both are full the fetch is sessionless.
TEST(FetchSessionTest, AFullShardOpensTheSessionOnAnother) {
  BrokerSim sim(22, 2, Slots(2));
  sim.Run([&](Io& io) -> Task<void> {
    auto c = co_await Connect(sim, io);
    CO_ASSERT_OK(StatusOf(c));
    CO_ASSERT_OK(co_await CreateTopic(*c, "s", 1));
    const FetchRequest full = FetchOf("s", {{0, 0}}, 0, 0);
    auto r1 = co_await Call<FetchResponse>(*c, kFetchVersion, full);
    CO_ASSERT_OK(StatusOf(r1));
    auto r2 = co_await Call<FetchResponse>(*c, kFetchVersion, full);
    CO_ASSERT_OK(StatusOf(r2));
    auto r3 = co_await Call<FetchResponse>(*c, kFetchVersion, full);
    CO_ASSERT_OK(StatusOf(r3));
    const int32_t first = r1->body.session_id;
    const int32_t second = r2->body.session_id;
    EXPECT_GT(first, 0);
    EXPECT_GT(second, 0);
    EXPECT_EQ(SessionOwner(first, 2), c->shard);
    EXPECT_EQ(SessionOwner(second, 2), 1 - c->shard);
    EXPECT_EQ(r3->body.session_id, 0);
    EXPECT_EQ(r3->body.error_code, 0);
    // Both go on.
    const FetchRequest inc1 = FetchOf("s", {}, first, 1);
    EXPECT_EQ(co_await FetchErrorOf(*c, kFetchVersion, inc1), 0);
    const FetchRequest inc2 = FetchOf("s", {}, second, 1);
    EXPECT_EQ(co_await FetchErrorOf(*c, kFetchVersion, inc2), 0);
  });
}

TEST(FetchSessionTest, TopicIdSessionsForgetById) {
  BrokerSim sim(16, 2);
  sim.Run([&](Io& io) -> Task<void> {
    auto c = co_await Connect(sim, io);
    CO_ASSERT_OK(StatusOf(c));
    CO_ASSERT_OK(co_await CreateTopic(*c, "ids", 2));
    // Learn the topic id from a v13 full fetch by name? No: v13 has ids only. Read it from the
    // broker's metadata (one simulator thread).
    const Uuid topic_id = sim.shard(0).metadata->state().topics.at("ids").id;
    CO_ASSERT_OK(StatusOf(co_await Produce(*c, "ids", 1, 2)));
    FetchRequest full = FetchOf("", {{0, 0}, {1, 0}}, 0, 0);
    full.topics[0].topic_id = topic_id;
    auto r1 = co_await Call<FetchResponse>(*c, kFetchVersionIds, full);
    CO_ASSERT_OK(StatusOf(r1));
    const int32_t id = r1->body.session_id;
    EXPECT_GT(id, 0);
    EXPECT_EQ(r1->body.responses.size(), 1u);
    if (r1->body.responses.size() != 1) co_return;
    EXPECT_EQ(r1->body.responses[0].topic_id, topic_id);
    EXPECT_EQ(Partitions(r1->body)[1].records, 2);
    FetchRequest inc = FetchOf("", {}, id, 1);
    FetchRequest::ForgottenTopic f;
    f.topic_id = topic_id;
    f.partitions.push_back(1);
    inc.forgotten_topics_data.push_back(f);
    auto r2 = co_await Call<FetchResponse>(*c, kFetchVersionIds, inc);
    CO_ASSERT_OK(StatusOf(r2));
    EXPECT_EQ(r2->body.error_code, 0);
    EXPECT_TRUE(r2->body.responses.empty());
    FetchSession* s = sim.shard(SessionOwner(id, 2)).fetch_sessions->Find(id);
    EXPECT_NE(s, nullptr);
    if (s != nullptr) {
      EXPECT_EQ(s->partitions.size(), 1u);
    }
    // Forgetting the last partition ends the session.
    FetchRequest inc2 = FetchOf("", {}, id, 2);
    f.partitions = {0};
    inc2.forgotten_topics_data.push_back(f);
    auto r3 = co_await Call<FetchResponse>(*c, kFetchVersionIds, inc2);
    CO_ASSERT_OK(StatusOf(r3));
    EXPECT_EQ(r3->body.session_id, 0);
    EXPECT_EQ(sim.shard(SessionOwner(id, 2)).fetch_sessions->Find(id), nullptr);
  });
}

// The batches of a records field: (base offset, next offset) each; false if one does not parse.
bool Batches(const RecordsView& records, std::vector<std::pair<int64_t, int64_t>>* out) {
  std::span<const std::byte> bytes(reinterpret_cast<const std::byte*>(records.data()),
                                   records.size());
  while (bytes.size() >= 12) {
    uint32_t len = 0;
    for (int i = 8; i < 12; i++) len = (len << 8) | static_cast<uint8_t>(bytes[i]);
    if (bytes.size() < 12 + len) break;  // a partial batch at the end: the client ignores it
    Result<engine::RecordBatchView> batch = engine::RecordBatchView::Parse(bytes.first(12 + len));
    if (!batch.ok()) return false;
    out->emplace_back(batch->base_offset().value(), batch->next_offset().value());
    bytes = bytes.subspan(12 + len);
  }
  return true;
}

// A consumer as a Java client drives a session (full fetch, then incremental with only the
// partitions whose position moved; a session error starts over with a full fetch), reconnecting
// now and then (so its session is reached from either shard), against a producer appending
// batches to random partitions; small max_bytes now and then. Model: every partition is read
// exactly once, in order, with no gap, whatever the interleaving; the session is kept all along.
TEST(FetchSessionTest, ConsumerReadsEverythingOnceThroughASession) {
  for (uint64_t seed : {31, 32, 33}) {
    BrokerSim sim(seed, 2);
    sim.Run([&](Io& io) -> Task<void> {
      constexpr int32_t kPartitions = 6;
      constexpr int kRounds = 300;
      Rng& rng = io.rng();
      auto c = co_await Connect(sim, io);
      CO_ASSERT_OK(StatusOf(c));
      auto producer = co_await Connect(sim, io);
      CO_ASSERT_OK(StatusOf(producer));
      CO_ASSERT_OK(co_await CreateTopic(*producer, "m", kPartitions));
      std::vector<int64_t> produced(kPartitions, 0);  // records appended per partition
      std::vector<int64_t> offset(kPartitions, 0);    // the consumer's position
      std::vector<int64_t> told(kPartitions, -1);     // the position the session holds
      int32_t session = 0;
      int32_t epoch = 0;
      int sessions_opened = 0;
      int reconnects = 0;
      for (int round = 0; round < kRounds || offset != produced; round++) {
        EXPECT_LT(round, kRounds + 200) << "the consumer does not catch up";
        if (round >= kRounds + 200) co_return;
        if (round < kRounds && rng.Chance(0.5)) {
          const auto p = static_cast<int32_t>(rng.Uniform(kPartitions));
          const int n = 1 + static_cast<int>(rng.Uniform(5));
          CO_ASSERT_OK(StatusOf(co_await Produce(*producer, "m", p, n)));
          produced[p] += n;
        }
        if (rng.Chance(0.05)) {
          Status closed = co_await c->socket->Close();
          EXPECT_TRUE(closed.ok());
          c = co_await Connect(sim, io);
          CO_ASSERT_OK(StatusOf(c));
          reconnects++;
        }
        std::vector<std::pair<int32_t, int64_t>> parts;
        for (int32_t p = 0; p < kPartitions; p++) {
          if (session == 0 || offset[p] != told[p]) parts.emplace_back(p, offset[p]);
        }
        FetchRequest req = FetchOf("m", parts, session, session == 0 ? 0 : epoch);
        req.max_wait_ms = 50;
        req.max_bytes = rng.Chance(0.3) ? 1 : 1 << 20;
        auto r = co_await Call<FetchResponse>(*c, kFetchVersion, req);
        CO_ASSERT_OK(StatusOf(r));
        EXPECT_EQ(r->body.error_code, 0) << "round " << round;
        if (r->body.error_code != 0 || r->body.session_id == 0) {
          session = 0;
          continue;
        }
        if (session == 0) sessions_opened++;
        session = r->body.session_id;
        epoch = (session == req.session_id ? epoch : 0) + 1;
        for (auto [p, o] : parts) told[p] = o;
        for (const auto& t : r->body.responses) {
          for (const auto& pd : t.partitions) {
            EXPECT_EQ(pd.error_code, 0);
            std::vector<std::pair<int64_t, int64_t>> batches;
            EXPECT_TRUE(Batches(pd.records, &batches));
            for (auto [base, next] : batches) {
              EXPECT_EQ(base, offset[pd.partition_index]) << "partition " << pd.partition_index;
              if (base != offset[pd.partition_index]) co_return;
              offset[pd.partition_index] = next;
            }
            EXPECT_LE(offset[pd.partition_index], pd.high_watermark);
          }
        }
      }
      EXPECT_EQ(offset, produced);
      EXPECT_EQ(sessions_opened, 1) << "the session was lost (seed " << seed << ")";
      EXPECT_GT(reconnects, 0);
    });
  }
}

// Long polling: an append on a partition owned by another shard than the first partition's
// wakes the fetch long before max_wait; with nothing appended the deadline holds; the watches
// are all gone afterwards. The fetch covers one partition of every shard (the first on shard
// 0); the append goes to the last shard's. Run with 2 and 4 shards.
void AppendOnLastShardWakes(uint64_t seed, uint32_t shards) {
  BrokerSim sim(seed, shards);
  sim.Run([&](Io& io) -> Task<void> {
    auto c = co_await Connect(sim, io);
    CO_ASSERT_OK(StatusOf(c));
    auto producer = co_await Connect(sim, io);
    CO_ASSERT_OK(StatusOf(producer));
    constexpr int32_t kPartitions = 32;
    CO_ASSERT_OK(co_await CreateTopic(*c, "w", kPartitions));
    std::vector<int32_t> on(shards, -1);  // a partition of each shard
    for (int32_t p = 0; p < kPartitions; p++) {
      ShardId s = sim.node().PartitionShard("w", p);
      if (on[s] < 0) on[s] = p;
    }
    std::vector<std::pair<int32_t, int64_t>> parts;
    for (int32_t p : on) {
      EXPECT_GE(p, 0);
      if (p < 0) co_return;
      parts.emplace_back(p, 0);
    }
    const int32_t last = on.back();
    FetchRequest poll = FetchOf("w", parts, 0, -1);
    poll.max_wait_ms = 10000;
    poll.min_bytes = 1;
    const Instant start = io.clock().Now();
    CO_ASSERT_OK(co_await SendRequest(*c->socket, kFetchVersion, poll, 100));
    co_await io.Sleep(std::chrono::milliseconds(200));
    // The fetch is waiting, with one watch on each shard.
    for (ShardId s = 0; s < shards; s++) {
      EXPECT_EQ(sim.shard(s).fetch_waits->watches(), 1u) << s;
    }
    CO_ASSERT_OK(StatusOf(co_await Produce(*producer, "w", last, 3)));
    auto r = co_await Receive<FetchResponse>(*c, kFetchVersion, 100);
    CO_ASSERT_OK(StatusOf(r));
    const Duration waited = io.clock().Now() - start;
    auto seen = Partitions(r->body);
    EXPECT_EQ(seen[last].records, 3);
    EXPECT_LT(waited, std::chrono::seconds(2));  // virtual time: woken, not timed out
    for (ShardId s = 0; s < shards; s++) {
      EXPECT_EQ(sim.shard(s).fetch_waits->watches(), 0u) << s;
      EXPECT_EQ(sim.shard(s).fetch_waits->open_waits(), 0u) << s;
    }

    // Nothing arrives: the deadline holds.
    parts.back().second = 3;
    FetchRequest idle = FetchOf("w", parts, 0, -1);
    idle.max_wait_ms = 3000;
    idle.min_bytes = 1000000;  // more than is there
    const Instant start2 = io.clock().Now();
    auto r2 = co_await Call<FetchResponse>(*c, kFetchVersion, idle);
    CO_ASSERT_OK(StatusOf(r2));
    EXPECT_GE(io.clock().Now() - start2, std::chrono::milliseconds(3000));
    for (ShardId s = 0; s < shards; s++) {
      EXPECT_EQ(sim.shard(s).fetch_waits->watches(), 0u) << s;
    }
  });
}

TEST(FetchWaitTest, AppendOnAnyShardWakesTheFetch) {
  AppendOnLastShardWakes(17, 2);
  AppendOnLastShardWakes(19, 4);
}

TEST(FetchWaitTest, ClosedConnectionEndsItsWaits) {
  BrokerSim sim(18, 2);
  sim.Run([&](Io& io) -> Task<void> {
    auto c = co_await Connect(sim, io);
    CO_ASSERT_OK(StatusOf(c));
    CO_ASSERT_OK(co_await CreateTopic(*c, "z", 4));
    FetchRequest poll = FetchOf("z", {{0, 0}, {1, 0}, {2, 0}, {3, 0}}, 0, -1);
    poll.max_wait_ms = 60000;
    CO_ASSERT_OK(co_await SendRequest(*c->socket, kFetchVersion, poll, 1));
    co_await io.Sleep(std::chrono::milliseconds(200));
    const ShardId home = c->shard;
    EXPECT_EQ(sim.shard(home).fetch_waits->open_waits(), 1u);
    Status closed = co_await c->socket->Close();
    EXPECT_TRUE(closed.ok());
    co_await io.Sleep(std::chrono::milliseconds(500));  // far less than max_wait
    for (ShardId s = 0; s < 2; s++) {
      EXPECT_EQ(sim.shard(s).fetch_waits->open_waits(), 0u) << s;
      EXPECT_EQ(sim.shard(s).fetch_waits->watches(), 0u) << s;
    }
  });
}

}  // namespace
}  // namespace runnel::broker
