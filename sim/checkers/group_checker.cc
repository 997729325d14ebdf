#include "sim/checkers/group_checker.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>

#include "io/assert.h"

namespace runnel::sim {

GroupChecker::GroupChecker(int32_t partitions)
    : partitions_(partitions), high_watermarks_(partitions, 0) {}

Status GroupChecker::CheckPartition(int32_t partition) const {
  if (partition < 0 || partition >= partitions_) {
    return Status::Corruption(
        fmt::format("partition {} does not exist (the topic has {})", partition, partitions_));
  }
  return Status::Ok();
}

GroupChecker::PartitionState& GroupChecker::State(const std::string& group, int32_t partition) {
  RUNNEL_ASSERT(partition >= 0 && partition < partitions_, "partition {}", partition);
  return offsets_[{group, partition}];
}

const GroupChecker::PartitionState* GroupChecker::Find(const std::string& group,
                                                       int32_t partition) const {
  auto it = offsets_.find({group, partition});
  return it == offsets_.end() ? nullptr : &it->second;
}

void GroupChecker::HighWatermark(int32_t partition, int64_t high_watermark) {
  RUNNEL_ASSERT(partition >= 0 && partition < partitions_, "partition {}", partition);
  high_watermarks_[partition] = std::max(high_watermarks_[partition], high_watermark);
}

void GroupChecker::CommitSending(const std::string& group, int32_t partition, int64_t offset) {
  State(group, partition).sent.insert(offset);
  stats_.commits_sent++;
}

void GroupChecker::Resetting(const std::string& group, int32_t partition, int64_t offset) {
  PartitionState& s = State(group, partition);
  s.floor = std::min(s.floor, offset);
  s.resets++;
  stats_.resets++;
}

Status GroupChecker::CommitAcked(const std::string& group, int32_t partition, int64_t offset) {
  RUNNEL_TRY(CheckPartition(partition));
  PartitionState& s = State(group, partition);
  if (!s.sent.contains(offset)) {
    return Status::Corruption(
        fmt::format("group {} partition {}: a commit of {} was acknowledged but never sent", group,
                    partition, offset));
  }
  if (offset > high_watermarks_[partition]) {
    return Status::Corruption(
        fmt::format("group {} partition {}: acknowledged commit {} is above the high watermark "
                    "{} (committed offsets never exceed the high watermark)",
                    group, partition, offset, high_watermarks_[partition]));
  }
  s.floor = std::max(s.floor, offset);
  stats_.commits_acked++;
  return Status::Ok();
}

int64_t GroupChecker::floor(const std::string& group, int32_t partition) const {
  const PartitionState* s = Find(group, partition);
  return s == nullptr ? -1 : s->floor;
}

GroupChecker::ReadToken GroupChecker::ReadStarting(const std::string& group) const {
  ReadToken t;
  t.group = group;
  for (int32_t p = 0; p < partitions_; p++) {
    const PartitionState* s = Find(group, p);
    t.floors.push_back(s == nullptr ? -1 : s->floor);
    t.resets.push_back(s == nullptr ? 0 : s->resets);
  }
  return t;
}

Status GroupChecker::ReadBack(const ReadToken& token, int32_t partition, int64_t offset) {
  RUNNEL_TRY(CheckPartition(partition));
  stats_.reads++;
  const PartitionState* s = Find(token.group, partition);
  const uint64_t resets = s == nullptr ? 0 : s->resets;
  const int64_t floor = token.floors[partition];
  // A reset sent after the read started may already be applied: the floor is unknown then.
  if (resets == token.resets[partition] && offset < floor) {
    return Status::Corruption(fmt::format(
        "group {} partition {}: OffsetFetch returned {} but {} was acknowledged before it was "
        "sent (a committed offset went back{})",
        token.group, partition, offset, floor, resets > 0 ? "; resets before the read" : ""));
  }
  if (offset == -1) return Status::Ok();
  if (s == nullptr || !s->sent.contains(offset)) {
    return Status::Corruption(
        fmt::format("group {} partition {}: OffsetFetch returned {}, an offset no member "
                    "committed",
                    token.group, partition, offset));
  }
  if (offset > high_watermarks_[partition]) {
    return Status::Corruption(
        fmt::format("group {} partition {}: committed offset {} is above the high watermark {}",
                    token.group, partition, offset, high_watermarks_[partition]));
  }
  return Status::Ok();
}

void GroupChecker::LeaderAssigned(const std::string& group, int32_t generation,
                                  const std::map<std::string, std::vector<int32_t>>& assignment) {
  GenerationState& g = generations_[{group, generation}];
  if (std::find(g.plans.begin(), g.plans.end(), assignment) == g.plans.end()) {
    g.plans.push_back(assignment);
  }
}

Status GroupChecker::Assigned(const std::string& group, int32_t generation,
                              const std::string& member_id, const std::string& owner,
                              const std::vector<int32_t>& partitions) {
  GenerationState& g = generations_[{group, generation}];
  if (g.owners.empty()) stats_.generations++;
  stats_.assignments++;
  for (int32_t p : partitions) {
    RUNNEL_TRY(CheckPartition(p));
    auto [it, inserted] = g.owners.emplace(p, owner);
    if (!inserted && it->second != owner) {
      return Status::Corruption(
          fmt::format("group {} generation {}: partition {} is assigned to both {} and {} "
                      "(at most one member owns a partition in a generation)",
                      group, generation, p, it->second, owner));
    }
  }
  bool planned = false, matches = false;
  for (const auto& plan : g.plans) {
    auto it = plan.find(member_id);
    if (it == plan.end()) continue;
    planned = true;
    std::vector<int32_t> a = it->second, b = partitions;
    std::sort(a.begin(), a.end());
    std::sort(b.begin(), b.end());
    matches = matches || a == b;
  }
  if (planned && !matches) {
    return Status::Corruption(
        fmt::format("group {} generation {}: member {} was given partitions [{}], not what the "
                    "leader assigned to it",
                    group, generation, member_id, fmt::join(partitions, ",")));
  }
  return Status::Ok();
}

}  // namespace runnel::sim
