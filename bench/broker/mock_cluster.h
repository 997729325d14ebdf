// `runnel-bench mock`: librdkafka's in-memory mock cluster (rdkafka_mock.h, one broker) in a
// process of its own, so the driver measures its CPU apart from the load client's.
//
// It creates `topics` (name, partitions; replication 1), prints "bootstrap HOST:PORT" on one line
// of stdout, and serves until SIGTERM or SIGINT. The mock listens on 127.0.0.1 on a port the
// kernel picks. Note what the mock is: each partition keeps only its newest 5 MiB / 100,000
// batches (hard-wired in librdkafka 2.0.2's rdkafka_mock.c), nothing touches a disk, and a Fetch
// returns at most one stored batch per partition.
#pragma once

#include <string>
#include <utility>
#include <vector>

namespace runnel::bench {

// Returns the process exit status.
int RunMockCluster(const std::vector<std::pair<std::string, int>>& topics);

}  // namespace runnel::bench
