// GroupChecker: the model the group workload (sim/workloads/group_workload.cc) checks consumer
// groups against. It knows every offset a member sent in an OffsetCommit, every commit the
// coordinator acknowledged, every reset the workload made on purpose, the highest high watermark
// any fetch saw per partition, and every assignment a SyncGroup answer handed out, and reports a
// violation as soon as it sees one:
//
// (a) committed offsets never go back: an offset read back with OffsetFetch is at least every
//     commit of that (group, partition) acknowledged before the read was sent, unless the
//     workload reset the offset in between (a deliberate commit of a lower offset, which lowers
//     the floor to it); whatever crashed in between (acknowledged commits are durable). A value
//     read back is one that some member sent (nothing invented), or -1 when nothing was ever
//     acknowledged;
// (b) committed offsets never exceed the partition's high watermark: neither an acknowledged
//     commit nor a value read back is above the highest high watermark seen for the partition
//     (members commit only positions they fetched, so anything above it came from elsewhere);
// (c) in one generation of a group at most one owner is assigned a given partition, over all
//     SyncGroup answers. The owner is the member's group.instance.id when it is static (a static
//     member restarting takes over its old assignment under a new member id in the same
//     generation, and the old id is fenced), else its member id. An answer also equals what the
//     generation's leader assigned to that member id, when the workload saw the leader send it.
//
// Plain data, no I/O: fed by the workload and unit-tested with bad histories
// (tests/sim/group_checker_test.cc).
#pragma once

#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "io/status.h"

namespace runnel::sim {

class GroupChecker {
 public:
  explicit GroupChecker(int32_t partitions);

  // (b)'s bound: a high watermark a fetch returned for `partition` (the checker keeps the max).
  void HighWatermark(int32_t partition, int64_t high_watermark);
  int64_t high_watermark(int32_t partition) const { return high_watermarks_.at(partition); }

  // (a) A member is about to send a commit of `offset`.
  void CommitSending(const std::string& group, int32_t partition, int64_t offset);
  // The workload is about to commit `offset`, lower than what may be committed, on purpose
  // (a consumer seeking back): the floor drops to `offset`. Call before CommitSending.
  void Resetting(const std::string& group, int32_t partition, int64_t offset);
  // The coordinator acknowledged a commit of `offset` (error 0 for that partition).
  Status CommitAcked(const std::string& group, int32_t partition, int64_t offset);

  // What an OffsetFetch must return at least, captured when it is sent.
  struct ReadToken {
    std::string group;
    std::vector<int64_t> floors;   // by partition; -1: nothing acknowledged yet
    std::vector<uint64_t> resets;  // by partition: resets made so far
  };
  ReadToken ReadStarting(const std::string& group) const;
  // The OffsetFetch sent with `token` answered `offset` (-1: no committed offset).
  Status ReadBack(const ReadToken& token, int32_t partition, int64_t offset);

  // (c) The generation's leader sent this assignment (member id -> partitions).
  void LeaderAssigned(const std::string& group, int32_t generation,
                      const std::map<std::string, std::vector<int32_t>>& assignment);
  // A SyncGroup answer gave `member_id` (owner `owner`) these partitions in `generation`.
  Status Assigned(const std::string& group, int32_t generation, const std::string& member_id,
                  const std::string& owner, const std::vector<int32_t>& partitions);

  // The highest acknowledged commit since the last reset (-1: none).
  int64_t floor(const std::string& group, int32_t partition) const;

  struct Stats {
    uint64_t commits_sent = 0;
    uint64_t commits_acked = 0;
    uint64_t resets = 0;
    uint64_t reads = 0;
    uint64_t assignments = 0;
    uint64_t generations = 0;  // (group, generation) pairs with an assignment answer
  };
  const Stats& stats() const { return stats_; }

 private:
  struct PartitionState {
    int64_t floor = -1;
    uint64_t resets = 0;
    std::set<int64_t> sent;
  };
  struct GenerationState {
    std::map<int32_t, std::string> owners;  // partition -> owner
    // member id -> the partitions the leader gave it (every distinct plan the leader sent)
    std::vector<std::map<std::string, std::vector<int32_t>>> plans;
  };

  PartitionState& State(const std::string& group, int32_t partition);
  const PartitionState* Find(const std::string& group, int32_t partition) const;
  Status CheckPartition(int32_t partition) const;

  int32_t partitions_;
  std::vector<int64_t> high_watermarks_;
  std::map<std::pair<std::string, int32_t>, PartitionState> offsets_;
  std::map<std::pair<std::string, int32_t>, GenerationState> generations_;
  Stats stats_;
};

}  // namespace runnel::sim
