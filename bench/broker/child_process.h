// A broker under test as a child process of runnel-bench: started with fork/exec, its CPU time
// read from /proc/<pid>/stat, stopped by its PID. The child gets PR_SET_PDEATHSIG so it does not
// outlive a killed benchmark.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace runnel::bench {

class ChildProcess {
 public:
  // Starts argv[0] (a path) with argv. stdout and stderr go to `log_path` (appended), or with
  // `pipe_stdout` stdout is a pipe read by ReadLine. Null with `error` set when fork fails;
  // an exec failure shows as the child exiting with status 127.
  static std::unique_ptr<ChildProcess> Start(const std::vector<std::string>& argv,
                                             const std::string& log_path, bool pipe_stdout,
                                             std::string& error);
  ~ChildProcess();  // SIGKILLs a child still running
  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;

  pid_t pid() const { return pid_; }

  // One line from the child's stdout pipe, without the newline; nullopt at EOF or after
  // `timeout_ms`.
  std::optional<std::string> ReadLine(int timeout_ms);

  // User + system CPU seconds of the whole process so far (every thread, including exited ones
  // and io_uring workers), from /proc/<pid>/stat; clock-tick (10 ms) resolution. -1 if gone.
  double CpuSeconds() const;

  // True while the child has not exited; records its status when it has.
  bool Running();
  std::string ExitDescription() const;

  // Sends `signal` to the PID and waits up to `wait_ms` for the exit, then SIGKILLs. Returns the
  // exit description ("exit 0", "signal 9").
  std::string Stop(int signal, int wait_ms);

 private:
  ChildProcess(pid_t pid, int stdout_fd) : pid_(pid), stdout_fd_(stdout_fd) {}

  pid_t pid_;
  int stdout_fd_;
  std::string pending_;  // bytes read past the last returned line
  std::optional<int> status_;
};

// A TCP port on 127.0.0.1 that was free a moment ago (bound to port 0, then released).
uint16_t FreeLoopbackPort();

// Polls until something accepts on 127.0.0.1:port, the child exits, or `timeout_ms` passes.
bool AwaitListening(uint16_t port, ChildProcess& child, int timeout_ms, std::string& error);

}  // namespace runnel::bench
