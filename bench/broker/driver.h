// The side-by-side run of runnel-bench: starts a runnel broker (fresh data dir on the real disk,
// free port on 127.0.0.1, --smp = cores) and librdkafka's mock cluster (`runnel-bench mock`),
// runs the same cases against each, one broker after the other case by case, and prints the
// table of rates, broker CPU-seconds per GB and ratios against the targets. Every child is
// stopped by its PID at the end.
//
// Cases, for each partition count:
//   produce acks=1, produce acks=all   `messages` fresh messages into a fresh topic
//   consume (window)                   a topic of `window_per_partition` messages per partition
//                                      (what the mock retains), read from offset 0 to its end
//                                      again and again until `consume_messages` came back
//   consume (full, runnel only)        the acks=1 topic read once from offset 0 to its end
// Broker CPU is utime+stime of the broker process from the first message to the last.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "bench/broker/kafka_load.h"

namespace runnel::bench {

struct DriverOptions {
  std::string runnel;                    // path of the runnel binary
  std::vector<std::string> runnel_args;  // more runnel flags (--runnel-arg), after the driver's
  std::string self;                      // path of runnel-bench (runs the mock)
  std::string dir;                       // temp dirs (runnel's data, logs) go under it
  int smp = 1;
  std::vector<int> partitions{1, 8};
  uint64_t messages = 1000000;           // per produce case
  uint64_t window_per_partition = 4000;  // the consume topic, per partition
  uint64_t consume_messages = 1000000;   // per consume case
  int rounds = 1;  // every case this many times (fresh topics each round); medians printed
  bool full_consume = true;
  bool run_runnel = true;
  bool run_mock = true;
  LoadSettings settings;  // bootstrap is filled per broker
};

// Returns 0 when every case delivered and read back every message, 1 otherwise (the figures
// are printed either way; no time decides the status).
int RunDriver(const DriverOptions& options);

}  // namespace runnel::bench
