#include "sim/checkers/record_log.h"

#include <fmt/format.h>

#include <algorithm>
#include <cstring>

namespace runnel::sim {
namespace {

template <typename T>
T Load(std::span<const std::byte> b, size_t at) {
  T v;
  std::memcpy(&v, b.data() + at, sizeof(T));
  return v;
}

template <typename T>
void Store(std::vector<std::byte>& b, size_t at, T v) {
  std::memcpy(b.data() + at, &v, sizeof(T));
}

}  // namespace

uint64_t RecordChecksum(uint64_t seq, std::span<const std::byte> payload) {
  uint64_t h = 0xcbf29ce484222325ULL;
  auto mix = [&h](uint8_t byte) {
    h ^= byte;
    h *= 0x100000001b3ULL;
  };
  for (int i = 0; i < 8; i++) mix(static_cast<uint8_t>(seq >> (8 * i)));
  for (std::byte b : payload) mix(static_cast<uint8_t>(b));
  return h;
}

std::vector<std::byte> EncodeRecord(uint64_t seq, std::span<const std::byte> payload) {
  std::vector<std::byte> out(kRecordHeaderBytes + payload.size());
  Store<uint32_t>(out, 0, kRecordMagic);
  Store<uint32_t>(out, 4, static_cast<uint32_t>(payload.size()));
  Store<uint64_t>(out, 8, seq);
  Store<uint64_t>(out, 16, RecordChecksum(seq, payload));
  std::memcpy(out.data() + kRecordHeaderBytes, payload.data(), payload.size());
  return out;
}

Status CheckLogFile(const LogFileModel& model, std::span<const std::byte> content,
                    bool rot_possible, LogCheck* out) {
  *out = LogCheck{};
  const uint64_t synced = model.synced_bytes;
  if (content.size() < synced) {
    return Status::Corruption(fmt::format(
        "synced bytes lost: {} bytes were synced, the file has {}", synced, content.size()));
  }
  if (!rot_possible) {
    auto [a, b] = std::mismatch(content.begin(), content.begin() + synced, model.written.begin());
    if (a != content.begin() + synced) {
      return Status::Corruption(
          fmt::format("synced prefix differs at byte {} of {}", a - content.begin(), synced));
    }
  }
  size_t pos = 0;
  while (pos + kRecordHeaderBytes <= content.size()) {
    const uint32_t magic = Load<uint32_t>(content, pos);
    const uint32_t len = Load<uint32_t>(content, pos + 4);
    const uint64_t seq = Load<uint64_t>(content, pos + 8);
    const uint64_t sum = Load<uint64_t>(content, pos + 16);
    const size_t end = pos + kRecordHeaderBytes + len;
    const bool framed = magic == kRecordMagic && end <= content.size();
    if (!framed || RecordChecksum(seq, content.subspan(pos + kRecordHeaderBytes, len)) != sum) {
      // The end of what survived (a torn or dropped tail), or corruption the checksum caught.
      if (pos < synced) out->corruption_detected = true;
      break;
    }
    if (end > model.written.size() ||
        !std::equal(content.begin() + pos, content.begin() + end, model.written.begin() + pos)) {
      return Status::Corruption(fmt::format(
          "record seq {} at byte {} passes its checksum but was never written there", seq, pos));
    }
    out->valid_records++;
    pos = end;
  }
  if (!rot_possible && pos < synced) {
    return Status::Corruption(
        fmt::format("records stop at byte {} inside the synced prefix ({})", pos, synced));
  }
  return Status::Ok();
}

}  // namespace runnel::sim
