// Harness: runs a test body against one io implementation, so the same contract tests
// (tests/io/contract_test.cc) check both io/uring and sim/. Each implementation provides and
// registers its harness (tests/io/uring_harness.cc, tests/io/sim_harness.cc).
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "io/io.h"

namespace runnel::testing {

class Harness {
 public:
  virtual ~Harness() = default;
  virtual std::string name() const = 0;

  // Starts a node with `shards` shards, runs body(io of shard 0) to completion, stops the node.
  // Returns when the body has finished (the test fails if it never does).
  virtual void Run(uint32_t shards, std::function<Task<void>(Io&)> body) = 0;

  // A fresh, empty directory for file tests (a real temp dir, or a path on the simulated disk).
  virtual std::string TempDir() = 0;
  // The host to listen on and connect to ("127.0.0.1", or the simulated node's address).
  virtual std::string LoopbackHost() = 0;
};

// Implementations register themselves from their own .cc file at static-init time:
//   static const bool kRegistered = RegisterHarness("uring", [] { return MakeUringHarness(); });
// The contract test is instantiated once per registered name, so a harness .cc that is linked
// into the test binary is tested, and one that is not does not break the build.
using HarnessFactory = std::function<std::unique_ptr<Harness>()>;
bool RegisterHarness(const std::string& name, HarnessFactory factory);
std::vector<std::string> HarnessNames();  // sorted
std::unique_ptr<Harness> MakeHarness(const std::string& name);

}  // namespace runnel::testing
