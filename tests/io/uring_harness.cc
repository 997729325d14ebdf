// The "uring" harness: runs contract test bodies on a real UringRuntime, with a fresh temp
// directory under /tmp per test (removed when the harness is destroyed) and 127.0.0.1.
#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <string>
#include <vector>

#include "io/uring/runtime.h"
#include "tests/io/harness.h"

namespace runnel::testing {
namespace {

// A contract test body that has not finished after this long has hung.
constexpr Duration kBodyTimeMax = std::chrono::seconds(120);

class UringHarness final : public Harness {
 public:
  ~UringHarness() override {
    for (const std::string& dir : dirs_) {
      std::error_code ec;
      std::filesystem::remove_all(dir, ec);
    }
  }

  std::string name() const override { return "uring"; }

  void Run(uint32_t shards, std::function<Task<void>(Io&)> body) override {
    auto rt = uring::UringRuntime::Create(uring::UringOptions{.shards = shards});
    ASSERT_TRUE(rt.ok()) << rt.status().ToString();
    Status s = (*rt)->Run(std::move(body), uring::RunOn::kShard0, kBodyTimeMax);
    EXPECT_TRUE(s.ok()) << s.ToString();
  }

  std::string TempDir() override {
    std::string templ = (std::filesystem::temp_directory_path() / "runnel-io-XXXXXX").string();
    char* made = ::mkdtemp(templ.data());
    EXPECT_NE(made, nullptr) << "mkdtemp " << templ;
    dirs_.push_back(templ);
    return templ;
  }

  std::string LoopbackHost() override { return "127.0.0.1"; }

 private:
  std::vector<std::string> dirs_;
};

[[maybe_unused]] const bool kRegistered =
    RegisterHarness("uring", [] { return std::make_unique<UringHarness>(); });

}  // namespace
}  // namespace runnel::testing
