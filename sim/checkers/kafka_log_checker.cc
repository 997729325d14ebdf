#include "sim/checkers/kafka_log_checker.h"

#include <fmt/format.h>

#include <algorithm>
#include <cstring>

namespace runnel::sim {
namespace {

constexpr uint32_t kValueMagic = 0x52564c31;  // "RVL1"

void Store32(std::byte* p, uint32_t v) {
  for (int i = 0; i < 4; i++) p[i] = static_cast<std::byte>(v >> (24 - 8 * i));
}
void Store64(std::byte* p, uint64_t v) {
  for (int i = 0; i < 8; i++) p[i] = static_cast<std::byte>(v >> (56 - 8 * i));
}
uint32_t Load32(const std::byte* p) {
  uint32_t v = 0;
  for (int i = 0; i < 4; i++) v = (v << 8) | static_cast<uint8_t>(p[i]);
  return v;
}
uint64_t Load64(const std::byte* p) {
  uint64_t v = 0;
  for (int i = 0; i < 8; i++) v = (v << 8) | static_cast<uint8_t>(p[i]);
  return v;
}

bool SameBytes(std::span<const std::byte> a, const std::vector<std::byte>& b) {
  return a.size() == b.size() && (a.empty() || std::memcmp(a.data(), b.data(), a.size()) == 0);
}

}  // namespace

std::string RecordId::ToString() const { return fmt::format("p{}#{}", producer, seq); }

KafkaLogChecker::KafkaLogChecker(int32_t partitions)
    : partitions_(static_cast<size_t>(std::max(partitions, 0))) {}

std::vector<std::byte> KafkaLogChecker::MakeKey(RecordId id) {
  const std::string key = fmt::format("p{}", id.producer);
  std::vector<std::byte> out(key.size());
  std::memcpy(out.data(), key.data(), key.size());
  return out;
}

std::vector<std::byte> KafkaLogChecker::MakeValue(RecordId id, int32_t partition, size_t size) {
  size = std::max(size, kValueHeaderBytes);
  std::vector<std::byte> out(size);
  Store32(out.data(), kValueMagic);
  Store32(out.data() + 4, id.producer);
  Store64(out.data() + 8, id.seq);
  Store32(out.data() + 16, static_cast<uint32_t>(partition));
  Store32(out.data() + 20, static_cast<uint32_t>(size));
  // The body: a splitmix64 stream seeded by the id, so a misplaced byte is caught.
  uint64_t x = (static_cast<uint64_t>(id.producer) << 40) ^ id.seq ^ 0x9e3779b97f4a7c15ULL;
  for (size_t i = kValueHeaderBytes; i < size; i++) {
    x += 0x9e3779b97f4a7c15ULL;
    uint64_t z = x;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    out[i] = static_cast<std::byte>(z ^ (z >> 31));
  }
  return out;
}

void KafkaLogChecker::Sending(RecordId id, int32_t partition, size_t value_bytes) {
  Sent& s = sent_[id];
  s.partition = partition;
  s.value_bytes = std::max(value_bytes, kValueHeaderBytes);
  stats_.sent++;
}

void KafkaLogChecker::MayDuplicate(RecordId id) {
  auto it = sent_.find(id);
  if (it == sent_.end() || it->second.may_duplicate) return;
  it->second.may_duplicate = true;
  stats_.may_duplicate++;
}

Status KafkaLogChecker::Acked(RecordId id, int64_t offset) {
  auto it = sent_.find(id);
  if (it == sent_.end()) {
    return Status::Corruption(fmt::format("{} acknowledged but never sent", id.ToString()));
  }
  Sent& s = it->second;
  if (offset < 0) {
    return Status::Corruption(fmt::format("{} acknowledged at offset {}", id.ToString(), offset));
  }
  if (std::find(s.acked_at.begin(), s.acked_at.end(), offset) != s.acked_at.end()) {
    return Status::Ok();
  }
  if (!s.acked_at.empty() && !s.may_duplicate) {
    return Status::Corruption(fmt::format("{} acknowledged at offsets {} and {}", id.ToString(),
                                          s.acked_at.front(), offset));
  }
  Partition& p = partitions_.at(s.partition);
  auto [at, inserted] = p.acked.emplace(offset, id);
  if (!inserted && at->second != id) {
    return Status::Corruption(fmt::format("partition {} offset {} acknowledged for {} and for {}",
                                          s.partition, offset, at->second.ToString(),
                                          id.ToString()));
  }
  if (static_cast<size_t>(offset) < p.seen.size() && p.seen[offset].has_value() &&
      *p.seen[offset] != id) {
    return Status::Corruption(
        fmt::format("partition {} offset {}: {} acknowledged there, but a fetch returned {}",
                    s.partition, offset, id.ToString(), p.seen[offset]->ToString()));
  }
  s.acked_at.push_back(offset);
  p.acked_end = std::max(p.acked_end, offset + 1);
  stats_.acked++;
  return Status::Ok();
}

int KafkaLogChecker::AddReader() {
  Reader r;
  r.high_watermark.assign(partitions_.size(), -1);
  r.acked_end_at_request.assign(partitions_.size(), 0);
  readers_.push_back(std::move(r));
  return static_cast<int>(readers_.size() - 1);
}

void KafkaLogChecker::FetchSent(int reader) {
  Reader& r = readers_.at(reader);
  for (size_t p = 0; p < partitions_.size(); p++) {
    r.acked_end_at_request[p] = partitions_[p].acked_end;
  }
}

Status KafkaLogChecker::FetchedHighWatermark(int reader, int32_t partition,
                                             int64_t high_watermark) {
  Reader& r = readers_.at(reader);
  int64_t& last = r.high_watermark.at(partition);
  if (high_watermark < last) {
    return Status::Corruption(
        fmt::format("partition {}: the high watermark went back from {} to {} (reader {})",
                    partition, last, high_watermark, reader));
  }
  if (high_watermark < r.acked_end_at_request[partition]) {
    return Status::Corruption(fmt::format(
        "partition {}: high watermark {} below offset {}, acknowledged before the fetch was sent",
        partition, high_watermark, r.acked_end_at_request[partition] - 1));
  }
  last = high_watermark;
  Partition& p = partitions_.at(partition);
  p.high_watermark_max = std::max(p.high_watermark_max, high_watermark);
  return Status::Ok();
}

Status KafkaLogChecker::CheckRecord(int32_t partition, const FetchedRecord& r, RecordId* id) const {
  const std::string where = fmt::format("partition {} offset {}", partition, r.offset);
  if (!r.value.has_value() || r.value->size() < kValueHeaderBytes ||
      Load32(r.value->data()) != kValueMagic) {
    return Status::Corruption(where + ": a record no producer wrote (bad value header)");
  }
  const std::byte* v = r.value->data();
  id->producer = Load32(v + 4);
  id->seq = Load64(v + 8);
  auto it = sent_.find(*id);
  if (it == sent_.end()) {
    return Status::Corruption(fmt::format("{}: {} was never sent", where, id->ToString()));
  }
  const Sent& s = it->second;
  if (s.partition != partition) {
    return Status::Corruption(
        fmt::format("{}: {} was sent to partition {}", where, id->ToString(), s.partition));
  }
  if (!SameBytes(*r.value, MakeValue(*id, partition, s.value_bytes))) {
    return Status::Corruption(
        fmt::format("{}: the value of {} differs from what was produced", where, id->ToString()));
  }
  if (!r.key.has_value() || !SameBytes(*r.key, MakeKey(*id))) {
    return Status::Corruption(
        fmt::format("{}: the key of {} differs from what was produced", where, id->ToString()));
  }
  return Status::Ok();
}

Status KafkaLogChecker::Fetched(int32_t partition, int64_t from,
                                std::span<const FetchedRecord> records) {
  Partition& p = partitions_.at(partition);
  int64_t expect = from;
  for (const FetchedRecord& r : records) {
    if (r.offset < from) continue;  // the part of the first batch below the fetch offset
    if (r.offset != expect) {
      return Status::Corruption(
          fmt::format("partition {}: a fetch from {} returned offset {} where {} was due (offsets "
                      "must be dense)",
                      partition, from, r.offset, expect));
    }
    expect++;
    RecordId id;
    RUNNEL_TRY(CheckRecord(partition, r, &id));
    stats_.records_fetched++;
    stats_.bytes_fetched += r.value->size();
    if (static_cast<size_t>(r.offset) >= p.seen.size()) p.seen.resize(r.offset + 1);
    std::optional<RecordId>& seen = p.seen[r.offset];
    if (seen.has_value()) {
      if (*seen != id) {
        return Status::Corruption(
            fmt::format("partition {} offset {} changed: a fetch returned {}, a later fetch {}",
                        partition, r.offset, seen->ToString(), id.ToString()));
      }
      continue;
    }
    auto acked = p.acked.find(r.offset);
    if (acked != p.acked.end() && acked->second != id) {
      return Status::Corruption(
          fmt::format("partition {} offset {}: {} was acknowledged there, a fetch returned {}",
                      partition, r.offset, acked->second.ToString(), id.ToString()));
    }
    seen = id;
    Sent& s = sent_.at(id);
    s.seen_at.push_back(r.offset);
    if (s.seen_at.size() > 1) {
      stats_.duplicates_seen++;
      if (!s.may_duplicate) {
        return Status::Corruption(
            fmt::format("partition {}: {} appears at offsets {} and {} but was appended once",
                        partition, id.ToString(), s.seen_at.front(), r.offset));
      }
    }
  }
  return Status::Ok();
}

Status KafkaLogChecker::CheckComplete(int32_t partition, int64_t end) const {
  const Partition& p = partitions_.at(partition);
  if (end < p.acked_end) {
    return Status::Corruption(
        fmt::format("partition {}: the log ends at {} but offset {} was acknowledged", partition,
                    end, p.acked_end - 1));
  }
  if (end < p.high_watermark_max) {
    return Status::Corruption(
        fmt::format("partition {}: the log ends at {} but a reader saw high watermark {}",
                    partition, end, p.high_watermark_max));
  }
  for (int64_t o = 0; o < end; o++) {
    if (static_cast<size_t>(o) >= p.seen.size() || !p.seen[o].has_value()) {
      return Status::Corruption(fmt::format(
          "partition {}: offset {} below the end {} was never read", partition, o, end));
    }
  }
  for (const auto& [offset, id] : p.acked) {
    if (*p.seen[offset] != id) {
      return Status::Corruption(fmt::format("partition {} offset {}: {} acknowledged, {} found",
                                            partition, offset, id.ToString(),
                                            p.seen[offset]->ToString()));
    }
  }
  return Status::Ok();
}

}  // namespace runnel::sim
