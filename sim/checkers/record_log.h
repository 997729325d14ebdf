// The record log the io workload writes, and the checker of what a restart finds on disk.
//
// Record: magic u32 "RNL1" | payload length u32 | sequence u64 | checksum u64 | payload.
// The checksum (FNV-1a over sequence and payload) lets the checker tell detected corruption
// (bit rot, torn tails) from invented or misplaced data.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "io/status.h"

namespace runnel::sim {

inline constexpr uint32_t kRecordMagic = 0x314c4e52;  // "RNL1" little-endian
inline constexpr size_t kRecordHeaderBytes = 24;

uint64_t RecordChecksum(uint64_t seq, std::span<const std::byte> payload);
std::vector<std::byte> EncodeRecord(uint64_t seq, std::span<const std::byte> payload);

// What the workload knows about one log file, kept outside the node so it survives crashes.
// The writer only appends.
struct LogFileModel {
  std::vector<std::byte> written;  // every byte written, in order
  uint64_t synced_bytes = 0;       // the prefix a successful Sync made durable
  bool name_durable = false;       // a SyncDir of its directory succeeded after its creation
};

struct LogCheck {
  uint64_t valid_records = 0;
  bool corruption_detected = false;  // a checksum or framing error inside the synced prefix
};

// Checks a log file read back after a restart:
// - no synced byte is lost: the file is at least synced_bytes long;
// - the synced prefix is exactly what was written, unless `rot_possible` (bit rot on this disk),
//   in which case a difference must be caught by a record checksum;
// - every record with a valid checksum, synced or not, is byte for byte one that was written at
//   that position (nothing invented or misplaced).
Status CheckLogFile(const LogFileModel& model, std::span<const std::byte> content,
                    bool rot_possible, LogCheck* out);

}  // namespace runnel::sim
