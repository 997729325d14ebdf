// Writer: encoding of Kafka wire primitives into an owned byte buffer plus borrowed slices.
//
// Fixed-width integers are big-endian. `records` bytes at least kBorrowBytesMin long are not
// copied: the Writer records a reference to the caller's bytes and the output becomes a list
// of slices (owned, borrowed, owned, ...) ready for writev/sendmsg. bytes_copied() counts the
// bytes written into the owned buffer, so a benchmark can show that records passed through.
// Writes that can be out of range for the wire (a classic string over 32767 bytes) return a
// Status; everything else cannot fail.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string_view>
#include <vector>

#include "broker/protocol/wire_types.h"
#include "io/status.h"

namespace runnel::protocol {

class Writer {
 public:
  // Records shorter than this are copied: a slice costs more than copying a few bytes.
  static constexpr size_t kBorrowBytesMin = 256;

  Writer() = default;
  explicit Writer(size_t reserve_bytes) { buf_.reserve(reserve_bytes); }
  Writer(const Writer&) = delete;
  Writer& operator=(const Writer&) = delete;

  void WriteInt8(int8_t v) { buf_.push_back(static_cast<uint8_t>(v)); }
  void WriteInt16(int16_t v) { WriteFixed(static_cast<uint16_t>(v)); }
  void WriteInt32(int32_t v) { WriteFixed(static_cast<uint32_t>(v)); }
  void WriteInt64(int64_t v) { WriteFixed(static_cast<uint64_t>(v)); }
  void WriteUint16(uint16_t v) { WriteFixed(v); }
  void WriteUint32(uint32_t v) { WriteFixed(v); }
  void WriteFloat64(double v);
  void WriteBool(bool v) { buf_.push_back(v ? 1 : 0); }
  void WriteUuid(const Uuid& v) { buf_.insert(buf_.end(), v.bytes.begin(), v.bytes.end()); }

  void WriteUvarint(uint32_t v);
  void WriteUvarlong(uint64_t v);
  void WriteVarint(int32_t v) {
    WriteUvarint((static_cast<uint32_t>(v) << 1) ^ static_cast<uint32_t>(v >> 31));
  }
  void WriteVarlong(int64_t v) {
    WriteUvarlong((static_cast<uint64_t>(v) << 1) ^ static_cast<uint64_t>(v >> 63));
  }
  // Copies bytes into the owned buffer.
  void WriteRaw(std::span<const uint8_t> bytes) {
    buf_.insert(buf_.end(), bytes.begin(), bytes.end());
  }

  // Length-prefixed forms; `what` names the field in errors. Null uses -1 (classic) or 0
  // (compact).
  Status WriteString(bool compact, std::string_view s, const char* what);
  void WriteNullString(bool compact) { WriteNullLength(compact, /*classic_int16=*/true); }
  Status WriteBytes(bool compact, std::span<const uint8_t> b, const char* what);
  void WriteNullBytes(bool compact) { WriteNullLength(compact, false); }
  Status WriteArrayLength(bool compact, size_t n, const char* what);
  void WriteNullArray(bool compact) { WriteNullLength(compact, false); }
  Status WriteRecords(bool compact, const RecordsView& records, const char* what);

  // Overwrites 4 bytes already written at `offset` of the owned stream (a frame size).
  void PatchInt32(size_t offset, int32_t v);

  // Total bytes written (owned + borrowed).
  size_t size() const { return borrowed_bytes_ + buf_.size(); }
  size_t bytes_copied() const { return buf_.size(); }
  size_t bytes_borrowed() const { return borrowed_bytes_; }
  // The output in order. Valid until the next write.
  std::vector<std::span<const uint8_t>> Slices() const;
  // The output as one contiguous copy (tests, small messages).
  std::vector<uint8_t> Flatten() const;
  void Clear();

 private:
  template <typename U>
  void WriteFixed(U v) {
    uint8_t tmp[sizeof(U)];
    for (size_t i = 0; i < sizeof(U); ++i)
      tmp[i] = static_cast<uint8_t>(v >> (8 * (sizeof(U) - 1 - i)));
    buf_.insert(buf_.end(), tmp, tmp + sizeof(U));
  }
  void WriteNullLength(bool compact, bool classic_int16);

  struct Borrowed {
    size_t owned_offset;  // position in buf_ where these bytes go
    std::span<const uint8_t> bytes;
  };
  std::vector<uint8_t> buf_;
  std::vector<Borrowed> borrowed_;
  size_t borrowed_bytes_ = 0;
};

// Sizes of the encodings above, for the generated Size() functions.
constexpr size_t UvarintSize(uint64_t v) {
  size_t n = 1;
  while (v >= 0x80) {
    v >>= 7;
    ++n;
  }
  return n;
}
constexpr size_t VarintSize(int32_t v) {
  return UvarintSize((static_cast<uint32_t>(v) << 1) ^ static_cast<uint32_t>(v >> 31));
}
constexpr size_t VarlongSize(int64_t v) {
  return UvarintSize((static_cast<uint64_t>(v) << 1) ^ static_cast<uint64_t>(v >> 63));
}
// Length prefix of a string (classic int16) or bytes/array (classic int32) of n elements.
constexpr size_t StringPrefixSize(bool compact, size_t n) {
  return compact ? UvarintSize(static_cast<uint64_t>(n) + 1) : 2;
}
constexpr size_t LengthPrefixSize(bool compact, size_t n) {
  return compact ? UvarintSize(static_cast<uint64_t>(n) + 1) : 4;
}

}  // namespace runnel::protocol
