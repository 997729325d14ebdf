#include "sim/workloads/broker_workload.h"

#include <fmt/format.h>

#include <algorithm>
#include <cstdlib>
#include <map>
#include <string>
#include <vector>

#include "broker/node.h"
#include "broker/protocol/gen/create_topics_request.h"
#include "broker/protocol/gen/create_topics_response.h"
#include "broker/protocol/gen/error_codes.h"
#include "broker/protocol/gen/fetch_request.h"
#include "broker/protocol/gen/fetch_response.h"
#include "broker/protocol/gen/init_producer_id_request.h"
#include "broker/protocol/gen/init_producer_id_response.h"
#include "broker/protocol/gen/metadata_request.h"
#include "broker/protocol/gen/metadata_response.h"
#include "broker/protocol/gen/produce_request.h"
#include "broker/protocol/gen/produce_response.h"
#include "broker/server.h"
#include "engine/batch_builder.h"
#include "engine/log_config.h"
#include "engine/record_batch.h"
#include "sim/checkers/kafka_log_checker.h"
#include "sim/faults.h"
#include "sim/node.h"
#include "sim/workloads/broker_node.h"
#include "sim/workloads/kafka_client.h"

namespace runnel::sim {
namespace {

using protocol::ErrorCode;
using std::chrono::milliseconds;
using std::chrono::seconds;

constexpr uint16_t kPort = 9092;
constexpr const char* kTopic = "events";
constexpr int kBatchesAfterQuiet = 3;  // each producer's liveness proof
constexpr Duration kRequestTimeout = seconds(3);
constexpr int32_t kFetchMaxBytes = 256 * 1024;

struct ProducerModel {
  uint32_t id = 0;
  bool idempotent = false;
  int64_t producer_id = -1;
  int16_t epoch = -1;
  std::vector<int32_t> next_sequence;  // by partition
  uint64_t next_record = 0;
  int batches_after_quiet = 0;
  bool finished = false;
  uint64_t batches_acked = 0, retries = 0, errors = 0;
};

// A fetch session (KIP-227) a consumer keeps within a pass: id 0 asks for a new one.
struct FetchSession {
  int32_t id = 0;
  int32_t epoch = 0;
  bool topic_ids = false;  // Fetch v13+: a session keeps to topic ids or to names
};

struct ConsumerModel {
  int reader = 0;
  bool sessions = false;  // incremental fetches (KIP-227) instead of full ones
  uint64_t passes = 0, fetches = 0, errors = 0, incremental = 0, session_resets = 0;
  bool caught_up = false;
};

// A batch waiting for its acknowledgement.
struct PendingBatch {
  int32_t partition = 0;
  std::vector<RecordId> ids;
  std::vector<std::byte> bytes;
  bool zstd = false;
  int sends = 0;
};

class BrokerWorkload final : public Workload {
 public:
  explicit BrokerWorkload(uint64_t seed) : rng_(seed ^ 0x42524f4b4552574bULL), checker_(0) {}

  std::string_view name() const override { return "broker"; }

  void AdjustFaults(FaultOptions& options) const override { OneCopyDiskFaults(options); }

  void Setup(SimWorld& world) override {
    world_ = &world;
    SetBrokerLogFromEnv();
    shards_ = static_cast<uint32_t>(2 + rng_.Uniform(2));
    partitions_ = static_cast<int32_t>(3 + rng_.Uniform(4));
    // Batches stay below 13 KiB (6 records of at most 2,000 bytes).
    const int64_t segment_choices[] = {16384, 32768, 262144, 1 << 20};
    segment_bytes_ = segment_choices[rng_.Uniform(4)];
    checker_ = KafkaLogChecker(partitions_);
    config_.listen = Address(SimWorld::AddressOf(1), kPort);
    config_.data_dir = "/data";
    config_.smp = shards_;
    config_.log_retention_check_interval_ms = rng_.Range(300, 5000);
    broker_ = world.AddNode(NodeOptions{
        .shards = shards_,
        .boot = [this](SimNode& n) { BootBroker(n); },
    });
    client_ = world.AddNode(NodeOptions{.shards = 1});
    const size_t producers = 2 + rng_.Uniform(3);
    const size_t consumers = 1 + rng_.Uniform(2);
    producers_.resize(producers);
    for (size_t i = 0; i < producers; i++) {
      producers_[i].id = static_cast<uint32_t>(i + 1);
      producers_[i].idempotent = rng_.Chance(0.5);
      producers_[i].next_sequence.assign(partitions_, 0);
    }
    consumers_.resize(consumers);
    for (ConsumerModel& c : consumers_) {
      c.reader = checker_.AddReader();
      c.sessions = rng_.Chance(0.5);
    }
    Io& io = world.node(client_).io(0);
    world.Spawn(client_, 0, CreateTopic(io));
    for (size_t i = 0; i < producers; i++) world.Spawn(client_, 0, Producer(io, i));
    for (size_t i = 0; i < consumers; i++) world.Spawn(client_, 0, Consumer(io, i));
  }

