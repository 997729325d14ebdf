// Rng: the only randomness engine and broker code may use. Deterministic for a given seed
// (xoshiro256**, seeded through splitmix64). Production seeds it from the OS in io/uring; the
// simulator derives every node's seed from the run's one seed.
#pragma once

#include <cstdint>
#include <span>

namespace runnel {

class Rng {
 public:
  explicit Rng(uint64_t seed);

  uint64_t Next();
  // Uniform in [0, n); n > 0.
  uint64_t Uniform(uint64_t n);
  // Uniform in [lo, hi]; lo <= hi.
  int64_t Range(int64_t lo, int64_t hi);
  // Uniform in [0, 1).
  double Real();
  // True with probability p.
  bool Chance(double p);
  void Fill(std::span<std::byte> out);
  // A fresh independent generator's seed (for sub-seeds).
  uint64_t Fork() { return Next(); }

 private:
  uint64_t s_[4];
};

// splitmix64 step: used to spread seeds and to hash.
uint64_t SplitMix64(uint64_t& state);

}  // namespace runnel
