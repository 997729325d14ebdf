// The "io" workload: exercises the simulated io layer itself under faults, before any broker
// exists. On 3-5 nodes with 1-4 shards each (drawn from the seed):
// - a disk writer per node appends checksummed records to log files, syncs sometimes, makes
//   new names durable with SyncDir, rewrites a small meta file with WriteFileAtomic, rotates and
//   removes old logs; at every boot it first verifies every log and the meta file against the
//   model it keeps outside the node (sim/checkers/record_log.h): synced data survived, nothing
//   was invented;
// - echo servers on every shard (SO_REUSEPORT) and echo clients streaming seeded bytes to random
//   nodes; every echoed byte must continue an in-order prefix of what was sent
//   (sim/checkers/stream_checker.h);
// - tickers on every shard: sleeps never end early, the monotonic clock never goes back, and
//   cross-shard Invoke runs on the target shard and comes back;
// - liveness: after the faults heal, every node must complete an echo stream and a synced
//   write; at the end every node is crashed once more and must verify its logs.
#pragma once

#include <cstdint>
#include <memory>

#include "sim/workload.h"

namespace runnel::sim {

std::unique_ptr<Workload> MakeIoWorkload(uint64_t seed);

}  // namespace runnel::sim