  std::vector<NodeId> nodes() const override { return {broker_, client_}; }
  std::vector<NodeId> never_crashed() const override { return {client_}; }

  void SetQuietFrom(Duration t) override { quiet_from_ns_ = t.count(); }

  bool Done() const override {
    if (!quiet() || failed_) return false;
    for (const ProducerModel& p : producers_) {
      if (!p.finished) return false;
    }
    for (const ConsumerModel& c : consumers_) {
      if (!c.caught_up) return false;
    }
    return true;
  }

  Status Finish(SimWorld& world) override {
    // One last power loss: everything acknowledged must be there after recovery.
    world.CrashNode(broker_);
    world.StartNode(broker_);
    bool verified = false;
    world.Spawn(client_, 0, VerifyAll(world.node(client_).io(0), &verified));
    const RunStop stop =
        world.RunUntil([&] { return verified; }, RunLimits{.time_max = world.now() + seconds(30)});
    if (world.failed()) return Status::Corruption(world.failure());
    if (stop != RunStop::kPredicate) {
      return Status::Timeout(
          fmt::format("the final read after a crash did not finish ({})", RunStopName(stop)));
    }
    return Status::Ok();
  }

  std::string Summary() const override {
    ProducerModel t;
    uint64_t idempotent = 0;
    for (const ProducerModel& p : producers_) {
      t.batches_acked += p.batches_acked;
      t.retries += p.retries;
      t.errors += p.errors;
      idempotent += p.idempotent ? 1 : 0;
    }
    ConsumerModel c;
    for (const ConsumerModel& m : consumers_) {
      c.passes += m.passes;
      c.fetches += m.fetches;
      c.errors += m.errors;
      c.incremental += m.incremental;
      c.session_resets += m.session_resets;
    }
    const KafkaLogChecker::Stats& s = checker_.stats();
    std::vector<int64_t> ends;
    for (int32_t p = 0; p < partitions_; p++) ends.push_back(checker_.seen_end(p));
    return fmt::format(
        "shards={} partitions={} segment.bytes={} producers={} (idempotent {}) consumers={}\n"
        "  records sent={} acked={} may_duplicate={} duplicates_seen={}; batches acked={} "
        "retries={} produce_errors={}\n"
        "  fetches={} (incremental {}, session resets {}) passes={} fetch_errors={} "
        "records_fetched={} bytes_fetched={} partition_ends=[{}] broker_boots={} "
        "restarts_after_failure={}",
        shards_, partitions_, segment_bytes_, producers_.size(), idempotent, consumers_.size(),
        s.sent, s.acked, s.may_duplicate, s.duplicates_seen, t.batches_acked, t.retries, t.errors,
        c.fetches, c.incremental, c.session_resets, c.passes, c.errors, s.records_fetched,
        s.bytes_fetched, fmt::join(ends, ","), boots_, failure_restarts_);
  }

 private:
  bool quiet() const { return quiet_from_ns_ >= 0 && world_->now_ns() >= quiet_from_ns_; }
  Address broker_address() const { return Address(SimWorld::AddressOf(broker_), kPort); }

  void Fail(const std::string& what) {
    failed_ = true;
    world_->Fail(fmt::format("broker workload at {}ns: {}", world_->now_ns(), what));
  }
  void Check(const Status& s) {
    if (!s.ok() && !failed_) Fail(s.message());
  }

  void BootBroker(SimNode& n) {
    boots_++;
    BootSupervisedBroker(*world_, n, config_, [this] { failure_restarts_++; });
  }

  // --- Topic ---------------------------------------------------------------------------------

