// The input format of log_recovery_fuzz: arbitrary bytes as a partition directory.
//
// An input is a sequence of files, each [selector u8][length u16 little-endian][length bytes]
// (the last file takes what is left when the input ends early). The selector says:
//   bits 0-2  what the file is: kLog, kIndex, kTimeIndex, kSnapshot, kMeta, kSwap (.log.swap),
//             kCleaned (.log.cleaned), kMetaTmp (partition.meta.tmp)
//   bits 3-5  the segment's base offset, from kBases
//   bit 6     fix up checksums so mutations reach past them: every batch CRC of a .log or
//             .log.swap (walking batchLength), the CRC of partition.meta and of a .snapshot
//   bit 7     for .log files: rewrite batch base offsets to be dense from the segment's base,
//             so the scan gets past the offset checks too
// A later file with the same name replaces an earlier one.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace runnel::engine::fuzz {

enum FileKind : uint8_t {
  kLog = 0,
  kIndex = 1,
  kTimeIndex = 2,
  kSnapshot = 3,
  kMeta = 4,
  kSwap = 5,
  kCleaned = 6,
  kMetaTmp = 7,
};

inline constexpr int64_t kBases[8] = {0, 10, 20, 30, 40, 5, 1000, (int64_t{1} << 31) + 7};
inline constexpr uint8_t kFixChecksums = 0x40;
inline constexpr uint8_t kDenseOffsets = 0x80;

inline uint8_t Selector(FileKind kind, int base_index, uint8_t flags = 0) {
  return static_cast<uint8_t>(kind | (base_index << 3) | flags);
}

// Appends one file to an input.
inline void AppendFile(std::vector<uint8_t>& input, uint8_t selector,
                       const std::vector<std::byte>& bytes) {
  const size_t n = bytes.size() > 0xFFFF ? 0xFFFF : bytes.size();
  input.push_back(selector);
  input.push_back(static_cast<uint8_t>(n & 0xFF));
  input.push_back(static_cast<uint8_t>(n >> 8));
  for (size_t i = 0; i < n; ++i) input.push_back(static_cast<uint8_t>(bytes[i]));
}

}  // namespace runnel::engine::fuzz
