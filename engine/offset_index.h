// OffsetIndex and TimeIndex: the sparse in-memory indexes of one segment, and the byte layouts
// of their .index / .timeindex files (segment_format.h).
//
// OffsetIndex maps a batch's base offset to its byte position in the segment's .log: an entry
// is added when more than index.interval.bytes were appended since the previous one, so a
// lookup lands at most that many bytes (plus one batch) before the batch it looks for.
// TimeIndex maps the segment's running maximum timestamp to the batch that first reached it;
// entries are added at the same points when the maximum grew, plus a final one when the segment
// is closed (so the last entry holds the segment's max timestamp).
//
// Owned by their Segment, on its shard. Invariants (asserted on Append, checked on Decode):
// relative offsets fit in u32 and strictly increase; positions strictly increase and lie inside
// the .log; time entries' timestamps strictly increase and their offsets do not decrease.
// Decode is the sanity check of an index file read from disk: anything off is kCorruption and
// the caller rebuilds the index from the .log instead of trusting it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "engine/types.h"
#include "io/status.h"

namespace runnel::engine {

class OffsetIndex {
 public:
  struct Entry {
    uint32_t relative_offset = 0;
    uint32_t position = 0;
  };
  struct Hit {
    Offset offset;
    uint64_t position = 0;
  };

  explicit OffsetIndex(Offset base) : base_(base) {}

  Offset base() const { return base_; }
  size_t size() const { return entries_.size(); }
  bool empty() const { return entries_.empty(); }
  const std::vector<Entry>& entries() const { return entries_; }

  // Appends (offset, position): both must exceed the last entry's and fit (asserted).
  void Append(Offset offset, uint64_t position);
  // The entry with the largest offset <= target, or (base, 0) when there is none.
  Hit Lookup(Offset target) const;
  // Drops the entries at or past `position` in the .log.
  void TruncateToPosition(uint64_t position);
  void Clear() { entries_.clear(); }

  // The .index file content.
  void Encode(std::vector<std::byte>& out) const;
  // Parses and sanity-checks an .index file of a segment whose .log holds `log_bytes` bytes.
  static Result<OffsetIndex> Decode(Offset base, std::span<const std::byte> bytes,
                                    uint64_t log_bytes, size_t entries_max);

  // Heap bytes held (capacity, not size).
  size_t memory_bytes() const { return entries_.capacity() * sizeof(Entry); }

 private:
  Offset base_;
  std::vector<Entry> entries_;
};

class TimeIndex {
 public:
  struct Entry {
    int64_t timestamp_ms = 0;
    uint32_t relative_offset = 0;
  };
  struct Hit {
    int64_t timestamp_ms = 0;
    Offset offset;
  };

  explicit TimeIndex(Offset base) : base_(base) {}

  Offset base() const { return base_; }
  size_t size() const { return entries_.size(); }
  bool empty() const { return entries_.empty(); }
  const std::vector<Entry>& entries() const { return entries_; }
  // The last entry's timestamp, or kNoTimestamp.
  int64_t last_timestamp_ms() const;

  // Appends (timestamp, offset) if timestamp exceeds the last entry's; offset must not be below
  // the last entry's (asserted).
  void MaybeAppend(int64_t timestamp_ms, Offset offset);
  // The entry with the largest timestamp <= target (scanning from its offset finds the first
  // batch whose max timestamp is >= target), or (kNoTimestamp, base) when there is none.
  Hit Lookup(int64_t target_ms) const;
  // Drops the entries whose offset is >= `offset`.
  void TruncateTo(Offset offset);
  void Clear() { entries_.clear(); }

  void Encode(std::vector<std::byte>& out) const;
  // Parses and sanity-checks a .timeindex file. Entries name batches (a batch's base offset),
  // so every offset must be at most `last_base`, the base offset of the segment's last batch.
  static Result<TimeIndex> Decode(Offset base, std::span<const std::byte> bytes, Offset last_base,
                                  size_t entries_max);

  size_t memory_bytes() const { return entries_.capacity() * sizeof(Entry); }

 private:
  Offset base_;
  std::vector<Entry> entries_;
};

}  // namespace runnel::engine
