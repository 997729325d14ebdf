// The workload registry: one line per workload.
#include "sim/workload.h"
#include "sim/workloads/broker_workload.h"
#include "sim/workloads/group_workload.h"
#include "sim/workloads/io_workload.h"

namespace runnel::sim {
namespace {

struct Entry {
  const char* name;
  std::unique_ptr<Workload> (*make)(uint64_t seed);
};

constexpr Entry kWorkloads[] = {
    {"io", &MakeIoWorkload},
    {"broker", &MakeBrokerWorkload},
    {"group", &MakeGroupWorkload},
};

}  // namespace

std::vector<std::string> WorkloadNames() {
  std::vector<std::string> names;
  for (const Entry& e : kWorkloads) names.emplace_back(e.name);
  return names;
}

std::unique_ptr<Workload> MakeWorkload(std::string_view name, uint64_t seed) {
  for (const Entry& e : kWorkloads) {
    if (name == e.name) return e.make(seed);
  }
  return nullptr;
}

}  // namespace runnel::sim
