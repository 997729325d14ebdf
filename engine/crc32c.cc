#include "engine/crc32c.h"

#include <immintrin.h>
#include <nmmintrin.h>

#include <array>
#include <atomic>
#include <cstring>

#include "io/assert.h"

namespace runnel::engine::crc32c {
namespace {

// Everything below works on the raw CRC register; the public functions apply the standard
// pre- and post-inversion (init 0xFFFFFFFF, final xor 0xFFFFFFFF).
constexpr uint32_t kPoly = 0x82F63B78;

using Table = std::array<uint32_t, 256>;

// Slicing-by-8: table[k][b] is the register contribution of byte b followed by k zero bytes.
constexpr std::array<Table, 8> MakeSlicingTables() {
  std::array<Table, 8> t{};
  for (uint32_t b = 0; b < 256; ++b) {
    uint32_t r = b;
    for (int bit = 0; bit < 8; ++bit) r = (r >> 1) ^ ((r & 1) ? kPoly : 0);
    t[0][b] = r;
  }
  for (size_t k = 1; k < 8; ++k) {
    for (uint32_t b = 0; b < 256; ++b) t[k][b] = (t[k - 1][b] >> 8) ^ t[0][t[k - 1][b] & 0xff];
  }
  return t;
}
constexpr std::array<Table, 8> kSlicing = MakeSlicingTables();

// The register is a vector over GF(2); feeding zero bytes is a linear map on it, held here as
// 32 columns (column j is the image of bit j).
using Matrix = std::array<uint32_t, 32>;

constexpr uint32_t Apply(const Matrix& m, uint32_t v) {
  uint32_t out = 0;
  for (int j = 0; v != 0; ++j, v >>= 1) {
    if (v & 1) out ^= m[j];
  }
  return out;
}

constexpr Matrix Compose(const Matrix& a, const Matrix& b) {
  Matrix out{};
  for (int j = 0; j < 32; ++j) out[j] = Apply(a, b[j]);
  return out;
}

// The map "feed `n` zero bytes into the register".
constexpr Matrix ZeroBytesOperator(uint64_t n) {
  Matrix one_bit{};
  one_bit[0] = kPoly;
  for (int j = 1; j < 32; ++j) one_bit[j] = uint32_t{1} << (j - 1);
  Matrix result{};
  for (int j = 0; j < 32; ++j) result[j] = uint32_t{1} << j;
  Matrix base = one_bit;
  for (uint64_t e = n * 8; e != 0; e >>= 1) {
    if (e & 1) result = Compose(base, result);
    base = Compose(base, base);
  }
  return result;
}

// Shift tables: Shift(c) = table[0][c & 0xff] ^ ... ^ table[3][c >> 24] is the register after
// feeding `n` zero bytes to register c; this is what lets three streams be combined without a
// carry-less multiply: R(s, A ++ B) = Shift_|B|(R(s, A)) ^ R(0, B).
constexpr std::array<Table, 4> MakeShiftTables(uint64_t n) {
  const Matrix op = ZeroBytesOperator(n);
  std::array<Table, 4> t{};
  for (int k = 0; k < 4; ++k) {
    for (uint32_t b = 0; b < 256; ++b) t[k][b] = Apply(op, b << (8 * k));
  }
  return t;
}

// Stream lengths for the three-way interleave: long blocks for throughput, short ones so that
// buffers of a few KiB also run three streams. Both are multiples of 8.
constexpr size_t kLongBytes = 8192;
constexpr size_t kShortBytes = 256;
constexpr std::array<Table, 4> kShiftLong = MakeShiftTables(kLongBytes);
constexpr std::array<Table, 4> kShiftShort = MakeShiftTables(kShortBytes);

inline uint32_t Shift(const std::array<Table, 4>& t, uint32_t c) {
  return t[0][c & 0xff] ^ t[1][(c >> 8) & 0xff] ^ t[2][(c >> 16) & 0xff] ^ t[3][c >> 24];
}

inline uint64_t Load64(const uint8_t* p) {
  uint64_t v;
  std::memcpy(&v, p, sizeof v);
  return v;
}

uint32_t PortableRaw(uint32_t reg, const uint8_t* p, size_t n) {
  while (n >= 8) {
    const uint64_t w = Load64(p) ^ reg;
    reg = kSlicing[7][w & 0xff] ^ kSlicing[6][(w >> 8) & 0xff] ^ kSlicing[5][(w >> 16) & 0xff] ^
          kSlicing[4][(w >> 24) & 0xff] ^ kSlicing[3][(w >> 32) & 0xff] ^
          kSlicing[2][(w >> 40) & 0xff] ^ kSlicing[1][(w >> 48) & 0xff] ^ kSlicing[0][w >> 56];
    p += 8;
    n -= 8;
  }
  while (n-- != 0) reg = kSlicing[0][(reg ^ *p++) & 0xff] ^ (reg >> 8);
  return reg;
}

// One `crc32` instruction retires per cycle but takes three to produce its result, so three
// independent streams keep the unit busy; their registers are merged with the shift tables.
template <size_t kBlockBytes>
__attribute__((target("sse4.2"), always_inline)) inline uint64_t ThreeStreams(
    uint64_t c0, const uint8_t*& p, size_t& n, const std::array<Table, 4>& shift) {
  while (n >= 3 * kBlockBytes) {
    uint64_t c1 = 0;
    uint64_t c2 = 0;
    const uint8_t* const end = p + kBlockBytes;
    do {
      c0 = _mm_crc32_u64(c0, Load64(p));
      c1 = _mm_crc32_u64(c1, Load64(p + kBlockBytes));
      c2 = _mm_crc32_u64(c2, Load64(p + 2 * kBlockBytes));
      p += 8;
    } while (p != end);
    c0 = Shift(shift, static_cast<uint32_t>(c0)) ^ static_cast<uint32_t>(c1);
    c0 = Shift(shift, static_cast<uint32_t>(c0)) ^ static_cast<uint32_t>(c2);
    p += 2 * kBlockBytes;
    n -= 3 * kBlockBytes;
  }
  return c0;
}

__attribute__((target("sse4.2"))) uint32_t HardwareRaw(uint32_t reg, const uint8_t* p, size_t n) {
  // Aligned loads are not required, but crossing fewer cache lines per load helps a little.
  while (n != 0 && (reinterpret_cast<uintptr_t>(p) & 7) != 0) {
    reg = _mm_crc32_u8(reg, *p++);
    --n;
  }
  uint64_t c = reg;
  c = ThreeStreams<kLongBytes>(c, p, n, kShiftLong);
  c = ThreeStreams<kShortBytes>(c, p, n, kShiftShort);
  while (n >= 8) {
    c = _mm_crc32_u64(c, Load64(p));
    p += 8;
    n -= 8;
  }
  reg = static_cast<uint32_t>(c);
  while (n-- != 0) reg = _mm_crc32_u8(reg, *p++);
  return reg;
}

// ---- carry-less folding (AVX-512 + VPCLMULQDQ) ----------------------------------------------
//
// A 128-bit lane loaded from the stream holds a polynomial L bit-reflected: register bit i is
// the coefficient of x^(127 - i). Its low quadword H holds the high half (L = H x^64 + Lo).
// Moving L forward by D bits in the stream means multiplying by x^D modulo P, done as
// H * (x^(D+64) mod P) + Lo * (x^D mod P): two 64 x 32-bit carry-less products that fit in a
// lane again. With reflected operands a carry-less product lands one bit low, which is absorbed
// by taking the constants one power lower (x^(D+63), x^(D-1)). Four 512-bit accumulators (16
// lanes, 256 bytes) fold by 2048 bits per step; at the end they are folded into one lane, whose
// 16 bytes the `crc32` instruction turns into the register (reg(0, L bytes) = L x^32 mod P).

// x^n mod P in the normal (unreflected) representation: bit i is the coefficient of x^i.
constexpr uint32_t XPowModP(uint64_t n) {
  constexpr uint64_t kPolyNormal = 0x11EDC6F41;  // x^32 + ... (0x82F63B78 reflected)
  uint64_t r = 1;
  for (uint64_t i = 0; i < n; ++i) {
    r <<= 1;
    if (r & (uint64_t{1} << 32)) r ^= kPolyNormal;
  }
  return static_cast<uint32_t>(r);
}

// The quadword a lane's half is multiplied by to move it D bits forward: x^(D-1) mod P,
// reflected in 64 bits (the coefficient of x^d at bit 63 - d).
constexpr uint64_t FoldConstant(uint64_t d) {
  const uint32_t c = XPowModP(d - 1);
  uint64_t out = 0;
  for (int i = 0; i < 32; ++i) {
    if ((c >> i) & 1) out |= uint64_t{1} << (63 - i);
  }
  return out;
}

// Per lane: the low quadword (H) moves by D + 64, the high one (Lo) by D.
struct FoldPair {
  uint64_t low;
  uint64_t high;
};
constexpr FoldPair FoldBy(uint64_t d) { return {FoldConstant(d + 64), FoldConstant(d)}; }
constexpr FoldPair kFold2048 = FoldBy(2048);
constexpr FoldPair kFold512 = FoldBy(512);
constexpr FoldPair kFold128 = FoldBy(128);

// Below this the fold's set-up and final reduction cost more than they save.
constexpr size_t kFoldMinBytes = 1024;

#define RUNNEL_CRC_FOLD_TARGET __attribute__((target("avx512f,avx512vl,vpclmulqdq,pclmul,sse4.2")))

RUNNEL_CRC_FOLD_TARGET inline __m512i Broadcast(FoldPair k) {
  return _mm512_broadcast_i32x4(
      _mm_set_epi64x(static_cast<int64_t>(k.high), static_cast<int64_t>(k.low)));
}

// acc moved forward by the constants' distance, plus `data`.
RUNNEL_CRC_FOLD_TARGET inline __m512i Fold(__m512i acc, __m512i k, __m512i data) {
  return _mm512_ternarylogic_epi64(_mm512_clmulepi64_epi128(acc, k, 0x00),
                                   _mm512_clmulepi64_epi128(acc, k, 0x11), data, 0x96);
}

RUNNEL_CRC_FOLD_TARGET inline __m128i Fold(__m128i acc, __m128i k, __m128i data) {
  return _mm_ternarylogic_epi64(_mm_clmulepi64_si128(acc, k, 0x00),
                                _mm_clmulepi64_si128(acc, k, 0x11), data, 0x96);
}

RUNNEL_CRC_FOLD_TARGET uint32_t FoldRaw(uint32_t reg, const uint8_t* p, size_t n) {
  if (n < kFoldMinBytes) return HardwareRaw(reg, p, n);
  // The register enters as the first 32 bits of the stream: reg(r, M) = reg(0, M ^ r).
  __m512i a0 = _mm512_xor_si512(_mm512_loadu_si512(p),
                                _mm512_zextsi128_si512(_mm_cvtsi32_si128(static_cast<int>(reg))));
  __m512i a1 = _mm512_loadu_si512(p + 64);
  __m512i a2 = _mm512_loadu_si512(p + 128);
  __m512i a3 = _mm512_loadu_si512(p + 192);
  p += 256;
  n -= 256;
  const __m512i k2048 = Broadcast(kFold2048);
  while (n >= 256) {
    a0 = Fold(a0, k2048, _mm512_loadu_si512(p));
    a1 = Fold(a1, k2048, _mm512_loadu_si512(p + 64));
    a2 = Fold(a2, k2048, _mm512_loadu_si512(p + 128));
    a3 = Fold(a3, k2048, _mm512_loadu_si512(p + 192));
    p += 256;
    n -= 256;
  }
  const __m512i k512 = Broadcast(kFold512);
  __m512i a = Fold(a0, k512, a1);
  a = Fold(a, k512, a2);
  a = Fold(a, k512, a3);
  while (n >= 64) {
    a = Fold(a, k512, _mm512_loadu_si512(p));
    p += 64;
    n -= 64;
  }
  const __m128i k128 =
      _mm_set_epi64x(static_cast<int64_t>(kFold128.high), static_cast<int64_t>(kFold128.low));
  __m128i x = Fold(_mm512_extracti32x4_epi32(a, 0), k128, _mm512_extracti32x4_epi32(a, 1));
  x = Fold(x, k128, _mm512_extracti32x4_epi32(a, 2));
  x = Fold(x, k128, _mm512_extracti32x4_epi32(a, 3));
  uint64_t c = _mm_crc32_u64(0, static_cast<uint64_t>(_mm_cvtsi128_si64(x)));
  c = _mm_crc32_u64(c, static_cast<uint64_t>(_mm_extract_epi64(x, 1)));
  return HardwareRaw(static_cast<uint32_t>(c), p, n);
}

bool DetectFold() {
  __builtin_cpu_init();
  return __builtin_cpu_supports("sse4.2") && __builtin_cpu_supports("avx512f") &&
         __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("vpclmulqdq") &&
         __builtin_cpu_supports("pclmul");
}

bool DetectHardware() {
  __builtin_cpu_init();
  return __builtin_cpu_supports("sse4.2");
}

using RawFn = uint32_t (*)(uint32_t, const uint8_t*, size_t);

uint32_t ResolveRaw(uint32_t reg, const uint8_t* p, size_t n);

// Constant-initialised to the resolver, so a call from another file's static initialiser works.
std::atomic<RawFn> g_raw{&ResolveRaw};

uint32_t ResolveRaw(uint32_t reg, const uint8_t* p, size_t n) {
  const RawFn chosen = DetectFold() ? &FoldRaw : DetectHardware() ? &HardwareRaw : &PortableRaw;
  g_raw.store(chosen, std::memory_order_relaxed);
  return chosen(reg, p, n);
}

}  // namespace

uint32_t Extend(uint32_t crc, const void* data, size_t size_bytes) {
  const RawFn fn = g_raw.load(std::memory_order_relaxed);
  return ~fn(~crc, static_cast<const uint8_t*>(data), size_bytes);
}

bool HardwareAvailable() {
  static const bool available = DetectHardware();
  return available;
}

uint32_t ExtendPortable(uint32_t crc, const void* data, size_t size_bytes) {
  return ~PortableRaw(~crc, static_cast<const uint8_t*>(data), size_bytes);
}

bool FoldAvailable() {
  static const bool available = DetectFold();
  return available;
}

uint32_t ExtendFold(uint32_t crc, const void* data, size_t size_bytes) {
  RUNNEL_ASSERT(FoldAvailable(), "ExtendFold on a CPU without AVX-512 VPCLMULQDQ");
  return ~FoldRaw(~crc, static_cast<const uint8_t*>(data), size_bytes);
}

uint32_t ExtendHardware(uint32_t crc, const void* data, size_t size_bytes) {
  RUNNEL_ASSERT(HardwareAvailable(), "ExtendHardware on a CPU without SSE4.2");
  return ~HardwareRaw(~crc, static_cast<const uint8_t*>(data), size_bytes);
}

}  // namespace runnel::engine::crc32c
