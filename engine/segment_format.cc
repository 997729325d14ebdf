#include "engine/segment_format.h"

#include <fmt/format.h>

#include "io/file.h"

namespace runnel::engine::segment_format {

namespace {

bool EndsWith(std::string_view s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
}

// "<20 digits><suffix>" with a known suffix, else kUnknown.
ParsedName ParseOffsetName(std::string_view name) {
  ParsedName out;
  if (name.size() <= kOffsetDigits) return out;
  const std::string_view digits = name.substr(0, kOffsetDigits);
  const std::string_view suffix = name.substr(kOffsetDigits);
  uint64_t value = 0;
  for (char c : digits) {
    if (c < '0' || c > '9') return out;
    value = value * 10 + static_cast<uint64_t>(c - '0');
  }
  // 20 digits hold up to 10^20 - 1; offsets are int64.
  if (digits > std::string_view("09223372036854775807")) return out;
  out.offset = Offset(static_cast<int64_t>(value));
  if (suffix == kLogSuffix) {
    out.kind = FileKind::kLog;
  } else if (suffix == kIndexSuffix) {
    out.kind = FileKind::kIndex;
  } else if (suffix == kTimeIndexSuffix) {
    out.kind = FileKind::kTimeIndex;
  } else if (suffix == kSnapshotSuffix) {
    out.kind = FileKind::kSnapshot;
  }
  return out;
}

}  // namespace

std::string OffsetName(Offset offset) {
  RUNNEL_ASSERT(offset.value() >= 0, "negative offset {} in a file name", offset.value());
  return fmt::format("{:020d}", offset.value());
}

std::string SegmentPath(const std::string& dir, Offset base, std::string_view suffix) {
  return JoinPath(dir, OffsetName(base) + std::string(suffix));
}

ParsedName ParseFileName(std::string_view name) {
  if (name == kMetaFileName) return ParsedName{FileKind::kMeta, Offset(0), FileKind::kUnknown};
  if (EndsWith(name, kTmpSuffix)) return ParsedName{FileKind::kTmp, Offset(0), FileKind::kUnknown};
  for (auto [suffix, kind] :
       {std::pair{kCleanedSuffix, FileKind::kCleaned}, std::pair{kSwapSuffix, FileKind::kSwap}}) {
    if (EndsWith(name, suffix)) {
      ParsedName inner = ParseOffsetName(name.substr(0, name.size() - suffix.size()));
      if (inner.kind != FileKind::kLog && inner.kind != FileKind::kIndex &&
          inner.kind != FileKind::kTimeIndex) {
        // Still ours to clean up: a leftover that no longer names a segment file.
        return ParsedName{kind, inner.offset, FileKind::kUnknown};
      }
      return ParsedName{kind, inner.offset, inner.kind};
    }
  }
  return ParseOffsetName(name);
}

}  // namespace runnel::engine::segment_format
