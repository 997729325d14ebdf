#include "engine/log_config.h"

#include <fmt/format.h>

#include "engine/segment_format.h"

namespace runnel::engine {

std::string_view CleanupPolicyName(CleanupPolicy policy) {
  switch (policy) {
    case CleanupPolicy::kDelete:
      return "delete";
    case CleanupPolicy::kCompact:
      return "compact";
    case CleanupPolicy::kCompactDelete:
      return "compact,delete";
  }
  return "unknown";
}

Result<CleanupPolicy> ParseCleanupPolicy(std::string_view text) {
  if (text == "delete") return CleanupPolicy::kDelete;
  if (text == "compact") return CleanupPolicy::kCompact;
  if (text == "compact,delete" || text == "delete,compact") return CleanupPolicy::kCompactDelete;
  return Status::InvalidArgument(fmt::format("cleanup.policy '{}'", text));
}

Status LogConfig::Validate() const {
  // Kafka's lower bounds where it has them; a segment must hold at least one batch header.
  if (segment_bytes < 14 || segment_bytes > uint64_t{INT32_MAX}) {
    return Status::InvalidArgument(fmt::format("segment.bytes {}", segment_bytes));
  }
  if (segment_ms < 1) return Status::InvalidArgument(fmt::format("segment.ms {}", segment_ms));
  if (retention_ms < -1) {
    return Status::InvalidArgument(fmt::format("retention.ms {}", retention_ms));
  }
  if (retention_bytes < -1) {
    return Status::InvalidArgument(fmt::format("retention.bytes {}", retention_bytes));
  }
  if (delete_retention_ms < 0) {
    return Status::InvalidArgument(fmt::format("delete.retention.ms {}", delete_retention_ms));
  }
  if (max_message_bytes < 0) {
    return Status::InvalidArgument(fmt::format("max.message.bytes {}", max_message_bytes));
  }
  if (segment_index_bytes < 4 * segment_format::kOffsetIndexEntryBytes) {
    return Status::InvalidArgument(fmt::format("segment.index.bytes {}", segment_index_bytes));
  }
  return Status::Ok();
}

size_t LogConfig::index_entries_max() const {
  return segment_index_bytes / segment_format::kTimeIndexEntryBytes;
}

}  // namespace runnel::engine
