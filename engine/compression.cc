#include "engine/compression.h"

#include <fmt/format.h>
#include <lz4frame.h>
#include <snappy.h>
#include <zlib.h>
#include <zstd.h>
#include <zstd_errors.h>

#include <algorithm>
#include <cstring>

#include "engine/varint.h"

namespace runnel::engine {
namespace {

constexpr int kGzipDefaultLevel = 6;
constexpr int kZstdDefaultLevel = 3;
// zlib: 15 window bits, +16 selects the gzip wrapper rather than zlib's.
constexpr int kGzipWindowBits = 15 + 16;

// "\x82SNAPPY\0", then int32 version and int32 minimum compatible version (both 1).
constexpr unsigned char kXerialMagic[8] = {0x82, 'S', 'N', 'A', 'P', 'P', 'Y', 0};
constexpr size_t kXerialHeaderBytes = 16;
constexpr int32_t kXerialVersion = 1;
constexpr int32_t kXerialCompatibleVersion = 1;

// Decoders write into `out` as it grows: doubling from a size guessed from the input, never
// past `limit` (= decompressed_bytes_max + 1, so that one byte too many is observable).
class OutputWindow {
 public:
  OutputWindow(std::vector<std::byte>& out, size_t bytes_max, size_t input_bytes)
      : out_(out), limit_(bytes_max == SIZE_MAX ? SIZE_MAX : bytes_max + 1) {
    out_.clear();
    initial_ = std::min(limit_, std::max<size_t>(4096, input_bytes * 4));
  }

  // Makes room after `produced`; false when the buffer already holds `limit` bytes.
  bool Grow() {
    if (produced_ < out_.size()) return true;
    if (out_.size() >= limit_) return false;
    const size_t next =
        out_.empty() ? initial_ : std::min(limit_, std::max(out_.size() * 2, out_.size() + 4096));
    out_.resize(next);
    return true;
  }
  std::byte* free_begin() { return out_.data() + produced_; }
  size_t free_bytes() const { return out_.size() - produced_; }
  void Produced(size_t n) { produced_ += n; }
  size_t produced() const { return produced_; }
  bool over_limit() const { return produced_ >= limit_; }
  void Finish() { out_.resize(produced_); }

