#include "broker/protocol/writer.h"

#include <fmt/format.h>

#include <bit>
#include <cstring>
#include <limits>

namespace runnel::protocol {

void Writer::WriteFloat64(double v) { WriteFixed(std::bit_cast<uint64_t>(v)); }

void Writer::WriteUvarint(uint32_t v) {
  while (v >= 0x80) {
    buf_.push_back(static_cast<uint8_t>(v | 0x80));
    v >>= 7;
  }
  buf_.push_back(static_cast<uint8_t>(v));
}

void Writer::WriteUvarlong(uint64_t v) {
  while (v >= 0x80) {
    buf_.push_back(static_cast<uint8_t>(v | 0x80));
    v >>= 7;
  }
  buf_.push_back(static_cast<uint8_t>(v));
}

void Writer::WriteNullLength(bool compact, bool classic_int16) {
  if (compact) {
    WriteUvarint(0);
  } else if (classic_int16) {
    WriteInt16(-1);
  } else {
    WriteInt32(-1);
  }
}

Status Writer::WriteString(bool compact, std::string_view s, const char* what) {
  if (compact) {
    if (s.size() >= std::numeric_limits<uint32_t>::max()) {
      return Status::InvalidArgument(fmt::format("string {} too long: {} bytes", what, s.size()));
    }
    WriteUvarint(static_cast<uint32_t>(s.size() + 1));
  } else {
    if (s.size() > static_cast<size_t>(std::numeric_limits<int16_t>::max())) {
      return Status::InvalidArgument(
          fmt::format("string {} too long for an int16 length: {} bytes", what, s.size()));
    }
    WriteInt16(static_cast<int16_t>(s.size()));
  }
  buf_.insert(buf_.end(), s.begin(), s.end());
  return Status::Ok();
}

Status Writer::WriteBytes(bool compact, std::span<const uint8_t> b, const char* what) {
  RUNNEL_TRY(WriteArrayLength(compact, b.size(), what));
  WriteRaw(b);
  return Status::Ok();
}

Status Writer::WriteArrayLength(bool compact, size_t n, const char* what) {
  if (n > static_cast<size_t>(std::numeric_limits<int32_t>::max()) - 1) {
    return Status::InvalidArgument(fmt::format("{} too long: {} elements", what, n));
  }
  if (compact) {
    WriteUvarint(static_cast<uint32_t>(n + 1));
  } else {
    WriteInt32(static_cast<int32_t>(n));
  }
  return Status::Ok();
}

Status Writer::WriteRecords(bool compact, const RecordsView& records, const char* what) {
  if (records.is_null()) {
    WriteNullBytes(compact);
    return Status::Ok();
  }
  RUNNEL_TRY(WriteArrayLength(compact, records.size(), what));
  if (records.size() < kBorrowBytesMin) {
    WriteRaw(records.bytes());
  } else {
    borrowed_.push_back({buf_.size(), records.bytes()});
    borrowed_bytes_ += records.size();
  }
  return Status::Ok();
}

void Writer::PatchInt32(size_t offset, int32_t v) {
  RUNNEL_ASSERT(offset + 4 <= buf_.size(), "patch at {} past owned bytes {}", offset, buf_.size());
  auto u = static_cast<uint32_t>(v);
  for (size_t i = 0; i < 4; ++i) buf_[offset + i] = static_cast<uint8_t>(u >> (24 - 8 * i));
}

std::vector<std::span<const uint8_t>> Writer::Slices() const {
  std::vector<std::span<const uint8_t>> out;
  out.reserve(2 * borrowed_.size() + 1);
  size_t owned_pos = 0;
  std::span<const uint8_t> owned(buf_);
  for (const Borrowed& b : borrowed_) {
    if (b.owned_offset > owned_pos)
      out.push_back(owned.subspan(owned_pos, b.owned_offset - owned_pos));
    owned_pos = b.owned_offset;
    if (!b.bytes.empty()) out.push_back(b.bytes);
  }
  if (owned_pos < buf_.size()) out.push_back(owned.subspan(owned_pos));
  return out;
}

std::vector<uint8_t> Writer::Flatten() const {
  std::vector<uint8_t> out;
  out.reserve(size());
  for (std::span<const uint8_t> s : Slices()) out.insert(out.end(), s.begin(), s.end());
  return out;
}

void Writer::Clear() {
  buf_.clear();
  borrowed_.clear();
  borrowed_bytes_ = 0;
}

}  // namespace runnel::protocol