  Task<void> CreateTopic(Io& io) {
    KafkaConnection conn(io, broker_address(), "admin");
    for (int attempt = 0;; attempt++) {
      protocol::CreateTopicsRequest req;
      protocol::CreateTopicsRequest::CreatableTopic t;
      t.name = kTopic;
      t.num_partitions = partitions_;
      t.replication_factor = -1;
      protocol::CreateTopicsRequest::CreatableTopicConfig c;
      c.name = "segment.bytes";
      c.value = std::to_string(segment_bytes_);
      t.configs.push_back(std::move(c));
      req.topics.push_back(std::move(t));
      req.timeout_ms = 5000;
      auto reply = co_await conn.Call<protocol::CreateTopicsResponse>(7, req, kRequestTimeout);
      if (reply.ok() && reply->body.topics.size() == 1) {
        const auto& r = reply->body.topics[0];
        if (r.error_code == 0 ||
            r.error_code == static_cast<int16_t>(ErrorCode::kTopicAlreadyExists)) {
          break;
        }
        if (!RetriableDataError(r.error_code) && r.error_code != 0) {
          Fail(fmt::format("CreateTopics: error {}", r.error_code));
          co_return;
        }
      }
      co_await io.Sleep(ClientBackoff(io.rng(), attempt));
    }
    // The id (for Fetch v13+) and the partition count, from Metadata.
    for (int attempt = 0;; attempt++) {
      protocol::MetadataRequest req;
      req.topics.emplace();
      protocol::MetadataRequest::MetadataRequestTopic t;
      t.name = kTopic;
      req.topics->push_back(std::move(t));
      req.allow_auto_topic_creation = false;
      auto reply = co_await conn.Call<protocol::MetadataResponse>(12, req, kRequestTimeout);
      if (reply.ok() && reply->body.topics.size() == 1 && reply->body.topics[0].error_code == 0) {
        const auto& t0 = reply->body.topics[0];
        if (static_cast<int32_t>(t0.partitions.size()) != partitions_ || t0.topic_id.IsZero()) {
          Fail(fmt::format("Metadata: {} partitions, id {}", t0.partitions.size(),
                           t0.topic_id.ToHex()));
          co_return;
        }
        topic_id_ = t0.topic_id;
        topic_ready_ = true;
        break;
      }
      co_await io.Sleep(ClientBackoff(io.rng(), attempt));
    }
    co_await conn.Close();
  }

  Task<void> WaitTopic(Io& io) {
    while (!topic_ready_) co_await io.Sleep(milliseconds(20));
  }

  // --- Producers -----------------------------------------------------------------------------

  Task<bool> InitProducerId(Io& io, KafkaConnection& conn, ProducerModel& p) {
    protocol::InitProducerIdRequest req;
    req.transactional_id = std::nullopt;
    req.transaction_timeout_ms = 60000;
    const int16_t version = static_cast<int16_t>(io.rng().Range(0, 4));
    auto reply =
        co_await conn.Call<protocol::InitProducerIdResponse>(version, req, kRequestTimeout);
    if (!reply.ok() || reply->body.error_code != 0) co_return false;
    if (reply->body.producer_id < 0) {
      Fail(fmt::format("InitProducerId gave producer id {}", reply->body.producer_id));
      co_return false;
    }
    p.producer_id = reply->body.producer_id;
    p.epoch = reply->body.producer_epoch;
    std::fill(p.next_sequence.begin(), p.next_sequence.end(), 0);
    co_return true;
  }

  PendingBatch MakeBatch(Io& io, ProducerModel& p) {
    PendingBatch b;
    b.partition = static_cast<int32_t>(io.rng().Uniform(partitions_));
    engine::BatchOptions options;
    options.codec = static_cast<engine::Codec>(io.rng().Uniform(engine::kCodecCount));
    b.zstd = options.codec == engine::Codec::kZstd;
    if (p.idempotent) {
      options.producer_id = engine::ProducerId(p.producer_id);
      options.producer_epoch = engine::ProducerEpoch(p.epoch);
      options.base_sequence = p.next_sequence[b.partition];
    }
    engine::BatchBuilder builder(options);
    const int count = static_cast<int>(io.rng().Range(1, 6));
    const int64_t ts = io.clock().Wall().unix_ms();
    for (int i = 0; i < count; i++) {
      const RecordId id{p.id, p.next_record++};
      const size_t size = static_cast<size_t>(
          io.rng().Range(KafkaLogChecker::kValueHeaderBytes, io.rng().Chance(0.1) ? 2000 : 200));
      const std::vector<std::byte> key = KafkaLogChecker::MakeKey(id);
      const std::vector<std::byte> value = KafkaLogChecker::MakeValue(id, b.partition, size);
      builder.Append(ts + i, engine::Bytes(key), engine::Bytes(value));
      checker_.Sending(id, b.partition, size);
      b.ids.push_back(id);
    }
    Result<std::vector<std::byte>> bytes = builder.Build();
    RUNNEL_ASSERT(bytes.ok(), "batch: {}", bytes.status().ToString());
    b.bytes = std::move(*bytes);
    return b;
  }

