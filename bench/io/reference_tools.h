// The reference figures runnel-io-bench compares itself with: fio (O_DIRECT sequential writes
// through io_uring) and iperf3 (one TCP stream over loopback), run as child processes and read
// from their JSON output.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace runnel::bench {

// One measurement: a rate, and the CPU time (user + system, every thread and child process
// involved) spent per byte moved. CPU per byte is the steadier figure on a busy machine.
struct Measured {
  double rate = 0;  // bytes/s for files, bits/s for streams
  double cpu_ns_per_byte = 0;
};

// User + system CPU seconds of this process (RUSAGE_SELF) or of its waited-for children.
double CpuSeconds(bool children);

// Runs argv[0] (looked up in PATH) with its stdout captured; stderr is dropped. nullopt if it
// could not start or exited non-zero.
std::optional<std::string> RunCapture(const std::vector<std::string>& argv);

// The number after the last key of `path`, each key searched after the previous one. Enough for
// the fixed layouts of fio's and iperf3's JSON, not a general parser.
std::optional<double> JsonNumber(std::string_view json,
                                 std::initializer_list<std::string_view> path);

struct FioWriteJob {
  std::string dir;               // where fio's file goes (removed afterwards)
  uint64_t size_bytes = 0;       // --size
  uint32_t iodepth = 1;          // --iodepth
  uint32_t fdatasync_every = 0;  // --fdatasync=N (0: none)
  bool append = false;           // --file_append=1: every write extends the file
};
// Returns fio's write bandwidth in bytes per second and the exact command in `command`.
std::optional<Measured> FioWrite(const FioWriteJob& job, std::string& command);

// Runs `iperf3 -s -1` on a free loopback port and `iperf3 -c 127.0.0.1 -t seconds -J` against it
// (with -Z: the client sends with sendfile). Returns received bits per second.
std::optional<Measured> Iperf3(int seconds, bool zero_copy, std::string& command);

}  // namespace runnel::bench
