#include "broker/protocol/reader.h"

#include <fmt/format.h>

#include <bit>
#include <cstring>

namespace runnel::protocol {

std::string Uuid::ToHex() const {
  std::string out;
  out.reserve(32);
  for (uint8_t b : bytes) out += fmt::format("{:02x}", b);
  return out;
}

Status Reader::Truncated(size_t wanted) const {
  return Status::Corruption(fmt::format("truncated input: need {} bytes at offset {}, {} left",
                                        wanted, pos_, remaining()));
}

Status Reader::ReadFloat64(double* out) {
  uint64_t bits = 0;
  RUNNEL_TRY(ReadFixed(&bits));
  *out = std::bit_cast<double>(bits);
  return Status::Ok();
}

Status Reader::ReadBool(bool* out) {
  int8_t b = 0;
  RUNNEL_TRY(ReadFixed(&b));
  *out = b != 0;
  return Status::Ok();
}

Status Reader::ReadUuid(Uuid* out) {
  if (remaining() < 16) return Truncated(16);
  std::memcpy(out->bytes.data(), data_.data() + pos_, 16);
  pos_ += 16;
  return Status::Ok();
}

Status Reader::ReadUvarint(uint32_t* out) {
  uint32_t value = 0;
  for (int i = 0; i < 5; ++i) {
    if (empty()) return Truncated(1);
    uint8_t b = data_[pos_++];
    // The fifth byte may only carry the top 4 bits of a 32-bit value.
    if (i == 4 && (b & 0xf0) != 0) {
      return Status::Corruption(fmt::format("varint over 32 bits at offset {}", pos_ - 5));
    }
    value |= static_cast<uint32_t>(b & 0x7f) << (7 * i);
    if ((b & 0x80) == 0) {
      *out = value;
      return Status::Ok();
    }
  }
  return Status::Corruption(fmt::format("varint longer than 5 bytes at offset {}", pos_ - 5));
}

Status Reader::ReadUvarlong(uint64_t* out) {
  uint64_t value = 0;
  for (int i = 0; i < 10; ++i) {
    if (empty()) return Truncated(1);
    uint8_t b = data_[pos_++];
    if (i == 9 && (b & 0xfe) != 0) {
      return Status::Corruption(fmt::format("varlong over 64 bits at offset {}", pos_ - 10));
    }
    value |= static_cast<uint64_t>(b & 0x7f) << (7 * i);
    if ((b & 0x80) == 0) {
      *out = value;
      return Status::Ok();
    }
  }
  return Status::Corruption(fmt::format("varlong longer than 10 bytes at offset {}", pos_ - 10));
}

Status Reader::ReadVarint(int32_t* out) {
  uint32_t raw = 0;
  RUNNEL_TRY(ReadUvarint(&raw));
  *out = static_cast<int32_t>((raw >> 1) ^ (~(raw & 1) + 1));
  return Status::Ok();
}

Status Reader::ReadVarlong(int64_t* out) {
  uint64_t raw = 0;
  RUNNEL_TRY(ReadUvarlong(&raw));
  *out = static_cast<int64_t>((raw >> 1) ^ (~(raw & 1) + 1));
  return Status::Ok();
}

Status Reader::ReadSpan(size_t n, std::span<const uint8_t>* out) {
  if (remaining() < n) return Truncated(n);
  *out = data_.subspan(pos_, n);
  pos_ += n;
  return Status::Ok();
}

Status Reader::Skip(size_t n) {
  if (remaining() < n) return Truncated(n);
  pos_ += n;
  return Status::Ok();
}

Status Reader::CheckLength(int64_t len, const char* kind) const {
  if (len < -1) {
    return Status::Corruption(fmt::format("negative {} length {} at offset {}", kind, len, pos_));
  }
  if (len > static_cast<int64_t>(remaining())) {
    return Status::Corruption(fmt::format("{} length {} past the end ({} bytes left) at offset {}",
                                          kind, len, remaining(), pos_));
  }
  return Status::Ok();
}

// A length prefix: an unsigned varint holding length + 1 (compact), or a signed int16 (strings)
// or int32 (bytes, arrays); then CheckLength.
Status Reader::ReadLength(bool compact, bool int16_prefix, const char* kind, int32_t* len) {
  int64_t n = 0;
  if (compact) {
    uint32_t raw = 0;
    RUNNEL_TRY(ReadUvarint(&raw));
    n = static_cast<int64_t>(raw) - 1;
  } else if (int16_prefix) {
    int16_t raw = 0;
    RUNNEL_TRY(ReadInt16(&raw));
    n = raw;
  } else {
    int32_t raw = 0;
    RUNNEL_TRY(ReadInt32(&raw));
    n = raw;
  }
  RUNNEL_TRY(CheckLength(n, kind));
  *len = static_cast<int32_t>(n);
  return Status::Ok();
}

Status Reader::ReadStringLength(bool compact, int32_t* len) {
  return ReadLength(compact, /*int16_prefix=*/true, "string", len);
}

Status Reader::ReadBytesLength(bool compact, int32_t* len) {
  return ReadLength(compact, /*int16_prefix=*/false, "bytes", len);
}

Status Reader::ReadArrayLength(bool compact, int32_t* len) {
  return ReadLength(compact, /*int16_prefix=*/false, "array", len);
}

Status Reader::ReadString(bool compact, std::string* out, const char* what) {
  int32_t len = 0;
  RUNNEL_TRY(ReadStringLength(compact, &len));
  if (len < 0) return Status::Corruption(fmt::format("non-nullable string {} is null", what));
  out->assign(reinterpret_cast<const char*>(data_.data() + pos_), static_cast<size_t>(len));
  pos_ += static_cast<size_t>(len);
  return Status::Ok();
}

Status Reader::ReadNullableString(bool compact, std::optional<std::string>* out) {
  int32_t len = 0;
  RUNNEL_TRY(ReadStringLength(compact, &len));
  if (len < 0) {
    out->reset();
    return Status::Ok();
  }
  out->emplace(reinterpret_cast<const char*>(data_.data() + pos_), static_cast<size_t>(len));
  pos_ += static_cast<size_t>(len);
  return Status::Ok();
}

Status Reader::ReadBytes(bool compact, std::vector<uint8_t>* out, const char* what) {
  int32_t len = 0;
  RUNNEL_TRY(ReadBytesLength(compact, &len));
  if (len < 0) return Status::Corruption(fmt::format("non-nullable bytes {} is null", what));
  out->assign(data_.data() + pos_, data_.data() + pos_ + len);
  pos_ += static_cast<size_t>(len);
  return Status::Ok();
}

Status Reader::ReadNullableBytes(bool compact, std::optional<std::vector<uint8_t>>* out) {
  int32_t len = 0;
  RUNNEL_TRY(ReadBytesLength(compact, &len));
  if (len < 0) {
    out->reset();
    return Status::Ok();
  }
  out->emplace(data_.data() + pos_, data_.data() + pos_ + len);
  pos_ += static_cast<size_t>(len);
  return Status::Ok();
}

Status Reader::ReadRecords(bool compact, RecordsView* out) {
  int32_t len = 0;
  RUNNEL_TRY(ReadBytesLength(compact, &len));
  if (len < 0) {
    *out = RecordsView::Null();
    return Status::Ok();
  }
  *out = RecordsView::Of(data_.subspan(pos_, static_cast<size_t>(len)));
  pos_ += static_cast<size_t>(len);
  return Status::Ok();
}

}  // namespace runnel::protocol
