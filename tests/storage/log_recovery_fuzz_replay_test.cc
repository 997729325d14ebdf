// Runs the log_recovery_fuzz seed corpus (and edge inputs) through LLVMFuzzerTestOneInput with
// the normal compiler, so the target keeps building and its assertions hold without clang, and
// checks that the corpus still reaches the recovery paths it was made for.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <vector>

#include "fuzz/log_recovery/log_recovery_fuzz.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);

namespace runnel::engine {
namespace {

std::vector<std::vector<uint8_t>> LoadCorpus() {
  std::vector<std::vector<uint8_t>> inputs;
  for (const auto& entry : std::filesystem::directory_iterator(RUNNEL_LOG_RECOVERY_CORPUS_DIR)) {
    if (!entry.is_regular_file()) continue;
    std::ifstream in(entry.path(), std::ios::binary);
    inputs.emplace_back(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  }
  return inputs;
}

TEST(LogRecoveryFuzzReplay, CorpusRunsCleanly) {
  const auto inputs = LoadCorpus();
  ASSERT_GE(inputs.size(), 8u);
  for (const auto& input : inputs) EXPECT_EQ(LLVMFuzzerTestOneInput(input.data(), input.size()), 0);
  EXPECT_EQ(LLVMFuzzerTestOneInput(nullptr, 0), 0);
  const std::vector<uint8_t> zeros(300, 0);
  EXPECT_EQ(LLVMFuzzerTestOneInput(zeros.data(), zeros.size()), 0);
  const std::vector<uint8_t> ones(300, 0xFF);
  EXPECT_EQ(LLVMFuzzerTestOneInput(ones.data(), ones.size()), 0);
}

TEST(LogRecoveryFuzzReplay, MutatedCorpusRunsCleanly) {
  // A cheap stand-in for the fuzzer in every build: flip bytes of each seed, with and without
  // the checksum fix-ups.
  uint64_t state = 0x9E3779B97F4A7C15ull;
  auto next = [&state] {
    state ^= state << 13;
    state ^= state >> 7;
    state ^= state << 17;
    return state;
  };
  for (const auto& input : LoadCorpus()) {
    for (int round = 0; round < 40; ++round) {
      std::vector<uint8_t> mutated = input;
      const int flips = 1 + static_cast<int>(next() % 4);
      for (int i = 0; i < flips && !mutated.empty(); ++i) {
        mutated[next() % mutated.size()] ^= static_cast<uint8_t>(1u << (next() % 8));
      }
      EXPECT_EQ(LLVMFuzzerTestOneInput(mutated.data(), mutated.size()), 0);
    }
  }
}

}  // namespace
}  // namespace runnel::engine
