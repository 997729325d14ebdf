#include "io/task.h"

#include <cstdio>
#include <cstdlib>
#include <exception>

namespace runnel::detail {

[[noreturn]] void UnhandledException() {
  // Exceptions must not cross task boundaries; errors travel as Status.
  const char* what = "unknown exception";
  try {
    throw;
  } catch (const std::exception& e) {
    what = e.what();
  } catch (...) {
  }
  std::fprintf(stderr, "RUNNEL: exception escaped a task: %s\n", what);
  std::fflush(stderr);
  std::abort();
}

}  // namespace runnel::detail
