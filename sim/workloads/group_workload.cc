#include "sim/workloads/group_workload.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <cstdlib>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "broker/node.h"
#include "broker/protocol/gen/consumer_protocol_assignment.h"
#include "broker/protocol/gen/consumer_protocol_subscription.h"
#include "broker/protocol/gen/create_topics_request.h"
#include "broker/protocol/gen/create_topics_response.h"
#include "broker/protocol/gen/error_codes.h"
#include "broker/protocol/gen/fetch_request.h"
#include "broker/protocol/gen/fetch_response.h"
#include "broker/protocol/gen/find_coordinator_request.h"
#include "broker/protocol/gen/find_coordinator_response.h"
#include "broker/protocol/gen/heartbeat_request.h"
#include "broker/protocol/gen/heartbeat_response.h"
#include "broker/protocol/gen/join_group_request.h"
#include "broker/protocol/gen/join_group_response.h"
#include "broker/protocol/gen/leave_group_request.h"
#include "broker/protocol/gen/leave_group_response.h"
#include "broker/protocol/gen/offset_commit_request.h"
#include "broker/protocol/gen/offset_commit_response.h"
#include "broker/protocol/gen/offset_fetch_request.h"
#include "broker/protocol/gen/offset_fetch_response.h"
#include "broker/protocol/gen/produce_request.h"
#include "broker/protocol/gen/produce_response.h"
#include "broker/protocol/gen/sync_group_request.h"
#include "broker/protocol/gen/sync_group_response.h"
#include "broker/server.h"
#include "engine/batch_builder.h"
#include "engine/record_batch.h"
#include "sim/checkers/group_checker.h"
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
constexpr const char* kTopic = "orders";
constexpr Duration kRequestTimeout = seconds(5);
constexpr int kBatchesAfterQuiet = 3;
constexpr int32_t kFetchMaxBytes = 64 * 1024;
// Members' own faults: one per group every 3-12 s while the fault period lasts; a crashed or
// departed member is away for at most kAwayMax.
constexpr int64_t kFaultEveryMinMs = 3000, kFaultEveryMaxMs = 12000;
constexpr int64_t kAwayMaxMs = 5000;
// Liveness: every member is Stable (synced in its group's latest generation and heartbeat in
// it) within this long after the quiet point. The worst case: a member away at the quiet point
// is back within kAwayMax (5 s); its join round waits for ids of crashed dynamic members until
// the largest rebalance timeout (12 s), after an empty group's initial delay (3 s). A JoinGroup
// v0-3 whose answer was lost leaves an orphan id that counts as joined (the reason for KIP-394)
// and so enters that generation; it expires after its session timeout (10 s), and the next round
// takes a heartbeat interval (3.4 s) for the members to hear of it, another for all to rejoin,
// and a third for the first heartbeat in the new generation: 5 + 3 + 12 + 10 + 3 * 3.4 = 40.2.
// Measured over seeds 1..2000 and swarm seeds 1001..4000: at most 22.9 s but for one orphan
// case (swarm seed 3822) in sim/README.md.
constexpr Duration kStableBound = seconds(42);
// After Stable: the last commits and the producer's last batches (a few seconds).
constexpr Duration kAfterStable = seconds(10);

int16_t Code(ErrorCode e) { return static_cast<int16_t>(e); }

// Group errors after which a member finds the coordinator again and retries.
bool CoordinatorError(int16_t code) {
  switch (static_cast<ErrorCode>(code)) {
    case ErrorCode::kCoordinatorNotAvailable:
    case ErrorCode::kNotCoordinator:
    case ErrorCode::kCoordinatorLoadInProgress:
      return true;
    default:
      return false;
  }
}

enum class Phase : uint8_t { kJoin, kSync, kStable };

struct GroupModel {
  std::string id;
  std::string assignor;  // "range" or "roundrobin"
  std::vector<size_t> members;
};

struct MemberModel {
  size_t group = 0;
  std::string client_id;
  std::optional<std::string> instance_id;  // static membership (KIP-345)
  int16_t join_version = 0;
  Duration session{0}, rebalance{0}, heartbeat_interval{0};

  // The current process ("incarnation") of the member.
  Phase phase = Phase::kJoin;
  bool away = false;  // crashed or left, not back yet
  bool find_coordinator = true;
  std::string member_id;
  bool static_takeover = false;  // joined with an instance id and no member id
  int32_t generation = -1;
  bool leader = false;
  std::vector<protocol::JoinGroupResponse::JoinGroupResponseMember> join_members;
  std::vector<int32_t> assigned;
  bool positions_loaded = false;
  std::vector<int64_t> positions;  // by partition
  int32_t synced_generation = -1;  // the generation of the last SyncGroup answer
  int32_t beat_generation = -1;    // a heartbeat succeeded in it after that answer
  int64_t next_heartbeat_ns = 0, next_commit_ns = 0, next_fault_ns = 0;
  int failures = 0;

  uint64_t joins = 0, syncs = 0, heartbeats = 0, commits = 0, commit_errors = 0, fetches = 0,
           records = 0, crashes = 0, pauses = 0, leaves = 0, resets = 0, fenced = 0, rejoins = 0,
           errors = 0;
};

class GroupWorkload final : public Workload {
 public:
  explicit GroupWorkload(uint64_t seed) : rng_(seed ^ 0x47524f5550574bULL), checker_(1) {}

  std::string_view name() const override { return "group"; }

  void AdjustFaults(FaultOptions& options) const override { OneCopyDiskFaults(options); }

