// Runs the record_batch_fuzz seed corpus through LLVMFuzzerTestOneInput with the normal
// compiler (so the target keeps building and its assertions hold without clang), and checks
// that the corpus still covers every codec.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <set>
#include <vector>

#include "engine/record_batch.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);

namespace runnel::engine {
namespace {

std::vector<std::vector<uint8_t>> LoadCorpus() {
  std::vector<std::vector<uint8_t>> inputs;
  for (const auto& entry : std::filesystem::directory_iterator(RUNNEL_RECORD_BATCH_CORPUS_DIR)) {
    if (!entry.is_regular_file()) continue;
    std::ifstream in(entry.path(), std::ios::binary);
    inputs.emplace_back(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  }
  return inputs;
}

TEST(RecordBatchFuzzReplay, CorpusRunsCleanly) {
  const auto inputs = LoadCorpus();
  ASSERT_GE(inputs.size(), 10u);
  for (const auto& input : inputs) EXPECT_EQ(LLVMFuzzerTestOneInput(input.data(), input.size()), 0);
  // Edge inputs the fuzzer would try first.
  EXPECT_EQ(LLVMFuzzerTestOneInput(nullptr, 0), 0);
  const std::vector<uint8_t> zeros(200, 0);
  EXPECT_EQ(LLVMFuzzerTestOneInput(zeros.data(), zeros.size()), 0);
}

TEST(RecordBatchFuzzReplay, CorpusHoldsValidBatchesOfEveryCodec) {
  std::set<Codec> codecs;
  int valid = 0;
  for (const auto& input : LoadCorpus()) {
    BatchSplitter s(Bytes(reinterpret_cast<const std::byte*>(input.data()), input.size()));
    while (auto v = s.Next()) {
      codecs.insert(v->codec());
      ++valid;
    }
  }
  EXPECT_EQ(codecs.size(), static_cast<size_t>(kCodecCount));
  EXPECT_GE(valid, 15);
}

}  // namespace
}  // namespace runnel::engine
