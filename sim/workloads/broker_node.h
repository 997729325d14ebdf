// What the workloads that run a runnel broker node share (broker_workload.cc,
// group_workload.cc): booting the broker's shards under a supervisor, the broker's log switch,
// and the client side's retry rules.
#pragma once

#include <cstdint>
#include <functional>

#include "broker/config.h"
#include "io/clock.h"
#include "io/rng.h"
#include "sim/faults.h"
#include "sim/node.h"
#include "sim/world.h"

namespace runnel::sim {

// Boots `n` (a node of `world`) as broker::RunShard on every shard, as the production binary
// does. A start-up failure (the metadata unreadable during a disk fault) exits the process; a
// supervisor starts it again 100 ms later and calls `on_failure_restart`.
void BootSupervisedBroker(SimWorld& world, SimNode& n, const broker::BrokerConfig& config,
                          std::function<void()> on_failure_restart);

// One copy of the data (no replication): losing synced bytes is not survivable, so bit rot and
// latent sector errors are off. Failed fsyncs stay in: they lose only unsynced writes, which the
// broker must neither acknowledge nor serve after reopening the log unless made durable again.
void OneCopyDiskFaults(FaultOptions& options);

// RUNNEL_SIM_BROKER_LOG=1 shows the broker's log lines (stderr; not part of the trace).
void SetBrokerLogFromEnv();

// A client's pause before retry number `attempt`: 5 ms up to 10 << attempt ms, at most 500.
Duration ClientBackoff(Rng& rng, int attempt);

// Produce / Fetch errors a client retries: the broker is busy, restarting or its disk failed.
bool RetriableDataError(int16_t code);

}  // namespace runnel::sim
