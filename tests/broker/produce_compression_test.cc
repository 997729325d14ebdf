// Topic compression.type conversion on produce, end to end on the simulator: a broker node and
// a client speaking CreateTopics / InitProducerId / Produce / Fetch with the generated codecs.
// The batches the client fetches back are the stored ones (fetch serves the log's bytes), so
// their codec bits show what the broker wrote.
#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "broker/protocol/gen/create_topics_request.h"
#include "broker/protocol/gen/create_topics_response.h"
#include "broker/protocol/gen/error_codes.h"
#include "broker/protocol/gen/fetch_request.h"
#include "broker/protocol/gen/fetch_response.h"
#include "broker/protocol/gen/init_producer_id_request.h"
#include "broker/protocol/gen/init_producer_id_response.h"
#include "broker/protocol/gen/produce_request.h"
#include "broker/protocol/gen/produce_response.h"
#include "engine/batch_builder.h"
#include "engine/crc32c.h"
#include "engine/record_batch_format.h"
#include "tests/broker/broker_sim.h"

namespace runnel::broker {
namespace {

using namespace protocol;  // NOLINT: test brevity
using engine::Codec;

int16_t Err(ErrorCode e) { return static_cast<int16_t>(e); }

// A request and its decoded answer; `frame` owns the bytes the answer's records point into.
template <typename Resp>
struct Answer {
  std::vector<uint8_t> frame;
  Resp body;
};

template <typename Resp, typename Req>
Task<Result<Answer<Resp>>> Call(Socket& s, int16_t version, const Req& req, int32_t id) {
  RUNNEL_CO_TRY(co_await SendRequest(s, version, req, id));
  Answer<Resp> out;
  RUNNEL_CO_ASSIGN_OR_RETURN(out.frame, co_await ReadFrame(s));
  Reader r(out.frame);
  RUNNEL_CO_ASSIGN_OR_RETURN(
      ResponseHeader h,
      ResponseHeader::Decode(ResponseHeaderVersion(*FindApi(Resp::kApiKey), version), r));
  if (h.correlation_id != id) co_return Status::Corruption("correlation id");
  RUNNEL_CO_TRY(out.body.DecodeFrom(version, r));
  co_return out;
}

// The records every test batch carries: keys, a null key, an empty and a null value, headers.
struct Rec {
  std::optional<std::string> key;
  std::optional<std::string> value;
  bool operator==(const Rec&) const = default;
};
std::vector<Rec> TestRecords() {
  return {{"a", std::string(300, 'x')}, {std::nullopt, "no key"}, {"c", ""}, {"d", std::nullopt}};
}

engine::Bytes AsBytes(const std::string& s) {
  return engine::Bytes(reinterpret_cast<const std::byte*>(s.data()), s.size());
}
// (Both overloads take references: the spans point into the caller's strings.)
engine::NullableBytes AsBytes(const std::optional<std::string>& s) {
  if (!s) return std::nullopt;
  return AsBytes(*s);
}

std::vector<std::byte> Batch(Codec codec, engine::BatchOptions options = {}) {
  options.codec = codec;
  engine::BatchBuilder b(options);
  // Named strings: the header's spans must outlive the Appends.
  const std::string header_key = "h";
  const std::string header_value = "hv";
  const engine::RecordHeader header{AsBytes(header_key), AsBytes(header_value)};
  for (const Rec& r : TestRecords()) {
    b.Append(1'700'000'000'000, AsBytes(r.key), AsBytes(r.value), std::span(&header, 1));
  }
  return b.Build().value();
}

// The stored batches a fetch of `topic` partition 0 from offset 0 returns: (attributes,
// records read back, first offset).
struct Stored {
  uint16_t attributes = 0;
  std::vector<Rec> records;
  int64_t base_offset = 0;
};
std::vector<Stored> Decode(const RecordsView& view) {
  std::vector<Stored> out;
  engine::RecordReader reader(size_t{64} << 20);
  engine::BatchSplitter splitter(
      std::span(reinterpret_cast<const std::byte*>(view.data()), view.size()));
  while (std::optional<engine::RecordBatchView> b = splitter.Next()) {
    Stored s;
    s.attributes = b->attributes();
    s.base_offset = b->base_offset().value();
    Result<engine::RecordIterator> it = reader.Open(*b);
    EXPECT_TRUE(it.ok()) << it.status().ToString();
    engine::Record r;
    while (it.ok() && it->Next(r)) {
      auto str = [](const engine::NullableBytes& x) -> std::optional<std::string> {
        if (!x) return std::nullopt;
        return std::string(reinterpret_cast<const char*>(x->data()), x->size());
      };
      s.records.push_back(Rec{str(r.key), str(r.value)});
      EXPECT_EQ(r.header_count, 1);
    }
    out.push_back(std::move(s));
  }
  EXPECT_TRUE(splitter.status().ok()) << splitter.status().ToString();
  return out;
}

class Client {
 public:
  explicit Client(std::unique_ptr<Socket> s) : socket_(std::move(s)) {}

