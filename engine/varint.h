// Byte order and varints for the Kafka record format: big-endian fixed-width integers and
// zig-zag varints (int32 in at most 5 bytes, int64 in at most 10), plus ByteReader, a bounded
// cursor that never reads past its end. Deliberately tiny and private to engine/; the broker's
// protocol codecs have their own.
#pragma once

#include <bit>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>

namespace runnel::engine {

static_assert(std::endian::native == std::endian::little,
              "the engine assumes a little-endian host");

inline constexpr size_t kVarint32BytesMax = 5;
inline constexpr size_t kVarint64BytesMax = 10;

inline uint16_t LoadBe16(const std::byte* p) {
  uint16_t v;
  std::memcpy(&v, p, sizeof v);
  return __builtin_bswap16(v);
}
inline uint32_t LoadBe32(const std::byte* p) {
  uint32_t v;
  std::memcpy(&v, p, sizeof v);
  return __builtin_bswap32(v);
}
inline uint64_t LoadBe64(const std::byte* p) {
  uint64_t v;
  std::memcpy(&v, p, sizeof v);
  return __builtin_bswap64(v);
}
inline void StoreBe16(std::byte* p, uint16_t v) {
  v = __builtin_bswap16(v);
  std::memcpy(p, &v, sizeof v);
}
inline void StoreBe32(std::byte* p, uint32_t v) {
  v = __builtin_bswap32(v);
  std::memcpy(p, &v, sizeof v);
}
inline void StoreBe64(std::byte* p, uint64_t v) {
  v = __builtin_bswap64(v);
  std::memcpy(p, &v, sizeof v);
}

inline constexpr uint32_t ZigZagEncode32(int32_t v) {
  return (static_cast<uint32_t>(v) << 1) ^ static_cast<uint32_t>(v >> 31);
}
inline constexpr uint64_t ZigZagEncode64(int64_t v) {
  return (static_cast<uint64_t>(v) << 1) ^ static_cast<uint64_t>(v >> 63);
}
inline constexpr int32_t ZigZagDecode32(uint32_t v) {
  return static_cast<int32_t>((v >> 1) ^ (~(v & 1) + 1));
}
inline constexpr int64_t ZigZagDecode64(uint64_t v) {
  return static_cast<int64_t>((v >> 1) ^ (~(v & 1) + 1));
}

// Bytes the zig-zag varint encoding of `v` takes.
inline constexpr size_t VarintSize64(int64_t v) {
  uint64_t u = ZigZagEncode64(v);
  size_t n = 1;
  while (u >= 0x80) {
    u >>= 7;
    ++n;
  }
  return n;
}
inline constexpr size_t VarintSize32(int32_t v) {
  uint32_t u = ZigZagEncode32(v);
  size_t n = 1;
  while (u >= 0x80) {
    u >>= 7;
    ++n;
  }
  return n;
}

// Writes the zig-zag varint of `v` at `dst` (room for kVarint*BytesMax); returns the end.
inline std::byte* PutVarint64(std::byte* dst, int64_t v) {
  uint64_t u = ZigZagEncode64(v);
  while (u >= 0x80) {
    *dst++ = static_cast<std::byte>(u | 0x80);
    u >>= 7;
  }
  *dst++ = static_cast<std::byte>(u);
  return dst;
}
inline std::byte* PutVarint32(std::byte* dst, int32_t v) {
  uint32_t u = ZigZagEncode32(v);
  while (u >= 0x80) {
    *dst++ = static_cast<std::byte>(u | 0x80);
    u >>= 7;
  }
  *dst++ = static_cast<std::byte>(u);
  return dst;
}

// A cursor over [begin, end). Every read checks the bounds first; a failed read returns false
// and leaves the cursor where it was. Varints longer than their maximum, or whose last byte
// carries bits beyond the type's width, are malformed.
class ByteReader {
 public:
  ByteReader(const std::byte* begin, const std::byte* end) : p_(begin), end_(end) {}
  explicit ByteReader(std::span<const std::byte> s) : p_(s.data()), end_(s.data() + s.size()) {}

  size_t remaining() const { return static_cast<size_t>(end_ - p_); }
  const std::byte* position() const { return p_; }

  bool ReadU8(uint8_t& out) {
    if (remaining() < 1) return false;
    out = static_cast<uint8_t>(*p_++);
    return true;
  }
  bool ReadBe16(uint16_t& out) {
    if (remaining() < 2) return false;
    out = LoadBe16(p_);
    p_ += 2;
    return true;
  }
  bool ReadBe32(uint32_t& out) {
    if (remaining() < 4) return false;
    out = LoadBe32(p_);
    p_ += 4;
    return true;
  }
  bool ReadBe64(uint64_t& out) {
    if (remaining() < 8) return false;
    out = LoadBe64(p_);
    p_ += 8;
    return true;
  }

  bool ReadVarint32(int32_t& out) {
    uint32_t u = 0;
    const std::byte* p = p_;
    for (size_t i = 0; i < kVarint32BytesMax; ++i) {
      if (p == end_) return false;
      const uint32_t b = static_cast<uint8_t>(*p++);
      if (i == kVarint32BytesMax - 1 && b > 0x0f) return false;
      u |= (b & 0x7f) << (7 * i);
      if (b < 0x80) {
        p_ = p;
        out = ZigZagDecode32(u);
        return true;
      }
    }
    return false;
  }
  bool ReadVarint64(int64_t& out) {
    uint64_t u = 0;
    const std::byte* p = p_;
    for (size_t i = 0; i < kVarint64BytesMax; ++i) {
      if (p == end_) return false;
      const uint64_t b = static_cast<uint8_t>(*p++);
      if (i == kVarint64BytesMax - 1 && b > 0x01) return false;
      u |= (b & 0x7f) << (7 * i);
      if (b < 0x80) {
        p_ = p;
        out = ZigZagDecode64(u);
        return true;
      }
    }
    return false;
  }

  // Takes the next `n` bytes as a span.
  bool ReadBytes(size_t n, std::span<const std::byte>& out) {
    if (remaining() < n) return false;
    out = std::span<const std::byte>(p_, n);
    p_ += n;
    return true;
  }
  bool Skip(size_t n) {
    if (remaining() < n) return false;
    p_ += n;
    return true;
  }

 private:
  const std::byte* p_;
  const std::byte* end_;
};

}  // namespace runnel::engine
