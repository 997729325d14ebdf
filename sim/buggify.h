// SimBuggifier: the simulated Buggifier (FoundationDB's BUGGIFY). Each named site is enabled or
// not for a whole run, decided by a hash of the run's seed and the site name (so the answer
// does not depend on which site is asked about first); an enabled site fires with
// fire_probability each time it is asked. Disabled entirely unless BuggifyOptions::enabled.
// Owned by the SimWorld; shared by every node's Io.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <string_view>

#include "io/io.h"
#include "io/rng.h"

namespace runnel::sim {

struct BuggifyOptions {
  bool enabled = false;
  double site_enable_probability = 0.25;
  double fire_probability = 0.05;
};

class SimBuggifier final : public Buggifier {
 public:
  SimBuggifier(uint64_t seed, BuggifyOptions options);

  bool Fire(std::string_view site) override;
  // Whether `site` is enabled in this run (false when buggify is off).
  bool SiteEnabled(std::string_view site) const;

  struct Site {
    bool enabled = false;
    uint64_t asked = 0;
    uint64_t fired = 0;
  };
  // Every site asked about so far, by name.
  const std::map<std::string, Site, std::less<>>& sites() const { return sites_; }
  const BuggifyOptions& options() const { return options_; }

 private:
  const uint64_t seed_;
  const BuggifyOptions options_;
  Rng rng_;
  std::map<std::string, Site, std::less<>> sites_;
};

}  // namespace runnel::sim
