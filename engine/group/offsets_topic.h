// The internal topic __consumer_offsets: which partition coordinates a group, and the records
// kept there, in Kafka's own formats so Kafka tools can read the topic.
//
//   key   int16 type + fields            value  int16 version + fields (null: tombstone)
//   type 1  OffsetCommitKey (group, topic, partition)   OffsetCommitValue v3 (offset,
//           leaderEpoch, metadata, commitTimestamp); v0-v2 are read too
//   type 2  GroupMetadataKey (group)                    GroupMetadataValue v3 (protocolType,
//           generation, protocol, leader, currentStateTimestamp, members); v0-v2 are read too
//
// Strings are int16-length (nullable: -1), bytes int32-length, integers big-endian.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "engine/group/group_store.h"
#include "engine/group/group_types.h"
#include "io/status.h"

namespace runnel::engine::group {

inline constexpr std::string_view kOffsetsTopic = "__consumer_offsets";
inline constexpr int32_t kOffsetsTopicPartitionsDefault = 50;

// Java's String.hashCode over the UTF-16 code units of `s` (UTF-8 decoded; a malformed byte
// counts as U+FFFD, as Java's decoder makes it).
int32_t JavaStringHash(std::string_view s);
// The __consumer_offsets partition coordinating `group_id`: abs(hashCode) % partitions, with
// Kafka's abs (Integer.MIN_VALUE maps to 0), so every tool agrees on the coordinator.
int32_t OffsetsPartitionFor(std::string_view group_id, int32_t partitions);

std::vector<uint8_t> EncodeOffsetKey(std::string_view group_id, const TopicPartition& tp);
std::vector<uint8_t> EncodeOffsetValue(const CommittedOffset& offset);
std::vector<uint8_t> EncodeGroupKey(std::string_view group_id);
std::vector<uint8_t> EncodeGroupValue(const GroupRecord& record);

// One decoded record of the topic.
struct OffsetsRecord {
  enum class Kind { kOffset, kGroup };
  Kind kind = Kind::kOffset;
  std::string group_id;
  TopicPartition tp;                      // kOffset
  std::optional<CommittedOffset> offset;  // kOffset; nullopt is a tombstone
  std::optional<GroupRecord> group;       // kGroup; nullopt is a tombstone
};

// Decodes a record's key and value (nullopt value: a tombstone). Unknown key types and
// versions, and truncated or overlong fields, are kCorruption.
Result<OffsetsRecord> DecodeOffsetsRecord(const std::vector<uint8_t>& key,
                                          const std::optional<std::vector<uint8_t>>& value);

}  // namespace runnel::engine::group