  Task<void> Producer(Io& io, size_t index) {
    co_await WaitTopic(io);
    ProducerModel& p = producers_[index];
    KafkaConnection conn(io, broker_address(), fmt::format("producer-{}", p.id));
    std::optional<PendingBatch> pending;
    int failures = 0;
    while (!failed_) {
      if (p.idempotent && p.producer_id < 0) {
        if (!co_await InitProducerId(io, conn, p)) {
          co_await io.Sleep(ClientBackoff(io.rng(), ++failures));
          continue;
        }
      }
      if (!pending.has_value()) {
        if (quiet() && p.batches_after_quiet >= kBatchesAfterQuiet) break;
        co_await io.Sleep(milliseconds(io.rng().Range(1, 120)));
        pending = MakeBatch(io, p);
      }
      if (pending->sends++ > 0) {
        p.retries++;
        // Without idempotence a resend after an unknown outcome may append the records twice.
        if (!p.idempotent) {
          for (const RecordId& id : pending->ids) checker_.MayDuplicate(id);
        }
      }
      protocol::ProduceRequest req;
      req.transactional_id = std::nullopt;
      req.acks = -1;
      req.timeout_ms = 5000;
      protocol::ProduceRequest::TopicProduceData td;
      td.name = kTopic;
      protocol::ProduceRequest::PartitionProduceData pd;
      pd.index = pending->partition;
      pd.records = protocol::RecordsView::Of(std::span(
          reinterpret_cast<const uint8_t*>(pending->bytes.data()), pending->bytes.size()));
      td.partition_data.push_back(std::move(pd));
      req.topic_data.push_back(std::move(td));
      // zstd needs Produce v7 or later (KIP-110).
      const int16_t version = static_cast<int16_t>(io.rng().Range(pending->zstd ? 7 : 3, 11));
      auto reply = co_await conn.Call<protocol::ProduceResponse>(version, req, kRequestTimeout);
      if (!reply.ok()) {
        co_await io.Sleep(ClientBackoff(io.rng(), ++failures));
        continue;
      }
      const auto& topics = reply->body.responses;
      if (topics.size() != 1 || topics[0].partition_responses.size() != 1 ||
          topics[0].partition_responses[0].index != pending->partition) {
        Fail("Produce: the response does not match the request");
        co_return;
      }
      const auto& pr = topics[0].partition_responses[0];
      if (pr.error_code != 0) {
        p.errors++;
        if (RetriableDataError(pr.error_code)) {
          co_await io.Sleep(ClientBackoff(io.rng(), ++failures));
          continue;
        }
        Fail(
            fmt::format("Produce v{} to partition {} ({} records, producer {} {}, {} send(s)): "
                        "error {} {}",
                        version, pending->partition, pending->ids.size(), p.id,
                        p.idempotent ? fmt::format("id {} epoch {} seq {}", p.producer_id, p.epoch,
                                                   p.next_sequence[pending->partition])
                                     : "not idempotent",
                        pending->sends, pr.error_code, pr.error_message.value_or("")));
        co_return;
      }
      for (size_t i = 0; i < pending->ids.size(); i++) {
        Check(checker_.Acked(pending->ids[i], pr.base_offset + static_cast<int64_t>(i)));
      }
      p.next_sequence[pending->partition] += static_cast<int32_t>(pending->ids.size());
      p.batches_acked++;
      if (quiet()) p.batches_after_quiet++;
      pending.reset();
      failures = 0;
    }
    co_await conn.Close();
    p.finished = true;
  }

  // --- Consumers -----------------------------------------------------------------------------

  // Every partition at its position; with `session`, as a (new or incremental) session fetch,
  // else sessionless (every fetch a full fetch).
  protocol::FetchRequest MakeFetch(Io& io, int16_t version, const std::vector<int64_t>& positions,
                                   const FetchSession* session) {
    protocol::FetchRequest req;
    req.max_wait_ms = static_cast<int32_t>(io.rng().Range(0, 200));
    req.min_bytes = 1;
    req.max_bytes = kFetchMaxBytes;
    req.session_id = session != nullptr ? session->id : 0;
    req.session_epoch = session == nullptr ? -1 : session->id == 0 ? 0 : session->epoch;
    protocol::FetchRequest::FetchTopic t;
    if (version >= 13) {
      t.topic_id = topic_id_;
    } else {
      t.topic = kTopic;
    }
    const int32_t partition_max = static_cast<int32_t>(io.rng().Range(512, 64 * 1024));
    for (int32_t p = 0; p < partitions_; p++) {
      protocol::FetchRequest::FetchPartition fp;
      fp.partition = p;
      fp.fetch_offset = positions[p];
      fp.partition_max_bytes = partition_max;
      t.partitions.push_back(std::move(fp));
    }
    req.topics.push_back(std::move(t));
    return req;
  }

