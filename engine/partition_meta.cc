#include "engine/partition_meta.h"

#include <fmt/format.h>

#include <cstring>

#include "engine/crc32c.h"
#include "engine/segment_format.h"
#include "engine/varint.h"

namespace runnel::engine {

namespace sf = segment_format;

namespace {
constexpr unsigned char kMagic[4] = {'R', 'N', 'L', 'M'};

// Covers magic, version and flags too: a flipped clean-shutdown bit must not go unnoticed.
uint32_t MetaCrc(const std::byte* p) {
  const uint32_t head = crc32c::Value(p, sf::kMetaCrcOffset);
  return crc32c::Extend(head, p + sf::kMetaCrcCoverageOffset,
                        sf::kMetaBytes - sf::kMetaCrcCoverageOffset);
}
}  // namespace

std::vector<std::byte> PartitionMeta::Encode() const {
  std::vector<std::byte> out(sf::kMetaBytes);
  std::byte* p = out.data();
  std::memcpy(p, kMagic, sizeof kMagic);
  StoreBe16(p + 4, sf::kMetaVersion);
  StoreBe16(p + 6, clean_shutdown ? sf::kMetaFlagClean : 0);
  StoreBe64(p + 12, static_cast<uint64_t>(log_start.value()));
  StoreBe64(p + 20, static_cast<uint64_t>(recovery_point.value()));
  StoreBe64(p + 28, static_cast<uint64_t>(high_watermark.value()));
  StoreBe64(p + 36, static_cast<uint64_t>(compacted_end.value()));
  StoreBe64(p + 44, static_cast<uint64_t>(truncate_to.value_or(Offset(-1)).value()));
  StoreBe32(p + sf::kMetaCrcOffset, MetaCrc(p));
  return out;
}

Result<PartitionMeta> PartitionMeta::Decode(std::span<const std::byte> bytes) {
  if (bytes.size() != sf::kMetaBytes) {
    return Status::Corruption(fmt::format("partition meta of {} bytes", bytes.size()));
  }
  const std::byte* p = bytes.data();
  if (std::memcmp(p, kMagic, sizeof kMagic) != 0) {
    return Status::Corruption("partition meta: bad magic");
  }
  const uint16_t version = LoadBe16(p + 4);
  if (version > sf::kMetaVersion) {
    return Status::Unsupported(fmt::format("partition meta version {}", version));
  }
  if (version == 0) return Status::Corruption("partition meta version 0");
  const uint32_t stored = LoadBe32(p + sf::kMetaCrcOffset);
  const uint32_t computed = MetaCrc(p);
  if (stored != computed) {
    return Status::Corruption(fmt::format(
        "partition meta CRC mismatch: stored {:#010x}, computed {:#010x}", stored, computed));
  }
  const uint16_t flags = LoadBe16(p + 6);
  if ((flags & ~sf::kMetaFlagClean) != 0) {
    return Status::Corruption(fmt::format("partition meta: unknown flags {:#x}", flags));
  }
  PartitionMeta m;
  m.clean_shutdown = (flags & sf::kMetaFlagClean) != 0;
  m.log_start = Offset(static_cast<int64_t>(LoadBe64(p + 12)));
  m.recovery_point = Offset(static_cast<int64_t>(LoadBe64(p + 20)));
  m.high_watermark = Offset(static_cast<int64_t>(LoadBe64(p + 28)));
  m.compacted_end = Offset(static_cast<int64_t>(LoadBe64(p + 36)));
  const int64_t truncate_to = static_cast<int64_t>(LoadBe64(p + 44));
  if (truncate_to < -1) return Status::Corruption("partition meta: bad truncation offset");
  if (truncate_to >= 0) m.truncate_to = Offset(truncate_to);
  for (Offset o : {m.log_start, m.recovery_point, m.high_watermark, m.compacted_end,
                   m.truncate_to.value_or(Offset(0))}) {
    if (o.value() < 0 || o.value() >= kOffsetMax) {
      return Status::Corruption(fmt::format("partition meta: offset {}", o.value()));
    }
  }
  return m;
}

std::string MetaPath(const std::string& dir) {
  return JoinPath(dir, std::string(sf::kMetaFileName));
}

Task<Status> WritePartitionMeta(FileSystem& fs, const std::string& dir, const PartitionMeta& meta) {
  const std::vector<std::byte> bytes = meta.Encode();
  co_return co_await WriteFileAtomic(fs, MetaPath(dir), bytes);
}

Task<Result<std::optional<PartitionMeta>>> ReadPartitionMeta(FileSystem& fs,
                                                             const std::string& dir) {
  const std::string path = MetaPath(dir);
  Result<std::vector<std::byte>> bytes = co_await ReadFile(fs, path, sf::kMetaBytes * 4);
  if (!bytes.ok()) {
    if (bytes.status().Is(ErrorKind::kNotFound)) co_return std::optional<PartitionMeta>();
    co_return std::move(bytes).status();
  }
  Result<PartitionMeta> meta = PartitionMeta::Decode(*bytes);
  if (!meta.ok()) co_return std::move(meta).status();
  co_return std::optional<PartitionMeta>(*meta);
}

}  // namespace runnel::engine
