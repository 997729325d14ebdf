#include "sim/checkers/stream_checker.h"

#include <fmt/format.h>

#include <algorithm>

#include "io/rng.h"

namespace runnel::sim {

namespace {

uint64_t Word(uint64_t seed, uint64_t index) {
  uint64_t state = seed ^ (index * 0xd1b54a32d192ed03ULL);
  return SplitMix64(state);
}

}  // namespace

std::byte StreamChecker::ByteAt(uint64_t seed, uint64_t position) {
  return std::byte{static_cast<uint8_t>(Word(seed, position / 8) >> (8 * (position % 8)))};
}

void StreamChecker::Fill(uint64_t seed, uint64_t position, std::span<std::byte> out) {
  // One word per 8 bytes: this runs over every byte of every simulated stream.
  uint64_t index = position / 8;
  uint64_t word = Word(seed, index);
  for (size_t i = 0; i < out.size(); i++) {
    const uint64_t p = position + i;
    if (p / 8 != index) {
      index = p / 8;
      word = Word(seed, index);
    }
    out[i] = std::byte{static_cast<uint8_t>(word >> (8 * (p % 8)))};
  }
}

Status StreamChecker::Received(std::span<const std::byte> received) {
  if (received_ + received.size() > sent_) {
    return Status::Corruption(fmt::format("stream {:x}: received {} bytes but only {} were sent",
                                          seed_, received_ + received.size(), sent_));
  }
  std::byte want_buf[4096];
  for (size_t i = 0; i < received.size(); i++) {
    if (i % sizeof(want_buf) == 0) {
      Fill(seed_, received_ + i,
           std::span(want_buf, std::min(sizeof(want_buf), received.size() - i)));
    }
    const std::byte want = want_buf[i % sizeof(want_buf)];
    if (received[i] != want) {
      return Status::Corruption(fmt::format(
          "stream {:x}: byte {} is {:#04x}, sent {:#04x} (not an in-order prefix)", seed_,
          received_ + i, static_cast<unsigned>(received[i]), static_cast<unsigned>(want)));
    }
  }
  received_ += received.size();
  return Status::Ok();
}

}  // namespace runnel::sim
