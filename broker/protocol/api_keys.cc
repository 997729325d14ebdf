#include "broker/protocol/api_keys.h"

namespace runnel::protocol {

const ApiInfo* FindApi(int16_t key) {
  // Keys are dense from 0 with a few gaps; a binary search keeps this independent of that.
  std::span<const ApiInfo> apis = AllApis();
  size_t lo = 0;
  size_t hi = apis.size();
  while (lo < hi) {
    size_t mid = (lo + hi) / 2;
    if (apis[mid].key == key) return &apis[mid];
    if (apis[mid].key < key) {
      lo = mid + 1;
    } else {
      hi = mid;
    }
  }
  return nullptr;
}

int16_t RequestHeaderVersion(const ApiInfo& api, int16_t version) {
  if (api.key == kControlledShutdownKey && version == 0) return 0;
  return api.IsFlexible(version) ? 2 : 1;
}

int16_t ResponseHeaderVersion(const ApiInfo& api, int16_t version) {
  if (api.key == kApiVersionsKey) return 0;
  return api.IsFlexible(version) ? 1 : 0;
}

}  // namespace runnel::protocol
