// The partition directory on disk: file names and the layouts of the index and metadata files.
// The layout is stable (tests/storage/golden/ holds a checked-in directory the tests decode);
// a change needs a new version and a reader for the old one.
//
//   <dir>/<20-digit base offset>.log        RecordBatch v2 batches, back to back, as appended
//   <dir>/<20-digit base offset>.index      offset index: 8-byte entries, big-endian
//                                             relative offset u32 (batch base - segment base)
//                                             position u32 (byte offset of that batch in .log)
//   <dir>/<20-digit base offset>.timeindex  time index: 12-byte entries, big-endian
//                                             timestamp i64 (the segment's max timestamp so far)
//                                             relative offset u32 (the batch that first reached
//                                             it)
//   <dir>/<20-digit offset>.snapshot        producer state at that offset (ProducerStateTable
//                                             snapshot: "RNPS", version, CRC-32C)
//   <dir>/partition.meta                    the partition's durable state (below)
//   <dir>/*.tmp                             an atomic write in progress: deleted on open
//   <dir>/<base>.{log,index,timeindex}.cleaned  compaction output being written: deleted on open
//   <dir>/<base>.{log,index,timeindex}.swap     compaction output committed: the swap is
//                                               completed on open
//
// Index files have no header (Kafka's convention); they are written whole when a segment is
// closed and trusted only below the recovery point, after sanity checks.
//
// partition.meta (big-endian, written with WriteFileAtomic):
//    0  4 magic "RNLM"
//    4  2 version (1)
//    6  2 flags: bit 0 = clean shutdown (every segment synced and indexed, snapshot at log end)
//    8  4 CRC-32C of bytes [0, 8) followed by [12, 52): everything but itself
//   12  8 log start offset
//   20  8 recovery point: segments wholly below it are synced and their index files complete
//   28  8 high watermark
//   36  8 compacted end: below it offsets may have gaps (compaction removed batches)
//   44  8 truncation in progress: the log must end at or below this offset (-1: none); set
//         before a truncation touches a file and cleared once the truncation is durable, so
//         that recovery finishes one that a crash or a failed sync interrupted
//   52
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "engine/types.h"

namespace runnel::engine::segment_format {

inline constexpr std::string_view kLogSuffix = ".log";
inline constexpr std::string_view kIndexSuffix = ".index";
inline constexpr std::string_view kTimeIndexSuffix = ".timeindex";
inline constexpr std::string_view kSnapshotSuffix = ".snapshot";
inline constexpr std::string_view kCleanedSuffix = ".cleaned";
inline constexpr std::string_view kSwapSuffix = ".swap";
inline constexpr std::string_view kTmpSuffix = ".tmp";
inline constexpr std::string_view kMetaFileName = "partition.meta";

inline constexpr size_t kOffsetDigits = 20;

inline constexpr size_t kOffsetIndexEntryBytes = 8;
inline constexpr size_t kTimeIndexEntryBytes = 12;

inline constexpr size_t kMetaBytes = 52;
inline constexpr size_t kMetaCrcOffset = 8;
inline constexpr size_t kMetaCrcCoverageOffset = 12;
inline constexpr uint16_t kMetaVersion = 1;
inline constexpr uint16_t kMetaFlagClean = 0x1;

// "00000000000000000042" for 42.
std::string OffsetName(Offset offset);
// <dir>/<20 digits><suffix>.
std::string SegmentPath(const std::string& dir, Offset base, std::string_view suffix);

// A file name of the partition directory, classified.
enum class FileKind : uint8_t {
  kLog,
  kIndex,
  kTimeIndex,
  kSnapshot,
  kMeta,
  kTmp,      // *.tmp
  kCleaned,  // <base>.<kind>.cleaned
  kSwap,     // <base>.<kind>.swap
  kUnknown,
};
struct ParsedName {
  FileKind kind = FileKind::kUnknown;
  Offset offset;                        // for the offset-named kinds
  FileKind inner = FileKind::kUnknown;  // for kCleaned / kSwap: log, index or time index
};
ParsedName ParseFileName(std::string_view name);

}  // namespace runnel::engine::segment_format
