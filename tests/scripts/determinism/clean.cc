// A sample that uses only io/: must pass scripts/check-determinism.sh.
// Mentions in comments do not count: std::chrono::steady_clock::now(), rand(), std::thread.
#include "io/io.h"

namespace sample {
runnel::Task<void> Tick(runnel::Io& io) {
  auto start = io.clock().Now();
  co_await io.Sleep(std::chrono::milliseconds(io.rng().Uniform(10)));
  const char* text = "time(nullptr) in a string is fine";
  (void)text;
  (void)start;
  auto f = co_await io.fs().Open("x", runnel::OpenOptions{.create = true});
  (void)f;
}
}  // namespace sample
