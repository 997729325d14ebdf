// Process-level helpers for the production binary (broker/main.cc): the bits of the OS a
// runnel process needs before or around its UringRuntime — the online core count (default
// shard count), reading a small text file such as the config before any shard exists, and
// turning SIGTERM / SIGINT into UringRuntime::RequestStop (async-signal-safe).
//
// Header-only on purpose; main thread only. Engine and broker code never call these.
#pragma once

#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdint>
#include <string>

#include "io/status.h"
#include "io/uring/runtime.h"

namespace runnel::uring {

// Online processors (sysconf(_SC_NPROCESSORS_ONLN)); at least 1.
inline uint32_t OnlineCores() {
  long n = sysconf(_SC_NPROCESSORS_ONLN);
  return n < 1 ? 1u : static_cast<uint32_t>(n);
}

// Reads a whole small file (at most size_max bytes) with plain syscalls, for use before the
// runtime exists.
inline Result<std::string> ReadSmallTextFile(const std::string& path, size_t size_max = 1 << 20) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return Status::FromErrno(errno, "open " + path);
  std::string out;
  char buf[4096];
  while (true) {
    ssize_t n = ::read(fd, buf, sizeof(buf));
    if (n < 0) {
      if (errno == EINTR) continue;
      int err = errno;
      ::close(fd);
      return Status::FromErrno(err, "read " + path);
    }
    if (n == 0) break;
    out.append(buf, static_cast<size_t>(n));
    if (out.size() > size_max) {
      ::close(fd);
      return Status::Limit(path + " is larger than " + std::to_string(size_max) + " bytes");
    }
  }
  ::close(fd);
  return out;
}

namespace detail {
inline std::atomic<UringRuntime*>& StopTarget() {
  static std::atomic<UringRuntime*> target{nullptr};
  return target;
}
inline std::atomic<int>& StopSignal() {
  static std::atomic<int> sig{0};
  return sig;
}
inline std::atomic<bool>& DrainFirst() {
  static std::atomic<bool> drain{false};
  return drain;
}
inline void OnStopSignal(int sig) {
  // With drain_first, the first signal only records itself (the process drains and then stops
  // itself); a second one stops at once.
  int previous = StopSignal().exchange(sig);
  if (DrainFirst().load() && previous == 0) return;
  UringRuntime* rt = StopTarget().load();
  if (rt != nullptr) rt->RequestStop();
}
}  // namespace detail

// SIGTERM and SIGINT call runtime->RequestStop(). With drain_first, the first signal is only
// recorded (poll ReceivedStopSignal() and stop yourself after draining) and a second one calls
// RequestStop. Call before Run; pass nullptr to detach (before the runtime is destroyed).
inline Status HandleStopSignals(UringRuntime* runtime, bool drain_first = false) {
  detail::StopTarget().store(runtime);
  detail::DrainFirst().store(drain_first);
  struct sigaction sa {};
  sa.sa_handler = runtime != nullptr ? detail::OnStopSignal : SIG_DFL;
  sigemptyset(&sa.sa_mask);
  for (int sig : {SIGTERM, SIGINT}) {
    if (sigaction(sig, &sa, nullptr) != 0) return Status::FromErrno(errno, "sigaction");
  }
  return Status::Ok();
}

// The stop signal received (0 if none).
inline int ReceivedStopSignal() { return detail::StopSignal().load(); }

}  // namespace runnel::uring
