#include "broker/protocol/frame.h"

#include <fmt/format.h>

#include <algorithm>

#include "io/assert.h"

namespace runnel::protocol {
namespace {

int64_t PeekSize(const uint8_t* p) {
  uint32_t u = (uint32_t{p[0]} << 24) | (uint32_t{p[1]} << 16) | (uint32_t{p[2]} << 8) | p[3];
  return static_cast<int32_t>(u);
}

}  // namespace

void FrameReader::Append(std::span<const uint8_t> bytes) {
  // Drop consumed frames before growing, so the buffer holds at most one partial frame plus
  // what arrived with it.
  if (start_ > 0 && (start_ == buf_.size() || start_ >= buf_.size() / 2)) {
    buf_.erase(buf_.begin(), buf_.begin() + static_cast<std::ptrdiff_t>(start_));
    start_ = 0;
  }
  buf_.insert(buf_.end(), bytes.begin(), bytes.end());
}

Result<std::optional<std::span<const uint8_t>>> FrameReader::Next() {
  if (failed_) return Status::Corruption("frame reader already failed");
  size_t avail = buf_.size() - start_;
  if (avail < kFrameSizePrefixBytes) return std::optional<std::span<const uint8_t>>();
  int64_t size = PeekSize(buf_.data() + start_);
  if (size < 0) {
    failed_ = true;
    return Status::Corruption(fmt::format("negative frame size {}", size));
  }
  if (static_cast<uint64_t>(size) > frame_bytes_max_) {
    failed_ = true;
    return Status::Limit(
        fmt::format("frame of {} bytes is over the maximum of {} bytes", size, frame_bytes_max_));
  }
  if (avail - kFrameSizePrefixBytes < static_cast<size_t>(size)) {
    return std::optional<std::span<const uint8_t>>();
  }
  std::span<const uint8_t> frame(buf_.data() + start_ + kFrameSizePrefixBytes,
                                 static_cast<size_t>(size));
  start_ += kFrameSizePrefixBytes + static_cast<size_t>(size);
  return std::optional<std::span<const uint8_t>>(frame);
}

size_t FrameReader::bytes_needed() const {
  size_t avail = buf_.size() - start_;
  if (avail < kFrameSizePrefixBytes) return kFrameSizePrefixBytes - avail;
  int64_t size = PeekSize(buf_.data() + start_);
  if (size < 0) return 0;
  size_t want = kFrameSizePrefixBytes + static_cast<size_t>(size);
  return avail >= want ? 0 : want - avail;
}

std::optional<size_t> FrameReader::partial_frame_bytes() const {
  const size_t avail = buf_.size() - start_;
  if (failed_ || avail < kFrameSizePrefixBytes) return std::nullopt;
  const int64_t size = PeekSize(buf_.data() + start_);
  if (size < 0 || static_cast<uint64_t>(size) > frame_bytes_max_) return std::nullopt;
  if (avail - kFrameSizePrefixBytes >= static_cast<size_t>(size)) return std::nullopt;
  return static_cast<size_t>(size);
}

size_t FrameReader::TakePartialFrame(std::span<uint8_t> frame) {
  const std::optional<size_t> size = partial_frame_bytes();
  RUNNEL_ASSERT(size.has_value() && *size == frame.size(),
                "TakePartialFrame: {} bytes given for a partial frame of {}", frame.size(),
                size.value_or(0));
  const size_t have = buf_.size() - start_ - kFrameSizePrefixBytes;
  std::copy_n(buf_.data() + start_ + kFrameSizePrefixBytes, have, frame.data());
  buf_.clear();
  start_ = 0;
  return have;
}

Status FrameReader::Finish() const {
  size_t avail = buf_.size() - start_;
  if (avail == 0) return Status::Ok();
  if (avail < kFrameSizePrefixBytes) {
    return Status::Corruption(
        fmt::format("truncated frame: stream ended after {} of 4 size bytes", avail));
  }
  return Status::Corruption(fmt::format("truncated frame: stream ended after {} of {} bytes",
                                        avail - kFrameSizePrefixBytes,
                                        PeekSize(buf_.data() + start_)));
}

}  // namespace runnel::protocol
