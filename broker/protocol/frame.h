// FrameReader: splits a Kafka byte stream into frames. Each frame is a big-endian int32 size
// followed by that many bytes (a request or response: header + body).
//
// Owned by one connection on one shard. The size is checked before any byte of the frame is
// buffered past the prefix: a negative size is Corruption, a size above frame_bytes_max is
// Limit (Kafka's socket.request.max.bytes, default 100 MiB). A stream that ends inside a
// frame is reported by Finish() as a truncated frame.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <vector>

#include "io/status.h"

namespace runnel::protocol {

inline constexpr size_t kFrameBytesMaxDefault = 100 * 1024 * 1024;
inline constexpr size_t kFrameSizePrefixBytes = 4;

class FrameReader {
 public:
  explicit FrameReader(size_t frame_bytes_max = kFrameBytesMaxDefault)
      : frame_bytes_max_(frame_bytes_max) {}

  // Appends bytes read from the stream. Invalidates spans returned by Next().
  void Append(std::span<const uint8_t> bytes);

  // The next complete frame without its size prefix, or nullopt when more bytes are needed.
  // After an error the reader stays failed: the connection must be closed.
  // The span stays valid until the next Append.
  Result<std::optional<std::span<const uint8_t>>> Next();

  // At end of stream: ok if nothing is buffered, else Corruption naming the truncated frame.
  Status Finish() const;

  size_t buffered_bytes() const { return buf_.size() - start_; }
  size_t frame_bytes_max() const { return frame_bytes_max_; }
  // Bytes still needed to complete the frame being read (at least 1 while incomplete).
  size_t bytes_needed() const;

  // Reading a large frame without copying it twice: after Next() returned nullopt, the size of
  // the frame being read when its size prefix is complete (Next() has checked it against the
  // limits), else nullopt. Everything buffered then belongs to that frame.
  std::optional<size_t> partial_frame_bytes() const;
  // Moves the partial frame's buffered bytes (those after its prefix) to the front of `frame`
  // (exactly partial_frame_bytes() long) and forgets the frame; returns how many it moved. The
  // caller reads the rest of the frame from the stream straight into `frame`; the reader then
  // starts at the next frame, empty.
  size_t TakePartialFrame(std::span<uint8_t> frame);

 private:
  std::vector<uint8_t> buf_;
  size_t start_ = 0;
  size_t frame_bytes_max_;
  bool failed_ = false;
};

}  // namespace runnel::protocol