  void Setup(SimWorld& world) override {
    world_ = &world;
    SetBrokerLogFromEnv();
    shards_ = static_cast<uint32_t>(2 + rng_.Uniform(2));
    partitions_ = static_cast<int32_t>(3 + rng_.Uniform(6));
    checker_ = GroupChecker(partitions_);
    acked_end_.assign(partitions_, 0);
    config_.listen = Address(SimWorld::AddressOf(1), kPort);
    config_.data_dir = "/data";
    config_.smp = shards_;
    config_.offsets_topic_num_partitions = static_cast<int32_t>(rng_.Range(2, 6));
    config_.group_initial_rebalance_delay_ms = rng_.Chance(0.3) ? 0 : rng_.Range(100, 3000);
    broker_ = world.AddNode(NodeOptions{
        .shards = shards_,
        .boot = [this](SimNode& n) { BootBroker(n); },
    });
    client_ = world.AddNode(NodeOptions{.shards = 1});
    const size_t groups = 1 + rng_.Uniform(2);
    for (size_t g = 0; g < groups; g++) {
      GroupModel gm;
      gm.id = fmt::format("group-{}", g + 1);
      gm.assignor = rng_.Chance(0.5) ? "range" : "roundrobin";
      const size_t count = 2 + rng_.Uniform(4);
      for (size_t i = 0; i < count; i++) {
        MemberModel m;
        m.group = g;
        m.client_id = fmt::format("g{}-m{}", g + 1, i + 1);
        if (rng_.Chance(0.3)) m.instance_id = "instance-" + m.client_id;
        m.join_version = static_cast<int16_t>(rng_.Range(m.instance_id ? 5 : 0, 9));
        m.session = milliseconds(rng_.Range(6000, 10000));
        m.rebalance = milliseconds(rng_.Range(8000, 12000));
        m.heartbeat_interval = m.session / 3;
        gm.members.push_back(members_.size());
        members_.push_back(std::move(m));
      }
      groups_.push_back(std::move(gm));
    }
    Io& io = world.node(client_).io(0);
    world.Spawn(client_, 0, CreateTopic(io));
    world.Spawn(client_, 0, Producer(io));
    for (size_t i = 0; i < members_.size(); i++) world.Spawn(client_, 0, Member(io, i));
  }

  Duration quiet_time_min() const override { return kStableBound + kAfterStable; }

  std::vector<NodeId> nodes() const override { return {broker_, client_}; }
  std::vector<NodeId> never_crashed() const override { return {client_}; }