 private:
  std::vector<std::byte>& out_;
  size_t limit_;
  size_t initial_;
  size_t produced_ = 0;
};

Status LimitError(Codec codec, size_t bytes_max) {
  return Status::Limit(
      fmt::format("{} output exceeds decompressed_bytes_max {}", CodecName(codec), bytes_max));
}

const char* AsChars(const std::byte* p) { return reinterpret_cast<const char*>(p); }
char* AsChars(std::byte* p) { return reinterpret_cast<char*>(p); }

// ---- gzip -------------------------------------------------------------------------------

Status GzipCompress(std::span<const std::byte> in, std::vector<std::byte>& out, int level) {
  z_stream s{};
  if (deflateInit2(&s, level, Z_DEFLATED, kGzipWindowBits, 8, Z_DEFAULT_STRATEGY) != Z_OK) {
    return Status::InvalidArgument(fmt::format("gzip: bad level {}", level));
  }
  const size_t start = out.size();
  const size_t bound = deflateBound(&s, static_cast<uLong>(in.size()));
  out.resize(start + bound);
  s.next_in = reinterpret_cast<Bytef*>(const_cast<std::byte*>(in.data()));
  s.avail_in = static_cast<uInt>(in.size());
  s.next_out = reinterpret_cast<Bytef*>(out.data() + start);
  s.avail_out = static_cast<uInt>(bound);
  const int rc = deflate(&s, Z_FINISH);
  const size_t written = bound - s.avail_out;
  deflateEnd(&s);
  RUNNEL_ASSERT(rc == Z_STREAM_END, "deflate with a deflateBound buffer returned {}", rc);
  out.resize(start + written);
  return Status::Ok();
}

Status GzipDecompress(z_stream& s, std::span<const std::byte> in, size_t bytes_max,
                      std::vector<std::byte>& out) {
  if (inflateReset2(&s, kGzipWindowBits) != Z_OK) {
    return Status::Corruption("gzip: cannot reset the inflate stream");
  }
  if (in.empty()) return Status::Corruption("gzip: empty input");
  if (in.size() > UINT32_MAX) return Status::Limit("gzip: input larger than 4 GiB");
  OutputWindow w(out, bytes_max, in.size());
  s.next_in = reinterpret_cast<Bytef*>(const_cast<std::byte*>(in.data()));
  s.avail_in = static_cast<uInt>(in.size());
  for (;;) {
    if (!w.Grow()) return LimitError(Codec::kGzip, bytes_max);
    const size_t room = std::min<size_t>(w.free_bytes(), UINT32_MAX);
    s.next_out = reinterpret_cast<Bytef*>(w.free_begin());
    s.avail_out = static_cast<uInt>(room);
    const uInt avail_in_before = s.avail_in;
    const int rc = inflate(&s, Z_NO_FLUSH);
    w.Produced(room - s.avail_out);
    if (w.over_limit()) return LimitError(Codec::kGzip, bytes_max);
    if (rc == Z_STREAM_END) {
      if (s.avail_in == 0) break;
      // Another gzip member follows (as gzip(1) and Java's GZIPInputStream accept).
      if (inflateReset(&s) != Z_OK) return Status::Corruption("gzip: reset between members");
      continue;
    }
    if (rc == Z_OK || rc == Z_BUF_ERROR) {
      const bool progressed = s.avail_in != avail_in_before || s.avail_out != room;
      if (s.avail_in == 0 && s.avail_out != 0) return Status::Corruption("gzip: truncated input");
      if (!progressed && s.avail_out != 0) return Status::Corruption("gzip: stalled");
      continue;
    }
    return Status::Corruption(
        fmt::format("gzip: {} ({})", s.msg != nullptr ? s.msg : "inflate failed", rc));
  }
  w.Finish();
  return Status::Ok();
}

// ---- snappy -----------------------------------------------------------------------------

void SnappyCompressBlock(std::span<const std::byte> in, std::vector<std::byte>& out) {
  const size_t start = out.size();
  out.resize(start + snappy::MaxCompressedLength(in.size()));
  size_t written = 0;
  snappy::RawCompress(AsChars(in.data()), in.size(), AsChars(out.data() + start), &written);
  out.resize(start + written);
}

void SnappyCompressXerial(std::span<const std::byte> in, std::vector<std::byte>& out) {
  const size_t header = out.size();
  out.resize(header + kXerialHeaderBytes);
  std::memcpy(out.data() + header, kXerialMagic, sizeof kXerialMagic);
  StoreBe32(out.data() + header + 8, kXerialVersion);
  StoreBe32(out.data() + header + 12, kXerialCompatibleVersion);
  for (size_t pos = 0; pos < in.size(); pos += kSnappyChunkBytes) {
    const auto chunk = in.subspan(pos, std::min(kSnappyChunkBytes, in.size() - pos));
    const size_t length_at = out.size();
    out.resize(length_at + 4);
    SnappyCompressBlock(chunk, out);
    StoreBe32(out.data() + length_at, static_cast<uint32_t>(out.size() - length_at - 4));
  }
}

// Appends one raw snappy block's output to `out` (whose size is `produced`).
Status SnappyAppendBlock(std::span<const std::byte> block, size_t bytes_max,
                         std::vector<std::byte>& out) {
  size_t length = 0;
  if (!snappy::GetUncompressedLength(AsChars(block.data()), block.size(), &length)) {
    return Status::Corruption("snappy: bad uncompressed-length prefix");
  }
  const size_t start = out.size();
  if (length > bytes_max || start > bytes_max - length)
    return LimitError(Codec::kSnappy, bytes_max);
  out.resize(start + length);
  if (!snappy::RawUncompress(AsChars(block.data()), block.size(), AsChars(out.data() + start))) {
    return Status::Corruption("snappy: malformed block");
  }
  return Status::Ok();
}

Status SnappyDecompress(std::span<const std::byte> in, size_t bytes_max,
                        std::vector<std::byte>& out) {
  out.clear();
  if (in.empty()) return Status::Corruption("snappy: empty input");
  const bool framed = in.size() >= kXerialHeaderBytes &&
                      std::memcmp(in.data(), kXerialMagic, sizeof kXerialMagic) == 0;
  if (!framed) return SnappyAppendBlock(in, bytes_max, out);
  ByteReader r(in.subspan(kXerialHeaderBytes));
  while (r.remaining() != 0) {
    uint32_t length = 0;
    std::span<const std::byte> block;
    if (!r.ReadBe32(length)) return Status::Corruption("snappy: truncated chunk length");
    if (length > INT32_MAX || !r.ReadBytes(length, block)) {
      return Status::Corruption(fmt::format("snappy: chunk length {} exceeds the input", length));
    }
    RUNNEL_TRY(SnappyAppendBlock(block, bytes_max, out));
  }
  return Status::Ok();
}

// ---- lz4 --------------------------------------------------------------------------------

Status Lz4Compress(std::span<const std::byte> in, std::vector<std::byte>& out, int level) {
  LZ4F_preferences_t prefs{};
  prefs.frameInfo.blockSizeID = LZ4F_max64KB;
  prefs.frameInfo.blockMode = LZ4F_blockIndependent;
  prefs.compressionLevel = level;
  const size_t start = out.size();
  const size_t bound = LZ4F_compressFrameBound(in.size(), &prefs);
  out.resize(start + bound);
  const size_t written =
      LZ4F_compressFrame(out.data() + start, bound, in.data(), in.size(), &prefs);
  RUNNEL_ASSERT(!LZ4F_isError(written), "LZ4F_compressFrame: {}", LZ4F_getErrorName(written));
  out.resize(start + written);
  return Status::Ok();
}

Status Lz4Decompress(LZ4F_dctx* ctx, std::span<const std::byte> in, size_t bytes_max,
                     std::vector<std::byte>& out) {
  LZ4F_resetDecompressionContext(ctx);
  if (in.empty()) return Status::Corruption("lz4: empty input");
  OutputWindow w(out, bytes_max, in.size());
  size_t in_pos = 0;
  size_t hint = 1;
  while (in_pos < in.size() || hint != 0) {
    if (!w.Grow()) return LimitError(Codec::kLz4, bytes_max);
    size_t dst_bytes = w.free_bytes();
    size_t src_bytes = in.size() - in_pos;
    hint =
        LZ4F_decompress(ctx, w.free_begin(), &dst_bytes, in.data() + in_pos, &src_bytes, nullptr);
    if (LZ4F_isError(hint)) {
      LZ4F_resetDecompressionContext(ctx);
      return Status::Corruption(fmt::format("lz4: {}", LZ4F_getErrorName(hint)));
    }
    in_pos += src_bytes;
    w.Produced(dst_bytes);
    if (w.over_limit()) return LimitError(Codec::kLz4, bytes_max);
    if (hint != 0 && src_bytes == 0 && dst_bytes == 0 && w.free_bytes() != 0) {
      LZ4F_resetDecompressionContext(ctx);
      return Status::Corruption("lz4: no progress");
    }
    // All input taken, the frame unfinished and room left over: the frame is cut short.
    if (hint != 0 && in_pos == in.size() && w.free_bytes() != 0) {
      LZ4F_resetDecompressionContext(ctx);
      return Status::Corruption("lz4: truncated frame");
    }
  }
  w.Finish();
  return Status::Ok();
}

// ---- zstd -------------------------------------------------------------------------------

Status ZstdCompress(std::span<const std::byte> in, std::vector<std::byte>& out, int level) {
  const size_t start = out.size();
  const size_t bound = ZSTD_compressBound(in.size());
  out.resize(start + bound);
  const size_t written = ZSTD_compress(out.data() + start, bound, in.data(), in.size(), level);
  if (ZSTD_isError(written)) {
    out.resize(start);
    return Status::InvalidArgument(fmt::format("zstd: {}", ZSTD_getErrorName(written)));
  }
  out.resize(start + written);
  return Status::Ok();
}

Status ZstdDecompress(ZSTD_DCtx* ctx, std::span<const std::byte> in, size_t bytes_max,
                      std::vector<std::byte>& out) {
  ZSTD_DCtx_reset(ctx, ZSTD_reset_session_only);
  if (in.empty()) return Status::Corruption("zstd: empty input");
  OutputWindow w(out, bytes_max, in.size());
  ZSTD_inBuffer ib{in.data(), in.size(), 0};
  size_t hint = 1;
  while (ib.pos < ib.size || hint != 0) {
    if (!w.Grow()) return LimitError(Codec::kZstd, bytes_max);
    ZSTD_outBuffer ob{w.free_begin(), w.free_bytes(), 0};
    const size_t in_before = ib.pos;
    hint = ZSTD_decompressStream(ctx, &ob, &ib);
    if (ZSTD_isError(hint)) {
      ZSTD_DCtx_reset(ctx, ZSTD_reset_session_only);
      if (ZSTD_getErrorCode(hint) == ZSTD_error_frameParameter_windowTooLarge) {
        return Status::Limit(fmt::format("zstd: window larger than 2^{}", kZstdWindowLogMax));
      }
      return Status::Corruption(fmt::format("zstd: {}", ZSTD_getErrorName(hint)));
    }
    w.Produced(ob.pos);
    if (w.over_limit()) return LimitError(Codec::kZstd, bytes_max);
    if (hint != 0 && ib.pos == in_before && ob.pos == 0 && w.free_bytes() != 0) {
      ZSTD_DCtx_reset(ctx, ZSTD_reset_session_only);
      return Status::Corruption("zstd: no progress");
    }
    if (hint != 0 && ib.pos == ib.size && w.free_bytes() != 0) {
      ZSTD_DCtx_reset(ctx, ZSTD_reset_session_only);
      return Status::Corruption("zstd: truncated frame");
    }
  }
  w.Finish();
  return Status::Ok();
}

}  // namespace

std::string_view CodecName(Codec codec) {
  switch (codec) {
    case Codec::kNone:
      return "none";
    case Codec::kGzip:
      return "gzip";
    case Codec::kSnappy:
      return "snappy";
    case Codec::kLz4:
      return "lz4";
    case Codec::kZstd:
      return "zstd";
  }
  return "unknown";
}

Result<Codec> CodecFromId(int id) {
  if (id < 0 || id >= kCodecCount) {
    return Status::Corruption(fmt::format("unknown compression codec {}", id));
  }
  return static_cast<Codec>(id);
}

Status Compress(Codec codec, std::span<const std::byte> input, std::vector<std::byte>& out,
                const CompressOptions& options) {
  if (input.size() > kCompressInputBytesMax) {
    return Status::Limit(
        fmt::format("compress input of {} bytes exceeds {}", input.size(), kCompressInputBytesMax));
  }
  switch (codec) {
    case Codec::kNone:
      out.insert(out.end(), input.begin(), input.end());
      return Status::Ok();
    case Codec::kGzip:
      return GzipCompress(input, out, options.level.value_or(kGzipDefaultLevel));
    case Codec::kSnappy:
      if (options.snappy_raw) {
        SnappyCompressBlock(input, out);
      } else {
        SnappyCompressXerial(input, out);
      }
      return Status::Ok();
    case Codec::kLz4:
      return Lz4Compress(input, out, options.level.value_or(0));
    case Codec::kZstd:
      return ZstdCompress(input, out, options.level.value_or(kZstdDefaultLevel));
  }
  return Status::InvalidArgument("unknown codec");
}

struct Decompressor::Contexts {
  bool zlib_ready = false;
  z_stream zlib{};
  LZ4F_dctx* lz4 = nullptr;
  ZSTD_DCtx* zstd = nullptr;

