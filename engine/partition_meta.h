// PartitionMeta: the small durable record of a partition's log that is not in its segments
// (layout in segment_format.h): log start offset, recovery point, high watermark, the end of the
// compacted range and whether the last shutdown was clean. Written only with WriteFileAtomic
// (temp file, write, sync, rename, sync_dir), so a reader sees either the old or the new
// record; a missing or corrupt record makes recovery scan the whole log.
#pragma once

#include <cstddef>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "engine/types.h"
#include "io/file.h"
#include "io/status.h"
#include "io/task.h"

namespace runnel::engine {

struct PartitionMeta {
  Offset log_start{0};
  // Segments wholly below it are synced and have complete index files.
  Offset recovery_point{0};
  Offset high_watermark{0};
  // Offsets below it may have gaps (compaction removed batches); above it they are dense.
  Offset compacted_end{0};
  // A truncation that has not completed durably: the log ends at or below it.
  std::optional<Offset> truncate_to;
  bool clean_shutdown = false;

  bool operator==(const PartitionMeta&) const = default;

  std::vector<std::byte> Encode() const;
  // kCorruption for anything but a well-formed record; kUnsupported for a newer version.
  static Result<PartitionMeta> Decode(std::span<const std::byte> bytes);
};

// <dir>/partition.meta
std::string MetaPath(const std::string& dir);
// Durable once it resolves ok.
Task<Status> WritePartitionMeta(FileSystem& fs, const std::string& dir, const PartitionMeta& meta);
// nullopt when the file does not exist; its Status when it cannot be read or decoded.
Task<Result<std::optional<PartitionMeta>>> ReadPartitionMeta(FileSystem& fs,
                                                             const std::string& dir);

}  // namespace runnel::engine
