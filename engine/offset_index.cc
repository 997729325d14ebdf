#include "engine/offset_index.h"

#include <fmt/format.h>

#include <algorithm>

#include "engine/segment_format.h"
#include "engine/varint.h"

namespace runnel::engine {

namespace sf = segment_format;

void OffsetIndex::Append(Offset offset, uint64_t position) {
  const int64_t relative = offset.value() - base_.value();
  RUNNEL_ASSERT(relative >= 0 && relative <= INT32_MAX, "offset {} outside segment {}",
                offset.value(), base_.value());
  RUNNEL_ASSERT(position <= UINT32_MAX, "position {} does not fit the index", position);
  if (!entries_.empty()) {
    RUNNEL_ASSERT(static_cast<uint32_t>(relative) > entries_.back().relative_offset &&
                      position > entries_.back().position,
                  "index entry ({}, {}) after ({}, {})", relative, position,
                  entries_.back().relative_offset, entries_.back().position);
  }
  entries_.push_back(Entry{static_cast<uint32_t>(relative), static_cast<uint32_t>(position)});
}

OffsetIndex::Hit OffsetIndex::Lookup(Offset target) const {
  const int64_t relative = target.value() - base_.value();
  if (relative < 0 || entries_.empty()) return Hit{base_, 0};
  const uint64_t key = static_cast<uint64_t>(relative);
  // The first entry past the target; the one before it is the answer.
  auto it = std::upper_bound(entries_.begin(), entries_.end(), key,
                             [](uint64_t k, const Entry& e) { return k < e.relative_offset; });
  if (it == entries_.begin()) return Hit{base_, 0};
  --it;
  return Hit{Offset(base_.value() + it->relative_offset), it->position};
}

void OffsetIndex::TruncateToPosition(uint64_t position) {
  while (!entries_.empty() && entries_.back().position >= position) entries_.pop_back();
}

void OffsetIndex::Encode(std::vector<std::byte>& out) const {
  out.resize(entries_.size() * sf::kOffsetIndexEntryBytes);
  std::byte* p = out.data();
  for (const Entry& e : entries_) {
    StoreBe32(p, e.relative_offset);
    StoreBe32(p + 4, e.position);
    p += sf::kOffsetIndexEntryBytes;
  }
}

Result<OffsetIndex> OffsetIndex::Decode(Offset base, std::span<const std::byte> bytes,
                                        uint64_t log_bytes, size_t entries_max) {
  if (bytes.size() % sf::kOffsetIndexEntryBytes != 0) {
    return Status::Corruption(
        fmt::format("offset index of {} bytes is not a whole number of "
                    "{}-byte entries",
                    bytes.size(), sf::kOffsetIndexEntryBytes));
  }
  const size_t count = bytes.size() / sf::kOffsetIndexEntryBytes;
  if (count > entries_max) {
    return Status::Corruption(
        fmt::format("offset index holds {} entries, more than {}", count, entries_max));
  }
  OffsetIndex index(base);
  index.entries_.reserve(count);
  for (size_t i = 0; i < count; ++i) {
    const std::byte* p = bytes.data() + i * sf::kOffsetIndexEntryBytes;
    const uint32_t relative = LoadBe32(p);
    const uint32_t position = LoadBe32(p + 4);
    if (relative > INT32_MAX) {
      return Status::Corruption(
          fmt::format("offset index entry {}: relative offset {}", i, relative));
    }
    if (position >= log_bytes) {
      return Status::Corruption(fmt::format(
          "offset index entry {}: position {} past the {}-byte log", i, position, log_bytes));
    }
    if (!index.entries_.empty() && (relative <= index.entries_.back().relative_offset ||
                                    position <= index.entries_.back().position)) {
      return Status::Corruption(fmt::format("offset index entry {} does not increase", i));
    }
    index.entries_.push_back(Entry{relative, position});
  }
  return index;
}

int64_t TimeIndex::last_timestamp_ms() const {
  return entries_.empty() ? kNoTimestamp : entries_.back().timestamp_ms;
}

void TimeIndex::MaybeAppend(int64_t timestamp_ms, Offset offset) {
  if (timestamp_ms <= last_timestamp_ms()) return;
  const int64_t relative = offset.value() - base_.value();
  RUNNEL_ASSERT(relative >= 0 && relative <= INT32_MAX, "offset {} outside segment {}",
                offset.value(), base_.value());
  RUNNEL_ASSERT(
      entries_.empty() || static_cast<uint32_t>(relative) >= entries_.back().relative_offset,
      "time index offset {} goes back", offset.value());
  entries_.push_back(Entry{timestamp_ms, static_cast<uint32_t>(relative)});
}

TimeIndex::Hit TimeIndex::Lookup(int64_t target_ms) const {
  auto it = std::upper_bound(entries_.begin(), entries_.end(), target_ms,
                             [](int64_t t, const Entry& e) { return t < e.timestamp_ms; });
  if (it == entries_.begin()) return Hit{kNoTimestamp, base_};
  --it;
  return Hit{it->timestamp_ms, Offset(base_.value() + it->relative_offset)};
}

void TimeIndex::TruncateTo(Offset offset) {
  const int64_t relative = offset.value() - base_.value();
  while (!entries_.empty() && static_cast<int64_t>(entries_.back().relative_offset) >= relative) {
    entries_.pop_back();
  }
}

void TimeIndex::Encode(std::vector<std::byte>& out) const {
  out.resize(entries_.size() * sf::kTimeIndexEntryBytes);
  std::byte* p = out.data();
  for (const Entry& e : entries_) {
    StoreBe64(p, static_cast<uint64_t>(e.timestamp_ms));
    StoreBe32(p + 8, e.relative_offset);
    p += sf::kTimeIndexEntryBytes;
  }
}

Result<TimeIndex> TimeIndex::Decode(Offset base, std::span<const std::byte> bytes, Offset last_base,
                                    size_t entries_max) {
  if (bytes.size() % sf::kTimeIndexEntryBytes != 0) {
    return Status::Corruption(
        fmt::format("time index of {} bytes is not a whole number of "
                    "{}-byte entries",
                    bytes.size(), sf::kTimeIndexEntryBytes));
  }
  const size_t count = bytes.size() / sf::kTimeIndexEntryBytes;
  if (count > entries_max) {
    return Status::Corruption(
        fmt::format("time index holds {} entries, more than {}", count, entries_max));
  }
  TimeIndex index(base);
  index.entries_.reserve(count);
  for (size_t i = 0; i < count; ++i) {
    const std::byte* p = bytes.data() + i * sf::kTimeIndexEntryBytes;
    const int64_t timestamp = static_cast<int64_t>(LoadBe64(p));
    const uint32_t relative = LoadBe32(p + 8);
    if (relative > INT32_MAX || base.value() + relative > last_base.value()) {
      return Status::Corruption(
          fmt::format("time index entry {}: offset {} outside the segment", i, relative));
    }
    if (!index.entries_.empty() && (timestamp <= index.entries_.back().timestamp_ms ||
                                    relative < index.entries_.back().relative_offset)) {
      return Status::Corruption(fmt::format("time index entry {} does not increase", i));
    }
    index.entries_.push_back(Entry{timestamp, relative});
  }
  return index;
}

}  // namespace runnel::engine