  ~Contexts() {
    if (zlib_ready) inflateEnd(&zlib);
    if (lz4 != nullptr) LZ4F_freeDecompressionContext(lz4);
    if (zstd != nullptr) ZSTD_freeDCtx(zstd);
  }
};

Decompressor::Decompressor() : contexts_(std::make_unique<Contexts>()) {}
Decompressor::~Decompressor() = default;
Decompressor::Decompressor(Decompressor&&) noexcept = default;
Decompressor& Decompressor::operator=(Decompressor&&) noexcept = default;

Status Decompressor::Decompress(Codec codec, std::span<const std::byte> input,
                                size_t decompressed_bytes_max, std::vector<std::byte>& out) {
  RUNNEL_ASSERT(contexts_ != nullptr, "use of a moved-from Decompressor");
  Contexts& c = *contexts_;
  switch (codec) {
    case Codec::kNone:
      if (input.size() > decompressed_bytes_max) {
        out.clear();
        return LimitError(codec, decompressed_bytes_max);
      }
      out.assign(input.begin(), input.end());
      return Status::Ok();
    case Codec::kGzip:
      if (!c.zlib_ready) {
        if (inflateInit2(&c.zlib, kGzipWindowBits) != Z_OK) {
          return Status::NoSpace("gzip: inflateInit2 failed");
        }
        c.zlib_ready = true;
      }
      return GzipDecompress(c.zlib, input, decompressed_bytes_max, out);
    case Codec::kSnappy:
      return SnappyDecompress(input, decompressed_bytes_max, out);
    case Codec::kLz4:
      if (c.lz4 == nullptr && LZ4F_isError(LZ4F_createDecompressionContext(&c.lz4, LZ4F_VERSION))) {
        c.lz4 = nullptr;
        return Status::NoSpace("lz4: cannot create a decompression context");
      }
      return Lz4Decompress(c.lz4, input, decompressed_bytes_max, out);
    case Codec::kZstd:
      if (c.zstd == nullptr) {
        c.zstd = ZSTD_createDCtx();
        if (c.zstd == nullptr) return Status::NoSpace("zstd: cannot create a context");
        const size_t rc = ZSTD_DCtx_setParameter(c.zstd, ZSTD_d_windowLogMax, kZstdWindowLogMax);
        RUNNEL_ASSERT(!ZSTD_isError(rc), "ZSTD_d_windowLogMax: {}", ZSTD_getErrorName(rc));
      }
      return ZstdDecompress(c.zstd, input, decompressed_bytes_max, out);
  }
  return Status::Corruption("unknown codec");
}

Status Decompress(Codec codec, std::span<const std::byte> input, size_t decompressed_bytes_max,
                  std::vector<std::byte>& out) {
  Decompressor d;
  return d.Decompress(codec, input, decompressed_bytes_max, out);
}

}  // namespace runnel::engine
