// Writes the golden log (golden_log.h) to a directory of the host:
//   cmake --build <dir> --target storage_golden_log_make &&
//   <dir>/tests/storage_golden_log_make tests/storage/golden/log-v1
// Built in a SimWorld (fixed seed, virtual clock), so the bytes are the same on every run.
#include <cstdio>
#include <filesystem>
#include <fstream>

#include "sim/node.h"
#include "sim/world.h"
#include "tests/storage/golden_log.h"

int main(int argc, char** argv) {
  using namespace runnel;  // NOLINT
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s OUTPUT_DIR\n", argv[0]);
    return 2;
  }
  sim::SimWorld world(1);
  const sim::NodeId node = world.AddNode();
  RUNNEL_ASSERT(world.disk(node).MakeDirsNow("/golden").ok(), "mkdir");
  Status built;
  std::vector<DirEntry> entries;
  world.RunTask(node, 0, [](Io& io, Status& built, std::vector<DirEntry>& entries) -> Task<void> {
    built = co_await engine::golden::Build(io, engine::golden::kSimDir);
    auto listed = co_await io.fs().List(engine::golden::kSimDir);
    if (listed.ok()) entries = *listed;
  }(world.node(node).io(0), built, entries));
  if (!built.ok()) {
    std::fprintf(stderr, "build: %s\n", built.ToString().c_str());
    return 1;
  }
  std::filesystem::create_directories(argv[1]);
  for (const DirEntry& e : entries) {
    auto bytes = world.disk(node).ReadNow(std::string(engine::golden::kSimDir) + "/" + e.name);
    RUNNEL_ASSERT(bytes.ok(), "{}", e.name);
    std::ofstream out(std::filesystem::path(argv[1]) / e.name, std::ios::binary | std::ios::trunc);
    out.write(reinterpret_cast<const char*>(bytes->data()),
              static_cast<std::streamsize>(bytes->size()));
    std::printf("%s %zu bytes\n", e.name.c_str(), bytes->size());
  }
  return 0;
}
