#include "sim/buggify.h"

namespace runnel::sim {
namespace {

// FNV-1a: a stable hash of the site name (std::hash is not specified across libraries).
uint64_t HashName(std::string_view name) {
  uint64_t h = 0xcbf29ce484222325ULL;
  for (char c : name) {
    h ^= static_cast<uint8_t>(c);
    h *= 0x100000001b3ULL;
  }
  return h;
}

}  // namespace

SimBuggifier::SimBuggifier(uint64_t seed, BuggifyOptions options)
    : seed_(seed), options_(options), rng_(seed ^ 0x4255474749465955ULL) {}

bool SimBuggifier::SiteEnabled(std::string_view site) const {
  if (!options_.enabled) return false;
  uint64_t state = seed_ ^ HashName(site);
  Rng coin(SplitMix64(state));
  return coin.Chance(options_.site_enable_probability);
}

bool SimBuggifier::Fire(std::string_view site) {
  if (!options_.enabled) return false;
  auto it = sites_.find(site);
  if (it == sites_.end()) {
    it = sites_.emplace(std::string(site), Site{SiteEnabled(site), 0, 0}).first;
  }
  Site& s = it->second;
  s.asked++;
  if (!s.enabled || !rng_.Chance(options_.fire_probability)) return false;
  s.fired++;
  return true;
}

}  // namespace runnel::sim