  void SetQuietFrom(Duration t) override {
    quiet_from_ns_ = t.count();
    world_->After(t + kStableBound, [this] {
      if (!failed_ && !stopping_ && !AllStable()) {
        Fail(fmt::format("liveness: members not Stable {}s after the quiet point: {}",
                         kStableBound.count() / 1'000'000'000, StableReport()));
      }
    });
  }

  bool Done() const override {
    if (!quiet() || failed_) return false;
    const bool stable = AllStable();
    if (stable && stable_after_quiet_ns_ < 0) {
      stable_after_quiet_ns_ = world_->now_ns() - quiet_from_ns_;  // the liveness figure
    }
    if (!producer_done_ || !stable) return false;
    for (const GroupModel& g : groups_) {
      for (int32_t p = 0; p < partitions_; p++) {
        if (checker_.floor(g.id, p) < acked_end_[p]) return false;
      }
    }
    return true;
  }

  Status Finish(SimWorld& world) override {
    stopping_ = true;
    // One last power loss: every acknowledged commit must be read back after recovery.
    world.CrashNode(broker_);
    world.StartNode(broker_);
    bool verified = false;
    world.Spawn(client_, 0, VerifyAll(world.node(client_).io(0), &verified));
    const RunStop stop =
        world.RunUntil([&] { return verified; }, RunLimits{.time_max = world.now() + seconds(30)});
    if (world.failed()) return Status::Corruption(world.failure());
    if (stop != RunStop::kPredicate) {
      return Status::Timeout(
          fmt::format("the final read of committed offsets after a crash did not finish ({})",
                      RunStopName(stop)));
    }
    return Status::Ok();
  }

  std::string Summary() const override {
    MemberModel t;
    size_t statics = 0;
    for (const MemberModel& m : members_) {
      statics += m.instance_id ? 1 : 0;
      t.joins += m.joins;
      t.syncs += m.syncs;
      t.heartbeats += m.heartbeats;
      t.commits += m.commits;
      t.commit_errors += m.commit_errors;
      t.fetches += m.fetches;
      t.records += m.records;
      t.crashes += m.crashes;
      t.pauses += m.pauses;
      t.leaves += m.leaves;
      t.resets += m.resets;
      t.fenced += m.fenced;
      t.rejoins += m.rejoins;
      t.errors += m.errors;
    }
    std::vector<std::string> gens;
    for (const GroupModel& g : groups_) {
      int32_t gen = -1;
      for (size_t i : g.members) gen = std::max(gen, members_[i].synced_generation);
      gens.push_back(fmt::format("{}:{}:{}", g.id, g.assignor, gen));
    }
    const GroupChecker::Stats& s = checker_.stats();
    return fmt::format(
        "shards={} partitions={} offsets_partitions={} initial_delay_ms={} groups=[{}] "
        "members={} (static {})\n"
        "  joins={} syncs={} heartbeats={} rebalances_seen={} commits={} commit_errors={} "
        "fetches={} records_read={} member_crashes={} pauses={} leaves={} resets={} fenced={} "
        "errors={}\n"
        "  commits_sent={} commits_acked={} offset_reads={} assignments={} generations={} "
        "batches_acked={} partition_ends=[{}] broker_boots={} stable_after_quiet_ms={}",
        shards_, partitions_, config_.offsets_topic_num_partitions,
        config_.group_initial_rebalance_delay_ms, fmt::join(gens, ","), members_.size(), statics,
        t.joins, t.syncs, t.heartbeats, t.rejoins, t.commits, t.commit_errors, t.fetches, t.records,
        t.crashes, t.pauses, t.leaves, t.resets, t.fenced, t.errors, s.commits_sent,
        s.commits_acked, s.reads, s.assignments, s.generations, batches_acked_,
        fmt::join(acked_end_, ","), boots_,
        stable_after_quiet_ns_ < 0 ? -1 : stable_after_quiet_ns_ / 1'000'000);
  }

 private:
  bool quiet() const { return quiet_from_ns_ >= 0 && world_->now_ns() >= quiet_from_ns_; }
  Address broker_address() const { return Address(SimWorld::AddressOf(broker_), kPort); }
  const std::string& group_id(const MemberModel& m) const { return groups_[m.group].id; }
  static std::string Owner(const MemberModel& m) {
    return m.instance_id ? "instance " + *m.instance_id : "member " + m.member_id;
  }

  void Fail(const std::string& what) {
    if (failed_) return;
    failed_ = true;
    world_->Fail(fmt::format("group workload at {}ns: {}", world_->now_ns(), what));
  }
  bool Check(const Status& s) {
    if (!s.ok()) Fail(s.message());
    return s.ok();
  }

  // Every member of every group synced in its group's latest generation and heartbeat in it.
  bool AllStable() const {
    for (const GroupModel& g : groups_) {
      int32_t gen = -1;
      for (size_t i : g.members) gen = std::max(gen, members_[i].synced_generation);
      std::vector<bool> covered(partitions_, false);
      for (size_t i : g.members) {
        const MemberModel& m = members_[i];
        if (m.away || m.phase != Phase::kStable || !m.positions_loaded ||
            m.synced_generation != gen || m.beat_generation != gen) {
          return false;
        }
        for (int32_t p : m.assigned) covered[p] = true;
      }
      if (std::find(covered.begin(), covered.end(), false) != covered.end()) return false;
    }
    return true;
  }

  std::string StableReport() const {
    std::vector<std::string> out;
    for (const MemberModel& m : members_) {
      out.push_back(fmt::format("{}(id {}, {}{}, synced gen {}, heartbeat gen {}, [{}])",
                                m.client_id, m.member_id,
                                m.phase == Phase::kJoin   ? "joining"
                                : m.phase == Phase::kSync ? "syncing"
                                                          : "stable",
                                m.away ? ", away" : "", m.synced_generation, m.beat_generation,
                                fmt::join(m.assigned, ",")));
    }
    return fmt::format("{}", fmt::join(out, "; "));
  }

  void BootBroker(SimNode& n) {
    boots_++;
    BootSupervisedBroker(*world_, n, config_, {});
  }

  // --- Topic and producer --------------------------------------------------------------------

  Task<void> CreateTopic(Io& io) {
    KafkaConnection conn(io, broker_address(), "admin");
    for (int attempt = 0; !failed_; attempt++) {
      protocol::CreateTopicsRequest req;
      protocol::CreateTopicsRequest::CreatableTopic t;
      t.name = kTopic;
      t.num_partitions = partitions_;
      t.replication_factor = -1;
      req.topics.push_back(std::move(t));
      req.timeout_ms = 5000;
      auto reply = co_await conn.Call<protocol::CreateTopicsResponse>(7, req, kRequestTimeout);
      if (reply.ok() && reply->body.topics.size() == 1) {
        const int16_t code = reply->body.topics[0].error_code;
        if (code == 0 || code == Code(ErrorCode::kTopicAlreadyExists)) break;
        if (!RetriableDataError(code)) {
          Fail(fmt::format("CreateTopics: error {}", code));
          co_return;
        }
      }
      co_await io.Sleep(ClientBackoff(io.rng(), attempt));
    }
    topic_ready_ = true;
    co_await conn.Close();
  }

  Task<void> WaitTopic(Io& io) {
    while (!topic_ready_ && !failed_) co_await io.Sleep(milliseconds(20));
  }

  // acks=all batches of 1-5 records to random partitions every 10-150 ms; after the quiet point
  // kBatchesAfterQuiet more. A resend after an unknown outcome may append a batch twice, which
  // only moves the partition's end further than acked_end_.
  Task<void> Producer(Io& io) {
    co_await WaitTopic(io);
    KafkaConnection conn(io, broker_address(), "producer");
    std::optional<std::vector<std::byte>> batch;
    int32_t partition = 0;
    int failures = 0, after_quiet = 0;
    while (!failed_) {
      if (!batch.has_value()) {
        if (quiet() && after_quiet >= kBatchesAfterQuiet) break;
        co_await io.Sleep(milliseconds(io.rng().Range(10, 150)));
        partition = static_cast<int32_t>(io.rng().Uniform(partitions_));
        engine::BatchBuilder builder(engine::BatchOptions{});
        const int count = static_cast<int>(io.rng().Range(1, 5));
        const int64_t ts = io.clock().Wall().unix_ms();
        for (int i = 0; i < count; i++) {
          const std::string key = fmt::format("k{}", records_sent_);
          const std::string value =
              fmt::format("record {} of partition {}", records_sent_++, partition);
          builder.Append(ts + i, engine::Bytes(std::as_bytes(std::span(key))),
                         engine::Bytes(std::as_bytes(std::span(value))));
        }
        Result<std::vector<std::byte>> built = builder.Build();
        RUNNEL_ASSERT(built.ok(), "batch: {}", built.status().ToString());
        batch = std::move(*built);
      }
      protocol::ProduceRequest req;
      req.transactional_id = std::nullopt;
      req.acks = -1;
      req.timeout_ms = 5000;
      protocol::ProduceRequest::TopicProduceData td;
      td.name = kTopic;
      protocol::ProduceRequest::PartitionProduceData pd;
      pd.index = partition;
      pd.records = protocol::RecordsView::Of(
          std::span(reinterpret_cast<const uint8_t*>(batch->data()), batch->size()));
      td.partition_data.push_back(std::move(pd));
      req.topic_data.push_back(std::move(td));
      const int16_t version = static_cast<int16_t>(io.rng().Range(3, 11));
      auto reply = co_await conn.Call<protocol::ProduceResponse>(version, req, kRequestTimeout);
      if (!reply.ok()) {
        co_await io.Sleep(ClientBackoff(io.rng(), ++failures));
        continue;
      }
      const auto& topics = reply->body.responses;
      if (topics.size() != 1 || topics[0].partition_responses.size() != 1) {
        Fail("Produce: the response does not match the request");
        co_return;
      }
      const auto& pr = topics[0].partition_responses[0];
      if (pr.error_code != 0) {
        if (!RetriableDataError(pr.error_code)) {
          Fail(fmt::format("Produce v{} to partition {}: error {}", version, partition,
                           pr.error_code));
          co_return;
        }
        co_await io.Sleep(ClientBackoff(io.rng(), ++failures));
        continue;
      }
      engine::BatchSplitter splitter(*batch);
      std::optional<engine::RecordBatchView> view = splitter.Next();
      RUNNEL_ASSERT(view.has_value(), "the producer's own batch");
      const int64_t end = pr.base_offset + view->record_count();
      acked_end_[partition] = std::max(acked_end_[partition], end);
      checker_.HighWatermark(partition, end);
      batches_acked_++;
      if (quiet()) after_quiet++;
      batch.reset();
      failures = 0;
    }
    co_await conn.Close();
    producer_done_ = true;
  }

  // --- Members: the group protocol -----------------------------------------------------------

  // A new process of the member: no id (a static member keeps its instance id), no state.
  static void NewIncarnation(MemberModel& m) {
    m.phase = Phase::kJoin;
    m.find_coordinator = true;
    m.member_id.clear();
    m.generation = -1;
    m.leader = false;
    m.assigned.clear();
    m.positions_loaded = false;
    m.synced_generation = -1;
    m.beat_generation = -1;
    m.failures = 0;
  }

  // UNKNOWN_MEMBER_ID or FENCED_INSTANCE_ID (counted): the member's id is no longer valid.
  static bool LostMembership(MemberModel& m, int16_t code) {
    if (code == Code(ErrorCode::kFencedInstanceId)) m.fenced++;
    return code == Code(ErrorCode::kUnknownMemberId) || code == Code(ErrorCode::kFencedInstanceId);
  }

  // Back to JoinGroup (eager rebalance: the partitions are given up); `forget_id` after
  // UNKNOWN_MEMBER_ID or FENCED_INSTANCE_ID.
  static void Rejoin(MemberModel& m, bool forget_id) {
    m.phase = Phase::kJoin;
    m.rejoins++;
    if (forget_id) m.member_id.clear();
    m.assigned.clear();
    m.positions_loaded = false;
  }

  std::vector<uint8_t> Subscription() const {
    protocol::ConsumerProtocolSubscription s;
    s.topics.push_back(kTopic);
    protocol::Writer w;
    w.WriteInt16(0);
    Status encoded = s.Encode(0, w);
    RUNNEL_ASSERT(encoded.ok(), "subscription: {}", encoded.ToString());
    return w.Flatten();
  }

  static std::vector<uint8_t> EncodeAssignment(const std::vector<int32_t>& partitions) {
    protocol::ConsumerProtocolAssignment a;
    protocol::ConsumerProtocolAssignment::TopicPartition tp;
    tp.topic = kTopic;
    tp.partitions = partitions;
    a.assigned_partitions.push_back(std::move(tp));
    protocol::Writer w;
    w.WriteInt16(0);
    Status encoded = a.Encode(0, w);
    RUNNEL_ASSERT(encoded.ok(), "assignment: {}", encoded.ToString());
    return w.Flatten();
  }

  Result<std::vector<int32_t>> DecodeAssignment(const std::vector<uint8_t>& bytes) const {
    std::vector<int32_t> out;
    if (bytes.empty()) return out;  // a member the leader gave nothing
    protocol::Reader r(bytes);
    int16_t version = 0;
    RUNNEL_TRY(r.ReadInt16(&version));
    Result<protocol::ConsumerProtocolAssignment> a =
        protocol::ConsumerProtocolAssignment::Decode(std::min<int16_t>(version, 3), r);
    if (!a.ok()) return a.status();
    for (const auto& tp : a->assigned_partitions) {
      if (tp.topic != kTopic) return Status::Corruption("assignment names topic " + tp.topic);
      out.insert(out.end(), tp.partitions.begin(), tp.partitions.end());
    }
    return out;
  }

  // The leader's assignment: members sorted by id, partitions by range or round robin.
  std::map<std::string, std::vector<int32_t>> Assign(const GroupModel& g,
                                                     const MemberModel& leader) const {
    std::vector<std::string> ids;
    for (const auto& jm : leader.join_members) ids.push_back(jm.member_id);
    std::sort(ids.begin(), ids.end());
    std::map<std::string, std::vector<int32_t>> plan;
    for (const std::string& id : ids) plan[id];
    const int32_t n = static_cast<int32_t>(ids.size());
    if (n == 0) return plan;
    for (int32_t p = 0; p < partitions_; p++) {
      int32_t who = p % n;
      if (g.assignor == "range") {
        const int32_t per = partitions_ / n, extra = partitions_ % n;
        // The first `extra` members take per + 1 partitions each.
        who = p < extra * (per + 1) ? p / (per + 1) : extra + (p - extra * (per + 1)) / per;
      }
      plan[ids[who]].push_back(p);
    }
    return plan;
  }

  Task<void> FindCoordinator(Io& io, KafkaConnection& conn, MemberModel& m) {
    protocol::FindCoordinatorRequest req;
    const int16_t version = static_cast<int16_t>(io.rng().Range(0, 5));
    if (version >= 4) {
      req.coordinator_keys.push_back(group_id(m));
    } else {
      req.key = group_id(m);
    }
    auto reply =
        co_await conn.Call<protocol::FindCoordinatorResponse>(version, req, kRequestTimeout);
    if (!reply.ok()) {
      co_await io.Sleep(ClientBackoff(io.rng(), ++m.failures));
      co_return;
    }
    int16_t code = reply->body.error_code;
    std::string host = reply->body.host;
    int32_t port = reply->body.port;
    if (version >= 4) {
      if (reply->body.coordinators.size() != 1) {
        Fail(fmt::format("FindCoordinator v{}: {} answers for one key", version,
                         reply->body.coordinators.size()));
        co_return;
      }
      code = reply->body.coordinators[0].error_code;
      host = reply->body.coordinators[0].host;
      port = reply->body.coordinators[0].port;
    }
    if (code != 0) {
      if (!CoordinatorError(code)) Fail(fmt::format("FindCoordinator: error {}", code));
      co_await io.Sleep(ClientBackoff(io.rng(), ++m.failures));
      co_return;
    }
    if (host != broker_address().host || port != kPort) {
      Fail(fmt::format("FindCoordinator: the coordinator is {}:{}", host, port));
      co_return;
    }
    m.find_coordinator = false;
  }

  Task<void> Join(Io& io, KafkaConnection& conn, MemberModel& m) {
    protocol::JoinGroupRequest req;
    req.group_id = group_id(m);
    req.session_timeout_ms = static_cast<int32_t>(m.session.count() / 1'000'000);
    if (m.join_version >= 1) {
      req.rebalance_timeout_ms = static_cast<int32_t>(m.rebalance.count() / 1'000'000);
    }
    req.member_id = m.member_id;
    if (m.instance_id) req.group_instance_id = m.instance_id;
    req.protocol_type = "consumer";
    protocol::JoinGroupRequest::JoinGroupRequestProtocol proto;
    proto.name = groups_[m.group].assignor;
    proto.metadata = Subscription();
    req.protocols.push_back(std::move(proto));
    const bool takeover = m.instance_id.has_value() && m.member_id.empty();
    m.joins++;
    // The broker answers when the join round completes: up to the rebalance timeout (and an
    // empty group's initial delay) later.
    const Duration timeout = m.rebalance + seconds(5);
    auto reply = co_await conn.Call<protocol::JoinGroupResponse>(m.join_version, req, timeout);
    if (!reply.ok()) {
      co_await io.Sleep(ClientBackoff(io.rng(), ++m.failures));
      co_return;
    }
    const protocol::JoinGroupResponse& r = reply->body;
    const int16_t code = r.error_code;
    if (code == Code(ErrorCode::kMemberIdRequired)) {
      if (m.join_version < 4 || r.member_id.empty()) {
        Fail(fmt::format("JoinGroup v{}: MEMBER_ID_REQUIRED with id '{}'", m.join_version,
                         r.member_id));
      }
      m.member_id = r.member_id;
      co_return;
    }
    if (LostMembership(m, code)) {
      m.member_id.clear();
      co_await io.Sleep(ClientBackoff(io.rng(), ++m.failures));
      co_return;
    }
    if (CoordinatorError(code) || code == Code(ErrorCode::kRebalanceInProgress)) {
      m.find_coordinator = CoordinatorError(code);
      co_await io.Sleep(ClientBackoff(io.rng(), ++m.failures));
      co_return;
    }
    if (code != 0) {
      Fail(fmt::format("JoinGroup v{} by {}: error {}", m.join_version, m.client_id, code));
      co_return;
    }
    if (r.member_id.empty() || r.generation_id < 1 ||
        r.protocol_name.value_or("") != groups_[m.group].assignor) {
      Fail(fmt::format("JoinGroup v{}: member '{}' generation {} protocol '{}'", m.join_version,
                       r.member_id, r.generation_id, r.protocol_name.value_or("")));
      co_return;
    }
    m.member_id = r.member_id;
    m.generation = r.generation_id;
    m.leader = r.leader == r.member_id;
    m.static_takeover = takeover;
    m.join_members = r.members;
    if (m.leader) {
      bool self = false;
      for (const auto& jm : r.members) {
        self = self || jm.member_id == m.member_id;
        if (jm.metadata != Subscription()) {
          Fail(fmt::format("JoinGroup: member {}'s subscription came back altered", jm.member_id));
          co_return;
        }
      }
      if (!self) {
        Fail(fmt::format("JoinGroup: the leader {} is not among the members", m.member_id));
        co_return;
      }
    }
    m.phase = Phase::kSync;
    m.failures = 0;
  }

  // The member's identity in a SyncGroup or Heartbeat request.
  template <typename Request>
  void Identify(Request& req, const MemberModel& m) const {
    req.group_id = group_id(m);
    req.generation_id = m.generation;
    req.member_id = m.member_id;
    if (m.instance_id) req.group_instance_id = m.instance_id;
  }

  Task<void> Sync(Io& io, KafkaConnection& conn, MemberModel& m) {
    protocol::SyncGroupRequest req;
    Identify(req, m);
    const int16_t version = static_cast<int16_t>(io.rng().Range(m.instance_id ? 3 : 0, 5));
    if (version >= 5) {
      req.protocol_type = "consumer";
      req.protocol_name = groups_[m.group].assignor;
    }
    if (m.leader) {
      const std::map<std::string, std::vector<int32_t>> plan = Assign(groups_[m.group], m);
      // A static member taking over a Stable group's leader gets the member list of the current
      // generation, whose assignment is already stored: the coordinator keeps that one.
      if (!m.static_takeover) checker_.LeaderAssigned(group_id(m), m.generation, plan);
      for (const auto& [id, partitions] : plan) {
        protocol::SyncGroupRequest::SyncGroupRequestAssignment a;
        a.member_id = id;
        a.assignment = EncodeAssignment(partitions);
        req.assignments.push_back(std::move(a));
      }
    }
    m.syncs++;
    const Duration timeout = m.rebalance + seconds(5);
    auto reply = co_await conn.Call<protocol::SyncGroupResponse>(version, req, timeout);
    if (!reply.ok()) {
      // The answer is lost: join again (as the Java client does).
      Rejoin(m, false);
      co_await io.Sleep(ClientBackoff(io.rng(), ++m.failures));
      co_return;
    }
    const int16_t code = reply->body.error_code;
    if (code == Code(ErrorCode::kRebalanceInProgress) ||
        code == Code(ErrorCode::kIllegalGeneration) || CoordinatorError(code)) {
      m.find_coordinator = CoordinatorError(code);
      Rejoin(m, false);
      co_return;
    }
    if (LostMembership(m, code)) {
      Rejoin(m, true);
      co_return;
    }
    if (code != 0) {
      Fail(fmt::format("SyncGroup v{} by {}: error {}", version, m.client_id, code));
      co_return;
    }
    Result<std::vector<int32_t>> assigned = DecodeAssignment(reply->body.assignment);
    if (!assigned.ok()) {
      Fail(fmt::format("SyncGroup: the assignment does not decode: {}",
                       assigned.status().ToString()));
      co_return;
    }
    if (!Check(checker_.Assigned(group_id(m), m.generation, m.member_id, Owner(m), *assigned))) {
      co_return;
    }
    m.assigned = std::move(*assigned);
    m.synced_generation = m.generation;
    m.positions_loaded = false;
    m.phase = Phase::kStable;
    m.next_heartbeat_ns = world_->now_ns() + m.heartbeat_interval.count();
    m.next_commit_ns = world_->now_ns() + milliseconds(io.rng().Range(200, 1500)).count();
    m.failures = 0;
  }

  // OffsetFetch of every partition: the member's starting positions, and every committed offset
  // checked against the acknowledged ones.
  Task<void> LoadPositions(Io& io, KafkaConnection& conn, MemberModel& m) {
    const int16_t version = static_cast<int16_t>(io.rng().Range(1, 9));
    protocol::OffsetFetchRequest req;
    std::vector<int32_t> all;
    for (int32_t p = 0; p < partitions_; p++) all.push_back(p);
    if (version >= 8) {
      protocol::OffsetFetchRequest::OffsetFetchRequestGroup g;
      g.group_id = group_id(m);
      g.topics = std::nullopt;
      req.groups.push_back(std::move(g));
    } else {
      req.group_id = group_id(m);
      if (version >= 2 && io.rng().Chance(0.5)) {
        req.topics = std::nullopt;  // every committed offset
      } else {
        protocol::OffsetFetchRequest::OffsetFetchRequestTopic t;
        t.name = kTopic;
        t.partition_indexes = all;
        req.topics->push_back(std::move(t));
      }
    }
    const GroupChecker::ReadToken token = checker_.ReadStarting(group_id(m));
    auto reply = co_await conn.Call<protocol::OffsetFetchResponse>(version, req, kRequestTimeout);
    if (!reply.ok()) {
      co_await io.Sleep(ClientBackoff(io.rng(), ++m.failures));
      co_return;
    }
    std::optional<std::vector<int64_t>> committed =
        TakeOffsets(reply->body, version, m.client_id, token);
    if (!committed.has_value()) {
      if (!failed_) co_await io.Sleep(ClientBackoff(io.rng(), ++m.failures));
      co_return;
    }
    m.positions.assign(partitions_, 0);
    for (int32_t p : m.assigned) m.positions[p] = std::max<int64_t>((*committed)[p], 0);
    m.positions_loaded = true;
    m.failures = 0;
  }

  // The committed offsets of an OffsetFetch answer by partition (-1: none), each checked with
  // `token`; nullopt after an error (a retriable one, or a failure reported).
  std::optional<std::vector<int64_t>> TakeOffsets(const protocol::OffsetFetchResponse& resp,
                                                  int16_t version, const std::string& who,
                                                  const GroupChecker::ReadToken& token) {
    std::vector<int64_t> out(partitions_, -1);
    int16_t code = version >= 2 && version < 8 ? resp.error_code : 0;
    struct Entry {
      int32_t partition;
      int64_t offset;
      int16_t error;
    };
    std::vector<Entry> entries;
    if (version >= 8) {
      if (resp.groups.size() != 1 || resp.groups[0].group_id != token.group) {
        Fail(fmt::format("OffsetFetch v{}: {} groups in the answer", version, resp.groups.size()));
        return std::nullopt;
      }
      code = resp.groups[0].error_code;
      for (const auto& t : resp.groups[0].topics) {
        if (t.name != kTopic) continue;
        for (const auto& p : t.partitions) {
          entries.push_back({p.partition_index, p.committed_offset, p.error_code});
        }
      }
    } else {
      for (const auto& t : resp.topics) {
        if (t.name != kTopic) continue;
        for (const auto& p : t.partitions) {
          entries.push_back({p.partition_index, p.committed_offset, p.error_code});
        }
      }
    }
    if (code != 0) {
      if (!CoordinatorError(code)) Fail(fmt::format("OffsetFetch v{}: error {}", version, code));
      return std::nullopt;
    }
    std::vector<bool> seen(partitions_, false);
    for (const Entry& e : entries) {
      if (e.partition < 0 || e.partition >= partitions_ || seen[e.partition]) {
        Fail(fmt::format("OffsetFetch v{}: partition {} in the answer", version, e.partition));
        return std::nullopt;
      }
      seen[e.partition] = true;
      if (e.error != 0) {
        if (!CoordinatorError(e.error)) {
          Fail(
              fmt::format("OffsetFetch v{} partition {}: error {}", version, e.partition, e.error));
        }
        return std::nullopt;
      }
      if (!Check(checker_.ReadBack(token, e.partition, e.offset)
                     .WithContext(fmt::format("OffsetFetch v{} by {}", version, who)))) {
        return std::nullopt;
      }
      out[e.partition] = e.offset;
    }
    // Partitions a null topic list leaves out have no committed offset: check them as -1.
    for (int32_t p = 0; p < partitions_; p++) {
      if (seen[p]) continue;
      if (!Check(checker_.ReadBack(token, p, -1)
                     .WithContext(fmt::format("OffsetFetch v{} by {} (partition left out)", version,
                                              who)))) {
        return std::nullopt;
      }
    }
    return out;
  }

  // Heartbeat; errors send the member back to JoinGroup (after committing, for a rebalance).
  Task<void> Heartbeat(Io& io, KafkaConnection& conn, MemberModel& m) {
    protocol::HeartbeatRequest req;
    Identify(req, m);
    const int16_t version = static_cast<int16_t>(io.rng().Range(m.instance_id ? 3 : 0, 4));
    m.heartbeats++;
    auto reply = co_await conn.Call<protocol::HeartbeatResponse>(version, req, kRequestTimeout);
    if (!reply.ok()) {
      m.next_heartbeat_ns = world_->now_ns() + ClientBackoff(io.rng(), ++m.failures).count();
      co_return;
    }
    const int16_t code = reply->body.error_code;
    if (code == 0) {
      m.beat_generation = m.generation;
      m.next_heartbeat_ns = world_->now_ns() + m.heartbeat_interval.count();
      co_return;
    }
    if (code == Code(ErrorCode::kRebalanceInProgress)) {
      // Eager rebalance: commit what was consumed, give everything up, join again.
      co_await Commit(io, conn, m, std::nullopt);
      if (m.phase == Phase::kStable) Rejoin(m, false);
      co_return;
    }
    if (code == Code(ErrorCode::kIllegalGeneration)) {
      Rejoin(m, false);
      co_return;
    }
    if (LostMembership(m, code)) {
      Rejoin(m, true);
      co_return;
    }
    if (CoordinatorError(code)) {
      m.find_coordinator = true;
      m.next_heartbeat_ns = world_->now_ns() + ClientBackoff(io.rng(), ++m.failures).count();
      co_return;
    }
    Fail(fmt::format("Heartbeat v{} by {}: error {}", version, m.client_id, code));
  }

  // OffsetCommit of the member's positions, or of `reset` (partition, offset) alone.
  Task<void> Commit(Io& io, KafkaConnection& conn, MemberModel& m,
                    std::optional<std::pair<int32_t, int64_t>> reset) {
    if (!m.positions_loaded || (m.assigned.empty() && !reset)) {
      // Nothing to commit (a member given no partitions): try again later, not at once.
      m.next_commit_ns = world_->now_ns() + milliseconds(io.rng().Range(200, 1500)).count();
      co_return;
    }
    protocol::OffsetCommitRequest req;
    req.group_id = group_id(m);
    req.generation_id_or_member_epoch = m.generation;
    req.member_id = m.member_id;
    const int16_t version = static_cast<int16_t>(io.rng().Range(m.instance_id ? 7 : 2, 9));
    if (m.instance_id) req.group_instance_id = m.instance_id;
    protocol::OffsetCommitRequest::OffsetCommitRequestTopic t;
    t.name = kTopic;
    std::vector<std::pair<int32_t, int64_t>> sent;
    if (reset) {
      sent.push_back(*reset);
    } else {
      for (int32_t p : m.assigned) sent.emplace_back(p, m.positions[p]);
    }
    for (const auto& [p, offset] : sent) {
      protocol::OffsetCommitRequest::OffsetCommitRequestPartition part;
      part.partition_index = p;
      part.committed_offset = offset;
      part.committed_metadata = m.client_id;
      t.partitions.push_back(std::move(part));
      checker_.CommitSending(group_id(m), p, offset);
    }
    req.topics.push_back(std::move(t));
    m.commits++;
    auto reply = co_await conn.Call<protocol::OffsetCommitResponse>(version, req, kRequestTimeout);
    m.next_commit_ns = world_->now_ns() + milliseconds(io.rng().Range(200, 1500)).count();
    if (!reply.ok()) {
      m.commit_errors++;
      co_return;
    }
    const auto& topics = reply->body.topics;
    if (topics.size() != 1 || topics[0].partitions.size() != sent.size()) {
      Fail(fmt::format("OffsetCommit v{}: the answer does not match the request", version));
      co_return;
    }
    int16_t error = 0;
    for (size_t i = 0; i < sent.size(); i++) {
      const auto& pr = topics[0].partitions[i];
      if (pr.partition_index != sent[i].first) {
        Fail(fmt::format("OffsetCommit v{}: partition {} answered for {}", version,
                         pr.partition_index, sent[i].first));
        co_return;
      }
      if (pr.error_code == 0) {
        if (!Check(checker_.CommitAcked(group_id(m), sent[i].first, sent[i].second)
                       .WithContext(fmt::format("OffsetCommit v{} by {} generation {}", version,
                                                m.client_id, m.generation)))) {
          co_return;
        }
      } else {
        error = pr.error_code;
      }
    }
    if (error == 0) co_return;
    m.commit_errors++;
    if (error == Code(ErrorCode::kRebalanceInProgress) ||
        error == Code(ErrorCode::kIllegalGeneration)) {
      Rejoin(m, false);
    } else if (LostMembership(m, error)) {
      Rejoin(m, true);
    } else if (CoordinatorError(error) || error == Code(ErrorCode::kRequestTimedOut)) {
      m.find_coordinator = CoordinatorError(error);
    } else {
      Fail(fmt::format("OffsetCommit v{} by {}: error {}", version, m.client_id, error));
    }
  }

  // Fetch of the member's partitions from its positions; the positions move past what came.
  Task<void> FetchRecords(Io& io, KafkaConnection& conn, MemberModel& m) {
    protocol::FetchRequest req;
    req.max_wait_ms = static_cast<int32_t>(io.rng().Range(0, 100));
    req.min_bytes = 1;
    req.max_bytes = kFetchMaxBytes;
    protocol::FetchRequest::FetchTopic t;
    t.topic = kTopic;
    const int32_t partition_max = static_cast<int32_t>(io.rng().Range(256, 16 * 1024));
    for (int32_t p : m.assigned) {
      protocol::FetchRequest::FetchPartition fp;
      fp.partition = p;
      fp.fetch_offset = m.positions[p];
      fp.partition_max_bytes = partition_max;
      t.partitions.push_back(std::move(fp));
    }
    req.topics.push_back(std::move(t));
    const int16_t version = static_cast<int16_t>(io.rng().Range(4, 12));
    m.fetches++;
    const Duration timeout = kRequestTimeout + milliseconds(req.max_wait_ms);
    auto reply = co_await conn.Call<protocol::FetchResponse>(version, req, timeout);
    if (!reply.ok() || reply->body.error_code != 0) {
      m.errors++;
      co_await io.Sleep(ClientBackoff(io.rng(), ++m.failures));
      co_return;
    }
    for (const auto& td : reply->body.responses) {
      for (const auto& pd : td.partitions) {
        const int32_t p = pd.partition_index;
        if (td.topic != kTopic ||
            std::find(m.assigned.begin(), m.assigned.end(), p) == m.assigned.end()) {
          Fail(fmt::format("Fetch: {} partition {} was not asked for", td.topic, p));
          co_return;
        }
        if (pd.error_code != 0) {
          if (RetriableDataError(pd.error_code)) continue;
          Fail(fmt::format("Fetch v{} partition {} at {}: error {} (high watermark {})", version, p,
                           m.positions[p], pd.error_code, pd.high_watermark));
          co_return;
        }
        checker_.HighWatermark(p, pd.high_watermark);
        if (pd.records.is_null()) continue;
        engine::BatchSplitter splitter(std::as_bytes(pd.records.bytes()));
        while (std::optional<engine::RecordBatchView> batch = splitter.Next()) {
          const int64_t next = batch->next_offset().value();
          if (next > pd.high_watermark) {
            Fail(fmt::format("Fetch partition {}: a batch ends at {}, past the high watermark {}",
                             p, next, pd.high_watermark));
            co_return;
          }
          if (next > m.positions[p]) {
            m.records += static_cast<uint64_t>(
                next - std::max(m.positions[p], batch->base_offset().value()));
            m.positions[p] = next;
          }
        }
      }
    }
    m.failures = 0;
  }

  // --- Members: faults and the main loop -----------------------------------------------------

  // A group sees one member fault every 3-12 s: each member draws its own interval scaled by
  // the group's size.
  Duration NextFault(Io& io, const MemberModel& m) const {
    const int64_t size = static_cast<int64_t>(groups_[m.group].members.size());
    return milliseconds(io.rng().Range(kFaultEveryMinMs, kFaultEveryMaxMs) * size);
  }

  Task<void> MemberFault(Io& io, std::unique_ptr<KafkaConnection>& conn, MemberModel& m) {
    m.next_fault_ns = world_->now_ns() + NextFault(io, m).count();
    const uint64_t kind = io.rng().Uniform(100);
    if (kind < 35) {
      // Crash: the process dies without a word; a new one starts later.
      m.crashes++;
      world_->TraceNote(fmt::format("member {} crashes", m.client_id));
      co_await conn->Close();
      m.away = true;
      co_await io.Sleep(milliseconds(io.rng().Range(200, kAwayMaxMs)));
      conn = std::make_unique<KafkaConnection>(io, broker_address(), m.client_id);
      NewIncarnation(m);
      m.away = false;
    } else if (kind < 60) {
      // Pause (a long GC, a stopped VM) past the session timeout, then carry on as if nothing
      // happened: the next commit and heartbeat tell whether the member was fenced.
      m.pauses++;
      world_->TraceNote(fmt::format("member {} pauses", m.client_id));
      co_await io.Sleep(m.session + milliseconds(io.rng().Range(200, 3000)));
      m.next_commit_ns = world_->now_ns();
    } else if (kind < 80) {
      // Leave: commit, LeaveGroup, go away for a while, come back as a new process.
      m.leaves++;
      world_->TraceNote(fmt::format("member {} leaves", m.client_id));
      if (m.phase == Phase::kStable) co_await Commit(io, *conn, m, std::nullopt);
      if (!m.member_id.empty()) co_await Leave(io, *conn, m);
      co_await conn->Close();
      m.away = true;
      co_await io.Sleep(milliseconds(io.rng().Range(200, kAwayMaxMs)));
      conn = std::make_unique<KafkaConnection>(io, broker_address(), m.client_id);
      NewIncarnation(m);
      m.away = false;
    } else if (m.phase == Phase::kStable && m.positions_loaded) {
      // Reset: seek one partition back and commit that on purpose.
      std::vector<int32_t> movable;
      for (int32_t p : m.assigned) {
        if (m.positions[p] > 0) movable.push_back(p);
      }
      if (movable.empty()) co_return;
      const int32_t p = movable[io.rng().Uniform(movable.size())];
      const int64_t offset = io.rng().Range(0, m.positions[p] - 1);
      m.resets++;
      world_->TraceNote(fmt::format("member {} resets partition {} to {}", m.client_id, p, offset));
      checker_.Resetting(group_id(m), p, offset);
      m.positions[p] = offset;
      const std::optional<std::pair<int32_t, int64_t>> reset = std::make_pair(p, offset);
      co_await Commit(io, *conn, m, reset);
    }
  }

  Task<void> Leave(Io& io, KafkaConnection& conn, MemberModel& m) {
    protocol::LeaveGroupRequest req;
    req.group_id = group_id(m);
    const int16_t version = static_cast<int16_t>(io.rng().Range(m.instance_id ? 3 : 0, 5));
    if (version >= 3) {
      protocol::LeaveGroupRequest::MemberIdentity who;
      who.member_id = m.member_id;
      who.group_instance_id = m.instance_id;
      req.members.push_back(std::move(who));
    } else {
      req.member_id = m.member_id;
    }
    auto reply = co_await conn.Call<protocol::LeaveGroupResponse>(version, req, kRequestTimeout);
    if (!reply.ok()) co_return;  // the session timeout will do it
    const int16_t code = reply->body.error_code;
    if (code != 0 && code != Code(ErrorCode::kUnknownMemberId) && !CoordinatorError(code) &&
        code != Code(ErrorCode::kFencedInstanceId)) {
      Fail(fmt::format("LeaveGroup v{} by {}: error {}", version, m.client_id, code));
    }
  }

  Task<void> Member(Io& io, size_t index) {
    co_await WaitTopic(io);
    MemberModel& m = members_[index];
    auto conn = std::make_unique<KafkaConnection>(io, broker_address(), m.client_id);
    m.next_fault_ns = world_->now_ns() + NextFault(io, m).count();
    while (!failed_ && !stopping_) {
      if (!quiet() && world_->now_ns() >= m.next_fault_ns) {
        co_await MemberFault(io, conn, m);
        continue;
      }
      if (m.find_coordinator) {
        co_await FindCoordinator(io, *conn, m);
        continue;
      }
      switch (m.phase) {
        case Phase::kJoin:
          co_await Join(io, *conn, m);
          continue;
        case Phase::kSync:
          co_await Sync(io, *conn, m);
          continue;
        case Phase::kStable:
          break;
      }
      if (!m.positions_loaded) {
        co_await LoadPositions(io, *conn, m);
        continue;
      }
      if (world_->now_ns() >= m.next_heartbeat_ns) {
        co_await Heartbeat(io, *conn, m);
        continue;
      }
      if (world_->now_ns() >= m.next_commit_ns) {
        co_await Commit(io, *conn, m, std::nullopt);
        continue;
      }
      if (!m.assigned.empty()) co_await FetchRecords(io, *conn, m);
      co_await io.Sleep(milliseconds(io.rng().Range(10, 100)));
    }
    co_await conn->Close();
  }

  // --- Final check ---------------------------------------------------------------------------

  // After the last power loss: every group's committed offsets read back (none went back from
  // what was acknowledged: commits are durable) and none above the recovered high watermark.
  Task<void> VerifyAll(Io& io, bool* verified) {
    KafkaConnection conn(io, broker_address(), "verifier");
    std::vector<int64_t> ends(partitions_, -1);
    for (int attempt = 0; !failed_;) {
      bool all = true;
      protocol::FetchRequest req;
      req.max_wait_ms = 0;
      req.min_bytes = 1;
      req.max_bytes = kFetchMaxBytes;
      protocol::FetchRequest::FetchTopic t;
      t.topic = kTopic;
      for (int32_t p = 0; p < partitions_; p++) {
        protocol::FetchRequest::FetchPartition fp;
        fp.partition = p;
        fp.fetch_offset = 0;
        fp.partition_max_bytes = 1;
        t.partitions.push_back(std::move(fp));
      }
      req.topics.push_back(std::move(t));
      auto reply = co_await conn.Call<protocol::FetchResponse>(4, req, kRequestTimeout);
      if (reply.ok() && reply->body.responses.size() == 1) {
        for (const auto& pd : reply->body.responses[0].partitions) {
          if (pd.error_code == 0 && pd.partition_index >= 0 && pd.partition_index < partitions_) {
            ends[pd.partition_index] = pd.high_watermark;
          }
        }
      }
      for (int64_t e : ends) all = all && e >= 0;
      if (all) break;
      co_await io.Sleep(ClientBackoff(io.rng(), ++attempt));
    }
    for (const GroupModel& g : groups_) {
      for (int attempt = 0; !failed_;) {
        protocol::OffsetFetchRequest req;
        req.group_id = g.id;
        req.topics = std::nullopt;
        const GroupChecker::ReadToken token = checker_.ReadStarting(g.id);
        auto reply = co_await conn.Call<protocol::OffsetFetchResponse>(7, req, kRequestTimeout);
        std::optional<std::vector<int64_t>> committed;
        if (reply.ok()) committed = TakeOffsets(reply->body, 7, "the verifier", token);
        if (failed_) co_return;
        if (committed.has_value()) {
          for (int32_t p = 0; p < partitions_; p++) {
            if ((*committed)[p] > ends[p]) {
              Fail(
                  fmt::format("after the final crash group {} partition {} has committed "
                              "offset {} above the high watermark {}",
                              g.id, p, (*committed)[p], ends[p]));
              co_return;
            }
          }
          break;
        }
        co_await io.Sleep(ClientBackoff(io.rng(), ++attempt));
      }
    }
    co_await conn.Close();
    *verified = !failed_;
  }

  Rng rng_;
  SimWorld* world_ = nullptr;
  GroupChecker checker_;
  broker::BrokerConfig config_;
  NodeId broker_ = 0;
  NodeId client_ = 0;
  uint32_t shards_ = 0;
  int32_t partitions_ = 0;
  std::vector<GroupModel> groups_;
  std::vector<MemberModel> members_;
  std::vector<int64_t> acked_end_;  // by partition: the end of every acknowledged batch
  bool topic_ready_ = false;
  bool producer_done_ = false;
  uint64_t records_sent_ = 0;
  uint64_t batches_acked_ = 0;
  int64_t quiet_from_ns_ = -1;
  // When every member was first Stable after the quiet point (set by Done, a const check).
  mutable int64_t stable_after_quiet_ns_ = -1;
  bool failed_ = false;
  bool stopping_ = false;
  uint64_t boots_ = 0;
};

}  // namespace

std::unique_ptr<Workload> MakeGroupWorkload(uint64_t seed) {
  return std::make_unique<GroupWorkload>(seed);
}

}  // namespace runnel::sim
