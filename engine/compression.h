// The record-section codecs of Kafka RecordBatch v2, in the byte formats Kafka clients use:
//
//   gzip    a gzip stream (RFC 1952, via zlib); several concatenated members are accepted.
//   snappy  compress: snappy-java ("xerial") framing, which the Java client writes:
//             "\x82SNAPPY\0", int32 version, int32 compatible-version, then chunks of
//             [int32 big-endian compressed length][raw snappy block of <= 32 KiB input].
//           decompress: the framing above, or one raw snappy block. librdkafka (and so kcat,
//             confluent-kafka-python/go/dotnet) produces raw snappy; the Java broker reads it
//             because snappy-java's input stream falls back to raw when the magic is absent.
//             Both readers (snappy-java, librdkafka) decide by the 8-byte magic, as we do.
//   lz4     the LZ4 frame format (LZ4F) with independent 64 KiB blocks, as the Java client
//             writes since magic 1 (not the pre-0.10 header checksum); concatenated frames are
//             accepted on input.
//   zstd    zstd frames, decoded by streaming with a bounded window (kZstdWindowLogMax).
//
// Decompression never holds more than `decompressed_bytes_max` (+1 byte of look-ahead) output:
// output beyond the bound is ErrorKind::kLimit, malformed input ErrorKind::kCorruption. Codec
// state is bounded by the formats (gzip 32 KiB window, lz4 4 MiB block, zstd 2^24 window).
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string_view>
#include <vector>

#include "io/status.h"

namespace runnel::engine {

// The attribute bits 0-2 of a batch.
enum class Codec : uint8_t {
  kNone = 0,
  kGzip = 1,
  kSnappy = 2,
  kLz4 = 3,
  kZstd = 4,
};

inline constexpr int kCodecCount = 5;

std::string_view CodecName(Codec codec);
// Codec from attribute bits 0-2; 5, 6 and 7 are kCorruption.
Result<Codec> CodecFromId(int id);

// The largest zstd window accepted on input (16 MiB); Kafka's clients use at most 8 MiB below
// level 20.
inline constexpr int kZstdWindowLogMax = 24;
// snappy-java's default chunk size, used when writing the framing.
inline constexpr size_t kSnappyChunkBytes = 32 * 1024;
// The largest input Compress accepts (Kafka's batch length is an int32).
inline constexpr size_t kCompressInputBytesMax = size_t{1} << 30;

struct CompressOptions {
  // Codec-specific level; nullopt is the codec's default (gzip 6, lz4 fast, zstd 3).
  std::optional<int> level;
  // For tests and interop checks: write snappy without the xerial framing.
  bool snappy_raw = false;
};

// Appends the compressed form of `input` to `out`. kNone copies.
Status Compress(Codec codec, std::span<const std::byte> input, std::vector<std::byte>& out,
                const CompressOptions& options = {});

// Decompresses with codec contexts kept between calls (zlib stream, LZ4F and zstd contexts are
// created on first use and reset, not freed, after each call). Owned by one shard; not
// thread-safe. Keep one per reader rather than calling the free function per batch.
class Decompressor {
 public:
  Decompressor();
  ~Decompressor();
  Decompressor(const Decompressor&) = delete;
  Decompressor& operator=(const Decompressor&) = delete;
  Decompressor(Decompressor&&) noexcept;
  Decompressor& operator=(Decompressor&&) noexcept;

  // Replaces the contents of `out` (its capacity is reused) with the decompressed form of
  // `input`. More than `decompressed_bytes_max` bytes of output is kLimit; malformed,
  // truncated or trailing input is kCorruption. kNone copies (still bounded). On error `out`
  // holds at most decompressed_bytes_max + 1 bytes of partial output.
  Status Decompress(Codec codec, std::span<const std::byte> input, size_t decompressed_bytes_max,
                    std::vector<std::byte>& out);

 private:
  struct Contexts;
  std::unique_ptr<Contexts> contexts_;
};

// One-shot form of Decompressor::Decompress.
Status Decompress(Codec codec, std::span<const std::byte> input, size_t decompressed_bytes_max,
                  std::vector<std::byte>& out);

}  // namespace runnel::engine
