// StreamChecker: checks that the bytes a stream delivered are an in-order prefix of what was
// sent. The sent bytes are a pure function of (stream seed, position), so sender and receiver
// agree without sharing a buffer, however the stream is chunked.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

#include "io/status.h"

namespace runnel::sim {

class StreamChecker {
 public:
  explicit StreamChecker(uint64_t seed) : seed_(seed) {}

  // The byte at `position` of the stream with `seed`.
  static std::byte ByteAt(uint64_t seed, uint64_t position);
  // Fills `out` with the stream's bytes from `position` on.
  static void Fill(uint64_t seed, uint64_t position, std::span<std::byte> out);

  // Records `sent` more bytes as sent (the sender's side).
  void Sent(uint64_t bytes) { sent_ += bytes; }
  // Checks `received` continues the prefix: it must match the stream at the current position
  // and not run past what was sent. Returns kCorruption on the first violation.
  Status Received(std::span<const std::byte> received);

  uint64_t sent() const { return sent_; }
  uint64_t received() const { return received_; }

 private:
  const uint64_t seed_;
  uint64_t sent_ = 0;
  uint64_t received_ = 0;
};

}  // namespace runnel::sim
