#include "io/clock.h"

namespace runnel {

Task<Status> WithTimeout(Executor& executor, Clock& clock, Duration d, Task<Status> task) {
  struct Unit {};
  Result<Unit> r =
      co_await WithTimeout<Unit>(executor, clock, d, [](Task<Status> t) -> Task<Result<Unit>> {
        Status s = co_await std::move(t);
        if (!s.ok()) co_return s;
        co_return Unit{};
      }(std::move(task)));
  co_return std::move(r).status();
}

}  // namespace runnel
