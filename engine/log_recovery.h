// Log recovery: what Log::Open does to a partition directory before the log serves anything.
//
// Rules, in order (engine/README.md has the rationale):
//  1. Leftovers go: *.tmp (an atomic write that did not finish), *.cleaned (compaction output
//     that was never committed), index files without a .log, snapshots above the log end.
//  2. A committed compaction (<base>.log.swap) is completed: the swap's end offset E is the
//     offset after its last valid batch; every segment with a base in [base, E) is deleted,
//     with its index files, and the swap is renamed to <base>.log.
//  3. partition.meta gives the log start offset, the recovery point, the high watermark and the
//     compacted end. Missing or corrupt: log start = the first segment's base, recovery point 0
//     (scan everything), gaps allowed (the compacted end is unknown).
//  4. Segments wholly below the log start are deleted (a retention or DeleteRecords that
//     crashed after its meta write).
//  5. Segments below the recovery point (all of them after a clean shutdown) are trusted: their
//     .index and .timeindex are loaded after sanity checks (sizes, increasing entries,
//     positions inside the .log, the batch headers from the last index entry to the end of the
//     file). A segment failing a check is scanned instead, and so is everything after it.
//  6. Every other segment is scanned from its first byte, every batch validated: framing and
//     length, CRC-32C, magic 2, offsets within the segment, increasing, and contiguous (equal to
//     the previous batch's last offset + 1, also across segments) above the compacted end. The
//     first torn or invalid batch ends the log: the file is cut there (and synced) and all later
//     segments are deleted. Indexes of scanned segments are rebuilt from the scan, never read.
//  7. An I/O error while reading is not corruption: Open fails (kIo) and changes nothing more.
//  8. Producer state: the newest snapshot that decodes, at or below the log end, then a replay
//     of the batches after it; no usable snapshot: a replay from the start of the log.
//  9. If the log end fell below the log start (the start had moved past data that a crash then
//     lost), the log is emptied and restarts at the log start.
// 10. What was scanned is written again and synced, with its size: a process restart may leave
//     it unsynced in the page cache, and a failed sync (in an earlier process, or an earlier
//     Open that failed) may have dropped it from the disk for good while it stays readable, so
//     a sync alone proves nothing. Closed segments that were scanned get fresh index files, and
//     partition.meta is rewritten (not clean). Trusted segments are left alone: the recovery
//     point passed them only after a successful sync of all they hold.
#pragma once

#include <cstdint>
#include <functional>
#include <vector>

#include "engine/producer_state.h"
#include "engine/record_batch.h"
#include "engine/segment.h"
#include "engine/types.h"
#include "io/status.h"
#include "io/task.h"

namespace runnel::engine {

struct ScanRules {
  // The offset the segment's first batch follows: the segment's base (a read holds the first
  // batch to it too; a gap from the previous segment's end is checked before the scan).
  Offset expected_next;
  // At or above this offset, offsets must be dense; below it gaps are allowed.
  Offset compacted_end;
  uint32_t index_interval_bytes = 4096;
  // Reads are this large (the buffer grows only for a larger batch).
  size_t chunk_bytes = size_t{1} << 20;
};

struct ScanResult {
  uint64_t valid_bytes = 0;  // the prefix of whole, valid batches
  size_t batches = 0;
  // Why the scan stopped before the end of the file (kCorruption, with the position); ok when
  // every byte belonged to a valid batch.
  Status stop;
};

// Reads `segment`'s .log (of `file_bytes` bytes) from the start through `buffer`, validating
// every batch by the rules above; each valid batch is tracked in `segment` (rebuilding its
// indexes) and passed to `on_batch` if set (an error from it ends the scan with that error).
// Errors (the Result) are only those of reading and of on_batch; invalid bytes end up in
// ScanResult::stop.
Task<Result<ScanResult>> ScanSegment(Segment& segment, uint64_t file_bytes, const ScanRules& rules,
                                     std::vector<std::byte>& buffer,
                                     const std::function<Status(const RecordBatchView&)>& on_batch);

// Replays into `producers` every batch of `segment` whose base offset is at or after
// producers.next_offset(), reading from the offset index's entry for it. Each batch is CRC-checked
// (a rotten producer field must not poison the table) and must follow the previous one (densely
// from `compacted_end` on). Returns nullopt when the segment was replayed to its end, or the
// position of the first bad batch (kCorruption is not an error here; kIo is).
Task<Result<std::optional<uint64_t>>> ReplaySegment(Segment& segment, ProducerStateTable& producers,
                                                    Offset compacted_end,
                                                    std::vector<std::byte>& buffer,
                                                    size_t chunk_bytes, size_t& replayed);

}  // namespace runnel::engine