  // Decodes one partition's records and feeds them to the checker; advances `position`.
  Status TakeRecords(int32_t partition, std::span<const uint8_t> bytes, int64_t* position) {
    engine::BatchSplitter splitter(std::as_bytes(bytes));
    std::vector<KafkaLogChecker::FetchedRecord> records;
    while (std::optional<engine::RecordBatchView> batch = splitter.Next()) {
      Result<engine::RecordIterator> it = reader_.Open(*batch);
      if (!it.ok()) {
        return Status::Corruption(
            fmt::format("partition {}: a fetched batch at {} does not "
                        "decompress: {}",
                        partition, batch->base_offset().value(), it.status().ToString()));
      }
      records.clear();
      engine::Record r;
      while (it->Next(r)) {
        records.push_back(KafkaLogChecker::FetchedRecord{r.offset.value(), r.key, r.value});
      }
      if (!it->status().ok()) {
        return Status::Corruption(fmt::format("partition {}: fetched batch at {}: {}", partition,
                                              batch->base_offset().value(),
                                              it->status().ToString()));
      }
      RUNNEL_TRY(checker_.Fetched(partition, *position, records));
      *position = std::max(*position, batch->next_offset().value());
    }
    if (!splitter.status().ok()) {
      return Status::Corruption(fmt::format("partition {}: a fetched batch is corrupt: {}",
                                            partition, splitter.status().ToString()));
    }
    return Status::Ok();
  }

  // One pass over every partition, from offset 0 to the high watermark. False when the
  // workload failed. `ends` receives the high watermarks at the end of the pass.
  Task<bool> ReadAll(Io& io, KafkaConnection& conn, int reader, std::vector<int64_t>* ends,
                     ConsumerModel* model) {
    const bool sessions = model != nullptr && model->sessions;
    FetchSession session;  // a new one per pass: its first fetch is full
    std::vector<int64_t> positions(partitions_, 0);
    std::vector<int64_t> hwm(partitions_, -1);
    int failures = 0;
    while (!failed_) {
      bool done = true;
      for (int32_t p = 0; p < partitions_; p++)
        done = done && hwm[p] >= 0 && positions[p] >= hwm[p];
      if (done) break;
      // Sessions exist from Fetch v7.
      const bool incremental = sessions && session.id != 0;
      int16_t version = static_cast<int16_t>(io.rng().Range(sessions ? 7 : 4, 17));
      // Switching between names and ids within a session is FETCH_SESSION_TOPIC_ID_ERROR.
      if (incremental && session.topic_ids != (version >= 13)) {
        version = static_cast<int16_t>(session.topic_ids ? io.rng().Range(13, 17)
                                                         : io.rng().Range(7, 12));
      }
      protocol::FetchRequest req = MakeFetch(io, version, positions, sessions ? &session : nullptr);
      checker_.FetchSent(reader);
      if (model != nullptr) model->fetches++;
      if (incremental) model->incremental++;
      const Duration timeout = kRequestTimeout + milliseconds(req.max_wait_ms);
      auto reply = co_await conn.Call<protocol::FetchResponse>(version, req, timeout);
      if (!reply.ok() || reply->body.error_code != 0) {
        // The session's state is unknown now (or the broker forgot it): start a new one.
        if (sessions && session.id != 0) {
          model->session_resets++;
          session = FetchSession{};
        }
        if (model != nullptr) model->errors++;
        co_await io.Sleep(ClientBackoff(io.rng(), ++failures));
        continue;
      }
      if (sessions) {
        if (session.id == 0) {
          session.id = reply->body.session_id;  // 0: the broker keeps none; full fetches go on
          session.epoch = 1;
          session.topic_ids = version >= 13;
        } else {
          session.epoch = session.epoch == INT32_MAX ? 1 : session.epoch + 1;
        }
      }
      // A full fetch answers every partition; an incremental one only those with news.
      const auto& topics = reply->body.responses;
      const size_t answered = topics.empty() ? 0 : topics[0].partitions.size();
      if (topics.size() > 1 ||
          (!incremental && (topics.size() != 1 || static_cast<int32_t>(answered) != partitions_))) {
        Fail(
            fmt::format("Fetch v{}: the response does not match the request ({} topics, {} "
                        "partitions, {})",
                        version, topics.size(), answered, incremental ? "incremental" : "full"));
        co_return false;
      }
      bool error = false;
      std::vector<bool> seen(partitions_, false);
      for (size_t i = 0; i < answered; i++) {
        const auto& pd = topics[0].partitions[i];
        const int32_t p = pd.partition_index;
        if (p < 0 || p >= partitions_ || seen[p]) {
          Fail(fmt::format("Fetch: partition {} in the response", p));
          co_return false;
        }
        seen[p] = true;
        // KIP-110: a fetch before v10 stops short of a zstd batch; the next one picks its
        // version again.
        if (pd.error_code == static_cast<int16_t>(ErrorCode::kUnsupportedCompressionType) &&
            version < 10) {
          continue;
        }
        if (pd.error_code != 0) {
          error = true;
          if (RetriableDataError(pd.error_code)) continue;
          Fail(
              fmt::format("Fetch v{} partition {} at offset {}: error {} (high watermark {}, log "
                          "start {}, positions [{}])",
                          version, p, positions[p], pd.error_code, pd.high_watermark,
                          pd.log_start_offset, fmt::join(positions, ",")));
          co_return false;
        }
        Status s = checker_.FetchedHighWatermark(reader, p, pd.high_watermark);
        if (s.ok() && !pd.records.is_null()) s = TakeRecords(p, pd.records.bytes(), &positions[p]);
        if (!s.ok()) {
          Check(s);
          co_return false;
        }
        hwm[p] = pd.high_watermark;
      }
      if (error) {
        if (model != nullptr) model->errors++;
        co_await io.Sleep(ClientBackoff(io.rng(), ++failures));
      } else {
        failures = 0;
      }
    }
    *ends = hwm;
    co_return !failed_;
  }

