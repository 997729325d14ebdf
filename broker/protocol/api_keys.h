// The Kafka API table: for each of the 88 API keys, its name, the versions the schemas
// define, the first flexible version, deprecated versions, whether the latest version is
// unstable, which listeners accept it, and the versions this broker implements and
// advertises (broker/protocol/advertised.json). The data is generated from the spec
// (gen/api_table.cc); the header-version rules below are the protocol's two exceptions.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string_view>

#include "io/status.h"

namespace runnel::protocol {

enum ListenerMask : uint8_t {
  kListenerZkBroker = 1,
  kListenerBroker = 2,
  kListenerController = 4,
};

struct ApiInfo {
  int16_t key;
  std::string_view name;  // "Produce", "Fetch", ...
  int16_t min_version;
  int16_t max_version;
  int16_t first_flexible_version;  // -1: no flexible version
  int16_t deprecated_min_version;  // -1: none deprecated
  int16_t deprecated_max_version;
  bool latest_version_unstable;   // max_version must not be advertised
  int16_t implement_min_version;  // -1: not implemented by this broker
  int16_t implement_max_version;
  int16_t advertise_min_version;  // -1: not listed in ApiVersions
  int16_t advertise_max_version;
  uint8_t listeners;  // ListenerMask bits

  bool IsValid(int16_t version) const { return version >= min_version && version <= max_version; }
  bool IsFlexible(int16_t version) const {
    return first_flexible_version >= 0 && version >= first_flexible_version;
  }
  bool IsAdvertised() const { return advertise_min_version >= 0; }
};

// All APIs, ordered by key. Generated.
const std::span<const ApiInfo> AllApis();
// nullptr for an unknown key.
const ApiInfo* FindApi(int16_t key);

// Request header version for an API version: 2 when flexible, else 1; ControlledShutdown v0
// uses header v0. Versions above the API's maximum are treated like its latest version, so an
// ApiVersions request from a newer client can still be parsed and answered.
int16_t RequestHeaderVersion(const ApiInfo& api, int16_t version);
// Response header version: 1 when flexible, else 0; ApiVersions always uses 0 (clients parse
// the ApiVersions response before they know what the broker speaks).
int16_t ResponseHeaderVersion(const ApiInfo& api, int16_t version);

inline constexpr int16_t kApiVersionsKey = 18;
inline constexpr int16_t kControlledShutdownKey = 7;

}  // namespace runnel::protocol
