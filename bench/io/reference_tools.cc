#include "bench/io/reference_tools.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <thread>

extern char** environ;

namespace runnel::bench {
namespace {

std::vector<char*> ArgvOf(const std::vector<std::string>& argv) {
  std::vector<char*> out;
  for (const std::string& a : argv) out.push_back(const_cast<char*>(a.c_str()));
  out.push_back(nullptr);
  return out;
}

// Spawns argv with stdout going to `stdout_fd` (or /dev/null when -1) and stderr to /dev/null.
pid_t Spawn(const std::vector<std::string>& argv, int stdout_fd) {
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  if (stdout_fd >= 0) {
    posix_spawn_file_actions_adddup2(&actions, stdout_fd, STDOUT_FILENO);
  } else {
    posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, "/dev/null", O_WRONLY, 0);
  }
  posix_spawn_file_actions_addopen(&actions, STDERR_FILENO, "/dev/null", O_WRONLY, 0);
  std::vector<char*> args = ArgvOf(argv);
  pid_t pid = -1;
  if (posix_spawnp(&pid, args[0], &actions, nullptr, args.data(), environ) != 0) pid = -1;
  posix_spawn_file_actions_destroy(&actions);
  return pid;
}

uint16_t FreeLoopbackPort() {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof(sa);
  uint16_t port = 0;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&sa), sizeof(sa)) == 0 &&
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&sa), &len) == 0) {
    port = ntohs(sa.sin_port);
  }
  ::close(fd);
  return port;
}

std::string Join(const std::vector<std::string>& argv) {
  std::string out;
  for (const std::string& a : argv) out += (out.empty() ? "" : " ") + a;
  return out;
}

}  // namespace

double CpuSeconds(bool children) {
  rusage ru{};
  ::getrusage(children ? RUSAGE_CHILDREN : RUSAGE_SELF, &ru);
  auto secs = [](const timeval& tv) { return tv.tv_sec + tv.tv_usec / 1e6; };
  return secs(ru.ru_utime) + secs(ru.ru_stime);
}

std::optional<std::string> RunCapture(const std::vector<std::string>& argv) {
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) return std::nullopt;
  pid_t pid = Spawn(argv, fds[1]);
  ::close(fds[1]);
  if (pid < 0) {
    ::close(fds[0]);
    return std::nullopt;
  }
  std::string out;
  char buf[65536];
  for (;;) {
    ssize_t n = ::read(fds[0], buf, sizeof(buf));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    out.append(buf, static_cast<size_t>(n));
  }
  ::close(fds[0]);
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) return std::nullopt;
  return out;
}

std::optional<double> JsonNumber(std::string_view json,
                                 std::initializer_list<std::string_view> path) {
  size_t pos = 0;
  for (std::string_view key : path) {
    // A key is a quoted string followed by a colon ("rw" : "write" has "write" as a value).
    const std::string quoted = fmt::format("\"{}\"", key);
    for (;;) {
      pos = json.find(quoted, pos);
      if (pos == std::string_view::npos) return std::nullopt;
      pos += quoted.size();
      size_t next = json.find_first_not_of(" \t\r\n", pos);
      if (next != std::string_view::npos && json[next] == ':') break;
    }
  }
  pos = json.find(':', pos);
  if (pos == std::string_view::npos) return std::nullopt;
  const std::string rest(json.substr(pos + 1, 64));
  char* end = nullptr;
  double v = std::strtod(rest.c_str(), &end);
  if (end == rest.c_str()) return std::nullopt;
  return v;
}

std::optional<Measured> FioWrite(const FioWriteJob& job, std::string& command) {
  const std::string file = job.dir + "/fio-reference.dat";
  std::vector<std::string> argv = {
      "fio",
      "--name=runnel-reference",
      "--rw=write",
      "--bs=1M",
      "--direct=1",
      "--ioengine=io_uring",
      fmt::format("--iodepth={}", job.iodepth),
      fmt::format("--size={}", job.size_bytes),
      "--filename=" + file,
      "--output-format=json",
  };
  if (job.fdatasync_every > 0) argv.push_back(fmt::format("--fdatasync={}", job.fdatasync_every));
  if (job.append) argv.push_back("--file_append=1");
  command = Join(argv);
  ::unlink(file.c_str());
  const double cpu0 = CpuSeconds(true);
  std::optional<std::string> out = RunCapture(argv);
  const double cpu = CpuSeconds(true) - cpu0;
  ::unlink(file.c_str());
  if (!out) return std::nullopt;
  // fio's JSON: jobs[0].write.bw_bytes. The "write" key after "jobs" is the job's write section.
  std::optional<double> bw = JsonNumber(*out, {"jobs", "write", "bw_bytes"});
  if (!bw) return std::nullopt;
  return Measured{*bw, cpu * 1e9 / static_cast<double>(job.size_bytes)};
}

std::optional<Measured> Iperf3(int seconds, bool zero_copy, std::string& command) {
  const uint16_t port = FreeLoopbackPort();
  if (port == 0) return std::nullopt;
  const std::vector<std::string> server = {
      "iperf3", "-s", "-1", "-B", "127.0.0.1", "-p", std::to_string(port)};
  pid_t server_pid = Spawn(server, -1);
  if (server_pid < 0) return std::nullopt;
  std::vector<std::string> client = {
      "iperf3", "-c", "127.0.0.1", "-p", std::to_string(port), "-t", std::to_string(seconds), "-J"};
  if (zero_copy) client.push_back("-Z");
  command = Join(server) + " & " + Join(client);
  const double cpu0 = CpuSeconds(true);
  std::optional<std::string> out;
  // The server needs a moment to listen; the client fails fast until it does.
  for (int attempt = 0; attempt < 50 && !out; attempt++) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    out = RunCapture(client);
  }
  if (!out) ::kill(server_pid, SIGTERM);
  int status = 0;
  while (::waitpid(server_pid, &status, 0) < 0 && errno == EINTR) {
  }
  const double cpu = CpuSeconds(true) - cpu0;
  if (!out) return std::nullopt;
  std::optional<double> bps = JsonNumber(*out, {"end", "sum_received", "bits_per_second"});
  std::optional<double> bytes = JsonNumber(*out, {"end", "sum_received", "bytes"});
  if (!bps || !bytes || *bytes <= 0) return std::nullopt;
  return Measured{*bps, cpu * 1e9 / *bytes};
}

}  // namespace runnel::bench
