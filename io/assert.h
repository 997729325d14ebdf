// RUNNEL_ASSERT: programmer errors. Always on; prints the condition, place and message, then
// aborts. RUNNEL_ASSERT_SIM: checks too costly outside simulation builds (RUNNEL_SIM_CHECKS).
#pragma once

#include <fmt/format.h>

#include <string>

namespace runnel {

[[noreturn]] void AssertFail(const char* cond, const char* file, int line, const std::string& msg);

}  // namespace runnel

#define RUNNEL_ASSERT(cond, ...)                                                      \
  do {                                                                                \
    if (__builtin_expect(!(cond), 0)) {                                               \
      ::runnel::AssertFail(#cond, __FILE__, __LINE__, ::fmt::format("" __VA_ARGS__)); \
    }                                                                                 \
  } while (0)

#if defined(RUNNEL_SIM_CHECKS)
#define RUNNEL_ASSERT_SIM(cond, ...) RUNNEL_ASSERT(cond, __VA_ARGS__)
#else
#define RUNNEL_ASSERT_SIM(cond, ...) \
  do {                               \
  } while (0)
#endif

#define RUNNEL_UNREACHABLE(...) \
  ::runnel::AssertFail("unreachable", __FILE__, __LINE__, ::fmt::format("" __VA_ARGS__))
