// Strong types for the engine's domain integers: offsets, producer ids and epochs, leader
// epochs. They do not convert to each other or to plain integers implicitly, so a producer id
// cannot be passed where an offset is expected.
#pragma once

#include <compare>
#include <cstdint>
#include <functional>

namespace runnel::engine {

template <typename Tag, typename Rep>
class StrongInt {
 public:
  using rep_type = Rep;

  constexpr StrongInt() = default;
  constexpr explicit StrongInt(Rep value) : value_(value) {}

  constexpr Rep value() const { return value_; }

  constexpr auto operator<=>(const StrongInt&) const = default;

 private:
  Rep value_ = 0;
};

// A record's position in a partition's log.
using Offset = StrongInt<struct OffsetTag, int64_t>;
// The id a broker hands to an idempotent or transactional producer (InitProducerId).
using ProducerId = StrongInt<struct ProducerIdTag, int64_t>;
// Bumped when a producer id is re-initialised; an older epoch is fenced.
using ProducerEpoch = StrongInt<struct ProducerEpochTag, int16_t>;
// The partition leader's term, stamped into every batch header it appends.
using LeaderEpoch = StrongInt<struct LeaderEpochTag, int32_t>;

inline constexpr ProducerId kNoProducerId{-1};
inline constexpr ProducerEpoch kNoProducerEpoch{-1};
inline constexpr LeaderEpoch kNoLeaderEpoch{-1};
inline constexpr int32_t kNoSequence = -1;
// Offsets stay below this (2^62): far beyond any real log, and room for arithmetic on them
// (next offset, relative offsets) without overflow. Stored batches past it are corruption.
inline constexpr int64_t kOffsetMax = int64_t{1} << 62;
inline constexpr int64_t kNoTimestamp = -1;

// Producer sequence numbers count records and wrap from INT32_MAX to 0 (Kafka's
// DefaultRecordBatch.incrementSequence). `seq` and `increment` are >= 0.
inline constexpr int32_t SequenceAdd(int32_t seq, int32_t increment) {
  return static_cast<int32_t>((static_cast<int64_t>(seq) + increment) % (int64_t{INT32_MAX} + 1));
}

}  // namespace runnel::engine

template <typename Tag, typename Rep>
struct std::hash<runnel::engine::StrongInt<Tag, Rep>> {
  size_t operator()(const runnel::engine::StrongInt<Tag, Rep>& v) const noexcept {
    return std::hash<Rep>()(v.value());
  }
};