  Task<Result<int16_t>> Create(std::string name, std::string config, std::string value,
                               std::string config2 = "", std::string value2 = "") {
    CreateTopicsRequest req;
    CreateTopicsRequest::CreatableTopic t;
    t.name = std::move(name);
    t.num_partitions = 1;
    t.replication_factor = -1;
    CreateTopicsRequest::CreatableTopicConfig c;
    c.name = std::move(config);
    c.value = std::move(value);
    t.configs.push_back(std::move(c));
    if (!config2.empty()) {
      CreateTopicsRequest::CreatableTopicConfig c2;
      c2.name = std::move(config2);
      c2.value = std::move(value2);
      t.configs.push_back(std::move(c2));
    }
    req.topics.push_back(std::move(t));
    RUNNEL_CO_ASSIGN_OR_RETURN(auto a,
                               co_await Call<CreateTopicsResponse>(*socket_, 5, req, ++id_));
    co_return a.body.topics.at(0).error_code;
  }

  // (error code, base offset) of one batch produced to partition 0.
  Task<Result<std::pair<int16_t, int64_t>>> Produce(std::string topic,
                                                    const std::vector<std::byte>& batch,
                                                    int16_t version = 9) {
    const ProduceRequest req = OneBatchProduce(std::move(topic), 0, batch, -1);
    RUNNEL_CO_ASSIGN_OR_RETURN(auto a,
                               co_await Call<ProduceResponse>(*socket_, version, req, ++id_));
    const auto& pr = a.body.responses.at(0).partition_responses.at(0);
    co_return std::make_pair(pr.error_code, pr.base_offset);
  }

  Task<Result<std::vector<Stored>>> Fetch(std::string topic) {
    RUNNEL_CO_ASSIGN_OR_RETURN(auto got, co_await FetchAt(std::move(topic), 12, 0));
    if (got.first != 0) co_return Status::Corruption(fmt::format("fetch {}", got.first));
    co_return std::move(got.second);
  }

  // (error code, stored batches) of a Fetch of `version` of partition 0 from `offset`.
  Task<Result<std::pair<int16_t, std::vector<Stored>>>> FetchAt(std::string topic, int16_t version,
                                                                int64_t offset) {
    FetchRequest req;
    req.max_wait_ms = 0;
    req.min_bytes = 1;
    req.max_bytes = 1 << 20;
    FetchRequest::FetchTopic t;
    t.topic = std::move(topic);
    FetchRequest::FetchPartition p;
    p.partition = 0;
    p.fetch_offset = offset;
    p.partition_max_bytes = 1 << 20;
    t.partitions.push_back(p);
    req.topics.push_back(std::move(t));
    RUNNEL_CO_ASSIGN_OR_RETURN(auto a, co_await Call<FetchResponse>(*socket_, version, req, ++id_));
    const auto& part = a.body.responses.at(0).partitions.at(0);
    std::vector<Stored> stored;
    if (!part.records.is_null()) stored = Decode(part.records);
    co_return std::make_pair(part.error_code, std::move(stored));
  }

