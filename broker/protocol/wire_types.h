// Value types shared by every generated codec: Uuid, RecordsView (a `records` field as a byte
// view, never a copy) and TaggedField (a tagged field this build does not know, kept as raw
// bytes so that decode -> encode is lossless).
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>
#include <string>
#include <vector>

namespace runnel::protocol {

// A Kafka uuid: 16 bytes, most significant first. The zero uuid is the default.
struct Uuid {
  std::array<uint8_t, 16> bytes{};

  bool IsZero() const {
    for (uint8_t b : bytes) {
      if (b != 0) return false;
    }
    return true;
  }
  // 32 lowercase hex digits (no dashes); Kafka prints the base64 form, tests want hex.
  std::string ToHex() const;
  bool operator==(const Uuid&) const = default;
};

// A `records` field: bytes owned by someone else. Decoding points it into the request
// buffer, so the buffer must outlive the decoded message; encoding references it from the
// Writer without copying, so the bytes must outlive the Writer's output. Null (the schema
// default) and empty are different values.
class RecordsView {
 public:
  RecordsView() = default;  // null
  static RecordsView Null() { return RecordsView(); }
  static RecordsView Of(std::span<const uint8_t> bytes) { return RecordsView(bytes); }

  bool is_null() const { return null_; }
  const uint8_t* data() const { return bytes_.data(); }
  size_t size() const { return bytes_.size(); }
  std::span<const uint8_t> bytes() const { return bytes_; }

  // Content equality (two views of equal bytes are equal), as a test would expect.
  bool operator==(const RecordsView& o) const {
    return null_ == o.null_ && bytes_.size() == o.bytes_.size() &&
           (bytes_.empty() || std::memcmp(bytes_.data(), o.bytes_.data(), bytes_.size()) == 0);
  }

 private:
  explicit RecordsView(std::span<const uint8_t> bytes) : bytes_(bytes), null_(false) {}
  std::span<const uint8_t> bytes_;
  bool null_ = true;
};

// A tagged field the decoder did not recognise (unknown tag, or a tag this version does not
// define). Encoding writes it back in tag order among the known ones.
struct TaggedField {
  uint32_t tag = 0;
  std::vector<uint8_t> data;
  bool operator==(const TaggedField&) const = default;
};

}  // namespace runnel::protocol
