#include "engine/retention.h"

#include <fmt/format.h>

#include <algorithm>

namespace runnel::engine {

Task<Result<RetentionResult>> Log::ApplyRetention() {
  RUNNEL_CO_TRY(co_await Lock(false));
  Result<RetentionResult> r = co_await RetentionLocked();
  Unlock();
  co_return r;
}

Task<Result<RetentionResult>> Log::RetentionLocked() {
  RetentionResult result;
  result.log_start_offset = log_start_;
  if (!Deletes(config_.cleanup_policy)) co_return result;
  const int64_t now_ms = io_.clock().Wall().unix_ms();
  auto expired = [&](const Segment& s) {
    return config_.retention_ms >= 0 && s.max_timestamp_ms() < now_ms - config_.retention_ms;
  };
  {
    const std::shared_ptr<Segment> a = active();
    if (!a->empty() && expired(*a) && log_end_ <= high_watermark_) {
      RUNNEL_CO_TRY(co_await DrainWrites());
      RUNNEL_CO_TRY(co_await Roll(log_end_));
    }
  }
  uint64_t total = size_bytes();
  std::vector<std::shared_ptr<Segment>> doomed;
  Offset new_start = log_start_;
  for (auto it = segments_.begin(); it != segments_.end(); ++it) {
    auto next = std::next(it);
    if (next == segments_.end()) break;  // the active segment stays
    const Segment& s = *it->second;
    if (next->first > high_watermark_) break;
    const bool over = config_.retention_bytes >= 0 &&
                      total - s.size_bytes() >= static_cast<uint64_t>(config_.retention_bytes);
    if (!expired(s) && !over) break;
    doomed.push_back(it->second);
    total -= s.size_bytes();
    new_start = std::max(new_start, next->first);
  }
  if (doomed.empty()) co_return result;
  const Offset old_start = log_start_;
  log_start_ = new_start;
  if (Status s = co_await WriteMeta(false); !s.ok()) {
    log_start_ = old_start;
    co_return s;
  }
  Status first_error;
  for (const std::shared_ptr<Segment>& s : doomed) {
    result.bytes_deleted += s->size_bytes();
    ++result.segments_deleted;
    Status removed = co_await RemoveSegment(s);
    if (!removed.ok() && first_error.ok()) first_error = removed;
  }
  result.log_start_offset = log_start_;
  producers_.EvictBefore(log_start_);
  // Files that could not be removed are removed by the next recovery (they lie below the start).
  if (!first_error.ok()) co_return first_error;
  co_return result;
}

Task<Result<Offset>> Log::DeleteRecords(Offset offset) {
  RUNNEL_CO_TRY(co_await Lock(false));
  Result<Offset> r = co_await DeleteRecordsLocked(offset);
  Unlock();
  co_return r;
}

Task<Result<Offset>> Log::DeleteRecordsLocked(Offset offset) {
  if (offset > high_watermark_ || offset.value() < 0) {
    co_return Status::InvalidArgument(fmt::format("delete records below {}: outside [0, {}]",
                                                  offset.value(), high_watermark_.value()));
  }
  if (offset <= log_start_) co_return log_start_;
  const Offset old_start = log_start_;
  log_start_ = offset;
  if (Status s = co_await WriteMeta(false); !s.ok()) {
    log_start_ = old_start;
    co_return s;
  }
  producers_.EvictBefore(log_start_);
  Status first_error;
  while (segments_.size() > 1 && std::next(segments_.begin())->first <= log_start_) {
    Status removed = co_await RemoveSegment(segments_.begin()->second);
    if (!removed.ok() && first_error.ok()) first_error = removed;
  }
  if (!first_error.ok()) co_return first_error;
  co_return log_start_;
}

}  // namespace runnel::engine