  Task<Result<std::pair<int64_t, int16_t>>> InitProducerId() {
    InitProducerIdRequest req;
    req.transactional_id = std::nullopt;
    req.transaction_timeout_ms = 60000;
    RUNNEL_CO_ASSIGN_OR_RETURN(auto a,
                               co_await Call<InitProducerIdResponse>(*socket_, 4, req, ++id_));
    if (a.body.error_code != 0) co_return Status::Corruption("InitProducerId");
    co_return std::make_pair(a.body.producer_id, a.body.producer_epoch);
  }

 private:
  std::unique_ptr<Socket> socket_;
  int32_t id_ = 0;
};

// A client connected to the broker (retrying while it starts).
Task<Result<Client>> Open(Io& io, Address addr) {
  for (int i = 0; i < 100; i++) {
    Result<std::unique_ptr<Socket>> s = co_await io.net().Connect(addr);
    if (s.ok()) co_return Client(std::move(*s));
    co_await io.Sleep(std::chrono::milliseconds(10));
  }
  co_return Status::Refused("broker never accepted");
}

uint16_t CodecBits(uint16_t attributes) {
  return attributes & engine::batch_format::kAttrCompressionMask;
}

TEST(ProduceCompressionTest, BatchesAreStoredInTheTopicsCodec) {
  BrokerSim sim(11);
  ASSERT_TRUE(sim.Run([&](Io& io) -> Task<void> {
    Result<Client> client = co_await Open(io, sim.address());
    EXPECT_TRUE(client.ok()) << client.status().ToString();
    if (!client.ok()) co_return;
    Client& c = *client;
    const std::string topics[] = {"z", "u", "p", "lat"};
    const std::string types[] = {"zstd", "uncompressed", "producer", "gzip"};
    const uint16_t want[] = {4, 0, 1, 1};
    for (int i = 0; i < 4; i++) {
      Result<int16_t> created = i == 3
                                    ? co_await c.Create(topics[i], "compression.type", types[i],
                                                        "message.timestamp.type", "LogAppendTime")
                                    : co_await c.Create(topics[i], "compression.type", types[i]);
      EXPECT_TRUE(created.ok() && *created == 0) << topics[i];
    }
    // Two gzip batches and a snappy one to each topic.
    const std::vector<std::byte> gzip = Batch(Codec::kGzip);
    const std::vector<std::byte> snappy = Batch(Codec::kSnappy);
    for (int i = 0; i < 4; i++) {
      for (const std::vector<std::byte>* b : {&gzip, &snappy, &gzip}) {
        auto r = co_await c.Produce(topics[i], *b);
        EXPECT_TRUE(r.ok() && r->first == 0) << topics[i] << " " << (r.ok() ? r->first : -1);
      }
      auto stored = co_await c.Fetch(topics[i]);
      EXPECT_TRUE(stored.ok()) << stored.status().ToString();
      if (!stored.ok()) continue;
      EXPECT_EQ(stored->size(), 3u) << topics[i];
      for (size_t k = 0; k < stored->size(); k++) {
        const Stored& s = (*stored)[k];
        // The producer topic keeps each batch's own codec (gzip, snappy, gzip).
        const uint16_t codec = topics[i] == "p" ? (k == 1 ? 2 : 1) : want[i];
        EXPECT_EQ(CodecBits(s.attributes), codec) << topics[i] << " batch " << k;
        EXPECT_EQ((s.attributes & engine::batch_format::kAttrTimestampTypeLogAppend) != 0,
                  topics[i] == "lat")
            << topics[i];
        EXPECT_EQ(s.records, TestRecords()) << topics[i] << " batch " << k;
        EXPECT_EQ(s.base_offset, static_cast<int64_t>(k * TestRecords().size()));
      }
    }
  }));
}

TEST(ProduceCompressionTest, RefusedBatchesWriteNothing) {
  BrokerSim sim(12);
  ASSERT_TRUE(sim.Run([&](Io& io) -> Task<void> {
    Result<Client> client = co_await Open(io, sim.address());
    EXPECT_TRUE(client.ok()) << client.status().ToString();
    if (!client.ok()) co_return;
    Client& c = *client;
    auto created =
        co_await c.Create("u", "compression.type", "uncompressed", "max.message.bytes", "2000");
    EXPECT_TRUE(created.ok() && *created == 0);
    // A gzip batch whose stream is garbage, with a correct CRC.
    std::vector<std::byte> bad = Batch(Codec::kGzip);
    for (size_t i = engine::batch_format::kRecordsOffset + 10; i < bad.size(); i++) {
      bad[i] = std::byte{0x5a};
    }
    namespace bf = engine::batch_format;
    const uint32_t crc = engine::crc32c::Value(bad.data() + bf::kCrcCoverageOffset,
                                               bad.size() - bf::kCrcCoverageOffset);
    for (int i = 0; i < 4; i++) {
      bad[bf::kCrcOffset + i] = static_cast<std::byte>(crc >> (8 * (3 - i)));
    }
    EXPECT_TRUE(engine::RecordBatchView::Parse(bad).ok());
    auto r = co_await c.Produce("u", bad);
    EXPECT_TRUE(r.ok() && r->first == Err(ErrorCode::kCorruptMessage));
    // 5000 bytes of one letter: the gzip batch is small, the converted one is over
    // max.message.bytes.
    engine::BatchOptions big_options;
    big_options.codec = Codec::kGzip;
    engine::BatchBuilder big_builder(big_options);
    const std::string big_value(5000, 'y');
    big_builder.Append(1, std::nullopt, AsBytes(big_value));
    const std::vector<std::byte> big = big_builder.Build().value();
    EXPECT_LT(big.size(), 2000u);
    r = co_await c.Produce("u", big);
    EXPECT_TRUE(r.ok() && r->first == Err(ErrorCode::kMessageTooLarge));
    // zstd over Produce v3 (KIP-110).
    r = co_await c.Produce("u", Batch(Codec::kZstd), 3);
    EXPECT_TRUE(r.ok() && r->first == Err(ErrorCode::kUnsupportedCompressionType));
    auto stored = co_await c.Fetch("u");
    EXPECT_TRUE(stored.ok() && stored->empty());
    // A good one goes in at offset 0.
    r = co_await c.Produce("u", Batch(Codec::kLz4));
    EXPECT_TRUE(r.ok() && r->first == 0 && r->second == 0);
  }));
}

TEST(ProduceCompressionTest, IdempotentRetriesOfConvertedBatchesAreStoredOnce) {
  BrokerSim sim(13);
  ASSERT_TRUE(sim.Run([&](Io& io) -> Task<void> {
    Result<Client> client = co_await Open(io, sim.address());
    EXPECT_TRUE(client.ok()) << client.status().ToString();
    if (!client.ok()) co_return;
    Client& c = *client;
    auto created = co_await c.Create("z", "compression.type", "zstd");
    EXPECT_TRUE(created.ok() && *created == 0);
    auto pid = co_await c.InitProducerId();
    EXPECT_TRUE(pid.ok());
    if (!pid.ok()) co_return;
    engine::BatchOptions o;
    o.producer_id = engine::ProducerId(pid->first);
    o.producer_epoch = engine::ProducerEpoch(pid->second);
    o.base_sequence = 0;
    const std::vector<std::byte> first = Batch(Codec::kGzip, o);
    o.base_sequence = static_cast<int32_t>(TestRecords().size());
    const std::vector<std::byte> second = Batch(Codec::kNone, o);
    auto a = co_await c.Produce("z", first);
    auto retry = co_await c.Produce("z", first);
    auto b = co_await c.Produce("z", second);
    EXPECT_TRUE(a.ok() && retry.ok() && b.ok());
    if (!a.ok() || !retry.ok() || !b.ok()) co_return;
    EXPECT_EQ(a->first, 0);
    EXPECT_EQ(*retry, *a) << "the retry answers with the original's offset";
    EXPECT_EQ(b->first, 0);
    EXPECT_EQ(b->second, static_cast<int64_t>(TestRecords().size()));
    auto stored = co_await c.Fetch("z");
    EXPECT_TRUE(stored.ok() && stored->size() == 2u);
    if (!stored.ok()) co_return;
    for (const Stored& s : *stored) {
      EXPECT_EQ(CodecBits(s.attributes), 4);
      EXPECT_EQ(s.records, TestRecords());
    }
  }));
}

// KIP-110: a Fetch older than v10 never returns a zstd batch. It gets the batches before the
// first zstd one; starting at a zstd batch it gets UNSUPPORTED_COMPRESSION_TYPE and nothing.
// Fetch v10 reads the same partition whole.
TEST(ProduceCompressionTest, FetchBeforeV10StopsAtZstdBatches) {
  BrokerSim sim(14);
  ASSERT_TRUE(sim.Run([&](Io& io) -> Task<void> {
    Result<Client> client = co_await Open(io, sim.address());
    EXPECT_TRUE(client.ok()) << client.status().ToString();
    if (!client.ok()) co_return;
    Client& c = *client;
    auto created = co_await c.Create("p", "compression.type", "producer");
    EXPECT_TRUE(created.ok() && *created == 0);
    auto zt = co_await c.Create("z", "compression.type", "zstd");
    EXPECT_TRUE(zt.ok() && *zt == 0);
    // p: gzip, gzip, zstd, lz4 (offsets 0, 4, 8, 12); z: one gzip batch stored as zstd.
    const int64_t n = static_cast<int64_t>(TestRecords().size());
    for (Codec codec : {Codec::kGzip, Codec::kGzip, Codec::kZstd, Codec::kLz4}) {
      auto r = co_await c.Produce("p", Batch(codec));
      EXPECT_TRUE(r.ok() && r->first == 0);
    }
    auto rz = co_await c.Produce("z", Batch(Codec::kGzip));
    EXPECT_TRUE(rz.ok() && rz->first == 0);

    auto codecs = [](const std::vector<Stored>& stored) {
      std::vector<uint16_t> out;
      for (const Stored& s : stored) out.push_back(CodecBits(s.attributes));
      return out;
    };
    const int16_t unsupported = Err(ErrorCode::kUnsupportedCompressionType);
    for (int16_t old : {4, 9}) {
      auto head = co_await c.FetchAt("p", old, 0);  // the two gzip batches only
      EXPECT_TRUE(head.ok() && head->first == 0) << old;
      if (head.ok()) {
        EXPECT_EQ(codecs(head->second), (std::vector<uint16_t>{1, 1})) << old;
        for (const Stored& s : head->second) EXPECT_EQ(s.records, TestRecords());
      }
      auto at_zstd = co_await c.FetchAt("p", old, 2 * n);
      EXPECT_TRUE(at_zstd.ok() && at_zstd->first == unsupported && at_zstd->second.empty()) << old;
      auto after = co_await c.FetchAt("p", old, 3 * n);  // the lz4 batch after it
      EXPECT_TRUE(after.ok() && after->first == 0 &&
                  codecs(after->second) == std::vector<uint16_t>{3})
          << old;
      auto whole_zstd = co_await c.FetchAt("z", old, 0);
      EXPECT_TRUE(whole_zstd.ok() && whole_zstd->first == unsupported && whole_zstd->second.empty())
          << old;
    }
    for (int16_t v : {10, 12}) {
      auto all = co_await c.FetchAt("p", v, 0);
      EXPECT_TRUE(all.ok() && all->first == 0 &&
                  codecs(all->second) == (std::vector<uint16_t>{1, 1, 4, 3}))
          << v;
      auto z = co_await c.FetchAt("z", v, 0);
      EXPECT_TRUE(z.ok() && z->first == 0 && codecs(z->second) == std::vector<uint16_t>{4}) << v;
      if (z.ok() && z->second.size() == 1) {
        EXPECT_EQ(z->second[0].records, TestRecords());
      }
    }
  }));
}

}  // namespace
}  // namespace runnel::broker
