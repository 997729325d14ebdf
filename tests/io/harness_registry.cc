#include <map>

#include "tests/io/harness.h"

namespace runnel::testing {
namespace {
std::map<std::string, HarnessFactory>& Registry() {
  static std::map<std::string, HarnessFactory> registry;
  return registry;
}
}  // namespace

bool RegisterHarness(const std::string& name, HarnessFactory factory) {
  RUNNEL_ASSERT(Registry().emplace(name, std::move(factory)).second, "harness {} registered twice",
                name);
  return true;
}

std::vector<std::string> HarnessNames() {
  std::vector<std::string> names;
  for (const auto& [name, factory] : Registry()) names.push_back(name);
  return names;
}

std::unique_ptr<Harness> MakeHarness(const std::string& name) {
  auto it = Registry().find(name);
  RUNNEL_ASSERT(it != Registry().end(), "no harness named {}", name);
  return it->second();
}

}  // namespace runnel::testing
