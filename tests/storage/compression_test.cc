// Codecs: round trips, the byte formats Kafka clients exchange (xerial and raw snappy, gzip
// members, LZ4 frames, zstd frames), the decompressed-size bound, and malformed input.
#include "engine/compression.h"

#include <gtest/gtest.h>
#include <rapidcheck/gtest.h>
#include <snappy.h>
#include <zlib.h>
#include <zstd.h>

#include <string>
#include <vector>

#include "engine/varint.h"
#include "io/rng.h"
#include "tests/storage/storage_test_util.h"

namespace runnel::engine {
namespace {

constexpr Codec kCodecs[] = {Codec::kNone, Codec::kGzip, Codec::kSnappy, Codec::kLz4, Codec::kZstd};
constexpr Codec kRealCodecs[] = {Codec::kGzip, Codec::kSnappy, Codec::kLz4, Codec::kZstd};

std::vector<std::byte> Data(uint64_t seed, size_t n, bool compressible) {
  Rng rng(seed);
  std::vector<std::byte> v(n);
  if (compressible) {
    // Words from a small vocabulary: what LZ-style codecs (snappy, lz4) compress well.
    static constexpr std::string_view kWords[] = {"kafka ", "runnel ", "record ",
                                                  "batch ", "offset ", "segment "};
    size_t i = 0;
    while (i < n) {
      const std::string_view w = kWords[rng.Uniform(6)];
      for (size_t j = 0; j < w.size() && i < n; ++j) v[i++] = static_cast<std::byte>(w[j]);
    }
  } else {
    rng.Fill(v);
  }
  return v;
}

std::vector<std::byte> MustCompress(Codec c, const std::vector<std::byte>& in,
                                    CompressOptions options = {}) {
  std::vector<std::byte> out;
  Status s = Compress(c, in, out, options);
  EXPECT_TRUE(s.ok()) << s.ToString();
  return out;
}

TEST(Compression, CodecIds) {
  for (int id = 0; id < kCodecCount; ++id) {
    Result<Codec> c = CodecFromId(id);
    ASSERT_TRUE(c.ok());
    EXPECT_EQ(static_cast<int>(*c), id);
  }
  for (int id : {5, 6, 7, -1}) EXPECT_TRUE(CodecFromId(id).status().Is(ErrorKind::kCorruption));
  EXPECT_EQ(CodecName(Codec::kLz4), "lz4");
}

TEST(Compression, RoundTripsEveryCodecAndSize) {
  Decompressor d;
  std::vector<std::byte> out;
  for (Codec c : kCodecs) {
    for (size_t n : {size_t{0}, size_t{1}, size_t{100}, size_t{32767}, size_t{32768}, size_t{32769},
                     size_t{200'000}}) {
      for (bool compressible : {false, true}) {
        SCOPED_TRACE(fmt::format("{} n={} compressible={}", CodecName(c), n, compressible));
        const auto in = Data(n * 2 + compressible, n, compressible);
        const auto packed = MustCompress(c, in);
        if (compressible && n >= 32768 && c != Codec::kNone) {
          EXPECT_LT(packed.size(), n / 2);
        }
        Status s = d.Decompress(c, packed, n, out);
        ASSERT_TRUE(s.ok()) << s.ToString();
        EXPECT_EQ(out, in);
      }
    }
  }
}

TEST(Compression, CompressAppends) {
  const auto in = Data(1, 1000, true);
  std::vector<std::byte> out = testing::ToBytes("prefix");
  ASSERT_TRUE(Compress(Codec::kZstd, in, out).ok());
  EXPECT_EQ(testing::ToString(Bytes(out).first(6)), "prefix");
  std::vector<std::byte> back;
  ASSERT_TRUE(Decompress(Codec::kZstd, Bytes(out).subspan(6), 1000, back).ok());
  EXPECT_EQ(back, in);
}

TEST(Compression, BoundIsEnforcedToTheByte) {
  const auto in = Data(7, 100'000, true);
  for (Codec c : kCodecs) {
    SCOPED_TRACE(CodecName(c));
    const auto packed = MustCompress(c, in);
    std::vector<std::byte> out;
    EXPECT_TRUE(Decompress(c, packed, in.size(), out).ok());
    EXPECT_EQ(out.size(), in.size());
    Status s = Decompress(c, packed, in.size() - 1, out);
    EXPECT_TRUE(s.Is(ErrorKind::kLimit)) << s.ToString();
    EXPECT_LE(out.size(), in.size());
    s = Decompress(c, packed, 10, out);
    EXPECT_TRUE(s.Is(ErrorKind::kLimit)) << s.ToString();
    EXPECT_LE(out.size(), 11u);
  }
}

// A "zip bomb": 64 MiB of zeros compress to a few KiB; the bound stops decompression long
// before the output is materialised.
TEST(Compression, BombsStopAtTheBound) {
  const std::vector<std::byte> zeros(64 << 20, std::byte{0});
  for (Codec c : kRealCodecs) {
    SCOPED_TRACE(CodecName(c));
    const auto packed = MustCompress(c, zeros);
    EXPECT_LT(packed.size(), zeros.size() / 16);
    std::vector<std::byte> out;
    Status s = Decompress(c, packed, 1 << 20, out);
    EXPECT_TRUE(s.Is(ErrorKind::kLimit)) << s.ToString();
    EXPECT_LE(out.capacity(), (size_t{2} << 20) + 16);
  }
}

TEST(Compression, EmptyInputIsCorruptForRealCodecs) {
  std::vector<std::byte> out;
  for (Codec c : kRealCodecs) {
    EXPECT_TRUE(Decompress(c, {}, 100, out).Is(ErrorKind::kCorruption)) << CodecName(c);
  }
  EXPECT_TRUE(Decompress(Codec::kNone, {}, 100, out).ok());
  EXPECT_TRUE(out.empty());
}

TEST(Compression, TruncationIsCorruption) {
  const auto in = Data(9, 70'000, false);
  for (Codec c : kRealCodecs) {
    SCOPED_TRACE(CodecName(c));
    const auto packed = MustCompress(c, in);
    for (size_t cut : {size_t{1}, size_t{5}, packed.size() / 2, packed.size() - 1}) {
      std::vector<std::byte> out;
      Status s = Decompress(c, Bytes(packed).first(cut), in.size(), out);
      EXPECT_TRUE(s.Is(ErrorKind::kCorruption)) << "cut " << cut << ": " << s.ToString();
    }
  }
}

TEST(Compression, TrailingGarbageIsCorruption) {
  const auto in = Data(10, 5000, true);
  for (Codec c : {Codec::kGzip, Codec::kLz4, Codec::kZstd}) {
    SCOPED_TRACE(CodecName(c));
    auto packed = MustCompress(c, in);
    packed.push_back(std::byte{0x55});
    packed.push_back(std::byte{0x66});
    std::vector<std::byte> out;
    EXPECT_TRUE(Decompress(c, packed, in.size() * 2, out).Is(ErrorKind::kCorruption));
  }
}

// ---- snappy: what the Java client writes, and what librdkafka writes ----------------------

TEST(Snappy, WritesXerialFraming) {
  const auto in = Data(11, 80'000, true);
  const auto packed = MustCompress(Codec::kSnappy, in);
  ASSERT_GE(packed.size(), 20u);
  EXPECT_EQ(packed[0], std::byte{0x82});
  EXPECT_EQ(testing::ToString(Bytes(packed).subspan(1, 6)), "SNAPPY");
  EXPECT_EQ(packed[7], std::byte{0});
  EXPECT_EQ(LoadBe32(packed.data() + 8), 1u);   // version
  EXPECT_EQ(LoadBe32(packed.data() + 12), 1u);  // compatible version
  // Chunks of at most 32 KiB of input each: 80 000 bytes make three.
  size_t pos = 16;
  int chunks = 0;
  size_t total = 0;
  while (pos < packed.size()) {
    const uint32_t length = LoadBe32(packed.data() + pos);
    size_t chunk_bytes = 0;
    ASSERT_TRUE(snappy::GetUncompressedLength(
        reinterpret_cast<const char*>(packed.data() + pos + 4), length, &chunk_bytes));
    EXPECT_LE(chunk_bytes, kSnappyChunkBytes);
    total += chunk_bytes;
    pos += 4 + length;
    ++chunks;
  }
  EXPECT_EQ(pos, packed.size());
  EXPECT_EQ(chunks, 3);
  EXPECT_EQ(total, in.size());
}

TEST(Snappy, ReadsRawSnappyAsLibrdkafkaSendsIt) {
  const auto in = Data(12, 50'000, true);
  std::string raw;
  snappy::Compress(reinterpret_cast<const char*>(in.data()), in.size(), &raw);
  std::vector<std::byte> out;
  Status s = Decompress(Codec::kSnappy, testing::ToBytes(raw), in.size(), out);
  ASSERT_TRUE(s.ok()) << s.ToString();
  EXPECT_EQ(out, in);
  // And our raw writer option produces the same format.
  CompressOptions raw_option;
  raw_option.snappy_raw = true;
  const auto ours = MustCompress(Codec::kSnappy, in, raw_option);
  EXPECT_NE(ours[0], std::byte{0x82});
  ASSERT_TRUE(Decompress(Codec::kSnappy, ours, in.size(), out).ok());
  EXPECT_EQ(out, in);
}

TEST(Snappy, HandBuiltXerialStream) {
  // Header, then two chunks made with the plain snappy library.
  std::string a;
  std::string b;
  snappy::Compress("hello ", 6, &a);
  snappy::Compress("world", 5, &b);
  std::vector<std::byte> framed = testing::ToBytes({0x82, 'S', 'N', 'A', 'P', 'P', 'Y', 0});
  testing::PutBe(framed, 1, 4);
  testing::PutBe(framed, 1, 4);
  for (const std::string& chunk : {a, b}) {
    testing::PutBe(framed, chunk.size(), 4);
    const auto bytes = testing::ToBytes(chunk);
    framed.insert(framed.end(), bytes.begin(), bytes.end());
  }
  std::vector<std::byte> out;
  ASSERT_TRUE(Decompress(Codec::kSnappy, framed, 100, out).ok());
  EXPECT_EQ(testing::ToString(out), "hello world");
  // The bound counts across chunks.
  EXPECT_TRUE(Decompress(Codec::kSnappy, framed, 10, out).Is(ErrorKind::kLimit));
  // A chunk length past the end, and a cut length field.
  auto bad = framed;
  StoreBe32(bad.data() + 16, 1000);
  EXPECT_TRUE(Decompress(Codec::kSnappy, bad, 100, out).Is(ErrorKind::kCorruption));
  bad = framed;
  bad.resize(bad.size() - b.size() - 2);
  EXPECT_TRUE(Decompress(Codec::kSnappy, bad, 100, out).Is(ErrorKind::kCorruption));
  // Header only: no chunks, no bytes.
  ASSERT_TRUE(Decompress(Codec::kSnappy, Bytes(framed).first(16), 100, out).ok());
  EXPECT_TRUE(out.empty());
}

TEST(Snappy, LyingLengthPrefixIsRefusedBeforeAllocating) {
  // A raw block whose length varint claims 1 GiB.
  std::vector<std::byte> bomb(5);
  uint64_t u = uint64_t{1} << 30;
  size_t i = 0;
  while (u >= 0x80) {
    bomb[i++] = static_cast<std::byte>(u | 0x80);
    u >>= 7;
  }
  bomb[i++] = static_cast<std::byte>(u);
  bomb.resize(i);
  bomb.push_back(std::byte{0});
  std::vector<std::byte> out;
  EXPECT_TRUE(Decompress(Codec::kSnappy, bomb, 1 << 20, out).Is(ErrorKind::kLimit));
  EXPECT_LT(out.capacity(), size_t{1} << 20);
}

// ---- gzip, lz4, zstd framing ---------------------------------------------------------------

TEST(Gzip, WritesAGzipHeaderAndReadsConcatenatedMembers) {
  const auto a = Data(13, 3000, true);
  const auto b = Data(14, 2000, false);
  auto packed = MustCompress(Codec::kGzip, a);
  ASSERT_GE(packed.size(), 10u);
  EXPECT_EQ(packed[0], std::byte{0x1f});
  EXPECT_EQ(packed[1], std::byte{0x8b});
  const auto second = MustCompress(Codec::kGzip, b);
  packed.insert(packed.end(), second.begin(), second.end());
  std::vector<std::byte> out;
  ASSERT_TRUE(Decompress(Codec::kGzip, packed, 5000, out).ok());
  std::vector<std::byte> want = a;
  want.insert(want.end(), b.begin(), b.end());
  EXPECT_EQ(out, want);
  EXPECT_TRUE(Decompress(Codec::kGzip, packed, 4999, out).Is(ErrorKind::kLimit));
}

TEST(Gzip, RejectsAZlibStream) {
  // zlib-wrapped deflate is not what Kafka sends for gzip.
  const auto in = Data(15, 100, true);
  std::vector<std::byte> zlib_stream(compressBound(in.size()));
  uLongf n = zlib_stream.size();
  ASSERT_EQ(compress(reinterpret_cast<Bytef*>(zlib_stream.data()), &n,
                     reinterpret_cast<const Bytef*>(in.data()), in.size()),
            Z_OK);
  zlib_stream.resize(n);
  std::vector<std::byte> out;
  EXPECT_TRUE(Decompress(Codec::kGzip, zlib_stream, 1000, out).Is(ErrorKind::kCorruption));
}

TEST(Lz4, WritesFramesWithIndependent64KiBBlocks) {
  const auto in = Data(16, 1000, true);
  const auto packed = MustCompress(Codec::kLz4, in);
  ASSERT_GE(packed.size(), 7u);
  EXPECT_EQ(LoadBe32(packed.data()), 0x04224D18u);  // the LZ4 frame magic, little-endian 184D2204
  const uint8_t flg = static_cast<uint8_t>(packed[4]);
  const uint8_t bd = static_cast<uint8_t>(packed[5]);
  EXPECT_EQ(flg >> 6, 1);       // version 01
  EXPECT_TRUE(flg & 0x20);      // block independence
  EXPECT_EQ((bd >> 4) & 7, 4);  // 64 KiB maximum block size
}

TEST(Lz4, ReadsConcatenatedFrames) {
  const auto a = Data(17, 70'000, true);
  const auto b = Data(18, 10, false);
  auto packed = MustCompress(Codec::kLz4, a);
  const auto second = MustCompress(Codec::kLz4, b);
  packed.insert(packed.end(), second.begin(), second.end());
  std::vector<std::byte> out;
  ASSERT_TRUE(Decompress(Codec::kLz4, packed, 70'010, out).ok());
  EXPECT_EQ(out.size(), 70'010u);
  EXPECT_TRUE(std::equal(b.begin(), b.end(), out.begin() + 70'000));
}

TEST(Zstd, RefusesWindowsBeyondTheMaximum) {
  // A frame that declares a 2^25 window and no content size (as a streaming compressor would).
  const auto in = Data(19, 1000, true);
  ZSTD_CCtx* cctx = ZSTD_createCCtx();
  ASSERT_FALSE(ZSTD_isError(ZSTD_CCtx_setParameter(cctx, ZSTD_c_windowLog, kZstdWindowLogMax + 1)));
  ASSERT_FALSE(ZSTD_isError(ZSTD_CCtx_setParameter(cctx, ZSTD_c_contentSizeFlag, 0)));
  // Streamed, so the compressor does not know the size and keeps the window it was given.
  std::vector<std::byte> packed(ZSTD_compressBound(in.size()) + 64);
  ZSTD_outBuffer ob{packed.data(), packed.size(), 0};
  ZSTD_inBuffer ib{in.data(), in.size(), 0};
  ASSERT_FALSE(ZSTD_isError(ZSTD_compressStream2(cctx, &ob, &ib, ZSTD_e_continue)));
  ZSTD_inBuffer none{nullptr, 0, 0};
  ASSERT_EQ(ZSTD_compressStream2(cctx, &ob, &none, ZSTD_e_end), 0u);
  ZSTD_freeCCtx(cctx);
  packed.resize(ob.pos);
  // Sanity: the frame really declares the large window.
  // Frame header (RFC 8878): magic, descriptor (bit 5: single segment, no window byte), then
  // the window descriptor, whose top five bits are windowLog - 10.
  ASSERT_GE(packed.size(), 6u);
  ASSERT_EQ(static_cast<uint8_t>(packed[4]) & 0x20, 0);
  ASSERT_EQ(10 + (static_cast<uint8_t>(packed[5]) >> 3), kZstdWindowLogMax + 1);
  std::vector<std::byte> out;
  Status s = Decompress(Codec::kZstd, packed, 1 << 20, out);
  EXPECT_TRUE(s.Is(ErrorKind::kLimit)) << s.ToString();
}

TEST(Decompressor, ReusesContextsAcrossCodecsAndErrors) {
  Decompressor d;
  std::vector<std::byte> out;
  Rng rng(20);
  for (int i = 0; i < 60; ++i) {
    const Codec c = kRealCodecs[rng.Uniform(4)];
    const auto in = Data(rng.Next(), rng.Uniform(50'000), rng.Chance(0.5));
    auto packed = MustCompress(c, in);
    if (rng.Chance(0.3) && packed.size() > 20) {
      packed.resize(packed.size() / 2);  // a failure mid-stream must not poison the next call
      EXPECT_FALSE(d.Decompress(c, packed, in.size(), out).ok());
      continue;
    }
    Status s = d.Decompress(c, packed, in.size(), out);
    ASSERT_TRUE(s.ok()) << CodecName(c) << ": " << s.ToString();
    ASSERT_EQ(out, in);
  }
}

// ---- properties -----------------------------------------------------------------------------

RC_GTEST_PROP(CompressionProperty, RoundTrip, (std::vector<uint8_t> data, uint8_t codec_id)) {
  const Codec c = kCodecs[codec_id % kCodecCount];
  const auto in =
      std::vector<std::byte>(reinterpret_cast<const std::byte*>(data.data()),
                             reinterpret_cast<const std::byte*>(data.data()) + data.size());
  std::vector<std::byte> packed;
  RC_ASSERT(Compress(c, in, packed).ok());
  std::vector<std::byte> out;
  RC_ASSERT(Decompress(c, packed, in.size(), out).ok());
  RC_ASSERT(out == in);
}

// Arbitrary bytes never crash a decoder, never produce more than the bound, and fail only
// with kCorruption or kLimit.
RC_GTEST_PROP(CompressionProperty, GarbageIsHandled,
              (std::vector<uint8_t> data, uint8_t codec_id)) {
  const Codec c = kRealCodecs[codec_id % 4];
  const Bytes in(reinterpret_cast<const std::byte*>(data.data()), data.size());
  std::vector<std::byte> out;
  const size_t bound = 4096;
  Status s = Decompress(c, in, bound, out);
  RC_ASSERT(s.ok() || s.Is(ErrorKind::kCorruption) || s.Is(ErrorKind::kLimit));
  if (s.ok()) RC_ASSERT(out.size() <= bound);
}

// Valid frames with bytes flipped: the same, and if decoding still succeeds it is bounded.
RC_GTEST_PROP(CompressionProperty, MutatedFramesAreHandled,
              (std::vector<uint8_t> data, uint8_t codec_id, std::vector<uint32_t> flips)) {
  const Codec c = kRealCodecs[codec_id % 4];
  const auto in =
      std::vector<std::byte>(reinterpret_cast<const std::byte*>(data.data()),
                             reinterpret_cast<const std::byte*>(data.data()) + data.size());
  std::vector<std::byte> packed;
  RC_ASSERT(Compress(c, in, packed).ok());
  for (uint32_t f : flips) packed[f % packed.size()] ^= static_cast<std::byte>(1 + (f >> 24) % 255);
  std::vector<std::byte> out;
  Status s = Decompress(c, packed, in.size() + 64, out);
  RC_ASSERT(s.ok() || s.Is(ErrorKind::kCorruption) || s.Is(ErrorKind::kLimit));
  if (s.ok()) RC_ASSERT(out.size() <= in.size() + 64);
}

}  // namespace
}  // namespace runnel::engine
