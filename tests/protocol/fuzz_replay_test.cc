// Runs the request_decode fuzz entry point over its seed corpus and over deterministic
// mutations of every seed (bit flips, truncations, length bytes set to extremes), so that
// GCC builds exercise the fuzz oracle too. The libFuzzer run itself is scripts/fuzz.sh.
#include <gtest/gtest.h>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <random>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);

namespace {

std::vector<std::vector<uint8_t>> Corpus() {
  std::vector<std::vector<uint8_t>> out;
  for (const auto& entry : std::filesystem::directory_iterator(RUNNEL_FUZZ_CORPUS_DIR)) {
    std::ifstream in(entry.path(), std::ios::binary);
    out.emplace_back(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  }
  return out;
}

void RunOne(const std::vector<uint8_t>& input) {
  // An exact-size copy so that ASan builds catch any over-read.
  std::vector<uint8_t> copy(input);
  LLVMFuzzerTestOneInput(copy.data(), copy.size());
}

TEST(FuzzReplay, SeedCorpus) {
  auto corpus = Corpus();
  // The golden requests plus a default request per API and version.
  EXPECT_GT(corpus.size(), 300u);
  for (const auto& seed : corpus) RunOne(seed);
}

TEST(FuzzReplay, MutatedSeeds) {
  std::mt19937 rng(20241025);  // fixed: the same mutations every run
  size_t runs = 0;
  for (const auto& seed : Corpus()) {
    if (seed.empty()) continue;
    for (int i = 0; i < 60; ++i) {
      std::vector<uint8_t> m = seed;
      size_t pos = rng() % m.size();
      switch (i % 4) {
        case 0:
          m[pos] ^= static_cast<uint8_t>(1u << (rng() % 8));
          break;
        case 1:
          m.resize(pos);
          break;
        case 2:
          m[pos] = (rng() % 2) ? 0xff : 0x7f;
          break;
        case 3:
          m.insert(m.begin() + static_cast<std::ptrdiff_t>(pos), static_cast<uint8_t>(rng()));
          break;
      }
      RunOne(m);
      ++runs;
    }
  }
  EXPECT_GT(runs, 10000u);
}

}  // namespace
