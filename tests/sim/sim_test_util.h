// Helpers shared by the sim tests: run a coroutine on a simulated node to completion, build byte
// patterns, write files.
#pragma once

#include <gtest/gtest.h>

#include <cstring>
#include <functional>
#include <regex>
#include <string>
#include <string_view>
#include <vector>

#include "io/io.h"
#include "sim/node.h"
#include "sim/world.h"

namespace runnel::sim::testing {

using Body = std::function<Task<void>(Io&)>;

// Spawns body(io of node's shard) and runs the world until it finished. Returns whether it did.
inline bool RunTask(SimWorld& world, NodeId node, Body body, ShardId shard = 0,
                    uint64_t steps_max = 20'000'000) {
  bool done = false;
  world.Spawn(node, shard, [](Body body, Io& io, bool* done) -> Task<void> {
    co_await body(io);
    *done = true;
  }(std::move(body), world.node(node).io(shard), &done));
  RunStop stop = world.RunUntil([&] { return done; }, RunLimits{.steps_max = steps_max});
  EXPECT_TRUE(done) << "stopped: " << RunStopName(stop) << " " << world.failure();
  return done;
}

// The number after `name=` in a runnel-sim summary line (a workload summary, fault stats).
inline int64_t Count(const std::string& summary, const std::string& name) {
  std::smatch m;
  const std::regex re("\\b" + name + "=(-?[0-9]+)");
  EXPECT_TRUE(std::regex_search(summary, m, re)) << name << " in " << summary;
  return m.empty() ? 0 : std::stoll(m[1]);
}

inline std::vector<std::byte> Bytes(std::string_view s) {
  std::vector<std::byte> out(s.size());
  std::memcpy(out.data(), s.data(), s.size());
  return out;
}

inline std::vector<std::byte> Filled(size_t n, uint8_t value) {
  return std::vector<std::byte>(n, std::byte{value});
}

inline std::string Text(const std::vector<std::byte>& b) {
  return std::string(reinterpret_cast<const char*>(b.data()), b.size());
}

// Opens (creating) `path`, writes `data` at `offset`, optionally syncs the file and its
// directory. Returns the first error.
inline Task<Status> Write(FileSystem& fs, std::string path, uint64_t offset,
                          std::vector<std::byte> data, bool sync, bool sync_dir) {
  RUNNEL_CO_ASSIGN_OR_RETURN(std::unique_ptr<File> f,
                             co_await fs.Open(path, OpenOptions{.create = true}));
  RUNNEL_CO_TRY(co_await f->WriteAt(offset, data));
  if (sync) RUNNEL_CO_TRY(co_await f->Sync());
  RUNNEL_CO_TRY(co_await f->Close());
  if (sync_dir) RUNNEL_CO_TRY(co_await fs.SyncDir(ParentDir(path)));
  co_return Status::Ok();
}

}  // namespace runnel::sim::testing
