#include "engine/producer_state.h"

#include <fmt/format.h>

#include <algorithm>
#include <cstring>

#include "engine/crc32c.h"
#include "engine/varint.h"

namespace runnel::engine {

namespace {

// Snapshot layout (big-endian):
//    0  4 magic "RNPS"
//    4  2 version (1)
//    6  2 flags (0)
//    8  4 CRC-32C of bytes [12, end)
//   12  8 next offset: the snapshot covers the log below it
//   20  4 producer count
//   24    producers, by increasing id:
//           producer id int64, epoch int16, last timestamp int64,
//           open-transaction first offset int64 (-1: none), batch count uint8 (<= 5),
//           then per retained batch, oldest first:
//             first sequence int32, last sequence int32, first offset int64,
//             last offset int64, timestamp int64
constexpr unsigned char kSnapshotMagic[4] = {'R', 'N', 'P', 'S'};
constexpr uint16_t kSnapshotVersion = 1;
constexpr size_t kSnapshotHeaderBytes = 24;
constexpr size_t kSnapshotCrcOffset = 8;
constexpr size_t kSnapshotCrcCoverageOffset = 12;
constexpr size_t kEntryBytes = 8 + 2 + 8 + 8 + 1;
constexpr size_t kBatchMetaBytes = 4 + 4 + 8 + 8 + 8;

bool InSequence(int32_t last, int32_t next) {
  return int64_t{next} == int64_t{last} + 1 || (next == 0 && last == INT32_MAX);
}

}  // namespace

std::string_view ProducerVerdictName(ProducerVerdict verdict) {
  switch (verdict) {
    case ProducerVerdict::kOk:
      return "ok";
    case ProducerVerdict::kDuplicate:
      return "duplicate";
    case ProducerVerdict::kOutOfOrderSequence:
      return "out-of-order-sequence";
    case ProducerVerdict::kInvalidProducerEpoch:
      return "invalid-producer-epoch";
    case ProducerVerdict::kInvalidTxnState:
      return "invalid-txn-state";
  }
  return "unknown";
}

bool ProducerEntry::operator==(const ProducerEntry& o) const {
  return epoch == o.epoch && batch_count == o.batch_count &&
         std::equal(batches.begin(), batches.begin() + batch_count, o.batches.begin()) &&
         last_timestamp_ms == o.last_timestamp_ms && txn_first_offset == o.txn_first_offset;
}

ProducerBatchInfo ProducerBatchInfo::From(const RecordBatchView& batch) {
  ProducerBatchInfo info;
  info.producer_id = batch.producer_id();
  info.producer_epoch = batch.producer_epoch();
  info.base_sequence = batch.base_sequence();
  info.last_offset_delta = batch.last_offset_delta();
  info.max_timestamp_ms = batch.max_timestamp();
  info.transactional = batch.is_transactional();
  info.control = batch.is_control();
  return info;
}

Result<ProducerCheck> ProducerStateTable::Check(const ProducerBatchInfo& batch) const {
  ProducerCheck check;
  if (!batch.has_producer_id()) return check;
  static const ProducerEntry kUnknown;
  const ProducerEntry* entry = Find(batch.producer_id);
  if (entry == nullptr) {
    if (producers_.size() >= limits_.producers_max) {
      return Status::Limit(
          fmt::format("producer state holds producers_max {} producers", limits_.producers_max));
    }
    entry = &kUnknown;
  }
  const int64_t pid = batch.producer_id.value();
  const int16_t epoch = batch.producer_epoch.value();
  const int16_t current_epoch = entry->epoch.value();
  auto reject = [&](ProducerVerdict verdict, std::string message) {
    check.verdict = verdict;
    check.message = std::move(message);
    return check;
  };

  if (!batch.control && batch.producer_epoch == entry->epoch) {
    const int32_t last_sequence = batch.last_sequence();
    for (uint8_t i = 0; i < entry->batch_count; ++i) {
      const ProducerBatchMeta& m = entry->batches[i];
      if (m.first_sequence == batch.base_sequence && m.last_sequence == last_sequence) {
        check.verdict = ProducerVerdict::kDuplicate;
        check.duplicate_of = m;
        return check;
      }
    }
  }
  if (epoch < current_epoch) {
    return reject(ProducerVerdict::kInvalidProducerEpoch,
                  fmt::format("producer {} epoch {} is older than the current epoch {}", pid, epoch,
                              current_epoch));
  }
  if (!batch.control) {
    if (epoch != current_epoch) {
      if (batch.base_sequence != 0 && current_epoch != kNoProducerEpoch.value()) {
        return reject(ProducerVerdict::kOutOfOrderSequence,
                      fmt::format("producer {} new epoch {} starts at sequence {}, not 0 "
                                  "(current epoch {})",
                                  pid, epoch, batch.base_sequence, current_epoch));
      }
    } else {
      const ProducerBatchMeta* last = entry->last_batch();
      const int32_t last_sequence = last != nullptr ? last->last_sequence : kNoSequence;
      if (current_epoch != kNoProducerEpoch.value() &&
          !InSequence(last_sequence, batch.base_sequence)) {
        return reject(ProducerVerdict::kOutOfOrderSequence,
                      fmt::format("producer {} epoch {}: sequence {} does not follow {}", pid,
                                  epoch, batch.base_sequence, last_sequence));
      }
    }
    if (entry->txn_first_offset.has_value() && !batch.transactional) {
      return reject(ProducerVerdict::kInvalidTxnState,
                    fmt::format("producer {}: non-transactional batch while the transaction "
                                "from offset {} is open",
                                pid, entry->txn_first_offset->value()));
    }
  }
  return check;
}

Status ProducerStateTable::Record(const ProducerBatchInfo& batch, Offset first_offset) {
  RUNNEL_ASSERT(first_offset >= next_offset_, "Record at offset {} below next offset {}",
                first_offset.value(), next_offset_.value());
#if defined(RUNNEL_SIM_CHECKS)
  {
    Result<ProducerCheck> check = Check(batch);
    if (!check.ok()) return std::move(check).status();
    RUNNEL_ASSERT(check->ok(), "Record of a batch Check rejected: {} {}",
                  ProducerVerdictName(check->verdict), check->message);
  }
#endif
  if (batch.has_producer_id() && Find(batch.producer_id) == nullptr &&
      producers_.size() >= limits_.producers_max) {
    return Status::Limit(
        fmt::format("producer state holds producers_max {} producers", limits_.producers_max));
  }
  Apply(batch, first_offset);
  return Status::Ok();
}

Result<ProducerCheck> ProducerStateTable::CheckAndRecord(const ProducerBatchInfo& batch,
                                                         Offset first_offset) {
  RUNNEL_ASSIGN_OR_RETURN(ProducerCheck check, Check(batch));
  if (check.ok()) RUNNEL_TRY(Record(batch, first_offset));
  return check;
}

Status ProducerStateTable::Replay(const RecordBatchView& batch) {
  return Replay(ProducerBatchInfo::From(batch), batch.base_offset());
}

Status ProducerStateTable::Replay(const ProducerBatchInfo& batch, Offset first_offset) {
  if (first_offset < next_offset_) {
    return Status::Corruption(fmt::format("replayed batch at offset {} below next offset {}",
                                          first_offset.value(), next_offset_.value()));
  }
  if (batch.has_producer_id() && Find(batch.producer_id) == nullptr &&
      producers_.size() >= limits_.producers_max) {
    return Status::Limit(
        fmt::format("producer state holds producers_max {} producers", limits_.producers_max));
  }
  Apply(batch, first_offset);
  return Status::Ok();
}

void ProducerStateTable::Apply(const ProducerBatchInfo& batch, Offset first_offset) {
  const Offset last_offset(first_offset.value() + batch.last_offset_delta);
  next_offset_ = Offset(last_offset.value() + 1);
  if (!batch.has_producer_id()) return;
  ProducerEntry& e = producers_[batch.producer_id];
  if (e.epoch != batch.producer_epoch) {
    e.epoch = batch.producer_epoch;
    e.batches = {};
    e.batch_count = 0;
  }
  e.last_timestamp_ms = batch.max_timestamp_ms;
  if (batch.control) {
    e.txn_first_offset.reset();
    return;
  }
  if (e.batch_count == kBatchesRetained) {
    std::move(e.batches.begin() + 1, e.batches.end(), e.batches.begin());
    --e.batch_count;
  }
  e.batches[e.batch_count++] = ProducerBatchMeta{
      .first_sequence = batch.base_sequence,
      .last_sequence = batch.last_sequence(),
      .first_offset = first_offset,
      .last_offset = last_offset,
      .timestamp_ms = batch.max_timestamp_ms,
  };
  if (batch.transactional && !e.txn_first_offset.has_value()) e.txn_first_offset = first_offset;
}

size_t ProducerStateTable::RemoveExpired(int64_t now_ms, int64_t expiration_ms) {
  size_t removed = 0;
  for (auto it = producers_.begin(); it != producers_.end();) {
    const ProducerEntry& e = it->second;
    if (!e.txn_first_offset.has_value() && now_ms - e.last_timestamp_ms >= expiration_ms) {
      it = producers_.erase(it);
      ++removed;
    } else {
      ++it;
    }
  }
  return removed;
}

size_t ProducerStateTable::EvictBefore(Offset log_start) {
  size_t removed = 0;
  for (auto it = producers_.begin(); it != producers_.end();) {
    const ProducerEntry& e = it->second;
    if (!e.txn_first_offset.has_value() && e.last_batch() != nullptr &&
        e.last_batch()->last_offset < log_start) {
      it = producers_.erase(it);
      ++removed;
    } else {
      ++it;
    }
  }
  return removed;
}

void ProducerStateTable::Restore(ProducerId id, const std::optional<ProducerEntry>& entry) {
  if (entry.has_value()) {
    producers_[id] = *entry;
  } else {
    producers_.erase(id);
  }
}

const ProducerEntry* ProducerStateTable::Find(ProducerId id) const {
  auto it = producers_.find(id);
  return it == producers_.end() ? nullptr : &it->second;
}

void ProducerStateTable::Clear() {
  producers_.clear();
  next_offset_ = Offset(0);
}

std::vector<std::byte> ProducerStateTable::EncodeSnapshot() const {
  size_t size = kSnapshotHeaderBytes;
  for (const auto& [id, e] : producers_) size += kEntryBytes + e.batch_count * kBatchMetaBytes;
  std::vector<std::byte> out(size);
  std::byte* p = out.data();
  std::memcpy(p, kSnapshotMagic, sizeof kSnapshotMagic);
  StoreBe16(p + 4, kSnapshotVersion);
  StoreBe16(p + 6, 0);
  StoreBe64(p + 12, static_cast<uint64_t>(next_offset_.value()));
  StoreBe32(p + 20, static_cast<uint32_t>(producers_.size()));
  p += kSnapshotHeaderBytes;
  for (const auto& [id, e] : producers_) {
    StoreBe64(p, static_cast<uint64_t>(id.value()));
    StoreBe16(p + 8, static_cast<uint16_t>(e.epoch.value()));
    StoreBe64(p + 10, static_cast<uint64_t>(e.last_timestamp_ms));
    StoreBe64(p + 18, static_cast<uint64_t>(e.txn_first_offset.value_or(Offset(-1)).value()));
    p[26] = static_cast<std::byte>(e.batch_count);
    p += kEntryBytes;
    for (uint8_t i = 0; i < e.batch_count; ++i) {
      const ProducerBatchMeta& m = e.batches[i];
      StoreBe32(p, static_cast<uint32_t>(m.first_sequence));
      StoreBe32(p + 4, static_cast<uint32_t>(m.last_sequence));
      StoreBe64(p + 8, static_cast<uint64_t>(m.first_offset.value()));
      StoreBe64(p + 16, static_cast<uint64_t>(m.last_offset.value()));
      StoreBe64(p + 24, static_cast<uint64_t>(m.timestamp_ms));
      p += kBatchMetaBytes;
    }
  }
  RUNNEL_ASSERT(p == out.data() + out.size(), "snapshot size miscomputed");
  StoreBe32(out.data() + kSnapshotCrcOffset,
            crc32c::Value(out.data() + kSnapshotCrcCoverageOffset,
                          out.size() - kSnapshotCrcCoverageOffset));
  return out;
}

Result<ProducerStateTable> ProducerStateTable::DecodeSnapshot(std::span<const std::byte> bytes,
                                                              ProducerStateLimits limits) {
  if (bytes.size() < kSnapshotHeaderBytes) {
    return Status::Corruption(fmt::format("producer snapshot of {} bytes", bytes.size()));
  }
  const std::byte* p = bytes.data();
  if (std::memcmp(p, kSnapshotMagic, sizeof kSnapshotMagic) != 0) {
    return Status::Corruption("producer snapshot: bad magic");
  }
  const uint16_t version = LoadBe16(p + 4);
  if (version > kSnapshotVersion) {
    return Status::Unsupported(fmt::format("producer snapshot version {}", version));
  }
  if (version == 0) return Status::Corruption("producer snapshot version 0");
  const uint32_t stored = LoadBe32(p + kSnapshotCrcOffset);
  const uint32_t computed =
      crc32c::Value(p + kSnapshotCrcCoverageOffset, bytes.size() - kSnapshotCrcCoverageOffset);
  if (stored != computed) {
    return Status::Corruption(
        fmt::format("producer snapshot CRC mismatch: stored {:#010x}, "
                    "computed {:#010x}",
                    stored, computed));
  }
  if (LoadBe16(p + 6) != 0) return Status::Corruption("producer snapshot: unknown flags");

  ProducerStateTable table(limits);
  table.next_offset_ = Offset(static_cast<int64_t>(LoadBe64(p + 12)));
  if (table.next_offset_.value() < 0) return Status::Corruption("producer snapshot: bad offset");
  const uint32_t count = LoadBe32(p + 20);
  if (count > limits.producers_max) {
    return Status::Limit(fmt::format("producer snapshot holds {} producers, producers_max {}",
                                     count, limits.producers_max));
  }
  ByteReader r(bytes.subspan(kSnapshotHeaderBytes));
  if (count > r.remaining() / kEntryBytes) {
    return Status::Corruption(fmt::format("producer snapshot: {} producers cannot fit", count));
  }
  auto corrupt = [](uint32_t i, std::string_view what) {
    return Status::Corruption(fmt::format("producer snapshot entry {}: {}", i, what));
  };
  int64_t previous_id = -1;
  for (uint32_t i = 0; i < count; ++i) {
    uint64_t id = 0;
    uint16_t epoch = 0;
    uint64_t last_timestamp = 0;
    uint64_t txn_first = 0;
    uint8_t batch_count = 0;
    if (!r.ReadBe64(id) || !r.ReadBe16(epoch) || !r.ReadBe64(last_timestamp) ||
        !r.ReadBe64(txn_first) || !r.ReadU8(batch_count)) {
      return corrupt(i, "truncated");
    }
    const int64_t sid = static_cast<int64_t>(id);
    if (sid <= previous_id) return corrupt(i, "producer ids not increasing");
    previous_id = sid;
    if (batch_count > kBatchesRetained) return corrupt(i, "too many batches");
    const int64_t stxn = static_cast<int64_t>(txn_first);
    if (stxn < -1 || stxn >= table.next_offset_.value())
      return corrupt(i, "bad transaction offset");
    ProducerEntry e;
    e.epoch = ProducerEpoch(static_cast<int16_t>(epoch));
    e.last_timestamp_ms = static_cast<int64_t>(last_timestamp);
    if (stxn >= 0) e.txn_first_offset = Offset(stxn);
    int64_t previous_last = -1;
    for (uint8_t b = 0; b < batch_count; ++b) {
      uint32_t first_seq = 0;
      uint32_t last_seq = 0;
      uint64_t first_offset = 0;
      uint64_t last_offset = 0;
      uint64_t timestamp = 0;
      if (!r.ReadBe32(first_seq) || !r.ReadBe32(last_seq) || !r.ReadBe64(first_offset) ||
          !r.ReadBe64(last_offset) || !r.ReadBe64(timestamp)) {
        return corrupt(i, "truncated batch");
      }
      const int64_t fo = static_cast<int64_t>(first_offset);
      const int64_t lo = static_cast<int64_t>(last_offset);
      if (fo <= previous_last || lo < fo || lo >= table.next_offset_.value()) {
        return corrupt(i, "batch offsets out of order");
      }
      previous_last = lo;
      e.batches[b] = ProducerBatchMeta{
          .first_sequence = static_cast<int32_t>(first_seq),
          .last_sequence = static_cast<int32_t>(last_seq),
          .first_offset = Offset(fo),
          .last_offset = Offset(lo),
          .timestamp_ms = static_cast<int64_t>(timestamp),
      };
    }
    e.batch_count = batch_count;
    table.producers_.emplace_hint(table.producers_.end(), ProducerId(sid), e);
  }
  if (r.remaining() != 0) {
    return Status::Corruption(fmt::format("producer snapshot: {} trailing bytes", r.remaining()));
  }
  return table;
}

}  // namespace runnel::engine