  Task<void> Consumer(Io& io, size_t index) {
    co_await WaitTopic(io);
    ConsumerModel& m = consumers_[index];
    KafkaConnection conn(io, broker_address(), fmt::format("consumer-{}", index + 1));
    while (!failed_) {
      bool producers_done = true;
      for (const ProducerModel& p : producers_) producers_done = producers_done && p.finished;
      std::vector<int64_t> ends;
      if (!co_await ReadAll(io, conn, m.reader, &ends, &m)) break;
      m.passes++;
      if (producers_done) {
        // Caught up: the pass began after the last acknowledgement and reached the end.
        bool covered = true;
        for (int32_t p = 0; p < partitions_; p++) {
          covered = covered && ends[p] >= checker_.acked_end(p);
        }
        if (covered) m.caught_up = true;
      }
      co_await io.Sleep(milliseconds(io.rng().Range(10, 300)));
    }
    co_await conn.Close();
  }

  // --- Final check ---------------------------------------------------------------------------

  Task<void> VerifyAll(Io& io, bool* verified) {
    KafkaConnection conn(io, broker_address(), "verifier");
    const int reader = checker_.AddReader();
    std::vector<int64_t> ends;
    if (!co_await ReadAll(io, conn, reader, &ends, nullptr)) co_return;
    for (int32_t p = 0; p < partitions_; p++) {
      Status s = checker_.CheckComplete(p, ends[p]);
      if (!s.ok()) {
        Check(s);
        co_return;
      }
    }
    co_await conn.Close();
    *verified = true;
  }

  Rng rng_;
  SimWorld* world_ = nullptr;
  KafkaLogChecker checker_;
  engine::RecordReader reader_{engine::LogLimits{}.decompressed_bytes_max};
  broker::BrokerConfig config_;
  NodeId broker_ = 0;
  NodeId client_ = 0;
  uint32_t shards_ = 0;
  int32_t partitions_ = 0;
  int64_t segment_bytes_ = 0;
  std::vector<ProducerModel> producers_;
  std::vector<ConsumerModel> consumers_;
  bool topic_ready_ = false;
  protocol::Uuid topic_id_;
  int64_t quiet_from_ns_ = -1;
  bool failed_ = false;
  uint64_t boots_ = 0;
  uint64_t failure_restarts_ = 0;
};

}  // namespace

std::unique_ptr<Workload> MakeBrokerWorkload(uint64_t seed) {
  return std::make_unique<BrokerWorkload>(seed);
}

}  // namespace runnel::sim
