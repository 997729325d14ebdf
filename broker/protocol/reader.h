// Reader: bounds-checked decoding of Kafka wire primitives from one contiguous buffer.
//
// Every read checks the remaining length first and returns a Corruption Status instead of
// reading past the end; nothing here asserts on input bytes. Big-endian fixed-width integers,
// unsigned varints (at most 5 bytes for 32 bits, 10 for 64), zig-zag varints, and the two
// length-prefix styles: classic (int16 for strings, int32 for bytes/arrays, -1 = null) and
// compact (unsigned varint of length + 1, 0 = null) used by flexible versions.
// A Reader does not own its bytes; spans it returns (records) point into them.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "broker/protocol/wire_types.h"
#include "io/status.h"

namespace runnel::protocol {

class Reader {
 public:
  Reader() = default;
  explicit Reader(std::span<const uint8_t> data) : data_(data) {}

  size_t remaining() const { return data_.size() - pos_; }
  size_t position() const { return pos_; }
  bool empty() const { return pos_ == data_.size(); }
  // The not-yet-read bytes.
  std::span<const uint8_t> rest() const { return data_.subspan(pos_); }

  Status ReadInt8(int8_t* out) { return ReadFixed(out); }
  Status ReadInt16(int16_t* out) { return ReadFixed(out); }
  Status ReadInt32(int32_t* out) { return ReadFixed(out); }
  Status ReadInt64(int64_t* out) { return ReadFixed(out); }
  Status ReadUint16(uint16_t* out) { return ReadFixed(out); }
  Status ReadUint32(uint32_t* out) { return ReadFixed(out); }
  Status ReadFloat64(double* out);
  // Any non-zero byte is true, as in Kafka.
  Status ReadBool(bool* out);
  Status ReadUuid(Uuid* out);

  Status ReadUvarint(uint32_t* out);   // <= 5 bytes
  Status ReadUvarlong(uint64_t* out);  // <= 10 bytes
  Status ReadVarint(int32_t* out);     // zig-zag, <= 5 bytes
  Status ReadVarlong(int64_t* out);    // zig-zag, <= 10 bytes

  // Takes the next n bytes as a view (no copy).
  Status ReadSpan(size_t n, std::span<const uint8_t>* out);
  Status Skip(size_t n);

  // Length prefixes. *len is -1 for null; any other negative length, or a length longer than
  // the remaining bytes, is Corruption. An array length must also not exceed the remaining
  // bytes (as in Kafka), which bounds what a hostile count can make us allocate.
  Status ReadStringLength(bool compact, int32_t* len);
  Status ReadBytesLength(bool compact, int32_t* len);
  Status ReadArrayLength(bool compact, int32_t* len);

  // `what` names the field in error messages. Null is an error for the non-nullable forms.
  Status ReadString(bool compact, std::string* out, const char* what);
  Status ReadNullableString(bool compact, std::optional<std::string>* out);
  Status ReadBytes(bool compact, std::vector<uint8_t>* out, const char* what);
  Status ReadNullableBytes(bool compact, std::optional<std::vector<uint8_t>>* out);
  Status ReadRecords(bool compact, RecordsView* out);

 private:
  template <typename T>
  Status ReadFixed(T* out) {
    if (remaining() < sizeof(T)) return Truncated(sizeof(T));
    using U = std::make_unsigned_t<T>;
    U v = 0;
    for (size_t i = 0; i < sizeof(T); ++i) v = static_cast<U>((v << 8) | data_[pos_ + i]);
    pos_ += sizeof(T);
    *out = static_cast<T>(v);
    return Status::Ok();
  }
  Status Truncated(size_t wanted) const;
  Status CheckLength(int64_t len, const char* kind) const;
  Status ReadLength(bool compact, bool int16_prefix, const char* kind, int32_t* len);

  std::span<const uint8_t> data_;
  size_t pos_ = 0;
};

}  // namespace runnel::protocol
